//! Retry windows and live limits on tokio's paused clock: a streak of connection errors is
//! retried for `retry.connection_window`, other transient errors for `retry.other_window`, an
//! attempt that saved progress starts a new streak; a rate limit changed while the shard
//! runs takes effect without a restart; and a shard stopped during a throttle's wait has
//! marked what it handed on, so it resumes without a duplicate.

use super::fake::Step;
use super::*;
use crate::pipeline::phase::ShardPhase;
use crate::pipeline::throttle::Limits;

const WINDOWS: &str = "[retry]\nconnection_window = \"10m\"\nother_window = \"1m\"\n";
const CONNECTION_WINDOW: Duration = Duration::from_secs(600);
const OTHER_WINDOW: Duration = Duration::from_secs(60);
/// The longest back-off: a streak ends at most this long after its window.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What a driven run saw.
struct Driven {
    result: Result<TaskOutcome, TaskFailure>,
    took: Duration,
    phases: Vec<ShardPhase>,
}

/// Runs the shard (already started once) through `script` until it fails, or until the script
/// is used up and the shard caught up (then stops it).
async fn drive(world: &World, script: &[Step], spec: TaskSpec) -> Driven {
    world.server.lock().script = script.iter().copied().collect();
    let (stop, shutdown) = watch::channel(false);
    let (status, mut phase_rx) = watch::channel(ShardPhase::Starting);
    let rt = ShardRuntime {
        spec,
        key: key(),
        epoch: Epoch::TakeOver,
        store: world.store.clone(),
        stats: Arc::new(Stats::default()),
        shutdown,
        until: None,
        status: Some(status),
        limits: None,
        specs: None,
    };
    let server = world.server.clone();
    let records = world.records.clone();
    let started = Instant::now();
    let run = run_shard(
        rt,
        move || Ok(FakeSource::new(&server)),
        move |_: &ShardLabels, _: &str| Ok(MemorySink::new(&records)),
    );
    tokio::pin!(run);
    let mut phases = Vec::new();
    let mut saves = world.store.saves();
    // Every save may be the one that catches up once the script is used up: stop then.
    let result = loop {
        if world.server.lock().script.is_empty() && world.caught_up() {
            let _ = stop.send(true);
        }
        tokio::select! {
            r = &mut run => break r,
            Ok(()) = phase_rx.changed() => phases.push(phase_rx.borrow_and_update().clone()),
            _ = saves.changed() => {}
        }
    };
    Driven {
        result,
        took: started.elapsed(),
        phases,
    }
}

/// A world whose shard made its first start (a streak only counts after it).
async fn started_world() -> World {
    let world = World::new(5, 3);
    assert_eq!(world.attempt().await.unwrap(), TaskOutcome::Stopped);
    world
}

fn failing(step: Step, n: usize) -> Vec<Step> {
    vec![step; n]
}

#[tokio::test(start_paused = true)]
async fn connection_errors_are_retried_for_the_connection_window_then_fail() {
    let world = started_world().await;
    let d = drive(
        &world,
        &failing(Step::CheckFails { connection: true }, 1000),
        spec_with(WINDOWS),
    )
    .await;
    let failure = d.result.expect_err("the window ran out");
    assert_eq!(
        failure.error.class(),
        ErrorClass::Transient,
        "it stays transient"
    );
    assert!(failure.error.is_connection());
    assert!(
        d.took >= CONNECTION_WINDOW && d.took < CONNECTION_WINDOW + BACKOFF_MAX,
        "failed after {:?}",
        d.took
    );
    assert!(world.server.lock().script.len() < 1000 - 20, "it retried");
    assert!(
        d.phases
            .iter()
            .any(|p| matches!(p, ShardPhase::Retrying { reason } if reason.contains("refused"))),
        "{:?}",
        d.phases
    );
}

#[tokio::test(start_paused = true)]
async fn other_transient_errors_are_retried_for_the_other_window_then_fail() {
    let world = started_world().await;
    let d = drive(
        &world,
        &failing(Step::CheckFails { connection: false }, 1000),
        spec_with(WINDOWS),
    )
    .await;
    let failure = d.result.expect_err("the window ran out");
    assert_eq!(failure.error.class(), ErrorClass::Transient);
    assert!(!failure.error.is_connection());
    assert!(
        d.took >= OTHER_WINDOW && d.took < OTHER_WINDOW + BACKOFF_MAX,
        "failed after {:?}",
        d.took
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_saved_progress_starts_a_new_streak() {
    let world = started_world().await;
    // Six failed checks wait 1+2+4+8+16+30 s: the seventh attempt starts 61 s into the streak,
    // past the 60 s window. It saves progress before it fails, so the streak starts again and
    // five more failures (31 s) fit in the window.
    let mut script = failing(Step::CheckFails { connection: false }, 6);
    script.push(Step::RunFails { connection: false });
    script.extend(failing(Step::CheckFails { connection: false }, 5));
    let d = drive(&world, &script, spec_with(WINDOWS)).await;
    assert_eq!(
        d.result.expect("caught up in the end"),
        TaskOutcome::Stopped
    );
    assert!(d.took > OTHER_WINDOW, "the failures spanned {:?}", d.took);
    world.verify(Some(&world.store.get(&key()).unwrap()));
}

/// Waits (checking at every checkpoint save) until the shard handled `n` stream events.
async fn events_reach(stats: &Stats, saves: &mut watch::Receiver<u64>, n: u64) {
    while events(stats) < n {
        saves.changed().await.expect("the store lives");
    }
}

/// Events per second (of tokio's paused clock) while the shard handles `n` more events.
async fn rate_over(stats: &Stats, saves: &mut watch::Receiver<u64>, n: u64) -> f64 {
    let (before, start) = (events(stats), tokio::time::Instant::now());
    events_reach(stats, saves, before + n).await;
    (events(stats) - before) as f64 / start.elapsed().as_secs_f64()
}

/// Stream events the shard handled by now.
fn events(stats: &Stats) -> u64 {
    stats
        .stream_events
        .load(std::sync::atomic::Ordering::Relaxed)
}

#[tokio::test(start_paused = true)]
async fn a_changed_rate_limit_applies_to_the_running_shard() {
    let world = World::new(1, 400);
    let (set_limits, limits) = watch::channel(Limits {
        incremental_rows: Some(10.0),
        ..Limits::default()
    });
    let (status, phase) = watch::channel(ShardPhase::Starting);
    let (_stop, shutdown) = watch::channel(false);
    let stats = Arc::new(Stats::default());
    let rt = ShardRuntime {
        spec: spec(),
        key: key(),
        epoch: Epoch::TakeOver,
        store: world.store.clone(),
        stats: stats.clone(),
        shutdown,
        until: None,
        status: Some(status),
        limits: Some(limits),
        specs: None,
    };
    let server = world.server.clone();
    let records = world.records.clone();
    let run = tokio::spawn(run_shard(
        rt,
        move || Ok(FakeSource::new(&server)),
        move |_: &ShardLabels, _: &str| Ok(MemorySink::new(&records)),
    ));

    let mut saves = world.store.saves();
    tracing::info!("at 10 events per second");
    events_reach(&stats, &mut saves, 50).await;
    let slow = rate_over(&stats, &mut saves, 100).await;
    assert!(
        (7.0..=13.0).contains(&slow),
        "{slow} events/s under a limit of 10"
    );
    assert_eq!(*phase.borrow(), ShardPhase::Streaming);

    tracing::info!("raised to 50 events per second, without a restart");
    let fast = {
        set_limits.send_modify(|l| l.incremental_rows = Some(50.0));
        let now = events(&stats);
        events_reach(&stats, &mut saves, now + 50).await;
        rate_over(&stats, &mut saves, 500).await
    };
    assert!(
        (40.0..=60.0).contains(&fast),
        "{fast} events/s under a limit of 50"
    );
    assert_eq!(
        world.server.lock().slot_creations,
        1,
        "one start, no restart"
    );
    run.abort();
}

#[tokio::test(start_paused = true)]
async fn a_shard_stopped_during_a_throttle_wait_resumes_without_a_duplicate() {
    let mut world = World::new(10, 15);
    world.spec = spec_with("[throttle.incremental]\nrows_per_second = 10\n");
    let (stop, shutdown) = watch::channel(false);
    let rt = ShardRuntime {
        spec: world.spec.clone(),
        key: key(),
        epoch: Epoch::TakeOver,
        store: world.store.clone(),
        stats: Arc::new(Stats::default()),
        shutdown,
        until: None,
        status: None,
        limits: None,
        specs: None,
    };
    let server = world.server.clone();
    let run = tokio::spawn(run_shard(
        rt,
        move || Ok(FakeSource::new(&server)),
        world.sink(),
    ));
    tracing::info!("stopped mid-stream, in a wait after an event of a transaction");
    let records = world.records.clone();
    let start = tokio::time::Instant::now();
    while records.lock().unwrap().len() < 20 {
        assert!(start.elapsed() < Duration::from_secs(60), "no records sent");
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    stop.send_replace(true);
    assert_eq!(run.await.unwrap().unwrap(), TaskOutcome::Stopped);
    assert!(!world.caught_up(), "the stop came mid-stream");
    tracing::info!("resumed without the throttle: every event once");
    world.spec = spec();
    assert_eq!(world.attempt().await.unwrap(), TaskOutcome::Stopped);
    world.verify(None);
}

//! Taking a shard's slot over from a session that still holds it (an old owner paused or cut
//! off): with the owner's leave the holder is ended and the stream starts; without it the start
//! keeps failing with the transient "active for PID n" error. And the task's replication
//! connections ask for a short `wal_sender_timeout`.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tributary::checkpoint::Checkpoint;
use tributary::config::TaskSpec;
use tributary::position::ResumeToken;
use tributary::source::postgres::conn::ReplicationConn;
use tributary::source::postgres::PgSource;
use tributary::source::{ErrorClass, Source, SourceBatch, SourceError, SourceItem};

use support::*;

const LIMIT: Duration = Duration::from_secs(30);

fn spec(url: &str, task: &str) -> TaskSpec {
    TaskSpec::parse(&format!(
        "name = {task:?}\n[source]\nkind = \"postgres\"\nurl = {url:?}\nstatus_interval = \"5s\"\n\
         [destination]\nkind = \"kafka\"\nbootstrap_servers = \"127.0.0.1:9092\"\n\
         [objects]\ntables = [\"public.items\"]\n[migration]\nphases = [\"incremental\"]\n"
    ))
    .unwrap()
}

type Rx = mpsc::Receiver<Result<SourceBatch, SourceError>>;

/// Starts `source` on `cp` (resuming, or creating when `create`); returns its output.
async fn start(
    mut source: PgSource,
    cp: &mut Checkpoint,
    create: bool,
) -> (Rx, watch::Sender<ResumeToken>) {
    source.check().await.unwrap();
    if create {
        source.create(cp).await.unwrap();
    } else {
        source.resume(cp).await.unwrap();
    }
    let (tx, rx) = mpsc::channel(16);
    let (confirm, confirmed) = watch::channel(cp.resume.unwrap());
    tokio::spawn(source.run(cp.clone(), tx, confirmed));
    (rx, confirm)
}

/// The session streaming from the slot, if any.
async fn active_pid(db: &TestDb, slot: &str) -> Option<i32> {
    db.client
        .query_one(
            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .unwrap()
        .get(0)
}

/// The slot's holder, once it is one other than `not` (a server-side condition: polled).
async fn holder_other_than(db: &TestDb, slot: &str, not: Option<i32>) -> i32 {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        match active_pid(db, slot).await {
            Some(pid) if Some(pid) != not => return pid,
            _ => assert!(
                tokio::time::Instant::now() < deadline,
                "no new holder of {slot}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for the next error on `rx` (items are skipped).
async fn next_error(rx: &mut Rx) -> SourceError {
    loop {
        match tokio::time::timeout(LIMIT, rx.recv())
            .await
            .expect("an error in time")
        {
            Some(Err(e)) => return e,
            Some(Ok(_)) => {}
            None => panic!("the source ended without an error"),
        }
    }
}

/// Waits until an event of `public.items` arrives on `rx`.
async fn next_event(rx: &mut Rx) {
    loop {
        match tokio::time::timeout(LIMIT, rx.recv())
            .await
            .expect("an event in time")
        {
            Some(Ok(batch)) if batch.iter().any(|i| matches!(i, SourceItem::Event(_))) => return,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("{e}"),
            None => panic!("the source ended"),
        }
    }
}

#[tokio::test]
async fn a_held_slot_is_taken_over_only_when_the_owner_allows_it() {
    let db = TestDb::create("takeover").await;
    db.client
        .batch_execute("CREATE TABLE items (id int PRIMARY KEY, v text)")
        .await
        .unwrap();
    let task = unique("takeover");
    let spec = spec(&db.url, &task);
    let mut cp = Checkpoint::new("a1b2c3d4".into());

    tracing::info!("an old owner streams from the slot");
    let (mut old_rx, _old_confirm) =
        start(PgSource::from_spec(&spec, 0).unwrap(), &mut cp, true).await;
    let slot = cp.pg_slot().unwrap().slot_name.clone();
    let old_pid = holder_other_than(&db, &slot, None).await;

    tracing::info!("a new owner without leave to end it fails with the transient 55006 error");
    {
        let asked = Arc::new(AtomicU32::new(0));
        let a = asked.clone();
        let source = PgSource::from_spec(&spec, 0)
            .unwrap()
            .with_takeover(Arc::new(move || {
                a.fetch_add(1, Ordering::SeqCst);
                false
            }));
        let (mut rx, _confirm) = start(source, &mut cp, false).await;
        let e = next_error(&mut rx).await;
        assert_eq!(e.class(), ErrorClass::Transient, "{e}");
        let line = e.to_string();
        assert!(
            line.contains("55006") && line.contains(&format!("PID {old_pid}")),
            "{line}"
        );
        assert!(asked.load(Ordering::SeqCst) >= 1, "the policy was asked");
        assert_eq!(
            active_pid(&db, &slot).await,
            Some(old_pid),
            "the old owner still holds the slot"
        );
    }

    tracing::info!("with leave, the holder is ended and the new owner streams");
    {
        let source = PgSource::from_spec(&spec, 0)
            .unwrap()
            .with_takeover(Arc::new(|| true));
        let (mut rx, _confirm) = start(source, &mut cp, false).await;
        let new_pid = holder_other_than(&db, &slot, Some(old_pid)).await;
        assert_ne!(new_pid, old_pid);
        let old = next_error(&mut old_rx).await;
        assert_eq!(old.class(), ErrorClass::Transient, "{old}");
        db.client
            .batch_execute("INSERT INTO items VALUES (1, 'after the takeover')")
            .await
            .unwrap();
        next_event(&mut rx).await;
        let (slots, _) = db.replication_objects().await;
        assert_eq!(slots, vec![slot.clone()], "the same slot, never recreated");
    }
    db.cleanup().await;
}

#[tokio::test]
async fn replication_connections_ask_for_a_short_wal_sender_timeout() {
    let spec = spec(&pg_url(), "walsender");
    let source = PgSource::from_spec(&spec, 0).unwrap();
    let mut conn = ReplicationConn::connect(&source.options().conn)
        .await
        .unwrap();
    let rows = conn.simple_query("SHOW wal_sender_timeout").await.unwrap();
    assert_eq!(
        rows[0][0].as_deref(),
        Some("15s"),
        "3 × status_interval (5s)"
    );
    conn.close().await;
}

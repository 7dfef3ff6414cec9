//! The `tributary` command line: argument parsing and the thin glue that runs a command.

mod consume;
pub mod ctl;
mod mock_kafka;
mod precheck;
mod progress;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tokio::sync::watch;

use crate::config::TaskSpec;
use crate::error_chain;
use crate::pipeline::stats::Stats;
use crate::task::{TaskError, TaskFailure, TaskOutcome};
use run::{run_task, SinkChoice, TaskRunOptions};

mod release;
mod run;
mod worker;

/// Migrates databases into Apache Kafka: snapshot plus change data capture, without losing or
/// doubling a row.
#[derive(Debug, Parser)]
#[command(name = "tributary", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs one task in the foreground (a one-node cluster): snapshot, then stream.
    ///
    /// Progress goes to the terminal; SIGTERM or Ctrl-C flushes, checkpoints and exits 0.
    Run(RunArgs),
    /// Prints messages of a topic as JSON lines (topic, partition, offset, key, value, headers).
    Consume(consume::ConsumeArgs),
    /// Drops what a task holds on its source (slot, publications) and its local checkpoint.
    ///
    /// Refuses while the slot is in use, naming the PID. Kafka topics are kept (they hold the
    /// migrated data), except those of a first start that never became durable, or all of the
    /// task's topics with --delete-topics.
    Release(release::ReleaseArgs),
    /// Drives a worker cluster through its admin API: tasks, members, health.
    Ctl(ctl::CtlArgs),
    /// Checks what a task needs of its source and broker, item by item, without creating
    /// anything; exits 1 when an item fails or a warning is not accepted.
    Precheck(precheck::PrecheckArgs),
    /// Runs one member of the worker cluster (Raft node, admin API, scheduler, shards) until
    /// SIGTERM, which stops every shard after its last checkpoint.
    Worker(worker::WorkerArgs),
    /// Runs librdkafka's in-memory mock Kafka cluster (with transactions) until SIGTERM;
    /// prints `bootstrap_servers=...`. For tests and trying exactly-once locally.
    #[command(hide = true)]
    MockKafka(mock_kafka::MockKafkaArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The task file (TOML); see cluster-config/tasks/ for an example.
    #[arg(long, value_name = "FILE")]
    pub task: PathBuf,
    /// Where checkpoints are kept; a task resumes from here after a restart.
    #[arg(long, value_name = "DIR", default_value = "./tributary-data")]
    pub data_dir: PathBuf,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9187).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Where records go: `kafka`, or `null` to measure the source alone (benchmarks).
    #[arg(long, value_enum, default_value = "kafka")]
    pub sink: SinkArg,
    /// Stop once every change up to this WAL position (X/Y) is durable, and exit 0.
    #[arg(long, value_name = "LSN")]
    pub until_lsn: Option<crate::position::Lsn>,
    /// Progress display: `auto` (on a terminal), `always` or `never`.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressArg,
    /// Precheck warnings to accept besides the task file's precheck.accept_warnings.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub accept_warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SinkArg {
    Kafka,
    Null,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ProgressArg {
    Auto,
    Always,
    Never,
}

/// Runs the parsed command; returns the process exit code.
pub async fn main(cli: Cli) -> i32 {
    match cli.command {
        Command::Run(args) => Box::pin(run(args)).await,
        Command::Consume(args) => consume::run(args).await,
        Command::Release(args) => release::run(args).await,
        Command::Ctl(args) => ctl::run(args).await,
        Command::Worker(args) => worker::run(args).await,
        Command::Precheck(args) => precheck::run(args).await,
        Command::MockKafka(args) => mock_kafka::run(args).await,
    }
}

async fn run(args: RunArgs) -> i32 {
    let spec = match TaskSpec::load(&args.task) {
        Ok(s) => s,
        Err(e) => return fail(&e, 2),
    };
    if let Err(e) = spec.wired_source() {
        return fail(&e, 2);
    }
    // Parsed just above, so readable.
    let spec_toml = std::fs::read_to_string(&args.task).unwrap_or_default();
    if let Err(e) = crate::config::check_item_names("--accept-warnings", &args.accept_warnings) {
        return fail(&e, 2);
    }
    if let Some(addr) = args.metrics_addr {
        if let Err(e) = crate::metrics::serve(addr) {
            return fail(&*e, 2);
        }
    }
    let stats = Arc::new(Stats::default());
    let (stop_tx, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping: flushing and checkpointing");
        let _ = stop_tx.send(true);
    });
    let show = match args.progress {
        ProgressArg::Always => true,
        ProgressArg::Never => false,
        ProgressArg::Auto => std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let display = show.then(|| progress::spawn(stats.clone(), Duration::from_secs(1)));
    let sink = match args.sink {
        SinkArg::Kafka => SinkChoice::Kafka,
        SinkArg::Null => SinkChoice::Null,
    };
    let name = spec.name.clone();
    let (task_file, data_dir) = (args.task.clone(), args.data_dir.clone());
    let result = Box::pin(run_task(TaskRunOptions {
        spec,
        spec_toml,
        data_dir: args.data_dir,
        sink,
        stats: stats.clone(),
        shutdown,
        until_lsn: args.until_lsn,
        accept_warnings: args.accept_warnings,
    }))
    .await;
    if let Some(d) = display {
        d.abort();
    }
    if result.is_ok() {
        progress::summary(&stats);
    }
    match result {
        Ok(TaskOutcome::Completed) => {
            tracing::info!(task = %name, "task completed");
            0
        }
        Ok(TaskOutcome::Stopped) => 0,
        Err(TaskFailure {
            error: TaskError::Config(e),
            ..
        }) => fail(&e, 2),
        Err(failure) => {
            let held = failure
                .retained
                .map(|r| {
                    format!(
                        "; {r} or `tributary release --task {} --data-dir {}` drops it",
                        task_file.display(),
                        data_dir.display()
                    )
                })
                .unwrap_or_default();
            eprintln!(
                "error: task {name}, shard 0: {}{held}",
                error_chain(&failure.error)
            );
            1
        }
    }
}

/// Prints the one-line error and returns the exit code.
fn fail(e: &dyn std::error::Error, code: i32) -> i32 {
    eprintln!("error: {}", error_chain(e));
    code
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

//! `tributary release`: drops what a task holds on its source and its local checkpoint, and
//! prints what it dropped.

use std::path::PathBuf;

use crate::checkpoint::{CheckpointError, ShardKey, SledCheckpointStore};
use crate::config::{SourceKind, TaskSpec};
use crate::metrics::ShardLabels;
use crate::sink::kafka::KafkaSink;
use crate::source::postgres::error::PgSourceError;
use crate::source::postgres::PgSource;
use crate::task::{kafka_config, release, ReleaseReport, TaskError};

#[derive(Debug, clap::Args)]
pub struct ReleaseArgs {
    /// The task file (TOML) of the task to release.
    #[arg(long, value_name = "FILE")]
    pub task: PathBuf,
    /// The task's data directory (as given to `tributary run`).
    #[arg(long, value_name = "DIR", default_value = "./tributary-data")]
    pub data_dir: PathBuf,
    /// Also delete every Kafka topic the task wrote to (they hold the migrated data).
    #[arg(long)]
    pub delete_topics: bool,
}

pub async fn run(args: ReleaseArgs) -> i32 {
    let spec = match TaskSpec::load(&args.task) {
        Ok(s) => s,
        Err(e) => return super::fail(&e, 2),
    };
    match release_task(&spec, &args).await {
        Ok(report) => {
            print_report(&spec.name, &args, &report);
            0
        }
        Err(TaskError::Config(e)) => super::fail(&e, 2),
        Err(e) => super::fail(&e, 1),
    }
}

async fn release_task(spec: &TaskSpec, args: &ReleaseArgs) -> Result<ReleaseReport, TaskError> {
    if spec.source.kind == SourceKind::Oracle {
        // LogMiner holds nothing on the database: only topics and the checkpoint go.
        let source = crate::source::oracle::source::releasing(spec, 0)?;
        let store = SledCheckpointStore::open(&args.data_dir)?;
        let key = ShardKey {
            task: spec.name.clone(),
            shard: 0,
        };
        let sink = |labels: &ShardLabels| Ok(KafkaSink::new(kafka_config(spec)?, labels)?);
        return release(&store, &key, source, sink, args.delete_topics).await;
    }
    let source = PgSource::from_spec(spec, 0)?;
    let store = match SledCheckpointStore::open(&args.data_dir) {
        Ok(store) => store,
        Err(e) => return Err(held(&source, e).await),
    };
    let key = ShardKey {
        task: spec.name.clone(),
        shard: 0,
    };
    let sink = |labels: &ShardLabels| Ok(KafkaSink::new(kafka_config(spec)?, labels)?);
    release(&store, &key, source, sink, args.delete_topics).await
}

/// A running `tributary run` holds its data directory (and the checkpoint in it): name the
/// slot it streams from and the PID serving it, as for a slot in use; else the open error.
async fn held(source: &PgSource, open: CheckpointError) -> TaskError {
    match source.slots_in_use().await {
        Ok(slots) => match slots.into_iter().next() {
            Some((slot, pid)) => PgSourceError::SlotInUse { slot, pid }.into(),
            None => open.into(),
        },
        Err(_) => open.into(),
    }
}

fn print_report(task: &str, args: &ReleaseArgs, r: &ReleaseReport) {
    if !r.checkpoint_deleted {
        println!(
            "task {task}: no checkpoint in {}: nothing recorded to release",
            args.data_dir.display()
        );
        return;
    }
    for o in &r.dropped {
        println!("dropped {} {}", o.kind, o.name);
    }
    for t in &r.topics_deleted {
        println!("deleted topic {t}");
    }
    println!(
        "deleted the checkpoint of task {task} in {}",
        args.data_dir.display()
    );
}

//! `PgSource`: the PostgreSQL source behind the `Source` contract, tying the set-up steps
//! (`setup`), the slot (`slot`) and the running snapshot + stream (`run`) together.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_postgres::Client;

use super::adopt::Adopter;
use super::catalog;
use super::chunk::lane::{Lanes, PgLaneReader};
use super::chunk::{ChunkedSnapshot, ChunkedTable};
use super::conn::{PgConnectConfig, ReplicationConn};
use super::error::PgSourceError;
use super::identity::{self, IdentityRecord};
use super::run::{CatalogRun, PendingSnapshot, SourceRun};
use super::setup::{self, PgSourceOptions, Preflight};
use super::slot;
use super::takeover::TakeoverPolicy;
use crate::checkpoint::{Checkpoint, SourceObject};
use crate::config::{resolve_password, split_exact, ConfigError, Phase, TableSelection, TaskSpec};
use crate::position::{LogPoint, ResumeToken};
use crate::source::{Source, SourceError, SourceInfo, SourceSender};

/// The shortest `wal_sender_timeout` the task's replication connections ask for.
const MIN_WAL_SENDER_TIMEOUT: Duration = Duration::from_secs(10);

/// The task's `wal_sender_timeout`: three status intervals (the walsender hears from a live
/// task at least that often), and at least 10 s, so a paused worker's walsender frees the slot
/// soon without ending healthy sessions.
fn wal_sender_timeout(status_interval: Duration) -> Duration {
    (status_interval * 3).max(MIN_WAL_SENDER_TIMEOUT)
}

/// The PostgreSQL source of one shard.
pub struct PgSource {
    opts: PgSourceOptions,
    pre: Option<Preflight>,
    started: Option<Started>,
    /// The shard's spec as it changes (`follow_spec`): tables it adds are adopted live.
    specs: Option<watch::Receiver<Arc<TaskSpec>>>,
    /// Other workers that read ranges of the chunked snapshot (`chunk::lane`).
    lanes: Option<Lanes>,
}

/// What `create` or `resume` prepared for `run`.
struct Started {
    repl: ReplicationConn,
    snapshot: Option<PendingSnapshot>,
    /// Tables read in key-range chunks beside the stream.
    chunked: Vec<ChunkedTable>,
}

impl PgSource {
    pub fn new(opts: PgSourceOptions) -> PgSource {
        PgSource {
            opts,
            pre: None,
            started: None,
            specs: None,
            lanes: None,
        }
    }

    /// The source of `spec`'s shard `shard`.
    pub fn from_spec(spec: &TaskSpec, shard: u32) -> Result<PgSource, ConfigError> {
        spec.wired_source()?;
        let password = resolve_password(&spec.source)?;
        let mut conn = PgConnectConfig::new(
            &spec.source.url,
            password,
            spec.source.ssl_root_cert.clone(),
        )
        .map_err(|c| ConfigError::Invalid {
            field: "source.url",
            constraint: c,
        })?;
        conn.set_wal_sender_timeout(wal_sender_timeout(spec.source.status_interval));
        let selection =
            TableSelection::from_spec(&spec.objects).map_err(|c| ConfigError::Invalid {
                field: "objects.tables",
                constraint: c,
            })?;
        let filters = spec
            .objects
            .table
            .iter()
            .filter_map(|(key, o)| Some((split_exact(key)?, o.filter.clone()?)))
            .collect();
        Ok(PgSource::new(PgSourceOptions {
            conn,
            selection,
            selection_record: spec.selection_record(),
            filters,
            task: spec.name.clone(),
            shard,
            snapshot_connections: spec.source.snapshot_connections,
            chunk_rows: spec.source.snapshot_chunk_rows,
            slot_create_timeout: spec.source.slot_create_timeout,
            status_interval: spec.source.status_interval,
            receive_timeout: spec.source.receive_timeout,
            full: spec.has_phase(Phase::Full),
            incremental: spec.has_phase(Phase::Incremental),
            takeover: None,
            schema: spec.has_phase(Phase::Schema),
            identity: spec.objects.replica_identity,
            identity_lock_timeout: spec.objects.replica_identity_lock_timeout,
            full_images: spec.destination.format.is_dts(),
            heartbeat: spec.heartbeat.every(),
            max_retained_wal: spec.slot.max_retained_wal,
        }))
    }

    /// Lets the source end a session that still holds the shard's slot when starting
    /// replication meets it, whenever `may_terminate` says so at that moment (the cluster's
    /// worker: once the old owner's lease has expired). Without it the start fails with the
    /// transient "slot is active for PID n" error until the holder goes.
    pub fn with_takeover(mut self, may_terminate: Arc<dyn Fn() -> bool + Send + Sync>) -> Self {
        self.opts.takeover = Some(TakeoverPolicy(may_terminate));
        self
    }

    /// Spreads the chunked snapshot's groups over other workers of the cluster too.
    pub fn with_lanes(mut self, lanes: Lanes) -> Self {
        self.lanes = Some(lanes);
        self
    }

    /// This worker as a lane of another worker's shard (`chunk::lane`): checks the source as
    /// a run would, and answers what the lane's pipeline needs to know of it.
    pub async fn lane_reader(mut self) -> Result<(PgLaneReader, SourceInfo), SourceError> {
        let info = self.check().await?;
        let pre = self.preflight()?;
        Ok((PgLaneReader::new(self.opts.conn.clone(), pre), info))
    }

    /// What the source was built with.
    pub fn options(&self) -> &PgSourceOptions {
        &self.opts
    }

    /// The task's slots (of any incarnation) that a process streams from, with the PID
    /// serving it: how `release` names what holds a task whose checkpoint it cannot read.
    pub async fn slots_in_use(&self) -> Result<Vec<(String, i32)>, PgSourceError> {
        let client = self.opts.conn.connect_sql("catalog").await?;
        slot::task_slots_in_use(&client, &self.opts.task, self.opts.shard).await
    }

    fn preflight(&self) -> Result<&Preflight, PgSourceError> {
        self.pre.as_ref().ok_or_else(|| PgSourceError::Protocol {
            context: "starting".into(),
            what: "the source was not checked first".into(),
        })
    }

    /// `objects.replica_identity = "auto"`: sets the planned identities, then reads the tables
    /// again (their key columns follow the identity).
    async fn apply_identities(&mut self) -> Result<(), PgSourceError> {
        let Some(pre) = self.pre.as_mut() else {
            return Ok(());
        };
        let lock_timeout = self.opts.identity_lock_timeout;
        if identity::apply(&self.opts.conn, &pre.catalog, &pre.identity, lock_timeout).await? {
            pre.tables =
                catalog::selected_tables(&pre.catalog, &self.opts.selection, &mut pre.types)
                    .await?;
        }
        Ok(())
    }

    async fn resume_inner(&mut self, cp: &mut Checkpoint) -> Result<(), PgSourceError> {
        let pre = self.preflight()?;
        if self.opts.catalog_only() {
            // Nothing on the server to verify: the schema phase reads the catalog again.
            return Ok(());
        }
        let repl = setup::resume(&self.opts, pre, cp).await?;
        let chunked = if self.opts.full {
            setup::unfinished_chunked(&self.opts, pre, cp)
        } else {
            Vec::new()
        };
        let unfinished = setup::unfinished_tables(pre, cp)
            .into_iter()
            .filter(|t| !setup::reads_in_chunks(&self.opts, &t.schema))
            .collect::<Vec<_>>();
        let snapshot = if self.opts.full && !unfinished.is_empty() {
            tracing::info!(
                task = %self.opts.task,
                shard = self.opts.shard,
                tables = unfinished.len(),
                "re-reading tables whose snapshot was cut, under a fresh snapshot"
            );
            let (session, lsn) = setup::reread_session(&self.opts, pre, &cp.incarnation).await?;
            Some(PendingSnapshot {
                session,
                lsn,
                tables: unfinished,
                deferred: true,
            })
        } else {
            None
        };
        self.started = Some(Started {
            repl,
            snapshot,
            chunked,
        });
        Ok(())
    }
}

impl Source for PgSource {
    async fn check(&mut self) -> Result<SourceInfo, SourceError> {
        let pre = setup::preflight(&self.opts).await?;
        let server_point = slot::current_wal_lsn(&pre.catalog)
            .await?
            .map(LogPoint::Lsn);
        let info = SourceInfo {
            kind: "postgresql",
            database: pre.database.clone(),
            server_version: pre.server_version.clone(),
            tables: pre.tables.iter().map(|t| t.schema.clone()).collect(),
            server_point,
        };
        self.pre = Some(pre);
        Ok(info)
    }

    /// The slot and publications, and the replica identities `auto` sets or relies on (their
    /// previous identity recorded before any is changed).
    fn plan(&self, incarnation: &str) -> Vec<SourceObject> {
        let mut all = setup::plan(&self.opts, incarnation);
        if let Some(pre) = &self.pre {
            all.extend(pre.identity.iter().map(|s| s.record.object()));
        }
        all
    }

    async fn create(&mut self, cp: &mut Checkpoint) -> Result<(), SourceError> {
        if self.opts.catalog_only() {
            setup::create_catalog_only(self.preflight()?, cp);
            return Ok(());
        }
        self.apply_identities().await?;
        let pre = self.preflight()?;
        let (repl, session) = setup::create(&self.opts, pre, cp).await?;
        let lsn = setup::checkpoint_lsn(cp);
        let chunks = |t: &crate::source::postgres::catalog::SelectedTable| {
            setup::reads_in_chunks(&self.opts, &t.schema)
        };
        let snapshot = session.map(|session| PendingSnapshot {
            session,
            lsn,
            tables: setup::snapshot_tables(pre, |t| !chunks(t)),
            deferred: false,
        });
        let chunked = if self.opts.full {
            setup::snapshot_tables(pre, chunks)
                .into_iter()
                .map(|read| ChunkedTable {
                    read,
                    after: None,
                    rows: 0,
                })
                .collect()
        } else {
            Vec::new()
        };
        self.started = Some(Started {
            repl,
            snapshot,
            chunked,
        });
        Ok(())
    }

    async fn resume(&mut self, cp: &mut Checkpoint) -> Result<(), SourceError> {
        Ok(self.resume_inner(cp).await?)
    }

    fn run(
        self,
        cp: Checkpoint,
        out: SourceSender,
        confirmed: watch::Receiver<ResumeToken>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        if self.opts.catalog_only() {
            let prepared = self.pre.map(|pre| CatalogRun {
                opts: self.opts,
                catalog: pre.catalog,
                definitions: (!cp.schema_done).then_some(pre.definitions),
                fingerprints: pre.fingerprints,
            });
            return futures::future::Either::Left(async move {
                match prepared {
                    Some(run) => run.run(out).await,
                    None => {
                        let _ = out.send(Err(not_started().into())).await;
                    }
                }
            });
        }
        let prepared = match (self.pre, self.started, cp.pg_slot()) {
            (Some(pre), Some(started), Some(id)) => Ok(SourceRun {
                chunked: Some(
                    ChunkedSnapshot::new(
                        self.opts.conn.clone(),
                        self.opts.snapshot_connections,
                        self.opts.chunk_rows,
                        started.chunked,
                        pre.fingerprints.clone(),
                        &self.opts.task,
                        self.opts.shard,
                    )
                    .first_of_all(pre.tables.first().map(|t| t.schema.oid))
                    .groups_done(cp.chunk_groups)
                    .with_lanes(self.lanes),
                ),
                first_table: pre.tables.first().map(|t| t.schema.oid),
                adopter: self.specs.map(|specs| {
                    Adopter::new(
                        specs,
                        self.opts.clone(),
                        cp.rereads.clone(),
                        id.publications.clone(),
                        cp.incarnation.clone(),
                    )
                }),
                opts: self.opts,
                repl: started.repl,
                catalog: pre.catalog,
                types: pre.types,
                publications: id.publications.clone(),
                slot_name: id.slot_name.clone(),
                start_lsn: setup::checkpoint_lsn(&cp),
                skip_through: cp.stream,
                snapshot: started.snapshot,
                known_tables: pre.tables.iter().map(|t| t.schema.clone()).collect(),
                definitions: (!cp.schema_done).then_some(pre.definitions),
                fingerprints: pre.fingerprints,
                incarnation: cp.incarnation.clone(),
            }),
            _ => Err(not_started()),
        };
        futures::future::Either::Right(async move {
            match prepared {
                Ok(run) => Box::pin(run.run(out, confirmed)).await,
                Err(e) => {
                    let _ = out.send(Err(e.into())).await;
                }
            }
        })
    }

    /// A streaming task adopts added tables while it runs (`super::adopt`).
    fn follow_spec(&mut self, specs: watch::Receiver<Arc<TaskSpec>>) -> bool {
        if !self.opts.incremental {
            return false;
        }
        self.specs = Some(specs);
        true
    }

    async fn remove(
        &mut self,
        objects: &[SourceObject],
        force: bool,
    ) -> Result<Vec<SourceObject>, SourceError> {
        // The preflight's connection, or a new one: `remove` works without `check`.
        let fresh: Client;
        let client = match &self.pre {
            Some(pre) => &pre.catalog,
            None => {
                fresh = self.opts.conn.connect_sql("catalog").await?;
                &fresh
            }
        };
        let mut dropped = slot::drop_objects(client, objects, force).await?;
        dropped.extend(restore_identities(&self.opts, client, objects).await?);
        Ok(dropped)
    }
}

fn not_started() -> PgSourceError {
    PgSourceError::Protocol {
        context: "starting".into(),
        what: "run before create or resume".into(),
    }
}

/// Restores the replica identities among `objects` that still have the identity tributary
/// set; returns those restored.
async fn restore_identities(
    opts: &PgSourceOptions,
    client: &Client,
    objects: &[SourceObject],
) -> Result<Vec<SourceObject>, PgSourceError> {
    let mut restored = Vec::new();
    for o in objects {
        let Some(r) = IdentityRecord::of(o) else {
            continue;
        };
        let timeout = opts.identity_lock_timeout;
        if identity::restore(&opts.conn, client, &r, timeout).await? {
            restored.push(o.clone());
        }
    }
    Ok(restored)
}

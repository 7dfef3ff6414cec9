//! `OracleSource`: the Oracle database behind the `Source` contract, on any `Connector` (the
//! real thin-driver sessions, or the scripted stand-in tests drive end to end).
//!
//! ```text
//!  check: connect ─► pin NLS ─► V$DATABASE ─► dictionary (selected owners) ─► SourceInfo
//!  create: S = CURRENT_SCN; mining start = oldest start SCN open at S ─► checkpoint identity
//!  resume: same DBID, else the checkpoint is invalid
//!  run: schema phase ─► full load AS OF SCN S (`snapshot`) ─► mining from the restart SCN
//!       (`stream`), skipping what the checkpoint holds
//! ```
//! LogMiner creates nothing on the database, so `plan` is empty and `remove` has nothing to
//! drop; what a resume needs is in the checkpoint (`OracleIdentity`, the last durable event, the
//! restart SCN).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::assemble::AssembleError;
use super::decode::DecodeError;
use super::dictionary::{definition, table_schema};
use super::miner::{mining_start, Miner, MinerError, WindowBounds};
use super::redo::RedoError;
use super::session::{Connector, ContentsFilter, DatabaseInfo, OracleSession, SessionError};
use super::snapshot;
use super::stream::{OracleStream, StreamStart};
use super::table::OraTable;
use crate::checkpoint::{Checkpoint, OracleIdentity, SourceIdentity, SourceObject};
use crate::config::{
    ConfigError, LogMinerDictionary, OracleConnect, Phase, TableSelection, TaskSpec,
};
use crate::position::{LogPoint, ResumeToken, Scn};
use crate::schema::TableSchema;
use crate::source::{
    ErrorClass, Source, SourceBatch, SourceError, SourceInfo, SourceItem, SourceSender,
};

/// How long the stream waits before asking again once it has mined up to the current SCN.
pub const DEFAULT_POLL: Duration = Duration::from_millis(500);

/// What an Oracle source runs with.
#[derive(Debug, Clone)]
pub struct OracleSourceOptions {
    pub task: String,
    pub shard: u32,
    pub selection: TableSelection,
    /// The owners the selectors name (each literal: the dictionary is read per owner).
    pub owners: Vec<String>,
    /// Rows of this PDB only, when mining in `CDB$ROOT`.
    pub pdb: Option<String>,
    pub schema: bool,
    pub full: bool,
    pub incremental: bool,
    pub snapshot_connections: usize,
    pub bounds: WindowBounds,
    pub memory_budget: usize,
    pub spill_dir: PathBuf,
    pub poll: Duration,
    /// `logminer_dictionary`: with `RedoLogs`, definitions are read as of each row's SCN.
    pub dictionary: LogMinerDictionary,
}

impl OracleSourceOptions {
    /// The options of `spec`'s shard `shard` (connection settings go to the connector).
    pub fn from_spec(spec: &TaskSpec, shard: u32) -> Result<Self, ConfigError> {
        let connect = OracleConnect::from_spec(&spec.source)?;
        let invalid = |constraint: String| ConfigError::Invalid {
            field: "objects.tables",
            constraint,
        };
        let selection = TableSelection::from_spec(&spec.objects).map_err(invalid)?;
        let owners = owners(&selection).map_err(invalid)?;
        Ok(OracleSourceOptions {
            task: spec.name.clone(),
            shard,
            selection,
            owners,
            pdb: connect.pdb.clone(),
            schema: spec.has_phase(Phase::Schema),
            full: spec.has_phase(Phase::Full),
            incremental: spec.has_phase(Phase::Incremental),
            snapshot_connections: spec.source.snapshot_connections,
            bounds: WindowBounds::from_connect(&connect),
            memory_budget: usize::try_from(connect.memory_budget).unwrap_or(usize::MAX),
            spill_dir: connect
                .spill_dir
                .as_ref()
                .map_or_else(
                    || std::env::temp_dir().join("tributary-oracle"),
                    PathBuf::from,
                )
                .join(format!("{}-{shard}", spec.name)),
            poll: DEFAULT_POLL,
            dictionary: connect.dictionary,
        })
    }

    /// A schema-only task reads the dictionary and nothing else.
    pub fn catalog_only(&self) -> bool {
        !self.full && !self.incremental
    }
}

/// The source of `spec`'s shard `shard` on live sessions (the thin driver).
#[cfg(feature = "oracle")]
pub fn real_source(
    spec: &TaskSpec,
    shard: u32,
) -> Result<OracleSource<super::session::real::RealConnector>, ConfigError> {
    let opts = OracleSourceOptions::from_spec(spec, shard)?;
    let connect = OracleConnect::from_spec(&spec.source)?;
    Ok(OracleSource::new(
        opts,
        super::session::real::RealConnector(connect),
    ))
}

/// A connector that never connects: what releasing an Oracle task runs on (LogMiner creates
/// nothing on the database, so `remove` needs no session).
pub struct Offline;

impl Connector for Offline {
    type Session = super::session::script::ScriptSession;

    async fn connect(&self) -> Result<Self::Session, SessionError> {
        Err(SessionError::Client(
            "this Oracle source only releases a task; it does not connect".into(),
        ))
    }
}

/// The source `release` runs for an Oracle task: nothing to drop, no connection.
pub fn releasing(spec: &TaskSpec, shard: u32) -> Result<OracleSource<Offline>, ConfigError> {
    Ok(OracleSource::new(
        OracleSourceOptions::from_spec(spec, shard)?,
        Offline,
    ))
}

/// The owners of a selection: each selector must name its owner exactly.
pub fn owners(selection: &TableSelection) -> Result<Vec<String>, String> {
    let mut owners: Vec<String> = Vec::new();
    for s in &selection.include {
        if s.schema.contains(['*', '?', '[', '{']) {
            return Err(format!(
                "{:?}: an Oracle selector names its owner exactly (e.g. \"HR.*\" or \"HR.ORDERS_*\"; names as stored, usually upper case)",
                format!("{}.{}", s.schema, s.table)
            ));
        }
        if !owners.contains(&s.schema) {
            owners.push(s.schema.clone());
        }
    }
    Ok(owners)
}

/// A captured table: the dictionary's description (redo and snapshot values are read by it),
/// the pipeline's, and the row estimate for progress.
#[derive(Debug, Clone)]
pub struct Captured {
    pub ora: Arc<OraTable>,
    pub schema: Arc<TableSchema>,
    pub estimated_rows: u64,
}

/// Why the Oracle source stopped; `into` a classified `SourceError`.
#[derive(Debug, thiserror::Error)]
pub enum OracleSourceError {
    #[error(transparent)]
    Miner(#[from] MinerError),
    #[error("{call}{}: {error}", table.as_ref().map(|t| format!(" of {t}")).unwrap_or_default())]
    Session {
        call: &'static str,
        table: Option<String>,
        error: SessionError,
    },
    #[error("objects.tables selects no table among owner(s) {owners} that the mining user can see: check the names (Oracle stores them upper case unless quoted) and grant SELECT on the tables (or SELECT ANY TABLE)")]
    NothingSelected { owners: String },
    #[error("the checkpoint belongs to database {saved} (DBID {saved_dbid}) but the source is {now} (DBID {now_dbid}): point the task at the database it started on, or delete the task and create it again for a new full load")]
    OtherDatabase {
        saved: String,
        saved_dbid: u64,
        now: String,
        now_dbid: u64,
    },
    #[error("the checkpoint holds no Oracle snapshot SCN (it was written by another source kind): delete the task and create it again")]
    NotOracleCheckpoint,
    #[error("table {table}: reading AS OF SCN {scn} failed {attempts} time(s) with {error}: the undo no longer holds that SCN; raise UNDO_RETENTION above the table's read time (ALTER SYSTEM SET UNDO_RETENTION = <seconds>) and size the undo tablespace to keep it (or RETENTION GUARANTEE), then resume the task")]
    SnapshotTooOld {
        table: String,
        scn: Scn,
        attempts: u32,
        error: SessionError,
    },
    #[error("snapshot row {row} (AS OF SCN {scn}): {source}")]
    SnapshotRow {
        scn: Scn,
        row: u64,
        source: Box<RedoError>,
    },
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Assemble(#[from] AssembleError),
    #[error("the pipeline stopped")]
    PipelineStopped,
    #[error("the Oracle source was started before it was checked (a bug in the caller)")]
    NotChecked,
}

impl From<OracleSourceError> for SourceError {
    fn from(e: OracleSourceError) -> SourceError {
        match e {
            OracleSourceError::Miner(m) => m.into_source_error(),
            OracleSourceError::Session { call, table, error } => {
                let class = MinerError::from_session(call, error.clone()).class();
                let e = OracleSourceError::Session { call, table, error };
                if matches!(
                    e,
                    OracleSourceError::Session {
                        error: SessionError::Connection(_),
                        ..
                    }
                ) {
                    SourceError::connection(e)
                } else {
                    SourceError::new(class, e)
                }
            }
            e @ (OracleSourceError::OtherDatabase { .. }
            | OracleSourceError::NotOracleCheckpoint) => SourceError::checkpoint_invalid(e),
            e @ OracleSourceError::PipelineStopped => SourceError::new(ErrorClass::Transient, e),
            e => SourceError::new(ErrorClass::Definite, e),
        }
    }
}

pub(super) fn session_error(call: &'static str) -> impl Fn(SessionError) -> OracleSourceError {
    move |error| OracleSourceError::Session {
        call,
        table: None,
        error,
    }
}

/// The Oracle source of one shard.
pub struct OracleSource<C: Connector> {
    opts: OracleSourceOptions,
    connector: Arc<C>,
    pre: Option<Checked<C::Session>>,
}

/// What `check` found, for the later steps.
struct Checked<S> {
    session: S,
    db: DatabaseInfo,
    tables: Vec<Captured>,
}

impl<C: Connector> OracleSource<C> {
    pub fn new(opts: OracleSourceOptions, connector: C) -> Self {
        OracleSource {
            opts,
            connector: Arc::new(connector),
            pre: None,
        }
    }

    async fn check_inner(&mut self) -> Result<SourceInfo, OracleSourceError> {
        let mut session = self
            .connector
            .connect()
            .await
            .map_err(session_error("connecting"))?;
        session
            .pin_nls()
            .await
            .map_err(session_error("ALTER SESSION SET NLS_*"))?;
        let db = session
            .database()
            .await
            .map_err(session_error("reading V$DATABASE"))?;
        if let Some(pdb) = &self.opts.pdb {
            session
                .set_container(pdb)
                .await
                .map_err(session_error("ALTER SESSION SET CONTAINER to the PDB"))?;
        }
        let listed = session
            .tables(&self.opts.owners, None)
            .await
            .map_err(session_error("reading the dictionary (ALL_TAB_COLUMNS)"))?;
        let sel = &self.opts.selection;
        let mut tables: Vec<Captured> = listed
            .into_iter()
            .filter(|d| sel.includes(&d.table.owner, &d.table.name))
            .map(|d| Captured {
                schema: Arc::new(table_schema(&d.table)),
                ora: Arc::new(d.table),
                estimated_rows: d.estimated_rows,
            })
            .collect();
        if tables.is_empty() {
            return Err(OracleSourceError::NothingSelected {
                owners: self.opts.owners.join(", "),
            });
        }
        tables.sort_by_key(|t| {
            (
                sel.first_match(&t.ora.owner, &t.ora.name),
                t.ora.name.clone(),
            )
        });
        let now = session
            .current_scn()
            .await
            .map_err(session_error("SELECT CURRENT_SCN"))?;
        let info = SourceInfo {
            kind: "oracle",
            database: db.name.clone(),
            server_version: db.version.clone(),
            tables: tables.iter().map(|t| t.schema.clone()).collect(),
            server_point: Some(LogPoint::Scn(now)),
        };
        self.pre = Some(Checked {
            session,
            db,
            tables,
        });
        Ok(info)
    }

    fn checked(&mut self) -> Result<&mut Checked<C::Session>, OracleSourceError> {
        self.pre.as_mut().ok_or(OracleSourceError::NotChecked)
    }

    async fn create_inner(&mut self, cp: &mut Checkpoint) -> Result<(), OracleSourceError> {
        if self.opts.catalog_only() {
            return Ok(());
        }
        let incremental = self.opts.incremental;
        let in_pdb = self.opts.pdb.is_some();
        let pre = self.checked()?;
        if in_pdb {
            to_root(&mut pre.session).await?;
        }
        let s = pre
            .session
            .current_scn()
            .await
            .map_err(session_error("SELECT CURRENT_SCN"))?;
        let start = if incremental {
            mining_start(&mut pre.session, s).await?
        } else {
            s
        };
        cp.source = Some(SourceIdentity::Oracle(OracleIdentity {
            dbid: pre.db.dbid,
            database: pre.db.name.clone(),
            snapshot_scn: s,
            mining_start: start,
        }));
        tracing::info!(task = %self.opts.task, shard = self.opts.shard, snapshot_scn = %s, mining_start = %start, "Oracle source: snapshot SCN fixed");
        Ok(())
    }

    fn resume_inner(&mut self, cp: &Checkpoint) -> Result<(), OracleSourceError> {
        if self.opts.catalog_only() {
            return Ok(());
        }
        let now = &self.checked()?.db;
        let saved = cp.oracle().ok_or(OracleSourceError::NotOracleCheckpoint)?;
        if saved.dbid != now.dbid {
            return Err(OracleSourceError::OtherDatabase {
                saved: saved.database.clone(),
                saved_dbid: saved.dbid,
                now: now.name.clone(),
                now_dbid: now.dbid,
            });
        }
        Ok(())
    }
}

impl<C: Connector> Source for OracleSource<C> {
    async fn check(&mut self) -> Result<SourceInfo, SourceError> {
        Ok(self.check_inner().await?)
    }

    fn plan(&self, _incarnation: &str) -> Vec<SourceObject> {
        Vec::new()
    }

    async fn create(&mut self, cp: &mut Checkpoint) -> Result<(), SourceError> {
        Ok(self.create_inner(cp).await?)
    }

    async fn resume(&mut self, cp: &mut Checkpoint) -> Result<(), SourceError> {
        Ok(self.resume_inner(cp)?)
    }

    async fn run(
        self,
        cp: Checkpoint,
        out: SourceSender,
        _confirmed: watch::Receiver<ResumeToken>,
    ) {
        match run(self, cp, &out).await {
            Ok(()) | Err(OracleSourceError::PipelineStopped) => {}
            Err(e) => {
                let _ = out.send(Err(e.into())).await;
            }
        }
    }

    async fn remove(
        &mut self,
        _objects: &[SourceObject],
        _force: bool,
    ) -> Result<Vec<SourceObject>, SourceError> {
        Ok(Vec::new())
    }
}

/// The started source's run: schema phase, full load, stream.
async fn run<C: Connector>(
    src: OracleSource<C>,
    cp: Checkpoint,
    out: &SourceSender,
) -> Result<(), OracleSourceError> {
    let OracleSource {
        opts,
        connector,
        pre,
    } = src;
    let Some(pre) = pre else {
        return Err(OracleSourceError::NotChecked);
    };
    if opts.schema && !cp.schema_done {
        let mut batch: SourceBatch = pre
            .tables
            .iter()
            .map(|t| SourceItem::TableDefinition(Arc::new(definition(&t.ora, t.schema.clone()))))
            .collect();
        batch.push(SourceItem::SchemaDone);
        send(out, batch).await?;
    }
    if opts.catalog_only() {
        return send(out, vec![SourceItem::SnapshotDone]).await;
    }
    let id = cp
        .oracle()
        .ok_or(OracleSourceError::NotOracleCheckpoint)?
        .clone();
    let ltz = pre.db.time_zone_offset_secs;
    if opts.full {
        let pending: Vec<Captured> = pre
            .tables
            .iter()
            .filter(|t| {
                !matches!(
                    cp.tables.get(&t.schema.qualified_name()),
                    Some(crate::checkpoint::TableProgress::Done { .. })
                )
            })
            .cloned()
            .collect();
        if !pending.is_empty() {
            let read = snapshot::Read {
                scn: id.snapshot_scn,
                connections: opts.snapshot_connections,
                ltz_offset_secs: ltz,
                pdb: opts.pdb.clone(),
            };
            snapshot::read_all(&*connector, pending, &read, out).await?;
            send(out, vec![SourceItem::SnapshotDone]).await?;
        }
    }
    if !opts.incremental {
        return Ok(());
    }
    let mine_from = match cp.resume {
        Some(ResumeToken::Oracle { restart_scn }) => restart_scn,
        _ => id.mining_start,
    };
    let filter = ContentsFilter {
        owners: opts.owners.clone(),
        tables: Vec::new(),
        pdb: opts.pdb.clone(),
    };
    let mut session = pre.session;
    if opts.pdb.is_some() {
        to_root(&mut session).await?;
    }
    let miner =
        Miner::new(session, filter, opts.bounds, mine_from).with_dictionary(opts.dictionary);
    let start = StreamStart {
        mine_from,
        emit_after: id.snapshot_scn,
        skip_through: cp.stream,
    };
    tracing::info!(task = %opts.task, shard = opts.shard, %mine_from, emit_after = %id.snapshot_scn, skip_through = ?cp.stream, "Oracle source: mining");
    OracleStream::new(miner, &opts, pre.tables, start, ltz)?
        .run(out)
        .await
}

/// Back to `CDB$ROOT`, where LogMiner runs.
pub(super) async fn to_root<S: OracleSession>(session: &mut S) -> Result<(), OracleSourceError> {
    session
        .set_container(super::session::sql::ROOT)
        .await
        .map_err(session_error("ALTER SESSION SET CONTAINER = CDB$ROOT"))
}

async fn send(out: &SourceSender, batch: SourceBatch) -> Result<(), OracleSourceError> {
    out.send(Ok(batch))
        .await
        .map_err(|_| OracleSourceError::PipelineStopped)
}

//! The Oracle incremental phase: mined windows → assembled transactions → decoded changes →
//! the source's ordered items.
//!
//! ```text
//!  Miner::next_window ──rows──► Assembler::push ──Committed──► Decoder ──► Begin, Event…,
//!       ▲  (none: caught up → wait `poll`)                                 SchemaChange (DDL),
//!       └──────────────────────────────────────────────────────────────── Commit{resume}
//!  after each window: Idle{restart SCN} when no transaction is open
//! ```
//! Each Commit carries `ResumeToken::Oracle { restart_scn }` (the oldest start SCN of the
//! transactions open at that commit): once the commit is durable, a resume mines from there,
//! and `AssemblerConfig::skip_through` (the checkpoint's last durable event) drops what was
//! already emitted. Nothing is confirmed to the database: LogMiner holds nothing for a reader,
//! so the retention of archived logs is what bounds how far back a resume can go (precheck).
//!
//! Table definitions follow the dictionary LogMiner renders rows by. With the online catalog
//! that is the current one, so a DDL row re-reads the table as it is now. With the redo-log
//! dictionary (`logminer_dictionary = "redo_logs"`) a row is rendered by its table's
//! definition at its SCN, so the stream reads the dictionary views `AS OF SCN`: the captured
//! tables as of the SCN mining starts from, and a table as of each DDL's commit SCN. Rows are
//! decoded in commit order and a DDL waits for the transactions holding its table's locks, so
//! the definition in force when a transaction is decoded is its rows' one. When the undo no
//! longer reaches that SCN the current dictionary is read instead, with a warning (a row the
//! newer definition cannot read then fails the task naming its column; nothing is skipped).
//!
//! Transactions committing at one SCN (common on RAC, where each instance writes its own redo
//! thread and LogMiner merges them) are emitted in position order, not LogMiner's row order, so
//! positions only grow and a resume's skip is exact. A window never passes an SCN whose redo
//! may still be in an instance's log buffer (`Miner`'s flush delay), so no thread's change is
//! written after its window.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge};

use super::assemble::{Assembler, AssemblerConfig, Committed};
use super::decode::{Decoded, Decoder};
use super::dictionary::table_schema;
use super::miner::Miner;
use super::session::{DictTable, OracleSession, SessionError};
use super::source::{Captured, OracleSourceError, OracleSourceOptions};
use crate::config::{LogMinerDictionary, TableSelection};
use crate::event::{ChangeEvent, SnapshotMark, TxMeta};
use crate::metrics::{
    ShardLabels, ORACLE_BUFFERED_BYTES, ORACLE_MINED_SCN, ORACLE_OPEN_TRANSACTIONS,
    ORACLE_SPILLED_TRANSACTIONS,
};
use crate::position::{Lsn, Position, ResumeToken, Scn, StreamPosition};
use crate::schema::{ReplicaIdentity, TableSchema};
use crate::source::{SchemaChange, SourceBatch, SourceItem, SourceSender};

/// Where the stream starts and what it skips.
#[derive(Debug, Clone, Copy)]
pub struct StreamStart {
    /// The SCN the first window mines from.
    pub mine_from: Scn,
    /// Only transactions committing after it are emitted (the snapshot SCN).
    pub emit_after: Scn,
    /// The last durable event of an earlier run.
    pub skip_through: Option<StreamPosition>,
}

/// The running stream's state.
pub struct OracleStream<S> {
    miner: Miner<S>,
    assembler: Assembler,
    decoder: Decoder,
    /// Captured tables by object id, and by `OWNER.NAME` for the redo rows' names.
    by_id: HashMap<u32, Captured>,
    /// Owner → table → object id: looked up by `&str` for every redo row, no key built.
    by_name: HashMap<String, HashMap<String, u32>>,
    selection: TableSelection,
    owners: Vec<String>,
    /// Definitions are read as of each row's SCN (the redo-log dictionary), not as they are now.
    as_of_scn: bool,
    mine_from: Scn,
    pdb: Option<String>,
    task: String,
    shard: u32,
    poll: Duration,
    decoded: Vec<Decoded>,
    gauges: MiningGauges,
    /// Transactions committed at the newest commit SCN seen, held until a later SCN (or the
    /// window's end) shows every commit at that SCN: they are emitted in position order.
    same_scn: Vec<Committed>,
}

impl<S: OracleSession> OracleStream<S> {
    pub fn new(
        miner: Miner<S>,
        opts: &OracleSourceOptions,
        tables: Vec<Captured>,
        start: StreamStart,
        ltz_offset_secs: i32,
    ) -> Result<Self, OracleSourceError> {
        let assembler = Assembler::new(AssemblerConfig {
            emit_after: start.emit_after,
            skip_through: start.skip_through,
            memory_budget: opts.memory_budget,
            spill_dir: opts.spill_dir.clone(),
        })?;
        let mut stream = OracleStream {
            miner,
            assembler,
            decoder: Decoder::new(ltz_offset_secs),
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            selection: opts.selection.clone(),
            owners: opts.owners.clone(),
            as_of_scn: opts.dictionary == LogMinerDictionary::RedoLogs,
            mine_from: start.mine_from,
            pdb: opts.pdb.clone(),
            task: opts.task.clone(),
            shard: opts.shard,
            poll: opts.poll,
            decoded: Vec::new(),
            same_scn: Vec::new(),
            gauges: MiningGauges::new(&ShardLabels::new(&opts.task, opts.shard)),
        };
        for t in tables {
            stream.know(t);
        }
        Ok(stream)
    }

    fn know(&mut self, t: Captured) {
        let tables = self.by_name.entry(t.ora.owner.clone()).or_default();
        tables.insert(t.ora.name.clone(), t.ora.object_id);
        self.by_id.insert(t.ora.object_id, t);
    }

    fn know_listed(&mut self, d: DictTable) -> Arc<TableSchema> {
        let schema = Arc::new(table_schema(&d.table));
        self.know(Captured {
            ora: Arc::new(d.table),
            schema: schema.clone(),
            estimated_rows: d.estimated_rows,
        });
        schema
    }

    /// Mines until the pipeline stops or an error ends the stream.
    pub async fn run(mut self, out: &SourceSender) -> Result<(), OracleSourceError> {
        if self.as_of_scn {
            let owners = self.owners.clone();
            let listed = self
                .read_dictionary(&owners, None, Some(self.mine_from))
                .await?;
            for d in listed {
                if self.selection.includes(&d.table.owner, &d.table.name) {
                    self.know_listed(d);
                }
            }
        }
        loop {
            let Some(window) = self.miner.next_window().await? else {
                tokio::time::sleep(self.poll).await;
                continue;
            };
            let end = window.end;
            let mut batch = SourceBatch::new();
            for row in window.rows {
                if let Some(tx) = self.assembler.push(row)? {
                    if self
                        .same_scn
                        .first()
                        .is_some_and(|t| t.commit_scn < tx.commit_scn)
                    {
                        self.flush_same_scn(&mut batch, out).await?;
                    }
                    self.same_scn.push(tx);
                    if batch.len() >= BATCH_ITEMS {
                        send(out, std::mem::take(&mut batch)).await?;
                    }
                }
            }
            // Every row up to `end` is mined: no more commits at the held SCN.
            self.flush_same_scn(&mut batch, out).await?;
            if self.assembler.open_transactions() == 0 {
                let restart_scn = Scn(end.0 + 1);
                batch.push(SourceItem::Idle {
                    resume: ResumeToken::Oracle { restart_scn },
                });
            }
            if !batch.is_empty() {
                send(out, batch).await?;
            }
            self.gauges.publish(end, &self.assembler);
            tracing::debug!(task = %self.task, shard = self.shard, %end, window = self.miner.window(), open = self.assembler.open_transactions(), buffered = self.assembler.buffered_bytes(), "mined a window");
        }
    }

    /// Emits the held transactions of one commit SCN in position order (RS_ID and SSN of the
    /// COMMIT row, then XID): LogMiner's order across RAC redo threads need not be that, and a
    /// checkpoint's position must grow with every emitted transaction. They share the group's
    /// oldest restart SCN, so the resume token never moves back within the group.
    async fn flush_same_scn(
        &mut self,
        batch: &mut SourceBatch,
        out: &SourceSender,
    ) -> Result<(), OracleSourceError> {
        let mut group = std::mem::take(&mut self.same_scn);
        group.sort_by_key(|t| (t.commit_redo, t.xid));
        let restart = group.iter().map(|t| t.restart_scn).min();
        for mut tx in group {
            tx.restart_scn = restart.unwrap_or(tx.restart_scn);
            self.transaction(tx, batch, out).await?;
        }
        Ok(())
    }

    /// One committed transaction's items, decoded event by event and sent in batches of
    /// `BATCH_ITEMS` as they fill: a transaction of any size (spilled by the assembler) is
    /// never held whole in memory here.
    async fn transaction(
        &mut self,
        tx: Committed,
        batch: &mut SourceBatch,
        out: &SourceSender,
    ) -> Result<(), OracleSourceError> {
        let mut st = TxEmit {
            meta: TxMeta {
                xid: tx.xid.0,
                commit_time_us: tx.commit_time_ms.saturating_mul(1000),
                commit_lsn: Lsn(tx.commit_scn.0),
            },
            last: StreamPosition::Oracle {
                commit_scn: tx.commit_scn,
                redo: tx.commit_redo,
                xid: tx.xid,
                index: 0,
            },
            events: 0,
        };
        let mut decoded = std::mem::take(&mut self.decoded);
        decoded.clear();
        for event in tx.events {
            let event = event?;
            let table = self.table_of(&event.row).map(|t| t.ora.clone());
            self.decoder.push(table.as_deref(), event, &mut decoded)?;
            self.emit(&mut decoded, &mut st, batch).await?;
            if batch.len() >= BATCH_ITEMS {
                send(out, std::mem::take(batch)).await?;
            }
        }
        self.decoder.finish(&mut decoded)?;
        self.emit(&mut decoded, &mut st, batch).await?;
        self.decoded = decoded;
        batch.push(SourceItem::Commit {
            tx: st.meta,
            last: st.last,
            events: st.events,
            resume: ResumeToken::Oracle {
                restart_scn: tx.restart_scn,
            },
        });
        Ok(())
    }

    /// Moves what the decoder gave into `batch`: a Begin before the transaction's first change.
    async fn emit(
        &mut self,
        decoded: &mut Vec<Decoded>,
        st: &mut TxEmit,
        batch: &mut SourceBatch,
    ) -> Result<(), OracleSourceError> {
        for d in decoded.drain(..) {
            match d {
                Decoded::Change {
                    position,
                    object_id,
                    scn,
                    change,
                    ..
                } => {
                    let Some(t) = self.by_id.get(&object_id) else {
                        continue;
                    };
                    if st.events == 0 {
                        batch.push(SourceItem::Begin(st.meta));
                    }
                    batch.push(SourceItem::Event(ChangeEvent {
                        position: Position::Stream(position),
                        op: change.op,
                        table: t.schema.clone(),
                        tx: st.meta,
                        lsn: Lsn(scn.0),
                        last_commit_lsn: None,
                        snapshot: SnapshotMark::None,
                        before: change.before,
                        after: change.after,
                    }));
                    st.last = position;
                    st.events += 1;
                }
                Decoded::Ddl {
                    position,
                    owner,
                    name,
                    sql,
                    ..
                } => {
                    if let Some(change) = self.ddl(position, &owner, name, sql).await? {
                        batch.push(SourceItem::SchemaChange(change));
                    }
                }
            }
        }
        Ok(())
    }

    /// `owners`' tables from the dictionary, as of `as_of` (now when `None`, or when the undo
    /// no longer reaches it: then with a warning), in the PDB when there is one (then back to
    /// the root, where mining goes on). `table` names the DDL's table, for errors.
    async fn read_dictionary(
        &mut self,
        owners: &[String],
        table: Option<&str>,
        as_of: Option<Scn>,
    ) -> Result<Vec<DictTable>, OracleSourceError> {
        let err = |error| OracleSourceError::Session {
            call: if table.is_some() {
                "the dictionary read after a DDL"
            } else {
                "the dictionary read at the mining start"
            },
            table: table.map(str::to_owned),
            error,
        };
        let (task, shard) = (self.task.clone(), self.shard);
        let session = self.miner.session();
        if let Some(pdb) = &self.pdb {
            session.set_container(pdb).await.map_err(err)?;
        }
        let listed = match session.tables(owners, as_of).await {
            Err(SessionError::Database { code, message }) if NO_FLASHBACK.contains(&code) => {
                let scn = as_of.unwrap_or_default();
                tracing::warn!(%task, shard, %scn, code, %message, "the dictionary cannot be read as of this SCN (the undo no longer reaches it): the current definitions are used; a row they cannot read fails the task naming its column");
                session.tables(owners, None).await.map_err(err)?
            }
            listed => listed.map_err(err)?,
        };
        if self.pdb.is_some() {
            super::source::to_root(session).await?;
        }
        Ok(listed)
    }

    fn table_of(&self, row: &super::logminer::LogMinerRow) -> Option<&Captured> {
        let (owner, name) = (row.seg_owner.as_deref()?, row.table_name.as_deref()?);
        self.by_id.get(self.by_name.get(owner)?.get(name)?)
    }

    /// A DDL statement on a captured owner: the table's definition read again from the
    /// dictionary (the online catalog holds the definition after the statement), and the
    /// statement routed like PostgreSQL's captured DDL. `None` when the task does not capture
    /// the object.
    async fn ddl(
        &mut self,
        at: StreamPosition,
        owner: &str,
        name: Option<String>,
        sql: String,
    ) -> Result<Option<SchemaChange>, OracleSourceError> {
        if !self.selection.covers_schema(owner) {
            return Ok(None);
        }
        let name = name.unwrap_or_default();
        let previous = self
            .by_name
            .get(owner)
            .and_then(|t| t.get(&name))
            .and_then(|id| self.by_id.get(id))
            .map(|t| t.schema.clone());
        let captured = self.selection.includes(owner, &name);
        let mut table = None;
        if captured {
            let as_of = match at {
                StreamPosition::Oracle { commit_scn, .. } if self.as_of_scn => Some(commit_scn),
                _ => None,
            };
            let qualified = format!("{owner}.{name}");
            let listed = self
                .read_dictionary(&[owner.to_owned()], Some(&qualified), as_of)
                .await?;
            if let Some(d) = listed.into_iter().find(|d| d.table.name == name) {
                table = Some(self.know_listed(d));
            }
        }
        tracing::info!(task = %self.task, shard = self.shard, position = %at, statement = %sql, "DDL migrated");
        let table = table
            .or_else(|| previous.clone())
            .unwrap_or_else(|| Arc::new(stub(owner, &name)));
        Ok(Some(SchemaChange {
            table,
            previous,
            at: Some(at),
            ddl: Some(sql),
        }))
    }
}

/// ORA- numbers of a flashback query the undo cannot answer: 01555 snapshot too old, 08180 no
/// snapshot found based on specified time, 08181 not a valid system change number, 01466 table
/// definition has changed, 08187 snapshot expression not allowed here, 30052 invalid lower
/// limit snapshot expression.
const NO_FLASHBACK: [u32; 6] = [1555, 8180, 8181, 1466, 8187, 30052];

/// Items a batch collects before it is sent.
const BATCH_ITEMS: usize = 512;

/// A transaction being emitted: its metadata, last event position and event count.
struct TxEmit {
    meta: TxMeta,
    last: StreamPosition,
    events: u32,
}

/// The mining metrics of one shard, resolved once.
struct MiningGauges {
    mined_scn: Gauge,
    open: Gauge,
    buffered: Gauge,
    spilled: Counter,
    spilled_seen: u64,
}

impl MiningGauges {
    fn new(labels: &ShardLabels) -> MiningGauges {
        MiningGauges {
            mined_scn: labels.gauge(ORACLE_MINED_SCN),
            open: labels.gauge(ORACLE_OPEN_TRANSACTIONS),
            buffered: labels.gauge(ORACLE_BUFFERED_BYTES),
            spilled: labels.counter(ORACLE_SPILLED_TRANSACTIONS),
            spilled_seen: 0,
        }
    }

    /// After a window mined through `end`.
    fn publish(&mut self, end: Scn, a: &Assembler) {
        self.mined_scn.set(end.0 as f64);
        self.open.set(a.open_transactions() as f64);
        self.buffered.set(a.buffered_bytes() as f64);
        let spilled = a.spilled_transactions();
        self.spilled.increment(spilled - self.spilled_seen);
        self.spilled_seen = spilled;
    }
}

/// A table the stream knows only by name (a DDL on an object it does not capture rows of).
fn stub(owner: &str, name: &str) -> TableSchema {
    TableSchema {
        oid: 0,
        schema: owner.to_owned(),
        name: name.to_owned(),
        columns: Vec::new(),
        replica_identity: ReplicaIdentity::Full,
    }
}

async fn send(out: &SourceSender, batch: SourceBatch) -> Result<(), OracleSourceError> {
    out.send(Ok(batch))
        .await
        .map_err(|_| OracleSourceError::PipelineStopped)
}

#[cfg(test)]
mod tests;

//! The Oracle full load: every table not yet done read `AS OF SCN S` (a flashback query), so
//! all tables show the database at one SCN, tables in parallel on their own sessions.
//!
//! ```text
//!  tables ─► up to `connections` readers, each: connect ─► pin NLS ─► read_table(AS OF SCN S)
//!               rows (text) ─► RedoParser::text_row ─► Event(Read) batches ─► out
//!  TableStarted before a table's rows, TableDone after its last: the checkpoint marks a table
//!  done only when all its rows are durable; a table cut mid-way is read again from its start.
//! ```
//! ORA-01555 (snapshot too old: the undo no longer holds S) fails the read; it is retried from
//! scratch (`TableStarted` again) up to `SNAPSHOT_TOO_OLD_RETRIES` times, then the task fails
//! naming the table, S and `UNDO_RETENTION` to raise.

use futures::stream::{self, TryStreamExt};
use tokio::sync::mpsc;

use super::redo::RedoParser;
use super::session::{Connector, OracleSession, TextRows};
use super::source::{Captured, OracleSourceError};
use crate::event::{ChangeEvent, Op, SnapshotMark, TxMeta};
use crate::position::{LogPoint, Lsn, Position, Scn};
use crate::source::{SourceItem, SourceSender};

/// Re-reads of a table after ORA-01555 before the task fails.
pub const SNAPSHOT_TOO_OLD_RETRIES: u32 = 2;

/// ORA-01555: snapshot too old.
const SNAPSHOT_TOO_OLD: u32 = 1555;

/// How the full load reads.
#[derive(Debug, Clone)]
pub struct Read {
    /// The snapshot SCN S.
    pub scn: Scn,
    /// Sessions reading tables at once.
    pub connections: usize,
    pub ltz_offset_secs: i32,
    /// The PDB the tables are in, for a session connected to the CDB's service.
    pub pdb: Option<String>,
}

/// Reads `tables` as `read` says; returns when all are done.
pub async fn read_all<C: Connector>(
    connector: &C,
    tables: Vec<Captured>,
    read: &Read,
    out: &SourceSender,
) -> Result<(), OracleSourceError> {
    let (scn, connections) = (read.scn, read.connections);
    let tx = TxMeta {
        xid: 0,
        commit_time_us: now_us(),
        commit_lsn: Lsn(scn.0),
    };
    stream::iter(tables.into_iter().map(Ok))
        .try_for_each_concurrent(connections.max(1), |t| async move {
            let mut attempt = 0;
            loop {
                match read_table(connector, &t, read, tx, out).await {
                    Err(OracleSourceError::Session { error, .. })
                        if error.ora_code() == Some(SNAPSHOT_TOO_OLD)
                            && attempt < SNAPSHOT_TOO_OLD_RETRIES =>
                    {
                        attempt += 1;
                        tracing::warn!(table = %t.ora.qualified_name(), %scn, attempt, "ORA-01555 reading the table as of the snapshot SCN: reading it again from its start");
                    }
                    Err(OracleSourceError::Session { error, .. })
                        if error.ora_code() == Some(SNAPSHOT_TOO_OLD) =>
                    {
                        return Err(OracleSourceError::SnapshotTooOld {
                            table: t.ora.qualified_name(),
                            scn,
                            attempts: attempt + 1,
                            error,
                        });
                    }
                    other => return other,
                }
            }
        })
        .await
}

fn now_us() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_micros() as i64)
}

/// One table, start to end, on its own session.
async fn read_table<C: Connector>(
    connector: &C,
    t: &Captured,
    read: &Read,
    tx: TxMeta,
    out: &SourceSender,
) -> Result<(), OracleSourceError> {
    let (scn, ltz_offset_secs) = (read.scn, read.ltz_offset_secs);
    let name = t.ora.qualified_name();
    let call = |error| OracleSourceError::Session {
        call: "the flashback read (SELECT ... AS OF SCN)",
        table: Some(name.clone()),
        error,
    };
    let mut session = connector.connect().await.map_err(call)?;
    session.pin_nls().await.map_err(call)?;
    if let Some(pdb) = &read.pdb {
        session.set_container(pdb).await.map_err(call)?;
    }
    send(
        out,
        vec![SourceItem::TableStarted {
            table: name.clone(),
            estimated_rows: t.estimated_rows,
        }],
    )
    .await?;
    let (rows_tx, rows_rx) = mpsc::channel::<TextRows>(2);
    let ora = t.ora.clone();
    let read = async move { session.read_table(&ora, scn, rows_tx).await };
    let emit = emit_rows(t, scn, tx, ltz_offset_secs, rows_rx, out);
    let (read, emitted) = tokio::join!(read, emit);
    let (rows, last) = emitted?;
    // A read cut short ends here: its held row is not the table's last, and is read again.
    read.map_err(call)?;
    let mut items: Vec<SourceItem> = last.map(SourceItem::Event).into_iter().collect();
    items.push(SourceItem::TableDone { table: name, rows });
    send(out, items).await
}

/// Turns the read's text rows into snapshot events; returns how many, and the newest, held
/// back until the next one says it is not the table's last: the caller sends it, marked last,
/// only once the read has ended without error.
async fn emit_rows(
    t: &Captured,
    scn: Scn,
    tx: TxMeta,
    ltz_offset_secs: i32,
    mut rows: mpsc::Receiver<TextRows>,
    out: &SourceSender,
) -> Result<(u64, Option<ChangeEvent>), OracleSourceError> {
    let mut parser = RedoParser::new().with_local_time_zone_offset(ltz_offset_secs);
    let mut n = 0u64;
    let mut held: Option<ChangeEvent> = None;
    while let Some(batch) = rows.recv().await {
        let mut items = Vec::with_capacity(batch.len());
        for values in &batch {
            let row = parser.text_row(&t.ora, values).map_err(|source| {
                OracleSourceError::SnapshotRow {
                    scn,
                    row: n,
                    source: Box::new(source),
                }
            })?;
            let event = ChangeEvent {
                position: Position::Snapshot {
                    snapshot: LogPoint::Scn(scn),
                    row: n,
                },
                op: Op::Read,
                table: t.schema.clone(),
                tx,
                lsn: Lsn(scn.0),
                last_commit_lsn: None,
                snapshot: if n == 0 {
                    SnapshotMark::FirstInTable
                } else {
                    SnapshotMark::Middle
                },
                before: None,
                after: Some(row),
            };
            items.extend(held.replace(event).map(SourceItem::Event));
            n += 1;
        }
        send(out, items).await?;
    }
    if let Some(last) = held.as_mut() {
        if n > 1 {
            last.snapshot = SnapshotMark::LastInTable;
        }
    }
    Ok((n, held))
}

async fn send(out: &SourceSender, batch: Vec<SourceItem>) -> Result<(), OracleSourceError> {
    out.send(Ok(batch))
        .await
        .map_err(|_| OracleSourceError::PipelineStopped)
}

//! The snapshot: tables read with `COPY ... TO STDOUT (FORMAT binary)` on N connections that
//! all imported one exported snapshot, so together they see the database exactly at the slot's
//! consistent point and the stream continues from there with no gap and no overlap.
//!
//! Rows are streamed (never a whole table in memory) into the source's bounded channel. Every
//! column is read in its binary form, exactly as the stream (`binary 'true'`) sends it, so a
//! value decodes the same way whichever phase delivered it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio_postgres::Client;

use super::conn::PgConnectConfig;
use super::copy_binary::CopyBinaryParser;
use super::error::PgSourceError;
use crate::event::{ChangeEvent, Op, Row, SnapshotMark, TxMeta};
use crate::position::{LogPoint, Lsn, Position};
use crate::schema::TableSchema;
use crate::source::{SourceBatch, SourceItem, SourceSender};

/// A table to read, and whether to read it with `ONLY` (an inheritance parent: its children
/// are tables of their own). Partitioned tables are read whole, never with `ONLY`.
#[derive(Debug, Clone)]
pub struct SnapshotTable {
    pub schema: Arc<TableSchema>,
    pub only: bool,
}

/// Rows per batch sent to the pipeline.
const BATCH_ROWS: usize = 512;

/// Connections that imported one snapshot, ready to read tables.
pub struct SnapshotSession {
    clients: Vec<Client>,
    tx: TxMeta,
}

impl SnapshotSession {
    /// Opens `n` connections and imports `snapshot_name` in each (REPEATABLE READ, read only).
    pub async fn open(
        cfg: &PgConnectConfig,
        snapshot_name: &str,
        snapshot_lsn: Lsn,
        n: usize,
    ) -> Result<Self, PgSourceError> {
        // The connections open concurrently: each costs a few round trips and a SCRAM exchange.
        let import = format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot_name}'"
        );
        let clients = futures::future::try_join_all((0..n).map(|_| async {
            let c = cfg.connect_sql("snapshot").await?;
            c.batch_execute(&import)
                .await
                .map_err(|e| PgSourceError::sql("importing the snapshot", e))?;
            Ok::<_, PgSourceError>(c)
        }))
        .await?;
        let row = clients[0]
            .query_one(
                "SELECT txid_snapshot_xmax(txid_current_snapshot())::text::bigint - 1, \
                 (EXTRACT(EPOCH FROM now()) * 1000000)::bigint",
                &[],
            )
            .await
            .map_err(|e| PgSourceError::sql("reading the snapshot's xid", e))?;
        let tx = TxMeta {
            xid: row.get::<_, i64>(0) as u64,
            commit_time_us: row.get(1),
            commit_lsn: snapshot_lsn,
        };
        Ok(SnapshotSession { clients, tx })
    }

    /// Reads every table, spreading them over the connections; sends rows to `out`.
    pub async fn read(
        self,
        tables: Vec<SnapshotTable>,
        out: SourceSender,
    ) -> Result<(), PgSourceError> {
        let queue = Arc::new(Mutex::new(tables.into_iter().collect::<VecDeque<_>>()));
        let shared = Arc::new(Marks {
            first_sent: AtomicBool::new(false),
            remaining: AtomicUsize::new(queue_len(&queue)),
        });
        let mut workers = Vec::new();
        for client in self.clients {
            let (queue, out, shared, tx) = (queue.clone(), out.clone(), shared.clone(), self.tx);
            workers.push(tokio::spawn(async move {
                loop {
                    let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                    let Some(table) = next else {
                        return Ok::<_, PgSourceError>(());
                    };
                    read_table(&client, &table, tx, &shared, &out).await?;
                }
            }));
        }
        for w in workers {
            w.await.map_err(|e| PgSourceError::Protocol {
                context: "snapshot".into(),
                what: e.to_string(),
            })??;
        }
        Ok(())
    }
}

fn queue_len(q: &Mutex<VecDeque<SnapshotTable>>) -> usize {
    q.lock().map(|q| q.len()).unwrap_or(0)
}

/// Snapshot-wide marks: the first row of all and the tables still to finish.
struct Marks {
    first_sent: AtomicBool,
    remaining: AtomicUsize,
}

fn copy_query(table: &SnapshotTable) -> String {
    let t = &table.schema;
    let cols: Vec<String> = t.columns.iter().map(|c| quote_ident(&c.name)).collect();
    format!(
        "COPY (SELECT {} FROM {}{}.{}) TO STDOUT (FORMAT binary)",
        cols.join(", "),
        if table.only { "ONLY " } else { "" },
        quote_ident(&t.schema),
        quote_ident(&t.name)
    )
}

pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

async fn read_table(
    client: &Client,
    read: &SnapshotTable,
    tx: TxMeta,
    marks: &Marks,
    out: &SourceSender,
) -> Result<(), PgSourceError> {
    let table = &read.schema;
    let name = table.qualified_name();
    let ctx = || format!("reading table {name} for the snapshot");
    let estimated_rows = estimate_rows(client, table.oid)
        .await
        .map_err(|e| PgSourceError::sql(ctx(), e))?;
    let started = SourceItem::TableStarted {
        table: name.clone(),
        estimated_rows,
    };
    send(out, vec![started]).await?;
    let stream = client
        .copy_out(&copy_query(read))
        .await
        .map_err(|e| PgSourceError::sql(ctx(), e))?;
    let mut parser = CopyBinaryParser::new();
    let mut reader = TableReader {
        table,
        tx,
        marks,
        held: None,
        rows: 0,
        batch: Vec::with_capacity(BATCH_ROWS),
    };
    futures::pin_mut!(stream);
    while let Some(chunk) = stream.next().await {
        parser.push(chunk.map_err(|e| PgSourceError::sql(ctx(), e))?);
        while let Some(row) = parser.next_row().map_err(|e| PgSourceError::Protocol {
            context: ctx(),
            what: e.to_string(),
        })? {
            reader.check_cells(&row)?;
            reader.push(row);
            if reader.batch.len() >= BATCH_ROWS {
                let full = std::mem::replace(&mut reader.batch, Vec::with_capacity(BATCH_ROWS));
                send(out, full).await?;
            }
        }
    }
    parser.finish().map_err(|e| PgSourceError::Protocol {
        context: ctx(),
        what: e.to_string(),
    })?;
    let last = marks.remaining.fetch_sub(1, Ordering::AcqRel) == 1;
    reader.finish(last);
    let rows = reader.rows;
    let mut batch = reader.batch;
    batch.push(SourceItem::TableDone { table: name, rows });
    send(out, batch).await
}

/// The planner's row estimate (`reltuples`; -1 before the first ANALYZE), for progress only.
async fn estimate_rows(client: &Client, oid: u32) -> Result<u64, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT reltuples::float8 FROM pg_class WHERE oid = $1",
            &[&oid],
        )
        .await?;
    Ok(row.get::<_, f64>(0).max(0.0) as u64)
}

async fn send(out: &SourceSender, batch: SourceBatch) -> Result<(), PgSourceError> {
    out.send(Ok(batch))
        .await
        .map_err(|_| PgSourceError::Connection {
            context: "snapshot".into(),
            reason: "the pipeline stopped".into(),
        })
}

/// Turns rows into events, holding one row back to know which is the table's last.
struct TableReader<'a> {
    table: &'a Arc<TableSchema>,
    tx: TxMeta,
    marks: &'a Marks,
    held: Option<Row>,
    rows: u64,
    batch: SourceBatch,
}

impl TableReader<'_> {
    /// A row must have a value for every column: a missing one is an error, never a NULL.
    fn check_cells(&self, row: &Row) -> Result<(), PgSourceError> {
        let columns = &self.table.columns;
        if row.cells.len() == columns.len() {
            return Ok(());
        }
        let missing = columns.get(row.cells.len()).map(|c| c.name.clone());
        Err(PgSourceError::MissingCell {
            table: self.table.qualified_name(),
            column: missing.unwrap_or_else(|| "(beyond the last column)".into()),
            position: format!(
                "snapshot:{}:{}:{}",
                self.tx.commit_lsn,
                self.table.qualified_name(),
                self.rows + u64::from(self.held.is_some())
            ),
            cells: row.cells.len(),
            columns: columns.len(),
        })
    }

    fn push(&mut self, row: Row) {
        if let Some(prev) = self.held.replace(row) {
            self.emit(prev, false, false);
        }
    }

    fn finish(&mut self, last_of_all: bool) {
        if let Some(prev) = self.held.take() {
            self.emit(prev, true, last_of_all);
        }
    }

    fn emit(&mut self, row: Row, last_in_table: bool, last_of_all: bool) {
        let first_of_all = !self.marks.first_sent.swap(true, Ordering::AcqRel);
        let mark = match (first_of_all, self.rows == 0, last_in_table, last_of_all) {
            (_, _, true, true) => SnapshotMark::Last,
            (true, _, _, _) => SnapshotMark::First,
            (_, true, _, _) => SnapshotMark::FirstInTable,
            (_, _, true, _) => SnapshotMark::LastInTable,
            _ => SnapshotMark::Middle,
        };
        let event = ChangeEvent {
            position: Position::Snapshot {
                snapshot: LogPoint::Lsn(self.tx.commit_lsn),
                row: self.rows,
            },
            op: Op::Read,
            table: self.table.clone(),
            tx: self.tx,
            lsn: self.tx.commit_lsn,
            last_commit_lsn: None,
            snapshot: mark,
            before: None,
            after: Some(row),
        };
        self.rows += 1;
        self.batch.push(SourceItem::Event(event));
    }
}

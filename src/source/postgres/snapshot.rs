//! The snapshot: tables read with `COPY ... TO STDOUT (FORMAT binary)` on N connections that
//! all imported one exported snapshot, so together they see the database exactly at the slot's
//! consistent point and the stream continues from there with no gap and no overlap.
//!
//! Rows are streamed (never a whole table in memory) into the source's bounded channel. Every
//! column is read in its binary form, exactly as the stream (`binary 'true'`) sends it, so a
//! value decodes the same way whichever phase delivered it. A column whose type has no binary
//! send function (IvorySQL's `XMLTYPE`) would make the whole binary COPY fail: it is read cast
//! to `text` (whose binary form is the output function's text) and handed on as a text cell,
//! which is what pgoutput sends for such a type.

mod parts;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio_postgres::Client;

use super::conn::PgConnectConfig;
use super::copy_binary::CopyBinaryParser;
use super::definition::DefinitionCheck;
use super::error::PgSourceError;
use crate::event::{Cell, ChangeEvent, Op, Row, SnapshotMark, TxMeta};
use crate::position::{LogPoint, Lsn, Position};
use crate::schema::TableSchema;
use crate::source::{SourceBatch, SourceItem, SourceSender};

/// A table to read, and whether to read it with `ONLY` (an inheritance parent: its children
/// are tables of their own). Partitioned tables are read whole, never with `ONLY`.
#[derive(Debug, Clone)]
pub struct SnapshotTable {
    pub schema: Arc<TableSchema>,
    pub only: bool,
    /// The row filter's SQL (`crate::filter::BoundFilter::sql`): only matching rows are read.
    pub filter: Option<String>,
}

/// Where a read stands in the whole snapshot, for Debezium's `first`/`last` marks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnapshotPlace {
    /// The snapshot's first table in the task's order (`None`: this read's first).
    pub first_table: Option<u32>,
    /// Another part of the snapshot (the chunked tables) is read after this one.
    pub more_after: bool,
}

/// Rows per batch sent to the pipeline.
pub(super) const BATCH_ROWS: usize = 512;

/// Connections that imported one snapshot, ready to read tables.
pub struct SnapshotSession {
    clients: Vec<Client>,
    tx: TxMeta,
    /// Rows per `ctid` range of a large table (`parts`; 0: every table read whole).
    part_rows: usize,
}

/// One table's read, shared by the parts it is read in.
struct TableRead {
    read: SnapshotTable,
    /// Rows numbered so far: each row's number in its table, the count once all are read.
    rows: AtomicU64,
    parts_left: AtomicUsize,
    /// Read in more than one part: `TableStarted` went out before any part.
    split: bool,
    /// Which columns are read as text (`text_only_columns`), asked once for all parts.
    text_only: tokio::sync::OnceCell<Vec<bool>>,
    /// Parts end one at a time, so the table's last row and `TableDone` follow every other
    /// part's rows in the channel. It holds the last row of the part that ended latest: the
    /// table's last row unless a later part has one.
    finish: tokio::sync::Mutex<Option<Row>>,
}

/// One range of a table (`None`: all of it).
struct Part {
    table: Arc<TableRead>,
    range: Option<String>,
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
        Ok(SnapshotSession {
            clients,
            tx,
            part_rows: 0,
        })
    }

    /// Reads large tables in `ctid` ranges of about `rows` rows, side by side (`parts`).
    pub fn split_rows(mut self, rows: usize) -> Self {
        self.part_rows = rows;
        self
    }

    /// Reads every table, spreading them over the connections; sends rows to `out`. With
    /// `check`, each table's definition is checked once it is read, before it counts as done.
    pub async fn read(
        self,
        tables: Vec<SnapshotTable>,
        out: SourceSender,
        check: Option<Arc<DefinitionCheck>>,
        place: SnapshotPlace,
    ) -> Result<(), PgSourceError> {
        let first_table = match place.first_table {
            Some(first) => Some(first),
            None => tables.first().map(|t| t.schema.oid),
        };
        let remaining = tables.len() + usize::from(place.more_after);
        let queue = self.plan_parts(tables, &out).await?;
        // A part of the snapshot read later holds the `last` row: the count never ends here.
        let shared = Arc::new(Marks::new(first_table, remaining));
        let mut workers = Vec::new();
        for client in self.clients {
            let (queue, out, shared, tx) = (queue.clone(), out.clone(), shared.clone(), self.tx);
            let check = check.clone();
            workers.push(tokio::spawn(async move {
                loop {
                    let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                    let Some(part) = next else {
                        return Ok::<_, PgSourceError>(());
                    };
                    read_part(&client, &part, tx, &shared, &out, check.as_deref()).await?;
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

    /// The queue of parts, table by table in order. A table read in several parts is
    /// announced (`TableStarted`) here, before any of its parts can send rows.
    async fn plan_parts(
        &self,
        tables: Vec<SnapshotTable>,
        out: &SourceSender,
    ) -> Result<Arc<Mutex<VecDeque<Part>>>, PgSourceError> {
        let ranges = parts::plan(&self.clients[0], &tables, self.part_rows)
            .await
            .map_err(|e| PgSourceError::sql("sizing the snapshot's tables", e))?;
        let mut queue = VecDeque::new();
        for (read, ranges) in tables.into_iter().zip(ranges) {
            let split = ranges.len() > 1;
            if split {
                let name = read.schema.qualified_name();
                tracing::info!(table = %name, parts = ranges.len(), "reading the table in ctid ranges side by side, under the exported snapshot");
                let estimated_rows = estimate_rows(&self.clients[0], read.schema.oid)
                    .await
                    .map_err(|e| PgSourceError::sql(format!("sizing table {name}"), e))?;
                let started = SourceItem::TableStarted {
                    table: name,
                    estimated_rows,
                };
                send(out, vec![started]).await?;
            }
            let table = Arc::new(TableRead {
                read,
                rows: AtomicU64::new(0),
                parts_left: AtomicUsize::new(ranges.len()),
                split,
                text_only: tokio::sync::OnceCell::new(),
                finish: tokio::sync::Mutex::new(None),
            });
            for range in ranges {
                let table = table.clone();
                queue.push_back(Part { table, range });
            }
        }
        Ok(Arc::new(Mutex::new(queue)))
    }
}

/// What `source.snapshot` marks need to know beyond one table, placed as Debezium's
/// `RelationalSnapshotChangeEventSource` places them: `last` on the last row of the last table,
/// else `first` on the first row of the first table, else `last_in_data_collection` on a
/// table's last row, else `first_in_data_collection` on its first, else `true`. Debezium's
/// default snapshot reads tables in order on one thread; here several connections may read
/// tables side by side, so `first` goes to the first row of the first table in order (as with
/// Debezium's default) and `last` to the last row of the table finished last (as Debezium's
/// `completeSnapshot` marks the last row it emits). When the last tables are empty Debezium
/// moves `last` back to the last row sent; that row is already on its way here, so it keeps
/// `last_in_data_collection`.
struct Marks {
    /// The table whose first row is `first`: the first in order.
    first_table: Option<u32>,
    /// Tables not finished yet: the one that brings this to zero has the `last` row.
    remaining: AtomicUsize,
}

impl Marks {
    fn new(first_table: Option<u32>, tables: usize) -> Marks {
        Marks {
            first_table,
            remaining: AtomicUsize::new(tables),
        }
    }
}

/// The columns of table `oid` whose type (or array element type) has no binary send function.
const TEXT_ONLY_COLUMNS: &str = "SELECT a.attname::text FROM pg_attribute a \
     JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type e ON e.oid = t.typelem \
     WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
     AND (t.typsend = 0 OR (t.typelem <> 0 AND e.typsend = 0))";

/// For each column of the table, whether it is read as text (see `TEXT_ONLY_COLUMNS`).
pub(super) async fn text_only_columns(
    client: &Client,
    table: &TableSchema,
) -> Result<Vec<bool>, tokio_postgres::Error> {
    let rows = client.query(TEXT_ONLY_COLUMNS, &[&table.oid]).await?;
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    Ok(table
        .columns
        .iter()
        .map(|c| names.contains(&c.name))
        .collect())
}

/// Turns the binary cells of text-only columns (their `text` cast's send form, the very bytes
/// of the output function's text) into text cells.
pub(super) fn mark_text_cells(row: &mut Row, text_only: &[bool]) {
    for (cell, _) in row.cells.iter_mut().zip(text_only).filter(|(_, t)| **t) {
        if let Cell::Binary { start, len } = *cell {
            *cell = Cell::Text { start, len };
        }
    }
}

#[cfg(test)]
fn copy_query(table: &SnapshotTable, text_only: &[bool]) -> String {
    copy_query_where(table, text_only, None)
}

/// `COPY` of the table's rows (those matching its row filter and `range`, when given).
pub(super) fn copy_query_where(
    table: &SnapshotTable,
    text_only: &[bool],
    range: Option<&str>,
) -> String {
    let t = &table.schema;
    let cols: Vec<String> = t
        .columns
        .iter()
        .zip(text_only.iter().chain(std::iter::repeat(&false)))
        .map(|(c, text)| {
            let name = quote_ident(&c.name);
            if *text {
                format!("{name}::text")
            } else {
                name
            }
        })
        .collect();
    let conditions: Vec<String> = range
        .map(str::to_owned)
        .into_iter()
        .chain(table.filter.as_ref().map(|f| format!("({f})")))
        .collect();
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    format!(
        "COPY (SELECT {} FROM {}{}.{}{filter}) TO STDOUT (FORMAT binary)",
        cols.join(", "),
        if table.only { "ONLY " } else { "" },
        quote_ident(&t.schema),
        quote_ident(&t.name)
    )
}

pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

async fn read_part(
    client: &Client,
    part: &Part,
    tx: TxMeta,
    marks: &Marks,
    out: &SourceSender,
    check: Option<&DefinitionCheck>,
) -> Result<(), PgSourceError> {
    let t = &part.table;
    let table = &t.read.schema;
    let name = table.qualified_name();
    let ctx = || format!("reading table {name} for the snapshot");
    if !t.split {
        let estimated_rows = estimate_rows(client, table.oid)
            .await
            .map_err(|e| PgSourceError::sql(ctx(), e))?;
        let started = SourceItem::TableStarted {
            table: name.clone(),
            estimated_rows,
        };
        send(out, vec![started]).await?;
    }
    let text_only = t
        .text_only
        .get_or_try_init(|| text_only_columns(client, table))
        .await
        .map_err(|e| PgSourceError::sql(ctx(), e))?;
    let query = copy_query_where(&t.read, text_only, part.range.as_deref());
    let stream = client
        .copy_out(&query)
        .await
        .map_err(|e| PgSourceError::sql(ctx(), e))?;
    let mut parser = CopyBinaryParser::new();
    let mut reader = TableReader {
        table,
        tx,
        marks,
        held: None,
        rows: &t.rows,
        batch: Vec::with_capacity(BATCH_ROWS),
    };
    futures::pin_mut!(stream);
    while let Some(chunk) = stream.next().await {
        parser.push(chunk.map_err(|e| PgSourceError::sql(ctx(), e))?);
        while let Some(mut row) = parser.next_row().map_err(|e| PgSourceError::Protocol {
            context: ctx(),
            what: e.to_string(),
        })? {
            mark_text_cells(&mut row, text_only);
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
    let mut carried = t.finish.lock().await;
    let mine = reader.held.take();
    if t.parts_left.fetch_sub(1, Ordering::AcqRel) != 1 {
        // Another part ends the table: this one's rows go out before it, and its last row
        // waits to be the table's last.
        if let Some(earlier) = mine.and_then(|row| carried.replace(row)) {
            reader.emit(earlier, false, false);
        }
        if reader.batch.is_empty() {
            return Ok(());
        }
        return send(out, reader.batch).await;
    }
    let last_row = match mine {
        Some(row) => {
            if let Some(earlier) = carried.take() {
                reader.emit(earlier, false, false);
            }
            Some(row)
        }
        None => carried.take(),
    };
    // A table whose definition changed while it was read does not count as done.
    if let Some(c) = check {
        c.tables(std::slice::from_ref(table)).await?;
    }
    let last = marks.remaining.fetch_sub(1, Ordering::AcqRel) == 1;
    if let Some(row) = last_row {
        reader.emit(row, true, last);
    }
    let rows = t.rows.load(Ordering::Acquire);
    let mut batch = reader.batch;
    batch.push(SourceItem::TableDone { table: name, rows });
    send(out, batch).await
}

/// The planner's row estimate (`reltuples`; -1 before the first ANALYZE), for progress only.
pub(super) async fn estimate_rows(client: &Client, oid: u32) -> Result<u64, tokio_postgres::Error> {
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

/// The mark of a row (see `Marks`), Debezium's `SnapshotMarkerResolver` priorities.
pub(super) fn snapshot_mark(
    first_in_table: bool,
    last_in_table: bool,
    first_table: bool,
    last_of_all: bool,
) -> SnapshotMark {
    if last_in_table && last_of_all {
        SnapshotMark::Last
    } else if first_in_table && first_table {
        SnapshotMark::First
    } else if last_in_table {
        SnapshotMark::LastInTable
    } else if first_in_table {
        SnapshotMark::FirstInTable
    } else {
        SnapshotMark::Middle
    }
}

/// Turns rows into events, holding one row back to know which is the table's last.
struct TableReader<'a> {
    table: &'a Arc<TableSchema>,
    tx: TxMeta,
    marks: &'a Marks,
    held: Option<Row>,
    /// The table's row numbers, shared by the parts it is read in.
    rows: &'a AtomicU64,
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
                self.rows.load(Ordering::Relaxed) + u64::from(self.held.is_some())
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

    /// Emits the row held back (the table's last, for a table read in one part).
    #[cfg(test)]
    fn finish(&mut self, last_in_table: bool, last_of_all: bool) {
        if let Some(prev) = self.held.take() {
            self.emit(prev, last_in_table, last_of_all);
        }
    }

    fn emit(&mut self, row: Row, last_in_table: bool, last_of_all: bool) {
        let number = self.rows.fetch_add(1, Ordering::Relaxed);
        let mark = snapshot_mark(
            number == 0,
            last_in_table,
            self.marks.first_table == Some(self.table.oid),
            last_of_all,
        );
        let event = ChangeEvent {
            position: Position::Snapshot {
                snapshot: LogPoint::Lsn(self.tx.commit_lsn),
                row: number,
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
        self.batch.push(SourceItem::Event(event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ReplicaIdentity;

    fn table(oid: u32) -> Arc<TableSchema> {
        Arc::new(TableSchema {
            oid,
            schema: "s".into(),
            name: format!("t{oid}"),
            columns: vec![],
            replica_identity: ReplicaIdentity::Default,
        })
    }

    /// The marks of one table's `rows` rows read through a `TableReader`.
    fn read(marks: &Marks, oid: u32, rows: usize) -> Vec<SnapshotMark> {
        let t = table(oid);
        let numbers = AtomicU64::new(0);
        let mut reader = TableReader {
            table: &t,
            tx: TxMeta::default(),
            marks,
            held: None,
            rows: &numbers,
            batch: Vec::new(),
        };
        for _ in 0..rows {
            reader.push(Row::default());
        }
        let last = marks.remaining.fetch_sub(1, Ordering::AcqRel) == 1;
        reader.finish(true, last);
        reader
            .batch
            .iter()
            .filter_map(|i| match i {
                SourceItem::Event(e) => Some(e.snapshot),
                _ => None,
            })
            .collect()
    }

    use SnapshotMark::{First, FirstInTable as Fi, Last, LastInTable as Li, Middle as Mid};

    #[test]
    fn columns_without_a_binary_form_are_read_as_text_cells() {
        use crate::schema::{Column, PgType, TypeKind};
        let col = |name: &str| Column {
            name: name.into(),
            ty: Arc::new(PgType::new(25, "text", "pg_catalog", TypeKind::Text)),
            typmod: -1,
            is_key: false,
            nullable: true,
        };
        let mut schema = (*table(7)).clone();
        schema.columns = vec![col("id"), col("x")];
        let read = SnapshotTable {
            schema: Arc::new(schema),
            only: false,
            filter: None,
        };
        assert_eq!(
            copy_query(&read, &[false, true]),
            "COPY (SELECT \"id\", \"x\"::text FROM \"s\".\"t7\") TO STDOUT (FORMAT binary)"
        );
        let mut row = Row {
            buf: bytes::Bytes::from_static(b"1<a/>"),
            cells: vec![
                Cell::Binary { start: 0, len: 1 },
                Cell::Binary { start: 1, len: 4 },
            ],
        };
        mark_text_cells(&mut row, &[false, true]);
        assert_eq!(
            row.cells,
            vec![
                Cell::Binary { start: 0, len: 1 },
                Cell::Text { start: 1, len: 4 }
            ]
        );
    }

    #[test]
    fn tables_in_order_are_marked_as_debezium_marks_them() {
        let marks = Marks::new(Some(1), 3);
        assert_eq!(read(&marks, 1, 3), vec![First, Mid, Li]);
        assert_eq!(read(&marks, 2, 1), vec![Li]);
        assert_eq!(read(&marks, 3, 2), vec![Fi, Last]);
        // One table of one row: last wins over first.
        let marks = Marks::new(Some(1), 1);
        assert_eq!(read(&marks, 1, 1), vec![Last]);
        // An empty first table: Debezium marks no row `first`.
        let marks = Marks::new(Some(1), 2);
        assert_eq!(read(&marks, 1, 0), vec![]);
        assert_eq!(read(&marks, 2, 2), vec![Fi, Last]);
    }

    #[test]
    fn the_table_finished_last_has_the_last_row() {
        // Two connections: the second table in order finishes first.
        let marks = Marks::new(Some(1), 2);
        assert_eq!(read(&marks, 2, 2), vec![Fi, Li]);
        assert_eq!(read(&marks, 1, 2), vec![First, Last]);
    }
}

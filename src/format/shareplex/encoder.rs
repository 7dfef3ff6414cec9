//! `SharePlexJson`: holds each transaction's messages until its commit, then writes them with
//! `seq`/`size`/`idx` from `pending`; writes snapshot rows and DDL at once.

use std::sync::Arc;

use super::buffer::{Frame, TxBuffer};
use super::meta::{self, MessageMeta, TxFields};
use super::rows::RowWriter;
use super::spill;
use super::SharePlexOptions;
use crate::event::{ChangeEvent, Op, TxMeta};
use crate::format::clock::Clock;
use crate::format::origin::OracleOrigin;
use crate::format::{EncodedBatch, EncodedRecord, Format, FormatError, PartitionChoice};
use crate::position::{Position, StreamPosition};
use crate::route::{KeyWriter, Router, Routing, TableRoute};
use crate::source::SchemaChange;

/// The SharePlex JSON format (see the module documentation).
pub struct SharePlexJson {
    router: Router,
    clock: Box<dyn Clock>,
    keys: KeyWriter,
    rows: RowWriter,
    buffer: TxBuffer,
    tx: Option<HeldTx>,
    /// Fields of a message written at once (snapshot rows, DDL).
    direct: TxFields,
    posttime: Vec<u8>,
    table: Vec<u8>,
    scratch: String,
}

/// The transaction being held (between `begin` and `commit`) or written (after `commit`).
struct HeldTx {
    fields: TxFields,
    /// The tables of its messages; frames name them by index.
    tables: Vec<HeldTable>,
    /// `Some` once committed: its messages are being written.
    written: Option<Written>,
}

struct HeldTable {
    route: Arc<TableRoute>,
    /// `"SCHEMA.TABLE"`, quoted.
    name: Vec<u8>,
}

struct Written {
    posttime: Vec<u8>,
    size: u32,
    next_seq: u32,
}

impl SharePlexJson {
    /// A SharePlex JSON format routing tables by `routing`, reading `clock` for `posttime`.
    /// Fails when spill files cannot be created in `opts.spill_dir`.
    pub fn new(
        routing: Arc<Routing>,
        opts: SharePlexOptions,
        clock: Box<dyn Clock>,
    ) -> Result<SharePlexJson, FormatError> {
        spill::check_dir(&opts.spill_dir)?;
        spill::remove_stale(&opts.spill_dir);
        Ok(SharePlexJson {
            router: Router::new(routing),
            clock,
            keys: KeyWriter::default(),
            rows: RowWriter::new(&opts.metric_labels),
            buffer: TxBuffer::new(
                opts.memory_budget_bytes,
                opts.spill_dir,
                opts.metric_labels.counter(crate::metrics::FORMAT_SPILLED),
            ),
            tx: None,
            direct: TxFields::default(),
            posttime: Vec::new(),
            table: Vec::new(),
            scratch: String::new(),
        })
    }

    /// The spill file of the transaction being held, if it spilled (tests).
    pub fn spill_path(&self) -> Option<&std::path::Path> {
        self.buffer.spill_path()
    }

    /// Holds one event of the open transaction as a frame.
    fn hold(&mut self, ev: &ChangeEvent) -> Result<(), FormatError> {
        let route = self.router.get(&ev.table)?;
        let Some(tx) = &mut self.tx else {
            return Ok(());
        };
        let table = tx.table_index(&route, &mut self.scratch);
        if self.buffer.frames() == 0 {
            if let Some(o) = OracleOrigin::of(ev) {
                tx.fields.set_oracle(o.commit_scn, o.xid());
            }
        }
        let mark = self
            .buffer
            .start(op_code(ev.op), table, stream_position(ev));
        let result = write_row(&mut self.buffer, &mut self.keys, &mut self.rows, &route, ev);
        match result {
            Ok(()) => self.buffer.end(mark),
            Err(e) => {
                self.buffer.abort(mark);
                Err(e)
            }
        }
    }

    /// Writes one event at once as a transaction of its own (snapshot rows, events outside a
    /// transaction).
    fn write_now(&mut self, ev: &ChangeEvent, out: &mut EncodedBatch) -> Result<(), FormatError> {
        let route = self.router.get(&ev.table)?;
        self.direct.set_event(ev);
        self.stamp_now();
        self.table.clear();
        meta::write_table(
            &mut self.table,
            &route.target.schema,
            &route.target.name,
            &mut self.scratch,
        );
        let mark = out.len();
        let rec = out.push();
        rec.topic.push_str(&route.topic);
        let m = MessageMeta {
            op: op_code(ev.op),
            seq: 1,
            size: 1,
            table: &self.table,
            posttime: &self.posttime,
        };
        meta::write_meta(&mut rec.value, &self.direct, &m);
        let result = write_record_body(rec, &mut self.keys, &mut self.rows, &route, ev);
        if result.is_err() {
            out.truncate(mark);
        }
        result
    }

    /// `posttime` := now.
    fn stamp_now(&mut self) {
        self.posttime.clear();
        meta::write_time(&mut self.posttime, self.clock.now_unix_nanos());
    }

    /// Writes the next held message into `rec`; `false` when none is left.
    fn next_held(&mut self, out: &mut EncodedBatch) -> Result<bool, FormatError> {
        let Some(tx) = &mut self.tx else {
            return Ok(false);
        };
        let Some(w) = &mut tx.written else {
            return Ok(false);
        };
        let Some(frame) = self.buffer.next()? else {
            return Ok(false);
        };
        let seq = w.next_seq;
        w.next_seq += 1;
        let table = tx
            .tables
            .get(frame.route as usize)
            .ok_or_else(corrupt_frame)?;
        let m = MessageMeta {
            op: frame.op,
            seq,
            size: w.size,
            table: &table.name,
            posttime: &w.posttime,
        };
        fill_held(out.push(), &tx.fields, &m, &table.route, &frame);
        Ok(true)
    }

    /// The committed transaction being written, if any.
    fn writing(&self) -> Option<&Written> {
        self.tx.as_ref().and_then(|t| t.written.as_ref())
    }

    /// Forgets the written transaction (its spill file goes).
    fn finish_tx(&mut self) {
        self.tx = None;
        self.buffer.clear();
    }
}

impl HeldTx {
    fn new(tx: &TxMeta) -> HeldTx {
        let mut fields = TxFields::default();
        fields.set(tx);
        HeldTx {
            fields,
            tables: Vec::new(),
            written: None,
        }
    }

    /// The index of `route`'s table among the transaction's, added if new.
    fn table_index(&mut self, route: &Arc<TableRoute>, scratch: &mut String) -> u32 {
        let found = self
            .tables
            .iter()
            .rposition(|t| Arc::ptr_eq(&t.route, route));
        if let Some(i) = found {
            return i as u32;
        }
        let mut name = Vec::new();
        meta::write_table(&mut name, &route.target.schema, &route.target.name, scratch);
        self.tables.push(HeldTable {
            route: route.clone(),
            name,
        });
        (self.tables.len() - 1) as u32
    }
}

impl Format for SharePlexJson {
    fn encode(&mut self, ev: &ChangeEvent, out: &mut EncodedBatch) -> Result<(), FormatError> {
        match &self.tx {
            Some(tx) if tx.written.is_none() => self.hold(ev),
            _ => self.write_now(ev, out),
        }
    }

    fn begin(&mut self, tx: &TxMeta, _out: &mut EncodedBatch) -> Result<(), FormatError> {
        if self.buffer.frames() > 0 {
            tracing::warn!(
                xid = tx.xid,
                "a transaction began before the previous one was written: its held messages are dropped"
            );
        }
        self.finish_tx();
        self.tx = Some(HeldTx::new(tx));
        Ok(())
    }

    fn commit(
        &mut self,
        _tx: &TxMeta,
        _events: u32,
        _out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        if self.tx.is_none() {
            return Ok(());
        }
        self.buffer.seal()?;
        self.stamp_now();
        let size = self.buffer.frames();
        if let Some(tx) = &mut self.tx {
            tx.written = Some(Written {
                posttime: self.posttime.clone(),
                size,
                next_seq: 1,
            });
        }
        Ok(())
    }

    fn pending(&mut self, out: &mut EncodedBatch, max: usize) -> Result<bool, FormatError> {
        if self.writing().is_none() {
            return Ok(false);
        }
        for _ in 0..max {
            if !self.next_held(out)? {
                self.finish_tx();
                return Ok(false);
            }
        }
        // Exactly `max` written: finish now if nothing is left, so no empty call follows.
        let left = self.writing().is_some_and(|w| w.next_seq <= w.size);
        if !left {
            self.finish_tx();
        }
        Ok(left)
    }

    fn buffers_transactions(&self) -> bool {
        true
    }

    fn schema_change(
        &mut self,
        change: &SchemaChange,
        out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        let Some(sql) = &change.ddl else {
            return Ok(());
        };
        let route = self.router.get(&change.table)?;
        match &self.tx {
            Some(tx) => self.direct = tx.fields.clone(),
            None => self
                .direct
                .set_unknown(change.at.map(|p| p.commit().as_u64())),
        }
        if let Some(StreamPosition::Oracle {
            commit_scn, xid, ..
        }) = change.at
        {
            self.direct.set_oracle(commit_scn, Some(xid));
        }
        self.stamp_now();
        self.table.clear();
        meta::write_table(
            &mut self.table,
            &route.target.schema,
            &route.target.name,
            &mut self.scratch,
        );
        let rec = out.push();
        rec.topic.push_str(self.router.routing().ddl_topic());
        rec.null_key = true;
        rec.partition = PartitionChoice::Fixed(0);
        let m = MessageMeta {
            op: meta::DDL,
            seq: 1,
            size: 1,
            table: &self.table,
            posttime: &self.posttime,
        };
        meta::write_meta(&mut rec.value, &self.direct, &m);
        rec.value.extend_from_slice(b"\"data\":{\"sql\":");
        crate::format::json::write_str(&mut rec.value, sql);
        rec.value.extend_from_slice(b"}}");
        Ok(())
    }
}

fn op_code(op: Op) -> u8 {
    match op {
        Op::Read | Op::Insert => meta::INSERT,
        Op::Update => meta::UPDATE,
        Op::Delete => meta::DELETE,
        Op::Truncate => meta::TRUNCATE,
    }
}

fn stream_position(ev: &ChangeEvent) -> Option<StreamPosition> {
    match ev.position {
        Position::Stream(p) => Some(p),
        Position::Snapshot { .. } => None,
    }
}

/// The row whose key is the message key: the new row, the old one for a delete.
fn key_row(ev: &ChangeEvent) -> Option<&crate::event::Row> {
    match ev.op {
        Op::Delete => ev.before.as_ref(),
        Op::Truncate => None,
        _ => ev.after.as_ref().or(ev.before.as_ref()),
    }
}

/// The rest of a held frame: key, partition and body.
fn write_row(
    buffer: &mut TxBuffer,
    keys: &mut KeyWriter,
    rows: &mut RowWriter,
    route: &TableRoute,
    ev: &ChangeEvent,
) -> Result<(), FormatError> {
    let mut hash = None;
    buffer.put_key(|k| {
        let Some(row) = key_row(ev) else {
            return Ok(false);
        };
        hash = keys.write(route, row, k)?;
        Ok::<bool, FormatError>(hash.is_some())
    })?;
    buffer.put_partition(partition(route, ev.op, hash));
    body(buffer.mem(), rows, route, ev)
}

/// Key, partition and body of a message written at once; `rec.value` holds its `meta`.
fn write_record_body(
    rec: &mut EncodedRecord,
    keys: &mut KeyWriter,
    rows: &mut RowWriter,
    route: &TableRoute,
    ev: &ChangeEvent,
) -> Result<(), FormatError> {
    let hash = match key_row(ev) {
        Some(row) => keys.write(route, row, &mut rec.key)?,
        None => None,
    };
    rec.null_key = hash.is_none();
    rec.partition = partition(route, ev.op, hash);
    body(&mut rec.value, rows, route, ev)?;
    rec.value.push(b'}');
    Ok(())
}

fn partition(route: &TableRoute, op: Op, hash: Option<i32>) -> PartitionChoice {
    match op {
        Op::Truncate => route.table_partition(),
        _ => route.partition(hash),
    }
}

fn body(
    out: &mut Vec<u8>,
    rows: &mut RowWriter,
    route: &TableRoute,
    ev: &ChangeEvent,
) -> Result<(), FormatError> {
    if ev.op == Op::Truncate {
        out.extend_from_slice(b"\"data\":{}");
        return Ok(());
    }
    rows.body(out, route, ev)
}

/// A held message's record: `meta`, then the frame's body.
fn fill_held(
    rec: &mut EncodedRecord,
    fields: &TxFields,
    m: &MessageMeta<'_>,
    route: &TableRoute,
    frame: &Frame<'_>,
) {
    rec.topic.push_str(&route.topic);
    match frame.key {
        Some(k) => rec.key.extend_from_slice(k),
        None => rec.null_key = true,
    }
    rec.partition = frame.partition;
    rec.position = frame.position;
    meta::write_meta(&mut rec.value, fields, m);
    rec.value.extend_from_slice(frame.body);
    rec.value.push(b'}');
}

#[cold]
fn corrupt_frame() -> FormatError {
    FormatError::Spill {
        dir: String::from("(memory)"),
        reason: "a held frame names a table the transaction does not have".into(),
    }
}

//! `DtsAvro`: the records of each event — one `Record` per row change, a `DDL` record for a
//! TRUNCATE and for a schema change that carries its statement (see the module documentation
//! for what each field holds).

use std::sync::Arc;

use crate::event::{Cell, ChangeEvent, Op, Row, TxMeta};
use crate::format::clock::{Clock, SystemClock};
use crate::format::{EncodedBatch, Format, FormatError, PartitionChoice};
use crate::position::{Lsn, Position, StreamPosition};
use crate::route::{KeyWriter, Router, Routing};
use crate::source::SchemaChange;
use crate::value::decode;

use super::image::{write_item, write_none};
use super::plan::{PlanCache, TablePlan};
use super::record::{self, Meta, Operation};
use super::{avro, DtsAvroOptions};

/// The DTS Avro format (see the module documentation).
pub struct DtsAvro {
    opts: DtsAvroOptions,
    clock: Box<dyn Clock>,
    /// The encoded `Source` record, the same in every record.
    source: Vec<u8>,
    router: Router,
    plans: PlanCache,
    keys: KeyWriter,
    scratch: String,
    /// The next stream record's `id`.
    next_id: u64,
    /// The open transaction, for DDL records.
    tx: Option<TxMeta>,
    /// The commit LSN of the last transaction that ended.
    prev_commit: Option<Lsn>,
}

/// A row image as the record writes it.
#[derive(Clone, Copy)]
enum Image<'a> {
    /// `null` (INSERT's before, DELETE's after).
    Absent,
    /// Every column of the row.
    Row(&'a Row),
    /// The key columns of the row (if any), `EmptyObject.NONE` for the others.
    Key(Option<&'a Row>),
}

impl<'a> Image<'a> {
    fn row(self) -> Option<&'a Row> {
        match self {
            Image::Row(r) | Image::Key(Some(r)) => Some(r),
            _ => None,
        }
    }
}

impl DtsAvro {
    /// A DTS Avro encoder routing tables by `routing`, reading the system clock.
    pub fn new(opts: DtsAvroOptions, routing: Arc<Routing>) -> DtsAvro {
        DtsAvro::with_clock(opts, routing, Box::new(SystemClock))
    }

    /// A DTS Avro encoder reading `clock` for `readerThroughoutTime`.
    pub fn with_clock(
        opts: DtsAvroOptions,
        routing: Arc<Routing>,
        clock: Box<dyn Clock>,
    ) -> DtsAvro {
        DtsAvro {
            source: record::source(opts.source_type.ordinal(), &opts.server_version),
            opts,
            clock,
            router: Router::new(routing),
            plans: PlanCache::default(),
            keys: KeyWriter::default(),
            scratch: String::new(),
            next_id: 0,
            tx: None,
            prev_commit: None,
        }
    }

    pub fn options(&self) -> &DtsAvroOptions {
        &self.opts
    }

    /// The clock's reading in milliseconds, when `extra_tags` needs it.
    fn reader_ms(&self) -> Option<i64> {
        self.opts
            .extra_tags
            .then(|| (self.clock.now_unix_nanos() / 1_000_000) as i64)
    }

    fn encode_event(
        &mut self,
        ev: &ChangeEvent,
        out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        let (id, safe) = match ev.position {
            Position::Snapshot { row, .. } => (row as i64, ev.tx.commit_lsn),
            Position::Stream(_) => (
                self.next_id as i64,
                ev.last_commit_lsn.unwrap_or(ev.tx.commit_lsn),
            ),
        };
        let op = match ev.op {
            Op::Read | Op::Insert => Operation::Insert,
            Op::Update => Operation::Update,
            Op::Delete => Operation::Delete,
            Op::Truncate => Operation::Ddl,
        };
        let meta = Meta {
            id,
            commit_time_us: ev.tx.commit_time_us,
            position: ev.tx.commit_lsn,
            safe,
            xid: ev.tx.xid,
            op,
        };
        let mut job = self.job(&ev.table, meta)?;
        let before = old_image(ev);
        match ev.op {
            Op::Read | Op::Insert => job.row(out, Image::Absent, image(ev.after.as_ref())),
            Op::Update => job.row(out, before, image(ev.after.as_ref())),
            Op::Delete => job.row(out, before, Image::Absent),
            Op::Truncate => {
                let plan = job.plan;
                let (route, sql) = (&plan.route, plan.truncate.as_str());
                job.ddl(out, &route.topic, route.table_partition(), sql);
                Ok(())
            }
        }
    }
}

fn image(row: Option<&Row>) -> Image<'_> {
    row.map_or(Image::Absent, Image::Row)
}

/// The old image of an UPDATE or DELETE: the whole row under REPLICA IDENTITY FULL; otherwise
/// the key columns (of the old key tuple, or, when the key did not change, of the new row).
fn old_image(ev: &ChangeEvent) -> Image<'_> {
    match (&ev.before, ev.table.replica_identity) {
        (Some(b), crate::schema::ReplicaIdentity::Full) => Image::Row(b),
        (Some(b), _) => Image::Key(Some(b)),
        (None, _) => Image::Key(ev.after.as_ref()),
    }
}

impl Format for DtsAvro {
    fn encode(&mut self, event: &ChangeEvent, out: &mut EncodedBatch) -> Result<(), FormatError> {
        let mark = out.len();
        match self.encode_event(event, out) {
            Ok(()) => {
                if matches!(event.position, Position::Stream(_)) {
                    self.next_id += 1;
                }
                Ok(())
            }
            Err(e) => {
                out.truncate(mark);
                Err(e)
            }
        }
    }

    fn begin(&mut self, tx: &TxMeta, _out: &mut EncodedBatch) -> Result<(), FormatError> {
        self.tx = Some(*tx);
        Ok(())
    }

    fn commit(
        &mut self,
        tx: &TxMeta,
        _events: u32,
        _out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        self.prev_commit = Some(tx.commit_lsn);
        self.tx = None;
        Ok(())
    }

    fn sequence(&self) -> u64 {
        self.next_id
    }

    fn set_sequence(&mut self, next: u64) {
        self.next_id = next;
    }

    /// A schema change that carries its DDL statement becomes a `DDL` record on the DDL topic.
    fn schema_change(
        &mut self,
        change: &SchemaChange,
        out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        let Some(sql) = &change.ddl else {
            return Ok(());
        };
        let meta = self.ddl_meta(change);
        // DDL is rare: the topic's name is copied so that the job can borrow the encoder.
        let topic = self.router.routing().ddl_topic().to_owned();
        let mut job = self.job(&change.table, meta)?;
        job.ddl(out, &topic, PartitionChoice::Fixed(0), sql);
        self.next_id += 1;
        Ok(())
    }
}

impl DtsAvro {
    /// Where a DDL record comes from: its transaction (the open one), at the change's position.
    fn ddl_meta(&self, change: &SchemaChange) -> Meta {
        let tx = self.tx.unwrap_or(TxMeta {
            commit_time_us: (self.clock.now_unix_nanos() / 1000) as i64,
            ..TxMeta::default()
        });
        let position = match change.at {
            Some(StreamPosition::Pg { commit_lsn, .. }) => commit_lsn,
            _ => tx.commit_lsn,
        };
        Meta {
            id: self.next_id as i64,
            commit_time_us: tx.commit_time_us,
            position,
            safe: self.prev_commit.unwrap_or(position),
            xid: tx.xid,
            op: Operation::Ddl,
        }
    }
}

/// The encoding of one item.
impl DtsAvro {
    /// The job of one record of `table`: its cached plan, `meta` and the encoder's buffers.
    fn job(
        &mut self,
        table: &Arc<crate::schema::TableSchema>,
        meta: Meta,
    ) -> Result<Job<'_>, FormatError> {
        let reader_ms = self.reader_ms();
        let DtsAvro {
            opts,
            source,
            router,
            plans,
            keys,
            scratch,
            ..
        } = self;
        let plan = plans.get(opts, router, table)?;
        Ok(Job {
            opts,
            source,
            plan,
            meta,
            reader_ms,
            keys,
            scratch,
        })
    }
}

struct Job<'a> {
    opts: &'a DtsAvroOptions,
    source: &'a [u8],
    plan: &'a TablePlan,
    meta: Meta,
    reader_ms: Option<i64>,
    keys: &'a mut KeyWriter,
    scratch: &'a mut String,
}

impl Job<'_> {
    /// A row record: key and partition from the new row (else the old one), then the value.
    fn row(
        &mut self,
        out: &mut EncodedBatch,
        before: Image<'_>,
        after: Image<'_>,
    ) -> Result<(), FormatError> {
        let route = &self.plan.route;
        let rec = out.push();
        rec.topic.push_str(&route.topic);
        let hash = match after.row().or(before.row()) {
            Some(r) => self.keys.write(route, r, &mut rec.key)?,
            None => None,
        };
        rec.null_key = hash.is_none();
        rec.partition = route.partition(hash);
        let v = &mut rec.value;
        self.head(v);
        record::tags(v, &self.meta, &self.plan.pk_tag, self.reader_ms);
        v.extend_from_slice(&self.plan.fields);
        self.image(v, before)?;
        self.image(v, after)?;
        record::tail(v, &self.meta);
        Ok(())
    }

    /// A `DDL` record carrying `sql`, with a null key.
    fn ddl(&mut self, out: &mut EncodedBatch, topic: &str, partition: PartitionChoice, sql: &str) {
        let rec = out.push();
        rec.topic.push_str(topic);
        rec.null_key = true;
        rec.partition = partition;
        let v = &mut rec.value;
        self.head(v);
        record::tags(v, &self.meta, &[], self.reader_ms);
        // fields and beforeImages null; afterImages the statement (branch 1, string).
        v.extend_from_slice(&[0, 0]);
        avro::branch(v, 1);
        avro::string(v, sql);
        record::tail(v, &self.meta);
    }

    fn head(&self, v: &mut Vec<u8>) {
        record::head(
            v,
            self.opts.confluent_schema_id,
            self.source,
            &self.meta,
            Some(&self.plan.object_name),
        );
    }

    /// `beforeImages` / `afterImages`: null, or branch 2 with one item per column.
    fn image(&mut self, v: &mut Vec<u8>, image: Image<'_>) -> Result<(), FormatError> {
        let (row, key_only) = match image {
            Image::Absent => {
                avro::branch(v, 0);
                return Ok(());
            }
            Image::Row(r) => (Some(r), false),
            Image::Key(r) => (r, true),
        };
        let table = &self.plan.table;
        avro::branch(v, 2);
        avro::block(v, table.columns.len());
        for (i, col) in table.columns.iter().enumerate() {
            match row {
                Some(row) if col.is_key || !key_only => {
                    let cell = row.cells.get(i).copied().unwrap_or(Cell::Null);
                    let value = decode(col, row, cell).map_err(|source| FormatError::Value {
                        table: table.qualified_name(),
                        column: col.name.clone(),
                        source,
                    })?;
                    write_item(v, col, &self.plan.branches[i], &value, self.scratch);
                }
                _ => write_none(v),
            }
        }
        avro::end(v);
        Ok(())
    }
}

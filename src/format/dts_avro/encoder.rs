//! `DtsAvro`: the records of each event — one `Record` per row change, a `DDL` record for a
//! TRUNCATE and for a schema change that carries its statement (see the module documentation
//! for what each field holds).

use std::sync::Arc;

use crate::event::{Cell, ChangeEvent, Op, Row, TxMeta};
use crate::format::clock::{Clock, SystemClock};
use crate::format::origin::OracleOrigin;
use crate::format::{EncodedBatch, Format, FormatError, PartitionChoice};
use crate::position::{LogPoint, Lsn, Position, Scn, StreamPosition, Xid};
use crate::route::{KeyWriter, Router, Routing};
use crate::source::SchemaChange;
use crate::value::decode;

use super::image::{write_item, write_none};
use super::plan::{PlanCache, TablePlan};
use super::record::{self, Meta, Operation, TxId};
use super::{avro, DtsAvroOptions, SourceType};

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
    /// Oracle: the transaction of the last stream event (commit SCN, XID) and the lowest SCN
    /// of its changes seen, its `safeSourcePosition`.
    oracle_start: Option<(Scn, Xid, Scn)>,
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
            oracle_start: None,
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
        let id = match ev.position {
            Position::Snapshot { row, .. } => row as i64,
            Position::Stream(_) => self.next_id as i64,
        };
        let (position, safe, txid) = self.source_fields(ev);
        let op = match ev.op {
            Op::Read | Op::Insert => Operation::Insert,
            Op::Update => Operation::Update,
            Op::Delete => Operation::Delete,
            Op::Truncate => Operation::Ddl,
        };
        let meta = Meta {
            id,
            commit_time_us: ev.tx.commit_time_us,
            position,
            safe,
            txid,
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

/// `sourcePosition`, `safeSourcePosition` and `sourceTxid`.
type SourceFields = (LogPoint, LogPoint, TxId);

impl DtsAvro {
    /// An event's source fields: PostgreSQL's from its transaction, Oracle's from its position.
    fn source_fields(&mut self, ev: &ChangeEvent) -> SourceFields {
        if let Some(o) = OracleOrigin::of(ev) {
            return self.oracle_fields(o);
        }
        let commit = ev.tx.commit_lsn;
        let safe = match ev.position {
            Position::Snapshot { .. } => commit,
            Position::Stream(_) => ev.last_commit_lsn.unwrap_or(commit),
        };
        (
            LogPoint::Lsn(commit),
            LogPoint::Lsn(safe),
            TxId::Pg(ev.tx.xid),
        )
    }

    /// Oracle: the commit SCN (a snapshot row's: the snapshot SCN, no transaction), and as the
    /// safe position the transaction's start SCN, which events do not carry: the lowest SCN of
    /// its changes this encoder saw, the first change's when it saw the transaction whole.
    fn oracle_fields(&mut self, o: OracleOrigin) -> SourceFields {
        let commit = LogPoint::Scn(o.commit_scn);
        let Some((xid, _)) = o.tx else {
            return (commit, commit, TxId::None);
        };
        let start = match &mut self.oracle_start {
            Some((c, x, low)) if (*c, *x) == (o.commit_scn, xid) => {
                *low = (*low).min(o.scn);
                *low
            }
            slot => slot.insert((o.commit_scn, xid, o.scn)).2,
        };
        (commit, LogPoint::Scn(start), TxId::Oracle(xid))
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
        let (position, safe, txid) = self.ddl_fields(change.at, &tx);
        Meta {
            id: self.next_id as i64,
            commit_time_us: tx.commit_time_us,
            position,
            safe,
            txid,
            op: Operation::Ddl,
        }
    }

    /// A DDL record's source fields: from the change's position, else from the transaction
    /// `tx` (Oracle: its commit SCN and XID, when a transaction is open).
    fn ddl_fields(&self, at: Option<StreamPosition>, tx: &TxMeta) -> SourceFields {
        let oracle = |commit_scn: Scn, txid: TxId| {
            let p = LogPoint::Scn(commit_scn);
            (p, p, txid)
        };
        match at {
            Some(StreamPosition::Oracle {
                commit_scn, xid, ..
            }) => oracle(commit_scn, TxId::Oracle(xid)),
            None if self.opts.source_type == SourceType::Oracle => {
                let txid = match self.tx {
                    Some(t) => TxId::Oracle(Xid(t.xid)),
                    None => TxId::None,
                };
                oracle(Scn(tx.commit_lsn.0), txid)
            }
            _ => {
                let position = match at {
                    Some(StreamPosition::Pg { commit_lsn, .. }) => commit_lsn,
                    _ => tx.commit_lsn,
                };
                let safe = self.prev_commit.unwrap_or(position);
                (
                    LogPoint::Lsn(position),
                    LogPoint::Lsn(safe),
                    TxId::Pg(tx.xid),
                )
            }
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

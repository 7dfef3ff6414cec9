//! `CanalJson`: one record per change event (a snapshot row, insert, update, delete, or a
//! truncate as a DDL message) and per schema change that carries its statement.
//!
//! `id` numbers the messages of a lane. The stream lane's counter is the format's `sequence`:
//! every stream message takes the next number (DML, TRUNCATE and DDL alike, as part B §2.4
//! numbers its DDL after the DELETE); the runner stores it with each durable stream mark and
//! restores it with `set_sequence`, so a replay from the checkpoint numbers the same events
//! the same way. A snapshot row's `id` is its index in its table's read (`Position::Snapshot`),
//! a lane of its own: a re-read table restarts at 0 with the same rows. `id` is therefore not
//! unique across lanes, as DTS's own consumer demo warns.
//!
//! A DDL message is numbered when the schema change reaches the format. The source re-sends a
//! schema change after a restart only with the events that follow it, so a DDL message
//! between the last durable mark and a crash is numbered again the same way; one that was
//! marked durable is not produced again.

use crate::event::{ChangeEvent, Op, Row, TxMeta};
use crate::format::clock::{Clock, SystemClock};
use crate::format::json::{write_i64, write_u64};
use crate::format::{EncodedBatch, Format, FormatError, PartitionChoice};
use crate::position::Position;
use crate::route::{KeyWriter, Router, Routing};
use crate::source::SchemaChange;

use super::escape::write_str;
use super::plan::{PlanCache, TablePlan};
use super::row::{Image, RowWriter};
use super::CanalOptions;

/// The Canal JSON format (see the module documentation).
pub struct CanalJson {
    opts: CanalOptions,
    clock: Box<dyn Clock>,
    router: Router,
    ddl_topic: String,
    plans: PlanCache,
    keys: KeyWriter,
    rows: RowWriter,
    /// The next stream message's `id`.
    next_id: u64,
    /// The commit time (µs) of the transaction in progress: the `es` of its DDL messages.
    tx_commit_us: Option<i64>,
}

/// The numbers of one message.
#[derive(Clone, Copy)]
struct Stamp {
    es: i64,
    id: u64,
    ts: i64,
}

impl CanalJson {
    /// A Canal JSON encoder routing by `routing`, reading the system clock for `ts`.
    pub fn new(opts: CanalOptions, routing: std::sync::Arc<Routing>) -> CanalJson {
        CanalJson::with_clock(opts, routing, Box::new(SystemClock))
    }

    /// A Canal JSON encoder reading `clock` for `ts`.
    pub fn with_clock(
        opts: CanalOptions,
        routing: std::sync::Arc<Routing>,
        clock: Box<dyn Clock>,
    ) -> CanalJson {
        CanalJson {
            ddl_topic: routing.ddl_topic().to_owned(),
            router: Router::new(routing),
            rows: RowWriter::new(&opts.metric_labels),
            opts,
            clock,
            plans: PlanCache::default(),
            keys: KeyWriter::default(),
            next_id: 0,
            tx_commit_us: None,
        }
    }

    fn now_ms(&self) -> i64 {
        let ms = self.clock.now_unix_nanos().div_euclid(1_000_000);
        i64::try_from(ms).unwrap_or(i64::MAX)
    }

    fn encode_event(
        &mut self,
        ev: &ChangeEvent,
        out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        let (stream, id) = match ev.position {
            Position::Snapshot { row, .. } => (false, row),
            Position::Stream(_) => (true, self.next_id),
        };
        let stamp = Stamp {
            es: ev.tx.commit_time_us.div_euclid(1000),
            id,
            ts: self.now_ms(),
        };
        let CanalJson {
            opts,
            router,
            plans,
            keys,
            rows,
            ..
        } = self;
        let plan = plans.get(opts, router, &ev.table)?;
        let mut job = Job {
            plan,
            keys,
            rows,
            stamp,
        };
        match ev.op {
            Op::Read => job.row(out, "INIT", ev.after.as_ref(), Image::Whole, None),
            Op::Insert => job.row(out, "INSERT", ev.after.as_ref(), Image::Whole, None),
            Op::Update => {
                let old = ev.before.as_ref().filter(|_| plan.full_old);
                job.row(out, "UPDATE", ev.after.as_ref(), Image::Whole, old)
            }
            Op::Delete => {
                let image = if plan.full_old {
                    Image::Whole
                } else {
                    Image::KeyOnly
                };
                job.row(out, "DELETE", ev.before.as_ref(), image, None)
            }
            Op::Truncate => {
                job.truncate(out);
                Ok(())
            }
        }?;
        if stream {
            self.next_id += 1;
        }
        Ok(())
    }

    /// A DDL message for a schema change that carries its statement.
    fn ddl(
        &mut self,
        change: &SchemaChange,
        sql: &str,
        out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        let ts = self.now_ms();
        let stamp = Stamp {
            es: self.tx_commit_us.map_or(ts, |us| us.div_euclid(1000)),
            id: self.next_id,
            ts,
        };
        let plan = self
            .plans
            .get(&self.opts, &mut self.router, &change.table)?;
        let rec = out.push();
        rec.topic.push_str(&self.ddl_topic);
        rec.null_key = true;
        rec.partition = PartitionChoice::Fixed(0);
        write_ddl(&mut rec.value, plan, sql, stamp);
        self.next_id += 1;
        Ok(())
    }
}

impl Format for CanalJson {
    fn encode(&mut self, event: &ChangeEvent, out: &mut EncodedBatch) -> Result<(), FormatError> {
        let mark = out.len();
        let result = self.encode_event(event, out);
        if result.is_err() {
            out.truncate(mark);
        }
        result
    }

    fn begin(&mut self, tx: &TxMeta, _out: &mut EncodedBatch) -> Result<(), FormatError> {
        self.tx_commit_us = Some(tx.commit_time_us);
        Ok(())
    }

    fn commit(
        &mut self,
        _tx: &TxMeta,
        _events: u32,
        _out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        self.tx_commit_us = None;
        Ok(())
    }

    fn sequence(&self) -> u64 {
        self.next_id
    }

    fn set_sequence(&mut self, next: u64) {
        self.next_id = next;
    }

    fn schema_change(
        &mut self,
        change: &SchemaChange,
        out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        let Some(sql) = &change.ddl else {
            return Ok(());
        };
        let mark = out.len();
        let result = self.ddl(change, sql, out);
        if result.is_err() {
            out.truncate(mark);
        }
        result
    }
}

/// The encoding of one event.
struct Job<'a> {
    plan: &'a TablePlan,
    keys: &'a mut KeyWriter,
    rows: &'a mut RowWriter,
    stamp: Stamp,
}

impl Job<'_> {
    /// A row message of `kind` about `data`, keyed and partitioned by it.
    fn row(
        &mut self,
        out: &mut EncodedBatch,
        kind: &str,
        data: Option<&Row>,
        image: Image,
        old: Option<&Row>,
    ) -> Result<(), FormatError> {
        let empty = Row::default();
        let data = data.unwrap_or(&empty);
        let rec = out.push();
        rec.topic.push_str(&self.plan.route.topic);
        let hash = self.keys.write(&self.plan.route, data, &mut rec.key)?;
        rec.null_key = hash.is_none();
        rec.partition = self.plan.route.partition(hash);
        self.message(&mut rec.value, kind, data, image, old)
    }

    fn message(
        &mut self,
        v: &mut Vec<u8>,
        kind: &str,
        data: &Row,
        image: Image,
        old: Option<&Row>,
    ) -> Result<(), FormatError> {
        let plan = self.plan;
        v.extend_from_slice(b"{\"data\":[");
        self.rows.write(v, plan, data, image)?;
        v.extend_from_slice(&plan.after_data);
        write_i64(v, self.stamp.es);
        v.extend_from_slice(plan.before_id);
        write_u64(v, self.stamp.id);
        v.extend_from_slice(&plan.dml_types);
        match old {
            Some(old) => {
                v.extend_from_slice(b",\"old\":[");
                self.rows.write(v, plan, old, Image::Whole)?;
                v.push(b']');
            }
            None => v.extend_from_slice(plan.no_old),
        }
        v.extend_from_slice(&plan.dml_tail);
        write_i64(v, self.stamp.ts);
        v.extend_from_slice(b",\"type\":\"");
        v.extend_from_slice(kind.as_bytes());
        v.extend_from_slice(b"\"}");
        Ok(())
    }

    /// A TRUNCATE as a DDL message, to the table's topic and partition, null key.
    fn truncate(&mut self, out: &mut EncodedBatch) {
        let rec = out.push();
        rec.topic.push_str(&self.plan.route.topic);
        rec.null_key = true;
        rec.partition = self.plan.route.table_partition();
        write_ddl(
            &mut rec.value,
            self.plan,
            &self.plan.truncate_sql,
            self.stamp,
        );
    }
}

/// `{"database":…,"es":…,"id":…,"isDdl":true,"sql":…,"table":…,"ts":…,"type":"DDL"}`.
fn write_ddl(v: &mut Vec<u8>, plan: &TablePlan, sql: &str, stamp: Stamp) {
    v.extend_from_slice(&plan.ddl_head);
    write_i64(v, stamp.es);
    v.extend_from_slice(plan.before_id);
    write_u64(v, stamp.id);
    v.extend_from_slice(plan.ddl_before_sql);
    write_str(v, sql);
    v.extend_from_slice(&plan.ddl_tail);
    write_i64(v, stamp.ts);
    v.extend_from_slice(b",\"type\":\"DDL\"}");
}

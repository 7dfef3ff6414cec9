//! `DebeziumJson`: turns each change event into the Kafka records Debezium would produce for it —
//! one record per insert/read/update, a delete plus its tombstone, a primary-key change as
//! delete + tombstone + create with the `__debezium.newkey`/`oldkey` headers (part B §4.4).

use std::collections::HashMap;

use crate::event::{Cell, ChangeEvent, Op, Row};
use crate::format::{EncodedBatch, EncodedRecord, Format, FormatError};
use crate::position::Lsn;
use crate::route::{KeyWriter, PartitionChoice, Router, Routing};
use crate::source::SchemaChange;

use super::ddl::write_schema_change;
use super::envelope::{write_envelope, write_key, EnvelopeInput, SourceParts};
use super::payload::{Ctx, FormatMetrics};
use super::plan::{PlanCache, TablePlan};
use super::DebeziumOptions;
use crate::format::clock::{Clock, SystemClock};

const NEW_KEY_HEADER: &str = "__debezium.newkey";
const OLD_KEY_HEADER: &str = "__debezium.oldkey";

/// The Debezium JSON format (see the module documentation).
pub struct DebeziumJson {
    opts: DebeziumOptions,
    clock: Box<dyn Clock>,
    parts: SourceParts,
    plans: PlanCache,
    router: Router,
    hasher: KeyWriter,
    ctx: Ctx,
    keys: KeyBufs,
    tx: TxOrder,
}

/// Reused key buffers.
#[derive(Default)]
struct KeyBufs {
    new: Vec<u8>,
    old: Vec<u8>,
}

/// Event counters of the current transaction, for the `transaction` block.
#[derive(Default)]
struct TxOrder {
    current: Option<(Lsn, u64)>,
    total: u64,
    per_table: HashMap<u32, u64>,
}

impl TxOrder {
    fn next(&mut self, ev: &ChangeEvent) -> (u64, u64) {
        let id = (ev.tx.commit_lsn, ev.tx.xid);
        if self.current != Some(id) {
            self.current = Some(id);
            self.total = 0;
            self.per_table.clear();
        }
        self.total += 1;
        let in_table = self.per_table.entry(ev.table.oid).or_insert(0);
        *in_table += 1;
        (self.total, *in_table)
    }
}

impl DebeziumJson {
    /// A Debezium JSON encoder reading the system clock.
    pub fn new(opts: DebeziumOptions) -> DebeziumJson {
        DebeziumJson::with_clock(opts, Box::new(SystemClock))
    }

    /// A Debezium JSON encoder reading `clock` for the envelope's processing time.
    pub fn with_clock(opts: DebeziumOptions, clock: Box<dyn Clock>) -> DebeziumJson {
        let ctx = Ctx {
            placeholder: opts.unavailable_value_placeholder.clone(),
            header: false,
            scratch: String::new(),
            source: Default::default(),
            metrics: FormatMetrics::new(&opts.metric_labels),
        };
        let routing = Routing::plain(&opts.topic_prefix, opts.topic_override.as_deref());
        DebeziumJson {
            router: Router::new(std::sync::Arc::new(routing)),
            hasher: KeyWriter::default(),
            parts: SourceParts::new(&opts),
            opts,
            clock,
            plans: PlanCache::default(),
            ctx,
            keys: KeyBufs::default(),
            tx: TxOrder::default(),
        }
    }

    /// Routes tables by the task's mapping (topics, names, key columns, partition policy)
    /// instead of Debezium's defaults.
    pub fn with_routing(mut self, routing: std::sync::Arc<Routing>) -> DebeziumJson {
        self.router = Router::new(routing);
        self.plans = PlanCache::default();
        self
    }

    pub fn options(&self) -> &DebeziumOptions {
        &self.opts
    }

    fn encode_event(
        &mut self,
        ev: &ChangeEvent,
        out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        let now_ns = self.clock.now_unix_nanos();
        let DebeziumJson {
            opts,
            parts,
            plans,
            router,
            hasher,
            ctx,
            keys,
            tx,
            ..
        } = self;
        let plan = plans.get(opts, router, &ev.table)?;
        let mut job = Job {
            hasher,
            opts,
            parts,
            plan,
            ev,
            now_ns,
            ctx,
            keys,
            tx,
        };
        match ev.op {
            Op::Read => job.single(out, "r", None, ev.after.as_ref()),
            Op::Insert => job.single(out, "c", None, ev.after.as_ref()),
            Op::Update => job.update(out),
            Op::Delete => job.delete(out, ev.before.as_ref(), None),
            Op::Truncate => job.truncate(out),
        }
    }
}

impl Format for DebeziumJson {
    fn encode(&mut self, event: &ChangeEvent, out: &mut EncodedBatch) -> Result<(), FormatError> {
        let mark = out.len();
        let result = self.encode_event(event, out);
        if result.is_err() {
            out.truncate(mark);
        }
        result
    }

    /// A DDL statement becomes a schema-change record (`super::ddl`).
    fn schema_change(
        &mut self,
        change: &SchemaChange,
        out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        let Some(sql) = &change.ddl else {
            return Ok(());
        };
        let now_ms = (self.clock.now_unix_nanos() / 1_000_000) as i64;
        let mark = out.len();
        let result = write_schema_change(&self.opts, &mut self.router, change, sql, now_ms, out);
        if result.is_err() {
            out.truncate(mark);
        }
        result
    }
}

/// The encoding of one event.
struct Job<'a> {
    hasher: &'a mut KeyWriter,
    opts: &'a DebeziumOptions,
    parts: &'a SourceParts,
    plan: &'a TablePlan,
    ev: &'a ChangeEvent,
    now_ns: i128,
    ctx: &'a mut Ctx,
    keys: &'a mut KeyBufs,
    tx: &'a mut TxOrder,
}

impl Job<'_> {
    fn envelope(
        &mut self,
        out: &mut Vec<u8>,
        op: &'static str,
        before: Option<&Row>,
        after: Option<&Row>,
    ) -> Result<(), FormatError> {
        let tx_order = (self.opts.provide_transaction_metadata && self.ev.op != Op::Read)
            .then(|| self.tx.next(self.ev));
        let input = EnvelopeInput {
            ev: self.ev,
            op,
            now_ns: self.now_ns,
            tx_order,
        };
        write_envelope(
            out,
            self.opts,
            self.parts,
            self.plan,
            &input,
            (before, after),
            self.ctx,
        )
    }

    /// Writes the key of `row` into `out` (as a header value when `header`).
    fn key(&mut self, out: &mut Vec<u8>, row: &Row, header: bool) -> Result<(), FormatError> {
        self.ctx.header = header;
        let result = write_key(out, self.opts, self.plan, row, self.ctx);
        self.ctx.header = false;
        result
    }

    /// The partition of a record about `row` under the task's policy.
    fn partition(&mut self, row: Option<&Row>) -> Result<PartitionChoice, FormatError> {
        let route = &self.plan.route;
        let hash = match (route.policy, row) {
            (Some(crate::config::PartitionPolicy::HashKey), Some(row)) => {
                self.hasher.hash(route, row)?
            }
            _ => None,
        };
        Ok(match row {
            Some(_) => route.partition(hash),
            None => route.table_partition(),
        })
    }

    /// Fills a record's topic and key (null when the table has no key or there is no image).
    fn start<'r>(&self, out: &'r mut EncodedBatch, key: Option<&[u8]>) -> &'r mut EncodedRecord {
        let rec = out.push();
        rec.topic.push_str(&self.plan.topic);
        match key {
            Some(k) => rec.key.extend_from_slice(k),
            None => rec.null_key = true,
        }
        rec
    }

    /// Renders the key of `row` into `keys.new`; `false` when there is no key.
    fn render_new_key(&mut self, row: Option<&Row>) -> Result<bool, FormatError> {
        let (Some(row), true) = (row, self.plan.has_key()) else {
            return Ok(false);
        };
        let mut buf = std::mem::take(&mut self.keys.new);
        buf.clear();
        let result = self.key(&mut buf, row, false);
        self.keys.new = buf;
        result.map(|()| true)
    }

    fn single(
        &mut self,
        out: &mut EncodedBatch,
        op: &'static str,
        before: Option<&Row>,
        after: Option<&Row>,
    ) -> Result<(), FormatError> {
        let has_key = self.render_new_key(after.or(before))?;
        let partition = self.partition(after.or(before))?;
        let key = std::mem::take(&mut self.keys.new);
        let rec = self.start(out, has_key.then_some(key.as_slice()));
        rec.partition = partition;
        let result = self.envelope(&mut rec.value, op, before, after);
        self.keys.new = key;
        result
    }

    fn update(&mut self, out: &mut EncodedBatch) -> Result<(), FormatError> {
        let before = self.ev.before.as_ref();
        // Unchanged TOAST values were already filled from a full old image by the source.
        let after = self.ev.after.as_ref();
        if let (Some(b), Some(a)) = (before, after) {
            if self.key_changed(b, a)? {
                return self.key_change(out, b, a);
            }
        }
        self.single(out, "u", before, after)
    }

    /// Whether the key columns of the old image differ from the new one's (an old image with
    /// unsent key values does not count as a change).
    fn key_changed(&mut self, before: &Row, after: &Row) -> Result<bool, FormatError> {
        let unsent = self
            .plan
            .key_indices
            .iter()
            .any(|&i| before.cells.get(i) == Some(&Cell::Unchanged));
        if unsent || !self.render_new_key(Some(after))? {
            return Ok(false);
        }
        let mut old = std::mem::take(&mut self.keys.old);
        old.clear();
        let result = self.key(&mut old, before, false);
        let changed = old != self.keys.new;
        self.keys.old = old;
        result.map(|()| changed)
    }

    /// A primary-key change: delete (old key) + tombstone + create (new key). `keys.new` and
    /// `keys.old` hold the rendered keys.
    fn key_change(
        &mut self,
        out: &mut EncodedBatch,
        before: &Row,
        after: &Row,
    ) -> Result<(), FormatError> {
        let (mut new_header, mut old_header) = (Vec::new(), Vec::new());
        self.key(&mut new_header, after, true)?;
        self.key(&mut old_header, before, true)?;
        let new_key = std::mem::take(&mut self.keys.new);
        self.delete(out, Some(before), Some(new_header))?;
        let partition = self.partition(Some(after))?;
        let rec = self.start(out, Some(&new_key));
        rec.partition = partition;
        rec.headers.push((OLD_KEY_HEADER, old_header));
        let result = self.envelope(&mut rec.value, "c", None, Some(after));
        self.keys.new = new_key;
        result
    }

    /// A delete (of `before`'s key), then its tombstone when enabled; `new_key_header` is set on
    /// both for a primary-key change.
    fn delete(
        &mut self,
        out: &mut EncodedBatch,
        before: Option<&Row>,
        new_key_header: Option<Vec<u8>>,
    ) -> Result<(), FormatError> {
        let has_key = self.render_new_key(before)?;
        let partition = self.partition(before)?;
        let key = std::mem::take(&mut self.keys.new);
        let key_ref = has_key.then_some(key.as_slice());
        let rec = self.start(out, key_ref);
        rec.partition = partition;
        if let Some(h) = &new_key_header {
            rec.headers.push((NEW_KEY_HEADER, h.clone()));
        }
        let result = self.envelope(&mut rec.value, "d", before, None);
        if result.is_ok() && self.opts.tombstones_on_delete {
            let tomb = self.start(out, key_ref);
            tomb.tombstone = true;
            tomb.partition = partition;
            if let Some(h) = new_key_header {
                tomb.headers.push((NEW_KEY_HEADER, h));
            }
        }
        self.keys.new = key;
        result
    }

    fn truncate(&mut self, out: &mut EncodedBatch) -> Result<(), FormatError> {
        let partition = self.partition(None)?;
        let rec = self.start(out, None);
        rec.partition = partition;
        self.envelope(&mut rec.value, "t", None, None)
    }
}

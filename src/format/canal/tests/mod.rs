//! Tests of the Canal JSON format: part B §2.4's examples byte for byte (`golden`), the message
//! variants and options (`options`), and one value per decoded type written by hand from
//! `docs/TYPE-MAPPING.md` (`types`).

mod golden;
mod options;
mod oracle;
mod types;

use std::sync::Arc;

use crate::config::TaskSpec;
use crate::event::{ChangeEvent, Op, Row};
use crate::format::canal::{CanalJson, CanalOptions, ManualClock};
use crate::format::debezium::tests::pgbin::*;
use crate::format::{EncodedBatch, EncodedRecord, Format};
use crate::position::{LogPoint, Lsn, Position};
use crate::route::Routing;
use crate::schema::{ReplicaIdentity, TableSchema, TypeKind};

/// A task file's `Routing` with `destination` and `objects` lines added.
pub(super) fn routing(destination: &str, objects: &str) -> Arc<Routing> {
    let text = format!(
        "name = \"shop\"\n[source]\nkind = \"postgres\"\nurl = \"postgres://u@h/appdb\"\n\
         [destination]\nkind = \"kafka\"\nbootstrap_servers = \"b:9092\"\nformat = \"canal_json\"\n\
         {destination}\n[objects]\ntables = [\"public.*\"]\n{objects}"
    );
    Arc::new(Routing::new(&TaskSpec::parse(&text).unwrap()))
}

/// The running example of part B: `public.orders(id bigint PRIMARY KEY, status varchar(16),
/// amount numeric(10,2), updated_at timestamp)`.
pub(super) fn orders(ri: ReplicaIdentity) -> Arc<TableSchema> {
    part_b_orders(16_384, varchar16_status(), ri)
}

/// Seconds since the Unix epoch of 2024-01-15 08:30:00 UTC (part B's tx 755).
pub(super) const T0: i64 = 1_705_307_400;

/// An `orders` row: id, status, amount, `updated_at` as Unix seconds.
pub(super) fn order(id: i64, status: &str, amount: &str, at: i64) -> Row {
    part_b_order(id, status, amount, at * 1_000_000)
}

/// A stream event committed at Unix second `commit_s`.
pub(super) fn stream(
    t: &Arc<TableSchema>,
    op: Op,
    before: Option<Row>,
    after: Option<Row>,
    commit_s: i64,
) -> ChangeEvent {
    let mut ev = event(t, op, before, after);
    ev.tx.commit_time_us = commit_s * 1_000_000;
    ev
}

/// A snapshot row (row `index` of its table's read) of a snapshot taken at Unix second `at_s`.
pub(super) fn snapshot(t: &Arc<TableSchema>, after: Row, index: u64, at_s: i64) -> ChangeEvent {
    let mut ev = stream(t, Op::Read, None, Some(after), at_s);
    ev.position = Position::Snapshot {
        snapshot: LogPoint::Lsn(Lsn(0x16B_3748)),
        row: index,
    };
    ev
}

/// An encoder over `routing` whose clock is `clock`.
pub(super) fn encoder(opts: CanalOptions, routing: Arc<Routing>, clock: &ManualClock) -> CanalJson {
    CanalJson::with_clock(opts, routing, Box::new(clock.clone()))
}

/// Sets `clock` to Unix milliseconds `ms`.
pub(super) fn at_ms(clock: &ManualClock, ms: i64) {
    clock.set(ms * 1_000_000);
}

/// The records of one event.
pub(super) fn encode(fmt: &mut CanalJson, ev: &ChangeEvent) -> Vec<EncodedRecord> {
    let mut out = EncodedBatch::default();
    fmt.encode(ev, &mut out).unwrap();
    out.records().to_vec()
}

/// A record's value as text.
pub(super) fn value(rec: &EncodedRecord) -> String {
    String::from_utf8(rec.value.clone()).unwrap()
}

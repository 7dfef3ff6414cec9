//! Tests of the DTS Avro format: the spec's examples byte for byte and as decoded by Apache
//! Avro's reader (`golden`), one expectation per type mapping written by hand from
//! `docs/TYPE-MAPPING.md` (`types`), and Python's fastavro `schemaless_reader` over the same
//! messages (`fastavro`).

mod fastavro;
mod golden;
mod items;
mod oracle;
mod reader;
mod types;

use std::sync::Arc;

use crate::event::{ChangeEvent, Op, Row, TxMeta};
use crate::format::debezium::tests::pgbin::*;
use crate::format::dts_avro::{DtsAvro, DtsAvroOptions, FixedClock};
use crate::format::{EncodedBatch, EncodedRecord, Format};
use crate::position::{Lsn, Position, StreamPosition};
use crate::route::Routing;
use crate::schema::{ReplicaIdentity, TableSchema, TypeKind};

pub(super) const US: i64 = 1_000_000;

/// The format over `routing` with the spec's source (PostgreSQL 14.9, database `appdb`).
pub(super) fn format_with(opts: DtsAvroOptions, routing: Routing) -> DtsAvro {
    let opts = DtsAvroOptions {
        server_version: "14.9".into(),
        database: "appdb".into(),
        ..opts
    };
    // 2024-01-15 08:30:01.234 UTC
    let clock = FixedClock(1_705_307_401_234_567_891);
    DtsAvro::with_clock(opts, Arc::new(routing), Box::new(clock))
}

pub(super) fn format() -> DtsAvro {
    format_with(DtsAvroOptions::default(), Routing::plain("appdb", None))
}

/// Part B's running example: `public.orders (id bigint PRIMARY KEY, status varchar(16),
/// amount numeric(10,2), updated_at timestamp)`.
pub(super) fn orders(ri: ReplicaIdentity) -> Arc<TableSchema> {
    part_b_orders(16_500, varchar16_status(), ri)
}

/// A row of `orders` with id 42, at `updated` (Unix seconds).
pub(super) fn order(status: &str, amount: &str, updated: i64) -> Row {
    part_b_order(42, status, amount, updated * US)
}

/// A stream event of transaction `xid` committed at `commit_s` (Unix seconds) at `commit_lsn`,
/// after the transaction committed at `last` (if known).
pub(super) fn stream_event(
    table: &Arc<TableSchema>,
    op: Op,
    (before, after): (Option<Row>, Option<Row>),
    (xid, commit_s, commit_lsn): (u64, i64, u64),
    last: Option<u64>,
) -> ChangeEvent {
    let mut ev = event(table, op, before, after);
    ev.position = Position::Stream(StreamPosition::pg(Lsn(commit_lsn), 0));
    ev.tx = TxMeta {
        xid,
        commit_time_us: commit_s * US,
        commit_lsn: Lsn(commit_lsn),
    };
    ev.lsn = Lsn(commit_lsn - 8);
    ev.last_commit_lsn = last.map(Lsn);
    ev
}

/// The records one event gives.
pub(super) fn encode(f: &mut DtsAvro, ev: &ChangeEvent) -> Vec<EncodedRecord> {
    let mut out = EncodedBatch::default();
    f.encode(ev, &mut out).expect("encodes");
    out.records().to_vec()
}

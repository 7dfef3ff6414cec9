//! The record key and the value envelope (part B §4.2–4.4): `before`, `after`, the `source`
//! block exactly as Debezium 3.6.3's PostgreSQL or Oracle connector writes it, `transaction`,
//! `op`, `ts_ms/us/ns`.

use crate::event::{ChangeEvent, Op, Row, SnapshotMark};
use crate::format::FormatError;

use super::payload::{write_struct, Ctx};
use super::plan::TablePlan;
use super::{Connector, DebeziumOptions};
use crate::format::json::{write_i128, write_i64, write_str, write_u64};
use crate::format::origin::{write_xid, OracleOrigin};

/// The parts of the source block fixed by the options.
pub(crate) struct SourceParts {
    /// `{"version":…,"connector":…,"name":…,"ts_ms":`
    head: Vec<u8>,
    /// PostgreSQL `,"db":…,"sequence":"[`; Oracle `,"db":…,"sequence":null,"ts_us":`
    db: Vec<u8>,
    connector: Connector,
}

impl SourceParts {
    pub(crate) fn new(opts: &DebeziumOptions) -> SourceParts {
        let mut head = b"{\"version\":".to_vec();
        write_str(&mut head, &opts.version);
        head.extend_from_slice(b",\"connector\":");
        write_str(&mut head, opts.connector.name());
        head.extend_from_slice(b",\"name\":");
        write_str(&mut head, &opts.topic_prefix);
        head.extend_from_slice(b",\"ts_ms\":");
        let mut db = b",\"db\":".to_vec();
        write_str(&mut db, &opts.database);
        db.extend_from_slice(match opts.connector {
            Connector::Postgresql => b",\"sequence\":\"[",
            Connector::Oracle => b",\"sequence\":null,\"ts_us\":",
        });
        SourceParts {
            head,
            db,
            connector: opts.connector,
        }
    }
}

/// One event's envelope inputs besides the row images.
pub(crate) struct EnvelopeInput<'a> {
    pub ev: &'a ChangeEvent,
    /// `c`, `u`, `d`, `r` or `t`.
    pub op: &'static str,
    /// Processing time, nanoseconds since the epoch.
    pub now_ns: i128,
    /// `(total_order, data_collection_order)` when transaction metadata is provided.
    pub tx_order: Option<(u64, u64)>,
}

fn snapshot_value(ev: &ChangeEvent) -> &'static str {
    match ev.snapshot {
        SnapshotMark::First => "first",
        SnapshotMark::FirstInTable => "first_in_data_collection",
        SnapshotMark::Middle => "true",
        SnapshotMark::LastInTable => "last_in_data_collection",
        SnapshotMark::Last => "last",
        SnapshotMark::None if ev.op == Op::Read => "true",
        SnapshotMark::None => "false",
    }
}

/// Everything the source block depends on besides the fixed parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SourceKey {
    plan: u64,
    commit_time_us: i64,
    snapshot: &'static str,
    last_commit_lsn: Option<crate::position::Lsn>,
    lsn: crate::position::Lsn,
    xid: u64,
    oracle: Option<OracleOrigin>,
}

/// The last source block written: consecutive events of one transaction or snapshot usually
/// share it, and copying it is much cheaper than rendering it.
#[derive(Debug, Default)]
pub(crate) struct SourceCache {
    key: Option<SourceKey>,
    bytes: Vec<u8>,
}

fn write_source(
    out: &mut Vec<u8>,
    parts: &SourceParts,
    plan: &TablePlan,
    ev: &ChangeEvent,
    cache: &mut SourceCache,
) {
    let key = SourceKey {
        plan: plan.generation,
        commit_time_us: ev.tx.commit_time_us,
        snapshot: snapshot_value(ev),
        last_commit_lsn: ev.last_commit_lsn,
        lsn: ev.lsn,
        xid: ev.tx.xid,
        oracle: OracleOrigin::of(ev),
    };
    if cache.key != Some(key) {
        cache.bytes.clear();
        match parts.connector {
            Connector::Postgresql => render_source(&mut cache.bytes, parts, plan, ev),
            Connector::Oracle => {
                render_oracle_source(&mut cache.bytes, parts, plan, ev, key.oracle)
            }
        }
        cache.key = Some(key);
    }
    out.extend_from_slice(&cache.bytes);
}

/// The fields every connector writes up to `db`'s part (`SourceParts::db`).
fn render_common(out: &mut Vec<u8>, parts: &SourceParts, ev: &ChangeEvent) {
    out.extend_from_slice(&parts.head);
    write_i64(out, ev.tx.commit_time_us.div_euclid(1000));
    out.extend_from_slice(b",\"snapshot\":\"");
    out.extend_from_slice(snapshot_value(ev).as_bytes());
    out.push(b'"');
    out.extend_from_slice(&parts.db);
}

/// The PostgreSQL connector's source block.
fn render_source(out: &mut Vec<u8>, parts: &SourceParts, plan: &TablePlan, ev: &ChangeEvent) {
    let us = ev.tx.commit_time_us;
    render_common(out, parts, ev);
    match ev.last_commit_lsn {
        Some(l) => {
            out.extend_from_slice(b"\\\"");
            write_u64(out, l.0);
            out.extend_from_slice(b"\\\"");
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\\\"");
    write_u64(out, ev.lsn.0);
    out.extend_from_slice(b"\\\"]\",\"ts_us\":");
    write_i64(out, us);
    out.extend_from_slice(b",\"ts_ns\":");
    write_i128(out, i128::from(us) * 1000);
    out.extend_from_slice(plan.source_table.as_bytes());
    write_u64(out, ev.tx.xid);
    out.extend_from_slice(b",\"lsn\":");
    write_u64(out, ev.lsn.0);
    out.extend_from_slice(b",\"xmin\":null,\"origin\":null,\"origin_lsn\":null}");
}

/// The Oracle connector's source block (Debezium 3.6's `OracleSourceInfoStructMaker`), SCNs and
/// the transaction from `origin`. What the events do not carry is null: `lcr_position` (XStream
/// only), `rs_id`, `redo_thread`, `user_name`, `redo_sql`, `row_id`, `start_scn`,
/// `start_ts_ms`, and a change's `ssn`. A snapshot row has no `txId`, `commit_scn`,
/// `commit_ts_ms` or `txSeq`, and `ssn` 0, as Debezium writes them.
fn render_oracle_source(
    out: &mut Vec<u8>,
    parts: &SourceParts,
    plan: &TablePlan,
    ev: &ChangeEvent,
    origin: Option<OracleOrigin>,
) {
    let us = ev.tx.commit_time_us;
    render_common(out, parts, ev);
    write_i64(out, us);
    out.extend_from_slice(b",\"ts_ns\":");
    write_i128(out, i128::from(us) * 1000);
    out.extend_from_slice(plan.source_table.as_bytes());
    let Some(OracleOrigin {
        scn,
        commit_scn,
        tx: Some((xid, index)),
    }) = origin
    else {
        out.extend_from_slice(b"null,\"scn\":");
        match origin {
            Some(o) => quoted(out, |v| write_u64(v, o.scn.0)),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(ORACLE_SNAPSHOT_TAIL);
        return;
    };
    quoted(out, |v| write_xid(v, xid));
    out.extend_from_slice(b",\"scn\":");
    quoted(out, |v| write_u64(v, scn.0));
    out.extend_from_slice(b",\"commit_scn\":");
    quoted(out, |v| write_u64(v, commit_scn.0));
    out.extend_from_slice(ORACLE_CHANGE_MIDDLE);
    write_i64(out, us.div_euclid(1000));
    out.extend_from_slice(b",\"start_scn\":null,\"start_ts_ms\":null,\"txSeq\":");
    write_u64(out, u64::from(index) + 1);
    out.push(b'}');
}

/// A change's fields from `lcr_position` to `commit_ts_ms`'s value.
const ORACLE_CHANGE_MIDDLE: &[u8] = concat!(
    ",\"lcr_position\":null,\"rs_id\":null,\"ssn\":null,\"redo_thread\":null,",
    "\"user_name\":null,\"redo_sql\":null,\"row_id\":null,\"commit_ts_ms\":"
)
.as_bytes();

/// A snapshot row's fields after `scn`.
const ORACLE_SNAPSHOT_TAIL: &[u8] = concat!(
    ",\"commit_scn\":null,\"lcr_position\":null,\"rs_id\":null,\"ssn\":0,",
    "\"redo_thread\":null,\"user_name\":null,\"redo_sql\":null,\"row_id\":null,",
    "\"commit_ts_ms\":null,\"start_scn\":null,\"start_ts_ms\":null,\"txSeq\":null}"
)
.as_bytes();

/// Writes `"…"` around what `f` writes (digits, an XID: nothing to escape).
fn quoted(out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    out.push(b'"');
    f(out);
    out.push(b'"');
}

/// The transaction block's `id`: the Oracle XID, or PostgreSQL's decimal xid.
fn write_tx_id(out: &mut Vec<u8>, ev: &ChangeEvent) {
    match OracleOrigin::of(ev).and_then(|o| o.xid()) {
        Some(xid) => write_xid(out, xid),
        None => write_u64(out, ev.tx.xid),
    }
}

/// `,"ts_ms":…,"ts_us":…,"ts_ns":…` of the processing time: the nanosecond digits are written
/// once and the coarser values are their prefixes (floor division of a positive number).
fn write_processing_time(out: &mut Vec<u8>, now_ns: i128) {
    if let Ok(ns) = i64::try_from(now_ns) {
        if ns >= 1_000_000 {
            let mut buf = itoa::Buffer::new();
            let digits = buf.format(ns).as_bytes();
            let n = digits.len();
            out.extend_from_slice(b",\"ts_ms\":");
            out.extend_from_slice(&digits[..n - 6]);
            out.extend_from_slice(b",\"ts_us\":");
            out.extend_from_slice(&digits[..n - 3]);
            out.extend_from_slice(b",\"ts_ns\":");
            out.extend_from_slice(digits);
            return;
        }
    }
    out.extend_from_slice(b",\"ts_ms\":");
    write_i128(out, now_ns.div_euclid(1_000_000));
    out.extend_from_slice(b",\"ts_us\":");
    write_i128(out, now_ns.div_euclid(1000));
    out.extend_from_slice(b",\"ts_ns\":");
    write_i128(out, now_ns);
}

fn write_image(
    out: &mut Vec<u8>,
    plan: &TablePlan,
    row: Option<&Row>,
    ctx: &mut Ctx,
) -> Result<(), FormatError> {
    match row {
        Some(r) => write_struct(
            out,
            &plan.table,
            &plan.columns,
            r,
            0..plan.columns.len(),
            ctx,
        ),
        None => {
            out.extend_from_slice(b"null");
            Ok(())
        }
    }
}

/// Writes the record value: the envelope, wrapped in `{"schema":…,"payload":…}` under
/// `schemas.enable`.
pub(crate) fn write_envelope(
    out: &mut Vec<u8>,
    opts: &DebeziumOptions,
    parts: &SourceParts,
    plan: &TablePlan,
    input: &EnvelopeInput<'_>,
    images: (Option<&Row>, Option<&Row>),
    ctx: &mut Ctx,
) -> Result<(), FormatError> {
    if opts.schemas_enable {
        out.extend_from_slice(b"{\"schema\":");
        out.extend_from_slice(plan.envelope_schema.as_bytes());
        out.extend_from_slice(b",\"payload\":");
    }
    out.extend_from_slice(b"{\"before\":");
    write_image(out, plan, images.0, ctx)?;
    out.extend_from_slice(b",\"after\":");
    write_image(out, plan, images.1, ctx)?;
    out.extend_from_slice(b",\"source\":");
    write_source(out, parts, plan, input.ev, &mut ctx.source);
    out.extend_from_slice(b",\"transaction\":");
    match input.tx_order {
        Some((total, in_table)) => {
            out.extend_from_slice(b"{\"id\":\"");
            write_tx_id(out, input.ev);
            out.extend_from_slice(b"\",\"total_order\":");
            write_u64(out, total);
            out.extend_from_slice(b",\"data_collection_order\":");
            write_u64(out, in_table);
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"op\":\"");
    out.extend_from_slice(input.op.as_bytes());
    out.push(b'"');
    write_processing_time(out, input.now_ns);
    out.push(b'}');
    if opts.schemas_enable {
        out.push(b'}');
    }
    Ok(())
}

/// Writes the record key: the key columns of `row`, wrapped under `schemas.enable`; or, for a
/// header (`ctx.header`), as Connect's `SimpleHeaderConverter` prints the key struct.
pub(crate) fn write_key(
    out: &mut Vec<u8>,
    opts: &DebeziumOptions,
    plan: &TablePlan,
    row: &Row,
    ctx: &mut Ctx,
) -> Result<(), FormatError> {
    let wrap = opts.schemas_enable && !ctx.header;
    if wrap {
        out.extend_from_slice(b"{\"schema\":");
        out.extend_from_slice(plan.key_schema.as_bytes());
        out.extend_from_slice(b",\"payload\":");
    }
    let keys = plan.key_indices.iter().copied();
    write_struct(out, &plan.table, &plan.columns, row, keys, ctx)?;
    if wrap {
        out.push(b'}');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processing_time_prefixes_match_floor_division() {
        for ns in [
            0i128,
            999_999,
            1_000_000,
            1_000_999,
            1_700_000_123_456_789,
            -1,
            -1_700_000_123_456_789,
            i128::from(i64::MAX),
            i128::from(i64::MAX) + 1,
        ] {
            let mut fast = Vec::new();
            write_processing_time(&mut fast, ns);
            let mut want = Vec::new();
            want.extend_from_slice(b",\"ts_ms\":");
            want.extend_from_slice(ns.div_euclid(1_000_000).to_string().as_bytes());
            want.extend_from_slice(b",\"ts_us\":");
            want.extend_from_slice(ns.div_euclid(1000).to_string().as_bytes());
            want.extend_from_slice(b",\"ts_ns\":");
            want.extend_from_slice(ns.to_string().as_bytes());
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }
}

//! Test helpers: PostgreSQL binary (send) encodings of values, and builders of tables, rows and
//! change events over them.

use std::sync::Arc;

use bytes::Bytes;

use crate::event::{Cell, ChangeEvent, Op, Row, SnapshotMark, TxMeta};
use crate::position::{Lsn, Position, StreamPosition};
use crate::schema::{Column, PgType, ReplicaIdentity, TableSchema, TypeKind};
use crate::value::{PG_EPOCH_UNIX_DAYS, PG_EPOCH_UNIX_MICROS};

pub fn int2(v: i16) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}
pub fn int4(v: i32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}
pub fn int8(v: i64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}
pub fn float4(v: f32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}
pub fn float8(v: f64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}
pub fn boolean(v: bool) -> Vec<u8> {
    vec![u8::from(v)]
}
pub fn text(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}
pub fn jsonb(s: &str) -> Vec<u8> {
    let mut v = vec![1];
    v.extend_from_slice(s.as_bytes());
    v
}
pub fn uuid(s: &str) -> Vec<u8> {
    hex::decode(s.replace('-', "")).expect("uuid hex")
}
/// Microseconds since the Unix epoch, as timestamp/timestamptz.
pub fn timestamp(unix_micros: i64) -> Vec<u8> {
    int8(unix_micros - PG_EPOCH_UNIX_MICROS)
}
/// Days since 1970-01-01, as date.
pub fn date(unix_days: i32) -> Vec<u8> {
    int4(unix_days - PG_EPOCH_UNIX_DAYS)
}
pub fn time(micros: i64) -> Vec<u8> {
    int8(micros)
}
/// `timetz`: microseconds, then the zone offset in seconds *west* of UTC.
pub fn timetz(micros: i64, offset_east_secs: i32) -> Vec<u8> {
    let mut v = int8(micros);
    v.extend_from_slice(&(-offset_east_secs).to_be_bytes());
    v
}
pub fn interval(micros: i64, days: i32, months: i32) -> Vec<u8> {
    let mut v = int8(micros);
    v.extend_from_slice(&days.to_be_bytes());
    v.extend_from_slice(&months.to_be_bytes());
    v
}

/// numeric from its decimal text (`-12.50`), or `NaN`, `Infinity`, `-Infinity`.
pub fn numeric(s: &str) -> Vec<u8> {
    let special = match s {
        "NaN" => Some(0xC000u16),
        "Infinity" => Some(0xD000),
        "-Infinity" => Some(0xF000),
        _ => None,
    };
    if let Some(sign) = special {
        return [
            0i16.to_be_bytes(),
            0i16.to_be_bytes(),
            sign.to_be_bytes(),
            0u16.to_be_bytes(),
        ]
        .concat();
    }
    let neg = s.starts_with('-');
    let body = s.trim_start_matches('-');
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let dscale = frac.len() as u16;
    let int_pad = (4 - int.len() % 4) % 4;
    let frac_pad = (4 - frac.len() % 4) % 4;
    let int_s = format!("{}{}", "0".repeat(int_pad), int);
    let frac_s = format!("{}{}", frac, "0".repeat(frac_pad));
    let group = |s: &str| -> Vec<i16> {
        s.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap().parse().unwrap())
            .collect()
    };
    let mut digits = group(&int_s);
    let mut weight = digits.len() as i16 - 1;
    digits.extend(group(&frac_s));
    while digits.first() == Some(&0) {
        digits.remove(0);
        weight -= 1;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let sign: u16 = if neg && !digits.is_empty() { 0x4000 } else { 0 };
    let mut v = Vec::new();
    v.extend_from_slice(&(digits.len() as i16).to_be_bytes());
    v.extend_from_slice(&weight.to_be_bytes());
    v.extend_from_slice(&sign.to_be_bytes());
    v.extend_from_slice(&dscale.to_be_bytes());
    for d in digits {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v
}

/// A one-dimensional array of `elem_oid` elements (None = NULL element).
pub fn array(elem_oid: u32, elems: &[Option<Vec<u8>>]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&1i32.to_be_bytes());
    v.extend_from_slice(&i32::from(elems.iter().any(Option::is_none)).to_be_bytes());
    v.extend_from_slice(&elem_oid.to_be_bytes());
    v.extend_from_slice(&(elems.len() as i32).to_be_bytes());
    v.extend_from_slice(&1i32.to_be_bytes());
    for e in elems {
        match e {
            Some(b) => {
                v.extend_from_slice(&(b.len() as i32).to_be_bytes());
                v.extend_from_slice(b);
            }
            None => v.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    v
}

/// A cell value for `row`: bytes, SQL NULL or not sent (unchanged TOAST).
#[derive(Clone, Debug)]
pub enum C {
    /// A binary cell.
    V(Vec<u8>),
    /// A text cell.
    T(&'static str),
    Null,
    Unchanged,
}

pub fn row(cells: Vec<C>) -> Row {
    let mut buf = Vec::new();
    let cells = cells
        .into_iter()
        .map(|c| match c {
            C::V(b) => {
                let start = buf.len() as u32;
                buf.extend_from_slice(&b);
                Cell::Binary {
                    start,
                    len: b.len() as u32,
                }
            }
            C::T(t) => {
                let start = buf.len() as u32;
                buf.extend_from_slice(t.as_bytes());
                Cell::Text {
                    start,
                    len: t.len() as u32,
                }
            }
            C::Null => Cell::Null,
            C::Unchanged => Cell::Unchanged,
        })
        .collect();
    Row {
        buf: Bytes::from(buf),
        cells,
    }
}

pub fn ty(oid: u32, name: &str, kind: TypeKind) -> Arc<PgType> {
    Arc::new(PgType::new(oid, name, "pg_catalog", kind))
}

pub fn col(name: &str, ty: Arc<PgType>, typmod: i32, is_key: bool) -> Column {
    Column {
        name: name.to_owned(),
        ty,
        typmod,
        is_key,
        nullable: !is_key,
    }
}

/// `numeric(p, s)`'s type modifier.
pub fn numeric_typmod(p: i32, s: i32) -> i32 {
    ((p << 16) | (s & 0x7FF)) + 4
}

pub fn table(oid: u32, name: &str, columns: Vec<Column>, ri: ReplicaIdentity) -> Arc<TableSchema> {
    Arc::new(TableSchema {
        oid,
        schema: "public".into(),
        name: name.into(),
        columns,
        replica_identity: ri,
    })
}

/// The running example of FORMATS.md part B: `public.orders (id bigint PRIMARY KEY, <status>,
/// amount numeric(10,2), updated_at timestamp)` with OID `oid`.
pub fn part_b_orders(oid: u32, status: Column, ri: ReplicaIdentity) -> Arc<TableSchema> {
    let amount = ty(1700, "numeric", TypeKind::Numeric);
    let updated_at = ty(1114, "timestamp", TypeKind::Timestamp);
    table(
        oid,
        "orders",
        vec![
            col("id", ty(20, "int8", TypeKind::Int8), -1, true),
            status,
            col("amount", amount, numeric_typmod(10, 2), false),
            col("updated_at", updated_at, -1, false),
        ],
        ri,
    )
}

/// A `status varchar(16)` column.
pub fn varchar16_status() -> Column {
    col("status", ty(1043, "varchar", TypeKind::Text), 20, false)
}

/// A row of `part_b_orders`: id, status, amount, `updated_at` in Unix microseconds.
pub fn part_b_order(id: i64, status: &str, amount: &str, updated_us: i64) -> Row {
    row(vec![
        C::V(int8(id)),
        C::V(text(status)),
        C::V(numeric(amount)),
        C::V(timestamp(updated_us)),
    ])
}

/// A stream event with plain metadata (override fields as needed).
pub fn event(
    table: &Arc<TableSchema>,
    op: Op,
    before: Option<Row>,
    after: Option<Row>,
) -> ChangeEvent {
    ChangeEvent {
        position: Position::Stream(StreamPosition::pg(Lsn(0x100), 0)),
        op,
        table: table.clone(),
        tx: TxMeta {
            xid: 500,
            commit_time_us: 1_700_000_000_123_456,
            commit_lsn: Lsn(0x100),
        },
        lsn: Lsn(0xF0),
        last_commit_lsn: Some(Lsn(0x80)),
        snapshot: SnapshotMark::None,
        before,
        after,
    }
}

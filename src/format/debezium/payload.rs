//! Row payloads: each column value decoded from its wire form and written as `JsonConverter`
//! prints the Connect value Debezium's PostgreSQL connector produces for it (part B §4.8), or, for
//! the `__debezium.newkey`/`oldkey` headers, as Connect's `SimpleHeaderConverter` prints it.

use crate::event::{Cell, Row};
use crate::format::FormatError;
use crate::schema::{Column, TableSchema, TypeKind};
use crate::value::{Numeric, Value};

use super::schema::Kind;
use super::structured::write_structured;
use super::temporal::{
    date_days, interval_micro_duration, timestamp_micros, timestamp_millis, write_interval_iso,
    write_zoned_time, write_zoned_timestamp,
};
use crate::format::json::{
    write_base64, write_i64, write_java_bigdecimal, write_java_f32, write_java_f64, write_str,
    write_str_header,
};

/// A column's rendering plan, computed once per table.
#[derive(Clone, Debug)]
pub(crate) struct ColumnPlan {
    pub kind: Kind,
    /// `"name":` as Jackson writes the member name.
    pub json_name: Box<str>,
    /// `"name":` as Connect's header converter writes it.
    pub header_name: Box<str>,
}

impl ColumnPlan {
    pub(crate) fn new(name: &str, kind: Kind) -> ColumnPlan {
        let mut json = Vec::with_capacity(name.len() + 3);
        write_str(&mut json, name);
        json.push(b':');
        let mut header = Vec::with_capacity(name.len() + 3);
        write_str_header(&mut header, name);
        header.push(b':');
        ColumnPlan {
            kind,
            json_name: String::from_utf8_lossy(&json).into(),
            header_name: String::from_utf8_lossy(&header).into(),
        }
    }
}

/// What a payload is rendered with.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub placeholder: String,
    /// Render for a Kafka header (`SimpleHeaderConverter`) instead of `JsonConverter`.
    pub header: bool,
    /// Reused text buffer for decimals.
    pub scratch: String,
    /// The last rendered source block.
    pub source: super::envelope::SourceCache,
    /// This shard's counters and once-only warnings.
    pub metrics: FormatMetrics,
}

/// The format's counters, labelled with its shard, and whether each warning was logged yet
/// (once per shard, not once per process).
#[derive(Debug)]
pub(crate) struct FormatMetrics {
    unrepresentable: metrics::Counter,
    unavailable: metrics::Counter,
    warned_unrepresentable: bool,
    warned_unavailable_null: bool,
}

impl FormatMetrics {
    pub(crate) fn new(labels: &crate::metrics::ShardLabels) -> FormatMetrics {
        FormatMetrics {
            unrepresentable: labels.counter(crate::metrics::FORMAT_UNREPRESENTABLE),
            unavailable: labels.counter(crate::metrics::FORMAT_UNAVAILABLE),
            warned_unrepresentable: false,
            warned_unavailable_null: false,
        }
    }
}

impl Default for FormatMetrics {
    fn default() -> Self {
        FormatMetrics::new(&crate::metrics::ShardLabels::default())
    }
}

/// A value that the configured encoding cannot carry was written as null.
fn unrepresentable(out: &mut Vec<u8>, what: &str, ctx: &mut Ctx) {
    ctx.metrics.unrepresentable.increment(1);
    if !std::mem::replace(&mut ctx.metrics.warned_unrepresentable, true) {
        tracing::warn!(
            value = what,
            "a numeric NaN or infinity cannot be encoded under decimal.handling.mode=precise: \
             written as null (set decimal_handling_mode to string or double to keep it); \
             counted in tributary_format_unrepresentable_values_total, logged once"
        );
    }
    out.extend_from_slice(b"null");
}

/// Writes `{"col":value,…}` over the columns at `indices` of `row`.
pub(crate) fn write_struct(
    out: &mut Vec<u8>,
    table: &TableSchema,
    plans: &[ColumnPlan],
    row: &Row,
    indices: impl Iterator<Item = usize>,
    ctx: &mut Ctx,
) -> Result<(), FormatError> {
    out.push(b'{');
    let mut first = true;
    for i in indices {
        let (Some(col), Some(plan)) = (table.columns.get(i), plans.get(i)) else {
            continue;
        };
        if !first {
            out.push(b',');
        }
        first = false;
        let name = if ctx.header {
            &plan.header_name
        } else {
            &plan.json_name
        };
        out.extend_from_slice(name.as_bytes());
        let Some(&cell) = row.cells.get(i) else {
            return Err(FormatError::Value {
                table: table.qualified_name(),
                column: col.name.clone(),
                source: crate::value::ValueError {
                    type_name: col.ty.name.clone(),
                    reason: "the row has no value for this column",
                },
            });
        };
        if let (Cell::Binary { .. }, false) = (cell, ctx.header) {
            if let Some(b) = row.bytes(cell) {
                if write_binary_direct(out, &col.ty.root().kind, &plan.kind, b) {
                    continue;
                }
            }
        }
        write_cell(out, table, col, &plan.kind, row, cell, ctx)?;
    }
    out.push(b'}');
    Ok(())
}

/// Decodes one cell into a `Value` and writes it (every type, every cell kind, both renderings).
fn write_cell(
    out: &mut Vec<u8>,
    table: &TableSchema,
    col: &Column,
    kind: &Kind,
    row: &Row,
    cell: Cell,
    ctx: &mut Ctx,
) -> Result<(), FormatError> {
    let value = match cell {
        Cell::Null => Value::Null,
        Cell::Unchanged => Value::Unavailable,
        _ => crate::value::decode(col, row, cell).map_err(|source| FormatError::Value {
            table: table.qualified_name(),
            column: col.name.clone(),
            source,
        })?,
    };
    write_value(out, kind, &value, ctx);
    Ok(())
}

/// Writes the binary form `b` of a value of a common scalar type straight into `out`, exactly
/// as `write_cell` would in the `JsonConverter` rendering, without building a `Value`.
/// Returns `false`, having written nothing, for other types and for any bytes that are not a
/// plainly valid value (the general path then renders them or reports the error).
fn write_binary_direct(out: &mut Vec<u8>, ty: &TypeKind, kind: &Kind, b: &[u8]) -> bool {
    match ty {
        TypeKind::Bool => match b {
            [v] => out.extend_from_slice(if *v != 0 { b"true" } else { b"false" }),
            _ => return false,
        },
        TypeKind::Int2 => match <[u8; 2]>::try_from(b) {
            Ok(a) => write_i64(out, i64::from(i16::from_be_bytes(a))),
            Err(_) => return false,
        },
        TypeKind::Int4 => match <[u8; 4]>::try_from(b) {
            Ok(a) => write_i64(out, i64::from(i32::from_be_bytes(a))),
            Err(_) => return false,
        },
        TypeKind::Int8 => match <[u8; 8]>::try_from(b) {
            Ok(a) => write_i64(out, i64::from_be_bytes(a)),
            Err(_) => return false,
        },
        TypeKind::Float4 => match <[u8; 4]>::try_from(b) {
            Ok(a) => write_java_f32(out, f32::from_be_bytes(a)),
            Err(_) => return false,
        },
        TypeKind::Float8 => match <[u8; 8]>::try_from(b) {
            Ok(a) => write_java_f64(out, f64::from_be_bytes(a)),
            Err(_) => return false,
        },
        TypeKind::Text | TypeKind::Json | TypeKind::Enum(_) => match std::str::from_utf8(b) {
            Ok(s) => write_str(out, s),
            Err(_) => return false,
        },
        TypeKind::Jsonb => match b.split_first() {
            Some((1, text)) => match std::str::from_utf8(text) {
                Ok(s) => write_str(out, s),
                Err(_) => return false,
            },
            _ => return false,
        },
        TypeKind::Uuid => match <[u8; 16]>::try_from(b) {
            Ok(u) => write_uuid(out, &u),
            Err(_) => return false,
        },
        TypeKind::Date => {
            let Ok(a) = <[u8; 4]>::try_from(b) else {
                return false;
            };
            let days = match i32::from_be_bytes(a) {
                d @ (i32::MAX | i32::MIN) => d,
                d => match d
                    .checked_add(crate::value::PG_EPOCH_UNIX_DAYS)
                    .filter(|u| *u != i32::MAX)
                {
                    Some(u) => u,
                    None => return false,
                },
            };
            write_i64(out, i64::from(date_days(days)));
        }
        TypeKind::Timestamp | TypeKind::TimestampTz => {
            let Ok(a) = <[u8; 8]>::try_from(b) else {
                return false;
            };
            let us = match i64::from_be_bytes(a) {
                m @ (i64::MAX | i64::MIN) => m,
                m => match m
                    .checked_add(crate::value::PG_EPOCH_UNIX_MICROS)
                    .filter(|u| *u != i64::MAX)
                {
                    Some(u) => u,
                    None => return false,
                },
            };
            match (ty, kind) {
                (TypeKind::TimestampTz, Kind::ZonedTimestamp { width }) => {
                    write_zoned_timestamp(out, us, *width)
                }
                (TypeKind::TimestampTz, _) => write_zoned_timestamp(out, us, 6),
                (_, Kind::TimestampMillis) => write_i64(out, timestamp_millis(us)),
                _ => write_i64(out, timestamp_micros(us)),
            }
        }
        _ => return false,
    }
    true
}

fn write_string(out: &mut Vec<u8>, s: &str, ctx: &Ctx) {
    if ctx.header {
        write_str_header(out, s);
    } else {
        write_str(out, s);
    }
}

/// Writes one value of a column of kind `kind`.
pub(crate) fn write_value(out: &mut Vec<u8>, kind: &Kind, value: &Value<'_>, ctx: &mut Ctx) {
    if write_structured(out, kind, value, ctx) {
        return;
    }
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Unavailable => write_unavailable(out, kind, ctx),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int2(v) => write_i64(out, i64::from(*v)),
        Value::Int4(v) => write_i64(out, i64::from(*v)),
        Value::Int8(v) => write_i64(out, *v),
        Value::Float4(v) if ctx.header && !v.is_finite() => write_bare(out, f64::from(*v)),
        Value::Float4(v) => write_java_f32(out, *v),
        Value::Float8(v) => write_f64(out, *v, ctx),
        Value::Numeric(n) => write_numeric(out, kind, n, ctx),
        Value::Text(s) | Value::Json(s) | Value::Enum(s) => write_string(out, s, ctx),
        Value::Other { text, .. } => write_string(out, text.as_ref(), ctx),
        Value::Bytes(b) => write_base64(out, b),
        Value::Uuid(u) => write_uuid(out, u),
        Value::Array(a) => {
            let item = match kind {
                Kind::Array(item) => item.as_ref(),
                other => other,
            };
            out.push(b'[');
            for (i, el) in a.elements.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item, el, ctx);
            }
            out.push(b']');
        }
        Value::Range(_)
        | Value::Multirange(_)
        | Value::Composite(_)
        | Value::Hstore(_)
        | Value::Ewkb(_) => write_text_form(out, value, ctx),
        _ => write_temporal(out, kind, value),
    }
}

/// A container value under a kind that does not map it (not reached by the plans, which give
/// such types `Kind::TextForm`): its text form as a string.
fn write_text_form(out: &mut Vec<u8>, value: &Value<'_>, ctx: &mut Ctx) {
    let ty = crate::schema::PgType::new(0, "", "", TypeKind::Other);
    let mut text = String::new();
    crate::value::write_text(&ty, value, &mut text);
    write_string(out, &text, ctx);
}

/// Dates, times, timestamps and intervals, per the column's adaptive-precision kind.
fn write_temporal(out: &mut Vec<u8>, kind: &Kind, value: &Value<'_>) {
    match *value {
        Value::Date(d) => write_i64(out, i64::from(date_days(d))),
        Value::Time(us) if *kind == Kind::TimeMillis => write_i64(out, us.div_euclid(1000)),
        Value::Time(us) => write_i64(out, us),
        Value::TimeTz {
            micros,
            offset_secs,
        } => write_zoned_time(out, micros, offset_secs),
        Value::Timestamp(us) if *kind == Kind::TimestampMillis => {
            write_i64(out, timestamp_millis(us))
        }
        Value::Timestamp(us) => write_i64(out, timestamp_micros(us)),
        Value::TimestampTz(us) => {
            let width = match kind {
                Kind::ZonedTimestamp { width } => *width,
                _ => 6,
            };
            write_zoned_timestamp(out, us, width);
        }
        Value::Interval {
            months,
            days,
            micros,
        } if *kind == Kind::IntervalString => write_interval_iso(out, months, days, micros),
        Value::Interval {
            months,
            days,
            micros,
        } => write_i64(out, interval_micro_duration(months, days, micros)),
        _ => out.extend_from_slice(b"null"),
    }
}

/// A double; in a header, non-finite values are bare words (`NaN`), as Connect prints numbers.
fn write_f64(out: &mut Vec<u8>, v: f64, ctx: &Ctx) {
    if ctx.header && !v.is_finite() {
        write_bare(out, v);
    } else {
        write_java_f64(out, v);
    }
}

fn write_bare(out: &mut Vec<u8>, v: f64) {
    let word: &[u8] = if v.is_nan() {
        b"NaN"
    } else if v > 0.0 {
        b"Infinity"
    } else {
        b"-Infinity"
    };
    out.extend_from_slice(word);
}

fn write_uuid(out: &mut Vec<u8>, u: &[u8; 16]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // `"8-4-4-4-12"`, built on the stack and appended at once.
    let mut text = [b'-'; 38];
    text[0] = b'"';
    text[37] = b'"';
    let mut at = 1;
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        text[at] = HEX[usize::from(b >> 4)];
        text[at + 1] = HEX[usize::from(b & 0xF)];
        at += 2;
    }
    out.extend_from_slice(&text);
}

/// A value the source did not send, as Debezium renders `unavailable.value.placeholder`:
/// strings get the placeholder, bytes its UTF-8 bytes, text arrays `[placeholder]`, integer
/// arrays the placeholder's bytes as numbers; other types cannot hold it and get null.
fn write_unavailable(out: &mut Vec<u8>, kind: &Kind, ctx: &mut Ctx) {
    ctx.metrics.unavailable.increment(1);
    let p = ctx.placeholder.as_str();
    match kind {
        Kind::Str(_) | Kind::Enum(_) | Kind::TextForm(_) => write_string(out, p, ctx),
        Kind::HstoreJson | Kind::HstoreMap => {
            // Debezium's hstore placeholder is the map {placeholder: placeholder}.
            let mut obj = Vec::new();
            write_str(&mut obj, p);
            obj.push(b':');
            write_str(&mut obj, p);
            let obj = format!("{{{}}}", String::from_utf8_lossy(&obj));
            if *kind == Kind::HstoreJson {
                write_string(out, &obj, ctx);
            } else {
                out.extend_from_slice(obj.as_bytes());
            }
        }
        Kind::Bytes => write_base64(out, p.as_bytes()),
        Kind::Array(item) if matches!(**item, Kind::Str(_) | Kind::Enum(_) | Kind::TextForm(_)) => {
            out.push(b'[');
            write_string(out, p, ctx);
            out.push(b']');
        }
        Kind::Array(item) if matches!(**item, Kind::Int16 | Kind::Int32 | Kind::Int64) => {
            out.push(b'[');
            for (i, b) in p.bytes().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_i64(out, i64::from(b as i8));
            }
            out.push(b']');
        }
        _ => {
            if !std::mem::replace(&mut ctx.metrics.warned_unavailable_null, true) {
                tracing::warn!(
                    kind = ?kind,
                    "an unchanged TOAST value of a type that cannot hold the unavailable-value \
                     placeholder was written as null, as Debezium does; counted in \
                     tributary_format_unavailable_values_total, logged once"
                );
            }
            out.extend_from_slice(b"null");
        }
    }
}

fn special_name(n: &Numeric<'_>) -> Option<(&'static str, f64)> {
    match n {
        Numeric::NaN => Some(("NAN", f64::NAN)),
        Numeric::PosInfinity => Some(("POSITIVE_INFINITY", f64::INFINITY)),
        Numeric::NegInfinity => Some(("NEGATIVE_INFINITY", f64::NEG_INFINITY)),
        Numeric::Finite { .. } => None,
    }
}

fn write_numeric(out: &mut Vec<u8>, kind: &Kind, n: &Numeric<'_>, ctx: &mut Ctx) {
    let special = special_name(n);
    match (kind, special) {
        (Kind::DecimalDouble, Some((_, f))) => write_f64(out, f, ctx),
        (Kind::DecimalDouble, None) => write_f64(out, n.to_f64(), ctx),
        (Kind::Decimal { .. } | Kind::VarDecimal, Some((name, _))) => {
            unrepresentable(out, name, ctx)
        }
        (Kind::Decimal { .. }, None) if ctx.header => {
            write_plain(n, ctx);
            write_java_bigdecimal(out, &ctx.scratch);
        }
        (Kind::Decimal { scale, .. }, None) => {
            if n.with_unscaled_be_bytes(*scale, |b| write_base64(out, b))
                .is_none()
            {
                unrepresentable(out, "out of range", ctx);
            }
        }
        (Kind::VarDecimal, None) => write_variable_scale(out, n, ctx),
        (_, Some((name, _))) => write_string(out, name, ctx),
        // `decimal.handling.mode=string`: `BigDecimal.toPlainString`, which is numeric_out's
        // text (`0.00000001`, never `1E-8`).
        (_, None) => {
            write_plain(n, ctx);
            let plain = std::mem::take(&mut ctx.scratch);
            write_string(out, &plain, ctx);
            ctx.scratch = plain;
        }
    }
}

fn write_plain(n: &Numeric<'_>, ctx: &mut Ctx) {
    ctx.scratch.clear();
    n.write_decimal(&mut ctx.scratch);
}

/// `{"scale":s,"value":"<base64>"}` with trailing zeros stripped (scale ≥ 0), as Debezium's
/// `VariableScaleDecimal.fromLogical` of `BigDecimal.stripTrailingZeros()`.
fn write_variable_scale(out: &mut Vec<u8>, n: &Numeric<'_>, ctx: &mut Ctx) {
    write_plain(n, ctx);
    let scale = match ctx.scratch.split_once('.') {
        Some((_, frac)) => frac.trim_end_matches('0').len() as i32,
        None => 0,
    };
    let written = n.with_unscaled_be_bytes(scale, |bytes| {
        out.extend_from_slice(b"{\"scale\":");
        write_i64(out, i64::from(scale));
        out.extend_from_slice(b",\"value\":");
        write_base64(out, bytes);
        out.push(b'}');
    });
    if written.is_none() {
        unrepresentable(out, "out of range", ctx);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::format::debezium::schema::{kind_of, Modes};
    use crate::schema::{PgType, ReplicaIdentity};

    fn kinds() -> Vec<TypeKind> {
        vec![
            TypeKind::Bool,
            TypeKind::Int2,
            TypeKind::Int4,
            TypeKind::Int8,
            TypeKind::Float4,
            TypeKind::Float8,
            TypeKind::Text,
            TypeKind::Json,
            TypeKind::Jsonb,
            TypeKind::Enum(Arc::from(Vec::<String>::new())),
            TypeKind::Uuid,
            TypeKind::Date,
            TypeKind::Timestamp,
            TypeKind::TimestampTz,
        ]
    }

    /// The direct rendering, when it applies, equals the general one.
    fn check(ty: TypeKind, typmod: i32, bytes: &[u8]) -> Result<(), TestCaseError> {
        let pg = Arc::new(PgType::new(1, "t", "pg_catalog", ty));
        let col = Column {
            name: "c".into(),
            ty: pg.clone(),
            typmod,
            is_key: false,
            nullable: true,
        };
        let table = TableSchema {
            oid: 1,
            schema: "s".into(),
            name: "t".into(),
            columns: vec![col.clone()],
            replica_identity: ReplicaIdentity::Default,
        };
        let kind = kind_of(
            &pg,
            typmod,
            Modes {
                decimal: Default::default(),
                interval: Default::default(),
                hstore: Default::default(),
            },
        );
        let row = Row {
            buf: bytes::Bytes::copy_from_slice(bytes),
            cells: vec![Cell::Binary {
                start: 0,
                len: bytes.len() as u32,
            }],
        };
        let mut direct = Vec::new();
        if write_binary_direct(&mut direct, &pg.kind, &kind, bytes) {
            let mut general = Vec::new();
            let mut ctx = Ctx::default();
            let cell = row.cells[0];
            prop_assert!(
                write_cell(&mut general, &table, &col, &kind, &row, cell, &mut ctx).is_ok()
            );
            prop_assert_eq!(
                String::from_utf8_lossy(&direct),
                String::from_utf8_lossy(&general)
            );
        } else {
            prop_assert!(direct.is_empty());
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn direct_binary_rendering_matches_the_value_path(
            ty in 0usize..14,
            typmod in prop_oneof![Just(-1), 0i32..10],
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..20),
                any::<[u8; 8]>().prop_map(|b| b.to_vec()),
                any::<[u8; 4]>().prop_map(|b| b.to_vec()),
                "(?s).{0,12}".prop_map(|s| [&[1u8][..], s.as_bytes()].concat()),
            ],
        ) {
            check(kinds()[ty].clone(), typmod, &bytes)?;
        }
    }

    #[test]
    fn direct_binary_rendering_at_the_edges() {
        let edges: Vec<Vec<u8>> = vec![
            i64::MAX.to_be_bytes().to_vec(),
            i64::MIN.to_be_bytes().to_vec(),
            (i64::MAX - crate::value::PG_EPOCH_UNIX_MICROS)
                .to_be_bytes()
                .to_vec(),
            (i64::MAX - crate::value::PG_EPOCH_UNIX_MICROS + 1)
                .to_be_bytes()
                .to_vec(),
            (i64::MAX - crate::value::PG_EPOCH_UNIX_MICROS - 1)
                .to_be_bytes()
                .to_vec(),
            0i64.to_be_bytes().to_vec(),
            (-1i64).to_be_bytes().to_vec(),
            i32::MAX.to_be_bytes().to_vec(),
            i32::MIN.to_be_bytes().to_vec(),
            (i32::MAX - crate::value::PG_EPOCH_UNIX_DAYS)
                .to_be_bytes()
                .to_vec(),
            (i32::MAX - crate::value::PG_EPOCH_UNIX_DAYS - 1)
                .to_be_bytes()
                .to_vec(),
            (-1i32).to_be_bytes().to_vec(),
            vec![0],
            vec![1],
            vec![2],
            vec![1, b'{', b'"', b'}'],
            vec![2, b'{', b'}'],
            vec![0xff; 16],
        ];
        for ty in kinds() {
            for typmod in [-1, 0, 3, 6] {
                for b in &edges {
                    check(ty.clone(), typmod, b).unwrap();
                }
            }
        }
    }
}

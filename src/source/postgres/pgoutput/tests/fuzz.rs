//! Property tests: no input, however malformed, makes the decoders panic.

use std::sync::Arc;

use proptest::prelude::*;

use super::super::*;
use super::valid_messages;
use crate::event::Row;
use crate::schema::{Column, PgType, TypeKind};
use crate::source::postgres::frame::parse_frame;
use crate::value;

const TAGS: &[u8] = b"BCORYIUDTMSEcA";

fn scalar(kind: TypeKind) -> Arc<PgType> {
    Arc::new(PgType::new(0, "t", "pg_catalog", kind))
}

/// A column of every kind, arrays of several element kinds included.
fn all_columns() -> Vec<Column> {
    let scalars = [
        TypeKind::Bool,
        TypeKind::Int2,
        TypeKind::Int4,
        TypeKind::Int8,
        TypeKind::Float4,
        TypeKind::Float8,
        TypeKind::Numeric,
        TypeKind::Text,
        TypeKind::Bytea,
        TypeKind::Date,
        TypeKind::Time,
        TypeKind::TimeTz,
        TypeKind::Timestamp,
        TypeKind::TimestampTz,
        TypeKind::Interval,
        TypeKind::Uuid,
        TypeKind::Json,
        TypeKind::Jsonb,
        TypeKind::Enum(Arc::from(Vec::<String>::new())),
        TypeKind::Other,
    ];
    let mut types: Vec<Arc<PgType>> = scalars.iter().cloned().map(scalar).collect();
    let arrays: Vec<Arc<PgType>> = types
        .iter()
        .map(|t| scalar(TypeKind::Array(t.clone())))
        .collect();
    types.push(scalar(TypeKind::Array(arrays[6].clone())));
    types.extend(arrays);
    types
        .into_iter()
        .map(|ty| Column {
            name: "c".into(),
            ty,
            typmod: -1,
            is_key: false,
            nullable: true,
        })
        .collect()
}

/// Decodes every cell of `row` as every kind; only the absence of panics matters.
fn decode_cells_as_every_kind(row: &Row, columns: &[Column]) {
    for &cell in &row.cells {
        for col in columns {
            let _ = value::decode(col, row, cell);
        }
    }
}

fn decode_all(m: &Bytes, columns: &[Column]) {
    for in_stream in [false, true] {
        match decode(m, in_stream) {
            Ok(PgOutputMessage::Insert { new, .. }) => decode_cells_as_every_kind(&new, columns),
            Ok(PgOutputMessage::Update { new, old, .. }) => {
                decode_cells_as_every_kind(&new, columns);
                if let Some(old) = old {
                    decode_cells_as_every_kind(&old.row, columns);
                }
            }
            _ => {}
        }
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut v: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = v.len().max(1);
        match *m {
            Mutation::Set(i, b) if !v.is_empty() => v[i % len] = b,
            Mutation::Insert(i, b) => v.insert(i % (v.len() + 1), b),
            Mutation::Remove(i) if !v.is_empty() => {
                v.remove(i % len);
            }
            Mutation::Truncate(i) => v.truncate(i % (v.len() + 1)),
            _ => {}
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(tag in prop::sample::select(TAGS), body in prop::collection::vec(any::<u8>(), 0..96)) {
        let columns = all_columns();
        let mut m = vec![tag];
        m.extend(&body);
        decode_all(&Bytes::from(m), &columns);
        decode_all(&Bytes::from(body), &columns);
    }

    #[test]
    fn mutated_messages_never_panic(which in any::<prop::sample::Index>(), mutations in prop::collection::vec(mutation(), 1..6)) {
        let columns = all_columns();
        let valid = valid_messages();
        let (m, _) = &valid[which.index(valid.len())];
        decode_all(&Bytes::from(apply(m.to_vec(), &mutations)), &columns);
    }

    #[test]
    fn frames_never_panic(tag in prop::sample::select(&b"wkx"[..]), body in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut m = vec![tag];
        m.extend(&body);
        let _ = parse_frame(Bytes::from(m));
        let _ = parse_frame(Bytes::from(body));
    }

    #[test]
    fn values_never_panic(body in prop::collection::vec(any::<u8>(), 0..128), start in 0u32..140, len in 0u32..140) {
        let row = Row { buf: Bytes::from(body.clone()), cells: vec![] };
        let full = u32::try_from(body.len()).unwrap_or(0);
        let cells = [
            Cell::Binary { start: 0, len: full },
            Cell::Text { start: 0, len: full },
            Cell::Binary { start, len },
            Cell::Text { start, len },
        ];
        for col in &all_columns() {
            for cell in cells {
                let _ = value::decode(col, &row, cell);
            }
        }
    }

    #[test]
    fn structured_arrays_never_panic(
        ndim in -1i32..8,
        flags in -1i32..3,
        dims in prop::collection::vec((-2i32..5, any::<i32>()), 0..8),
        elems in prop::collection::vec((-2i32..12, prop::collection::vec(any::<u8>(), 0..12)), 0..12),
    ) {
        let mut b = Vec::new();
        b.extend(ndim.to_be_bytes());
        b.extend(flags.to_be_bytes());
        b.extend(23u32.to_be_bytes());
        for (len, lower) in &dims {
            b.extend(len.to_be_bytes());
            b.extend(lower.to_be_bytes());
        }
        for (len, bytes) in &elems {
            b.extend(len.to_be_bytes());
            b.extend(bytes);
        }
        for col in all_columns().iter().filter(|c| matches!(c.ty.kind, TypeKind::Array(_))) {
            let _ = value::decode_binary(&col.ty, &b);
        }
    }
}

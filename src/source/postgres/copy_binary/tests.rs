//! Binary COPY streams built by hand, fed whole and in every kind of split.

use proptest::prelude::*;

use super::*;

type Fields = Vec<Option<Vec<u8>>>;

fn header(flags: u32, ext: &[u8]) -> Vec<u8> {
    let mut v = SIGNATURE.to_vec();
    v.extend(flags.to_be_bytes());
    v.extend((ext.len() as i32).to_be_bytes());
    v.extend(ext);
    v
}

fn tuple(fields: &Fields) -> Vec<u8> {
    let mut v = (fields.len() as i16).to_be_bytes().to_vec();
    for f in fields {
        match f {
            Some(b) => {
                v.extend((b.len() as i32).to_be_bytes());
                v.extend(b);
            }
            None => v.extend((-1i32).to_be_bytes()),
        }
    }
    v
}

fn stream(rows: &[Fields], ext: &[u8]) -> Vec<u8> {
    let mut v = header(0, ext);
    for r in rows {
        v.extend(tuple(r));
    }
    v.extend((-1i16).to_be_bytes());
    v
}

fn fields(row: &Row) -> Fields {
    row.cells
        .iter()
        .map(|&c| match c {
            Cell::Null => None,
            Cell::Binary { .. } => Some(row.bytes(c).expect("cell in range").to_vec()),
            other => panic!("unexpected cell {other:?}"),
        })
        .collect()
}

/// Feeds `chunks` one at a time, draining rows after each.
fn parse(chunks: Vec<Bytes>) -> Result<(Vec<Row>, CopyBinaryParser), CopyError> {
    let mut p = CopyBinaryParser::new();
    let mut rows = Vec::new();
    for c in chunks {
        p.push(c);
        while let Some(r) = p.next_row()? {
            rows.push(r);
        }
    }
    Ok((rows, p))
}

fn sample() -> Vec<Fields> {
    vec![
        vec![
            Some(42i32.to_be_bytes().to_vec()),
            Some(b"hello".to_vec()),
            None,
        ],
        vec![
            Some(7i32.to_be_bytes().to_vec()),
            Some(Vec::new()),
            Some(vec![0xFF; 300]),
        ],
        vec![],
    ]
}

#[test]
fn a_whole_stream_in_one_chunk_is_zero_copy() {
    let data = Bytes::from(stream(&sample(), b""));
    let (rows, p) = parse(vec![data.clone()]).unwrap();
    assert!(p.is_finished());
    assert_eq!(p.finish(), Ok(()));
    assert_eq!(rows.iter().map(fields).collect::<Vec<_>>(), sample());
    let range = data.as_ptr_range();
    for r in &rows {
        assert!(
            range.contains(&r.buf.as_ptr()),
            "row buffer is a slice of the chunk"
        );
    }
    assert_eq!(rows[0].buf.as_ptr(), data[19..].as_ptr());
}

#[test]
fn header_extensions_are_skipped() {
    let (rows, p) = parse(vec![Bytes::from(stream(&sample(), b"extension"))]).unwrap();
    assert!(p.is_finished());
    assert_eq!(rows.len(), 3);
}

#[test]
fn byte_by_byte_gives_the_same_rows() {
    let data = stream(&sample(), b"ext");
    let chunks = data.iter().map(|&b| Bytes::copy_from_slice(&[b])).collect();
    let (rows, p) = parse(chunks).unwrap();
    assert!(p.is_finished());
    assert_eq!(rows.iter().map(fields).collect::<Vec<_>>(), sample());
}

#[test]
fn nothing_before_the_header_is_complete() {
    let data = stream(&sample(), b"");
    let mut p = CopyBinaryParser::new();
    p.push(Bytes::copy_from_slice(&data[..18]));
    assert_eq!(p.next_row(), Ok(None));
    assert!(!p.is_finished());
    assert_eq!(p.finish(), Err(CopyError::Truncated(18)));
}

#[test]
fn malformed_streams_are_errors() {
    let mut bad = stream(&sample(), b"");
    bad[0] = b'X';
    assert_eq!(
        parse(vec![Bytes::from(bad)]).err(),
        Some(CopyError::BadSignature)
    );
    let mut oids = header(1 << 16, b"");
    oids.extend((-1i16).to_be_bytes());
    assert_eq!(
        parse(vec![Bytes::from(oids)]).err(),
        Some(CopyError::UnsupportedFlags(1 << 16))
    );
    // Low flag bits are not critical.
    let mut low = header(1, b"");
    low.extend((-1i16).to_be_bytes());
    assert!(parse(vec![Bytes::from(low)]).is_ok());
    let mut neg_ext = header(0, b"");
    neg_ext[15..19].copy_from_slice(&(-1i32).to_be_bytes());
    assert!(matches!(
        parse(vec![Bytes::from(neg_ext)]),
        Err(CopyError::Invalid { .. })
    ));
    let mut count = header(0, b"");
    count.extend((-2i16).to_be_bytes());
    let err = parse(vec![Bytes::from(count)]).err();
    assert_eq!(
        err,
        Some(CopyError::Invalid {
            what: "field count",
            value: -2,
            at: 19
        })
    );
    let mut len = header(0, b"");
    len.extend(1i16.to_be_bytes());
    len.extend((-2i32).to_be_bytes());
    let err = parse(vec![Bytes::from(len)]).err();
    assert_eq!(
        err,
        Some(CopyError::Invalid {
            what: "field length",
            value: -2,
            at: 21
        })
    );
    let mut trailing = stream(&sample(), b"");
    trailing.push(0);
    assert_eq!(
        parse(vec![Bytes::from(trailing)]).err(),
        Some(CopyError::TrailingData(1))
    );
}

#[test]
fn errors_are_found_across_chunks_too() {
    let mut len = header(0, b"");
    len.extend(2i16.to_be_bytes());
    len.extend(1i32.to_be_bytes());
    len.push(9);
    len.extend((-7i32).to_be_bytes());
    let chunks = len.chunks(3).map(Bytes::copy_from_slice).collect();
    assert!(matches!(
        parse(chunks),
        Err(CopyError::Invalid { value: -7, .. })
    ));
}

#[test]
fn rows_that_span_chunks_are_copied_once() {
    let data = stream(&sample(), b"");
    let (a, b) = data.split_at(30);
    let (rows, _) = parse(vec![Bytes::copy_from_slice(a), Bytes::copy_from_slice(b)]).unwrap();
    assert_eq!(rows.iter().map(fields).collect::<Vec<_>>(), sample());
    assert_eq!(rows[0].buf.len(), tuple(&sample()[0]).len());
}

fn arb_rows() -> impl Strategy<Value = Vec<Fields>> {
    let field = prop::option::of(prop::collection::vec(any::<u8>(), 0..40));
    prop::collection::vec(prop::collection::vec(field, 0..6), 0..12)
}

fn split(data: &[u8], mut cuts: Vec<usize>) -> Vec<Bytes> {
    cuts.iter_mut().for_each(|c| *c %= data.len() + 1);
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut last = 0;
    for c in cuts.into_iter().chain([data.len()]) {
        chunks.push(Bytes::copy_from_slice(&data[last..c]));
        last = c;
    }
    chunks
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_split_yields_the_same_rows(
        rows in arb_rows(),
        ext in prop::collection::vec(any::<u8>(), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let data = stream(&rows, &ext);
        let (got, p) = parse(split(&data, cuts)).unwrap();
        prop_assert!(p.is_finished());
        prop_assert_eq!(p.finish(), Ok(()));
        prop_assert_eq!(got.iter().map(fields).collect::<Vec<_>>(), rows);
    }

    #[test]
    fn arbitrary_input_never_panics(
        body in prop::collection::vec(any::<u8>(), 0..200),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
        with_header in any::<bool>(),
    ) {
        let mut data = if with_header { header(0, b"") } else { Vec::new() };
        data.extend(body);
        let mut p = CopyBinaryParser::new();
        for c in split(&data, cuts) {
            p.push(c);
            while let Ok(Some(_)) = p.next_row() {}
        }
        let _ = p.finish();
    }
}

//! A transaction far beyond the memory budget spills to a file that exists while the
//! transaction is held and written, is gone afterwards, and changes nothing in the output.

use super::*;
use crate::event::Op;
use crate::format::debezium::tests::pgbin::*;
use crate::position::{Position, StreamPosition};
use crate::schema::{ReplicaIdentity, TypeKind};

const EVENTS: u32 = 5_000;

fn events(meta: TxMeta) -> Vec<ChangeEvent> {
    let t = table(
        1,
        "big",
        vec![
            col("id", ty(23, "int4", TypeKind::Int4), -1, true),
            col("note", ty(25, "text", TypeKind::Text), -1, false),
        ],
        ReplicaIdentity::Full,
    );
    (0..EVENTS)
        .map(|i| {
            let after = row(vec![
                C::V(int4(i as i32)),
                C::V(text(&format!("row {i} ✓"))),
            ]);
            let op = if i % 3 == 2 { Op::Delete } else { Op::Insert };
            let (before, after) = match op {
                Op::Delete => (Some(after), None),
                _ => (None, Some(after)),
            };
            let mut e = event(&t, op, before, after);
            e.tx = meta;
            e.position = Position::Stream(StreamPosition::pg(meta.commit_lsn, i));
            e
        })
        .collect()
}

#[test]
fn a_spilled_transaction_reads_back_the_same_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let meta = tx(99, 1_705_307_400, 123_456);
    let evs = events(meta);
    let (mut small, clock) = format_with("", "", 4096, dir.path());
    let mut out = EncodedBatch::default();
    small.begin(&meta, &mut out).unwrap();
    for e in &evs {
        small.encode(e, &mut out).unwrap();
    }
    let path = small
        .spill_path()
        .expect("the transaction spilled")
        .to_owned();
    assert!(path.starts_with(dir.path()) && path.exists());
    let spilled_bytes = std::fs::metadata(&path).unwrap().len();
    assert!(spilled_bytes > 100 * 4096, "{spilled_bytes} bytes on disk");
    clock.set(1_705_307_401_000_000_000);
    small.commit(&meta, EVENTS, &mut out).unwrap();
    // Half way through writing, the file is still there.
    out.clear();
    assert!(small.pending(&mut out, 2_000).unwrap());
    assert!(path.exists());
    let mut spilled: Vec<EncodedRecord> = out.records().to_vec();
    spilled.extend(drain(&mut small, 2_000));
    assert!(!path.exists(), "the spill file is removed once written");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let (mut big, clock) = format_with("", "", 64 << 20, dir.path());
    let held = run_tx(&mut big, &clock, meta, &evs, 1_705_307_401, 1_000);
    assert!(big.spill_path().is_none());
    assert_eq!(spilled.len(), EVENTS as usize);
    for (i, (a, b)) in spilled.iter().zip(&held).enumerate() {
        assert_eq!(value(a), value(b), "message {i}");
        assert_eq!(
            (key(a), &a.topic, a.partition, a.position),
            (key(b), &b.topic, b.partition, b.position)
        );
        let idx = format!("\"seq\":{},\"size\":{EVENTS},", i + 1);
        assert!(value(a).contains(&idx), "{}", value(a));
    }
}

#[test]
fn a_dropped_format_removes_its_spill_file() {
    let dir = tempfile::tempdir().unwrap();
    let meta = tx(5, 1_705_307_400, 1);
    let (mut f, _clock) = format_with("", "", 1024, dir.path());
    let mut out = EncodedBatch::default();
    f.begin(&meta, &mut out).unwrap();
    for e in events(meta).iter().take(500) {
        f.encode(e, &mut out).unwrap();
    }
    let path = f.spill_path().unwrap().to_owned();
    assert!(path.exists());
    drop(f);
    assert!(!path.exists());
}

#[test]
fn an_unwritable_spill_directory_is_refused_at_start() {
    let spec = crate::route::tests_support::spec(
        "format = \"shareplex_json\"\n[destination.shareplex_json]\nspill_dir = \"/nonexistent/spill\"",
        "",
    );
    let routing = std::sync::Arc::new(crate::route::Routing::new(&spec));
    let labels = crate::metrics::ShardLabels::default();
    let clock = Box::new(crate::format::clock::FixedClock(0));
    let err = crate::format::shareplex(&spec, &labels, &routing, clock)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("destination.shareplex_json.spill_dir"),
        "{err}"
    );
    assert!(err.contains("/nonexistent/spill"), "{err}");
}

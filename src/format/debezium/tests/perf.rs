//! A throughput smoke check (ignored by default; run with `--ignored --nocapture`, ideally in
//! release mode): encodes the samples' wide row repeatedly with buffers reused.

use std::time::Instant;

use super::golden::{inserted_row, sample_table};
use super::pgbin::event;
use crate::event::Op;
use crate::format::debezium::{DebeziumJson, DebeziumOptions, FixedClock};
use crate::format::{EncodedBatch, Format};
use crate::schema::ReplicaIdentity;

#[test]
#[ignore]
fn encode_throughput() {
    let t = sample_table(1, "sample_types", ReplicaIdentity::Full);
    let ev = event(&t, Op::Insert, None, Some(inserted_row()));
    let mut fmt = DebeziumJson::with_clock(DebeziumOptions::default(), Box::new(FixedClock(0)));
    let mut out = EncodedBatch::default();
    let n = 200_000;
    let start = Instant::now();
    let mut bytes = 0;
    for _ in 0..n {
        out.clear();
        fmt.encode(&ev, &mut out).unwrap();
        bytes += out.records()[0].value.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:.0} rows/s, {:.1} MB/s",
        f64::from(n) / secs,
        bytes as f64 / secs / 1e6
    );
}

//! Tests of the SharePlex JSON format: golden messages after part B §3's examples, every type's
//! value form from `docs/TYPE-MAPPING.md` (written by hand), and spilling a large transaction.

mod golden;
mod oracle;
mod spill;
mod types;

use std::path::Path;
use std::sync::Arc;

use crate::event::{ChangeEvent, TxMeta};
use crate::format::clock::ManualClock;
use crate::format::shareplex::{SharePlexJson, SharePlexOptions};
use crate::format::{EncodedBatch, EncodedRecord, Format};
use crate::position::Lsn;
use crate::route::tests_support::spec;
use crate::route::Routing;

/// A format for a task with these `[destination]` lines and `[objects]` tables, holding up to
/// `budget` bytes in memory and spilling to `dir`; and its clock.
pub(super) fn format_with(
    destination: &str,
    objects: &str,
    budget: u64,
    dir: &Path,
) -> (SharePlexJson, ManualClock) {
    let spec = spec(
        &format!("format = \"shareplex_json\"\n{destination}"),
        objects,
    );
    let clock = ManualClock::default();
    let opts = SharePlexOptions {
        memory_budget_bytes: budget,
        spill_dir: dir.to_owned(),
        ..SharePlexOptions::default()
    };
    let routing = Arc::new(Routing::new(&spec));
    let f = SharePlexJson::new(routing, opts, Box::new(clock.clone())).unwrap();
    (f, clock)
}

/// A format with the default budget spilling to the system's temporary directory.
pub(super) fn format(destination: &str, objects: &str) -> (SharePlexJson, ManualClock) {
    format_with(destination, objects, 64 << 20, &std::env::temp_dir())
}

/// `TxMeta` of a transaction committed at `unix_secs` (+ 123456 µs, dropped in messages).
pub(super) fn tx(xid: u64, unix_secs: i64, lsn: u64) -> TxMeta {
    TxMeta {
        xid,
        commit_time_us: unix_secs * 1_000_000 + 123_456,
        commit_lsn: Lsn(lsn),
    }
}

/// Runs one transaction through the format as the runner does — begin, encode each event,
/// commit, then `pending` in slices of `slice` — with the clock at `post_secs` at the commit;
/// returns the records. Nothing may be written before the commit.
pub(super) fn run_tx(
    f: &mut SharePlexJson,
    clock: &ManualClock,
    meta: TxMeta,
    events: &[ChangeEvent],
    post_secs: i64,
    slice: usize,
) -> Vec<EncodedRecord> {
    let mut out = EncodedBatch::default();
    f.begin(&meta, &mut out).unwrap();
    for ev in events {
        f.encode(ev, &mut out).unwrap();
    }
    clock.set(post_secs * 1_000_000_000 + 999_999_999);
    f.commit(&meta, events.len() as u32, &mut out).unwrap();
    assert!(out.is_empty(), "nothing is written before the commit");
    // The clock moves on while the records are written: posttime stays the commit's.
    clock.set((post_secs + 60) * 1_000_000_000);
    drain(f, slice)
}

/// Every record `pending` returns, in slices of `slice`.
pub(super) fn drain(f: &mut SharePlexJson, slice: usize) -> Vec<EncodedRecord> {
    let mut out = EncodedBatch::default();
    let mut records = Vec::new();
    loop {
        out.clear();
        let more = f.pending(&mut out, slice).unwrap();
        assert!(out.len() <= slice);
        records.extend(out.records().iter().cloned());
        if !more {
            break;
        }
        assert_eq!(out.len(), slice, "a slice is full while more remain");
    }
    records
}

pub(super) fn value(r: &EncodedRecord) -> &str {
    std::str::from_utf8(&r.value).unwrap()
}

pub(super) fn key(r: &EncodedRecord) -> Option<&str> {
    r.key().map(|k| std::str::from_utf8(k).unwrap())
}

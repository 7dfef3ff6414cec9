//! The `meta` object: the members every SharePlex JSON message carries, in part B §3's order
//! (`time`, `userid`, `op`, `scn`, `rowid`, `trans`, `seq`, `size`, `table`, `idx`,
//! `posttime`). A transaction's members are rendered once (`TxFields`) and copied into each
//! of its messages.

use crate::event::{ChangeEvent, TxMeta};
use crate::format::json;
use crate::format::origin::{write_xid, OracleOrigin};
use crate::position::{Scn, Xid};
use crate::value::civil_from_days;

/// The op codes (part B §3; `truncate` and `ddl` decided in part A).
pub(super) const INSERT: u8 = b'i';
pub(super) const UPDATE: u8 = b'u';
pub(super) const DELETE: u8 = b'd';
pub(super) const TRUNCATE: u8 = b't';
pub(super) const DDL: u8 = b'D';

/// The `op` member's text of an op code.
pub(super) fn op_text(op: u8) -> &'static [u8] {
    match op {
        INSERT => b"ins",
        UPDATE => b"upd",
        DELETE => b"del",
        TRUNCATE => b"truncate",
        _ => b"ddl",
    }
}

/// A transaction's `time`, `scn` and `trans` members, as JSON values.
#[derive(Debug, Default, Clone)]
pub(super) struct TxFields {
    pub time: Vec<u8>,
    pub scn: Vec<u8>,
    pub trans: Vec<u8>,
}

impl TxFields {
    /// PostgreSQL: the commit time, the commit LSN in decimal, the xid.
    pub(super) fn set(&mut self, tx: &TxMeta) {
        self.time.clear();
        write_time(&mut self.time, i128::from(tx.commit_time_us) * 1_000);
        self.scn.clear();
        write_quoted_u64(&mut self.scn, tx.commit_lsn.0);
        self.trans.clear();
        write_quoted_u64(&mut self.trans, tx.xid);
    }

    /// The fields of a message written at once about `ev`: its transaction's, for an Oracle
    /// event with `scn` and `trans` from its position (`set_oracle`).
    pub(super) fn set_event(&mut self, ev: &ChangeEvent) {
        self.set(&ev.tx);
        if let Some(o) = OracleOrigin::of(ev) {
            self.set_oracle(o.commit_scn, o.xid());
        }
    }

    /// Oracle: `scn` the commit SCN in decimal (a snapshot row's: the snapshot SCN), `trans` the
    /// XID as `usn.slot.sqn` (null without a transaction).
    pub(super) fn set_oracle(&mut self, commit_scn: Scn, xid: Option<Xid>) {
        self.scn.clear();
        write_quoted_u64(&mut self.scn, commit_scn.0);
        self.trans.clear();
        match xid {
            Some(x) => {
                self.trans.push(b'"');
                write_xid(&mut self.trans, x);
                self.trans.push(b'"');
            }
            None => self.trans.extend_from_slice(b"null"),
        }
    }

    /// Outside a transaction: no time or transaction, the commit point if known.
    pub(super) fn set_unknown(&mut self, commit: Option<u64>) {
        self.time.clear();
        self.time.extend_from_slice(b"null");
        self.scn.clear();
        match commit {
            Some(c) => write_quoted_u64(&mut self.scn, c),
            None => self.scn.extend_from_slice(b"null"),
        }
        self.trans.clear();
        self.trans.extend_from_slice(b"null");
    }
}

/// What one message's `meta` says beyond its transaction's fields.
pub(super) struct MessageMeta<'a> {
    pub op: u8,
    pub seq: u32,
    pub size: u32,
    /// `"SCHEMA.TABLE"`, quoted.
    pub table: &'a [u8],
    /// `"yyyy-MM-ddTHH:mm:ss"`, quoted.
    pub posttime: &'a [u8],
}

/// Appends `{"meta":{…},` — the message's opening up to its body.
pub(super) fn write_meta(out: &mut Vec<u8>, tx: &TxFields, m: &MessageMeta<'_>) {
    out.extend_from_slice(b"{\"meta\":{\"time\":");
    out.extend_from_slice(&tx.time);
    out.extend_from_slice(b",\"userid\":null,\"op\":\"");
    out.extend_from_slice(op_text(m.op));
    out.extend_from_slice(b"\",\"scn\":");
    out.extend_from_slice(&tx.scn);
    out.extend_from_slice(b",\"rowid\":null,\"trans\":");
    out.extend_from_slice(&tx.trans);
    out.extend_from_slice(b",\"seq\":");
    json::write_u64(out, u64::from(m.seq));
    out.extend_from_slice(b",\"size\":");
    json::write_u64(out, u64::from(m.size));
    out.extend_from_slice(b",\"table\":");
    out.extend_from_slice(m.table);
    out.extend_from_slice(b",\"idx\":\"");
    json::write_u64(out, u64::from(m.seq));
    out.push(b'/');
    json::write_u64(out, u64::from(m.size));
    out.extend_from_slice(b"\",\"posttime\":");
    out.extend_from_slice(m.posttime);
    out.extend_from_slice(b"},");
}

/// Appends `"SCHEMA.TABLE"`, JSON-quoted.
pub(super) fn write_table(out: &mut Vec<u8>, schema: &str, table: &str, scratch: &mut String) {
    scratch.clear();
    scratch.push_str(schema);
    scratch.push('.');
    scratch.push_str(table);
    json::write_str(out, scratch);
}

/// Appends `"yyyy-MM-ddTHH:mm:ss"` for nanoseconds since the Unix epoch, in UTC, the fraction
/// dropped (rounded towards the past).
pub(super) fn write_time(out: &mut Vec<u8>, unix_nanos: i128) {
    let secs = unix_nanos.div_euclid(1_000_000_000) as i64;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    out.push(b'"');
    if (0..10_000).contains(&year) {
        digits(out, year / 100);
        digits(out, year % 100);
    } else {
        json::write_i64(out, year);
    }
    for (v, sep) in [
        (i64::from(month), b'-'),
        (i64::from(day), b'-'),
        (s / 3600, b'T'),
        (s / 60 % 60, b':'),
        (s % 60, b':'),
    ] {
        out.push(sep);
        digits(out, v);
    }
    out.push(b'"');
}

/// Two decimal digits of `v` (0..100).
fn digits(out: &mut Vec<u8>, v: i64) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

fn write_quoted_u64(out: &mut Vec<u8>, v: u64) {
    out.push(b'"');
    json::write_u64(out, v);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(nanos: i128) -> String {
        let mut out = Vec::new();
        write_time(&mut out, nanos);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn times_are_utc_seconds_without_a_zone() {
        // 2024-01-15T08:30:00Z = 1705307400 s.
        assert_eq!(time(1_705_307_400_000_000_000), "\"2024-01-15T08:30:00\"");
        assert_eq!(time(1_705_307_400_999_999_999), "\"2024-01-15T08:30:00\"");
        assert_eq!(time(0), "\"1970-01-01T00:00:00\"");
        assert_eq!(time(-1), "\"1969-12-31T23:59:59\"");
        // 2024-02-29T23:59:59Z
        assert_eq!(time(1_709_251_199_000_000_000), "\"2024-02-29T23:59:59\"");
    }
}

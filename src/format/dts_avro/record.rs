//! The fields of a `Record` around its images, in wire order (FORMATS.md part B §1.3):
//! `version` … `objectName` (`head`), `processTimestamps` and `tags` (`tags`), and the trailing
//! `bornTimestamp` (`tail`). `fields` and the images are the encoder's.

use crate::format::origin::XidText;
use crate::position::{LogPoint, Lsn, Xid};

use super::avro;

/// `Record.version`: the DTS writer writes 0.
const VERSION: i32 = 0;

/// `Operation` symbols (their indices are what the wire carries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Insert = 0,
    Update = 1,
    Delete = 2,
    Ddl = 3,
}

/// `sourceTxid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxId {
    /// PostgreSQL: the xid in decimal.
    Pg(u64),
    /// Oracle: the XID as `usn.slot.sqn`.
    Oracle(Xid),
    /// No transaction (an Oracle snapshot row): `""`, as the DTS writer writes a null id.
    None,
}

/// What one record says about where it comes from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub id: i64,
    pub commit_time_us: i64,
    /// `sourcePosition`: the transaction's commit point (the snapshot's for its rows).
    pub position: LogPoint,
    /// `safeSourcePosition`.
    pub safe: LogPoint,
    pub txid: TxId,
    pub op: Operation,
}

impl Meta {
    fn commit_seconds(&self) -> i64 {
        self.commit_time_us.div_euclid(1_000_000)
    }
}

/// Writes the framing (when a schema id is given) and `version` … `objectName`. `source` is
/// the encoded `Source` record; `object_name` an encoded string (`None`: null).
pub(crate) fn head(
    out: &mut Vec<u8>,
    confluent_schema_id: Option<u32>,
    source: &[u8],
    m: &Meta,
    object_name: Option<&[u8]>,
) {
    if let Some(id) = confluent_schema_id {
        out.push(0);
        out.extend_from_slice(&id.to_be_bytes());
    }
    avro::int(out, VERSION);
    avro::long(out, m.id);
    avro::long(out, m.commit_seconds());
    point(out, m.position);
    point(out, m.safe);
    match m.txid {
        TxId::Pg(xid) => avro::string(out, itoa::Buffer::new().format(xid)),
        TxId::Oracle(xid) => avro::bytes(out, XidText::new(xid).as_bytes()),
        TxId::None => avro::string(out, ""),
    }
    out.extend_from_slice(source);
    avro::int(out, m.op as i32);
    match object_name {
        Some(name) => {
            avro::branch(out, 1);
            out.extend_from_slice(name);
        }
        None => avro::branch(out, 0),
    }
}

/// Writes `processTimestamps` (always null, as the DTS writer does) and `tags`: `pk_tag` (an
/// encoded entry, or empty) first, then, when `reader_ms` is given (`dts_avro.extra_tags`),
/// `readerThroughoutTime` (the clock, ms) and `commitTimestamp` (s).
pub(crate) fn tags(out: &mut Vec<u8>, m: &Meta, pk_tag: &[u8], reader_ms: Option<i64>) {
    avro::branch(out, 0);
    let count = usize::from(!pk_tag.is_empty()) + if reader_ms.is_some() { 2 } else { 0 };
    avro::block(out, count);
    out.extend_from_slice(pk_tag);
    if let Some(ms) = reader_ms {
        avro::string(out, "readerThroughoutTime");
        avro::string(out, itoa::Buffer::new().format(ms));
        avro::string(out, "commitTimestamp");
        avro::string(out, itoa::Buffer::new().format(m.commit_seconds()));
    }
    avro::end(out);
}

/// Writes `bornTimestamp`: the commit time in milliseconds.
pub(crate) fn tail(out: &mut Vec<u8>, m: &Meta) {
    avro::long(out, m.commit_time_us.div_euclid(1000));
}

/// A log point as text: an LSN as `X/Y`, an SCN in decimal.
fn point(out: &mut Vec<u8>, p: LogPoint) {
    match p {
        LogPoint::Lsn(l) => lsn(out, l),
        LogPoint::Scn(s) => avro::string(out, itoa::Buffer::new().format(s.0)),
    }
}

/// An LSN as `X/Y` text (PostgreSQL's `pg_lsn` form: upper-case hexadecimal without leading
/// zeros), without allocating or going through `fmt`.
fn lsn(out: &mut Vec<u8>, l: Lsn) {
    // The longest form is FFFFFFFF/FFFFFFFF.
    let mut buf = [0u8; 17];
    let mut n = hex(&mut buf, 0, (l.0 >> 32) as u32);
    buf[n] = b'/';
    n = hex(&mut buf, n + 1, l.0 as u32);
    avro::bytes(out, &buf[..n]);
}

/// Writes `v` in upper-case hexadecimal at `buf[at..]`; returns the end.
fn hex(buf: &mut [u8; 17], at: usize, v: u32) -> usize {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let len = (8 - v.leading_zeros() as usize / 4).max(1);
    for i in 0..len {
        buf[at + i] = DIGITS[((v >> (4 * (len - 1 - i))) & 0xF) as usize];
    }
    at + len
}

/// The encoded `Source` record: `sourceType` (PostgreSQL 3, PPAS 7) and the server version.
pub(crate) fn source(source_type: i32, version: &str) -> Vec<u8> {
    let mut out = Vec::new();
    avro::int(&mut out, source_type);
    avro::string(&mut out, version);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_are_written_as_postgresql_prints_them() {
        for (v, text) in [
            (0u64, "0/0"),
            (0x16B_3748, "0/16B3748"),
            (0x1_0000_0000, "1/0"),
            (0xA_0000_000F, "A/F"),
            (u64::MAX, "FFFFFFFF/FFFFFFFF"),
        ] {
            let mut out = Vec::new();
            lsn(&mut out, Lsn(v));
            assert_eq!(out[1..], *text.as_bytes(), "{v:x}");
            assert_eq!(usize::from(out[0]), text.len() * 2, "zig-zag length");
            assert_eq!(Lsn(v).to_string(), text);
        }
    }
}

//! The streaming replication sub-protocol carried in CopyData messages after
//! `START_REPLICATION`: XLogData and Primary Keepalive from the server, Standby Status Update
//! from us (`protocol-replication`, "START_REPLICATION").
//!
//! Times on the wire are µs since 2000-01-01; this module converts them to and from µs since the
//! Unix epoch, as the rest of the crate uses.

use bytes::{BufMut, Bytes, BytesMut};

use super::pgoutput::{Cursor, DecodeError};
use crate::position::Lsn;
use crate::value::PG_EPOCH_UNIX_MICROS;

/// One CopyData message from the walsender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicationFrame {
    /// `w`: WAL data; for logical replication, one pgoutput message (`payload`, shared with the
    /// frame's buffer, not copied).
    XLogData {
        wal_start: Lsn,
        wal_end: Lsn,
        send_time_us: i64,
        payload: Bytes,
    },
    /// `k`: the server's WAL end, and whether it wants a status update at once.
    Keepalive {
        wal_end: Lsn,
        send_time_us: i64,
        reply_requested: bool,
    },
}

/// Parses the body of one CopyData message (without the CopyData header).
pub fn parse_frame(data: Bytes) -> Result<ReplicationFrame, DecodeError> {
    match data.first() {
        Some(b'w') => xlog_data(&data),
        Some(b'k') => keepalive(&data),
        Some(&tag) => Err(DecodeError::UnknownTag {
            message: "replication",
            what: "frame tag",
            tag,
            at: 0,
        }),
        None => Err(DecodeError::Empty {
            message: "replication",
        }),
    }
}

fn xlog_data(data: &Bytes) -> Result<ReplicationFrame, DecodeError> {
    let mut c = Cursor::new(data, "XLogData");
    c.pos = 1;
    let wal_start = c.lsn("WAL start")?;
    let wal_end = c.lsn("WAL end")?;
    let send_time_us = c.time("send time")?;
    let payload = c.rest();
    Ok(ReplicationFrame::XLogData {
        wal_start,
        wal_end,
        send_time_us,
        payload,
    })
}

fn keepalive(data: &Bytes) -> Result<ReplicationFrame, DecodeError> {
    let mut c = Cursor::new(data, "Primary Keepalive");
    c.pos = 1;
    let wal_end = c.lsn("WAL end")?;
    let send_time_us = c.time("send time")?;
    let reply_requested = c.u8("reply flag")? == 1;
    c.finish()?;
    Ok(ReplicationFrame::Keepalive {
        wal_end,
        send_time_us,
        reply_requested,
    })
}

/// Length of a Standby Status Update message body.
pub const STANDBY_STATUS_UPDATE_LEN: usize = 1 + 8 * 4 + 1;

/// Appends a Standby Status Update (`r`): the WAL positions written, flushed and applied, our
/// clock (`now_unix_us`, µs since the Unix epoch), and whether we ask for an immediate reply.
/// It is the CopyData body: the caller adds the CopyData header.
pub fn standby_status_update(
    write: Lsn,
    flush: Lsn,
    apply: Lsn,
    now_unix_us: i64,
    reply: bool,
    out: &mut BytesMut,
) {
    out.reserve(STANDBY_STATUS_UPDATE_LEN);
    out.put_u8(b'r');
    out.put_u64(write.0);
    out.put_u64(flush.0);
    out.put_u64(apply.0);
    out.put_i64(now_unix_us.saturating_sub(PG_EPOCH_UNIX_MICROS));
    out.put_u8(u8::from(reply));
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG_TIME: i64 = 758_000_000_000_000;

    fn be(parts: &[&[u8]]) -> Bytes {
        Bytes::from(parts.concat())
    }

    #[test]
    fn xlog_data_payload_is_a_slice() {
        let data = be(&[
            b"w",
            &1u64.to_be_bytes(),
            &2u64.to_be_bytes(),
            &PG_TIME.to_be_bytes(),
            b"E",
        ]);
        let ReplicationFrame::XLogData {
            wal_start,
            wal_end,
            send_time_us,
            payload,
        } = parse_frame(data.clone()).unwrap()
        else {
            panic!("xlogdata")
        };
        assert_eq!((wal_start, wal_end), (Lsn(1), Lsn(2)));
        assert_eq!(send_time_us, PG_TIME + PG_EPOCH_UNIX_MICROS);
        assert_eq!(&payload[..], b"E");
        assert_eq!(payload.as_ptr(), data[25..].as_ptr());
        let empty = be(&[b"w", &[0; 24]]);
        assert!(
            matches!(parse_frame(empty), Ok(ReplicationFrame::XLogData { payload, .. }) if payload.is_empty())
        );
    }

    #[test]
    fn keepalives() {
        let data = be(&[
            b"k",
            &0x16B_3748u64.to_be_bytes(),
            &PG_TIME.to_be_bytes(),
            &[1],
        ]);
        let want = ReplicationFrame::Keepalive {
            wal_end: Lsn(0x16B_3748),
            send_time_us: PG_TIME + PG_EPOCH_UNIX_MICROS,
            reply_requested: true,
        };
        assert_eq!(parse_frame(data), Ok(want));
        let long = be(&[b"k", &[0; 17], &[0]]);
        assert!(matches!(
            parse_frame(long),
            Err(DecodeError::TrailingBytes { .. })
        ));
        let short = be(&[b"k", &[0; 16]]);
        assert!(matches!(
            parse_frame(short),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn malformed_frames() {
        assert!(matches!(
            parse_frame(Bytes::new()),
            Err(DecodeError::Empty { .. })
        ));
        assert!(matches!(
            parse_frame(be(&[b"x"])),
            Err(DecodeError::UnknownTag { tag: b'x', .. })
        ));
        assert!(matches!(
            parse_frame(be(&[b"w", &[0; 23]])),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn standby_status_update_layout() {
        let mut out = BytesMut::new();
        let now = PG_TIME + PG_EPOCH_UNIX_MICROS;
        standby_status_update(Lsn(1), Lsn(2), Lsn(3), now, true, &mut out);
        let want = be(&[
            b"r",
            &1u64.to_be_bytes(),
            &2u64.to_be_bytes(),
            &3u64.to_be_bytes(),
            &PG_TIME.to_be_bytes(),
            &[1],
        ]);
        assert_eq!(out.len(), STANDBY_STATUS_UPDATE_LEN);
        assert_eq!(out.freeze(), want);
    }
}

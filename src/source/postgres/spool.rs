//! Streamed in-progress transactions (pgoutput protocol 2, `streaming 'on'`), held on the
//! client until their Stream Commit or Stream Abort.
//!
//! ```text
//!  Stream Start(xid, first) ─► data messages of xid (and its subtransactions) ─► Stream Stop
//!      ... blocks of other transactions, whole Begin…Commit transactions in between ...
//!  Stream Commit(xid) ─► replay the spool in order as Begin, changes, Commit
//!  Stream Abort(xid, sub) ─► sub == xid: drop the spool; else cut it at sub's first change
//! ```
//! Each transaction's messages are appended raw (the XLogData start LSN and the payload) to a
//! spool of its own: in memory up to `MEMORY_PER_TRANSACTION`, then in an unnamed temporary
//! file (deleted by the kernel when closed, so a killed process leaves nothing). Memory stays
//! flat for any transaction size. Each subtransaction's first offset is kept, so a rollback to
//! a savepoint truncates the spool there (subtransactions after it, in arrival order, go too:
//! PostgreSQL's apply worker does the same). A spool from before a reconnect is never needed:
//! the server sends every transaction committing after the confirmed position again, starting
//! with `first_segment` set, which resets its spool.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

use crate::position::Lsn;

/// Bytes of one transaction's messages held in memory before they move to a file.
pub const MEMORY_PER_TRANSACTION: usize = 1 << 20;

/// A record's header: the XLogData start LSN (8 bytes) and the payload's length (4 bytes).
const HEADER: usize = 12;

/// One streamed transaction's messages, in arrival order.
#[derive(Debug)]
pub struct Spool {
    xid: u32,
    mem: Vec<u8>,
    file: Option<File>,
    /// Bytes appended (memory and file), the offset of the next record.
    len: u64,
    /// `(subxid, offset of its first message)`, in arrival order; the top-level xid included.
    subxacts: Vec<(u32, u64)>,
    dir: PathBuf,
}

impl Spool {
    pub fn new(xid: u32, dir: &Path) -> Spool {
        Spool {
            xid,
            mem: Vec::new(),
            file: None,
            len: 0,
            subxacts: Vec::new(),
            dir: dir.to_owned(),
        }
    }

    /// Bytes held (in memory or on disk).
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the spool has moved to a file.
    pub fn on_disk(&self) -> bool {
        self.file.is_some()
    }

    /// Appends one message of (sub)transaction `subxid`, received at `lsn`.
    pub fn append(&mut self, subxid: Option<u32>, lsn: Lsn, payload: &[u8]) -> io::Result<()> {
        let sub = subxid.unwrap_or(self.xid);
        // Consecutive messages are nearly always of one subtransaction: the scan runs only
        // when it changes (a function with thousands of EXCEPTION blocks would make it
        // quadratic otherwise).
        if self.subxacts.last().is_none_or(|(x, _)| *x != sub)
            && !self.subxacts.iter().any(|(x, _)| *x == sub)
        {
            self.subxacts.push((sub, self.len));
        }
        let len = u32::try_from(payload.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message over 4 GiB"))?;
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(&lsn.0.to_be_bytes());
        header[8..].copy_from_slice(&len.to_be_bytes());
        match &mut self.file {
            Some(f) => {
                f.write_all(&header)?;
                f.write_all(payload)?;
            }
            None => {
                self.mem.extend_from_slice(&header);
                self.mem.extend_from_slice(payload);
                if self.mem.len() > MEMORY_PER_TRANSACTION {
                    self.move_to_disk()?;
                }
            }
        }
        self.len += (HEADER + payload.len()) as u64;
        Ok(())
    }

    fn move_to_disk(&mut self) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut f = tempfile::tempfile_in(&self.dir)?;
        f.write_all(&self.mem)?;
        self.mem = Vec::new();
        self.file = Some(f);
        Ok(())
    }

    /// Rolls back subtransaction `subxid`: its messages and those of every subtransaction
    /// that arrived after it are dropped. An unknown one (no change) drops nothing.
    pub fn abort_subtransaction(&mut self, subxid: u32) -> io::Result<()> {
        let Some(i) = self.subxacts.iter().rposition(|(x, _)| *x == subxid) else {
            return Ok(());
        };
        let at = self.subxacts[i].1;
        self.subxacts.truncate(i);
        self.len = at;
        match &mut self.file {
            Some(f) => {
                f.set_len(at)?;
                f.seek(SeekFrom::Start(at))?;
            }
            None => self.mem.truncate(at as usize),
        }
        Ok(())
    }

    /// The messages in order, to replay at the Stream Commit.
    pub fn replay(self) -> io::Result<Replay> {
        let source = match self.file {
            Some(mut f) => {
                f.flush()?;
                f.seek(SeekFrom::Start(0))?;
                Source::File(BufReader::with_capacity(256 << 10, f))
            }
            None => Source::Memory(Bytes::from(self.mem)),
        };
        Ok(Replay {
            source,
            left: self.len,
            buf: BytesMut::new(),
        })
    }
}

enum Source {
    Memory(Bytes),
    File(BufReader<File>),
}

/// A spool read back message by message.
pub struct Replay {
    source: Source,
    left: u64,
    /// Read-ahead from the file: payloads are split off it, sharing one allocation.
    buf: BytesMut,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay").field("left", &self.left).finish()
    }
}

/// Bytes read from a spool file at a time.
const READ_AHEAD: usize = 1 << 20;

impl Replay {
    /// The next message (its LSN and payload), `None` at the end.
    pub fn next_message(&mut self) -> io::Result<Option<(Lsn, Bytes)>> {
        if self.left == 0 {
            return Ok(None);
        }
        let header = self.take(HEADER)?;
        let lsn = Lsn(u64::from_be_bytes(
            header[..8].try_into().unwrap_or_default(),
        ));
        let len = u32::from_be_bytes(header[8..].try_into().unwrap_or_default()) as usize;
        let payload = self.take(len)?;
        self.left = self.left.saturating_sub((HEADER + len) as u64);
        Ok(Some((lsn, payload)))
    }

    fn take(&mut self, n: usize) -> io::Result<Bytes> {
        match &mut self.source {
            Source::Memory(b) => {
                if b.len() < n {
                    return Err(truncated());
                }
                Ok(b.split_to(n))
            }
            Source::File(f) => {
                while self.buf.len() < n {
                    let want = n.max(READ_AHEAD);
                    let old = self.buf.len();
                    self.buf.resize(old + want, 0);
                    let got = f.read(&mut self.buf[old..])?;
                    self.buf.truncate(old + got);
                    if got == 0 {
                        return Err(truncated());
                    }
                }
                Ok(self.buf.split_to(n).freeze())
            }
        }
    }
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the spool file ended early")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(r: &mut Replay) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some((lsn, p)) = r.next_message().unwrap() {
            out.push((lsn.0, p.to_vec()));
        }
        out
    }

    fn spool_of(n: usize, size: usize) -> (tempfile::TempDir, Spool, Vec<(u64, Vec<u8>)>) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::new(7, dir.path());
        let mut want = Vec::new();
        for i in 0..n {
            let payload = vec![(i % 251) as u8; size];
            s.append(None, Lsn(i as u64), &payload).unwrap();
            want.push((i as u64, payload));
        }
        (dir, s, want)
    }

    #[test]
    fn a_small_transaction_stays_in_memory_and_replays_in_order() {
        let (_d, s, want) = spool_of(100, 50);
        assert!(!s.on_disk());
        assert_eq!(all(&mut s.replay().unwrap()), want);
    }

    #[test]
    fn a_large_transaction_moves_to_a_file_that_leaves_no_name_behind() {
        let (dir, s, want) = spool_of(3_000, 1_000);
        assert!(s.on_disk());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(names.is_empty(), "an unnamed file: {names:?}");
        assert_eq!(all(&mut s.replay().unwrap()), want);
    }

    #[test]
    fn a_rolled_back_savepoint_drops_its_messages_and_later_subtransactions_only() {
        for size in [10, 2_000] {
            let dir = tempfile::tempdir().unwrap();
            let mut s = Spool::new(1, dir.path());
            let msg = |s: &mut Spool, sub: Option<u32>, i: u64| {
                s.append(sub, Lsn(i), &vec![i as u8; size]).unwrap();
            };
            // 500 rows, SAVEPOINT (sub 2) 500 rows, SAVEPOINT (sub 3) 10 rows, ROLLBACK TO
            // the first savepoint, then 5 rows of the top transaction.
            (0..500).for_each(|i| msg(&mut s, None, i));
            (500..1_000).for_each(|i| msg(&mut s, Some(2), i));
            (1_000..1_010).for_each(|i| msg(&mut s, Some(3), i));
            s.abort_subtransaction(2).unwrap();
            s.abort_subtransaction(99).unwrap();
            (2_000..2_005).for_each(|i| msg(&mut s, None, i));
            assert_eq!(s.on_disk(), size == 2_000);
            let got: Vec<u64> = all(&mut s.replay().unwrap())
                .into_iter()
                .map(|m| m.0)
                .collect();
            let want: Vec<u64> = (0..500).chain(2_000..2_005).collect();
            assert_eq!(got, want, "message size {size}");
        }
    }
}

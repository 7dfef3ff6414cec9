//! A held transaction: its messages as frames, in memory up to a budget and then in a spill
//! file, read back in order once the transaction's size is known.
//!
//! ```text
//! frame: len:u32 | op:u8 | route:u32 | position | key_len:u32 (MAX = null) key | partition | body
//! position:  0 | 1 lsn:u64 index:u32 | 2 scn:u64 xid:u64 redo:u128 index:u32
//! partition: 0 | 1 p:i32 (Fixed) | 2 h:i32 (Hash)
//! ```
//! `body` is the message after its `meta` (`"data":{…}` and, for updates, `,"key":{…}`); the
//! encoder writes `meta` in front of it when the frame is read. Numbers are little-endian.
//!
//! Memory: frames accumulate in `mem` until it holds more than the budget; then `mem` goes to
//! a new spill file and from there on serves as a write buffer of `chunk` bytes. Reading a
//! spilled transaction streams the file through a buffer of the same size, one frame at a time.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::spill::{spill_error, SpillFile};
use crate::format::{FormatError, PartitionChoice};
use crate::position::{Lsn, Scn, StreamPosition, Xid};

/// The largest write and read buffer of a spilled transaction.
const MAX_CHUNK: usize = 256 << 10;
const NULL_KEY: u32 = u32::MAX;

/// One frame read back.
#[derive(Debug)]
pub(super) struct Frame<'a> {
    pub op: u8,
    pub route: u32,
    pub position: Option<StreamPosition>,
    pub key: Option<&'a [u8]>,
    pub partition: PartitionChoice,
    pub body: &'a [u8],
}

/// The frames of one transaction.
#[derive(Debug)]
pub(super) struct TxBuffer {
    budget: usize,
    /// Counts the transactions that spilled (`tributary_format_spilled_transactions_total`).
    spilled: metrics::Counter,
    chunk: usize,
    dir: PathBuf,
    mem: Vec<u8>,
    spill: Option<Spilled>,
    frames: u32,
    /// Reading: frames left, and the next frame's offset in `mem` (unspilled).
    remaining: u32,
    read_at: usize,
    /// A frame read from the spill file.
    frame: Vec<u8>,
}

#[derive(Debug)]
struct Spilled {
    file: SpillFile,
    reader: Option<BufReader<File>>,
}

impl TxBuffer {
    pub(super) fn new(budget: u64, dir: PathBuf, spilled: metrics::Counter) -> TxBuffer {
        let budget = usize::try_from(budget).unwrap_or(usize::MAX).max(1);
        TxBuffer {
            budget,
            spilled,
            chunk: budget.min(MAX_CHUNK),
            dir,
            mem: Vec::new(),
            spill: None,
            frames: 0,
            remaining: 0,
            read_at: 0,
            frame: Vec::new(),
        }
    }

    /// The number of frames written.
    pub(super) fn frames(&self) -> u32 {
        self.frames
    }

    /// The spill file, once the transaction outgrew the budget.
    pub(super) fn spill_path(&self) -> Option<&Path> {
        self.spill.as_ref().map(|s| s.file.path())
    }

    /// Starts a frame with its head; returns the mark to `end` or `abort` it with.
    pub(super) fn start(&mut self, op: u8, route: u32, position: Option<StreamPosition>) -> usize {
        let mark = self.mem.len();
        self.mem.extend_from_slice(&[0; 4]);
        self.mem.push(op);
        self.mem.extend_from_slice(&route.to_le_bytes());
        put_position(&mut self.mem, position);
        mark
    }

    /// The buffer the open frame's key, partition and body are appended to.
    pub(super) fn mem(&mut self) -> &mut Vec<u8> {
        &mut self.mem
    }

    /// Appends the open frame's key: its bytes written by `write` (`false`: a null key).
    pub(super) fn put_key<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<bool, E>,
    ) -> Result<(), E> {
        let at = self.mem.len();
        self.mem.extend_from_slice(&[0; 4]);
        let len = if write(&mut self.mem)? {
            (self.mem.len() - at - 4) as u32
        } else {
            self.mem.truncate(at + 4);
            NULL_KEY
        };
        self.mem[at..at + 4].copy_from_slice(&len.to_le_bytes());
        Ok(())
    }

    /// Appends the open frame's partition.
    pub(super) fn put_partition(&mut self, p: PartitionChoice) {
        let (tag, v) = match p {
            PartitionChoice::Default => (0u8, 0i32),
            PartitionChoice::Fixed(v) => (1, v),
            PartitionChoice::Hash(v) => (2, v),
        };
        self.mem.push(tag);
        self.mem.extend_from_slice(&v.to_le_bytes());
    }

    /// Drops the open frame (its event failed to encode).
    pub(super) fn abort(&mut self, mark: usize) {
        self.mem.truncate(mark);
    }

    /// Closes the open frame; spills when the budget is exceeded.
    pub(super) fn end(&mut self, mark: usize) -> Result<(), FormatError> {
        let len = (self.mem.len() - mark - 4) as u32;
        self.mem[mark..mark + 4].copy_from_slice(&len.to_le_bytes());
        self.frames += 1;
        match &mut self.spill {
            None if self.mem.len() > self.budget => self.spill_now(),
            Some(s) if self.mem.len() >= self.chunk => {
                write_all(&s.file, &self.mem, &self.dir)?;
                self.mem.clear();
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Moves the frames to a new spill file and keeps only a write buffer in memory.
    fn spill_now(&mut self) -> Result<(), FormatError> {
        let file = SpillFile::create(&self.dir)?;
        write_all(&file, &self.mem, &self.dir)?;
        self.spilled.increment(1);
        tracing::debug!(
            path = %file.path().display(),
            bytes = self.mem.len(),
            "a held transaction outgrew its memory budget: spilling to disk"
        );
        self.mem = Vec::with_capacity(self.chunk + self.chunk / 4);
        self.spill = Some(Spilled { file, reader: None });
        Ok(())
    }

    /// Ends writing: the frames are read from the first on.
    pub(super) fn seal(&mut self) -> Result<(), FormatError> {
        self.remaining = self.frames;
        self.read_at = 0;
        let Some(s) = &mut self.spill else {
            return Ok(());
        };
        write_all(&s.file, &self.mem, &self.dir)?;
        self.mem.clear();
        let fail = |e: std::io::Error| spill_error(&self.dir, &e);
        let mut file = s.file.file.try_clone().map_err(fail)?;
        file.seek(SeekFrom::Start(0)).map_err(fail)?;
        s.reader = Some(BufReader::with_capacity(self.chunk, file));
        Ok(())
    }

    /// The next frame; `None` when all were read.
    pub(super) fn next(&mut self) -> Result<Option<Frame<'_>>, FormatError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        let bytes = match &mut self.spill {
            None => {
                let at = self.read_at;
                let len = read_u32(&self.mem, at).ok_or_else(|| corrupt(&self.dir))? as usize;
                self.read_at = at + 4 + len;
                self.mem.get(at + 4..at + 4 + len)
            }
            Some(s) => {
                let reader = s.reader.as_mut().ok_or_else(|| corrupt(&self.dir))?;
                read_frame(reader, &mut self.frame).map_err(|e| spill_error(&self.dir, &e))?;
                Some(&self.frame[..])
            }
        };
        let frame = bytes.and_then(parse).ok_or_else(|| corrupt(&self.dir))?;
        Ok(Some(frame))
    }

    /// Forgets the transaction: the spill file is removed, memory up to the budget is kept.
    pub(super) fn clear(&mut self) {
        self.spill = None;
        self.mem.clear();
        self.frames = 0;
        self.remaining = 0;
        self.read_at = 0;
        if self.frame.capacity() > self.chunk {
            self.frame = Vec::new();
        }
    }
}

fn write_all(file: &SpillFile, bytes: &[u8], dir: &Path) -> Result<(), FormatError> {
    (&file.file)
        .write_all(bytes)
        .map_err(|e| spill_error(dir, &e))
}

fn read_frame(r: &mut impl Read, frame: &mut Vec<u8>) -> std::io::Result<()> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    frame.resize(u32::from_le_bytes(len) as usize, 0);
    r.read_exact(frame)
}

#[cold]
fn corrupt(dir: &Path) -> FormatError {
    spill_error(
        dir,
        &std::io::Error::new(std::io::ErrorKind::InvalidData, "a held frame is corrupt"),
    )
}

fn put_position(out: &mut Vec<u8>, p: Option<StreamPosition>) {
    match p {
        None => out.push(0),
        Some(StreamPosition::Pg { commit_lsn, index }) => {
            out.push(1);
            out.extend_from_slice(&commit_lsn.0.to_le_bytes());
            out.extend_from_slice(&index.to_le_bytes());
        }
        Some(StreamPosition::Oracle {
            commit_scn,
            xid,
            redo,
            index,
        }) => {
            out.push(2);
            out.extend_from_slice(&commit_scn.0.to_le_bytes());
            out.extend_from_slice(&xid.0.to_le_bytes());
            out.extend_from_slice(&redo.to_le_bytes());
            out.extend_from_slice(&index.to_le_bytes());
        }
    }
}

/// A frame's fields (without its length).
fn parse(b: &[u8]) -> Option<Frame<'_>> {
    let mut r = Cursor { b, at: 0 };
    let op = r.take(1)?[0];
    let route = r.u32()?;
    let position = match r.take(1)?[0] {
        0 => None,
        1 => Some(StreamPosition::pg(Lsn(r.u64()?), r.u32()?)),
        2 => Some(StreamPosition::Oracle {
            commit_scn: Scn(r.u64()?),
            xid: Xid(r.u64()?),
            redo: u128::from_le_bytes(r.take(16)?.try_into().ok()?),
            index: r.u32()?,
        }),
        _ => return None,
    };
    let key = match r.u32()? {
        NULL_KEY => None,
        len => Some(r.take(len as usize)?),
    };
    let partition = match (r.take(1)?[0], r.u32()? as i32) {
        (0, _) => PartitionChoice::Default,
        (1, v) => PartitionChoice::Fixed(v),
        (2, v) => PartitionChoice::Hash(v),
        _ => return None,
    };
    Some(Frame {
        op,
        route,
        position,
        key,
        partition,
        body: &b[r.at..],
    })
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(buf: &mut TxBuffer, n: u32) {
        for i in 0..n {
            let pos = Some(StreamPosition::pg(Lsn(99), i));
            let mark = buf.start(b'i', i % 3, pos);
            buf.put_key(|k| {
                k.extend_from_slice(format!("k{i}").as_bytes());
                Ok::<bool, ()>(i % 2 == 0)
            })
            .unwrap();
            buf.put_partition(PartitionChoice::Hash(-(i as i32)));
            buf.mem().extend_from_slice(format!("body {i}").as_bytes());
            buf.end(mark).unwrap();
        }
    }

    fn read_all(buf: &mut TxBuffer) -> Vec<String> {
        buf.seal().unwrap();
        let mut out = Vec::new();
        while let Some(f) = buf.next().unwrap() {
            out.push(format!(
                "{} {} {:?} {:?} {:?} {}",
                f.op,
                f.route,
                f.position,
                f.key.map(|k| String::from_utf8_lossy(k).into_owned()),
                f.partition,
                String::from_utf8_lossy(f.body)
            ));
        }
        out
    }

    #[test]
    fn frames_read_back_the_same_from_memory_and_from_a_spill_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut mem = TxBuffer::new(1 << 30, dir.path().into(), metrics::Counter::noop());
        let mut disk = TxBuffer::new(100, dir.path().into(), metrics::Counter::noop());
        fill(&mut mem, 500);
        fill(&mut disk, 500);
        assert!(mem.spill_path().is_none());
        let path = disk.spill_path().expect("spilled").to_owned();
        assert!(path.exists());
        let (a, b) = (read_all(&mut mem), read_all(&mut disk));
        assert_eq!(a.len(), 500);
        assert_eq!(a, b);
        assert_eq!(
            a[1],
            "105 1 Some(Pg { commit_lsn: Lsn(99), index: 1 }) None Hash(-1) body 1"
        );
        disk.clear();
        assert!(!path.exists());
        // Reusable after clear.
        fill(&mut disk, 3);
        assert_eq!(read_all(&mut disk).len(), 3);
    }

    #[test]
    fn an_aborted_frame_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let mut buf = TxBuffer::new(1 << 20, dir.path().into(), metrics::Counter::noop());
        fill(&mut buf, 1);
        let mark = buf.start(b'x', 0, None);
        buf.mem().extend_from_slice(b"half");
        buf.abort(mark);
        fill(&mut buf, 1);
        assert_eq!(read_all(&mut buf).len(), 2);
    }
}

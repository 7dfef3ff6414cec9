//! Spill files: one transaction's buffered rows on disk once the assembler's memory budget is
//! exceeded, read back as a stream at commit and deleted at commit, rollback or drop.
//!
//! ```text
//!  record  = len:u32le  payload  len:u32le        (the trailing length lets undo walk backwards)
//!  payload = scn:u64 start_scn:opt<u64> commit_scn:opt<u64> xid:u64 op:i32
//!            seg_owner:opt<str> table_name:opt<str> row_id:opt<str> sql_redo:opt<str>
//!            rollback:u8 rs_id:str ssn:u32 csf:u8 info:opt<str> timestamp_ms:i64
//!  opt<T>  = 0 | 1 T          str = len:u32le utf-8 bytes        all integers little-endian
//! ```
//! Rows are appended through a `BufWriter`, so only its buffer is in memory. A row undone by a
//! `ROLLBACK = 1` row is almost always the newest one (undo runs newest first), so `undo` walks
//! back from the end and truncates the file; an undone row in the middle is remembered by its
//! sequence number and skipped when the file is read back.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::AssembleError;
use crate::position::{Scn, Xid};
use crate::source::oracle::logminer::LogMinerRow;

/// The file's path; deletes the file when dropped (best effort: `discard` reports errors).
#[derive(Debug)]
struct Owned(PathBuf);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn spill_err(path: &Path, action: &'static str, source: io::Error) -> AssembleError {
    AssembleError::Spill {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// A transaction's spill file, open for appending.
#[derive(Debug)]
pub(super) struct SpillFile {
    writer: BufWriter<File>,
    /// Records in the file (live or undone).
    count: u32,
    /// Bytes in the file, including those still in the writer's buffer.
    end: u64,
    /// Sequence numbers of undone records that are not at the end of the file.
    undone: HashSet<u32>,
    scratch: Vec<u8>,
    path: Owned,
}

impl SpillFile {
    /// Creates (or truncates) the file at `path`.
    pub(super) fn create(path: PathBuf) -> Result<SpillFile, AssembleError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| spill_err(&path, "create", e))?;
        Ok(SpillFile {
            writer: BufWriter::with_capacity(64 * 1024, file),
            count: 0,
            end: 0,
            undone: HashSet::new(),
            scratch: Vec::with_capacity(512),
            path: Owned(path),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path.0
    }

    /// Appends one row.
    pub(super) fn append(&mut self, row: &LogMinerRow) -> Result<(), AssembleError> {
        self.scratch.clear();
        encode(row, &mut self.scratch);
        let len = u32::try_from(self.scratch.len()).map_err(|_| {
            spill_err(
                &self.path.0,
                "write",
                io::Error::new(io::ErrorKind::InvalidInput, "a row of 4 GiB or more"),
            )
        })?;
        let w = &mut self.writer;
        w.write_all(&len.to_le_bytes())
            .and_then(|()| w.write_all(&self.scratch))
            .and_then(|()| w.write_all(&len.to_le_bytes()))
            .map_err(|e| spill_err(&self.path.0, "write", e))?;
        self.count += 1;
        self.end += u64::from(len) + 8;
        Ok(())
    }

    /// Undoes the newest live row whose `ROW_ID` is `row_id`; false when there is none.
    pub(super) fn undo(&mut self, row_id: &str) -> Result<bool, AssembleError> {
        self.writer
            .flush()
            .map_err(|e| spill_err(&self.path.0, "write", e))?;
        let mut seq = self.count;
        let mut end = self.end;
        while seq > 0 {
            seq -= 1;
            let start = self.record_start(end)?;
            if !self.undone.contains(&seq) {
                let row = self.read_record(start, end)?;
                if row.row_id.as_deref() == Some(row_id) {
                    if seq + 1 == self.count {
                        self.truncate_tail(seq, start)?;
                    } else {
                        self.undone.insert(seq);
                    }
                    return Ok(true);
                }
            }
            end = start;
        }
        Ok(false)
    }

    /// Truncates the file before record `seq` (which starts at `start`), then drops the undone
    /// records that became the tail.
    fn truncate_tail(&mut self, mut seq: u32, mut start: u64) -> Result<(), AssembleError> {
        while seq > 0 && self.undone.remove(&(seq - 1)) {
            start = self.record_start(start)?;
            seq -= 1;
        }
        let map = |e| spill_err(&self.path.0, "truncate", e);
        self.writer.get_ref().set_len(start).map_err(map)?;
        self.writer.seek(SeekFrom::Start(start)).map_err(map)?;
        self.count = seq;
        self.end = start;
        Ok(())
    }

    /// The start of the record that ends at `end` (from its trailing length).
    fn record_start(&self, end: u64) -> Result<u64, AssembleError> {
        let mut len = [0u8; 4];
        self.writer
            .get_ref()
            .read_exact_at(&mut len, end - 4)
            .map_err(|e| spill_err(&self.path.0, "read", e))?;
        Ok(end - 8 - u64::from(u32::from_le_bytes(len)))
    }

    fn read_record(&self, start: u64, end: u64) -> Result<LogMinerRow, AssembleError> {
        let mut payload = vec![0u8; (end - start - 8) as usize];
        self.writer
            .get_ref()
            .read_exact_at(&mut payload, start + 4)
            .map_err(|e| spill_err(&self.path.0, "read", e))?;
        decode(&payload).ok_or_else(|| corrupt(&self.path.0))
    }

    /// Live rows in the file.
    pub(super) fn live(&self) -> usize {
        self.count as usize - self.undone.len()
    }

    /// Deletes the file (rollback), reporting an error.
    pub(super) fn discard(self) -> Result<(), AssembleError> {
        let SpillFile { writer, path, .. } = self;
        drop(writer);
        // `path`'s own drop then finds nothing left to delete.
        fs::remove_file(&path.0).map_err(|e| spill_err(&path.0, "delete", e))
    }

    /// The rows in order, undone ones left out, as a stream; the file is deleted when the
    /// reader is dropped.
    pub(super) fn into_reader(self) -> Result<SpillReader, AssembleError> {
        let SpillFile {
            writer,
            count,
            undone,
            path,
            ..
        } = self;
        let mut file = writer
            .into_inner()
            .map_err(|e| spill_err(&path.0, "write", e.into_error()))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| spill_err(&path.0, "read", e))?;
        Ok(SpillReader {
            reader: BufReader::with_capacity(64 * 1024, file),
            next: 0,
            count,
            undone,
            buf: Vec::with_capacity(512),
            path,
        })
    }
}

/// A spill file read back in order.
#[derive(Debug)]
pub(super) struct SpillReader {
    reader: BufReader<File>,
    next: u32,
    count: u32,
    undone: HashSet<u32>,
    buf: Vec<u8>,
    path: Owned,
}

impl SpillReader {
    fn read_one(&mut self) -> Result<LogMinerRow, AssembleError> {
        let path = &self.path.0;
        let mut len = [0u8; 4];
        self.reader
            .read_exact(&mut len)
            .map_err(|e| spill_err(path, "read", e))?;
        let len = u32::from_le_bytes(len) as usize;
        self.buf.resize(len + 4, 0);
        self.reader
            .read_exact(&mut self.buf)
            .map_err(|e| spill_err(path, "read", e))?;
        decode(&self.buf[..len]).ok_or_else(|| corrupt(path))
    }
}

impl Iterator for SpillReader {
    type Item = Result<LogMinerRow, AssembleError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.next < self.count {
            let seq = self.next;
            self.next += 1;
            let row = self.read_one();
            if row.is_err() {
                self.next = self.count;
                return Some(row);
            }
            if !self.undone.contains(&seq) {
                return Some(row);
            }
        }
        None
    }
}

fn corrupt(path: &Path) -> AssembleError {
    spill_err(
        path,
        "decode",
        io::Error::new(
            io::ErrorKind::InvalidData,
            "a record does not decode (the file was changed by something else)",
        ),
    )
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

fn put_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Appends `row`'s payload to `out`.
pub(super) fn encode(row: &LogMinerRow, out: &mut Vec<u8>) {
    out.extend_from_slice(&row.scn.0.to_le_bytes());
    put_opt_u64(out, row.start_scn.map(|s| s.0));
    put_opt_u64(out, row.commit_scn.map(|s| s.0));
    out.extend_from_slice(&row.xid.0.to_le_bytes());
    out.extend_from_slice(&row.operation_code.to_le_bytes());
    put_opt_str(out, row.seg_owner.as_deref());
    put_opt_str(out, row.table_name.as_deref());
    put_opt_str(out, row.row_id.as_deref());
    put_opt_str(out, row.sql_redo.as_deref());
    out.push(u8::from(row.rollback));
    put_str(out, &row.rs_id);
    out.extend_from_slice(&row.ssn.to_le_bytes());
    out.push(u8::from(row.csf));
    put_opt_str(out, row.info.as_deref());
    out.extend_from_slice(&row.timestamp_ms.to_le_bytes());
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn opt_u64(&mut self) -> Option<Option<u64>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.u64()?)),
            _ => None,
        }
    }
    fn str(&mut self) -> Option<String> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
    fn opt_str(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.str()?)),
            _ => None,
        }
    }
    fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

/// Decodes one payload; `None` when it is not one.
pub(super) fn decode(payload: &[u8]) -> Option<LogMinerRow> {
    let mut c = Cursor(payload);
    let row = LogMinerRow {
        scn: Scn(c.u64()?),
        start_scn: c.opt_u64()?.map(Scn),
        commit_scn: c.opt_u64()?.map(Scn),
        xid: Xid(c.u64()?),
        operation_code: c.u32()? as i32,
        seg_owner: c.opt_str()?,
        table_name: c.opt_str()?,
        row_id: c.opt_str()?,
        sql_redo: c.opt_str()?,
        rollback: c.bool()?,
        rs_id: c.str()?,
        ssn: c.u32()?,
        csf: c.bool()?,
        info: c.opt_str()?,
        timestamp_ms: c.u64()? as i64,
    };
    c.0.is_empty().then_some(row)
}

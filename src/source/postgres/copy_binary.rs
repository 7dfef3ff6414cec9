//! Incremental parser for `COPY ... TO STDOUT (FORMAT binary)`, the snapshot's row source.
//!
//! The stream is a 19-byte header (signature `PGCOPY\n\xff\r\n\0`, an Int32 of flags, an Int32
//! header-extension length and the extension), then one tuple per row (an Int16 field count, and
//! per field an Int32 length, -1 for NULL, and the value's binary send form), then an Int16 -1
//! trailer. Chunks arrive cut anywhere. A row that lies inside one chunk becomes a `Row` over a
//! slice of that chunk (no copy); only a row that spans chunks is copied, once, into its own
//! buffer. Malformed input is a `CopyError`, never a panic.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::event::{Cell, Row};

/// The 11-byte signature that opens every binary COPY stream.
pub const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Signature, flags and extension length.
const HEADER_LEN: usize = 19;
/// Flag bits 16..31 are critical: a reader must reject any it does not know (bit 16 = OIDs,
/// which no supported server sends).
const CRITICAL_FLAGS: u32 = 0xFFFF_0000;

/// The bytes are not a well-formed binary COPY stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    #[error("binary COPY: bad signature")]
    BadSignature,
    #[error("binary COPY: unsupported header flags {0:#010x}")]
    UnsupportedFlags(u32),
    #[error("binary COPY: invalid {what} {value} at stream byte {at}")]
    Invalid {
        what: &'static str,
        value: i64,
        at: u64,
    },
    #[error("binary COPY: row of {0} bytes is too large")]
    RowTooLarge(usize),
    #[error("binary COPY: {0} bytes after the trailer")]
    TrailingData(usize),
    #[error("binary COPY: stream ended {0} bytes into an incomplete header or row")]
    Truncated(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Header,
    Rows,
    Finished,
}

/// What a scan of buffered bytes found at the current position.
enum Scan {
    /// A complete row of `len` bytes, with its cells if it was scanned in one contiguous buffer
    /// (`None`: it spans chunks).
    Row {
        len: usize,
        cells: Option<Vec<Cell>>,
    },
    Trailer,
    /// At least this many buffered bytes are needed to go on.
    NeedMore(usize),
}

/// Parses a binary COPY stream pushed in chunks of any size.
#[derive(Debug)]
pub struct CopyBinaryParser {
    chunks: VecDeque<Bytes>,
    buffered: usize,
    /// Do not rescan before this many bytes are buffered (a large row arriving in small chunks
    /// is scanned once per length it reveals, not once per chunk).
    need: usize,
    state: State,
    /// Stream bytes consumed so far, for error positions.
    consumed: u64,
}

impl Default for CopyBinaryParser {
    fn default() -> Self {
        Self::new()
    }
}

impl CopyBinaryParser {
    pub fn new() -> Self {
        CopyBinaryParser {
            chunks: VecDeque::new(),
            buffered: 0,
            need: HEADER_LEN,
            state: State::Header,
            consumed: 0,
        }
    }

    /// Adds the next chunk of the stream.
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.buffered += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Whether the trailer has been read.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// Checks, at the end of the input, that the stream was complete.
    pub fn finish(&self) -> Result<(), CopyError> {
        match (self.state, self.buffered) {
            (State::Finished, 0) => Ok(()),
            (State::Finished, n) => Err(CopyError::TrailingData(n)),
            (_, n) => Err(CopyError::Truncated(n)),
        }
    }

    /// The next complete row, or `None` until more input arrives (or after the trailer).
    pub fn next_row(&mut self) -> Result<Option<Row>, CopyError> {
        if self.state == State::Finished {
            return match self.buffered {
                0 => Ok(None),
                n => Err(CopyError::TrailingData(n)),
            };
        }
        if self.buffered < self.need {
            return Ok(None);
        }
        if self.state == State::Header && !self.header()? {
            return Ok(None);
        }
        self.row()
    }

    /// Consumes the header once it is buffered; `false` if more bytes are needed.
    fn header(&mut self) -> Result<bool, CopyError> {
        let mut fixed = [0u8; HEADER_LEN];
        if !self.peek(0, &mut fixed) {
            self.need = HEADER_LEN;
            return Ok(false);
        }
        let (sig, rest) = fixed.split_at(SIGNATURE.len());
        if sig != SIGNATURE {
            return Err(CopyError::BadSignature);
        }
        let (flags, ext) = rest.split_at(4);
        let flags = u32::from_be_bytes(flags.try_into().map_err(|_| CopyError::BadSignature)?);
        let ext = i32::from_be_bytes(ext.try_into().map_err(|_| CopyError::BadSignature)?);
        if flags & CRITICAL_FLAGS != 0 {
            return Err(CopyError::UnsupportedFlags(flags));
        }
        let ext = usize::try_from(ext)
            .map_err(|_| self.invalid("header extension length", ext.into(), 15))?;
        let total = HEADER_LEN + ext;
        if self.buffered < total {
            self.need = total;
            return Ok(false);
        }
        self.take(total);
        self.state = State::Rows;
        self.need = 2;
        Ok(true)
    }

    fn row(&mut self) -> Result<Option<Row>, CopyError> {
        let Some(front) = self.chunks.front() else {
            return Ok(None);
        };
        let scan = match scan_contiguous(front, self.consumed)? {
            Scan::NeedMore(_) if self.chunks.len() > 1 => self.scan_across()?,
            scan => scan,
        };
        match scan {
            Scan::Row {
                len,
                cells: Some(cells),
            } => Ok(Some(Row {
                buf: self.take(len),
                cells,
            })),
            Scan::Row { len, cells: None } => self.spanning_row(len).map(Some),
            Scan::Trailer => {
                self.take(2);
                self.state = State::Finished;
                self.next_row()
            }
            Scan::NeedMore(n) => {
                self.need = n;
                Ok(None)
            }
        }
    }

    /// Copies a row that spans chunks into one buffer, then scans it there.
    fn spanning_row(&mut self, len: usize) -> Result<Row, CopyError> {
        let at = self.consumed;
        let buf = self.take(len);
        match scan_contiguous(&buf, at)? {
            Scan::Row {
                len: n,
                cells: Some(cells),
            } if n == len => Ok(Row { buf, cells }),
            _ => Err(CopyError::Invalid {
                what: "row",
                value: len as i64,
                at,
            }),
        }
    }

    /// Finds the length of the row at the front when it spans chunks (cells are not built).
    fn scan_across(&self) -> Result<Scan, CopyError> {
        let mut pos = 0usize;
        let Some(count) = self.peek_i32::<2>(&mut pos) else {
            return Ok(Scan::NeedMore(2));
        };
        if count == -1 {
            return Ok(Scan::Trailer);
        }
        let fields =
            usize::try_from(count).map_err(|_| self.invalid("field count", count.into(), 0))?;
        for _ in 0..fields {
            let at = pos;
            let Some(len) = self.peek_i32::<4>(&mut pos) else {
                return Ok(Scan::NeedMore(pos + 4));
            };
            if len < -1 {
                return Err(self.invalid("field length", len.into(), at));
            }
            pos += usize::try_from(len).unwrap_or(0);
            if pos > self.buffered {
                return Ok(Scan::NeedMore(pos));
            }
        }
        row_len_checked(pos)?;
        Ok(Scan::Row {
            len: pos,
            cells: None,
        })
    }

    /// Reads a big-endian integer of `N` (2 or 4) bytes at `*pos` across chunks.
    fn peek_i32<const N: usize>(&self, pos: &mut usize) -> Option<i32> {
        let mut b = [0u8; N];
        if !self.peek(*pos, &mut b) {
            return None;
        }
        *pos += N;
        Some(match b.as_slice() {
            [hi, lo] => i32::from(i16::from_be_bytes([*hi, *lo])),
            [a, b, c, d] => i32::from_be_bytes([*a, *b, *c, *d]),
            _ => return None,
        })
    }

    /// Copies buffered bytes at `offset` into `out`; `false` if not all are buffered yet.
    fn peek(&self, mut offset: usize, out: &mut [u8]) -> bool {
        let mut filled = 0;
        for chunk in &self.chunks {
            if offset >= chunk.len() {
                offset -= chunk.len();
                continue;
            }
            let avail = chunk.get(offset..).unwrap_or_default();
            let n = avail.len().min(out.len() - filled);
            if let (Some(dst), Some(src)) = (out.get_mut(filled..filled + n), avail.get(..n)) {
                dst.copy_from_slice(src);
            }
            filled += n;
            offset = 0;
            if filled == out.len() {
                return true;
            }
        }
        filled == out.len()
    }

    /// Removes the next `len` buffered bytes (`len <= buffered`): a slice of the front chunk
    /// if it holds them all, else a copy.
    fn take(&mut self, len: usize) -> Bytes {
        self.buffered -= len;
        self.consumed += len as u64;
        self.need = 2;
        if let Some(front) = self.chunks.front_mut() {
            // The usual case: PostgreSQL sends each row in a CopyData message of its own.
            if front.len() == len {
                return self.chunks.pop_front().unwrap_or_default();
            }
            if front.len() > len {
                return front.split_to(len);
            }
        }
        let mut out = BytesMut::with_capacity(len);
        while out.len() < len {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let n = front.len().min(len - out.len());
            out.extend_from_slice(front.get(..n).unwrap_or_default());
            front.advance(n);
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
        out.freeze()
    }

    fn invalid(&self, what: &'static str, value: i64, offset: usize) -> CopyError {
        CopyError::Invalid {
            what,
            value,
            at: self.consumed + offset as u64,
        }
    }
}

/// Scans the row at the start of `buf`, building its cells, if it lies wholly in `buf`.
/// `at` is the stream offset of `buf`, for errors.
fn scan_contiguous(buf: &[u8], at: u64) -> Result<Scan, CopyError> {
    let invalid = |what, value: i32, off: usize| CopyError::Invalid {
        what,
        value: value.into(),
        at: at + off as u64,
    };
    let Some(count) = read_be::<2>(buf, 0).map(i16::from_be_bytes) else {
        return Ok(Scan::NeedMore(2));
    };
    if count == -1 {
        return Ok(Scan::Trailer);
    }
    let fields = usize::try_from(count).map_err(|_| invalid("field count", count.into(), 0))?;
    let mut cells = Vec::with_capacity(fields.min(buf.len() / 4 + 1));
    let mut pos = 2usize;
    for _ in 0..fields {
        let Some(len) = read_be::<4>(buf, pos).map(i32::from_be_bytes) else {
            return Ok(Scan::NeedMore(pos + 4));
        };
        if len < -1 {
            return Err(invalid("field length", len, pos));
        }
        pos += 4;
        if len == -1 {
            cells.push(Cell::Null);
            continue;
        }
        let start = row_len_checked(pos)?;
        let len = len.unsigned_abs();
        pos += len as usize;
        if pos > buf.len() {
            return Ok(Scan::NeedMore(pos));
        }
        cells.push(Cell::Binary { start, len });
    }
    row_len_checked(pos)?;
    Ok(Scan::Row {
        len: pos,
        cells: Some(cells),
    })
}

fn read_be<const N: usize>(buf: &[u8], pos: usize) -> Option<[u8; N]> {
    buf.get(pos..pos.checked_add(N)?)?.try_into().ok()
}

/// Cell offsets are 32-bit: a row must fit.
fn row_len_checked(len: usize) -> Result<u32, CopyError> {
    u32::try_from(len).map_err(|_| CopyError::RowTooLarge(len))
}

#[cfg(test)]
mod tests;

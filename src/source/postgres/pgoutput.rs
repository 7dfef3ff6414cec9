//! The pgoutput logical replication protocol (versions 1 to 4), decoded without copying row data.
//!
//! One XLogData payload holds one message (`protocol-logicalrep-message-formats`). Row images
//! become `Row`s over the payload itself: the `Bytes` is shared (a reference count), and each
//! column is a `Cell` offset into it, so decoding a change allocates only its cell list.
//!
//! Inside a streamed transaction (between Stream Start and Stream Stop, protocol 2+), data
//! messages carry the transaction's xid right after their tag; the caller knows whether it is
//! inside a stream and says so with `in_stream`. The message itself cannot tell.
//!
//! The input comes from the network: every read is bounds-checked, lengths are validated, a
//! message must be consumed exactly, and anything else is a `DecodeError` saying what was being
//! read and at which byte. Nothing here panics.

use bytes::Bytes;

use crate::event::{Cell, Row};
use crate::position::Lsn;
use crate::value::PG_EPOCH_UNIX_MICROS;

/// One decoded pgoutput message.
#[derive(Clone, Debug, PartialEq)]
pub enum PgOutputMessage {
    Begin {
        final_lsn: Lsn,
        commit_time_us: i64,
        xid: u32,
    },
    Commit {
        flags: u8,
        commit_lsn: Lsn,
        end_lsn: Lsn,
        commit_time_us: i64,
    },
    Origin {
        lsn: Lsn,
        name: String,
    },
    Relation(RelationBody),
    Type {
        xid: Option<u32>,
        oid: u32,
        namespace: String,
        name: String,
    },
    Insert {
        xid: Option<u32>,
        rel: u32,
        new: Row,
    },
    Update {
        xid: Option<u32>,
        rel: u32,
        old: Option<OldImage>,
        new: Row,
    },
    Delete {
        xid: Option<u32>,
        rel: u32,
        old: OldImage,
    },
    Truncate {
        xid: Option<u32>,
        cascade: bool,
        restart_identity: bool,
        rels: Vec<u32>,
    },
    /// A logical decoding message (`pg_logical_emit_message`); `content` shares the payload.
    Message {
        xid: Option<u32>,
        transactional: bool,
        lsn: Lsn,
        prefix: String,
        content: Bytes,
    },
    StreamStart {
        xid: u32,
        first_segment: bool,
    },
    StreamStop,
    StreamCommit {
        xid: u32,
        flags: u8,
        commit_lsn: Lsn,
        end_lsn: Lsn,
        commit_time_us: i64,
    },
    /// A streamed (sub)transaction was aborted. Protocol 4 with `streaming = parallel` appends
    /// the abort LSN and time; they are accepted and not exposed.
    StreamAbort {
        xid: u32,
        subxid: u32,
    },
}

/// A Relation message: the table's description as the walsender sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelationBody {
    /// Present inside a streamed transaction.
    pub xid: Option<u32>,
    pub oid: u32,
    pub namespace: String,
    pub name: String,
    /// `relreplident`: `d` default, `n` nothing, `f` full, `i` index.
    pub replica_identity: u8,
    pub columns: Vec<RelationColumn>,
}

/// One column of a Relation message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelationColumn {
    /// Part of the replica identity (every column under REPLICA IDENTITY FULL).
    pub is_key: bool,
    pub name: String,
    pub type_oid: u32,
    pub typmod: i32,
}

/// Which old image an Update or Delete carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OldImageKind {
    /// `K`: the replica identity (key) columns only; the others are NULL.
    Key,
    /// `O`: the whole old row (REPLICA IDENTITY FULL).
    Full,
}

/// The old row image of an Update or Delete.
#[derive(Clone, Debug, PartialEq)]
pub struct OldImage {
    pub kind: OldImageKind,
    pub row: Row,
}

impl OldImage {
    /// Whether this is the whole old row (REPLICA IDENTITY FULL).
    pub fn is_full(&self) -> bool {
        self.kind == OldImageKind::Full
    }
}

/// A payload that is not a well-formed pgoutput message (or replication frame).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty {message} message")]
    Empty { message: &'static str },
    #[error("{message} message truncated while reading {what} at byte {at}")]
    Truncated {
        message: &'static str,
        what: &'static str,
        at: usize,
    },
    #[error("{message} message: unknown {what} {tag:#04x} at byte {at}")]
    UnknownTag {
        message: &'static str,
        what: &'static str,
        tag: u8,
        at: usize,
    },
    #[error("{message} message: invalid {what} {value} at byte {at}")]
    Invalid {
        message: &'static str,
        what: &'static str,
        value: i64,
        at: usize,
    },
    #[error("{message} message: {what} is not valid UTF-8 at byte {at}")]
    InvalidUtf8 {
        message: &'static str,
        what: &'static str,
        at: usize,
    },
    #[error("{message} message: {extra} unexpected trailing bytes at byte {at}")]
    TrailingBytes {
        message: &'static str,
        extra: usize,
        at: usize,
    },
}

/// Decodes one pgoutput message from an XLogData payload.
///
/// `in_stream`: the message arrived between Stream Start and Stream Stop, so data messages carry
/// an xid.
pub fn decode(payload: &Bytes, in_stream: bool) -> Result<PgOutputMessage, DecodeError> {
    let Some(&tag) = payload.first() else {
        return Err(DecodeError::Empty {
            message: "pgoutput",
        });
    };
    let mut c = Cursor::new(payload, message_name(tag));
    c.pos = 1;
    let msg = match tag {
        b'B' => begin(&mut c)?,
        b'C' => commit(&mut c)?,
        b'O' => PgOutputMessage::Origin {
            lsn: c.lsn("origin LSN")?,
            name: c.cstr("origin name")?,
        },
        b'R' => relation(&mut c, in_stream)?,
        b'Y' => type_message(&mut c, in_stream)?,
        b'I' => insert(&mut c, in_stream)?,
        b'U' => update(&mut c, in_stream)?,
        b'D' => delete(&mut c, in_stream)?,
        b'T' => truncate(&mut c, in_stream)?,
        b'M' => logical_message(&mut c, in_stream)?,
        b'S' => stream_start(&mut c)?,
        b'E' => PgOutputMessage::StreamStop,
        b'c' => stream_commit(&mut c)?,
        b'A' => stream_abort(&mut c)?,
        _ => {
            return Err(DecodeError::UnknownTag {
                message: "pgoutput",
                what: "tag",
                tag,
                at: 0,
            })
        }
    };
    c.finish()?;
    Ok(msg)
}

fn message_name(tag: u8) -> &'static str {
    match tag {
        b'B' => "Begin",
        b'C' => "Commit",
        b'O' => "Origin",
        b'R' => "Relation",
        b'Y' => "Type",
        b'I' => "Insert",
        b'U' => "Update",
        b'D' => "Delete",
        b'T' => "Truncate",
        b'M' => "Message",
        b'S' => "Stream Start",
        b'E' => "Stream Stop",
        b'c' => "Stream Commit",
        b'A' => "Stream Abort",
        _ => "pgoutput",
    }
}

/// A PostgreSQL timestamp (µs since 2000-01-01) as µs since the Unix epoch.
pub fn pg_to_unix_micros(pg: i64) -> i64 {
    pg.saturating_add(PG_EPOCH_UNIX_MICROS)
}

fn begin(c: &mut Cursor<'_>) -> Result<PgOutputMessage, DecodeError> {
    let final_lsn = c.lsn("final LSN")?;
    let commit_time_us = c.time("commit time")?;
    let xid = c.u32("xid")?;
    Ok(PgOutputMessage::Begin {
        final_lsn,
        commit_time_us,
        xid,
    })
}

fn commit(c: &mut Cursor<'_>) -> Result<PgOutputMessage, DecodeError> {
    let flags = c.u8("flags")?;
    let commit_lsn = c.lsn("commit LSN")?;
    let end_lsn = c.lsn("end LSN")?;
    let commit_time_us = c.time("commit time")?;
    Ok(PgOutputMessage::Commit {
        flags,
        commit_lsn,
        end_lsn,
        commit_time_us,
    })
}

fn stream_xid(c: &mut Cursor<'_>, in_stream: bool) -> Result<Option<u32>, DecodeError> {
    in_stream.then(|| c.u32("xid")).transpose()
}

fn relation(c: &mut Cursor<'_>, in_stream: bool) -> Result<PgOutputMessage, DecodeError> {
    let xid = stream_xid(c, in_stream)?;
    let oid = c.u32("relation OID")?;
    let namespace = c.cstr("namespace")?;
    let name = c.cstr("relation name")?;
    let replica_identity = c.u8("replica identity")?;
    let ncols = c.count16("column count", 7)?;
    let mut columns = Vec::with_capacity(ncols);
    for _ in 0..ncols {
        let flags = c.u8("column flags")?;
        let name = c.cstr("column name")?;
        let type_oid = c.u32("column type OID")?;
        let typmod = c.i32("column type modifier")?;
        columns.push(RelationColumn {
            is_key: flags & 1 != 0,
            name,
            type_oid,
            typmod,
        });
    }
    let body = RelationBody {
        xid,
        oid,
        namespace,
        name,
        replica_identity,
        columns,
    };
    Ok(PgOutputMessage::Relation(body))
}

fn type_message(c: &mut Cursor<'_>, in_stream: bool) -> Result<PgOutputMessage, DecodeError> {
    let xid = stream_xid(c, in_stream)?;
    let oid = c.u32("type OID")?;
    let namespace = c.cstr("namespace")?;
    let name = c.cstr("type name")?;
    Ok(PgOutputMessage::Type {
        xid,
        oid,
        namespace,
        name,
    })
}

fn insert(c: &mut Cursor<'_>, in_stream: bool) -> Result<PgOutputMessage, DecodeError> {
    let xid = stream_xid(c, in_stream)?;
    let rel = c.u32("relation OID")?;
    c.expect(b'N', "new tuple marker")?;
    let new = c.tuple()?;
    Ok(PgOutputMessage::Insert { xid, rel, new })
}

fn update(c: &mut Cursor<'_>, in_stream: bool) -> Result<PgOutputMessage, DecodeError> {
    let xid = stream_xid(c, in_stream)?;
    let rel = c.u32("relation OID")?;
    let at = c.pos;
    let old = match c.u8("tuple marker")? {
        b'N' => None,
        b'K' | b'O' => {
            let old = old_image(c, at)?;
            c.expect(b'N', "new tuple marker")?;
            Some(old)
        }
        tag => return Err(c.unknown(tag, "tuple marker", at)),
    };
    let new = c.tuple()?;
    Ok(PgOutputMessage::Update { xid, rel, old, new })
}

fn delete(c: &mut Cursor<'_>, in_stream: bool) -> Result<PgOutputMessage, DecodeError> {
    let xid = stream_xid(c, in_stream)?;
    let rel = c.u32("relation OID")?;
    let at = c.pos;
    c.u8("old tuple marker")?;
    let old = old_image(c, at)?;
    Ok(PgOutputMessage::Delete { xid, rel, old })
}

/// The old tuple whose marker (`K` or `O`) is at byte `at`.
fn old_image(c: &mut Cursor<'_>, at: usize) -> Result<OldImage, DecodeError> {
    let kind = match c.buf.get(at) {
        Some(b'K') => OldImageKind::Key,
        Some(b'O') => OldImageKind::Full,
        Some(&tag) => return Err(c.unknown(tag, "old tuple marker", at)),
        None => return Err(c.truncated("old tuple marker")),
    };
    Ok(OldImage {
        kind,
        row: c.tuple()?,
    })
}

fn truncate(c: &mut Cursor<'_>, in_stream: bool) -> Result<PgOutputMessage, DecodeError> {
    let xid = stream_xid(c, in_stream)?;
    let at = c.pos;
    let nrels = c.i32("relation count")?;
    let options = c.u8("options")?;
    let n = usize::try_from(nrels).map_err(|_| c.invalid("relation count", nrels.into(), at))?;
    if n > c.remaining() / 4 {
        return Err(c.truncated("relation OIDs"));
    }
    let rels = (0..n)
        .map(|_| c.u32("relation OID"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PgOutputMessage::Truncate {
        xid,
        cascade: options & 1 != 0,
        restart_identity: options & 2 != 0,
        rels,
    })
}

fn logical_message(c: &mut Cursor<'_>, in_stream: bool) -> Result<PgOutputMessage, DecodeError> {
    let xid = stream_xid(c, in_stream)?;
    let transactional = c.u8("flags")? & 1 != 0;
    let lsn = c.lsn("message LSN")?;
    let prefix = c.cstr("prefix")?;
    let (start, len) = c.sized("content")?;
    let content = c.payload.slice(start..start + len);
    Ok(PgOutputMessage::Message {
        xid,
        transactional,
        lsn,
        prefix,
        content,
    })
}

fn stream_start(c: &mut Cursor<'_>) -> Result<PgOutputMessage, DecodeError> {
    let xid = c.u32("xid")?;
    let first_segment = c.u8("first segment flag")? == 1;
    Ok(PgOutputMessage::StreamStart { xid, first_segment })
}

fn stream_commit(c: &mut Cursor<'_>) -> Result<PgOutputMessage, DecodeError> {
    let xid = c.u32("xid")?;
    let flags = c.u8("flags")?;
    let commit_lsn = c.lsn("commit LSN")?;
    let end_lsn = c.lsn("end LSN")?;
    let commit_time_us = c.time("commit time")?;
    Ok(PgOutputMessage::StreamCommit {
        xid,
        flags,
        commit_lsn,
        end_lsn,
        commit_time_us,
    })
}

fn stream_abort(c: &mut Cursor<'_>) -> Result<PgOutputMessage, DecodeError> {
    let xid = c.u32("xid")?;
    let subxid = c.u32("subtransaction xid")?;
    if c.remaining() == 16 {
        c.lsn("abort LSN")?;
        c.time("abort time")?;
    }
    Ok(PgOutputMessage::StreamAbort { xid, subxid })
}

/// A bounds-checked reader over one message, naming the message in its errors.
pub(super) struct Cursor<'a> {
    payload: &'a Bytes,
    buf: &'a [u8],
    pub(super) pos: usize,
    message: &'static str,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(payload: &'a Bytes, message: &'static str) -> Self {
        Cursor {
            payload,
            buf: payload.as_ref(),
            pos: 0,
            message,
        }
    }

    pub(super) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn truncated(&self, what: &'static str) -> DecodeError {
        DecodeError::Truncated {
            message: self.message,
            what,
            at: self.pos,
        }
    }

    fn unknown(&self, tag: u8, what: &'static str, at: usize) -> DecodeError {
        DecodeError::UnknownTag {
            message: self.message,
            what,
            tag,
            at,
        }
    }

    fn invalid(&self, what: &'static str, value: i64, at: usize) -> DecodeError {
        DecodeError::Invalid {
            message: self.message,
            what,
            value,
            at,
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| self.truncated(what))?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.truncated(what))?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, what)?;
        bytes.try_into().map_err(|_| self.truncated(what))
    }

    pub(super) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        self.array::<1>(what).map(|[b]| b)
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, DecodeError> {
        self.array(what).map(i16::from_be_bytes)
    }

    pub(super) fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        self.array(what).map(i32::from_be_bytes)
    }

    pub(super) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.array(what).map(u32::from_be_bytes)
    }

    pub(super) fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        self.array(what).map(i64::from_be_bytes)
    }

    pub(super) fn lsn(&mut self, what: &'static str) -> Result<Lsn, DecodeError> {
        self.array(what).map(|b| Lsn(u64::from_be_bytes(b)))
    }

    /// A PostgreSQL timestamp, returned as µs since the Unix epoch.
    pub(super) fn time(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        self.i64(what).map(pg_to_unix_micros)
    }

    fn expect(&mut self, want: u8, what: &'static str) -> Result<(), DecodeError> {
        let at = self.pos;
        match self.u8(what)? {
            b if b == want => Ok(()),
            b => Err(self.unknown(b, what, at)),
        }
    }

    /// A non-negative Int16 count, bounded by the bytes left (each item takes `min_size`).
    fn count16(&mut self, what: &'static str, min_size: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.i16(what)?;
        let n = usize::try_from(n).map_err(|_| self.invalid(what, n.into(), at))?;
        if n.saturating_mul(min_size) > self.remaining() {
            return Err(self.truncated(what));
        }
        Ok(n)
    }

    /// An Int32 length and that many bytes: their start and length.
    fn sized(&mut self, what: &'static str) -> Result<(usize, usize), DecodeError> {
        let at = self.pos;
        let len = self.i32(what)?;
        let len = usize::try_from(len).map_err(|_| self.invalid(what, len.into(), at))?;
        let start = self.pos;
        self.take(len, what)?;
        Ok((start, len))
    }

    /// A NUL-terminated UTF-8 string.
    pub(super) fn cstr(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| self.truncated(what))?;
        let at = self.pos;
        let bytes = self.take(len, what)?;
        self.pos += 1;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8 {
                message: self.message,
                what,
                at,
            })
    }

    /// TupleData: an Int16 column count, then per column `n`, `u`, or `t`/`b` with a length.
    fn tuple(&mut self) -> Result<Row, DecodeError> {
        let n = self.count16("tuple column count", 1)?;
        let mut cells = Vec::with_capacity(n);
        for _ in 0..n {
            cells.push(self.cell()?);
        }
        Ok(Row {
            buf: self.payload.clone(),
            cells,
        })
    }

    fn cell(&mut self) -> Result<Cell, DecodeError> {
        let at = self.pos;
        let kind = self.u8("column kind")?;
        if !matches!(kind, b'n' | b'u' | b't' | b'b') {
            return Err(self.unknown(kind, "column kind", at));
        }
        if kind == b'n' {
            return Ok(Cell::Null);
        }
        if kind == b'u' {
            return Ok(Cell::Unchanged);
        }
        let (start, len) = self.sized("column value")?;
        let too_big = |_| self.invalid("column offset", i64::MAX, start);
        let (start, len) = (
            u32::try_from(start).map_err(too_big)?,
            u32::try_from(len).map_err(too_big)?,
        );
        Ok(if kind == b't' {
            Cell::Text { start, len }
        } else {
            Cell::Binary { start, len }
        })
    }

    pub(super) fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes {
                message: self.message,
                extra,
                at: self.pos,
            }),
        }
    }

    /// The rest of the payload, shared (no copy).
    pub(super) fn rest(&mut self) -> Bytes {
        let start = self.pos.min(self.buf.len());
        self.pos = self.buf.len();
        self.payload.slice(start..)
    }
}

#[cfg(test)]
mod tests;

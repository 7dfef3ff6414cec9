//! pgoutput messages built by hand, byte by byte as the walsender writes them.

use super::*;

const PG_TIME: i64 = 758_000_000_000_000; // 2024-01-08 03:33:20 UTC, in µs since 2000

/// A message under construction.
#[derive(Default)]
pub(crate) struct Msg(pub(crate) Vec<u8>);

impl Msg {
    pub(crate) fn tag(t: u8) -> Msg {
        Msg(vec![t])
    }
    pub(crate) fn u8(mut self, v: u8) -> Msg {
        self.0.push(v);
        self
    }
    pub(crate) fn i16(mut self, v: i16) -> Msg {
        self.0.extend(v.to_be_bytes());
        self
    }
    pub(crate) fn i32(mut self, v: i32) -> Msg {
        self.0.extend(v.to_be_bytes());
        self
    }
    pub(crate) fn i64(mut self, v: i64) -> Msg {
        self.0.extend(v.to_be_bytes());
        self
    }
    pub(crate) fn cstr(mut self, s: &str) -> Msg {
        self.0.extend(s.as_bytes());
        self.0.push(0);
        self
    }
    pub(crate) fn raw(mut self, b: &[u8]) -> Msg {
        self.0.extend(b);
        self
    }
    pub(crate) fn bytes(self) -> Bytes {
        Bytes::from(self.0)
    }
}

/// A tuple of: NULL, unchanged, text "42", binary int4 7.
fn tuple(m: Msg) -> Msg {
    m.i16(4)
        .u8(b'n')
        .u8(b'u')
        .u8(b't')
        .i32(2)
        .raw(b"42")
        .u8(b'b')
        .i32(4)
        .i32(7)
}

fn check_tuple(row: &Row) {
    assert_eq!(row.cells.len(), 4);
    assert_eq!(row.cells[0], Cell::Null);
    assert_eq!(row.cells[1], Cell::Unchanged);
    assert_eq!(row.bytes(row.cells[2]), Some(&b"42"[..]));
    assert!(matches!(row.cells[2], Cell::Text { .. }));
    assert_eq!(row.bytes(row.cells[3]), Some(&[0, 0, 0, 7][..]));
    assert!(matches!(row.cells[3], Cell::Binary { .. }));
}

pub(crate) fn valid_messages() -> Vec<(Bytes, bool)> {
    let rel = Msg::tag(b'R')
        .i32(16385)
        .cstr("public")
        .cstr("t")
        .u8(b'd')
        .i16(2);
    let rel = rel
        .u8(1)
        .cstr("id")
        .i32(23)
        .i32(-1)
        .u8(0)
        .cstr("n")
        .i32(1700)
        .i32(0x000C_0006);
    vec![
        (
            Msg::tag(b'B').i64(0x16B_3748).i64(PG_TIME).i32(750).bytes(),
            false,
        ),
        (
            Msg::tag(b'C')
                .u8(0)
                .i64(0x16B_3748)
                .i64(0x16B_3780)
                .i64(PG_TIME)
                .bytes(),
            false,
        ),
        (Msg::tag(b'O').i64(0x100).cstr("node_a").bytes(), false),
        (rel.bytes(), false),
        (
            Msg::tag(b'Y')
                .i32(750)
                .i32(16400)
                .cstr("public")
                .cstr("mood")
                .bytes(),
            true,
        ),
        (tuple(Msg::tag(b'I').i32(16385).u8(b'N')).bytes(), false),
        (
            tuple(tuple(Msg::tag(b'U').i32(16385).u8(b'O')).u8(b'N')).bytes(),
            false,
        ),
        (
            tuple(Msg::tag(b'D').i32(750).i32(16385).u8(b'K')).bytes(),
            true,
        ),
        (
            Msg::tag(b'T').i32(2).u8(3).i32(16385).i32(16390).bytes(),
            false,
        ),
        (
            Msg::tag(b'M')
                .u8(1)
                .i64(0x200)
                .cstr("app")
                .i32(3)
                .raw(b"abc")
                .bytes(),
            false,
        ),
        (Msg::tag(b'S').i32(750).u8(1).bytes(), false),
        (Msg::tag(b'E').bytes(), false),
        (
            Msg::tag(b'c')
                .i32(750)
                .u8(0)
                .i64(0x300)
                .i64(0x380)
                .i64(PG_TIME)
                .bytes(),
            false,
        ),
        (Msg::tag(b'A').i32(750).i32(751).bytes(), false),
    ]
}

#[test]
fn every_valid_message_decodes() {
    for (m, in_stream) in valid_messages() {
        decode(&m, in_stream).unwrap_or_else(|e| panic!("{e} for {m:?}"));
    }
}

#[test]
fn begin_and_commit() {
    let unix = PG_TIME + PG_EPOCH_UNIX_MICROS;
    let m = Msg::tag(b'B').i64(0x16B_3748).i64(PG_TIME).i32(750).bytes();
    let want = PgOutputMessage::Begin {
        final_lsn: Lsn(0x16B_3748),
        commit_time_us: unix,
        xid: 750,
    };
    assert_eq!(decode(&m, false), Ok(want));
    let m = Msg::tag(b'C')
        .u8(0)
        .i64(0x10)
        .i64(0x20)
        .i64(PG_TIME)
        .bytes();
    let want = PgOutputMessage::Commit {
        flags: 0,
        commit_lsn: Lsn(0x10),
        end_lsn: Lsn(0x20),
        commit_time_us: unix,
    };
    assert_eq!(decode(&m, false), Ok(want));
}

#[test]
fn origin_relation_and_type() {
    let m = Msg::tag(b'O').i64(0x100).cstr("node_a").bytes();
    let want = PgOutputMessage::Origin {
        lsn: Lsn(0x100),
        name: "node_a".into(),
    };
    assert_eq!(decode(&m, false), Ok(want));
    let (rel, _) = valid_messages().swap_remove(3);
    let PgOutputMessage::Relation(body) = decode(&rel, false).unwrap() else {
        panic!("relation")
    };
    assert_eq!(
        (
            body.xid,
            body.oid,
            body.namespace.as_str(),
            body.name.as_str()
        ),
        (None, 16385, "public", "t")
    );
    assert_eq!(body.replica_identity, b'd');
    let id = RelationColumn {
        is_key: true,
        name: "id".into(),
        type_oid: 23,
        typmod: -1,
    };
    let n = RelationColumn {
        is_key: false,
        name: "n".into(),
        type_oid: 1700,
        typmod: 0x000C_0006,
    };
    assert_eq!(body.columns, vec![id, n]);
    let m = Msg::tag(b'Y')
        .i32(750)
        .i32(16400)
        .cstr("public")
        .cstr("mood")
        .bytes();
    let want = PgOutputMessage::Type {
        xid: Some(750),
        oid: 16400,
        namespace: "public".into(),
        name: "mood".into(),
    };
    assert_eq!(decode(&m, true), Ok(want));
    // The same bytes outside a stream have 4 bytes too many: the xid is taken as the OID.
    assert!(decode(&m, false).is_err());
}

#[test]
fn insert_shares_the_payload() {
    let m = tuple(Msg::tag(b'I').i32(16385).u8(b'N')).bytes();
    let PgOutputMessage::Insert { xid, rel, new } = decode(&m, false).unwrap() else {
        panic!("insert")
    };
    assert_eq!((xid, rel), (None, 16385));
    check_tuple(&new);
    assert_eq!(new.buf.as_ptr(), m.as_ptr(), "no copy of the payload");
}

#[test]
fn updates_with_and_without_old_images() {
    let m = tuple(Msg::tag(b'U').i32(1).u8(b'N')).bytes();
    let PgOutputMessage::Update { old, new, .. } = decode(&m, false).unwrap() else {
        panic!()
    };
    assert!(old.is_none());
    check_tuple(&new);
    for (marker, kind) in [(b'K', OldImageKind::Key), (b'O', OldImageKind::Full)] {
        let m = tuple(tuple(Msg::tag(b'U').i32(9).i32(1).u8(marker)).u8(b'N')).bytes();
        let PgOutputMessage::Update { xid, old, new, .. } = decode(&m, true).unwrap() else {
            panic!()
        };
        assert_eq!(xid, Some(9));
        let old = old.unwrap();
        assert_eq!(old.kind, kind);
        assert_eq!(old.is_full(), kind == OldImageKind::Full);
        check_tuple(&old.row);
        check_tuple(&new);
    }
    let bad = tuple(Msg::tag(b'U').i32(1).u8(b'X')).bytes();
    assert!(matches!(
        decode(&bad, false),
        Err(DecodeError::UnknownTag {
            at: 5,
            tag: b'X',
            ..
        })
    ));
    // An old image must be followed by the new one.
    let bad = tuple(Msg::tag(b'U').i32(1).u8(b'K')).bytes();
    assert!(decode(&bad, false).is_err());
}

#[test]
fn deletes() {
    let m = tuple(Msg::tag(b'D').i32(16385).u8(b'O')).bytes();
    let PgOutputMessage::Delete { xid, rel, old } = decode(&m, false).unwrap() else {
        panic!()
    };
    assert_eq!((xid, rel, old.kind), (None, 16385, OldImageKind::Full));
    check_tuple(&old.row);
    let bad = tuple(Msg::tag(b'D').i32(16385).u8(b'N')).bytes();
    assert!(decode(&bad, false).is_err());
}

#[test]
fn truncate_and_logical_messages() {
    let m = Msg::tag(b'T')
        .i32(750)
        .i32(2)
        .u8(2)
        .i32(16385)
        .i32(16390)
        .bytes();
    let want = PgOutputMessage::Truncate {
        xid: Some(750),
        cascade: false,
        restart_identity: true,
        rels: vec![16385, 16390],
    };
    assert_eq!(decode(&m, true), Ok(want));
    let bad = Msg::tag(b'T').i32(-1).u8(0).bytes();
    assert!(matches!(
        decode(&bad, false),
        Err(DecodeError::Invalid { value: -1, .. })
    ));
    let bad = Msg::tag(b'T').i32(1_000_000).u8(0).i32(1).bytes();
    assert!(decode(&bad, false).is_err());
    let m = Msg::tag(b'M')
        .u8(1)
        .i64(0x200)
        .cstr("app")
        .i32(3)
        .raw(b"abc")
        .bytes();
    let PgOutputMessage::Message {
        xid,
        transactional,
        lsn,
        prefix,
        content,
    } = decode(&m, false).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (xid, transactional, lsn, prefix.as_str()),
        (None, true, Lsn(0x200), "app")
    );
    assert_eq!(&content[..], b"abc");
}

#[test]
fn streaming_messages() {
    let m = Msg::tag(b'S').i32(750).u8(1).bytes();
    let want = PgOutputMessage::StreamStart {
        xid: 750,
        first_segment: true,
    };
    assert_eq!(decode(&m, false), Ok(want));
    assert_eq!(
        decode(&Msg::tag(b'E').bytes(), true),
        Ok(PgOutputMessage::StreamStop)
    );
    let m = Msg::tag(b'c')
        .i32(750)
        .u8(0)
        .i64(0x300)
        .i64(0x380)
        .i64(PG_TIME)
        .bytes();
    let want = PgOutputMessage::StreamCommit {
        xid: 750,
        flags: 0,
        commit_lsn: Lsn(0x300),
        end_lsn: Lsn(0x380),
        commit_time_us: PG_TIME + PG_EPOCH_UNIX_MICROS,
    };
    assert_eq!(decode(&m, false), Ok(want));
    let want = PgOutputMessage::StreamAbort {
        xid: 750,
        subxid: 751,
    };
    assert_eq!(
        decode(&Msg::tag(b'A').i32(750).i32(751).bytes(), false),
        Ok(want.clone())
    );
    // Protocol 4, streaming = parallel: abort LSN and time follow.
    let m = Msg::tag(b'A')
        .i32(750)
        .i32(751)
        .i64(0x400)
        .i64(PG_TIME)
        .bytes();
    assert_eq!(decode(&m, false), Ok(want));
    let m = Msg::tag(b'A').i32(750).i32(751).i32(1).bytes();
    assert!(matches!(
        decode(&m, false),
        Err(DecodeError::TrailingBytes { extra: 4, .. })
    ));
}

#[test]
fn malformed_messages_are_errors() {
    assert!(matches!(
        decode(&Bytes::new(), false),
        Err(DecodeError::Empty { .. })
    ));
    let unknown = Msg::tag(b'Z').bytes();
    assert!(matches!(
        decode(&unknown, false),
        Err(DecodeError::UnknownTag { tag: b'Z', .. })
    ));
    let truncated = Msg::tag(b'B').i64(1).bytes();
    let err = decode(&truncated, false).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Truncated {
            message: "Begin",
            what: "commit time",
            at: 9
        }
    );
    assert_eq!(
        err.to_string(),
        "Begin message truncated while reading commit time at byte 9"
    );
    let trailing = Msg::tag(b'E').u8(0).bytes();
    assert!(matches!(
        decode(&trailing, false),
        Err(DecodeError::TrailingBytes { .. })
    ));
    let negative = Msg::tag(b'I')
        .i32(1)
        .u8(b'N')
        .i16(1)
        .u8(b't')
        .i32(-5)
        .bytes();
    assert!(matches!(
        decode(&negative, false),
        Err(DecodeError::Invalid { value: -5, .. })
    ));
    let long = Msg::tag(b'I')
        .i32(1)
        .u8(b'N')
        .i16(1)
        .u8(b't')
        .i32(100)
        .raw(b"x")
        .bytes();
    assert!(matches!(
        decode(&long, false),
        Err(DecodeError::Truncated { .. })
    ));
    let kind = Msg::tag(b'I').i32(1).u8(b'N').i16(1).u8(b'x').bytes();
    assert!(matches!(
        decode(&kind, false),
        Err(DecodeError::UnknownTag { tag: b'x', .. })
    ));
    let cols = Msg::tag(b'I').i32(1).u8(b'N').i16(-1).bytes();
    assert!(decode(&cols, false).is_err());
    let unterminated = Msg::tag(b'O').i64(1).raw(b"abc").bytes();
    assert!(matches!(
        decode(&unterminated, false),
        Err(DecodeError::Truncated { .. })
    ));
    let utf8 = Msg::tag(b'O').i64(1).raw(&[0xFF, 0]).bytes();
    assert!(matches!(
        decode(&utf8, false),
        Err(DecodeError::InvalidUtf8 { .. })
    ));
}

mod fuzz;

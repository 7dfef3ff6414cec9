//! Where an Oracle event comes from in its source's log, as the formats print it
//! (`shared/spec/FORMATS.md`): SCNs in decimal, the transaction id as `usn.slot.sqn`, never an
//! `X/Y` LSN. Everything is read from the event's `position` except the SCN of the change's own
//! redo row, which the position does not carry: an Oracle source puts it in `ChangeEvent::lsn`.

use crate::event::ChangeEvent;
use crate::position::{LogPoint, Position, Scn, StreamPosition, Xid};

/// The Oracle coordinates of one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OracleOrigin {
    /// The SCN of the change's own redo row; for a snapshot row, the snapshot SCN.
    pub scn: Scn,
    /// The transaction's commit SCN; for a snapshot row, the snapshot SCN.
    pub commit_scn: Scn,
    /// The transaction and the event's 0-based index in it; `None` for a snapshot row.
    pub tx: Option<(Xid, u32)>,
}

impl OracleOrigin {
    /// `ev`'s coordinates when it comes from an Oracle source; `None` for PostgreSQL.
    pub(crate) fn of(ev: &ChangeEvent) -> Option<OracleOrigin> {
        match ev.position {
            Position::Stream(p) => OracleOrigin::of_stream(p, Scn(ev.lsn.0)),
            Position::Snapshot {
                snapshot: LogPoint::Scn(s),
                ..
            } => Some(OracleOrigin {
                scn: s,
                commit_scn: s,
                tx: None,
            }),
            Position::Snapshot { .. } => None,
        }
    }

    /// The coordinates of a change at stream position `p` whose redo row has SCN `scn`.
    pub(crate) fn of_stream(p: StreamPosition, scn: Scn) -> Option<OracleOrigin> {
        match p {
            StreamPosition::Oracle {
                commit_scn,
                xid,
                index,
                ..
            } => Some(OracleOrigin {
                scn,
                commit_scn,
                tx: Some((xid, index)),
            }),
            StreamPosition::Pg { .. } => None,
        }
    }

    /// The transaction id, if the event has one.
    pub(crate) fn xid(&self) -> Option<Xid> {
        self.tx.map(|(x, _)| x)
    }
}

/// An XID's `usn.slot.sqn` text (its `Display` form), built on the stack.
pub(crate) struct XidText {
    buf: [u8; 22],
    len: usize,
}

impl XidText {
    pub(crate) fn new(xid: Xid) -> XidText {
        let (usn, slot, sqn) = (xid.0 >> 48, (xid.0 >> 32) & 0xFFFF, xid.0 & 0xFFFF_FFFF);
        // At most 5 + 1 + 5 + 1 + 10 digits and dots.
        let mut t = XidText {
            buf: [0; 22],
            len: 0,
        };
        let mut digits = itoa::Buffer::new();
        for (i, part) in [usn, slot, sqn].into_iter().enumerate() {
            if i > 0 {
                t.push(b".");
            }
            t.push(digits.format(part).as_bytes());
        }
        t
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Appends `xid` as `usn.slot.sqn`.
pub(crate) fn write_xid(out: &mut Vec<u8>, xid: Xid) {
    out.extend_from_slice(XidText::new(xid).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Op;
    use crate::position::Lsn;

    fn packed(usn: u64, slot: u64, sqn: u64) -> Xid {
        Xid((usn << 48) | (slot << 32) | sqn)
    }

    #[test]
    fn xids_are_written_as_they_display() {
        for xid in [
            Xid(0),
            packed(7, 0, 411_499),
            packed(0xFFFF, 0xFFFF, 0xFFFF_FFFF),
        ] {
            let mut out = Vec::new();
            write_xid(&mut out, xid);
            assert_eq!(String::from_utf8(out).unwrap(), xid.to_string());
        }
        assert_eq!(packed(7, 0, 411_499).to_string(), "7.0.411499");
    }

    #[test]
    fn coordinates_come_from_the_position() {
        use super::testing::*;
        let ev = stream(Op::Insert, None, Some(emp(1, "a")));
        let o = OracleOrigin::of(&ev).unwrap();
        assert_eq!((o.scn, o.commit_scn), (Scn(CHANGE_SCN), Scn(COMMIT_SCN)));
        assert_eq!(o.tx, Some((XID, 2)));
        let o = OracleOrigin::of(&snapshot(emp(1, "a"), 9)).unwrap();
        let s = Scn(SNAPSHOT_SCN);
        assert_eq!((o.scn, o.commit_scn, o.xid()), (s, s, None));
        let mut pg = ev.clone();
        pg.position = Position::Stream(StreamPosition::pg(Lsn(100), 0));
        assert_eq!(OracleOrigin::of(&pg), None);
        pg.position = Position::Snapshot {
            snapshot: LogPoint::Lsn(Lsn(100)),
            row: 0,
        };
        assert_eq!(OracleOrigin::of(&pg), None);
    }
}

/// Oracle events for the formats' tests, shaped as the Oracle source makes them.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use crate::event::{ChangeEvent, Op, Row, SnapshotMark, TxMeta};
    use crate::format::debezium::tests::pgbin::{col, int8, row, text, ty, C};
    use crate::position::{LogPoint, Lsn, Position, Scn, StreamPosition, Xid};
    use crate::schema::{ReplicaIdentity, TableSchema, TypeKind};

    /// The transaction's commit SCN.
    pub const COMMIT_SCN: u64 = 14_589_063_118_712;
    /// The SCN of the change's own redo row.
    pub const CHANGE_SCN: u64 = 14_589_063_118_700;
    pub const SNAPSHOT_SCN: u64 = 14_589_063_000_000;
    /// XID `7.3.411499`, packed as the source packs it.
    pub const XID: Xid = Xid((7 << 48) | (3 << 32) | 411_499);
    /// 2024-01-15 08:30:00.123456 UTC.
    pub const COMMIT_US: i64 = 1_705_307_400_123_456;

    /// `HR.EMP (ID key, NAME)` as an Oracle source describes it: owner and name upper case.
    pub fn hr_emp() -> Arc<TableSchema> {
        Arc::new(TableSchema {
            oid: 9_001,
            schema: "HR".into(),
            name: "EMP".into(),
            columns: vec![
                col("ID", ty(20, "int8", TypeKind::Int8), -1, true),
                col("NAME", ty(25, "text", TypeKind::Text), -1, false),
            ],
            replica_identity: ReplicaIdentity::Full,
        })
    }

    pub fn emp(id: i64, name: &str) -> Row {
        row(vec![C::V(int8(id)), C::V(text(name))])
    }

    /// The third change (index 2) of transaction `XID`, committed at `COMMIT_SCN`.
    pub fn stream(op: Op, before: Option<Row>, after: Option<Row>) -> ChangeEvent {
        ChangeEvent {
            position: Position::Stream(StreamPosition::Oracle {
                commit_scn: Scn(COMMIT_SCN),
                redo: 0x0123_0000_0045,
                xid: XID,
                index: 2,
            }),
            op,
            table: hr_emp(),
            tx: TxMeta {
                xid: XID.0,
                commit_time_us: COMMIT_US,
                commit_lsn: Lsn(COMMIT_SCN),
            },
            lsn: Lsn(CHANGE_SCN),
            last_commit_lsn: None,
            snapshot: SnapshotMark::None,
            before,
            after,
        }
    }

    /// Row `row` of the snapshot taken at `SNAPSHOT_SCN` (started at `COMMIT_US`).
    pub fn snapshot(after: Row, row: u64) -> ChangeEvent {
        ChangeEvent {
            position: Position::Snapshot {
                snapshot: LogPoint::Scn(Scn(SNAPSHOT_SCN)),
                row,
            },
            tx: TxMeta {
                xid: 0,
                commit_time_us: COMMIT_US,
                commit_lsn: Lsn(SNAPSHOT_SCN),
            },
            lsn: Lsn(SNAPSHOT_SCN),
            snapshot: SnapshotMark::Middle,
            ..stream(Op::Read, None, Some(after))
        }
    }
}

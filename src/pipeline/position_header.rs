//! The `tributary.position` header of each record (`Position`'s display form), written
//! without the formatting machinery: it runs once per record. The `snapshot:<point>:<table>:`
//! part of snapshot positions is kept between rows of one table.

use std::fmt::Write;
use std::sync::Arc;

use crate::event::ChangeEvent;
use crate::position::{LogPoint, Lsn, Position, StreamPosition};
use crate::schema::TableSchema;

/// The header text of the last event written.
#[derive(Default)]
pub(super) struct PositionWriter {
    text: String,
    /// The snapshot point and table whose prefix `text` starts with, and the prefix's length.
    snapshot_prefix: Option<(LogPoint, Arc<TableSchema>, usize)>,
}

impl PositionWriter {
    pub(super) fn write(&mut self, ev: &ChangeEvent) {
        match ev.position {
            Position::Stream(p) => self.write_stream(p),
            Position::Snapshot { snapshot, row } => {
                match &self.snapshot_prefix {
                    Some((point, table, len))
                        if *point == snapshot && Arc::ptr_eq(table, &ev.table) =>
                    {
                        self.text.truncate(*len);
                    }
                    _ => self.snapshot_prefix_for(snapshot, &ev.table),
                }
                self.text.push_str(itoa::Buffer::new().format(row));
            }
        }
    }

    /// The header of a stream event at `p`.
    pub(super) fn write_stream(&mut self, p: StreamPosition) {
        self.snapshot_prefix = None;
        self.text.clear();
        match p {
            StreamPosition::Pg { commit_lsn, index } => {
                push_lsn(&mut self.text, commit_lsn);
                self.text.push(':');
                self.text.push_str(itoa::Buffer::new().format(index));
            }
            other => {
                let _ = write!(self.text, "{other}");
            }
        }
    }

    fn snapshot_prefix_for(&mut self, snapshot: LogPoint, table: &Arc<TableSchema>) {
        self.text.clear();
        self.text.push_str("snapshot:");
        match snapshot {
            LogPoint::Lsn(lsn) => push_lsn(&mut self.text, lsn),
            LogPoint::Scn(scn) => self.text.push_str(itoa::Buffer::new().format(scn.0)),
        }
        self.text.push(':');
        self.text.push_str(&table.schema);
        self.text.push('.');
        self.text.push_str(&table.name);
        self.text.push(':');
        self.snapshot_prefix = Some((snapshot, table.clone(), self.text.len()));
    }

    pub(super) fn as_str(&self) -> &str {
        &self.text
    }
}

/// `Lsn`'s display form, `X/Y` in upper-case hexadecimal.
fn push_lsn(out: &mut String, lsn: Lsn) {
    push_hex(out, lsn.0 >> 32);
    out.push('/');
    push_hex(out, lsn.0 & 0xFFFF_FFFF);
}

fn push_hex(out: &mut String, v: u64) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = HEX[(v & 0xF) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::{Scn, Xid};

    #[test]
    fn position_header_matches_the_display_form() {
        let table = Arc::new(TableSchema {
            oid: 1,
            schema: "public".into(),
            name: "t".into(),
            columns: Vec::new(),
            replica_identity: crate::schema::ReplicaIdentity::Default,
        });
        let lsns = [
            0u64,
            1,
            0xF,
            0x10,
            0x16B3748,
            0x1_0000_0000,
            u64::MAX,
            0xABC_0000_0DEF,
        ];
        let mut out = PositionWriter::default();
        let other = Arc::new((*table).clone());
        for lsn in lsns {
            for position in [
                Position::Snapshot {
                    snapshot: LogPoint::Lsn(Lsn(lsn)),
                    row: lsn % 1000,
                },
                Position::Snapshot {
                    snapshot: LogPoint::Scn(Scn(lsn)),
                    row: lsn % 1000,
                },
                Position::Stream(StreamPosition::pg(Lsn(lsn), (lsn % 77) as u32)),
                Position::Stream(StreamPosition::Oracle {
                    commit_scn: Scn(lsn),
                    xid: Xid(lsn / 3),
                    redo: u128::from(lsn),
                    index: (lsn % 77) as u32,
                }),
            ] {
                let ev = ChangeEvent {
                    position,
                    op: crate::event::Op::Read,
                    table: table.clone(),
                    tx: Default::default(),
                    lsn: Lsn(lsn),
                    last_commit_lsn: None,
                    snapshot: crate::event::SnapshotMark::None,
                    before: None,
                    after: None,
                };
                let want = match position {
                    Position::Stream(p) => p.to_string(),
                    Position::Snapshot { snapshot, row } => {
                        format!("snapshot:{snapshot}:public.t:{row}")
                    }
                };
                // Twice (the cached prefix), then for another table of the same name.
                out.write(&ev);
                assert_eq!(out.as_str(), want);
                out.write(&ev);
                assert_eq!(out.as_str(), want);
                let renamed = ChangeEvent {
                    table: Arc::new(TableSchema {
                        name: "u".into(),
                        ..(*other).clone()
                    }),
                    ..ev.clone()
                };
                out.write(&renamed);
                assert_eq!(out.as_str(), want.replace("public.t:", "public.u:"));
            }
        }
    }
}

//! The change stream: pgoutput messages turned into ordered change events.
//!
//! Tracks the open transaction (its commit LSN from Begin, the index of each event in it), keeps
//! a relation cache that follows ALTER TABLE (a new Relation message replaces the entry), fills
//! unchanged TOAST values from the old image under REPLICA IDENTITY FULL, and skips events at or
//! before the checkpointed position (the server re-sends a transaction whose first events were
//! already acknowledged, so the prefix is skipped by index).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio_postgres::Client;

use super::catalog::{self, TypeCache};
use super::error::PgSourceError;
use super::frame::{parse_frame, ReplicationFrame};
use super::pgoutput::{self, OldImage, PgOutputMessage, RelationBody};
use super::replication::ReplicationStream;
use crate::event::{ChangeEvent, Op, Row, SnapshotMark, TxMeta};
use crate::position::{Lsn, Position, StreamPosition};
use crate::schema::{Column, ReplicaIdentity, TableSchema};
use crate::source::{SourceBatch, SourceItem};

/// The transaction being received.
#[derive(Debug, Clone, Copy)]
struct OpenTx {
    meta: TxMeta,
    next_index: u32,
}

/// Why `next_batch` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStop {
    /// The frames at hand were used up; call again.
    More,
    /// The stream reached the `stop_at` LSN: every transaction committed before it has been
    /// returned, and nothing after it.
    Reached,
}

pub struct PgStream {
    repl: ReplicationStream,
    catalog: Client,
    types: TypeCache,
    relations: HashMap<u32, Arc<TableSchema>>,
    pending: VecDeque<ReplicationFrame>,
    tx: Option<OpenTx>,
    last_commit_lsn: Option<Lsn>,
    skip_through: Option<StreamPosition>,
    stop_at: Option<Lsn>,
    /// The latest WAL position the server reported.
    pub server_lsn: Lsn,
}

impl PgStream {
    pub fn new(
        repl: ReplicationStream,
        catalog: Client,
        types: TypeCache,
        skip_through: Option<StreamPosition>,
    ) -> PgStream {
        PgStream {
            repl,
            catalog,
            types,
            relations: HashMap::new(),
            pending: VecDeque::new(),
            tx: None,
            last_commit_lsn: None,
            skip_through,
            stop_at: None,
            server_lsn: Lsn::ZERO,
        }
    }

    /// Makes `next_batch` return `Reached` once the stream gets to `lsn` (a re-read's snapshot).
    pub fn stop_at(&mut self, lsn: Option<Lsn>) {
        self.stop_at = lsn;
    }

    /// Decodes the next frames into `out`.
    pub async fn next_batch(&mut self, out: &mut SourceBatch) -> Result<StreamStop, PgSourceError> {
        if self.pending.is_empty() {
            let frames = match self.repl.next_batch().await {
                Some(r) => r?,
                None => {
                    return Err(PgSourceError::Connection {
                        context: "streaming changes".into(),
                        reason: "stream ended".into(),
                    })
                }
            };
            for f in frames {
                let frame = parse_frame(f).map_err(|e| PgSourceError::Decode {
                    lsn: self.server_lsn,
                    reason: e.to_string(),
                })?;
                self.pending.push_back(frame);
            }
        }
        while let Some(frame) = self.pending.front() {
            if self.reached(frame) {
                self.stop_at = None;
                return Ok(StreamStop::Reached);
            }
            let Some(frame) = self.pending.pop_front() else {
                break;
            };
            self.frame(frame, out).await?;
        }
        Ok(StreamStop::More)
    }

    /// Whether `frame` is at or past `stop_at`, outside any transaction.
    fn reached(&self, frame: &ReplicationFrame) -> bool {
        let (Some(stop), None) = (self.stop_at, self.tx) else {
            return false;
        };
        match frame {
            ReplicationFrame::Keepalive { wal_end, .. } => *wal_end >= stop,
            ReplicationFrame::XLogData { payload, .. } => {
                payload.first() == Some(&b'B') && payload.len() >= 9 && {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&payload[1..9]);
                    Lsn(u64::from_be_bytes(b)) >= stop
                }
            }
        }
    }

    async fn frame(
        &mut self,
        frame: ReplicationFrame,
        out: &mut SourceBatch,
    ) -> Result<(), PgSourceError> {
        match frame {
            ReplicationFrame::Keepalive { wal_end, .. } => {
                self.server_lsn = self.server_lsn.max(wal_end);
                if self.tx.is_none() {
                    out.push(SourceItem::Idle { wal_end });
                }
                Ok(())
            }
            ReplicationFrame::XLogData {
                wal_start, payload, ..
            } => {
                self.server_lsn = self.server_lsn.max(wal_start);
                let msg = pgoutput::decode(&payload, false).map_err(|e| PgSourceError::Decode {
                    lsn: wal_start,
                    reason: e.to_string(),
                })?;
                self.message(msg, wal_start, out).await
            }
        }
    }

    async fn message(
        &mut self,
        msg: PgOutputMessage,
        lsn: Lsn,
        out: &mut SourceBatch,
    ) -> Result<(), PgSourceError> {
        match msg {
            PgOutputMessage::Begin {
                final_lsn,
                commit_time_us,
                xid,
            } => {
                let meta = TxMeta {
                    xid: u64::from(xid),
                    commit_time_us,
                    commit_lsn: final_lsn,
                };
                self.tx = Some(OpenTx {
                    meta,
                    next_index: 0,
                });
            }
            PgOutputMessage::Commit { end_lsn, .. } => {
                let tx = self
                    .tx
                    .take()
                    .ok_or_else(|| self.protocol("Commit outside a transaction"))?;
                let index = tx.next_index.saturating_sub(1);
                let last = StreamPosition {
                    commit_lsn: tx.meta.commit_lsn,
                    index,
                };
                self.last_commit_lsn = Some(tx.meta.commit_lsn);
                out.push(SourceItem::Commit { last, end_lsn });
            }
            PgOutputMessage::Relation(body) => self.relation(body).await?,
            PgOutputMessage::Insert { rel, new, .. } => {
                self.change(rel, Op::Insert, None, Some(new), lsn, out)?
            }
            PgOutputMessage::Update { rel, old, new, .. } => {
                let mut new = new;
                let before = old.map(|o: OldImage| {
                    if o.is_full() {
                        new.fill_unchanged_from(&o.row);
                    }
                    o.row
                });
                self.change(rel, Op::Update, before, Some(new), lsn, out)?
            }
            PgOutputMessage::Delete { rel, old, .. } => {
                self.change(rel, Op::Delete, Some(old.row), None, lsn, out)?
            }
            PgOutputMessage::Truncate { rels, .. } => {
                for rel in rels {
                    self.change(rel, Op::Truncate, None, None, lsn, out)?;
                }
            }
            // Types are resolved by OID from the catalog; origins and logical messages are
            // not migrated.
            _ => {}
        }
        Ok(())
    }

    fn change(
        &mut self,
        rel: u32,
        op: Op,
        before: Option<Row>,
        after: Option<Row>,
        lsn: Lsn,
        out: &mut SourceBatch,
    ) -> Result<(), PgSourceError> {
        let table = self
            .relations
            .get(&rel)
            .cloned()
            .ok_or_else(|| self.protocol("change for a relation never described"))?;
        let tx = self.tx.as_mut().ok_or_else(|| PgSourceError::Protocol {
            context: "streaming changes".into(),
            what: "change outside a transaction".into(),
        })?;
        let position = StreamPosition {
            commit_lsn: tx.meta.commit_lsn,
            index: tx.next_index,
        };
        tx.next_index += 1;
        if self.skip_through.is_some_and(|s| position <= s) {
            return Ok(());
        }
        out.push(SourceItem::Event(ChangeEvent {
            position: Position::Stream(position),
            op,
            table,
            tx: tx.meta,
            lsn,
            last_commit_lsn: self.last_commit_lsn,
            snapshot: SnapshotMark::None,
            before,
            after,
        }));
        Ok(())
    }

    /// Replaces the relation's entry (ALTER TABLE sends a new Relation message); the key
    /// columns come from the catalog's primary key, since the message flags mark every column
    /// under REPLICA IDENTITY FULL.
    async fn relation(&mut self, body: RelationBody) -> Result<(), PgSourceError> {
        let (catalog_cols, has_pk) =
            catalog::table_columns(&self.catalog, body.oid, &mut self.types).await?;
        let mut columns = Vec::with_capacity(body.columns.len());
        for c in &body.columns {
            let ty = self.types.resolve(&self.catalog, c.type_oid).await?;
            let cat = catalog_cols.iter().find(|k| k.name == c.name);
            let is_key = if has_pk {
                cat.is_some_and(|k| k.is_key)
            } else {
                body.replica_identity == b'i' && c.is_key
            };
            let nullable = cat.is_none_or(|k| k.nullable) && !is_key;
            columns.push(Column {
                name: c.name.clone(),
                ty,
                typmod: c.typmod,
                is_key,
                nullable,
            });
        }
        let schema = TableSchema {
            oid: body.oid,
            schema: body.namespace,
            name: body.name,
            columns,
            replica_identity: ReplicaIdentity::from_code(body.replica_identity),
        };
        crate::value::check_table_decodable(&schema)?;
        let same = self
            .relations
            .get(&body.oid)
            .is_some_and(|old| **old == schema);
        if !same {
            self.relations.insert(body.oid, Arc::new(schema));
        }
        Ok(())
    }

    /// Seeds the relation cache with the snapshot's schemas, so the same `Arc` is reused and
    /// the formats' per-table caches stay warm.
    pub fn seed_relations(&mut self, tables: impl IntoIterator<Item = Arc<TableSchema>>) {
        for t in tables {
            self.relations.insert(t.oid, t);
        }
    }

    fn protocol(&self, what: &str) -> PgSourceError {
        PgSourceError::Protocol {
            context: format!("streaming changes at {}", self.server_lsn),
            what: what.to_owned(),
        }
    }
}

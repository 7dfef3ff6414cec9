//! The stream's side of DDL capture and the heartbeat: the task's logical messages
//! (`super::super::ddl`, `super::super::health`) turned into DDL schema changes and heartbeat
//! items, and column changes that arrived with no captured DDL reported.

use std::sync::Arc;

use super::{OpenTx, PgStream};
use crate::position::{Lsn, StreamPosition};
use crate::schema::{ReplicaIdentity, TableSchema};
use crate::source::postgres::ddl::{self, Captured, Scope, Verdict};
use crate::source::postgres::join;
use crate::source::{SchemaChange, SourceBatch, SourceItem};

impl PgStream {
    /// A transactional logical message: the task's heartbeat or captured DDL; others are
    /// ignored.
    pub(super) fn logical_message(
        &mut self,
        prefix: &str,
        content: &[u8],
        lsn: Lsn,
        out: &mut SourceBatch,
    ) {
        let Some(capture) = self.capture.as_ref() else {
            return;
        };
        let [heartbeat, ddl, identity] = &capture.prefixes;
        if prefix == heartbeat {
            match std::str::from_utf8(content)
                .ok()
                .and_then(|s| s.parse().ok())
            {
                Some(written_us) => out.push(SourceItem::Heartbeat { written_us }),
                None => {
                    tracing::warn!(task = %self.task, %lsn, "unreadable heartbeat message ignored")
                }
            }
        } else if prefix == ddl {
            self.captured_ddl(content, lsn);
        } else if prefix == identity {
            match join::parse_record(content) {
                Ok(r) => {
                    tracing::info!(task = %self.task, %lsn, table = %r.qualified_name(), set = %r.set, "a table created later got its replica identity (restored when the task is deleted)");
                    out.push(SourceItem::HelperObject(r.object()));
                }
                Err(e) => {
                    tracing::warn!(task = %self.task, %lsn, error = %e, "identity record ignored")
                }
            }
        }
    }

    fn captured_ddl(&mut self, content: &[u8], lsn: Lsn) {
        let (Some(capture), Some(tx)) = (self.capture.as_mut(), self.tx.as_mut()) else {
            return;
        };
        let captured = match Captured::parse(content) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(task = %self.task, shard = capture.shard, %lsn, error = %e, "DDL not migrated: its capture message is unreadable");
                return;
            }
        };
        let object = captured.object().cloned();
        if let Some(oid) = object.as_ref().and_then(|o| u32::try_from(o.oid?).ok()) {
            capture.captured.insert(oid);
        }
        let relations = &self.relations;
        let known = |oid: u32| relations.contains_key(&oid);
        let scope = Scope {
            selection: &capture.selection,
            shard: capture.shard,
            known_table: &known,
        };
        let at = StreamPosition::pg(tx.meta.commit_lsn, tx.next_index);
        match ddl::judge(&captured, &scope) {
            Verdict::OtherShard => {}
            Verdict::Skip(reason) => {
                tracing::info!(task = %self.task, shard = capture.shard, position = %at, tag = %captured.tag, statement = %excerpt(&captured.query), "DDL not migrated: {reason}");
            }
            Verdict::Migrate(statement) => {
                let table = object
                    .as_ref()
                    .and_then(|o| {
                        let oid = u32::try_from(o.oid?).ok()?;
                        relations.get(&oid).cloned()
                    })
                    .unwrap_or_else(|| Arc::new(stub(object.as_ref())));
                tx.ddl.push(SchemaChange {
                    table,
                    previous: None,
                    at: Some(at),
                    ddl: Some(statement),
                });
            }
        }
    }

    /// At the commit: the transaction's captured DDL is migrated when it changed no rows
    /// (else the rows are, and the DDL is logged as skipped). Never at or before the
    /// checkpoint's position (a re-sent transaction).
    pub(super) fn commit_ddl(&self, tx: &OpenTx, out: &mut SourceBatch) {
        let shard = self.capture.as_ref().map_or(0, |c| c.shard);
        for change in &tx.ddl {
            let sql = change.ddl.as_deref().unwrap_or_default();
            if tx.next_index > 0 {
                tracing::info!(task = %self.task, shard, position = ?change.at, statement = %excerpt(sql), "DDL not migrated: its transaction also changes rows (the rows are migrated)");
                continue;
            }
            if change
                .at
                .is_some_and(|at| self.skip_through.is_some_and(|s| at <= s))
            {
                continue;
            }
            tracing::info!(task = %self.task, shard, position = ?change.at, statement = %excerpt(sql), "DDL migrated");
            out.push(SourceItem::SchemaChange(change.clone()));
        }
    }

    /// A Relation message whose columns changed with no DDL captured for its table since the
    /// last Relation message of this stream (the first one after a start is compared with
    /// nothing: the catalog's description may be newer than a replayed change): DDL under `session_replication_role = replica` (no event trigger fires) or a
    /// lost capture. Reported (log and metric); the next events carry the new columns.
    pub(super) fn check_captured(&mut self, previous: Option<&TableSchema>, now: &TableSchema) {
        let Some(capture) = self.capture.as_mut() else {
            return;
        };
        let was_captured = capture.captured.remove(&now.oid);
        let streamed = !capture.described.insert(now.oid);
        let (Some(previous), true) = (previous, streamed) else {
            return;
        };
        let columns = |t: &TableSchema| -> Vec<(String, u32)> {
            t.columns
                .iter()
                .map(|c| (c.name.clone(), c.ty.oid))
                .collect()
        };
        if was_captured || columns(previous) == columns(now) {
            return;
        }
        capture.uncaptured.increment(1);
        tracing::warn!(task = %self.task, shard = capture.shard, table = %now.qualified_name(),
            "table's columns changed with no captured DDL: the DDL ran under session_replication_role = replica (no event trigger fires) or DDL capture is off or lost; the next events carry the new columns, the DDL itself is not migrated");
    }
}

/// The description a DDL record names when the stream holds none for the object (a new
/// table, a view, a function): its schema and name, no columns.
fn stub(object: Option<&ddl::CapturedObject>) -> TableSchema {
    let (schema, name, oid) = match object {
        Some(o) => (
            o.schema.clone().unwrap_or_default(),
            o.name.clone().unwrap_or_else(|| {
                o.identity
                    .rsplit_once('.')
                    .map_or(o.identity.clone(), |(_, n)| n.to_owned())
            }),
            o.oid.and_then(|o| u32::try_from(o).ok()).unwrap_or(0),
        ),
        None => (String::new(), String::new(), 0),
    };
    TableSchema {
        oid,
        schema,
        name,
        columns: Vec::new(),
        replica_identity: ReplicaIdentity::Default,
    }
}

/// A statement as logged: its first 200 characters (a script sent as one query is the text of
/// every statement in it, which would flood the log once per statement).
fn excerpt(s: &str) -> &str {
    let s = s.trim();
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

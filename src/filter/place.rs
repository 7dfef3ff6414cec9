//! Where a table's filter runs in the stream: in the publication (PostgreSQL drops the rows
//! before they are decoded and sent), or in tributary (the gate evaluates it on decoded rows).
//!
//! PostgreSQL 15's row filters (CREATE PUBLICATION ... WHERE) are used only where they do no
//! harm:
//! - every column the filter uses is a key column of the table's replica identity (the primary
//!   key, or the REPLICA IDENTITY USING INDEX columns), or the table is published for inserts
//!   only (`objects.insert_only`). For a publication that publishes UPDATE or DELETE,
//!   PostgreSQL otherwise refuses the *application's* UPDATE and DELETE on the table. FULL is
//!   deliberately not counted: an administrator may set the identity back to DEFAULT, and
//!   PostgreSQL would then refuse the application's writes, whereas a filter tributary
//!   evaluates only stops the task, with the reason;
//! - no publication of the task without a filter covers the table: filters of publications
//!   are ORed, and a `FOR TABLES IN SCHEMA` publication (a `schema.*` selection) carries none;
//! - the filter's columns have built-in types (PostgreSQL refuses user-defined types in row
//!   filters: a domain, for instance).
//!
//! Otherwise tributary evaluates the filter. For a table that publishes UPDATE and DELETE, it
//! needs the old row's values of the filter's columns: the key columns are always in the old
//! row, other columns only under REPLICA IDENTITY FULL (the table's, or set by tributary for
//! tables listed in `objects.replica_identity_full`). Without either the filter is refused
//! when the task is created, with the fixes.
//!
//! PostgreSQL and tributary apply a filter to an UPDATE alike: old row in and new row in → the
//! UPDATE; only the new row in → an INSERT; only the old row in → a DELETE (of the old row);
//! neither → nothing.

use crate::config::TableSelection;
use crate::schema::{ReplicaIdentity, TableSchema};

/// PostgreSQL's `FirstNormalObjectId`: OIDs from here on are user-defined objects.
const FIRST_USER_OID: u32 = 16_384;

/// Where a filter runs in the stream. (The snapshot always runs it in its query.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In the publication's row filter (PostgreSQL 15 or later).
    Publication,
    /// In tributary's gate.
    Tributary,
}

/// How the task publishes a table, from its selection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Publishing {
    /// Published for inserts only (`objects.insert_only`).
    pub insert_only: bool,
    /// A `schema.*` selector covers it: the task publishes its schema with `FOR TABLES IN
    /// SCHEMA`, which has no filter. (Counted whenever such a selector names the table's
    /// schema, even where the source lists the schema's tables one by one, so that the
    /// source and the gate always agree.)
    pub whole_schema: bool,
    /// Listed in `objects.replica_identity_full`: tributary sets REPLICA IDENTITY FULL.
    pub sets_full: bool,
}

impl Publishing {
    pub fn of(sel: &TableSelection, schema: &str, table: &str) -> Publishing {
        Publishing {
            insert_only: sel.is_insert_only(schema, table),
            whole_schema: sel.include.iter().any(|s| s.whole_schema() == Some(schema)),
            sets_full: sel.wants_replica_identity_full(schema, table),
        }
    }
}

/// Whether every column in `used` is in the old row PostgreSQL sends for an UPDATE or DELETE
/// under any identity but NOTHING: a key column of the replica identity.
pub fn keys_only(table: &TableSchema, used: &[usize]) -> bool {
    table.replica_identity != ReplicaIdentity::Nothing
        && !used.is_empty()
        && used.iter().all(|&i| table.columns[i].is_key)
}

/// Where the filter using columns `used` of `table` runs, or why it cannot run at all.
pub fn place(table: &TableSchema, used: &[usize], how: Publishing) -> Result<Placement, String> {
    let keys = keys_only(table, used);
    let built_in = used
        .iter()
        .all(|&i| table.columns[i].ty.oid < FIRST_USER_OID);
    let unfiltered_cover = how.whole_schema && !how.insert_only;
    if !unfiltered_cover && built_in && (how.insert_only || keys) {
        return Ok(Placement::Publication);
    }
    let full = table.replica_identity == ReplicaIdentity::Full || how.sets_full;
    if how.insert_only || keys || full {
        return Ok(Placement::Tributary);
    }
    Err(refusal(table, used))
}

fn refusal(table: &TableSchema, used: &[usize]) -> String {
    let outside: Vec<String> = used
        .iter()
        .filter(|&&i| {
            !table.columns[i].is_key || table.replica_identity == ReplicaIdentity::Nothing
        })
        .map(|&i| format!("{:?}", table.columns[i].name))
        .collect();
    let keys: Vec<String> = table
        .key_indices()
        .map(|i| format!("{:?}", table.columns[i].name))
        .collect();
    let keys = if keys.is_empty() || table.replica_identity == ReplicaIdentity::Nothing {
        "the table has none".to_owned()
    } else {
        keys.join(", ")
    };
    format!(
        "it uses {} outside the replica identity's key ({keys}), so UPDATE and DELETE would arrive without the old row's value of {}: list the table in objects.replica_identity_full (tributary sets REPLICA IDENTITY FULL), run ALTER TABLE {} REPLICA IDENTITY FULL, or filter on key columns only",
        outside.join(", "),
        if outside.len() == 1 { "it" } else { "them" },
        table.qualified_name(),
    )
}

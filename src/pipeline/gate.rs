//! The gate between source and format: which incremental events a table migrates
//! (`objects.table.operations`), and under `hash_key` an UPDATE that changes the key split
//! into a DELETE of the old key and an INSERT of the new one, so that each key's partition sees
//! the row leave (FORMATS.md "Partition policies"). Snapshot rows always pass: the operations
//! are those of the incremental phase.

use std::sync::Arc;

use crate::config::{Operation, PartitionPolicy};
use crate::event::{Cell, ChangeEvent, Op, Row};
use crate::format::FormatError;
use crate::route::{Router, Routing, TableRoute};
use crate::schema::TableSchema;

/// What becomes of one event. Returned by value and matched at once: boxing the common
/// `One` would cost an allocation per event.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Admitted {
    /// Not migrated.
    Dropped,
    One(ChangeEvent),
    /// A key change under `hash_key`: the DELETE, then the INSERT.
    Split(Box<(ChangeEvent, ChangeEvent)>),
}

/// Applies a task's per-table operations and key-change rule.
pub struct Gate {
    router: Router,
}

impl Gate {
    pub fn new(routing: Arc<Routing>) -> Gate {
        Gate {
            router: Router::new(routing),
        }
    }

    /// What is migrated of `ev`.
    pub fn admit(&mut self, ev: ChangeEvent) -> Result<Admitted, FormatError> {
        let op = match ev.op {
            Op::Read => return Ok(Admitted::One(ev)),
            Op::Insert => Operation::Insert,
            Op::Update => Operation::Update,
            Op::Delete => Operation::Delete,
            Op::Truncate => Operation::Truncate,
        };
        let route = self.router.get(&ev.table)?;
        if !route.migrates(op) {
            return Ok(Admitted::Dropped);
        }
        if op == Operation::Update
            && route.policy == Some(PartitionPolicy::HashKey)
            && key_changed(&route, &ev)
        {
            return Ok(split(ev));
        }
        Ok(Admitted::One(ev))
    }

    /// Whether a table's DDL messages are migrated.
    pub fn migrates_ddl(&mut self, table: &Arc<TableSchema>) -> Result<bool, FormatError> {
        Ok(self.router.get(table)?.migrates(Operation::Ddl))
    }
}

/// Whether the old image's key columns differ from the new image's (a value the source did not
/// send does not count as a change; without an old image the key did not change).
fn key_changed(route: &TableRoute, ev: &ChangeEvent) -> bool {
    let (Some(before), Some(after)) = (&ev.before, &ev.after) else {
        return false;
    };
    route.key_indices.iter().any(|&i| {
        let (b, a) = (cell(before, i), cell(after, i));
        if b == Cell::Unchanged || a == Cell::Unchanged {
            return false;
        }
        before.bytes(b) != after.bytes(a) || (b == Cell::Null) != (a == Cell::Null)
    })
}

fn cell(row: &Row, i: usize) -> Cell {
    row.cells.get(i).copied().unwrap_or(Cell::Null)
}

fn split(ev: ChangeEvent) -> Admitted {
    let mut delete = ev.clone();
    delete.op = Op::Delete;
    delete.after = None;
    let mut insert = ev;
    insert.op = Op::Insert;
    insert.before = None;
    Admitted::Split(Box::new((delete, insert)))
}

#[cfg(test)]
mod tests;

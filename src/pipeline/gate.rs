//! The gate between source and format: which incremental events a table migrates
//! (`objects.table.operations`), which rows pass the table's row filter
//! (`objects.table.filter`), and under `hash_key` an UPDATE that changes the key split into a
//! DELETE of the old key and an INSERT of the new one, so that each key's partition sees the
//! row leave (FORMATS.md "Partition policies"). Snapshot rows always pass: the operations are
//! those of the incremental phase, and the snapshot's query already applied the filter.
//!
//! A row filter is applied as PostgreSQL applies a publication's: an INSERT passes if its new
//! row matches, a DELETE if its old row does; an UPDATE stays an UPDATE if both rows match,
//! becomes an INSERT of the new row if only that one does, a DELETE of the old row if only
//! that one does, and is dropped if neither does. The operation checked against `operations`
//! is the one the application made (as PostgreSQL checks `publish` before the row filter).
//! Filters the publication already applies (`Placement::Publication`) are checked again here,
//! which changes nothing but makes the result independent of what an earlier start put in the
//! publication; where a row image lacks a value the filter needs, those pass (PostgreSQL had
//! it), and the others stop the task with the reason.

use std::sync::Arc;

use crate::config::{Operation, PartitionPolicy};
use crate::event::{Cell, ChangeEvent, Op, Row};
use crate::filter::{keys_only, EvalError, Placement, TableFilter};
use crate::format::FormatError;
use crate::route::{RouteError, Router, Routing, TableRoute};
use crate::schema::{ReplicaIdentity, TableSchema};

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
        let ev = match &route.filter {
            Some(f) => match filter(f, ev)? {
                Some(ev) => ev,
                None => return Ok(Admitted::Dropped),
            },
            None => ev,
        };
        if ev.op == Op::Update
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

/// What of `ev` passes the row filter `f`: the event, the event turned into an INSERT or a
/// DELETE (an UPDATE moving the row into or out of the filter), or nothing.
fn filter(f: &TableFilter, mut ev: ChangeEvent) -> Result<Option<ChangeEvent>, FormatError> {
    let pass = match ev.op {
        Op::Insert => matches(f, &ev, Image::New)?,
        Op::Delete => matches(f, &ev, Image::Old)?,
        Op::Update => {
            let old = matches(f, &ev, Image::Old)?;
            let new = matches(f, &ev, Image::New)?;
            match (old, new) {
                (true, true) => true,
                (false, true) => {
                    ev.op = Op::Insert;
                    ev.before = None;
                    true
                }
                (true, false) => {
                    ev.op = Op::Delete;
                    let after = ev.after.take();
                    // Without an old image the key did not change: the new row carries it.
                    if ev.before.is_none() {
                        ev.before = after;
                    }
                    true
                }
                (false, false) => false,
            }
        }
        Op::Read | Op::Truncate => true,
    };
    Ok(pass.then_some(ev))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Image {
    Old,
    New,
}

/// Whether the old or new row of `ev` matches `f` (unknown does not).
fn matches(f: &TableFilter, ev: &ChangeEvent, image: Image) -> Result<bool, FormatError> {
    let Some(row) = image_row(f, ev, image) else {
        return cannot_tell(f, ev, image, None);
    };
    match f.filter.matches(row) {
        Ok(m) => Ok(m),
        Err(EvalError::Value { column, source }) => Err(FormatError::Value {
            table: ev.table.qualified_name(),
            column,
            source,
        }),
        Err(EvalError::Unavailable { column }) => cannot_tell(f, ev, image, Some(&column)),
    }
}

/// The row holding the values of the filter's columns in `image`: the new row; the old row
/// when it is complete (REPLICA IDENTITY FULL) or the filter uses key columns only (which
/// the old key row holds); for an UPDATE without an old row (its key did not change) the new
/// row, when the filter uses key columns only.
fn image_row<'e>(f: &TableFilter, ev: &'e ChangeEvent, image: Image) -> Option<&'e Row> {
    if image == Image::New {
        return ev.after.as_ref();
    }
    let keys = keys_only(&ev.table, f.filter.columns());
    match &ev.before {
        Some(b) if keys || ev.table.replica_identity == ReplicaIdentity::Full => Some(b),
        Some(_) => None,
        None if keys && ev.op == Op::Update => ev.after.as_ref(),
        None => None,
    }
}

/// A row image without a value the filter needs: PostgreSQL applied a filter it holds in the
/// publication (the row passes); one tributary applies stops the task.
fn cannot_tell(
    f: &TableFilter,
    ev: &ChangeEvent,
    image: Image,
    column: Option<&str>,
) -> Result<bool, FormatError> {
    if f.placement == Placement::Publication {
        return Ok(true);
    }
    let which = match image {
        Image::Old => "old",
        Image::New => "new",
    };
    let missing = match column {
        Some(c) => format!("column {c:?} has no value in the {which} row"),
        None => format!("the source sent no complete {which} row"),
    };
    Err(FormatError::Route(RouteError {
        table: ev.table.qualified_name(),
        reason: format!(
            "the row filter cannot be evaluated on a {:?} event: {missing}: the table needs REPLICA IDENTITY FULL (run ALTER TABLE {} REPLICA IDENTITY FULL, or list it in objects.replica_identity_full) before the task resumes",
            ev.op,
            ev.table.qualified_name()
        ),
    }))
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

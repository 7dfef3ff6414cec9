//! Row filters (`[objects.table."<schema>.<table>"] filter = "<SQL condition>"`): only rows
//! matching the condition are migrated, the same rows in the snapshot and in the stream.
//!
//! A filter's life:
//! 1. `RowFilter::parse` when the task file is validated: the text must be an SQL expression
//!    (read by `sqlparser` as PostgreSQL would) within the supported set — comparisons, `[NOT]
//!    IN`, `[NOT] BETWEEN`, `[NOT] LIKE`, `IS [NOT] NULL`, `AND`/`OR`/`NOT`, columns and
//!    literals (`ast`). Anything else is refused with the reason before anything is created.
//! 2. `RowFilter::bind` against the table when the task is created or started (`bind`): the
//!    columns must exist, have a type filters compare, and meet literals of their type.
//! 3. `place` decides where the stream applies it (the publication's row filter, or
//!    tributary's gate) or refuses it (`place` says why).
//! 4. `BoundFilter::sql` writes the bound tree back as SQL for the snapshot's query and the
//!    publication (`render`): never the user's text, so nothing but the validated expression
//!    reaches the server. `BoundFilter::eval` evaluates it on decoded rows (`eval`), with
//!    PostgreSQL's semantics: three-valued logic, exact numerics, floats with NaN above
//!    everything, timestamptz as instants, text in byte order (`COLLATE "C"` on the server),
//!    `character(n)` compared without its padding.

mod ast;
mod bind;
mod eval;
mod exact;
mod literal;
mod parse;
mod place;
mod render;

use std::sync::Arc;

pub use eval::EvalError;
pub use place::{keys_only, place, Placement, Publishing};

use crate::event::Row;
use crate::schema::TableSchema;

/// A filter's text could not be accepted.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("cannot parse {text:?}: {reason}")]
    Syntax { text: String, reason: String },
    #[error("cannot use {text:?}: {reason}")]
    Unsupported { text: String, reason: String },
}

/// A parsed filter, not yet checked against a table.
#[derive(Debug, Clone, PartialEq)]
pub struct RowFilter {
    text: String,
    cond: ast::Cond,
}

impl RowFilter {
    pub fn parse(text: &str) -> Result<RowFilter, FilterError> {
        let cond = parse::parse(text).map_err(|r| match r {
            parse::Refusal::Syntax(reason) => FilterError::Syntax {
                text: text.to_owned(),
                reason,
            },
            parse::Refusal::Unsupported(reason) => FilterError::Unsupported {
                text: text.to_owned(),
                reason,
            },
        })?;
        Ok(RowFilter {
            text: text.to_owned(),
            cond,
        })
    }

    /// The text as the user wrote it (for messages only).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Checks the filter against `table`.
    pub fn bind(&self, table: &Arc<TableSchema>) -> Result<BoundFilter, String> {
        let mut used = Vec::new();
        let node = bind::bind(&self.cond, table, &mut used)?;
        used.sort_unstable();
        Ok(BoundFilter {
            node,
            used,
            table: table.clone(),
        })
    }
}

/// A filter checked against one table's columns.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundFilter {
    node: bind::Node,
    used: Vec<usize>,
    table: Arc<TableSchema>,
}

impl BoundFilter {
    /// The filter's value on `row` (an image of the bound table): `None` is SQL's unknown.
    pub fn eval(&self, row: &Row) -> Result<Option<bool>, EvalError> {
        eval::eval(&self.node, &self.table, row)
    }

    /// Whether `row` passes: the filter is true (unknown does not pass, as in a WHERE).
    pub fn matches(&self, row: &Row) -> Result<bool, EvalError> {
        Ok(self.eval(row)? == Some(true))
    }

    /// Positions of the columns the filter uses, ascending.
    pub fn columns(&self) -> &[usize] {
        &self.used
    }

    /// The filter as SQL for PostgreSQL, rebuilt from the checked tree.
    pub fn sql(&self) -> String {
        render::sql(&self.node, &self.table)
    }

    pub fn table(&self) -> &Arc<TableSchema> {
        &self.table
    }
}

/// A table's filter, checked and placed.
#[derive(Debug, Clone, PartialEq)]
pub struct TableFilter {
    pub filter: BoundFilter,
    pub placement: Placement,
}

impl TableFilter {
    /// Parses, binds and places `text` for `table`; the error says why, in one line.
    pub fn new(
        text: &str,
        table: &Arc<TableSchema>,
        how: Publishing,
    ) -> Result<TableFilter, String> {
        let parsed = RowFilter::parse(text).map_err(|e| format!("filter {e}"))?;
        let filter = parsed
            .bind(table)
            .map_err(|reason| format!("filter {text:?}: {reason}"))?;
        let placement = place(table, filter.columns(), how)
            .map_err(|reason| format!("filter {text:?} cannot be applied: {reason}"))?;
        Ok(TableFilter { filter, placement })
    }
}

#[cfg(test)]
mod tests;

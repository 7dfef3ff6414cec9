//! SQL_REDO → typed row images: the last stage of the Oracle source's incremental path (see
//! `super`). LogMiner renders each change as an INSERT, UPDATE or DELETE statement whose
//! literals follow the session's NLS formats, which the miner pins (`SYYYY-MM-DD HH24:MI:SS`,
//! `...SS.FF9`, `...SS.FF9 TZH:TZM`, `NLS_NUMERIC_CHARACTERS='.,'`); this module reads those
//! statements back into `Row`s of an `OraTable`, in the forms the pipeline's value decoders read
//! for each column's mapped kind (`super::types`):
//!
//! ```text
//! insert into "HR"."EMP"("ID","NAME") values ('1','Ann');             → after
//! update "HR"."EMP" set "NAME" = 'Bob' where "ID" = '1' and "NAME" = 'Ann' and ROWID = '...';
//!                                                                     → before (where), after (before + set)
//! delete from "HR"."EMP" where "ID" = '1' and ROWID = '...';          → before
//! ```
//!
//! A column the statement does not mention (not logged: key-only supplemental logging, a LOB
//! written separately) and a value LogMiner prints as `Unsupported Type` are `Cell::Unchanged`,
//! which formats render as unavailable, never as NULL. With `ALL COLUMNS` supplemental logging
//! the where clause of an UPDATE or DELETE holds every column but the LOBs.
//!
//! Reading copies nothing but the values: tokens are slices of the SQL text, values are written
//! into one buffer the parser reuses, and each change costs one buffer allocation (shared by its
//! two images) plus the images' cell lists. Any text, however malformed, gives a `RedoError`,
//! never a panic (a property test checks it).

mod lexer;
mod temporal;
mod value;

#[cfg(test)]
mod tests;

use bytes::Bytes;

use self::lexer::{Cursor, Lexed};
use super::table::{OraColumn, OraTable, OraType};
use crate::event::{Cell, Op, Row};

/// One change read from SQL_REDO: the images in table column order.
#[derive(Clone, Debug, PartialEq)]
pub struct RedoChange {
    /// `Insert`, `Update` or `Delete`.
    pub op: Op,
    /// The old image (UPDATE, DELETE): the columns of the where clause.
    pub before: Option<Row>,
    /// The new image (INSERT, UPDATE): an UPDATE's is the old image with the set list applied.
    pub after: Option<Row>,
}

/// What is wrong with a statement.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("expected {0}")]
    Expected(&'static str),
    #[error("not an INSERT, UPDATE or DELETE")]
    NotDml,
    #[error("the statement is on table {0}")]
    OtherTable(String),
    #[error("no column {0:?} in the table (dictionary out of date?)")]
    UnknownColumn(String),
    #[error("{columns} columns but {values} values")]
    ValueCount { columns: usize, values: usize },
    #[error("column {column:?} ({ty}): {reason}")]
    BadValue {
        column: String,
        ty: String,
        reason: &'static str,
    },
    #[error("unsupported function {0}")]
    UnsupportedFunction(String),
    #[error("a row image larger than 4 GiB")]
    TooLarge,
}

/// A statement that could not be read: the table, the problem, and where in the SQL (one line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("SQL_REDO of {table}: {problem} at byte {at}: {excerpt}")]
pub struct RedoError {
    /// `OWNER.NAME` of the table the statement was read against.
    pub table: String,
    pub problem: Problem,
    /// Byte offset in the SQL text.
    pub at: usize,
    /// Up to about 100 bytes of the SQL around `at`, on one line.
    pub excerpt: String,
}

/// Bytes of SQL shown either side of an error.
const EXCERPT_RADIUS: usize = 48;

fn excerpt(sql: &str, at: usize) -> String {
    let at = at.min(sql.len());
    let mut start = at.saturating_sub(EXCERPT_RADIUS);
    while !sql.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + EXCERPT_RADIUS).min(sql.len());
    while !sql.is_char_boundary(end) {
        end += 1;
    }
    let mut out = String::with_capacity(end - start + 8);
    if start > 0 {
        out.push('…');
    }
    out.extend(
        sql[start..end]
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c }),
    );
    if end < sql.len() {
        out.push('…');
    }
    out
}

/// Reads SQL_REDO statements; keeps its buffers between calls.
#[derive(Debug, Default)]
pub struct RedoParser {
    /// The values of the change being read.
    buf: Vec<u8>,
    /// An UPDATE's set-list cells, `None` for columns it does not set.
    set: Vec<Option<Cell>>,
    /// An INSERT's column list, as column indexes.
    cols: Vec<usize>,
    /// A column name with `""` undoubled.
    name: String,
    /// The offset east of UTC, in seconds, of a TIMESTAMP WITH LOCAL TIME ZONE value printed
    /// without one (the database time zone).
    ltz_offset_secs: i32,
}

impl RedoParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the database time zone's offset, for TIMESTAMP WITH LOCAL TIME ZONE values LogMiner
    /// prints without a zone (UTC unless set).
    pub fn with_local_time_zone_offset(mut self, secs: i32) -> Self {
        self.ltz_offset_secs = secs;
        self
    }

    /// Reads one whole statement (CSF pieces already joined) against `table`.
    pub fn parse(&mut self, table: &OraTable, sql: &str) -> Result<RedoChange, RedoError> {
        self.buf.clear();
        self.set.clear();
        let mut c = Cursor::new(sql);
        let result = self.statement(&mut c, table);
        result.map_err(|f| fail(table, sql, f))
    }

    /// Whether the last statement parsed was an UPDATE whose set list names column `i`.
    pub fn was_set(&self, i: usize) -> bool {
        self.set.get(i).is_some_and(Option::is_some)
    }

    /// Reads the statement that locates a LOB or XMLType column's row (a SELECT_LOB_LOCATOR
    /// row's `select "C" into loc_c from "O"."T" where ... for update`, an XML DOC BEGIN row's
    /// `XML DOC BEGIN:  select "C" from "O"."T" where ...` or
    /// `update "O"."T" a set a."C" = XMLType(:1) where a."K" = ...`) against `table`: the
    /// column's index and the row image of the where clause.
    pub fn parse_locator(
        &mut self,
        table: &OraTable,
        sql: &str,
    ) -> Result<(usize, Row), RedoError> {
        self.buf.clear();
        self.set.clear();
        let mut c = Cursor::new(sql);
        let result = self.locator(&mut c, table);
        result.map_err(|f| fail(table, sql, f))
    }

    fn locator(&mut self, c: &mut Cursor<'_>, t: &OraTable) -> Lexed<(usize, Row)> {
        if c.keyword("XML") {
            c.expect_keyword("DOC", "XML DOC BEGIN")?;
            c.expect_keyword("BEGIN", "XML DOC BEGIN")?;
            c.expect(b':', ": after XML DOC BEGIN")?;
        }
        let column = if c.keyword("select") {
            let column = self.column(c, t, 0)?;
            if c.keyword("into") {
                c.identifier()?;
            }
            c.expect_keyword("from", "FROM")?;
            self.table_name(c, t)?;
            column
        } else if c.keyword("update") {
            self.table_name(c, t)?;
            skip_alias(c);
            c.expect_keyword("set", "SET")?;
            let column = self.column(c, t, 0)?;
            c.expect(b'=', "= after a column name")?;
            bind_placeholder(c)?;
            column
        } else {
            return c.expected("select or update locating a LOB");
        };
        skip_alias(c);
        let mut cells = vec![Cell::Unchanged; t.columns.len()];
        self.where_clause(c, t, &mut cells)?;
        if c.keyword("for") {
            c.expect_keyword("update", "UPDATE after FOR")?;
        }
        c.eat(b';');
        if !c.at_end() {
            return c.expected("the end of the statement");
        }
        let buf = Bytes::copy_from_slice(&self.buf);
        Ok((column, Row { buf, cells }))
    }

    /// A flashback read's row (`session::sql::select_expr`'s text per column, `None` for
    /// NULL) as a row image, each value read as the same literal in SQL_REDO would be. One
    /// reused buffer quotes the values.
    pub fn text_row(
        &mut self,
        table: &OraTable,
        values: &[Option<String>],
    ) -> Result<Row, RedoError> {
        self.buf.clear();
        let mut cells = Vec::with_capacity(values.len());
        let mut quoted = std::mem::take(&mut self.name);
        for (col, value) in table.columns.iter().zip(values) {
            let Some(v) = value else {
                cells.push(Cell::Null);
                continue;
            };
            quoted.clear();
            quoted.push('\'');
            for ch in v.chars() {
                if ch == '\'' {
                    quoted.push('\'');
                }
                quoted.push(ch);
            }
            quoted.push('\'');
            let mut c = Cursor::new(&quoted);
            let cell =
                value::read_value(&mut c, col, &mut self.buf, self.ltz_offset_secs).map_err(|f| {
                    RedoError {
                        table: table.qualified_name(),
                        problem: f.problem,
                        at: f.at,
                        excerpt: excerpt(&quoted, f.at),
                    }
                });
            match cell {
                Ok(cell) => cells.push(cell),
                Err(e) => {
                    self.name = quoted;
                    return Err(e);
                }
            }
        }
        self.name = quoted;
        if values.len() != table.columns.len() {
            return Err(RedoError {
                table: table.qualified_name(),
                problem: Problem::ValueCount {
                    columns: table.columns.len(),
                    values: values.len(),
                },
                at: 0,
                excerpt: String::new(),
            });
        }
        Ok(Row {
            buf: Bytes::copy_from_slice(&self.buf),
            cells,
        })
    }

    fn statement(&mut self, c: &mut Cursor<'_>, t: &OraTable) -> Lexed<RedoChange> {
        let change = if c.keyword("insert") {
            c.expect_keyword("into", "INTO after INSERT")?;
            self.table_name(c, t)?;
            let after = self.insert(c, t)?;
            (Op::Insert, None, Some(after))
        } else if c.keyword("update") {
            self.table_name(c, t)?;
            let (before, after) = self.update(c, t)?;
            (Op::Update, Some(before), Some(after))
        } else if c.keyword("delete") {
            c.expect_keyword("from", "FROM after DELETE")?;
            self.table_name(c, t)?;
            let mut before = vec![Cell::Unchanged; t.columns.len()];
            self.where_clause(c, t, &mut before)?;
            (Op::Delete, Some(before), None)
        } else {
            return c.fail(Problem::NotDml);
        };
        c.eat(b';');
        if !c.at_end() {
            return c.expected("the end of the statement");
        }
        if u32::try_from(self.buf.len()).is_err() {
            return c.fail(Problem::TooLarge);
        }
        let buf = Bytes::copy_from_slice(&self.buf);
        let row = |cells| Row {
            buf: buf.clone(),
            cells,
        };
        let (op, before, after) = change;
        Ok(RedoChange {
            op,
            before: before.map(row),
            after: after.map(row),
        })
    }

    /// `"OWNER"."NAME"`, which must be `t`'s.
    fn table_name(&mut self, c: &mut Cursor<'_>, t: &OraTable) -> Lexed<()> {
        let at = c.pos;
        let owner = c.identifier()?;
        c.expect(b'.', ". between owner and table name")?;
        let name = c.identifier()?;
        if !ident_eq(owner, &t.owner) || !ident_eq(name, &t.name) {
            c.pos = at;
            return c.fail(Problem::OtherTable(format!(
                "{}.{}",
                undouble(owner),
                undouble(name)
            )));
        }
        Ok(())
    }

    /// The index of the column named by the identifier at the cursor (after a table alias
    /// `a.`, if any); `hint` is tried first (LogMiner lists columns in table order).
    fn column(&mut self, c: &mut Cursor<'_>, t: &OraTable, hint: usize) -> Lexed<usize> {
        skip_qualifier(c);
        let at = c.pos;
        let raw = c.identifier()?;
        let name: &str = if raw.contains("\"\"") {
            self.name.clear();
            self.name.push_str(&raw.replace("\"\"", "\""));
            &self.name
        } else {
            raw
        };
        if t.columns.get(hint).is_some_and(|col| col.name == name) {
            return Ok(hint);
        }
        match t.columns.iter().position(|col| col.name == name) {
            Some(i) => Ok(i),
            None => {
                c.pos = at;
                c.fail(Problem::UnknownColumn(name.to_owned()))
            }
        }
    }

    fn value(&mut self, c: &mut Cursor<'_>, t: &OraTable, i: usize) -> Lexed<Cell> {
        value::read_value(c, &t.columns[i], &mut self.buf, self.ltz_offset_secs)
    }

    /// `("A","B") values (1,'x')`.
    fn insert(&mut self, c: &mut Cursor<'_>, t: &OraTable) -> Lexed<Vec<Cell>> {
        let mut after = vec![Cell::Unchanged; t.columns.len()];
        // The column list's indexes, in a list kept between calls (lost on an error).
        let mut idx = std::mem::take(&mut self.cols);
        idx.clear();
        c.expect(b'(', "( opening the column list")?;
        loop {
            let hint = idx.last().map_or(0, |&i: &usize| i + 1);
            idx.push(self.column(c, t, hint)?);
            if !c.eat(b',') {
                break;
            }
        }
        c.expect(b')', ") closing the column list")?;
        c.expect_keyword("values", "VALUES")?;
        c.expect(b'(', "( opening the value list")?;
        let mut n = 0;
        loop {
            let Some(&i) = idx.get(n) else {
                return c.fail(Problem::ValueCount {
                    columns: idx.len(),
                    values: n + 1,
                });
            };
            after[i] = self.value(c, t, i)?;
            n += 1;
            if !c.eat(b',') {
                break;
            }
        }
        if n != idx.len() {
            return c.fail(Problem::ValueCount {
                columns: idx.len(),
                values: n,
            });
        }
        c.expect(b')', ") closing the value list")?;
        self.cols = idx;
        Ok(after)
    }

    /// `set "A" = 1, "B" = NULL [where ...]`: the before image from the where clause, the
    /// after image from it and the set list.
    fn update(&mut self, c: &mut Cursor<'_>, t: &OraTable) -> Lexed<(Vec<Cell>, Vec<Cell>)> {
        c.expect_keyword("set", "SET")?;
        self.set.clear();
        self.set.resize(t.columns.len(), None);
        let mut hint = 0;
        loop {
            let i = self.column(c, t, hint)?;
            c.expect(b'=', "= after a column name")?;
            self.set[i] = Some(self.value(c, t, i)?);
            hint = i + 1;
            if !c.eat(b',') {
                break;
            }
        }
        let mut before = vec![Cell::Unchanged; t.columns.len()];
        self.where_clause(c, t, &mut before)?;
        let after = before
            .iter()
            .zip(&self.set)
            .map(|(b, s)| s.unwrap_or(*b))
            .collect();
        Ok((before, after))
    }

    /// `[where "A" = 1 and "B" IS NULL and ROWID = '...']` into `cells`.
    fn where_clause(&mut self, c: &mut Cursor<'_>, t: &OraTable, cells: &mut [Cell]) -> Lexed<()> {
        if !c.keyword("where") {
            return Ok(());
        }
        let mut hint = 0;
        loop {
            if c.peek() != Some(b'"') && c.keyword("ROWID") {
                c.expect(b'=', "= after ROWID")?;
                c.string()?;
            } else {
                let i = self.column(c, t, hint)?;
                hint = i + 1;
                if c.keyword("IS") {
                    c.expect_keyword("NULL", "NULL after IS")?;
                    cells[i] = Cell::Null;
                } else {
                    c.expect(b'=', "= or IS NULL after a column name")?;
                    cells[i] = self.value(c, t, i)?;
                }
            }
            if !c.keyword("and") {
                return Ok(());
            }
        }
    }
}

fn fail(table: &OraTable, sql: &str, f: lexer::Fail) -> RedoError {
    RedoError {
        table: table.qualified_name(),
        problem: f.problem,
        at: f.at,
        excerpt: excerpt(sql, f.at),
    }
}

/// A bare word before `.` (a table alias qualifying a column: `a."F3"`), skipped.
fn skip_qualifier(c: &mut Cursor<'_>) {
    let at = c.pos;
    if c.peek() == Some(b'"') || c.word().is_none() || !c.eat(b'.') {
        c.pos = at;
    }
}

/// A table alias after the table name (`"O"."T" a`), skipped.
fn skip_alias(c: &mut Cursor<'_>) {
    let at = c.pos;
    if let Some(w) = c.word() {
        let keyword = ["where", "set", "for"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k));
        if keyword {
            c.pos = at;
        }
    }
}

/// `XMLType(:1)`: the bind placeholder an XML DOC BEGIN row sets its column to.
fn bind_placeholder(c: &mut Cursor<'_>) -> Lexed<()> {
    match c.word() {
        Some(w) if w.eq_ignore_ascii_case("XMLType") => {}
        _ => return c.expected("XMLType(:1)"),
    }
    c.expect(b'(', "( after XMLType")?;
    c.expect(b':', ": of a bind placeholder")?;
    if c.number().is_none() {
        return c.expected("a bind placeholder's number");
    }
    c.expect(b')', ") closing XMLType(")
}

/// The value of a LOB_WRITE row's buffer assignment (`buf_c := 'text'`, `UNISTR(...)`,
/// `... || ...`, `buf_b := HEXTORAW('0aff')`), read as a CLOB's text or a BLOB's bytes
/// (`binary`); `None` when it is not such a value. An empty string is an empty buffer.
pub fn lob_buffer(text: &str, binary: bool) -> Option<Vec<u8>> {
    let col = OraColumn {
        name: String::new(),
        ty: if binary { OraType::Blob } else { OraType::Clob },
        nullable: true,
        is_key: false,
    };
    let mut buf = Vec::new();
    let mut c = Cursor::new(text);
    let cell = value::read_value(&mut c, &col, &mut buf, 0).ok()?;
    c.eat(b';');
    match cell {
        Cell::Text { .. } | Cell::Binary { .. } | Cell::Null if c.at_end() => Some(buf),
        _ => None,
    }
}

/// Whether a quoted identifier's inside (`""` doubled) names `stored`.
fn ident_eq(raw: &str, stored: &str) -> bool {
    if raw.contains("\"\"") {
        raw.replace("\"\"", "\"") == stored
    } else {
        raw == stored
    }
}

fn undouble(raw: &str) -> String {
    raw.replace("\"\"", "\"")
}

//! A parsed filter meets a table: names become column positions, every comparison gets the
//! class of values it compares, and every literal is read as a value of that class. What does
//! not fit (a column that does not exist, a type filters do not compare, a literal of another
//! type) is refused here, when the task is created, with the reason.

use super::ast::{CmpOp, Cond, Decimal, Literal, Number, Operand, Pattern, TypedKind};
use super::literal::{parse_date, parse_timestamp, parse_uuid};
use super::parse::{bool_text, number_text};
use crate::schema::{Column, TableSchema, TypeKind};
use crate::value::Numeric;

/// What a comparison compares, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Bool,
    /// Integers and numeric, compared exactly.
    Exact,
    /// float4 and float8, compared as float8 (PostgreSQL's cross-type float operators).
    Float,
    /// text and varchar, compared byte by byte.
    Text,
    /// character(n): compared without trailing spaces, as PostgreSQL's bpchar operators do.
    Bpchar,
    Date,
    Timestamp,
    /// Compared as instants (UTC).
    TimestampTz,
    Uuid,
}

impl Class {
    fn is_text(self) -> bool {
        matches!(self, Class::Text | Class::Bpchar)
    }
}

/// A literal read as a value of its comparison's class.
#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    Null,
    Bool(bool),
    Exact(Numeric<'static>),
    Float(f64),
    /// Text; for `Bpchar` without trailing spaces.
    Text(String),
    Date(i32),
    /// Microseconds since 1970 (UTC for timestamptz); `literal::TS_INFINITY` etc.
    Ts(i128),
    Uuid([u8; 16]),
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Column(usize),
    Const(Const),
}

/// A condition bound to a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Cmp {
        left: Arg,
        op: CmpOp,
        right: Arg,
        class: Class,
    },
    In {
        column: usize,
        list: Vec<Const>,
        class: Class,
        negated: bool,
    },
    Between {
        column: usize,
        low: Const,
        high: Const,
        class: Class,
        negated: bool,
    },
    IsNull {
        column: usize,
        negated: bool,
    },
    Like {
        column: usize,
        pattern: Pattern,
        negated: bool,
    },
    BoolColumn(usize),
}

/// The types filters compare, for messages.
const SUPPORTED: &str = "filters compare integers, numeric, real, double precision, boolean, date, timestamp, timestamptz, uuid, text, varchar and character";

/// Binds `cond` to `table`; collects the positions of the columns it uses into `used`.
pub fn bind(cond: &Cond, table: &TableSchema, used: &mut Vec<usize>) -> Result<Node, String> {
    let mut b = Binder { table, used };
    b.cond(cond)
}

struct Binder<'t> {
    table: &'t TableSchema,
    used: &'t mut Vec<usize>,
}

impl Binder<'_> {
    fn cond(&mut self, c: &Cond) -> Result<Node, String> {
        Ok(match c {
            Cond::And(parts) => Node::And(self.all(parts)?),
            Cond::Or(parts) => Node::Or(self.all(parts)?),
            Cond::Not(x) => Node::Not(Box::new(self.cond(x)?)),
            Cond::Compare { left, op, right } => self.compare(left, *op, right)?,
            Cond::In {
                column,
                list,
                negated,
            } => {
                let (i, class) = self.typed_column(column)?;
                let list = list
                    .iter()
                    .map(|l| self.constant(l, class, i))
                    .collect::<Result<_, _>>()?;
                Node::In {
                    column: i,
                    list,
                    class,
                    negated: *negated,
                }
            }
            Cond::Between {
                column,
                low,
                high,
                negated,
            } => {
                let (i, class) = self.typed_column(column)?;
                Node::Between {
                    column: i,
                    low: self.constant(low, class, i)?,
                    high: self.constant(high, class, i)?,
                    class,
                    negated: *negated,
                }
            }
            Cond::IsNull { column, negated } => Node::IsNull {
                column: self.column(column)?,
                negated: *negated,
            },
            Cond::Like {
                column,
                pattern,
                negated,
            } => {
                let (i, class) = self.typed_column(column)?;
                if !class.is_text() {
                    return Err(format!(
                        "LIKE applies to text columns; {} is {}",
                        self.name(i),
                        self.type_name(i)
                    ));
                }
                Node::Like {
                    column: i,
                    pattern: pattern.clone(),
                    negated: *negated,
                }
            }
            Cond::Column(name) => {
                let (i, class) = self.typed_column(name)?;
                if class != Class::Bool {
                    return Err(format!(
                        "{} is {}, not boolean: it cannot stand alone as a condition (compare it: {name} = ...)",
                        self.name(i),
                        self.type_name(i)
                    ));
                }
                Node::BoolColumn(i)
            }
        })
    }

    fn all(&mut self, parts: &[Cond]) -> Result<Vec<Node>, String> {
        parts.iter().map(|p| self.cond(p)).collect()
    }

    fn compare(&mut self, left: &Operand, op: CmpOp, right: &Operand) -> Result<Node, String> {
        match (left, right) {
            (Operand::Column(a), Operand::Column(b)) => {
                let (ia, ca) = self.typed_column(a)?;
                let (ib, cb) = self.typed_column(b)?;
                if ca != cb {
                    return Err(format!(
                        "{} ({}) and {} ({}) are values of different kinds: compare columns of one kind",
                        self.name(ia),
                        self.type_name(ia),
                        self.name(ib),
                        self.type_name(ib)
                    ));
                }
                Ok(Node::Cmp {
                    left: Arg::Column(ia),
                    op,
                    right: Arg::Column(ib),
                    class: ca,
                })
            }
            (Operand::Column(c), Operand::Literal(l)) => {
                let (i, class) = self.typed_column(c)?;
                Ok(Node::Cmp {
                    left: Arg::Column(i),
                    op,
                    right: Arg::Const(self.constant(l, class, i)?),
                    class,
                })
            }
            (Operand::Literal(l), Operand::Column(c)) => {
                let (i, class) = self.typed_column(c)?;
                Ok(Node::Cmp {
                    left: Arg::Column(i),
                    op: op.flipped(),
                    right: Arg::Const(self.constant(l, class, i)?),
                    class,
                })
            }
            // The parser refuses these.
            (Operand::Literal(_), Operand::Literal(_)) => {
                Err("a comparison of two literals tests no column".into())
            }
        }
    }

    /// The position of column `name`, recorded as used.
    fn column(&mut self, name: &str) -> Result<usize, String> {
        let i = self
            .table
            .columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| {
                format!(
                    "column {name:?} does not exist (the table has {})",
                    self.table
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        if !self.used.contains(&i) {
            self.used.push(i);
        }
        Ok(i)
    }

    /// The position and comparison class of column `name`.
    fn typed_column(&mut self, name: &str) -> Result<(usize, Class), String> {
        let i = self.column(name)?;
        let class = class_of(&self.table.columns[i]).ok_or_else(|| {
            format!(
                "{} has type {}, which filters do not compare ({SUPPORTED}; IS NULL tests any column)",
                self.name(i),
                self.type_name(i)
            )
        })?;
        Ok((i, class))
    }

    fn name(&self, i: usize) -> String {
        format!("column {:?}", self.table.columns[i].name)
    }

    fn type_name(&self, i: usize) -> String {
        self.table.columns[i].ty.name.clone()
    }

    /// `l` read as a value of `class`, the class of column `i`.
    fn constant(&self, l: &Literal, class: Class, i: usize) -> Result<Const, String> {
        let col = &self.table.columns[i];
        let mismatch = |what: String| {
            format!(
                "{} ({}) is compared with {what}, a value of another type",
                self.name(i),
                self.type_name(i)
            )
        };
        match (l, class) {
            (Literal::Null, _) => Ok(Const::Null),
            (Literal::Bool(b), Class::Bool) => Ok(Const::Bool(*b)),
            (Literal::Bool(b), _) => Err(mismatch(b.to_string())),
            (Literal::Number(n), Class::Exact | Class::Float) => number(n, class, col),
            (Literal::Number(n), _) => Err(mismatch(format!("the number {n}"))),
            (Literal::String(s), _) => self.string_const(s, class, col),
            (Literal::Typed(kind, s), _) => {
                let fits = matches!(
                    (kind, class),
                    (TypedKind::Date, Class::Date)
                        | (TypedKind::Timestamp, Class::Timestamp)
                        | (TypedKind::TimestampTz, Class::TimestampTz)
                        | (TypedKind::Uuid, Class::Uuid)
                );
                if !fits {
                    return Err(format!(
                        "{}: write the value as a literal of the column's type, e.g. '...'::{}",
                        mismatch(format!("{s:?}::{}", kind.sql())),
                        self.type_name(i)
                    ));
                }
                self.string_const(s, class, col)
            }
        }
    }

    /// A string literal read as a value of `class` (PostgreSQL gives an untyped string the
    /// type of the column it meets).
    fn string_const(&self, s: &str, class: Class, col: &Column) -> Result<Const, String> {
        let for_column = |e: String| format!("{e} (column {:?} is {})", col.name, col.ty.name);
        match class {
            Class::Bool => bool_text(s).map(Const::Bool).map_err(for_column),
            Class::Exact | Class::Float => {
                let n = number_text(s).map_err(for_column)?;
                number(&n, class, col)
            }
            Class::Text => Ok(Const::Text(s.to_owned())),
            Class::Bpchar => Ok(Const::Text(s.trim_end_matches(' ').to_owned())),
            Class::Date => parse_date(s).map(Const::Date).map_err(for_column),
            Class::Timestamp => parse_timestamp(s, false).map(Const::Ts).map_err(for_column),
            Class::TimestampTz => parse_timestamp(s, true).map(Const::Ts).map_err(for_column),
            Class::Uuid => parse_uuid(s).map(Const::Uuid).map_err(for_column),
        }
    }
}

/// A number read for an exact or float comparison with `col`.
fn number(n: &Number, class: Class, col: &Column) -> Result<Const, String> {
    if class == Class::Float {
        return Ok(Const::Float(match n {
            Number::Finite(d) => d.f64(),
            Number::NaN => f64::NAN,
            Number::PosInf => f64::INFINITY,
            Number::NegInf => f64::NEG_INFINITY,
        }));
    }
    let special = |what| {
        format!(
            "{what} is not an integer (column {:?} is {})",
            col.name, col.ty.name
        )
    };
    let integer_column = matches!(
        col.ty.root().kind,
        TypeKind::Int2 | TypeKind::Int4 | TypeKind::Int8
    );
    Ok(Const::Exact(match n {
        Number::Finite(d) => exact(d)?,
        Number::NaN if integer_column => return Err(special("NaN")),
        Number::PosInf | Number::NegInf if integer_column => return Err(special("Infinity")),
        Number::NaN => Numeric::NaN,
        Number::PosInf => Numeric::PosInfinity,
        Number::NegInf => Numeric::NegInfinity,
    }))
}

fn exact(d: &Decimal) -> Result<Numeric<'static>, String> {
    d.numeric()
        .ok_or_else(|| format!("the number {} is out of numeric's range", d.plain()))
}

/// The comparison class of a column's values, if filters compare them.
pub fn class_of(col: &Column) -> Option<Class> {
    let root = col.ty.root();
    Some(match &root.kind {
        TypeKind::Bool => Class::Bool,
        TypeKind::Int2 | TypeKind::Int4 | TypeKind::Int8 | TypeKind::Numeric => Class::Exact,
        TypeKind::Float4 | TypeKind::Float8 => Class::Float,
        // Other text-like types (citext, name, Oracle-compatible varchar2) compare by rules
        // of their own.
        TypeKind::Text if root.namespace == "pg_catalog" => match root.name.as_str() {
            "text" | "varchar" => Class::Text,
            "bpchar" => Class::Bpchar,
            _ => return None,
        },
        TypeKind::Date => Class::Date,
        TypeKind::Timestamp => Class::Timestamp,
        TypeKind::TimestampTz => Class::TimestampTz,
        TypeKind::Uuid => Class::Uuid,
        _ => return None,
    })
}

//! Evaluating a bound filter on one decoded row, with SQL's three-valued logic: a comparison
//! with NULL is unknown (`None`), `AND` is false if any part is false, `OR` true if any part
//! is true, `NOT` of unknown is unknown. Only the columns the filter uses are decoded, and
//! nothing is allocated per row.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::ast::{CmpOp, Pattern, Piece};
use super::bind::{Arg, Class, Const, Node};
use super::exact::{self, Exact};
use crate::event::{Cell, Row};
use crate::schema::TableSchema;
use crate::value::{decode, timestamp_unix_micros, Numeric, Value, ValueError};

use super::literal::{TS_INFINITY, TS_NEG_INFINITY};

/// A row on which the filter cannot be evaluated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EvalError {
    /// The source did not send the column's value (an unchanged TOAST value, or a column
    /// outside the old row's key).
    #[error("column {column:?} has no value in this row image")]
    Unavailable { column: String },
    #[error("column {column:?}: {source}")]
    Value {
        column: String,
        #[source]
        source: ValueError,
    },
}

/// A value as comparisons see it.
#[derive(Debug, Clone)]
enum V<'a> {
    Null,
    Bool(bool),
    Exact(Exact<'a>),
    Float(f64),
    Text(&'a str),
    Date(i32),
    Ts(i128),
    Uuid([u8; 16]),
}

/// Evaluates `node` on `row` of `table`.
pub fn eval(node: &Node, table: &TableSchema, row: &Row) -> Result<Option<bool>, EvalError> {
    let e = Eval { table, row };
    e.node(node)
}

struct Eval<'a> {
    table: &'a TableSchema,
    row: &'a Row,
}

impl<'a> Eval<'a> {
    fn node(&self, n: &'a Node) -> Result<Option<bool>, EvalError> {
        match n {
            Node::And(parts) => {
                let mut unknown = false;
                for p in parts {
                    match self.node(p)? {
                        Some(false) => return Ok(Some(false)),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
                Ok(if unknown { None } else { Some(true) })
            }
            Node::Or(parts) => {
                let mut unknown = false;
                for p in parts {
                    match self.node(p)? {
                        Some(true) => return Ok(Some(true)),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                Ok(if unknown { None } else { Some(false) })
            }
            Node::Not(x) => Ok(self.node(x)?.map(|b| !b)),
            Node::Cmp {
                left,
                op,
                right,
                class,
            } => {
                let (a, b) = (self.arg(left, *class)?, self.arg(right, *class)?);
                Ok(compare(&a, &b).map(|o| holds(*op, o)))
            }
            Node::In {
                column,
                list,
                class,
                negated,
            } => {
                let v = self.column(*column, *class)?;
                let mut unknown = false;
                for c in list {
                    match compare(&v, &constant(c)) {
                        Some(Ordering::Equal) => return Ok(Some(!negated)),
                        Some(_) => {}
                        None => unknown = true,
                    }
                }
                Ok(if unknown { None } else { Some(*negated) })
            }
            Node::Between {
                column,
                low,
                high,
                class,
                negated,
            } => {
                let v = self.column(*column, *class)?;
                let above = compare(&v, &constant(low)).map(|o| o != Ordering::Less);
                let below = compare(&v, &constant(high)).map(|o| o != Ordering::Greater);
                let inside = and(above, below);
                Ok(if *negated { inside.map(|b| !b) } else { inside })
            }
            Node::IsNull { column, negated } => {
                let is_null = match self.cell(*column)? {
                    Cell::Null => true,
                    Cell::Unchanged => return Err(self.unavailable(*column)),
                    _ => false,
                };
                Ok(Some(is_null != *negated))
            }
            Node::Like {
                column,
                pattern,
                negated,
            } => match self.decoded(*column)? {
                Value::Null => Ok(None),
                Value::Text(s) => Ok(Some(like(s, pattern) != *negated)),
                _ => Err(self.unexpected(*column)),
            },
            Node::BoolColumn(column) => match self.column(*column, Class::Bool)? {
                V::Bool(b) => Ok(Some(b)),
                _ => Ok(None),
            },
        }
    }

    fn arg(&self, a: &'a Arg, class: Class) -> Result<V<'a>, EvalError> {
        match a {
            Arg::Column(i) => self.column(*i, class),
            Arg::Const(c) => Ok(constant(c)),
        }
    }

    fn cell(&self, i: usize) -> Result<Cell, EvalError> {
        self.row
            .cells
            .get(i)
            .copied()
            .ok_or_else(|| self.unavailable(i))
    }

    fn decoded(&self, i: usize) -> Result<Value<'a>, EvalError> {
        let col = &self.table.columns[i];
        match decode(col, self.row, self.cell(i)?) {
            Ok(Value::Unavailable) => Err(self.unavailable(i)),
            Ok(v) => Ok(v),
            Err(source) => Err(EvalError::Value {
                column: col.name.clone(),
                source,
            }),
        }
    }

    /// Column `i`'s value as a value of `class`.
    fn column(&self, i: usize, class: Class) -> Result<V<'a>, EvalError> {
        let v = self.decoded(i)?;
        Ok(match (v, class) {
            (Value::Null, _) => V::Null,
            (Value::Bool(b), Class::Bool) => V::Bool(b),
            (Value::Int2(x), Class::Exact) => V::Exact(Exact::Int(i64::from(x))),
            (Value::Int4(x), Class::Exact) => V::Exact(Exact::Int(i64::from(x))),
            (Value::Int8(x), Class::Exact) => V::Exact(Exact::Int(x)),
            (Value::Numeric(n), Class::Exact) => V::Exact(Exact::Num(n)),
            (Value::Float4(x), Class::Float) => V::Float(f64::from(x)),
            (Value::Float8(x), Class::Float) => V::Float(x),
            (Value::Text(s), Class::Text) => V::Text(s),
            (Value::Text(s), Class::Bpchar) => V::Text(s.trim_end_matches(' ')),
            (Value::Date(d), Class::Date) => V::Date(d),
            (Value::Timestamp(us), Class::Timestamp)
            | (Value::TimestampTz(us), Class::TimestampTz) => V::Ts(instant(us)),
            (Value::Uuid(b), Class::Uuid) => V::Uuid(b),
            _ => return Err(self.unexpected(i)),
        })
    }

    fn unavailable(&self, i: usize) -> EvalError {
        EvalError::Unavailable {
            column: self.table.columns[i].name.clone(),
        }
    }

    /// A decoded value of a kind its column's type never decodes to.
    fn unexpected(&self, i: usize) -> EvalError {
        let col = &self.table.columns[i];
        EvalError::Value {
            column: col.name.clone(),
            source: ValueError {
                type_name: col.ty.name.clone(),
                reason: "decoded to a value the filter does not compare",
            },
        }
    }
}

/// A timestamp count as an instant the evaluator orders (the wrapped far-future counts
/// unwrapped, infinities at the ends).
fn instant(us: i64) -> i128 {
    match us {
        i64::MAX => TS_INFINITY,
        i64::MIN => TS_NEG_INFINITY,
        us => timestamp_unix_micros(us),
    }
}

fn constant(c: &Const) -> V<'_> {
    match c {
        Const::Null => V::Null,
        Const::Bool(b) => V::Bool(*b),
        Const::Exact(n) => V::Exact(Exact::Num(borrowed(n))),
        Const::Float(x) => V::Float(*x),
        Const::Text(s) => V::Text(s),
        Const::Date(d) => V::Date(*d),
        Const::Ts(t) => V::Ts(*t),
        Const::Uuid(b) => V::Uuid(*b),
    }
}

/// A numeric viewing `n`'s digits without copying them.
fn borrowed<'a>(n: &'a Numeric<'_>) -> Numeric<'a> {
    match n {
        Numeric::NaN => Numeric::NaN,
        Numeric::PosInfinity => Numeric::PosInfinity,
        Numeric::NegInfinity => Numeric::NegInfinity,
        Numeric::Finite {
            negative,
            weight,
            dscale,
            digits,
        } => Numeric::Finite {
            negative: *negative,
            weight: *weight,
            dscale: *dscale,
            digits: Cow::Borrowed(digits),
        },
    }
}

/// The order of two values of one class; `None` when either is NULL.
fn compare(a: &V<'_>, b: &V<'_>) -> Option<Ordering> {
    Some(match (a, b) {
        (V::Null, _) | (_, V::Null) => return None,
        (V::Bool(x), V::Bool(y)) => x.cmp(y),
        (V::Exact(x), V::Exact(y)) => exact::cmp(x, y),
        (V::Float(x), V::Float(y)) => exact::cmp_float(*x, *y),
        (V::Text(x), V::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (V::Date(x), V::Date(y)) => x.cmp(y),
        (V::Ts(x), V::Ts(y)) => x.cmp(y),
        (V::Uuid(x), V::Uuid(y)) => x.cmp(y),
        // Binding gives both sides one class; values of different classes never meet.
        _ => return None,
    })
}

fn holds(op: CmpOp, o: Ordering) -> bool {
    match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Ne => o != Ordering::Equal,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
    }
}

fn and(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

/// Whether `s` matches a LIKE pattern, character by character (`_` is one character, not
/// one byte), with the classic backtracking to the last `%`.
pub fn like(s: &str, pattern: &Pattern) -> bool {
    let p = &pattern.0;
    let (mut si, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    let next_char = |i: usize| s[i..].chars().next().map_or(1, char::len_utf8);
    while si < s.len() {
        match p.get(pi) {
            Some(Piece::Any) => {
                star = Some((pi + 1, si));
                pi += 1;
                continue;
            }
            Some(Piece::One) => {
                si += next_char(si);
                pi += 1;
                continue;
            }
            Some(Piece::Char(c)) if s[si..].starts_with(*c) => {
                si += c.len_utf8();
                pi += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((after_star, from)) => {
                let from = from + next_char(from);
                star = Some((after_star, from));
                pi = after_star;
                si = from;
            }
            None => return false,
        }
    }
    p[pi.min(p.len())..].iter().all(|x| *x == Piece::Any)
}

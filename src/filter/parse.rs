//! From filter text to `Cond`: `sqlparser` reads the text as a PostgreSQL expression, and the
//! expression is then converted node by node into the restricted language of `ast`, refusing
//! anything else with the reason. Unquoted names are folded to lower case, as PostgreSQL folds
//! them.

use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Expr, Ident, InTarget, UnaryOperator, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use super::ast::{CmpOp, Cond, Decimal, Literal, Number, Operand, Pattern, TypedKind};

/// Deepest nesting of parentheses and NOTs accepted (the evaluator recurses this deep).
const MAX_DEPTH: usize = 64;

/// Why a text is not a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not an SQL expression at all.
    Syntax(String),
    /// An SQL expression, but outside what filters support.
    Unsupported(String),
}

/// Parses `text` into a condition.
pub fn parse(text: &str) -> Result<Cond, Refusal> {
    let dialect = PostgreSqlDialect {};
    let syntax = |e: ParserError| Refusal::Syntax(parser_message(e));
    let mut parser = Parser::new(&dialect).try_with_sql(text).map_err(syntax)?;
    let expr = parser.parse_expr().map_err(syntax)?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(Refusal::Syntax(format!(
            "unexpected {} after the condition (one condition, no statement, no semicolon)",
            next.token
        )));
    }
    cond(&expr, 0).map_err(Refusal::Unsupported)
}

/// sqlparser's message without its "sql parser error: " prefix.
fn parser_message(e: ParserError) -> String {
    match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        ParserError::RecursionLimitExceeded => "nested too deeply".into(),
    }
}

fn cond(e: &Expr, depth: usize) -> Result<Cond, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "nested deeper than {MAX_DEPTH} levels of parentheses and NOT"
        ));
    }
    match e {
        Expr::Nested(inner) => cond(inner, depth + 1),
        Expr::BinaryOp {
            op: op @ (BinaryOperator::And | BinaryOperator::Or),
            ..
        } => {
            let parts = chain(e, op)
                .into_iter()
                .map(|p| cond(p, depth + 1))
                .collect::<Result<Vec<Cond>, String>>()?;
            Ok(match op {
                BinaryOperator::And => Cond::And(parts),
                _ => Cond::Or(parts),
            })
        }
        Expr::BinaryOp { left, op, right } => {
            let op = cmp_op(op)?;
            match (operand(left)?, operand(right)?) {
                (Operand::Literal(_), Operand::Literal(_)) => Err(format!(
                    "{} compares two literals and tests no column: compare a column",
                    snippet(e)
                )),
                (left, right) => Ok(Cond::Compare { left, op, right }),
            }
        }
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => Ok(Cond::Not(Box::new(cond(expr, depth + 1)?))),
        Expr::IsNull(x) | Expr::IsNotNull(x) => Ok(Cond::IsNull {
            column: column(x, "IS NULL")?,
            negated: matches!(e, Expr::IsNotNull(_)),
        }),
        Expr::In {
            expr,
            target,
            negated,
            ..
        } => match target {
            InTarget::List(list) => Ok(Cond::In {
                column: column(expr, "IN")?,
                list: list
                    .iter()
                    .map(|x| literal(x, "an IN list"))
                    .collect::<Result<_, _>>()?,
                negated: *negated,
            }),
            InTarget::Subquery(_) => Err(subquery()),
            _ => Err("IN takes a list of literals: IN (1, 2, 3)".into()),
        },
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => Ok(Cond::Between {
            column: column(expr, "BETWEEN")?,
            low: literal(low, "BETWEEN")?,
            high: literal(high, "BETWEEN")?,
            negated: *negated,
        }),
        Expr::Like {
            negated,
            any: false,
            expr,
            pattern,
            escape_char,
        } => like(expr, pattern, escape_char.as_deref(), *negated),
        Expr::ILike { .. } => Err(
            "ILIKE is not supported (its case folding depends on the database's locale): use LIKE"
                .into(),
        ),
        Expr::Identifier(id) => Ok(Cond::Column(name(id))),
        Expr::Value(_) | Expr::Cast { .. } | Expr::TypedString(_) => Err(format!(
            "{} is not a condition: a filter tests columns",
            snippet(e)
        )),
        other => Err(unsupported(other)),
    }
}

/// The operands of a chain of one operator (`a AND b AND c`), left to right, collected
/// without recursion (the parser builds long chains as deep left-leaning trees).
fn chain<'e>(e: &'e Expr, op: &BinaryOperator) -> Vec<&'e Expr> {
    let mut right_sides = Vec::new();
    let mut cur = e;
    while let Expr::BinaryOp { left, op: o, right } = cur {
        if o != op {
            break;
        }
        right_sides.push(&**right);
        cur = left;
    }
    right_sides.push(cur);
    right_sides.reverse();
    right_sides
}

fn cmp_op(op: &BinaryOperator) -> Result<CmpOp, String> {
    Ok(match op {
        BinaryOperator::Eq => CmpOp::Eq,
        BinaryOperator::NotEq => CmpOp::Ne,
        BinaryOperator::Lt => CmpOp::Lt,
        BinaryOperator::LtEq => CmpOp::Le,
        BinaryOperator::Gt => CmpOp::Gt,
        BinaryOperator::GtEq => CmpOp::Ge,
        other => {
            return Err(format!(
                "operator {other} is not supported (comparisons are =, <>, !=, <, <=, >, >=)"
            ))
        }
    })
}

fn like(expr: &Expr, pattern: &Expr, escape: Option<&Expr>, negated: bool) -> Result<Cond, String> {
    let column = column(expr, "LIKE")?;
    let Literal::String(text) = literal(pattern, "a LIKE pattern")? else {
        return Err("a LIKE pattern is a string literal: name LIKE 'abc%'".into());
    };
    let escape = match escape {
        None => Some('\\'),
        Some(e) => match literal(e, "ESCAPE")? {
            Literal::String(s) if s.is_empty() => None,
            Literal::String(s) if s.chars().count() == 1 => s.chars().next(),
            _ => return Err("ESCAPE takes one character, e.g. ESCAPE '!'".into()),
        },
    };
    Ok(Cond::Like {
        column,
        pattern: Pattern::parse(&text, escape)?,
        negated,
    })
}

/// A column name where `what` needs one.
fn column(e: &Expr, what: &str) -> Result<String, String> {
    match e {
        Expr::Identifier(id) => Ok(name(id)),
        Expr::Nested(inner) => column(inner, what),
        Expr::CompoundIdentifier(_) => Err(qualified()),
        other => Err(format!(
            "{what} applies to a column, not to {}",
            snippet(other)
        )),
    }
}

/// A literal where `what` needs one.
fn literal(e: &Expr, what: &str) -> Result<Literal, String> {
    match operand(e)? {
        Operand::Literal(l) => Ok(l),
        Operand::Column(c) => Err(format!("{what} takes literals, not column {c:?}")),
    }
}

fn operand(e: &Expr) -> Result<Operand, String> {
    match e {
        Expr::Identifier(id) => Ok(Operand::Column(name(id))),
        Expr::CompoundIdentifier(_) => Err(qualified()),
        Expr::Nested(inner) => operand(inner),
        Expr::Value(v) => value(&v.value).map(Operand::Literal),
        Expr::UnaryOp {
            op: op @ (UnaryOperator::Minus | UnaryOperator::Plus),
            expr,
        } => match operand(expr)? {
            Operand::Literal(Literal::Number(n)) => Ok(Operand::Literal(Literal::Number(
                if *op == UnaryOperator::Minus {
                    n.negated()
                } else {
                    n
                },
            ))),
            _ => Err(format!(
                "{} is not supported: a sign applies to a number literal",
                snippet(e)
            )),
        },
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            expr,
            data_type,
            format: None,
        } => match operand(expr)? {
            Operand::Literal(l) => cast(l, data_type).map(Operand::Literal),
            Operand::Column(c) => Err(format!(
                "casting column {c:?} is not supported: compare the column itself with a literal of its type"
            )),
        },
        Expr::TypedString(t) => match t.value.value.clone().into_string() {
            Some(s) => cast(Literal::String(s), &t.data_type).map(Operand::Literal),
            None => Err(unsupported(e)),
        },
        other => Err(unsupported(other)),
    }
}

fn value(v: &Value) -> Result<Literal, String> {
    match v {
        Value::Null => Ok(Literal::Null),
        Value::Boolean(b) => Ok(Literal::Bool(*b)),
        Value::Number(text, _) => Decimal::parse(text)
            .map(|d| Literal::Number(Number::Finite(d)))
            .ok_or_else(|| format!("number {text} is out of range (at most 16383 digits on either side of the point)")),
        Value::SingleQuotedString(s)
        | Value::EscapedStringLiteral(s)
        | Value::UnicodeStringLiteral(s)
        | Value::NationalStringLiteral(s) => string(s),
        Value::DollarQuotedString(s) => string(&s.value),
        other => Err(format!("the literal {other} is not supported")),
    }
}

fn string(s: &str) -> Result<Literal, String> {
    if s.contains('\0') {
        return Err("a string literal holds a NUL character, which PostgreSQL text cannot".into());
    }
    Ok(Literal::String(s.to_owned()))
}

/// The type a literal is cast to (or written with: `DATE '2024-01-01'`).
fn cast(l: Literal, ty: &DataType) -> Result<Literal, String> {
    let name = ty.to_string().to_ascii_lowercase();
    if name.contains('(') {
        return Err(format!(
            "a cast to {name} is not supported: write the value exactly, without a type modifier"
        ));
    }
    let target = match name.as_str() {
        "int" | "integer" | "int2" | "int4" | "int8" | "smallint" | "bigint" | "numeric"
        | "decimal" | "real" | "float4" | "float8" | "float" | "double precision" => Target::Number,
        "text" | "varchar" | "character varying" | "bpchar" => Target::Text,
        "bool" | "boolean" => Target::Bool,
        "date" => Target::Typed(TypedKind::Date),
        "timestamp" | "timestamp without time zone" => Target::Typed(TypedKind::Timestamp),
        "timestamptz" | "timestamp with time zone" => Target::Typed(TypedKind::TimestampTz),
        "uuid" => Target::Typed(TypedKind::Uuid),
        _ => {
            return Err(format!(
                "a cast to {name} is not supported (literals may be cast to integer, numeric, float, text, varchar, bool, date, timestamp, timestamptz or uuid)"
            ))
        }
    };
    match (l, target) {
        (Literal::Null, _) => Ok(Literal::Null),
        (n @ Literal::Number(_), Target::Number) => Ok(n),
        (b @ Literal::Bool(_), Target::Bool) => Ok(b),
        (Literal::String(s), Target::Number) => number_text(&s).map(Literal::Number),
        (Literal::String(s), Target::Text) => Ok(Literal::String(s)),
        (Literal::String(s), Target::Bool) => bool_text(&s).map(Literal::Bool),
        (Literal::String(s), Target::Typed(kind)) => Ok(Literal::Typed(kind, s)),
        (l, _) => Err(format!("{} cannot be cast to {name}", describe(&l))),
    }
}

enum Target {
    Number,
    Text,
    Bool,
    Typed(TypedKind),
}

/// A string given as a number: a decimal, or one of numeric's and float's special values.
pub fn number_text(s: &str) -> Result<Number, String> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "nan" => return Ok(Number::NaN),
        "infinity" | "+infinity" | "inf" | "+inf" => return Ok(Number::PosInf),
        "-infinity" | "-inf" => return Ok(Number::NegInf),
        _ => {}
    }
    Decimal::parse(t)
        .map(Number::Finite)
        .ok_or_else(|| format!("{s:?} is not a number"))
}

/// A string given as a boolean, as PostgreSQL's `boolin` reads the full words.
pub fn bool_text(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "yes" | "on" | "1" => Ok(true),
        "f" | "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("{s:?} is not a boolean (true or false)")),
    }
}

fn describe(l: &Literal) -> String {
    match l {
        Literal::Null => "NULL".into(),
        Literal::Bool(b) => b.to_string(),
        Literal::Number(n) => format!("the number {n}"),
        Literal::String(s) => format!("{s:?}"),
        Literal::Typed(k, s) => format!("{s:?}::{}", k.sql()),
    }
}

/// A name as PostgreSQL reads it: double-quoted names as written, others in lower case.
fn name(id: &Ident) -> String {
    match id.quote_style {
        Some('"') => id.value.clone(),
        _ => id.value.to_ascii_lowercase(),
    }
}

fn unsupported(e: &Expr) -> String {
    match e {
        Expr::Function(f) => format!(
            "function {}() is not supported: a filter compares columns with literals",
            f.name
        ),
        Expr::Subquery(_) | Expr::Exists { .. } => subquery(),
        Expr::Case { .. } => "CASE is not supported: write the condition with AND, OR and NOT".into(),
        Expr::Collate { .. } => {
            "COLLATE is not supported: text is always compared byte by byte (the C collation)".into()
        }
        Expr::BinaryOp { op, .. } => format!(
            "operator {op} is not supported (a filter compares columns with literals, without arithmetic)"
        ),
        other => format!(
            "{} is not supported: a filter uses =, <>, <, <=, >, >=, [NOT] IN, [NOT] BETWEEN, [NOT] LIKE, IS [NOT] NULL, AND, OR, NOT, columns and literals",
            snippet(other)
        ),
    }
}

fn subquery() -> String {
    "subqueries are not supported: a filter tests the row's own columns".into()
}

fn qualified() -> String {
    "qualified names (table.column) are not supported: name the column alone".into()
}

/// The start of an expression's text, for messages.
fn snippet(e: &Expr) -> String {
    let s = e.to_string();
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("`{}…`", &s[..i]),
        None => format!("`{s}`"),
    }
}

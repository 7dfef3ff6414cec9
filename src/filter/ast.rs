//! The filter language as parsed, before it meets a table: the restricted set of conditions a
//! row filter may use, with column names and literal texts. Nothing outside this set can be
//! represented, so whatever is checked, evaluated or sent to PostgreSQL was in it.

use crate::value::Numeric;

/// A condition. AND and OR hold their operands in a list (a chain `a AND b AND c` is one node,
/// however long), so nesting depth is only what parentheses and NOT add.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Compare {
        left: Operand,
        op: CmpOp,
        right: Operand,
    },
    /// `column [NOT] IN (literal, ...)`.
    In {
        column: String,
        list: Vec<Literal>,
        negated: bool,
    },
    /// `column [NOT] BETWEEN low AND high`.
    Between {
        column: String,
        low: Literal,
        high: Literal,
        negated: bool,
    },
    /// `column IS [NOT] NULL`.
    IsNull {
        column: String,
        negated: bool,
    },
    /// `column [NOT] LIKE 'pattern'`.
    Like {
        column: String,
        pattern: Pattern,
        negated: bool,
    },
    /// A boolean column used as a condition (`WHERE active`).
    Column(String),
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Column(String),
    Literal(Literal),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operator with its operands swapped (`1 < a` is `a > 1`).
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            same => same,
        }
    }

    pub fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A literal as written; its type is settled by the column it meets (`crate::filter::bind`).
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    /// A number literal, or a string cast to a number type (`'5'::int`, `'NaN'::numeric`).
    Number(Number),
    /// A string literal, or one cast to a text type.
    String(String),
    /// A string cast to (or written as) a date, timestamp, timestamptz or uuid.
    Typed(TypedKind, String),
}

/// The types a string literal may be given explicitly besides numbers and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypedKind {
    Date,
    Timestamp,
    TimestampTz,
    Uuid,
}

impl TypedKind {
    pub fn sql(self) -> &'static str {
        match self {
            TypedKind::Date => "date",
            TypedKind::Timestamp => "timestamp",
            TypedKind::TimestampTz => "timestamptz",
            TypedKind::Uuid => "uuid",
        }
    }
}

/// A number: a decimal, or one of numeric's and float's special values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Number {
    Finite(Decimal),
    NaN,
    PosInf,
    NegInf,
}

impl Number {
    pub fn negated(self) -> Number {
        match self {
            Number::Finite(d) => Number::Finite(d.negated()),
            Number::NaN => Number::NaN,
            Number::PosInf => Number::NegInf,
            Number::NegInf => Number::PosInf,
        }
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Finite(d) => f.write_str(&d.plain()),
            Number::NaN => f.write_str("NaN"),
            Number::PosInf => f.write_str("Infinity"),
            Number::NegInf => f.write_str("-Infinity"),
        }
    }
}

/// An exact decimal literal: `±digits × 10^exp`, digits without leading zeros (`0` for zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    pub negative: bool,
    pub digits: String,
    pub exp: i64,
}

/// Largest power of ten a number literal may carry (PostgreSQL's numeric holds 131072 digits
/// before the point and 16383 after).
const MAX_EXP: i64 = 16_383;

impl Decimal {
    /// Parses a number as SQL writes it: `42`, `-1.50`, `.5`, `1e-3`.
    pub fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digit_run = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digit_run(int) || !digit_run(frac) {
            return None;
        }
        let mut digits = format!("{int}{frac}");
        let mut exp = exp.checked_sub(i64::try_from(frac.len()).ok()?)?;
        let trailing = digits.len() - digits.trim_end_matches('0').len();
        digits.truncate(digits.len() - trailing);
        exp += i64::try_from(trailing).ok()?;
        let digits = digits.trim_start_matches('0').to_owned();
        if digits.is_empty() {
            return Some(Decimal {
                negative: false,
                digits: "0".into(),
                exp: 0,
            });
        }
        let magnitude = exp + digits.len() as i64;
        if !(-MAX_EXP..=MAX_EXP).contains(&magnitude) || !(-MAX_EXP..=MAX_EXP).contains(&exp) {
            return None;
        }
        Some(Decimal {
            negative,
            digits,
            exp,
        })
    }

    pub fn negated(mut self) -> Decimal {
        self.negative = !self.negative && self.digits != "0";
        self
    }

    /// Plain decimal text without exponent (`-0.015`, `1200`).
    pub fn plain(&self) -> String {
        let mut s = String::new();
        if self.negative {
            s.push('-');
        }
        let n = self.digits.len() as i64;
        if self.exp >= 0 {
            s.push_str(&self.digits);
            s.extend(std::iter::repeat_n('0', self.exp as usize));
        } else if -self.exp < n {
            let point = (n + self.exp) as usize;
            s.push_str(&self.digits[..point]);
            s.push('.');
            s.push_str(&self.digits[point..]);
        } else {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', (-self.exp - n) as usize));
            s.push_str(&self.digits);
        }
        s
    }

    /// The exact value as a PostgreSQL numeric.
    pub fn numeric(&self) -> Option<Numeric<'static>> {
        Numeric::parse_text(&self.plain())
    }

    /// The nearest `f64` (correctly rounded, as PostgreSQL's `float8in` rounds).
    pub fn f64(&self) -> f64 {
        let sign = if self.negative { "-" } else { "" };
        format!("{sign}{}e{}", self.digits, self.exp)
            .parse()
            .unwrap_or(f64::NAN)
    }
}

/// A LIKE pattern, with its escapes resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(pub Vec<Piece>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// This character.
    Char(char),
    /// `_`: any one character.
    One,
    /// `%`: any run of characters, empty included.
    Any,
}

impl Pattern {
    /// Parses a LIKE pattern with escape character `escape` (`None`: no escape character), as
    /// PostgreSQL reads it: the escape character makes the next character literal, and may
    /// not end the pattern.
    pub fn parse(text: &str, escape: Option<char>) -> Result<Pattern, String> {
        let mut pieces = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            let piece = match c {
                c if Some(c) == escape => match chars.next() {
                    Some(next) => Piece::Char(next),
                    None => {
                        return Err(format!(
                            "the LIKE pattern {text:?} ends with its escape character"
                        ))
                    }
                },
                '%' => Piece::Any,
                '_' => Piece::One,
                c => Piece::Char(c),
            };
            pieces.push(piece);
        }
        Ok(Pattern(pieces))
    }

    /// The pattern written with backslash escapes (PostgreSQL's default escape character).
    pub fn backslash_text(&self) -> String {
        let mut s = String::new();
        for p in &self.0 {
            match p {
                Piece::Any => s.push('%'),
                Piece::One => s.push('_'),
                Piece::Char(c @ ('%' | '_' | '\\')) => {
                    s.push('\\');
                    s.push(*c);
                }
                Piece::Char(c) => s.push(*c),
            }
        }
        s
    }
}

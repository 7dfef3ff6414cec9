//! One value of SQL_REDO (`'text'`, `12.5`, `NULL`, `TO_DATE(...)`, `HEXTORAW(...)`,
//! `UNISTR(...) || '...'`...) read at the cursor and written into the row buffer in the form the
//! pipeline's decoders read for the column's mapped kind (`super::super::types::pg_type`):
//!
//! - NUMBER, FLOAT, BINARY_FLOAT, BINARY_DOUBLE: text cells (`crate::value::decode_text` parses
//!   them), numbers in plain decimal (an exponent is expanded: `Numeric::parse_text` reads none),
//!   `Inf`/`-Inf`/`Nan` as `Infinity`/`-Infinity`/`NaN`;
//! - character types, LOBs, LONG, ROWID, XMLTYPE: text cells, UTF-8 (`UNISTR` escapes decoded,
//!   `''` undoubled); an empty string is NULL, as Oracle stores it; `EMPTY_CLOB()` is an empty
//!   value (the LOB's content follows in LOB_WRITE rows);
//! - BLOB, RAW, LONG RAW: binary cells of the bytes;
//! - DATE, TIMESTAMP [WITH [LOCAL] TIME ZONE], INTERVALs: binary cells in PostgreSQL's send forms,
//!   since the text decoders leave those kinds undecoded (`temporal`); intervals printed either
//!   as `TO_YMINTERVAL('+02-03')` / `TO_DSINTERVAL('+01 02:03:04.5')` or as ANSI literals
//!   (`INTERVAL '2-3' YEAR(2) TO MONTH`, `INTERVAL '1 2:3:4.5' DAY(2) TO SECOND(6)`);
//! - XMLTYPE: a document inline as a string or `XMLType('<a/>')` is its text.
//!
//! `Unsupported Type` (a column LogMiner cannot render) is an unavailable cell.

use super::lexer::{push_unquoted, Cursor, Lexed};
use super::{temporal, Problem};
use crate::event::Cell;
use crate::source::oracle::table::{OraColumn, OraType};

/// Functions LogMiner wraps values in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Func {
    ToDate,
    ToTimestamp,
    ToTimestampTz,
    HexToRaw,
    Unistr,
    ToYmInterval,
    ToDsInterval,
    XmlType,
}

/// The fields of an ANSI interval literal (`INTERVAL '1-2' YEAR(2) TO MONTH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Qualifier {
    YearToMonth,
    DayToSecond,
}

/// One value expression, borrowed from the SQL text.
enum Atom<'a> {
    Null,
    /// A string literal's inside, quotes still doubled.
    Str(&'a str),
    Num(&'a str),
    Word(&'a str),
    Call(Func, &'a str),
    /// An ANSI interval literal: the string's inside and its fields.
    Interval(&'a str, Qualifier),
    EmptyLob,
    Unavailable,
}

fn func(name: &str) -> Option<Func> {
    const FUNCS: [(&str, Func); 8] = [
        ("TO_DATE", Func::ToDate),
        ("TO_TIMESTAMP", Func::ToTimestamp),
        ("TO_TIMESTAMP_TZ", Func::ToTimestampTz),
        ("HEXTORAW", Func::HexToRaw),
        ("UNISTR", Func::Unistr),
        ("TO_YMINTERVAL", Func::ToYmInterval),
        ("TO_DSINTERVAL", Func::ToDsInterval),
        ("XMLTYPE", Func::XmlType),
    ];
    FUNCS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, f)| *f)
}

fn atom<'a>(c: &mut Cursor<'a>) -> Lexed<Atom<'a>> {
    match c.peek() {
        Some(b'\'') => return c.string().map(Atom::Str),
        Some(b'0'..=b'9' | b'.' | b'+' | b'-' | b'~') => {
            if let Some(n) = c.number() {
                return Ok(Atom::Num(n));
            }
            // `-Inf`
            let start = c.pos;
            c.pos += 1;
            return match c.word() {
                Some(_) => Ok(Atom::Word(&c.src[start..c.pos])),
                None => c.expected("a value"),
            };
        }
        _ => {}
    }
    let word_at = c.pos;
    let Some(w) = c.word() else {
        return c.expected("a value");
    };
    if w.eq_ignore_ascii_case("NULL") {
        return Ok(Atom::Null);
    }
    if w.eq_ignore_ascii_case("Unsupported") {
        c.keyword("Type");
        return Ok(Atom::Unavailable);
    }
    if w.eq_ignore_ascii_case("EMPTY_CLOB") || w.eq_ignore_ascii_case("EMPTY_BLOB") {
        c.expect(b'(', "( after EMPTY_CLOB/EMPTY_BLOB")?;
        c.expect(b')', ") after EMPTY_CLOB(/EMPTY_BLOB(")?;
        return Ok(Atom::EmptyLob);
    }
    if w.eq_ignore_ascii_case("INTERVAL") && c.peek() == Some(b'\'') {
        let text = c.string()?;
        return Ok(Atom::Interval(text, qualifier(c)?));
    }
    if c.peek() != Some(b'(') {
        return Ok(Atom::Word(w));
    }
    let Some(f) = func(w) else {
        c.pos = word_at;
        return c.fail(Problem::UnsupportedFunction(w.to_owned()));
    };
    c.expect(b'(', "(")?;
    let arg = c.string()?;
    // A format argument (TO_DATE's) is not read: the session's formats are pinned, and a value
    // in another format fails to parse.
    while c.eat(b',') {
        c.string()?;
    }
    c.expect(b')', ") closing a function call")?;
    Ok(Atom::Call(f, arg))
}

/// An interval literal's fields: `YEAR[(p)] TO MONTH` or `DAY[(p)] TO SECOND[(s)]`, the forms
/// of the two INTERVAL column types (Oracle Database SQL Language Reference, "Interval
/// Literals").
fn qualifier(c: &mut Cursor<'_>) -> Lexed<Qualifier> {
    const WANT: &str = "YEAR TO MONTH or DAY TO SECOND after an interval literal";
    let (q, last) = if c.keyword("YEAR") {
        (Qualifier::YearToMonth, "MONTH")
    } else if c.keyword("DAY") {
        (Qualifier::DayToSecond, "SECOND")
    } else {
        return c.expected(WANT);
    };
    precision(c)?;
    if !c.keyword("TO") || !c.keyword(last) {
        return c.expected(WANT);
    }
    precision(c)?;
    Ok(q)
}

/// An optional `(n)` after an interval field.
fn precision(c: &mut Cursor<'_>) -> Lexed<()> {
    if c.eat(b'(') {
        if c.number().is_none() {
            return c.expected("a precision");
        }
        c.expect(b')', ") closing a precision")?;
    }
    Ok(())
}

/// Reads the value at the cursor for column `col` and writes its cell into `buf`.
pub(super) fn read_value(
    c: &mut Cursor<'_>,
    col: &OraColumn,
    buf: &mut Vec<u8>,
    ltz_offset_secs: i32,
) -> Lexed<Cell> {
    let at = c.pos;
    let bad = |c: &mut Cursor<'_>, reason: &'static str| -> Lexed<Cell> {
        c.pos = at;
        c.fail(Problem::BadValue {
            column: col.name.clone(),
            ty: col.ty.sql(),
            reason,
        })
    };
    let start = buf.len();
    let a = atom(c)?;
    match a {
        Atom::Null => return Ok(Cell::Null),
        Atom::Unavailable => return Ok(Cell::Unchanged),
        _ => {}
    }
    let result = match &col.ty {
        OraType::Number { .. } | OraType::Float { .. } => match a {
            Atom::Num(s) | Atom::Str(s) => push_number(buf, s).map(|()| text(start, buf)),
            _ => Err("not a number"),
        },
        OraType::BinaryFloat | OraType::BinaryDouble => {
            let single = col.ty == OraType::BinaryFloat;
            match a {
                Atom::Num(s) | Atom::Str(s) | Atom::Word(s) => {
                    push_float(buf, s, single).map(|()| text(start, buf))
                }
                _ => Err("not a binary float"),
            }
        }
        OraType::Blob | OraType::Raw { .. } | OraType::LongRaw => match a {
            Atom::Call(Func::HexToRaw, s) | Atom::Str(s) => {
                push_hex(buf, s).map(|()| Cell::Binary {
                    start: start as u32,
                    len: (buf.len() - start) as u32,
                })
            }
            Atom::EmptyLob => Ok(Cell::Binary {
                start: start as u32,
                len: 0,
            }),
            _ => Err("not a HEXTORAW value"),
        },
        OraType::Date | OraType::Timestamp { .. } => match a {
            Atom::Call(Func::ToDate | Func::ToTimestamp, s) | Atom::Str(s) => {
                temporal::timestamp(s).ok_or("not a date/time in the pinned NLS format")
            }
            _ => Err("not a TO_DATE/TO_TIMESTAMP value"),
        }
        .map(|us| binary(buf, &us.to_be_bytes())),
        OraType::TimestampTz { .. } | OraType::TimestampLtz { .. } => match a {
            Atom::Call(Func::ToTimestampTz | Func::ToTimestamp | Func::ToDate, s)
            | Atom::Str(s) => temporal::timestamp_tz(s, ltz_offset_secs)
                .ok_or("not a timestamp with time zone in the pinned NLS format"),
            _ => Err("not a TO_TIMESTAMP_TZ value"),
        }
        .map(|us| binary(buf, &us.to_be_bytes())),
        OraType::IntervalYm { .. } => match a {
            Atom::Call(Func::ToYmInterval, s)
            | Atom::Str(s)
            | Atom::Interval(s, Qualifier::YearToMonth) => {
                temporal::interval_ym(s).ok_or("not a year-to-month interval")
            }
            _ => Err("not a TO_YMINTERVAL value"),
        }
        .map(|months| interval(buf, 0, 0, months)),
        OraType::IntervalDs { .. } => match a {
            Atom::Call(Func::ToDsInterval, s)
            | Atom::Str(s)
            | Atom::Interval(s, Qualifier::DayToSecond) => {
                temporal::interval_ds(s).ok_or("not a day-to-second interval")
            }
            _ => Err("not a TO_DSINTERVAL value"),
        }
        .map(|(days, micros)| interval(buf, micros, days, 0)),
        _ => return read_text(c, a, buf, start).or_else(|r| bad(c, r)),
    };
    match result {
        Ok(cell) if c.peek() == Some(b'|') => {
            let _ = cell;
            bad(c, "a concatenation of a non-character value")
        }
        Ok(cell) => Ok(cell),
        Err(reason) => {
            buf.truncate(start);
            bad(c, reason)
        }
    }
}

fn text(start: usize, buf: &[u8]) -> Cell {
    Cell::Text {
        start: start as u32,
        len: (buf.len() - start) as u32,
    }
}

fn binary(buf: &mut Vec<u8>, bytes: &[u8]) -> Cell {
    let start = buf.len();
    buf.extend_from_slice(bytes);
    Cell::Binary {
        start: start as u32,
        len: bytes.len() as u32,
    }
}

fn interval(buf: &mut Vec<u8>, micros: i64, days: i32, months: i32) -> Cell {
    let start = buf.len();
    buf.extend_from_slice(&micros.to_be_bytes());
    buf.extend_from_slice(&days.to_be_bytes());
    buf.extend_from_slice(&months.to_be_bytes());
    Cell::Binary {
        start: start as u32,
        len: 16,
    }
}

/// A character value: string literals and `UNISTR` calls, joined by `||`.
fn read_text(
    c: &mut Cursor<'_>,
    first: Atom<'_>,
    buf: &mut Vec<u8>,
    start: usize,
) -> Result<Cell, &'static str> {
    let mut a = first;
    let mut empty_lob = false;
    loop {
        match a {
            Atom::Str(s) => push_unquoted(buf, s, b'\''),
            Atom::Call(Func::Unistr, s) => push_unistr(buf, s)?,
            // A simple XMLTYPE value: its document text.
            Atom::Call(Func::XmlType, s) => push_unquoted(buf, s, b'\''),
            // A number where a string is expected: its text.
            Atom::Num(s) => buf.extend_from_slice(s.as_bytes()),
            Atom::EmptyLob => empty_lob = true,
            Atom::Null => {}
            _ => return Err("not a character value"),
        }
        if c.peek() == Some(b'|') && c.src.as_bytes().get(c.pos + 1) == Some(&b'|') {
            c.pos += 2;
            a = atom(c).map_err(|_| "a concatenation without a right-hand value")?;
        } else {
            break;
        }
    }
    if buf.len() == start && !empty_lob {
        // Oracle stores '' as NULL.
        return Ok(Cell::Null);
    }
    Ok(text(start, buf))
}

/// `UNISTR`'s argument: `\XXXX` UTF-16 code units (surrogate pairs joined), `\\` a backslash,
/// anything else itself.
fn push_unistr(buf: &mut Vec<u8>, raw: &str) -> Result<(), &'static str> {
    let b = raw.as_bytes();
    let mut i = 0;
    let mut pending_high: Option<u32> = None;
    while i < b.len() {
        if b[i] != b'\\' {
            if pending_high.is_some() {
                return Err("an unpaired UTF-16 surrogate in UNISTR");
            }
            let next = b[i..]
                .iter()
                .position(|&c| c == b'\\')
                .map_or(b.len(), |p| i + p);
            push_unquoted(buf, &raw[i..next], b'\'');
            i = next;
            continue;
        }
        if b.get(i + 1) == Some(&b'\\') {
            if pending_high.is_some() {
                return Err("an unpaired UTF-16 surrogate in UNISTR");
            }
            buf.push(b'\\');
            i += 2;
            continue;
        }
        let hex = b
            .get(i + 1..i + 5)
            .ok_or("a short \\XXXX escape in UNISTR")?;
        let mut unit = 0u32;
        for &h in hex {
            unit = unit << 4 | u32::from(hex_nibble(h).ok_or("a bad \\XXXX escape in UNISTR")?);
        }
        i += 5;
        let ch = match (pending_high.take(), unit) {
            (None, 0xD800..=0xDBFF) => {
                pending_high = Some(unit);
                continue;
            }
            (Some(hi), 0xDC00..=0xDFFF) => 0x10000 + ((hi - 0xD800) << 10) + (unit - 0xDC00),
            (Some(_), _) | (None, 0xDC00..=0xDFFF) => {
                return Err("an unpaired UTF-16 surrogate in UNISTR")
            }
            (None, u) => u,
        };
        let ch = char::from_u32(ch).ok_or("a bad code point in UNISTR")?;
        let mut tmp = [0u8; 4];
        buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
    }
    if pending_high.is_some() {
        return Err("an unpaired UTF-16 surrogate in UNISTR");
    }
    Ok(())
}

fn hex_nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Hex digits as bytes (an odd count has an implied leading 0, as `HEXTORAW` reads it).
fn push_hex(buf: &mut Vec<u8>, s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    let (head, rest) = if b.len() % 2 == 1 {
        (Some(b[0]), &b[1..])
    } else {
        (None, b)
    };
    if let Some(h) = head {
        buf.push(hex_nibble(h).ok_or("not hexadecimal")?);
    }
    for pair in rest.chunks_exact(2) {
        let (hi, lo) = (hex_nibble(pair[0]), hex_nibble(pair[1]));
        buf.push((hi.ok_or("not hexadecimal")? << 4) | lo.ok_or("not hexadecimal")?);
    }
    Ok(())
}

/// The largest exponent expanded: past NUMBER's range (1E125) with room to spare.
const MAX_EXPONENT: i64 = 200;

/// A NUMBER as plain decimal text: sign, digits, fraction as printed (its trailing zeros kept);
/// `~`/`-~` (Oracle's NUMBER infinities) as `Infinity`/`-Infinity`; an exponent expanded.
fn push_number(buf: &mut Vec<u8>, s: &str) -> Result<(), &'static str> {
    let s = s.trim();
    match s {
        "~" => {
            buf.extend_from_slice(b"Infinity");
            return Ok(());
        }
        "-~" => {
            buf.extend_from_slice(b"-Infinity");
            return Ok(());
        }
        _ => {}
    }
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => {
            let e: i64 = body[i + 1..].parse().map_err(|_| "a bad exponent")?;
            if e.abs() > MAX_EXPONENT {
                return Err("an exponent out of NUMBER's range");
            }
            (&body[..i], e)
        }
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_ok = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_ok(int) || !digits_ok(frac) {
        return Err("not a number");
    }
    if negative {
        buf.push(b'-');
    }
    if exp == 0 {
        if int.is_empty() {
            buf.push(b'0');
        }
        buf.extend_from_slice(int.as_bytes());
        if !frac.is_empty() {
            buf.push(b'.');
            buf.extend_from_slice(frac.as_bytes());
        }
        return Ok(());
    }
    // Shift the decimal point of int.frac by exp places.
    let point = int.len() as i64 + exp;
    let all = || int.bytes().chain(frac.bytes());
    let n = (int.len() + frac.len()) as i64;
    let int_start = buf.len();
    if point <= 0 {
        buf.extend_from_slice(b"0.");
        buf.extend(std::iter::repeat_n(b'0', (-point) as usize));
        buf.extend(all());
        return Ok(());
    }
    buf.extend(all().take(point.min(n) as usize));
    buf.extend(std::iter::repeat_n(b'0', (point - n).max(0) as usize));
    // Leading zeros of the integer part (0.05E+1 → 00.5) are dropped, one kept.
    let lead = buf[int_start..buf.len() - 1]
        .iter()
        .take_while(|&&c| c == b'0')
        .count();
    buf.drain(int_start..int_start + lead);
    if point < n {
        buf.push(b'.');
        buf.extend(all().skip(point as usize));
    }
    Ok(())
}

/// A BINARY_FLOAT/BINARY_DOUBLE as the text the float decoder reads: LogMiner's `Inf`, `-Inf`,
/// `Nan` (and the SQL names `BINARY_FLOAT_INFINITY`...) as `Infinity`, `-Infinity`, `NaN`;
/// other values checked to parse at the column's width and passed on as printed.
fn push_float(buf: &mut Vec<u8>, s: &str, single: bool) -> Result<(), &'static str> {
    let s = s.trim();
    let (neg, word) = match s.strip_prefix('-') {
        Some(w) => (true, w),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let is = |names: &[&str]| names.iter().any(|n| word.eq_ignore_ascii_case(n));
    if is(&[
        "Inf",
        "Infinity",
        "BINARY_FLOAT_INFINITY",
        "BINARY_DOUBLE_INFINITY",
    ]) {
        buf.extend_from_slice(if neg { b"-Infinity" } else { b"Infinity" });
        return Ok(());
    }
    if is(&["Nan", "BINARY_FLOAT_NAN", "BINARY_DOUBLE_NAN"]) {
        buf.extend_from_slice(b"NaN");
        return Ok(());
    }
    let numeric = word
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    let parses = if single {
        s.parse::<f32>().is_ok_and(f32::is_finite)
    } else {
        s.parse::<f64>().is_ok_and(f64::is_finite)
    };
    if !numeric || !parses {
        return Err("not a binary float");
    }
    buf.extend_from_slice(s.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(s: &str) -> Result<String, &'static str> {
        let mut buf = Vec::new();
        push_number(&mut buf, s).map(|()| String::from_utf8(buf).unwrap())
    }

    #[test]
    fn numbers_become_plain_decimals() {
        let ok = |s: &str| number(s).unwrap();
        assert_eq!(ok("1"), "1");
        assert_eq!(ok("-123.456"), "-123.456");
        assert_eq!(ok(".5"), "0.5");
        assert_eq!(ok("-.0001"), "-0.0001");
        assert_eq!(ok("19.90"), "19.90");
        assert_eq!(ok("+7"), "7");
        let d38 = "12345678901234567890123456789012345678";
        assert_eq!(ok(d38), d38);
        assert_eq!(ok(&format!("-{d38}")), format!("-{d38}"));
        assert_eq!(ok("1.0E+3"), "1000");
        assert_eq!(ok("1.5E+1"), "15");
        assert_eq!(ok("1.25E+1"), "12.5");
        assert_eq!(ok("1E-3"), "0.001");
        assert_eq!(ok("-1.5E-2"), "-0.015");
        assert_eq!(ok("0.05E+1"), "0.5");
        assert_eq!(ok("1E+125").len(), 126);
        assert_eq!(ok("~"), "Infinity");
        assert_eq!(ok("-~"), "-Infinity");
        for bad in ["", "-", ".", "1.2.3", "1e", "1E+999", "abc", "1,5", "--1"] {
            assert!(number(bad).is_err(), "{bad}");
        }
        for s in ["123400", "0.0001", "-0.00001", "1E+125", "1E-130"] {
            let t = ok(s);
            assert!(crate::value::Numeric::parse_text(&t).is_some(), "{s} → {t}");
        }
    }

    #[test]
    fn floats_keep_their_digits_and_name_the_specials() {
        let f = |s: &str, single| {
            let mut buf = Vec::new();
            push_float(&mut buf, s, single).map(|()| String::from_utf8(buf).unwrap())
        };
        assert_eq!(f("1.5", true).unwrap(), "1.5");
        assert_eq!(f("1.10000002E+000", true).unwrap(), "1.10000002E+000");
        assert_eq!(f("-2.25E+300", false).unwrap(), "-2.25E+300");
        assert!(
            f("-2.25E+300", true).is_err(),
            "out of BINARY_FLOAT's range"
        );
        assert_eq!(f("Inf", true).unwrap(), "Infinity");
        assert_eq!(f("-Inf", false).unwrap(), "-Infinity");
        assert_eq!(f("Nan", false).unwrap(), "NaN");
        assert_eq!(f("BINARY_DOUBLE_INFINITY", false).unwrap(), "Infinity");
        assert!(f("inf", false).is_ok());
        assert!(f("infinityx", false).is_err());
        assert!(f("nan(1)", false).is_err());
    }

    #[test]
    fn unistr_decodes_utf16_escapes() {
        let u = |s: &str| {
            let mut buf = Vec::new();
            push_unistr(&mut buf, s).map(|()| String::from_utf8(buf).unwrap())
        };
        // From Debezium's LogMinerDmlParserTest (DBZ-3367).
        assert_eq!(
            u(r"\963F\72F8\5C0F\706B\8F66\5BB6\5EAD\7968(\60CA\559C\FF09\FF082161\FF09").unwrap(),
            "阿狸小火车家庭票(惊喜）（2161）"
        );
        assert_eq!(u(r"caf\00E9 \\ it''s").unwrap(), r"café \ it's");
        assert_eq!(u(r"\D83D\DE00").unwrap(), "😀");
        assert!(u(r"\D83D").is_err());
        assert!(u(r"\DE00x").is_err());
        assert!(u(r"\12").is_err());
        assert!(u(r"\12G4").is_err());
    }

    #[test]
    fn hextoraw_reads_both_cases_and_odd_lengths() {
        let mut buf = Vec::new();
        push_hex(&mut buf, "DEADbeef").unwrap();
        push_hex(&mut buf, "abc").unwrap();
        assert_eq!(buf, [0xde, 0xad, 0xbe, 0xef, 0x0a, 0xbc]);
        assert!(push_hex(&mut Vec::new(), "zz").is_err());
    }
}

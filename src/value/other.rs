//! Binary send forms of built-in types without a mapping (`TypeKind::Other` in `pg_catalog`),
//! rendered into the text PostgreSQL 15's output function prints for the same value, under the
//! settings the source pins (`extra_float_digits = 3`), so that a streamed value reads like the
//! snapshot's `col::text`.
//!
//! Covered: `inet`, `cidr`, `macaddr`, `macaddr8`, `money`, `bit`, `varbit`, `xml`, `jsonpath`,
//! `pg_lsn`, `point`, `lseg`, `box`, `line`, `path`, `polygon`, `circle`, `tsvector`, `tsquery`,
//! `int2vector`, `oidvector`, `tid`, `xid8`, `pg_snapshot`, `txid_snapshot` and `"char"`.
//!
//! One deliberate difference: `money` is printed as a plain decimal with two places
//! (`-1234.56`, like `money::numeric::text`), where PostgreSQL's `cash_out` follows
//! `lc_monetary` (`-$1,234.56` in the C locale): the binary form carries no locale.
//!
//! Every other type's binary form (an extension type tributary does not know, `aclitem`...) is a
//! `ValueError` naming the type: text is never guessed from binary bytes. Such columns are found
//! before a task starts (`check_decodable`, through `has_other_decoder`). Ranges, composites,
//! domains and the common extension types have kinds and decoders of their own. Floats are
//! printed as `float8out` does with `extra_float_digits > 0`: the shortest round-trip digits
//! (Ryu), fixed notation for decimal exponents -4..14, otherwise `d.ddde+XX`; `NaN`,
//! `Infinity`, `-Infinity`, `-0`.
//!
//! Decoding never panics: lengths are checked by `Reader`, counts are bounded by the input.

use std::borrow::Cow;
use std::fmt::Write;

use super::binary::Reader;
use super::output::float8;
use super::{fail, Value, ValueError};
use crate::schema::PgType;

/// The namespace of the built-in types this module knows.
const PG_CATALOG: &str = "pg_catalog";
/// PostgreSQL's `inet` address families (`PGSQL_AF_INET`, `PGSQL_AF_INET6`).
const AF_INET: u8 = 2;
const AF_INET6: u8 = 3;
/// tsquery item types and operators (`QI_VAL`, `QI_OPR`, `OP_NOT`...).
const QI_VAL: u8 = 1;
const QI_OPR: u8 = 2;
const OP_NOT: u8 = 1;
const OP_AND: u8 = 2;
const OP_OR: u8 = 3;
const OP_PHRASE: u8 = 4;

/// The built-in types whose binary forms `decode_other_binary` renders.
const KNOWN: &[&str] = &[
    "xml",
    "jsonpath",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "money",
    "bit",
    "varbit",
    "pg_lsn",
    "point",
    "lseg",
    "box",
    "line",
    "path",
    "polygon",
    "circle",
    "tsvector",
    "tsquery",
    "int2vector",
    "oidvector",
    "tid",
    "xid8",
    "pg_snapshot",
    "txid_snapshot",
    "char",
];

/// Whether `decode_other_binary` renders this type's binary form (a built-in it knows).
pub fn has_other_decoder(ty: &PgType) -> bool {
    ty.namespace == PG_CATALOG && KNOWN.contains(&ty.name.as_str())
}

/// Renders the binary form of a built-in type without a mapping as its text output form.
///
/// Types outside `pg_catalog`, and built-in types this module does not know, are an error:
/// their binary form is not their text.
pub fn decode_other_binary<'a>(ty: &'a PgType, b: &'a [u8]) -> Result<Value<'a>, ValueError> {
    if ty.namespace != PG_CATALOG {
        return Err(no_decoder(ty));
    }
    let text: Cow<'a, str> = match ty.name.as_str() {
        // xml_send is the text (in the client encoding) of what xml_out prints.
        "xml" => Cow::Borrowed(utf8(ty, b)?),
        "jsonpath" => Cow::Borrowed(jsonpath(ty, b)?),
        name => Cow::Owned(render(ty, name, b)?),
    };
    Ok(Value::Other {
        type_name: &ty.name,
        text,
    })
}

fn render(ty: &PgType, name: &str, b: &[u8]) -> Result<String, ValueError> {
    let mut out = String::new();
    let mut r = Reader::new(ty, b);
    match name {
        "inet" => inet(&mut r, &mut out, false)?,
        "cidr" => inet(&mut r, &mut out, true)?,
        "macaddr" => mac(&mut r, &mut out, 6)?,
        "macaddr8" => mac(&mut r, &mut out, 8)?,
        "money" => money(&mut out, r.i64()?),
        "bit" | "varbit" => bits(&mut r, &mut out)?,
        "pg_lsn" => {
            let lsn = r.u64()?;
            let _ = write!(out, "{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF);
        }
        "point" => {
            out.push('(');
            pair(&mut r, &mut out)?;
            out.push(')');
        }
        "lseg" => points(&mut r, &mut out, 2, "[", "]")?,
        "box" => points(&mut r, &mut out, 2, "", "")?,
        "line" => {
            out.push('{');
            float8(&mut out, r.f64()?);
            out.push(',');
            float8(&mut out, r.f64()?);
            out.push(',');
            float8(&mut out, r.f64()?);
            out.push('}');
        }
        "path" => {
            let closed = r.u8()? != 0;
            let n = count(&mut r, 16)?;
            let (open, close) = if closed { ("(", ")") } else { ("[", "]") };
            points(&mut r, &mut out, n, open, close)?;
        }
        "polygon" => {
            let n = count(&mut r, 16)?;
            points(&mut r, &mut out, n, "(", ")")?;
        }
        "circle" => {
            out.push_str("<(");
            pair(&mut r, &mut out)?;
            out.push_str("),");
            float8(&mut out, r.f64()?);
            out.push('>');
        }
        "tsvector" => tsvector(&mut r, &mut out)?,
        "tsquery" => tsquery(&mut r, &mut out)?,
        "int2vector" => vector(&mut r, &mut out, 2)?,
        "oidvector" => vector(&mut r, &mut out, 4)?,
        "tid" => {
            let block = r.u32()?;
            let offset = r.u16()?;
            let _ = write!(out, "({block},{offset})");
        }
        "xid8" => {
            let _ = write!(out, "{}", r.u64()?);
        }
        "pg_snapshot" | "txid_snapshot" => snapshot(&mut r, &mut out)?,
        "char" => {
            // charout: a high-bit byte as a backslash and three octal digits, NUL as nothing.
            match r.u8()? {
                0 => {}
                c if c & 0x80 != 0 => {
                    let _ = write!(out, "\\{c:03o}");
                }
                c => out.push(char::from(c)),
            }
        }
        _ => return Err(no_decoder(ty)),
    }
    r.finish()?;
    Ok(out)
}

#[cold]
fn no_decoder(ty: &PgType) -> ValueError {
    fail(ty, "no decoder for this type's binary form yet")
}

fn utf8<'a>(ty: &PgType, b: &'a [u8]) -> Result<&'a str, ValueError> {
    std::str::from_utf8(b).map_err(|_| fail(ty, "invalid UTF-8"))
}

/// jsonpath_send: a version byte (1), then the text jsonpath_out prints.
fn jsonpath<'a>(ty: &PgType, b: &'a [u8]) -> Result<&'a str, ValueError> {
    match b.split_first() {
        Some((1, text)) => utf8(ty, text),
        Some(_) => Err(fail(ty, "unsupported jsonpath version")),
        None => Err(fail(ty, "empty")),
    }
}

/// A count of items of at least `min_size` bytes each, bounded by the bytes that remain.
fn count(r: &mut Reader<'_, '_>, min_size: usize) -> Result<usize, ValueError> {
    let n = r.i32()?;
    match usize::try_from(n) {
        Ok(n) if n <= r.remaining() / min_size => Ok(n),
        _ => Err(r.error("invalid item count")),
    }
}

/// inet_send / cidr: family, bits, is_cidr (ignored, as inet_recv does), address length,
/// address. Printed as `network_out` does (`pg_inet_net_ntop`): all four IPv4 octets, IPv6 with
/// its longest zero run (at least two words, the first of equals) as `::` and an embedded IPv4
/// tail for `::a.b.c.d`/`::ffff:a.b.c.d`; `/bits` unless the length is full, always for cidr.
fn inet(r: &mut Reader<'_, '_>, out: &mut String, cidr: bool) -> Result<(), ValueError> {
    let family = r.u8()?;
    let bits = r.u8()?;
    let _is_cidr = r.u8()?;
    let len = r.u8()?;
    let addr = r.take(usize::from(len))?;
    let max_bits = match (family, addr) {
        (AF_INET, [a, b, c, d]) => {
            let _ = write!(out, "{a}.{b}.{c}.{d}");
            32
        }
        (AF_INET6, addr) if addr.len() == 16 => {
            ipv6(out, addr);
            128
        }
        _ => return Err(r.error("invalid address family or length")),
    };
    if bits > max_bits {
        return Err(r.error("invalid prefix length"));
    }
    if cidr || bits != max_bits {
        let _ = write!(out, "/{bits}");
    }
    Ok(())
}

/// `inet_net_ntop_ipv6` without the prefix length.
fn ipv6(out: &mut String, addr: &[u8]) {
    let mut words = [0u16; 8];
    for (w, pair) in words.iter_mut().zip(addr.chunks_exact(2)) {
        if let [hi, lo] = pair {
            *w = u16::from_be_bytes([*hi, *lo]);
        }
    }
    // The first longest run of zero words, if at least two long.
    let mut best: Option<(usize, usize)> = None;
    let mut cur: Option<(usize, usize)> = None;
    for (i, w) in words.iter().enumerate() {
        if *w == 0 {
            cur = Some(cur.map_or((i, 1), |(base, len)| (base, len + 1)));
        } else if let Some(run) = cur.take() {
            if best.is_none_or(|b| run.1 > b.1) {
                best = Some(run);
            }
        }
    }
    if let Some(run) = cur {
        if best.is_none_or(|b| run.1 > b.1) {
            best = Some(run);
        }
    }
    let best = best.filter(|b| b.1 >= 2);
    let (base, len) = best.unwrap_or((usize::MAX, 0));
    for (i, w) in words.iter().enumerate() {
        if i >= base && i < base + len {
            if i == base {
                out.push(':');
            }
            continue;
        }
        if i != 0 {
            out.push(':');
        }
        let embedded_v4 = i == 6
            && base == 0
            && (len == 6 || (len == 7 && words[7] != 1) || (len == 5 && words[5] == 0xFFFF));
        if embedded_v4 {
            if let [.., a, b, c, d] = addr {
                let _ = write!(out, "{a}.{b}.{c}.{d}");
            }
            break;
        }
        let _ = write!(out, "{w:x}");
    }
    if best.is_some() && base + len == 8 {
        out.push(':');
    }
}

/// macaddr (6 bytes) and macaddr8 (8 bytes): lower-case hex pairs separated by colons.
fn mac(r: &mut Reader<'_, '_>, out: &mut String, n: usize) -> Result<(), ValueError> {
    for (i, byte) in r.take(n)?.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{byte:02x}");
    }
    Ok(())
}

/// money (int64 cents) as a plain decimal with two places; see the module notes.
fn money(out: &mut String, cents: i64) {
    if cents < 0 {
        out.push('-');
    }
    let abs = cents.unsigned_abs();
    let _ = write!(out, "{}.{:02}", abs / 100, abs % 100);
}

/// bit_send / varbit_send: the bit length, then the bits, most significant first, padded to
/// whole bytes.
fn bits(r: &mut Reader<'_, '_>, out: &mut String) -> Result<(), ValueError> {
    let n = usize::try_from(r.i32()?).map_err(|_| r.error("negative bit length"))?;
    let bytes = r.take(n.div_ceil(8))?;
    out.reserve(n);
    let all = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |k| (b >> k) & 1));
    out.extend(all.take(n).map(|bit| if bit == 1 { '1' } else { '0' }));
    Ok(())
}

/// `n` points, each `(x,y)`, separated by commas, between `open` and `close` (path_encode).
fn points(
    r: &mut Reader<'_, '_>,
    out: &mut String,
    n: usize,
    open: &str,
    close: &str,
) -> Result<(), ValueError> {
    out.push_str(open);
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        out.push('(');
        pair(r, out)?;
        out.push(')');
    }
    out.push_str(close);
    Ok(())
}

fn pair(r: &mut Reader<'_, '_>, out: &mut String) -> Result<(), ValueError> {
    float8(out, r.f64()?);
    out.push(',');
    float8(out, r.f64()?);
    Ok(())
}

/// tsvectorsend: the lexeme count, then per lexeme its text (NUL-terminated), the position
/// count and the positions (weight in the top two bits). Printed as tsvectorout does:
/// `'lexeme':1A,2 'other'`, quotes and backslashes doubled.
fn tsvector(r: &mut Reader<'_, '_>, out: &mut String) -> Result<(), ValueError> {
    let n = count(r, 3)?;
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        let lexeme = std::str::from_utf8(r.cstr()?).map_err(|_| r.error("invalid UTF-8"))?;
        quoted(out, lexeme);
        let npos = r.u16()?;
        if npos > 0 {
            out.push(':');
        }
        for j in 0..npos {
            if j > 0 {
                out.push(',');
            }
            let pos = r.u16()?;
            let _ = write!(out, "{}", pos & 0x3FFF);
            match pos >> 14 {
                3 => out.push('A'),
                2 => out.push('B'),
                1 => out.push('C'),
                _ => {}
            }
        }
    }
    Ok(())
}

/// A lexeme between single quotes, `'` and `\` doubled (tsvectorout, tsqueryout).
fn quoted(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
}

/// A tsquery node, children by index.
enum TsNode<'a> {
    Val {
        text: &'a str,
        weight: u8,
        prefix: bool,
    },
    Not(usize),
    Bin {
        op: u8,
        distance: i16,
        left: usize,
        right: usize,
    },
}

/// Work for the iterative printer.
enum TsTask {
    Node {
        idx: usize,
        parent_priority: i32,
        right_phrase: bool,
    },
    Str(&'static str),
    Distance(i16),
}

/// tsquery operator priorities (`tsearch_op_priority`).
fn ts_priority(op: u8) -> i32 {
    match op {
        OP_NOT => 4,
        OP_AND => 2,
        OP_OR => 1,
        _ => 3, // OP_PHRASE
    }
}

/// tsquerysend: the item count, then the items in prefix order (an operator's right operand
/// first): `QI_VAL` weight, prefix flag, NUL-terminated text; `QI_OPR` operator and, for a
/// phrase, an int16 distance. Printed as tsqueryout's `infix` does, without recursion (the
/// nesting depth comes from the input).
fn tsquery(r: &mut Reader<'_, '_>, out: &mut String) -> Result<(), ValueError> {
    let n = r.u32()?;
    // Every item takes at least two bytes.
    let n = usize::try_from(n)
        .ok()
        .filter(|n| *n <= r.remaining() / 2)
        .ok_or_else(|| r.error("invalid item count"))?;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        match r.u8()? {
            QI_VAL => {
                let weight = r.u8()?;
                let prefix = r.u8()? != 0;
                let text = std::str::from_utf8(r.cstr()?).map_err(|_| r.error("invalid UTF-8"))?;
                if weight > 0xF {
                    return Err(r.error("invalid weight"));
                }
                items.push(TsNode::Val {
                    text,
                    weight,
                    prefix,
                });
            }
            QI_OPR => {
                let op = r.u8()?;
                let distance = if op == OP_PHRASE { r.i16()? } else { 0 };
                if !(OP_NOT..=OP_PHRASE).contains(&op) {
                    return Err(r.error("invalid operator"));
                }
                // Operands are linked below.
                items.push(TsNode::Bin {
                    op,
                    distance,
                    left: 0,
                    right: 0,
                });
            }
            _ => return Err(r.error("invalid item type")),
        }
    }
    if items.is_empty() {
        return Ok(());
    }
    // Prefix order read backwards is postfix order with the right operand on top.
    let mut stack: Vec<usize> = Vec::new();
    let malformed = |r: &Reader<'_, '_>| r.error("operator without operands");
    for idx in (0..items.len()).rev() {
        match items.get_mut(idx) {
            Some(TsNode::Bin {
                op: OP_NOT,
                left,
                right,
                ..
            }) => {
                let child = stack.pop().ok_or_else(|| malformed(r))?;
                (*left, *right) = (child, child);
            }
            Some(TsNode::Bin { left, right, .. }) => {
                *right = stack.pop().ok_or_else(|| malformed(r))?;
                *left = stack.pop().ok_or_else(|| malformed(r))?;
            }
            _ => {}
        }
        stack.push(idx);
    }
    let nodes: Vec<TsNode<'_>> = items
        .into_iter()
        .map(|node| match node {
            TsNode::Bin {
                op: OP_NOT, left, ..
            } => TsNode::Not(left),
            other => other,
        })
        .collect();
    let root = match stack.as_slice() {
        [root] => *root,
        _ => return Err(r.error("extra operands")),
    };
    let mut tasks = vec![TsTask::Node {
        idx: root,
        parent_priority: -1,
        right_phrase: false,
    }];
    while let Some(task) = tasks.pop() {
        let (idx, parent_priority, right_phrase) = match task {
            TsTask::Str(s) => {
                out.push_str(s);
                continue;
            }
            TsTask::Distance(d) => {
                let _ = write!(out, " <{d}> ");
                continue;
            }
            TsTask::Node {
                idx,
                parent_priority,
                right_phrase,
            } => (idx, parent_priority, right_phrase),
        };
        match nodes.get(idx) {
            Some(TsNode::Val {
                text,
                weight,
                prefix,
            }) => {
                quoted(out, text);
                if *weight != 0 || *prefix {
                    out.push(':');
                    if *prefix {
                        out.push('*');
                    }
                    for (bit, c) in [(8, 'A'), (4, 'B'), (2, 'C'), (1, 'D')] {
                        if weight & bit != 0 {
                            out.push(c);
                        }
                    }
                }
            }
            Some(TsNode::Not(child)) => {
                let priority = ts_priority(OP_NOT);
                let paren = priority < parent_priority;
                if paren {
                    out.push_str("( ");
                    tasks.push(TsTask::Str(" )"));
                }
                out.push('!');
                tasks.push(TsTask::Node {
                    idx: *child,
                    parent_priority: priority,
                    right_phrase: false,
                });
            }
            Some(TsNode::Bin {
                op,
                distance,
                left,
                right,
            }) => {
                let priority = ts_priority(*op);
                let paren = priority < parent_priority || (*op == OP_PHRASE && right_phrase);
                if paren {
                    out.push_str("( ");
                    tasks.push(TsTask::Str(" )"));
                }
                tasks.push(TsTask::Node {
                    idx: *right,
                    parent_priority: priority,
                    right_phrase: *op == OP_PHRASE,
                });
                tasks.push(match (*op, *distance) {
                    (OP_OR, _) => TsTask::Str(" | "),
                    (OP_AND, _) => TsTask::Str(" & "),
                    (_, 1) => TsTask::Str(" <-> "),
                    (_, d) => TsTask::Distance(d),
                });
                tasks.push(TsTask::Node {
                    idx: *left,
                    parent_priority: priority,
                    right_phrase: false,
                });
            }
            None => return Err(r.error("invalid operand")),
        }
    }
    Ok(())
}

/// int2vector / oidvector: `array_send` of a one-dimensional array without NULLs, printed as
/// the elements separated by spaces.
fn vector(r: &mut Reader<'_, '_>, out: &mut String, elem_len: usize) -> Result<(), ValueError> {
    let ndim = r.i32()?;
    let flags = r.i32()?;
    let _element_oid = r.u32()?;
    if !(0..=1).contains(&flags) {
        return Err(r.error("invalid array header"));
    }
    let n = match ndim {
        0 => 0,
        1 => {
            let n = count(r, 4 + elem_len)?;
            let _lower_bound = r.i32()?;
            n
        }
        _ => return Err(r.error("not one-dimensional")),
    };
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        if usize::try_from(r.i32()?) != Ok(elem_len) {
            return Err(r.error("invalid element length"));
        }
        let _ = if elem_len == 2 {
            write!(out, "{}", r.i16()?)
        } else {
            write!(out, "{}", r.u32()?)
        };
    }
    Ok(())
}

/// pg_snapshot_send (also txid_snapshot): the in-progress count, xmin, xmax, the in-progress
/// ids; printed `xmin:xmax:xip,xip`.
fn snapshot(r: &mut Reader<'_, '_>, out: &mut String) -> Result<(), ValueError> {
    let n = r.i32()?;
    let xmin = r.u64()?;
    let xmax = r.u64()?;
    let n = usize::try_from(n)
        .ok()
        .filter(|n| *n <= r.remaining() / 8)
        .ok_or_else(|| r.error("invalid in-progress count"))?;
    let _ = write!(out, "{xmin}:{xmax}:");
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}", r.u64()?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(name: &str) -> PgType {
        PgType::new(0, name, "pg_catalog", crate::schema::TypeKind::Other)
    }

    /// The text `decode_other_binary` renders for `name`'s binary form `hex`.
    fn render_hex(name: &str, hex: &str) -> Result<String, ValueError> {
        let ty = pg(name);
        let bytes = hex::decode(hex).expect("test hex");
        match decode_other_binary(&ty, &bytes)? {
            Value::Other { type_name, text } => {
                assert_eq!(type_name, name);
                Ok(text.into_owned())
            }
            other => panic!("not Other: {other:?}"),
        }
    }

    fn check(name: &str, cases: &[(&str, &str)]) {
        for (hex, want) in cases {
            assert_eq!(render_hex(name, hex).as_deref(), Ok(*want), "{name} {hex}");
        }
    }

    fn f8(v: f64) -> String {
        let mut s = String::new();
        float8(&mut s, v);
        s
    }

    #[test]
    fn inet_and_cidr() {
        check(
            "inet",
            &[
                ("02180004c0a80001", "192.168.0.1/24"),
                ("022000040a000001", "10.0.0.1"),
                ("02000004ffffffff", "255.255.255.255/0"),
                ("0380001000000000000000000000000000000001", "::1"),
                ("0380001000000000000000000000000000000000", "::"),
                ("0340001020010db8000000000000000000000001", "2001:db8::1/64"),
                ("0380001000000000000000000000ffff01020304", "::ffff:1.2.3.4"),
                ("0380001000000000000000000000000001020304", "::1.2.3.4"),
                ("0380001000000000000000000000000000000002", "::2"),
                ("0380001000010000000000020000000000000003", "1:0:0:2::3"),
                ("037f001000010000000000020000000000000003", "1:0:0:2::3/127"),
                ("0380001000010000000000000002000000000003", "1::2:0:0:3"),
                (
                    "0380001000010002000300040005000600070008",
                    "1:2:3:4:5:6:7:8",
                ),
                (
                    "0380001000010000000300040005000600070008",
                    "1:0:3:4:5:6:7:8",
                ),
                ("0380001000010002000300040005000600000000", "1:2:3:4:5:6::"),
                ("038000100000000000000000000000000001ffff", "::0.1.255.255"),
                ("0380001000000000000000000000fffe01020304", "::fffe:102:304"),
                ("03800010fe800000000000000000000000000001", "fe80::1"),
            ],
        );
        check(
            "cidr",
            &[
                ("020801040a000000", "10.0.0.0/8"),
                ("02200104c0a80101", "192.168.1.1/32"),
                ("0300011000000000000000000000000000000000", "::/0"),
                ("0320011020010db8000000000000000000000000", "2001:db8::/32"),
                ("0380011000000000000000000000000000000001", "::1/128"),
            ],
        );
        for bad in [
            "",
            "02200004c0a800",
            "02210004c0a80001",
            "0220000400000000ff",
            "0381001000000000000000000000000000000001",
            "04200004c0a80001",
            "02200010c0a80001c0a80001c0a80001c0a80001",
        ] {
            assert!(render_hex("inet", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mac_money_bits_lsn() {
        check("macaddr", &[("08002b010203", "08:00:2b:01:02:03")]);
        check(
            "macaddr8",
            &[("08002b0102030405", "08:00:2b:01:02:03:04:05")],
        );
        assert!(render_hex("macaddr", "08002b0102").is_err());
        assert!(render_hex("macaddr8", "08002b010203").is_err());
        check(
            "money",
            &[
                ("fffffffffffe1dc0", "-1234.56"),
                ("0000000000000000", "0.00"),
                ("0000000000000005", "0.05"),
                ("fffffffffffffffb", "-0.05"),
                ("7fffffffffffffff", "92233720368547758.07"),
                ("8000000000000000", "-92233720368547758.08"),
            ],
        );
        check(
            "varbit",
            &[
                ("00000000", ""),
                ("00000003a0", "101"),
                ("0000000aaac0", "1010101011"),
                ("00000008ff", "11111111"),
            ],
        );
        check("bit", &[("0000000900ff", "000000001")]);
        for bad in ["", "00000003", "00000003a0a0", "ffffffff"] {
            assert!(render_hex("bit", bad).is_err(), "{bad}");
        }
        check(
            "pg_lsn",
            &[
                ("00000016b374d848", "16/B374D848"),
                ("0000000000000000", "0/0"),
                ("ffffffffffffffff", "FFFFFFFF/FFFFFFFF"),
            ],
        );
    }

    #[test]
    fn floats_print_like_float8out() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (100.0, "100"),
            (1e14, "100000000000000"),
            (123456789012345.0, "123456789012345"),
            (1e15, "1e+15"),
            (1.5e15, "1.5e+15"),
            (1e16, "1e+16"),
            (1e300, "1e+300"),
            (-2.25e300, "-2.25e+300"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (0.30000000000000004, "0.30000000000000004"),
            (123.456, "123.456"),
            (1.0 / 3.0, "0.3333333333333333"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (v, want) in cases {
            assert_eq!(f8(*v), *want, "{v:e}");
        }
    }

    #[test]
    fn geometric_types() {
        let one = "3ff0000000000000";
        let two = "4000000000000000";
        let three = "4008000000000000";
        let four = "4010000000000000";
        check(
            "point",
            &[
                (&format!("{one}{two}"), "(1,2)"),
                ("7e37e43c8800759c8000000000000000", "(1e+300,-0)"),
                ("7ff80000000000007ff0000000000000", "(NaN,Infinity)"),
            ],
        );
        check(
            "line",
            &[(
                "3ff0000000000000c0000000000000003fe0000000000000",
                "{1,-2,0.5}",
            )],
        );
        check(
            "lseg",
            &[(&format!("{one}{two}{three}{four}"), "[(1,2),(3,4)]")],
        );
        check(
            "box",
            &[(&format!("{three}{four}{one}{two}"), "(3,4),(1,2)")],
        );
        check(
            "path",
            &[
                (
                    &format!("0000000002{one}{two}{three}{four}"),
                    "[(1,2),(3,4)]",
                ),
                (
                    &format!("0100000002{one}{two}{three}{four}"),
                    "((1,2),(3,4))",
                ),
                (&format!("0100000001{one}{two}"), "((1,2))"),
            ],
        );
        check(
            "polygon",
            &[(
                &format!(
                    "00000003{}{}{one}{one}{one}{}",
                    "0".repeat(32),
                    "",
                    "0".repeat(16)
                ),
                "((0,0),(1,1),(1,0))",
            )],
        );
        check("circle", &[(&format!("{one}{two}{three}"), "<(1,2),3>")]);
        for (name, bad) in [
            ("point", one.to_owned()),
            ("point", format!("{one}{two}00")),
            ("path", format!("0000000003{one}{two}{three}{four}")),
            ("path", format!("00ffffffff{one}{two}")),
            ("polygon", format!("00000002{one}{two}")),
            ("circle", format!("{one}{two}")),
        ] {
            assert!(render_hex(name, &bad).is_err(), "{name} {bad}");
        }
    }

    #[test]
    fn text_search_types() {
        check(
            "tsvector",
            &[
                ("00000000", ""),
                (
                    "0000000361000002c0010002625c63000000697427730000018003",
                    "'a':1A,2 'b\\\\c' 'it''s':3B",
                ),
            ],
        );
        // 'a' & !'b' <-> 'c':*AB
        check(
            "tsquery",
            &[
                ("00000000", ""),
                ("000000010100006100", "'a'"),
                (
                    "00000006020202040001010c016300020101000062000100006100",
                    "'a' & !'b' <-> 'c':*AB",
                ),
                // OR under AND needs parentheses: ('a' | 'b') & 'c'
                (
                    "0000000502020100006300020301000062000100006100",
                    "( 'a' | 'b' ) & 'c'",
                ),
                // phrase with distance 3, and a phrase as a phrase's right operand
                (
                    "000000050204000302040001010000630001000062000100006100",
                    "'a' <3> ( 'b' <-> 'c' )",
                ),
            ],
        );
        for bad in [
            "",
            "00000001020200",
            "0000000202020100006100",
            "000000020100006100010000620000",
            "0000000101000061",
            "00000001050000",
            "0000000102050000",
            "ffffffff",
        ] {
            assert!(render_hex("tsquery", bad).is_err(), "{bad}");
        }
        assert!(render_hex("tsvector", "00000001610000").is_err());
        assert!(render_hex("tsvector", "0000000161000001").is_err());
    }

    #[test]
    fn vectors_ids_and_small_types() {
        check(
            "int2vector",
            &[
                (
                    "000000010000000000000015000000030000000000000002000100000002000200000002fffd",
                    "1 2 -3",
                ),
                ("0000000100000000000000150000000000000000", ""),
                ("000000000000000000000015", ""),
            ],
        );
        check(
            "oidvector",
            &[(
                "00000001000000000000001a0000000200000000000000040000000100000004ffffffff",
                "1 4294967295",
            )],
        );
        assert!(render_hex(
            "int2vector",
            "00000001000000000000001500000001000000000000000400000001"
        )
        .is_err());
        assert!(render_hex(
            "int2vector",
            "000000010000000100000015000000010000000000000000ffffffff"
        )
        .is_err());
        assert!(render_hex("oidvector", "00000002000000000000001a").is_err());
        check("tid", &[("000000010002", "(1,2)")]);
        check("xid8", &[("000000000000007b", "123")]);
        let snap = "00000002000000000000000a0000000000000014000000000000000c000000000000000f";
        check("pg_snapshot", &[(snap, "10:20:12,15")]);
        check(
            "txid_snapshot",
            &[("00000000000000000000000a0000000000000014", "10:20:")],
        );
        assert!(render_hex("pg_snapshot", "00000003000000000000000a0000000000000014").is_err());
        check(
            "char",
            &[("61", "a"), ("00", ""), ("e9", "\\351"), ("5c", "\\")],
        );
        assert!(render_hex("char", "").is_err());
        assert!(render_hex("char", "6162").is_err());
    }

    #[test]
    fn text_forms_and_unknown_types() {
        check("xml", &[("3c612f3e", "<a/>")]);
        assert!(render_hex("xml", "ff").is_err());
        check(
            "jsonpath",
            &[("01242e2261223f2840203e203129", "$.\"a\"?(@ > 1)")],
        );
        assert!(render_hex("jsonpath", "02242e61").is_err());
        assert!(render_hex("jsonpath", "").is_err());
        // A built-in type without a decoder, and an extension type that happens to share a
        // built-in name: errors naming the type, not text guessed from the bytes.
        let err = render_hex("int4range", "0200000004000000010000000400000005").unwrap_err();
        assert_eq!(err.type_name, "int4range");
        assert!(err.to_string().contains("no decoder"), "{err}");
        let ty = PgType::new(0, "inet", "public", crate::schema::TypeKind::Other);
        let err = decode_other_binary(&ty, b"10.0.0.1").unwrap_err();
        assert_eq!(err.type_name, "inet");
        assert!(err.to_string().contains("no decoder"), "{err}");
    }

    #[test]
    fn every_known_name_has_a_decoder() {
        for name in KNOWN {
            let err = decode_other_binary(&pg(name), b"").err();
            assert!(
                err.is_none_or(|e| !e.to_string().contains("no decoder")),
                "{name}"
            );
        }
        assert!(!has_other_decoder(&pg("int4range")));
        let public = PgType::new(0, "inet", "public", crate::schema::TypeKind::Other);
        assert!(!has_other_decoder(&public));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A deterministic pseudo-random byte stream (xorshift), many lengths.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for name in KNOWN {
            let ty = pg(name);
            for len in 0..64 {
                for _ in 0..20 {
                    let bytes: Vec<u8> = (0..len).map(|_| (next() & 0xFF) as u8).collect();
                    let _ = decode_other_binary(&ty, &bytes);
                    // Small values make counts plausible.
                    let small: Vec<u8> = bytes.iter().map(|b| b % 4).collect();
                    let _ = decode_other_binary(&ty, &small);
                }
            }
        }
    }
}

//! LOB and XMLType redo rows read into steps, and LOB values built from them. LogMiner does not
//! print a LOB's content in its row's INSERT or UPDATE: that statement holds `EMPTY_CLOB()` /
//! `EMPTY_BLOB()` or leaves the column out, and the content follows in rows of their own
//! (`super::decode` attaches the value to the change):
//!
//! ```text
//!  SELECT_LOB_LOCATOR (9)  DECLARE loc_c CLOB; buf_c VARCHAR2(6156); ... BEGIN
//!                           select "DOC" into loc_c from "HR"."T" where "ID" = '1' and ... for update;
//!  LOB_WRITE (10)          buf_c := 'text'; dbms_lob.write(loc_c, 4, 1, buf_c);   (BLOB: loc_b, buf_b,
//!                                                                                  HEXTORAW('0aff'))
//!  LOB_TRIM (11)           dbms_lob.trim(loc_c, 3);
//!  LOB_ERASE (29)          dbms_lob.erase(loc_c, 2, 1);
//!  XML DOC BEGIN (68)      XML DOC BEGIN:  select "DATA" from "HR"."T" where "ID" = '1'
//!                          (Oracle's documented form: update "HR"."T" a set a."DATA" = XMLType(:1) where a."ID" = '1')
//!  XML DOC WRITE (70)      XML_REDO := '<a>...':12   or   XML_REDO := HEXTORAW('3c61...'):12   or the text
//!  XML DOC END (71)
//! ```
//! Sources: the locator and write shapes are those Debezium's Oracle connector parses and tests
//! (`SelectLobParser`/`SelectLobParserTest`, DBZ-2948, and `LobWriteParser`, whose offsets are
//! 1-based); the XML shapes are Oracle's (Database Utilities 12.1, "Querying V$LOGMNR_CONTENTS
//! Based on XMLType Columns and Tables": XML DOC BEGIN as an update with `XMLType(:1)`, then
//! XML DOC WRITE rows of the document's data, then XML DOC END) and Debezium's
//! (`XmlBeginParserTest` DBZ-3605, `XmlWriteParser`: `XML_REDO := ...:length`, a hex form whose
//! closing quote Oracle may leave out). `trim` and `erase` follow `DBMS_LOB.TRIM`/`ERASE`'s
//! signatures; their SQL_REDO text was not found in a public example. A row may also carry a
//! whole block (locator, writes, trim) at once: the statements are read in order.
//!
//! Values follow `DBMS_LOB` (Oracle Database PL/SQL Packages and Types Reference): offsets and
//! amounts count characters for a CLOB and bytes for a BLOB; a write overwrites from its offset,
//! a write past the end fills the gap with spaces (CLOB) or zero bytes (BLOB), as `ERASE` does
//! to the range it erases. A CLOB's characters are counted in UTF-16 code units: Oracle stores
//! a CLOB of a multibyte database in AL16UTF16, so a character outside the BMP counts two (an
//! assumption no public example confirms).

use crate::event::Cell;

/// The largest LOB assembled, in characters or bytes (a write past it is refused: a bad offset
/// must not allocate without bound).
pub const MAX_LOB_UNITS: u64 = 1 << 30;

/// One step of a LOB row's SQL_REDO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'a> {
    /// The statement that locates the column's row (read by `RedoParser::parse_locator`).
    Locate(&'a str),
    /// `dbms_lob.write(loc, amount, offset, buf)`: the buffer's value text (after `:=`),
    /// the amount and the 1-based offset.
    Write {
        buf: &'a str,
        amount: u64,
        offset: u64,
    },
    /// `dbms_lob.trim(loc, len)`.
    Trim { len: u64 },
    /// `dbms_lob.erase(loc, amount, offset)`.
    Erase { amount: u64, offset: u64 },
}

/// The steps of a SELECT_LOB_LOCATOR, LOB_WRITE, LOB_TRIM or LOB_ERASE row, in order: its
/// statements split at `;` outside string literals, declarations, `BEGIN` and `END` skipped.
pub fn steps(sql: &str) -> Result<Vec<Step<'_>>, &'static str> {
    let mut out = Vec::new();
    let mut buf = None;
    for stmt in statements(sql) {
        let s = strip_word(strip_word(stmt.trim(), "DECLARE"), "BEGIN").trim();
        if starts_with(s, "select") || starts_with(s, "update") {
            out.push(Step::Locate(s));
        } else if let Some(args) = call(s, "dbms_lob.write") {
            let [_, amount, offset, _] = numbers::<4>(args)?;
            let buf = buf.take().ok_or("dbms_lob.write without a buffer")?;
            out.push(Step::Write {
                buf,
                amount: amount.ok_or("a bad write amount")?,
                offset: offset.ok_or("a bad write offset")?,
            });
        } else if let Some(args) = call(s, "dbms_lob.trim") {
            let [_, len] = numbers::<2>(args)?;
            out.push(Step::Trim {
                len: len.ok_or("a bad trim length")?,
            });
        } else if let Some(args) = call(s, "dbms_lob.erase") {
            let [_, amount, offset] = numbers::<3>(args)?;
            out.push(Step::Erase {
                amount: amount.ok_or("a bad erase amount")?,
                offset: offset.ok_or("a bad erase offset")?,
            });
        } else if starts_with(s, "dbms_lob") {
            return Err("a DBMS_LOB call other than write, trim or erase");
        } else if let Some((_, value)) = s.split_once(":=") {
            buf = Some(value.trim());
        }
    }
    Ok(out)
}

/// `sql` split at each `;` outside `'...'` (a doubled quote stays inside).
fn statements(sql: &str) -> impl Iterator<Item = &str> {
    let mut in_str = false;
    let mut start = 0;
    let mut cuts = Vec::new();
    for (i, b) in sql.bytes().enumerate() {
        match b {
            b'\'' => in_str = !in_str,
            b';' if !in_str => {
                cuts.push(&sql[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    cuts.push(&sql[start..]);
    cuts.into_iter()
}

/// Whether `s` starts with `w` (ASCII, any case).
fn starts_with(s: &str, w: &str) -> bool {
    s.as_bytes()
        .get(..w.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(w.as_bytes()))
}

/// `s` without a leading keyword `w` (any case).
fn strip_word<'a>(s: &'a str, w: &str) -> &'a str {
    if starts_with(s, w) {
        &s[w.len()..]
    } else {
        s
    }
}

/// The argument text of `name(...)` when `s` is that call.
fn call<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    let rest = strip_word(s, name);
    if rest.len() == s.len() {
        return None;
    }
    rest.trim().strip_prefix('(')?.trim_end().strip_suffix(')')
}

/// Exactly `N` comma-separated arguments, each as a number when it is one.
fn numbers<const N: usize>(args: &str) -> Result<[Option<u64>; N], &'static str> {
    let mut out = [None; N];
    let mut n = 0;
    for a in args.split(',') {
        *out.get_mut(n).ok_or("too many DBMS_LOB arguments")? = a.trim().parse().ok();
        n += 1;
    }
    if n != N {
        return Err("too few DBMS_LOB arguments");
    }
    Ok(out)
}

/// An XML DOC WRITE row's data: `Some(bytes)` to append (UTF-8), `None` for `XML_REDO :=
/// NULL` (the document is NULL).
pub fn xml_write(sql: &str) -> Result<Option<Vec<u8>>, &'static str> {
    let Some(rest) = sql.trim_start().strip_prefix("XML_REDO :=") else {
        // Oracle's documentation shows the document's data as the whole SQL_REDO.
        return Ok(Some(sql.as_bytes().to_vec()));
    };
    let rest = rest.trim();
    if rest.eq_ignore_ascii_case("NULL") {
        return Ok(None);
    }
    // The value, then `:length`.
    let value = match rest.rsplit_once(':') {
        Some((v, n)) if n.trim().bytes().all(|b| b.is_ascii_digit()) => v.trim(),
        _ => rest,
    };
    let hex = strip_word(value, "HEXTORAW(");
    if hex.len() < value.len() {
        let hex = hex
            .trim_end()
            .strip_suffix(')')
            .ok_or("an unclosed HEXTORAW")?;
        let hex = hex.trim().trim_start_matches('\'').trim_end_matches('\'');
        return hex_bytes(hex).map(Some);
    }
    let inner = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .ok_or("not a quoted or HEXTORAW XML value")?;
    Ok(Some(inner.replace("''", "'").into_bytes()))
}

fn hex_bytes(hex: &str) -> Result<Vec<u8>, &'static str> {
    let b = hex.as_bytes();
    if b.len() % 2 == 1 {
        return Err("an odd number of hex digits");
    }
    b.chunks_exact(2)
        .map(|p| {
            let s = std::str::from_utf8(p).map_err(|_| "not hexadecimal")?;
            u8::from_str_radix(s, 16).map_err(|_| "not hexadecimal")
        })
        .collect()
}

/// A LOB value being assembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LobValue {
    /// A CLOB/NCLOB, in UTF-16 code units (offsets count them).
    Chars(Vec<u16>),
    /// A BLOB's bytes, or an XML document's UTF-8 (`text`), appended to.
    Bytes { data: Vec<u8>, text: bool },
    /// An XML document set to NULL.
    Null,
}

impl LobValue {
    /// A value starting from `initial` (the change's cell bytes; `None` when it has none).
    pub fn new(binary: bool, initial: Option<&[u8]>) -> LobValue {
        let initial = initial.unwrap_or_default();
        if binary {
            LobValue::Bytes {
                data: initial.to_vec(),
                text: false,
            }
        } else {
            LobValue::Chars(String::from_utf8_lossy(initial).encode_utf16().collect())
        }
    }

    /// An XML document, appended to from empty.
    pub fn xml() -> LobValue {
        LobValue::Bytes {
            data: Vec::new(),
            text: true,
        }
    }

    /// Writes `data` (a CLOB's UTF-8 text or a BLOB's bytes) at 1-based `offset`, at most
    /// `amount` characters or bytes of it.
    pub fn write(&mut self, data: &[u8], amount: u64, offset: u64) -> Result<(), &'static str> {
        let at = offset.checked_sub(1).ok_or("a LOB offset below 1")?;
        match self {
            LobValue::Chars(v) => {
                let units: Vec<u16> = String::from_utf8_lossy(data).encode_utf16().collect();
                overwrite(v, at, clip(&units, amount), b' '.into())
            }
            LobValue::Bytes { data: v, .. } => overwrite(v, at, clip(data, amount), 0),
            LobValue::Null => Err("a write to a NULL document"),
        }
    }

    /// Appends an XML document's next piece (`None`: the document is NULL).
    pub fn append(&mut self, piece: Option<Vec<u8>>) {
        match (piece, &mut *self) {
            (None, _) => *self = LobValue::Null,
            (Some(p), LobValue::Bytes { data, .. }) => data.extend_from_slice(&p),
            (Some(p), _) => {
                *self = LobValue::Bytes {
                    data: p,
                    text: true,
                }
            }
        }
    }

    /// Cuts the value to `len` characters or bytes.
    pub fn trim(&mut self, len: u64) {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        match self {
            LobValue::Chars(v) => v.truncate(len),
            LobValue::Bytes { data, .. } => data.truncate(len),
            LobValue::Null => {}
        }
    }

    /// Fills `amount` characters (spaces) or bytes (zeros) from 1-based `offset` up to the end.
    pub fn erase(&mut self, amount: u64, offset: u64) {
        let from = usize::try_from(offset.saturating_sub(1)).unwrap_or(usize::MAX);
        let n = usize::try_from(amount).unwrap_or(usize::MAX);
        match self {
            LobValue::Chars(v) => fill(v, from, n, b' '.into()),
            LobValue::Bytes { data, .. } => fill(data, from, n, 0),
            LobValue::Null => {}
        }
    }

    /// The value's bytes (UTF-8 for text) and whether it is text; `None` when NULL.
    pub fn finish(self) -> Option<(Vec<u8>, bool)> {
        match self {
            LobValue::Chars(v) => Some((String::from_utf16_lossy(&v).into_bytes(), true)),
            LobValue::Bytes { data, text: true } => match String::from_utf8(data) {
                Ok(s) => Some((s.into_bytes(), true)),
                Err(e) => Some((
                    String::from_utf8_lossy(e.as_bytes())
                        .into_owned()
                        .into_bytes(),
                    true,
                )),
            },
            LobValue::Bytes { data, text: false } => Some((data, false)),
            LobValue::Null => None,
        }
    }
}

fn clip<T>(data: &[T], amount: u64) -> &[T] {
    &data[..usize::try_from(amount).map_or(data.len(), |a| a.min(data.len()))]
}

/// Overwrites `v` from `at` with `data`, padding a gap with `pad`.
fn overwrite<T: Copy>(v: &mut Vec<T>, at: u64, data: &[T], pad: T) -> Result<(), &'static str> {
    let end = at + data.len() as u64;
    if end > MAX_LOB_UNITS {
        return Err("a LOB write past the largest value assembled (1 Gi characters or bytes)");
    }
    let (at, end) = (at as usize, end as usize);
    if v.len() < at {
        v.resize(at, pad);
    }
    let keep = v.len().min(end);
    v[at..keep].copy_from_slice(&data[..keep - at]);
    v.extend_from_slice(&data[keep - at..]);
    Ok(())
}

fn fill<T: Copy>(v: &mut [T], from: usize, n: usize, pad: T) {
    let to = from.saturating_add(n).min(v.len());
    if from < to {
        v[from..to].fill(pad);
    }
}

/// A finished value as a cell over `buf` (appended to it).
pub fn cell(value: Option<(Vec<u8>, bool)>, buf: &mut Vec<u8>) -> Cell {
    let Some((bytes, text)) = value else {
        return Cell::Null;
    };
    let start = buf.len() as u32;
    let len = bytes.len() as u32;
    buf.extend_from_slice(&bytes);
    if text {
        Cell::Text { start, len }
    } else {
        Cell::Binary { start, len }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_block_reads_as_its_steps() {
        // The shape of Debezium's SelectLobParserTest (DBZ-2948) with a write and a trim.
        let sql = "DECLARE \n loc_c CLOB; \n buf_c VARCHAR2(6174); \n loc_b BLOB; \n buf_b RAW(6174); \nBEGIN\n select \"VAL_CLOB\" into loc_c from \"DEBEZIUM\".\"CLOB_TEST\" where \"ID\" = '2' and \"VAL_DATA\" = 'a;b' for update;\n buf_c := 'it''s; x'; \n  dbms_lob.write(loc_c, 7, 1, buf_c);\n dbms_lob.trim(loc_c, 5);\nEND;";
        let s = steps(sql).unwrap();
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(
            matches!(s[0], Step::Locate(l) if l.starts_with("select") && l.ends_with("for update"))
        );
        assert_eq!(
            s[1],
            Step::Write {
                buf: "'it''s; x'",
                amount: 7,
                offset: 1
            }
        );
        assert_eq!(s[2], Step::Trim { len: 5 });
        assert_eq!(
            steps("dbms_lob.erase(loc_b, 10, 3);").unwrap(),
            [Step::Erase {
                amount: 10,
                offset: 3
            }]
        );
        assert!(steps("dbms_lob.write(loc_c, 1, 1, buf_c);").is_err());
        assert!(steps("dbms_lob.copy(loc_c, loc_d, 1);").is_err());
        assert!(steps("buf_c := 'a'; dbms_lob.write(loc_c, x, 1, buf_c);").is_err());
    }

    #[test]
    fn clob_writes_count_characters_and_blob_writes_bytes() {
        let mut v = LobValue::new(false, None);
        v.write("héllo".as_bytes(), 5, 1).unwrap();
        v.write("ÉL".as_bytes(), 2, 2).unwrap();
        assert_eq!(v.clone().finish(), Some(("hÉLlo".into(), true)));
        v.write(b"!", 1, 8).unwrap();
        assert_eq!(v.clone().finish(), Some(("hÉLlo  !".into(), true)));
        v.trim(3);
        v.erase(1, 2);
        assert_eq!(v.finish(), Some(("h L".into(), true)));
        let mut b = LobValue::new(true, Some(&[1, 2, 3]));
        b.write(&[9, 9, 9], 2, 5).unwrap();
        assert_eq!(b.finish(), Some((vec![1, 2, 3, 0, 9, 9], false)));
        assert!(LobValue::new(true, None).write(b"x", 1, 0).is_err());
        assert!(LobValue::new(true, None)
            .write(b"x", 1, MAX_LOB_UNITS + 1)
            .is_err());
    }

    #[test]
    fn xml_writes_in_their_three_forms() {
        // Debezium XmlWriteParserTest: `XML_REDO := HEXTORAW('...'):length`, a quoted value,
        // NULL; Oracle's documentation: the data itself.
        let hex = "XML_REDO := HEXTORAW('3c726f6f743ec3843c2f726f6f743e'):15";
        assert_eq!(
            xml_write(hex).unwrap().unwrap(),
            "<root>Ä</root>".as_bytes()
        );
        let unclosed = "XML_REDO := HEXTORAW('3c612f3e):4";
        assert_eq!(xml_write(unclosed).unwrap().unwrap(), b"<a/>");
        let quoted = "XML_REDO := '<a x=''1''>b:c</a>':17";
        assert_eq!(xml_write(quoted).unwrap().unwrap(), b"<a x='1'>b:c</a>");
        assert_eq!(xml_write("XML_REDO := NULL").unwrap(), None);
        assert_eq!(
            xml_write("<root>test</root>").unwrap().unwrap(),
            b"<root>test</root>"
        );
        assert!(xml_write("XML_REDO := HEXTORAW('3g'):1").is_err());
    }
}

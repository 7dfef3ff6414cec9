//! The types Debezium maps to something other than their text: `money` as a decimal, `bit` as
//! a boolean or `io.debezium.data.Bits`, `point` and PostGIS types as geometry structs,
//! `hstore` as a JSON object string or a map, and the types it does not map (ranges,
//! composites) as their PostgreSQL text form.
//!
//! `money`, `bit` and `point` arrive from the value layer as their canonical text
//! (`decode_other_binary`), which is parsed here: `-1234.56`, `1010`, `(1.5,-2)`. Floats in that
//! text are shortest round-trip digits, so nothing is lost on the way.

use crate::value::{ewkb_srid, write_text, Numeric, Value};

use super::payload::Ctx;
use super::schema::Kind;
use super::DecimalHandling;
use crate::format::json::{write_base64, write_i64, write_java_f64, write_str};

/// Writes `value` when `kind` maps it to a structure or a converted scalar; `false` (nothing
/// written) when the general rendering applies.
pub(crate) fn write_structured(
    out: &mut Vec<u8>,
    kind: &Kind,
    value: &Value<'_>,
    ctx: &mut Ctx,
) -> bool {
    match (kind, value) {
        (_, Value::Null | Value::Unavailable) => return false,
        (Kind::Bool, Value::Other { text, .. }) => {
            // bit(1): Debezium reads the bit string as a base-2 integer.
            let set = text.bytes().any(|c| c == b'1');
            out.extend_from_slice(if set { b"true" } else { b"false" });
        }
        (Kind::Bits(_), Value::Other { text, .. }) => write_base64(out, &bits_le(text)),
        (Kind::Money(mode), Value::Other { text, .. }) => write_money(out, *mode, text, ctx),
        (Kind::Point, Value::Other { text, .. }) => match point(text) {
            Some((x, y)) => write_point(out, x, y),
            None => out.extend_from_slice(b"null"),
        },
        (Kind::Geometry | Kind::Geography, Value::Ewkb(b)) => write_geometry(out, b),
        (Kind::HstoreJson, Value::Hstore(pairs)) => {
            let mut obj = Vec::new();
            write_hstore_object(&mut obj, pairs);
            write_str(out, &String::from_utf8_lossy(&obj));
        }
        (Kind::HstoreMap, Value::Hstore(pairs)) => write_hstore_object(out, pairs),
        (Kind::TextForm(ty), v) => {
            let mut text = std::mem::take(&mut ctx.scratch);
            text.clear();
            write_text(ty, v, &mut text);
            write_str(out, &text);
            ctx.scratch = text;
        }
        _ => return false,
    }
    true
}

/// A bit string as Debezium's `Bits` bytes: the string read as a binary number (last character
/// = bit 0) in a `BitSet`, whose `toByteArray` is little-endian and stops at the highest set
/// bit (`"101"` → `[0x05]`, `"0000000100000010"` → `[0x02, 0x01]`, all zeros → `[]`).
pub(crate) fn bits_le(text: &str) -> Vec<u8> {
    let mut bytes: Vec<u8> = text
        .as_bytes()
        .rchunks(8)
        .map(|chunk| {
            chunk
                .iter()
                .fold(0u8, |acc, c| (acc << 1) | u8::from(*c == b'1'))
        })
        .collect();
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    bytes
}

/// `money` in the decimal mode's form. The text is the decoder's plain decimal (`-1234.56`) or,
/// from a text cell, `cash_out`'s (`-$1,234.56`): currency symbols and separators are dropped
/// as Debezium's `PostgresMoney.parse` drops them.
fn write_money(out: &mut Vec<u8>, mode: DecimalHandling, text: &str, ctx: &mut Ctx) {
    let negative = text.starts_with('-') || text.starts_with('(');
    let mut plain = String::with_capacity(text.len() + 1);
    if negative {
        plain.push('-');
    }
    plain.extend(text.chars().filter(|c| c.is_ascii_digit() || *c == '.'));
    let Some(n) = Numeric::parse_text(&plain) else {
        out.extend_from_slice(b"null");
        return;
    };
    match mode {
        DecimalHandling::Precise => {
            if n.with_unscaled_be_bytes(2, |b| write_base64(out, b))
                .is_none()
            {
                out.extend_from_slice(b"null");
            }
        }
        DecimalHandling::Double => write_java_f64(out, n.to_f64()),
        DecimalHandling::String => {
            ctx.scratch.clear();
            n.write_decimal(&mut ctx.scratch);
            write_str(out, &ctx.scratch);
        }
    }
}

/// `(x,y)` as `point_out` prints it.
fn point(text: &str) -> Option<(f64, f64)> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    let (x, y) = inner.split_once(',')?;
    Some((x.parse().ok()?, y.parse().ok()?))
}

/// `io.debezium.data.geometry.Point`: the coordinates, their 2D WKB (little-endian, as
/// Debezium's `Point.buildWKBPoint`) and no SRID.
fn write_point(out: &mut Vec<u8>, x: f64, y: f64) {
    let mut wkb = Vec::with_capacity(21);
    wkb.push(1);
    wkb.extend_from_slice(&1u32.to_le_bytes());
    wkb.extend_from_slice(&x.to_le_bytes());
    wkb.extend_from_slice(&y.to_le_bytes());
    out.extend_from_slice(b"{\"x\":");
    write_java_f64(out, x);
    out.extend_from_slice(b",\"y\":");
    write_java_f64(out, y);
    out.extend_from_slice(b",\"wkb\":");
    write_base64(out, &wkb);
    out.extend_from_slice(b",\"srid\":null}");
}

/// `io.debezium.data.geometry.Geometry`/`Geography`: the EWKB as it is, and the SRID it
/// carries (Debezium's `PostgisGeometry.fromEwkb`).
fn write_geometry(out: &mut Vec<u8>, ewkb: &[u8]) {
    out.extend_from_slice(b"{\"wkb\":");
    write_base64(out, ewkb);
    out.extend_from_slice(b",\"srid\":");
    match ewkb_srid(ewkb) {
        Some(srid) => write_i64(out, i64::from(srid)),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

/// An hstore as the JSON object Debezium writes, members in the order Java's `HashMap` (which
/// pgjdbc's `HStoreConverter` fills in stored order) iterates them.
fn write_hstore_object(out: &mut Vec<u8>, pairs: &[(&str, Option<&str>)]) {
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    out.push(b'{');
    for (n, i) in java_hashmap_order(&keys).into_iter().enumerate() {
        let Some((k, v)) = pairs.get(i) else { continue };
        if n > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        match v {
            Some(v) => write_str(out, v),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
}

/// `HashMap`'s defaults: initial table size, load factor 3/4, bins of 8 entries become trees
/// (or make the table grow while it is smaller than 64).
const JAVA_INITIAL_CAPACITY: usize = 16;
const JAVA_TREEIFY_THRESHOLD: usize = 8;
const JAVA_MIN_TREEIFY_CAPACITY: usize = 64;

/// The order in which a `java.util.HashMap<String, _>` filled with `keys` (distinct, in this
/// order) iterates them: by bucket (`hash ^ hash >>> 16`, masked by the table size, which
/// doubles past 3/4 full), then by insertion within a bucket (resizes keep relative order).
///
/// Approximation: a bucket of more than 8 keys in a table of 64 or more becomes a tree whose
/// iteration order differs; that needs 9 keys whose hashes agree in their low bits.
pub(crate) fn java_hashmap_order(keys: &[&str]) -> Vec<usize> {
    let hashes: Vec<u32> = keys.iter().map(|k| java_hash(k)).collect();
    let mut table: Vec<Vec<usize>> = vec![Vec::new(); JAVA_INITIAL_CAPACITY];
    let mut size = 0usize;
    for (i, h) in hashes.iter().enumerate() {
        let bucket = *h as usize & (table.len() - 1);
        table[bucket].push(i);
        if table[bucket].len() > JAVA_TREEIFY_THRESHOLD && table.len() < JAVA_MIN_TREEIFY_CAPACITY {
            table = resize(table, &hashes);
        }
        size += 1;
        if size > table.len() / 4 * 3 {
            table = resize(table, &hashes);
        }
    }
    table.into_iter().flatten().collect()
}

/// Doubles the table, splitting each bucket into its low and high halves in order.
fn resize(table: Vec<Vec<usize>>, hashes: &[u32]) -> Vec<Vec<usize>> {
    let old = table.len();
    let mut next = vec![Vec::new(); old * 2];
    for (j, bucket) in table.into_iter().enumerate() {
        for i in bucket {
            let high = hashes.get(i).is_some_and(|h| *h as usize & old != 0);
            next[if high { j + old } else { j }].push(i);
        }
    }
    next
}

/// `HashMap.hash(key)` of a `String`: `String.hashCode` over UTF-16 code units, spread.
fn java_hash(s: &str) -> u32 {
    let h = s
        .encode_utf16()
        .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(u32::from(c)));
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_little_endian_from_the_last_character() {
        assert_eq!(bits_le("101"), vec![0x05]);
        assert_eq!(bits_le("10100000"), vec![0xA0]);
        assert_eq!(bits_le("0000000100000010"), vec![0x02, 0x01]);
        assert_eq!(bits_le("1000000000"), vec![0x00, 0x02]);
        assert_eq!(bits_le("000"), Vec::<u8>::new());
        assert_eq!(bits_le(""), Vec::<u8>::new());
    }

    #[test]
    fn java_string_hashes() {
        // "a".hashCode() = 97; "ab" = 97*31+98 = 3105; "" = 0.
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("ab"), 3105);
        assert_eq!(java_hash(""), 0);
        // "hello".hashCode() = 99162322 (0x05E918D2); spread: h ^ (h >>> 16).
        assert_eq!(java_hash("hello"), 99_162_322 ^ (99_162_322 >> 16));
        // A character outside the BMP counts as two UTF-16 units.
        let s = "\u{1F600}";
        let want = (0xD83Du32 * 31 + 0xDE00) ^ ((0xD83Du32 * 31 + 0xDE00) >> 16);
        assert_eq!(java_hash(s), want);
    }

    #[test]
    fn hashmap_order_follows_buckets_then_insertion() {
        // Buckets (16 slots): "b" = 98 → 2, "a" = 97 → 1, "q" = 113 → 1: a before q (inserted
        // first), both before b.
        assert_eq!(java_hashmap_order(&["b", "a", "q"]), vec![1, 2, 0]);
        assert_eq!(java_hashmap_order(&["q", "a"]), vec![0, 1]);
        // 13 single-letter keys grow the table to 32: "a" (97 → 1) and "q" (113 → 17) split.
        let keys: Vec<String> = ('a'..='m').chain(['q']).map(String::from).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let order = java_hashmap_order(&refs);
        let first = order.iter().position(|i| refs[*i] == "a").unwrap();
        let q = order.iter().position(|i| refs[*i] == "q").unwrap();
        assert!(first < q && q == order.len() - 1, "{order:?}");
    }

    #[test]
    fn points_and_geometries() {
        let mut out = Vec::new();
        write_point(&mut out, 1.0, 2.0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"x\":1.0,\"y\":2.0,\"wkb\":\"AQEAAAAAAAAAAADwPwAAAAAAAABA\",\"srid\":null}"
        );
        assert_eq!(point("(1e+300,-0)"), Some((1e300, -0.0)));
        assert!(point("(NaN,Infinity)").is_some_and(|(x, y)| x.is_nan() && y.is_infinite()));
        assert_eq!(point("1,2"), None);
        let mut out = Vec::new();
        let ewkb = hex::decode("0101000020E6100000000000000000F03F0000000000000040").unwrap();
        write_geometry(&mut out, &ewkb);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"wkb\":\"AQEAACDmEAAAAAAAAAAA8D8AAAAAAAAAQA==\",\"srid\":4326}"
        );
    }
}

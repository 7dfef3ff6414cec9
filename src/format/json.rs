//! Low-level JSON output that matches what Kafka Connect's `JsonConverter` (Jackson) and its
//! `SimpleHeaderConverter` print, byte for byte: string escaping, Java's `Double.toString` /
//! `Float.toString` number forms, `BigDecimal.toString`, and base64 for `bytes`.
//!
//! Everything appends to a caller-owned `Vec<u8>` so that the per-row path allocates nothing.

use base64::Engine as _;

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a quoted JSON string, escaped as Jackson does: `"` and `\` with a backslash,
/// `\b \t \n \f \r` in their short forms, other control characters as `\u00XX` (upper-case hex);
/// everything else, including non-ASCII and U+007F, is written as UTF-8 unchanged.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    write_escaped::<false>(out, s);
}

/// Appends `s` as `write_str` does, but other control characters as `\u00xx` with lower-case
/// hex, as fastjson2 (which Canal and DTS's Canal JSON serialise with) writes them.
pub(crate) fn write_str_lower_hex(out: &mut Vec<u8>, s: &str) {
    write_escaped::<true>(out, s);
}

/// `write_str`'s body; `LOWER` picks the hex case of `\u00xx` escapes.
#[inline(always)]
fn write_escaped<const LOWER: bool>(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Runs of clean eight-byte words are copied at once; a word that needs escaping is
    // written byte by byte.
    let mut clean_from = 0;
    let mut i = 0;
    while let Some(word) = bytes.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        if needs_escape(u64::from_le_bytes(w)) {
            out.extend_from_slice(&bytes[clean_from..i]);
            for &b in word {
                push_escaped::<LOWER>(out, b);
            }
            clean_from = i + 8;
        }
        i += 8;
    }
    out.extend_from_slice(&bytes[clean_from..i]);
    for &b in &bytes[i..] {
        push_escaped::<LOWER>(out, b);
    }
    out.push(b'"');
}

/// Appends one byte of a JSON string, escaped if it must be (see `write_str`).
#[inline(always)]
fn push_escaped<const LOWER: bool>(out: &mut Vec<u8>, b: u8) {
    let short = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x09 => b't',
        0x0A => b'n',
        0x0C => b'f',
        0x0D => b'r',
        0x00..=0x1F => 0,
        _ => return out.push(b),
    };
    if short != 0 {
        out.extend_from_slice(&[b'\\', short]);
    } else {
        let hex = if LOWER { HEX_LOWER } else { HEX_UPPER };
        out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            hex[usize::from(b >> 4)],
            hex[usize::from(b & 0xF)],
        ]);
    }
}

/// Whether any of the eight bytes of `w` is a control character (< 0x20), `"` or `\`
/// (exact: the classic "has zero byte" / "has byte less than" word tests).
#[inline]
pub(crate) fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (control | has_zero(w ^ (ONES * u64::from(b'"'))) | has_zero(w ^ (ONES * u64::from(b'\\'))))
        != 0
}

/// Appends `s` quoted the way Connect's `Values.convertToString` embeds a string (header
/// values): only `\` and `"` are escaped.
pub(crate) fn write_str_header(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

pub(crate) fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

pub(crate) fn write_i128(out: &mut Vec<u8>, v: i128) {
    // 64-bit formatting is several times cheaper, and nanosecond clocks fit until 2262.
    match i64::try_from(v) {
        Ok(v) => write_i64(out, v),
        Err(_) => out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
    }
}

/// Appends `bytes` as a quoted standard base64 string (with padding), as Jackson writes binary.
pub(crate) fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let start = out.len();
    let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + written);
    out.push(b'"');
}

/// Appends a double as Jackson writes a `DoubleNode`: Java's `Double.toString` form for finite
/// values (`1.0`, `0.001`, `1.0E7`, `1.0E-4`), and the quoted strings `"NaN"`, `"Infinity"`,
/// `"-Infinity"` otherwise (Jackson's default `QUOTE_NON_NUMERIC_NUMBERS`).
pub(crate) fn write_java_f64(out: &mut Vec<u8>, v: f64) {
    // Within [1e-3, 1e7), and for zero, ryu's shortest form is already Java's: plain digits with
    // at least one fraction digit (`100.0`, `0.001`, `-2.5`, `-0.0`).
    if v == 0.0 || (1e-3..1e7).contains(&v.abs()) {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
        return;
    }
    write_java_f64_general(out, v);
}

/// `write_java_f64` without the plain-range shortcut: every finite value goes through its digits.
fn write_java_f64_general(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.extend_from_slice(non_finite(v.is_nan(), v > 0.0));
        return;
    }
    let mut buf = ryu::Buffer::new();
    let digits = Digits::parse(buf.format_finite(v));
    // Java picks a 2-digit result when it is closer than the 1-digit shortest one, which only
    // happens for the smallest subnormals.
    if digits.len == 1 && v != 0.0 && v.abs() < 1e-307 {
        let mut two = TwoDigits::default();
        let _ = std::io::Write::write_fmt(&mut two.cursor(), format_args!("{:.1e}", v));
        return write_java_digits(out, &Digits::parse(two.as_str()), v.is_sign_negative());
    }
    write_java_digits(out, &digits, v.is_sign_negative());
}

/// Appends a float as Jackson writes a `FloatNode` (Java's `Float.toString`).
pub(crate) fn write_java_f32(out: &mut Vec<u8>, v: f32) {
    if v == 0.0 || (1e-3..1e7).contains(&v.abs()) {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
        return;
    }
    write_java_f32_general(out, v);
}

/// `write_java_f32` without the plain-range shortcut.
fn write_java_f32_general(out: &mut Vec<u8>, v: f32) {
    if !v.is_finite() {
        out.extend_from_slice(non_finite(v.is_nan(), v > 0.0));
        return;
    }
    let mut buf = ryu::Buffer::new();
    let digits = Digits::parse(buf.format_finite(v));
    if digits.len == 1 && v != 0.0 && v.abs() < 1.2e-38 {
        let mut two = TwoDigits::default();
        let _ = std::io::Write::write_fmt(&mut two.cursor(), format_args!("{:.1e}", v));
        return write_java_digits(out, &Digits::parse(two.as_str()), v.is_sign_negative());
    }
    write_java_digits(out, &digits, v.is_sign_negative());
}

fn non_finite(nan: bool, positive: bool) -> &'static [u8] {
    match (nan, positive) {
        (true, _) => b"\"NaN\"",
        (false, true) => b"\"Infinity\"",
        (false, false) => b"\"-Infinity\"",
    }
}

/// A small stack buffer for `{:.1e}` output.
#[derive(Default)]
struct TwoDigits {
    buf: [u8; 32],
    len: usize,
}

impl TwoDigits {
    fn cursor(&mut self) -> TwoDigitsCursor<'_> {
        TwoDigitsCursor { d: self }
    }
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("0e0")
    }
}

struct TwoDigitsCursor<'a> {
    d: &'a mut TwoDigits,
}

impl std::io::Write for TwoDigitsCursor<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = self.d.buf.len() - self.d.len;
        let n = data.len().min(room);
        self.d.buf[self.d.len..self.d.len + n].copy_from_slice(&data[..n]);
        self.d.len += n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Significant decimal digits (no leading or trailing zeros) and the power of ten of the first.
struct Digits {
    buf: [u8; 32],
    len: usize,
    /// The value is `0.d1d2d3… × 10^(exp10 + 1)`, i.e. `d1.d2d3… × 10^exp10`.
    exp10: i32,
}

impl Digits {
    /// Parses ryu's output (`123.45`, `1e16`, `1.5e-7`, `-0.0`).
    fn parse(s: &str) -> Digits {
        let s = s.strip_prefix('-').unwrap_or(s);
        let (mant, exp) = match s.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
            None => (s, 0),
        };
        let int_len = mant.find('.').unwrap_or(mant.len()) as i32;
        let mut d = Digits {
            buf: [0; 32],
            len: 0,
            exp10: 0,
        };
        let mut leading = 0i32;
        let mut seen = false;
        for &b in mant.as_bytes().iter().filter(|b| b.is_ascii_digit()) {
            if !seen && b == b'0' {
                leading += 1;
                continue;
            }
            seen = true;
            if d.len < d.buf.len() {
                d.buf[d.len] = b;
                d.len += 1;
            }
        }
        while d.len > 1 && d.buf[d.len - 1] == b'0' {
            d.len -= 1;
        }
        if d.len == 0 {
            d.buf[0] = b'0';
            d.len = 1;
            return d;
        }
        d.exp10 = int_len + exp - 1 - leading;
        d
    }

    fn is_zero(&self) -> bool {
        self.len == 1 && self.buf[0] == b'0'
    }
}

fn write_java_digits(out: &mut Vec<u8>, d: &Digits, negative: bool) {
    if negative {
        out.push(b'-');
    }
    let digits = &d.buf[..d.len];
    if d.is_zero() {
        out.extend_from_slice(b"0.0");
        return;
    }
    let e = d.exp10;
    if (-3..7).contains(&e) {
        if e >= 0 {
            let int_len = (e + 1) as usize;
            for i in 0..int_len {
                out.push(digits.get(i).copied().unwrap_or(b'0'));
            }
            out.push(b'.');
            if digits.len() > int_len {
                out.extend_from_slice(&digits[int_len..]);
            } else {
                out.push(b'0');
            }
        } else {
            out.extend_from_slice(b"0.");
            for _ in 0..(-e - 1) {
                out.push(b'0');
            }
            out.extend_from_slice(digits);
        }
    } else {
        out.push(digits[0]);
        out.push(b'.');
        if digits.len() > 1 {
            out.extend_from_slice(&digits[1..]);
        } else {
            out.push(b'0');
        }
        out.push(b'E');
        write_i64(out, i64::from(e));
    }
}

/// Appends Java's `BigDecimal.toString()` of the plain decimal text `plain` (`-12.50`, `0.000`):
/// the unscaled value and scale are read from the text (scale = digits after the point), and
/// scientific notation is used when the adjusted exponent is below -6 (`0E-8`, `1.2E-7`).
pub(crate) fn write_java_bigdecimal(out: &mut Vec<u8>, plain: &str) {
    let (negative, body) = match plain.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, plain),
    };
    let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
    let scale = frac_part.len() as i64;
    let int_digits = int_part.trim_start_matches('0');
    // The coefficient's digits: integer part (without leading zeros) then fraction.
    let frac_trim = if int_digits.is_empty() {
        frac_part.trim_start_matches('0')
    } else {
        frac_part
    };
    let coeff_len = (int_digits.len() + frac_trim.len()) as i64;
    let zero = coeff_len == 0;
    let adjusted = if zero { -scale } else { coeff_len - 1 - scale };
    if negative && !zero {
        out.push(b'-');
    }
    if scale >= 0 && adjusted >= -6 {
        if int_digits.is_empty() {
            out.push(b'0');
        } else {
            out.extend_from_slice(int_digits.as_bytes());
        }
        if scale > 0 {
            out.push(b'.');
            out.extend_from_slice(frac_part.as_bytes());
        }
        return;
    }
    // Scientific: d.ddd E adjusted.
    let mut coeff = int_digits.bytes().chain(frac_trim.bytes());
    out.push(coeff.next().unwrap_or(b'0'));
    let rest_start = out.len();
    out.extend(coeff);
    if out.len() > rest_start {
        out.insert(rest_start, b'.');
    }
    out.push(b'E');
    if adjusted > 0 {
        out.push(b'+');
    }
    write_i64(out, adjusted);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn strings_escape_like_jackson() {
        assert_eq!(s(|o| write_str(o, "a\"b\\c")), r#""a\"b\\c""#);
        assert_eq!(s(|o| write_str(o, "\n\r\t\u{8}\u{c}")), r#""\n\r\t\b\f""#);
        assert_eq!(
            s(|o| write_str(o, "\u{1}\u{1f}\u{7f}")),
            "\"\\u0001\\u001F\u{7f}\""
        );
        assert_eq!(s(|o| write_str(o, "ünïcödé/")), "\"ünïcödé/\"");
        assert_eq!(s(|o| write_str_header(o, "a\"\n\\")), "\"a\\\"\n\\\\\"");
    }

    #[test]
    fn doubles_print_like_java() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (1.5, "1.5"),
            (100.0, "100.0"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1234567.0, "1234567.0"),
            (1.0e7, "1.0E7"),
            (12345678.9, "1.23456789E7"),
            (-2.5e-10, "-2.5E-10"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0e100, "1.0E100"),
            (f64::MAX, "1.7976931348623157E308"),
            (f64::MIN_POSITIVE, "2.2250738585072014E-308"),
            (5e-324, "4.9E-324"),
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"Infinity\""),
            (f64::NEG_INFINITY, "\"-Infinity\""),
        ];
        for (v, want) in cases {
            assert_eq!(s(|o| write_java_f64(o, *v)), *want, "{v:e}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]

        #[test]
        fn double_shortcut_matches_the_general_form(bits in proptest::prelude::any::<u64>(), plain in 1e-4f64..2e7) {
            for v in [f64::from_bits(bits), plain, -plain] {
                let (mut fast, mut general) = (Vec::new(), Vec::new());
                write_java_f64(&mut fast, v);
                write_java_f64_general(&mut general, v);
                proptest::prop_assert_eq!(fast, general, "{:e}", v);
            }
        }

        #[test]
        fn float_shortcut_matches_the_general_form(bits in proptest::prelude::any::<u32>(), plain in 1e-4f32..2e7) {
            for v in [f32::from_bits(bits), plain, -plain] {
                let (mut fast, mut general) = (Vec::new(), Vec::new());
                write_java_f32(&mut fast, v);
                write_java_f32_general(&mut general, v);
                proptest::prop_assert_eq!(fast, general, "{:e}", v);
            }
        }

        #[test]
        fn string_escaping_matches_a_bytewise_escape(text in "(?s).{0,40}", ctl in proptest::collection::vec(0u8..0x7f, 0..40)) {
            let ctl = String::from_utf8(ctl).unwrap();
            for input in [text.as_str(), ctl.as_str()] {
                let mut want = String::from("\"");
                for c in input.chars() {
                    match c {
                        '"' => want.push_str("\\\""),
                        '\\' => want.push_str("\\\\"),
                        '\u{8}' => want.push_str("\\b"),
                        '\t' => want.push_str("\\t"),
                        '\n' => want.push_str("\\n"),
                        '\u{c}' => want.push_str("\\f"),
                        '\r' => want.push_str("\\r"),
                        c if (c as u32) < 0x20 => want.push_str(&format!("\\u{:04X}", c as u32)),
                        c => want.push(c),
                    }
                }
                want.push('"');
                proptest::prop_assert_eq!(s(|o| write_str(o, input)), want);
            }
        }
    }

    #[test]
    fn boundaries_of_the_plain_double_range() {
        let cases: &[(f64, &str)] = &[
            (1e-3, "0.001"),
            (0.000999999999999999, "9.99999999999999E-4"),
            (9999999.999999998, "9999999.999999998"),
            (1e7, "1.0E7"),
            (-1e-3, "-0.001"),
            (123.0, "123.0"),
        ];
        for (v, want) in cases {
            assert_eq!(s(|o| write_java_f64(o, *v)), *want, "{v:e}");
        }
    }

    #[test]
    fn floats_print_like_java() {
        let cases: &[(f32, &str)] = &[
            (1.1, "1.1"),
            (0.1, "0.1"),
            (3.4028235e38, "3.4028235E38"),
            (1.0e-5, "1.0E-5"),
            (1.4e-45, "1.4E-45"),
            (16777216.0, "1.6777216E7"),
        ];
        for (v, want) in cases {
            assert_eq!(s(|o| write_java_f32(o, *v)), *want, "{v:e}");
        }
    }

    #[test]
    fn bigdecimal_to_string_matches_java() {
        let cases = [
            ("12.50", "12.50"),
            ("-0.05", "-0.05"),
            ("0", "0"),
            ("0.000001", "0.000001"),
            ("0.0000001", "1E-7"),
            ("0.00000012", "1.2E-7"),
            ("0.00000000", "0E-8"),
            ("-0.00000120", "-0.00000120"),
            ("-0.000000120", "-1.20E-7"),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890",
            ),
            ("007.5", "7.5"),
        ];
        for (plain, want) in cases {
            assert_eq!(s(|o| write_java_bigdecimal(o, plain)), want, "{plain}");
        }
    }

    #[test]
    fn base64_is_standard_padded() {
        assert_eq!(s(|o| write_base64(o, &[0x00, 0x96])), "\"AJY=\"");
        assert_eq!(s(|o| write_base64(o, &[])), "\"\"");
        assert_eq!(
            s(|o| write_base64(o, &[0xde, 0xad, 0xbe, 0xef, 0, 0xff])),
            "\"3q2+7wD/\""
        );
    }
}

//! JSON strings as fastjson2's `JSONWriterUTF8` writes them (Alibaba Canal serialises its flat
//! messages with fastjson2, and DTS's Canal JSON reads the same): `"` and `\` behind a
//! backslash, `\b \t \n \f \r` in their short forms, every other control character as `\u00xx`
//! with lower-case hex digits (`writeStringEscapedRest`; Jackson, `format::json::write_str`,
//! prints them upper-case), and everything else, U+007F and non-ASCII included, as raw UTF-8.
//! The escaping itself is `format::json`'s, with lower-case hex.

/// Appends `s` as a quoted JSON string, escaped as fastjson2 escapes it.
pub(super) fn write_str(out: &mut Vec<u8>, s: &str) {
    crate::format::json::write_str_lower_hex(out, s);
}

/// Appends `s` quoted, for text that holds nothing to escape (digits, dates, hex).
pub(super) fn write_plain(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(input: &str) -> String {
        let mut v = Vec::new();
        write_str(&mut v, input);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_as_fastjson2_does() {
        assert_eq!(s(""), r#""""#);
        assert_eq!(s("plain"), r#""plain""#);
        assert_eq!(s("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s("\u{8}\t\n\u{c}\r"), r#""\b\t\n\f\r""#);
        // Lower-case hex, unlike Jackson.
        assert_eq!(
            s("\u{0}\u{1}\u{b}\u{1a}\u{1f}"),
            r#""\u0000\u0001\u000b\u001a\u001f""#
        );
        assert_eq!(s("\u{7f}/<>()"), "\"\u{7f}/<>()\"");
        assert_eq!(s("héllo 中国 😀"), "\"héllo 中国 😀\"");
    }

    proptest::proptest! {
        #[test]
        fn matches_a_char_by_char_escape(text in "(?s).{0,40}") {
            let mut want = String::from("\"");
            for c in text.chars() {
                match c {
                    '"' => want.push_str("\\\""),
                    '\\' => want.push_str("\\\\"),
                    '\u{8}' => want.push_str("\\b"),
                    '\t' => want.push_str("\\t"),
                    '\n' => want.push_str("\\n"),
                    '\u{c}' => want.push_str("\\f"),
                    '\r' => want.push_str("\\r"),
                    c if (c as u32) < 0x20 => want.push_str(&format!("\\u{:04x}", c as u32)),
                    c => want.push(c),
                }
            }
            want.push('"');
            proptest::prop_assert_eq!(s(&text), want);
        }
    }
}

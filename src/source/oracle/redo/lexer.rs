//! A cursor over SQL_REDO text: the few token shapes LogMiner prints (quoted identifiers,
//! string literals, numbers, bare words, punctuation), each returned as a slice of the input so
//! that reading a statement copies nothing. Quotes stay doubled in the slices (`""`, `''`);
//! whoever writes a value out undoubles it (`push_unquoted`).

use super::Problem;

/// Where reading stopped and why (made into a `RedoError` by the parser, which knows the table).
#[derive(Debug)]
pub(super) struct Fail {
    pub at: usize,
    pub problem: Problem,
}

pub(super) type Lexed<T> = Result<T, Fail>;

pub(super) struct Cursor<'a> {
    pub src: &'a str,
    pub pos: usize,
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'#')
}

impl<'a> Cursor<'a> {
    pub fn new(src: &'a str) -> Self {
        Cursor { src, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    pub fn fail<T>(&self, problem: Problem) -> Lexed<T> {
        Err(Fail {
            at: self.pos,
            problem,
        })
    }

    pub fn expected<T>(&self, what: &'static str) -> Lexed<T> {
        self.fail(Problem::Expected(what))
    }

    pub fn skip_ws(&mut self) {
        let b = self.bytes();
        while self.pos < b.len() && b[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    /// The next non-blank byte, not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes().get(self.pos).copied()
    }

    /// Consumes `c` if it comes next.
    pub fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, c: u8, what: &'static str) -> Lexed<()> {
        if self.eat(c) {
            Ok(())
        } else {
            self.expected(what)
        }
    }

    /// Consumes the keyword `kw` (ASCII, any case) if it comes next as a whole word.
    pub fn keyword(&mut self, kw: &str) -> bool {
        self.skip_ws();
        let b = self.bytes();
        let end = self.pos + kw.len();
        if end <= b.len()
            && b[self.pos..end].eq_ignore_ascii_case(kw.as_bytes())
            && !b.get(end).is_some_and(|&c| is_word(c))
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    pub fn expect_keyword(&mut self, kw: &str, what: &'static str) -> Lexed<()> {
        if self.keyword(kw) {
            Ok(())
        } else {
            self.expected(what)
        }
    }

    /// A bare word (`NULL`, `TO_DATE`, `Inf`...), if one comes next.
    pub fn word(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let b = self.bytes();
        if !b.get(self.pos).is_some_and(|&c| is_word_start(c)) {
            return None;
        }
        let start = self.pos;
        let mut end = start + 1;
        while end < b.len() && is_word(b[end]) {
            end += 1;
        }
        self.pos = end;
        Some(&self.src[start..end])
    }

    /// A `"quoted"` identifier (its inside, `""` still doubled), or an unquoted one.
    pub fn identifier(&mut self) -> Lexed<&'a str> {
        if self.peek() == Some(b'"') {
            self.delimited(b'"', "a closing \" of an identifier")
        } else if let Some(w) = self.word() {
            Ok(w)
        } else {
            self.expected("an identifier")
        }
    }

    /// A `'string'` literal's inside (`''` still doubled).
    pub fn string(&mut self) -> Lexed<&'a str> {
        if self.peek() == Some(b'\'') {
            self.delimited(b'\'', "a closing ' of a string")
        } else {
            self.expected("a string literal")
        }
    }

    /// The text between the quote at the cursor and its closing quote (a doubled quote is part
    /// of the text).
    fn delimited(&mut self, q: u8, unclosed: &'static str) -> Lexed<&'a str> {
        let b = self.bytes();
        let start = self.pos + 1;
        let mut i = start;
        loop {
            match b[i..].iter().position(|&c| c == q) {
                None => {
                    self.pos = b.len();
                    return self.expected(unclosed);
                }
                Some(off) => {
                    i += off;
                    if b.get(i + 1) == Some(&q) {
                        i += 2;
                    } else {
                        self.pos = i + 1;
                        return Ok(&self.src[start..i]);
                    }
                }
            }
        }
    }

    /// An unquoted number as printed (`-12.5`, `.5`, `1.0E+125`, `~`), if one comes next.
    pub fn number(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let b = self.bytes();
        let start = self.pos;
        let mut i = start;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let body = i;
        if b.get(i) == Some(&b'~') {
            self.pos = i + 1;
            return Some(&self.src[start..self.pos]);
        }
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        if i == body {
            return None;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(b.get(j), Some(b'-' | b'+')) {
                j += 1;
            }
            let digits = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > digits {
                i = j;
            }
        }
        self.pos = i;
        Some(&self.src[start..i])
    }

    pub fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.src.len()
    }
}

/// Appends `raw` with each doubled quote `q` made single.
pub(super) fn push_unquoted(buf: &mut Vec<u8>, raw: &str, q: u8) {
    let b = raw.as_bytes();
    let mut rest = b;
    while let Some(i) = rest.iter().position(|&c| c == q) {
        buf.extend_from_slice(&rest[..=i]);
        // The quote is doubled (the lexer guarantees it): skip its twin.
        rest = rest.get(i + 2..).unwrap_or_default();
    }
    buf.extend_from_slice(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_slices_of_the_input() {
        let mut c = Cursor::new(r#" "A""B"  'it''s' -1.5E+3 .5 ~ Inf "#);
        assert_eq!(c.identifier().unwrap(), r#"A""B"#);
        assert_eq!(c.string().unwrap(), "it''s");
        assert_eq!(c.number(), Some("-1.5E+3"));
        assert_eq!(c.number(), Some(".5"));
        assert_eq!(c.number(), Some("~"));
        assert_eq!(c.number(), None);
        assert_eq!(c.word(), Some("Inf"));
        assert!(c.at_end());
        let mut buf = Vec::new();
        push_unquoted(&mut buf, "it''s ''''", b'\'');
        assert_eq!(buf, b"it's ''");
    }

    #[test]
    fn an_unclosed_string_is_an_error() {
        assert!(Cursor::new("'abc").string().is_err());
        assert!(Cursor::new("'abc''").string().is_err());
        assert!(Cursor::new("\"abc").identifier().is_err());
    }

    #[test]
    fn keywords_match_whole_words_in_any_case() {
        let mut c = Cursor::new("INSERT intox into");
        assert!(c.keyword("insert"));
        assert!(!c.keyword("into"));
        assert_eq!(c.word(), Some("intox"));
        assert!(c.keyword("INTO"));
    }
}

//! Numeric arithmetic the formats need: canonical decimal text, scaled two's-complement integers
//! (Avro/Kafka Connect `Decimal`), `f64`, and parsing of numeric's text output form.
//!
//! Values keep PostgreSQL's base-10000 digits; the conversions work digit by digit, with a small
//! bignum for the unscaled integer, so numerics of hundreds of digits are exact. The decoders
//! never produce a digit above 9999 (the binary decoder rejects one, the text parser cannot make
//! one), and the arithmetic here is checked anyway: a malformed value built by hand yields a
//! wrong but well-formed result or `None`, never an overflow.

use std::borrow::Cow;

use super::Numeric;

/// Largest number of decimal digits `unscaled_be_bytes` produces before giving up.
const MAX_UNSCALED_DIGITS: i64 = 1_000_000;
/// PostgreSQL's limit on a numeric's display scale (`NUMERIC_DSCALE_MASK`).
const MAX_DSCALE: usize = 0x3FFF;

impl<'a> Numeric<'a> {
    /// Copies borrowed digits so the value outlives its row buffer.
    pub fn into_owned(self) -> Numeric<'static> {
        match self {
            Numeric::NaN => Numeric::NaN,
            Numeric::PosInfinity => Numeric::PosInfinity,
            Numeric::NegInfinity => Numeric::NegInfinity,
            Numeric::Finite {
                negative,
                weight,
                dscale,
                digits,
            } => Numeric::Finite {
                negative,
                weight,
                dscale,
                digits: Cow::Owned(digits.into_owned()),
            },
        }
    }

    /// Appends the value as PostgreSQL's `numeric_out` prints it: `-0.05`, `1.50`, `0`, `NaN`,
    /// `Infinity`, `-Infinity`, with exactly `dscale` fractional digits.
    pub fn write_decimal(&self, out: &mut String) {
        match self {
            Numeric::NaN => out.push_str("NaN"),
            Numeric::PosInfinity => out.push_str("Infinity"),
            Numeric::NegInfinity => out.push_str("-Infinity"),
            Numeric::Finite {
                negative,
                weight,
                dscale,
                digits,
            } => {
                let g = Groups {
                    digits,
                    weight: i64::from(*weight),
                };
                if *negative && g.any_nonzero() {
                    out.push('-');
                }
                g.write_integer_part(out);
                g.write_fraction(usize::from(*dscale), out);
            }
        }
    }

    /// The value as the nearest `f64` (NaN and ±infinity map to their `f64` counterparts).
    pub fn to_f64(&self) -> f64 {
        let mut s = String::new();
        self.write_decimal(&mut s);
        s.parse().unwrap_or(f64::NAN)
    }

    /// The value × 10^`scale`, rounded half-up (away from zero), as a minimal big-endian two's
    /// complement integer (Java `BigInteger.toByteArray`): 150 → `[0x00, 0x96]`, -5 → `[0xFB]`.
    ///
    /// `None` for NaN and ±infinity, and for results of more than a million decimal digits.
    pub fn unscaled_be_bytes(&self, scale: i32) -> Option<Vec<u8>> {
        let Numeric::Finite {
            negative,
            weight,
            digits,
            ..
        } = self
        else {
            return None;
        };
        let g = Groups {
            digits,
            weight: i64::from(*weight),
        };
        let low = -i64::from(scale);
        let top = 4 * g.weight + 3;
        if top - low + 1 > MAX_UNSCALED_DIGITS {
            return None;
        }
        let mut acc = Accumulator::default();
        let mut round_digit = 0u8;
        let mut last_fed = None;
        for (exp, d) in g.decimal_digits() {
            if exp >= low {
                acc.push_digit(d);
                last_fed = Some(exp);
            } else if exp == low - 1 {
                round_digit = d;
            } else {
                break;
            }
        }
        acc.flush();
        if let Some(last) = last_fed {
            acc.push_zeros(last - low);
        }
        if round_digit >= 5 {
            acc.big.mul_add(1, 1);
        }
        Some(acc.big.to_twos_complement(*negative))
    }

    /// Calls `f` with `unscaled_be_bytes(scale)`, without allocating when the result has at
    /// most 38 decimal digits (computed in 128-bit arithmetic; same bytes).
    pub fn with_unscaled_be_bytes<R>(&self, scale: i32, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        match self.unscaled_i128(scale) {
            Some(v) => {
                let bytes = v.to_be_bytes();
                let redundant = bytes
                    .windows(2)
                    .take_while(|w| match w {
                        [0x00, next] => next & 0x80 == 0,
                        [0xFF, next] => next & 0x80 != 0,
                        _ => false,
                    })
                    .count();
                Some(f(bytes.get(redundant..).unwrap_or(&[0])))
            }
            None => self.unscaled_be_bytes(scale).map(|b| f(&b)),
        }
    }

    /// `unscaled_be_bytes(scale)` as an integer, when its magnitude has at most 38 decimal digits.
    fn unscaled_i128(&self, scale: i32) -> Option<i128> {
        const POW10: [u64; 4] = [1, 10, 100, 1000];
        let Numeric::Finite {
            negative,
            weight,
            digits,
            ..
        } = self
        else {
            return None;
        };
        let weight = i64::from(*weight);
        let low = -i64::from(scale);
        // Digits from 10^(4·weight+3) down to 10^low: at most 38, so every partial sum and the
        // rounded result stay below 10^38 < 2^127.
        if 4 * weight + 3 - low + 1 > 38 {
            return None;
        }
        // Up to 18 digits (most `numeric(p, s)` columns) the arithmetic fits 64 bits.
        let small = 4 * weight + 3 - low < 18;
        let mut acc = 0u128;
        let mut acc64 = 0u64;
        let mut round_up = false;
        for (i, pair) in digits.chunks_exact(2).enumerate() {
            let group = u16::from_be_bytes([pair[0], pair[1]]);
            // The power of ten (relative to 10^low) of the group's last digit.
            let e = 4 * (weight - i as i64) - low;
            if e >= 0 {
                let e = u32::try_from(e).ok()?;
                if small {
                    let term = u64::from(group).checked_mul(10u64.checked_pow(e)?)?;
                    acc64 = acc64.checked_add(term)?;
                } else {
                    let term = u128::from(group).checked_mul(10u128.checked_pow(e)?)?;
                    acc = acc.checked_add(term)?;
                }
                continue;
            }
            if e >= -4 {
                let cut = usize::try_from(-e).ok()?;
                if cut < 4 {
                    acc64 = acc64.checked_add(u64::from(group) / POW10[cut])?;
                }
                round_up = (u64::from(group) / POW10.get(cut - 1)?) % 10 >= 5;
            }
            break;
        }
        let total = acc
            .checked_add(u128::from(acc64))?
            .checked_add(u128::from(round_up))?;
        let magnitude = i128::try_from(total).ok()?;
        Some(if *negative { -magnitude } else { magnitude })
    }

    /// Parses numeric's text output form (`-12.500`, `NaN`, `Infinity`, `-Infinity`).
    ///
    /// `None` for anything else (exponents included: `numeric_out` never prints them).
    pub fn parse_text(s: &str) -> Option<Numeric<'static>> {
        match s {
            "NaN" => return Some(Numeric::NaN),
            "Infinity" | "+Infinity" => return Some(Numeric::PosInfinity),
            "-Infinity" => return Some(Numeric::NegInfinity),
            _ => {}
        }
        let (negative, unsigned) = match s.as_bytes().first() {
            Some(b'-') => (true, s.get(1..)?),
            Some(b'+') => (false, s.get(1..)?),
            _ => (false, s),
        };
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        if frac.len() > MAX_DSCALE {
            return None;
        }
        let dscale = u16::try_from(frac.len()).ok()?;
        let (weight, groups) = to_groups(int.trim_start_matches('0'), frac)?;
        let negative = negative && !groups.is_empty();
        let digits = groups
            .iter()
            .flat_map(|g| g.to_be_bytes())
            .collect::<Vec<u8>>();
        Some(Numeric::Finite {
            negative,
            weight,
            dscale,
            digits: Cow::Owned(digits),
        })
    }
}

/// Splits decimal integer and fraction digits into normalised base-10000 groups and a weight.
fn to_groups(int: &str, frac: &str) -> Option<(i16, Vec<u16>)> {
    let int_groups = int.len().div_ceil(4);
    let mut groups = Vec::with_capacity(int_groups + frac.len().div_ceil(4));
    let pad = int_groups * 4 - int.len();
    let padded_int = std::iter::repeat_n(0u8, pad).chain(int.bytes().map(|b| b - b'0'));
    let frac_digits = frac.bytes().map(|b| b - b'0');
    let frac_pad = frac.len().div_ceil(4) * 4 - frac.len();
    let all = padded_int
        .chain(frac_digits)
        .chain(std::iter::repeat_n(0u8, frac_pad));
    let mut group = 0u16;
    for (i, d) in all.enumerate() {
        group = group * 10 + u16::from(d);
        if i % 4 == 3 {
            groups.push(group);
            group = 0;
        }
    }
    let mut weight = i64::try_from(int_groups).ok()? - 1;
    let leading = groups.iter().take_while(|&&g| g == 0).count();
    groups.drain(..leading);
    weight -= i64::try_from(leading).ok()?;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    Some((i16::try_from(weight).ok()?, groups))
}

/// A view of finite numeric digits.
struct Groups<'d> {
    digits: &'d [u8],
    weight: i64,
}

impl Groups<'_> {
    fn len(&self) -> i64 {
        (self.digits.len() / 2) as i64
    }

    /// The base-10000 digit at index `i` (0 outside the stored digits).
    fn get(&self, i: i64) -> u16 {
        let Ok(i) = usize::try_from(i) else { return 0 };
        match (self.digits.get(2 * i), self.digits.get(2 * i + 1)) {
            (Some(&hi), Some(&lo)) => u16::from_be_bytes([hi, lo]),
            _ => 0,
        }
    }

    fn any_nonzero(&self) -> bool {
        self.digits.iter().any(|&b| b != 0)
    }

    fn write_integer_part(&self, out: &mut String) {
        if self.weight < 0 {
            out.push('0');
            return;
        }
        push_group(out, self.get(0), false);
        for i in 1..=self.weight {
            push_group(out, self.get(i), true);
        }
    }

    fn write_fraction(&self, dscale: usize, out: &mut String) {
        if dscale == 0 {
            return;
        }
        out.push('.');
        for i in 0..dscale {
            let k = (i / 4) as i64;
            let group = self.get(self.weight + 1 + k);
            out.push(char::from(b'0' + decimal_digit(group, i % 4)));
        }
    }

    /// Every stored decimal digit, most significant first, with its power of ten.
    fn decimal_digits(&self) -> impl Iterator<Item = (i64, u8)> + '_ {
        (0..self.len()).flat_map(move |i| {
            let group = self.get(i);
            let top = 4 * (self.weight - i) + 3;
            (0..4).map(move |p| (top - p as i64, decimal_digit(group, p)))
        })
    }
}

/// Decimal digit `pos` (0 = thousands) of a base-10000 group.
fn decimal_digit(group: u16, pos: usize) -> u8 {
    let div = [1000u16, 100, 10, 1].get(pos).copied().unwrap_or(1);
    ((group / div) % 10) as u8
}

fn push_group(out: &mut String, group: u16, pad: bool) {
    let mut started = pad;
    for p in 0..4 {
        let d = decimal_digit(group, p);
        started |= d != 0 || p == 3;
        if started {
            out.push(char::from(b'0' + d));
        }
    }
}

/// Feeds decimal digits into a bignum nine at a time.
#[derive(Default)]
struct Accumulator {
    big: BigUint,
    chunk: u32,
    chunk_len: u32,
}

impl Accumulator {
    fn push_digit(&mut self, d: u8) {
        self.chunk = self.chunk * 10 + u32::from(d);
        self.chunk_len += 1;
        if self.chunk_len == 9 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.chunk_len > 0 {
            self.big.mul_add(10u32.pow(self.chunk_len), self.chunk);
        }
        self.chunk = 0;
        self.chunk_len = 0;
    }

    fn push_zeros(&mut self, mut n: i64) {
        if self.big.is_zero() {
            return;
        }
        while n >= 9 {
            self.big.mul_add(1_000_000_000, 0);
            n -= 9;
        }
        if n > 0 {
            self.big.mul_add(10u32.pow(n as u32), 0);
        }
    }
}

/// An unsigned integer as little-endian 32-bit limbs.
#[derive(Default)]
struct BigUint(Vec<u32>);

impl BigUint {
    fn is_zero(&self) -> bool {
        self.0.iter().all(|&l| l == 0)
    }

    /// self = self × m + a.
    fn mul_add(&mut self, m: u32, a: u32) {
        let mut carry = u64::from(a);
        for limb in &mut self.0 {
            let t = u64::from(*limb) * u64::from(m) + carry;
            *limb = t as u32;
            carry = t >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    /// Minimal big-endian two's complement of ±self.
    fn to_twos_complement(&self, negative: bool) -> Vec<u8> {
        let mut bytes = vec![0u8];
        bytes.extend(self.0.iter().rev().flat_map(|l| l.to_be_bytes()));
        if negative && !self.is_zero() {
            negate(&mut bytes);
        }
        minimise(bytes)
    }
}

/// Two's-complement negation in place (the buffer carries a leading sign byte).
fn negate(bytes: &mut [u8]) {
    let mut carry = true;
    for b in bytes.iter_mut().rev() {
        let (v, c) = (!*b).overflowing_add(u8::from(carry));
        *b = v;
        carry = c;
    }
}

/// Drops leading bytes that only repeat the sign.
fn minimise(bytes: Vec<u8>) -> Vec<u8> {
    let redundant = bytes
        .windows(2)
        .take_while(|w| match w {
            [0x00, next] => next & 0x80 == 0,
            [0xFF, next] => next & 0x80 != 0,
            _ => false,
        })
        .count();
    bytes
        .get(redundant..)
        .map(<[u8]>::to_vec)
        .unwrap_or_else(|| vec![0])
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        /// Hand-built digits above 9999 (which no decoder produces) never overflow.
        #[test]
        fn malformed_digits_never_overflow(
            negative in proptest::prelude::any::<bool>(),
            weight in -60i16..60,
            dscale in 0u16..64,
            groups in proptest::collection::vec(proptest::prelude::any::<u16>(), 0..8),
            scale in -40i32..40,
        ) {
            let n = num(negative, weight, dscale, &groups);
            let _ = n.with_unscaled_be_bytes(scale, <[u8]>::to_vec);
            let _ = text(&n);
            let _ = n.unscaled_be_bytes(scale);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]

        #[test]
        fn small_unscaled_bytes_match_the_bignum_path(
            negative in proptest::prelude::any::<bool>(),
            weight in -12i16..12,
            groups in proptest::collection::vec(0u16..10000, 0..12),
            scale in -20i32..30,
        ) {
            let n = num(negative, weight, 0, &groups);
            let want = n.unscaled_be_bytes(scale);
            let got = n.with_unscaled_be_bytes(scale, <[u8]>::to_vec);
            proptest::prop_assert_eq!(got, want);
        }
    }

    fn num(negative: bool, weight: i16, dscale: u16, groups: &[u16]) -> Numeric<'static> {
        let digits = groups
            .iter()
            .flat_map(|g| g.to_be_bytes())
            .collect::<Vec<u8>>();
        Numeric::Finite {
            negative,
            weight,
            dscale,
            digits: Cow::Owned(digits),
        }
    }

    fn text(n: &Numeric<'_>) -> String {
        let mut s = String::new();
        n.write_decimal(&mut s);
        s
    }

    #[test]
    fn extreme_weights_and_digits_are_well_formed() {
        for weight in [i16::MIN, i16::MAX] {
            let n = num(true, weight, 0x3FFF, &[65535, 9999, 0]);
            assert!(text(&n).starts_with("-"));
            assert!(n.with_unscaled_be_bytes(i32::MAX, <[u8]>::to_vec).is_none());
            assert!(n.with_unscaled_be_bytes(0, <[u8]>::to_vec).is_some());
        }
    }

    #[test]
    fn writes_decimal_like_numeric_out() {
        assert_eq!(text(&num(true, -1, 2, &[500])), "-0.05");
        assert_eq!(text(&num(false, 0, 2, &[1, 5000])), "1.50");
        assert_eq!(text(&num(false, 0, 0, &[])), "0");
        assert_eq!(text(&num(false, 0, 3, &[])), "0.000");
        assert_eq!(text(&num(false, 1, 0, &[1, 2])), "10002");
        assert_eq!(text(&num(false, 2, 1, &[12])), "1200000000.0");
        assert_eq!(text(&num(false, -2, 9, &[1, 2])), "0.000000010");
        assert_eq!(text(&Numeric::NaN), "NaN");
        assert_eq!(text(&Numeric::PosInfinity), "Infinity");
        assert_eq!(text(&Numeric::NegInfinity), "-Infinity");
    }

    #[test]
    fn parses_text_and_round_trips() {
        for s in [
            "0",
            "1.50",
            "-0.05",
            "12345678901234567890.000001",
            "0.000",
            "-7",
            "NaN",
            "Infinity",
            "-Infinity",
            "9999",
            "10000",
            "0.0001",
            "100000000",
        ] {
            let n = Numeric::parse_text(s).expect(s);
            assert_eq!(text(&n), s, "round trip of {s}");
        }
        assert_eq!(
            Numeric::parse_text("1.50"),
            Some(num(false, 0, 2, &[1, 5000]))
        );
        assert_eq!(Numeric::parse_text("-0.00"), Some(num(false, 0, 2, &[])));
        assert_eq!(text(&Numeric::parse_text("+007.10").unwrap()), "7.10");
        for bad in ["", "-", ".", "1e5", "1.2.3", "abc", " 1", "--1"] {
            assert_eq!(Numeric::parse_text(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unscaled_bytes_follow_biginteger() {
        let p = |s: &str, scale: i32| Numeric::parse_text(s).unwrap().unscaled_be_bytes(scale);
        assert_eq!(p("1.50", 2), Some(vec![0x00, 0x96]));
        assert_eq!(p("-0.05", 2), Some(vec![0xFB]));
        assert_eq!(p("0", 0), Some(vec![0x00]));
        assert_eq!(p("19.90", 2), Some(vec![0x07, 0xC6]));
        assert_eq!(p("-128", 0), Some(vec![0x80]));
        assert_eq!(p("-129", 0), Some(vec![0xFF, 0x7F]));
        assert_eq!(p("128", 0), Some(vec![0x00, 0x80]));
        assert_eq!(p("255", 0), Some(vec![0x00, 0xFF]));
        assert_eq!(p("-256", 0), Some(vec![0xFF, 0x00]));
        assert_eq!(p("1.005", 2), Some(vec![0x65]));
        assert_eq!(p("-1.005", 2), Some(vec![0x9B]));
        assert_eq!(p("1.004", 2), Some(vec![0x64]));
        assert_eq!(p("-0.004", 2), Some(vec![0x00]));
        assert_eq!(p("1250", -2), Some(vec![0x0D]));
        assert_eq!(p("1249", -2), Some(vec![0x0C]));
        assert_eq!(p("0.5", 0), Some(vec![0x01]));
        assert_eq!(p("0.00005", 0), Some(vec![0x00]));
        assert_eq!(p("7", 5), Some(vec![0x0A, 0xAE, 0x60]));
        assert_eq!(Numeric::NaN.unscaled_be_bytes(2), None);
        assert_eq!(Numeric::PosInfinity.unscaled_be_bytes(2), None);
        assert_eq!(p("1", i32::MAX), None);
    }

    #[test]
    fn unscaled_bytes_handle_hundreds_of_digits() {
        // 2^256 = 1157920892373161954235709850086879078532699846656405640394575840079131296
        // 39936; its two's complement form is 0x01 followed by 32 zero bytes.
        let n = Numeric::parse_text(
            "115792089237316195423570985008687907853269984665640564039457584007913129639936",
        )
        .unwrap();
        let mut want = vec![0x01];
        want.extend([0u8; 32]);
        assert_eq!(n.unscaled_be_bytes(0), Some(want));
        let neg = Numeric::parse_text(
            "-115792089237316195423570985008687907853269984665640564039457584007913129639936",
        )
        .unwrap();
        let mut want = vec![0xFF];
        want.extend([0u8; 32]);
        assert_eq!(neg.unscaled_be_bytes(0), Some(want));
        let long = format!("{}.{}", "9".repeat(300), "1".repeat(300));
        let bytes = Numeric::parse_text(&long)
            .unwrap()
            .unscaled_be_bytes(300)
            .unwrap();
        assert!(bytes.len() > 240 && bytes[0] < 0x80);
    }

    #[test]
    fn converts_to_f64() {
        assert_eq!(Numeric::parse_text("-0.05").unwrap().to_f64(), -0.05);
        assert_eq!(Numeric::parse_text("123456.5").unwrap().to_f64(), 123456.5);
        assert!(Numeric::NaN.to_f64().is_nan());
        assert_eq!(Numeric::NegInfinity.to_f64(), f64::NEG_INFINITY);
    }
}

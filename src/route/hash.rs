//! Java's `String.hashCode` and the partition it picks, as DTS and Canal compute them
//! (FORMATS.md "Partition policies"): consumers that route by the same hash, and keys that must
//! land where DTS put them, depend on every bit.

/// Java's `String.hashCode`: `Σ s[i]·31^(n−1−i)` over the UTF-16 code units of `s`, with
/// wrapping 32-bit arithmetic (a character outside the BMP counts as its two surrogates).
pub fn java_string_hash(s: &str) -> i32 {
    let mut h: i32 = 0;
    for unit in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    h
}

/// Continues a Java string hash over more text (the hash of `a + b` is
/// `java_hash_continue(java_string_hash(a), b)`).
pub fn java_hash_continue(mut h: i32, s: &str) -> i32 {
    for unit in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    h
}

/// The partition of hash `h` among `partitions`: `abs(h % partitions)` (Java's `%` keeps the
/// dividend's sign, so the result is in `0..partitions`).
pub fn partition_of(h: i32, partitions: i32) -> i32 {
    debug_assert!(partitions > 0);
    (h.wrapping_rem(partitions.max(1))).abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `String.hashCode` per its Javadoc formula over UTF-16 units; "hello" (99162322) and
    /// "polygenelubricants" (Integer.MIN_VALUE) are widely published Java values.
    #[test]
    fn matches_java_string_hash_code() {
        for (s, want) in [
            ("", 0),
            ("a", 97),
            ("42", 1662),
            ("hello", 99_162_322),
            ("public.orders", 762_281_482),
            // Wraps past i32::MAX into a negative hash.
            ("polygenelubricants", i32::MIN),
            ("Aa", 2112),
            ("BB", 2112),
            // Non-ASCII in the BMP: one UTF-16 unit each.
            ("é", 233),
            ("日本", 835_047),
            // Outside the BMP: the surrogate pair D83D DE00.
            ("😀", 1_772_899),
            ("a😀b", 57_849_694),
            ("orders-é-😀-日本-negative", -1_254_002_883),
            ("status", -892_481_550),
        ] {
            assert_eq!(java_string_hash(s), want, "{s:?}");
        }
        assert_eq!(
            java_hash_continue(java_string_hash("public."), "orders"),
            java_string_hash("public.orders")
        );
    }

    #[test]
    fn partitions_are_in_range_for_negative_and_extreme_hashes() {
        assert_eq!(partition_of(7, 4), 3);
        assert_eq!(partition_of(-7, 4), 3);
        assert_eq!(partition_of(i32::MIN, 3), 2);
        assert_eq!(partition_of(i32::MIN, 1), 0);
        assert_eq!(partition_of(i32::MIN, 2), 0);
        assert_eq!(partition_of(i32::MAX, 7), 1);
        for h in [762_281_482, -1_808_766_427, i32::MIN + 1] {
            for n in 1..20 {
                let p = partition_of(h, n);
                assert!((0..n).contains(&p), "{h} {n} {p}");
            }
        }
    }
}

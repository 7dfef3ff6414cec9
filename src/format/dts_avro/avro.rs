//! Avro binary encoding primitives (Avro 1.11 specification, "Binary Encoding"), written by hand
//! into caller-owned buffers so that a record costs no allocation: `int` and `long` as zig-zag
//! varints, `string` and `bytes` as a length then the bytes, `double` as 8 little-endian bytes,
//! a union as its branch index then the value, an enum as its symbol's index.
//!
//! Arrays and maps are written as Java's `BinaryEncoder` writes them when the item count is
//! known (`setItemCount` then `writeArrayEnd`): one block with a positive count, then the `0`
//! that ends it; an empty array or map is the single `0` (FORMATS.md part B §1.8).

/// Appends a `long`: zig-zag, then 7 bits per byte, low bits first.
pub fn long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Appends an `int` (the same varint as a `long`).
pub fn int(out: &mut Vec<u8>, v: i32) {
    long(out, i64::from(v));
}

/// Appends `bytes` or a `string`: its length, then the bytes.
pub fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    long(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// Appends a `string`.
pub fn string(out: &mut Vec<u8>, s: &str) {
    bytes(out, s.as_bytes());
}

/// Appends a `double`: IEEE 754 bits, little-endian.
pub fn double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

/// Appends a union's branch index (the value follows).
pub fn branch(out: &mut Vec<u8>, index: u8) {
    long(out, i64::from(index));
}

/// Appends the start of a one-block array or map of `count` items (nothing for none: the
/// caller's `end` is then the whole, empty, array).
pub fn block(out: &mut Vec<u8>, count: usize) {
    if count > 0 {
        long(out, count as i64);
    }
}

/// Appends the `0` that ends an array or a map.
pub fn end(out: &mut Vec<u8>) {
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = Vec::new();
        f(&mut v);
        v
    }

    #[test]
    fn longs_are_zig_zag_varints() {
        // Avro specification, "Binary Encoding" table, and the 175-byte example's values.
        assert_eq!(enc(|o| long(o, 0)), [0x00]);
        assert_eq!(enc(|o| long(o, -1)), [0x01]);
        assert_eq!(enc(|o| long(o, 1)), [0x02]);
        assert_eq!(enc(|o| long(o, -2)), [0x03]);
        assert_eq!(enc(|o| long(o, 2)), [0x04]);
        assert_eq!(enc(|o| long(o, -64)), [0x7f]);
        assert_eq!(enc(|o| long(o, 64)), [0x80, 0x01]);
        assert_eq!(enc(|o| long(o, 1001)), [0xd2, 0x0f]);
        assert_eq!(
            enc(|o| long(o, 1_705_307_400)),
            [0x90, 0xb4, 0xa7, 0xda, 0x0c]
        );
        assert_eq!(
            enc(|o| long(o, 1_705_307_400_000)),
            [0x80, 0x9d, 0xef, 0xc3, 0xa1, 0x63]
        );
        let max = enc(|o| long(o, i64::MAX));
        assert_eq!(max.len(), 10);
        assert_eq!(max[9], 0x01);
        assert_eq!(enc(|o| long(o, i64::MIN))[..9], [0xff; 9]);
        assert_eq!(enc(|o| int(o, i32::MIN)), [0xff, 0xff, 0xff, 0xff, 0x0f]);
    }

    #[test]
    fn strings_doubles_and_blocks() {
        assert_eq!(enc(|o| string(o, "UTF8")), b"\x08UTF8");
        assert_eq!(enc(|o| string(o, "")), [0]);
        assert_eq!(enc(|o| double(o, 1.0)), 1.0f64.to_le_bytes());
        assert_eq!(
            enc(|o| {
                block(o, 0);
                end(o)
            }),
            [0]
        );
        assert_eq!(
            enc(|o| {
                block(o, 2);
                end(o)
            }),
            [4, 0]
        );
    }
}

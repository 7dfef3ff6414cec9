//! The keys a group of chunks read, kept for the stream's filter (`super::filter`) until the
//! stream passes the group's high watermark. Every row of a chunked snapshot adds one, so the
//! set costs no allocation per key: the encoded keys sit end to end in one buffer and a hash
//! table holds where each starts.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// A set of encoded keys (`super::filter::encode_key`).
#[derive(Default)]
pub struct KeySet {
    bytes: Vec<u8>,
    /// `(start, len)` of each key in `bytes`.
    at: HashTable<(usize, usize)>,
    hasher: DefaultHashBuilder,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySet({} keys, {} bytes)", self.len(), self.bytes.len())
    }
}

impl KeySet {
    /// Adds `key` (a key already there is kept once).
    pub fn insert(&mut self, key: &[u8]) {
        let hash = self.hasher.hash_one(key);
        let bytes = &self.bytes;
        if self
            .at
            .find(hash, |&(s, l)| &bytes[s..s + l] == key)
            .is_some()
        {
            return;
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(key);
        let (bytes, hasher) = (&self.bytes, &self.hasher);
        self.at.insert_unique(hash, (start, key.len()), |&(s, l)| {
            hasher.hash_one(&bytes[s..s + l])
        });
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        let hash = self.hasher.hash_one(key);
        self.at
            .find(hash, |&(s, l)| &self.bytes[s..s + l] == key)
            .is_some()
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Adds every key of `other`.
    pub fn absorb(&mut self, other: &KeySet) {
        for &(s, l) in other.at.iter() {
            self.insert(&other.bytes[s..s + l]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_by_their_bytes_once_each() {
        let mut a = KeySet::default();
        for k in [&b"1"[..], b"22", b"", b"22"] {
            a.insert(k);
        }
        assert_eq!(a.len(), 3);
        assert!(a.contains(b"22") && a.contains(b"") && !a.contains(b"2"));
        let mut b = KeySet::default();
        for i in 0..10_000u32 {
            b.insert(&i.to_le_bytes());
        }
        a.absorb(&b);
        assert_eq!(a.len(), 10_003);
        assert!((0..10_000u32).all(|i| a.contains(&i.to_le_bytes())));
        assert!(!a.contains(&10_000u32.to_le_bytes()));
    }
}

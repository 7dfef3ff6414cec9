//! The keys a group of chunks read, kept for the stream's filter (`super::filter`) until the
//! stream passes the group's high watermark. Every row of a chunked snapshot adds one, so each
//! costs neither an allocation nor more than one hash: a connection appends its rows' encoded
//! keys end to end to a `KeyList` while it reads, and the group indexes the lists of all its
//! connections once, into one `KeySet`.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Encoded keys (`super::filter::encode_key`) end to end, in read order, not indexed.
#[derive(Debug, Default)]
pub struct KeyList {
    bytes: Vec<u8>,
    lens: Vec<usize>,
}

impl KeyList {
    pub fn push(&mut self, key: &[u8]) {
        self.bytes.extend_from_slice(key);
        self.lens.push(key.len());
    }

    /// The list, with a row count, as one message: `rows` (u64), the number of keys (u32),
    /// each key's length (u32), then the keys end to end; big-endian.
    pub fn encode(&self, rows: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + 4 * self.lens.len() + self.bytes.len());
        out.extend_from_slice(&rows.to_be_bytes());
        out.extend_from_slice(&(self.lens.len() as u32).to_be_bytes());
        for len in &self.lens {
            out.extend_from_slice(&(*len as u32).to_be_bytes());
        }
        out.extend_from_slice(&self.bytes);
        out
    }

    /// `encode`'s message back: the row count and the list (`None` if malformed).
    pub fn decode(msg: &[u8]) -> Option<(u64, KeyList)> {
        let rows = u64::from_be_bytes(msg.get(..8)?.try_into().ok()?);
        let n = u32::from_be_bytes(msg.get(8..12)?.try_into().ok()?) as usize;
        let lens_end = 12usize.checked_add(n.checked_mul(4)?)?;
        let lens: Vec<usize> = msg
            .get(12..lens_end)?
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .collect();
        let bytes = msg.get(lens_end..)?.to_vec();
        (lens.iter().sum::<usize>() == bytes.len()).then_some((rows, KeyList { bytes, lens }))
    }
}

/// A set of encoded keys.
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
    /// The keys of `lists`. A group's chunks hold disjoint key ranges, so no key comes twice;
    /// one that did would only be found twice over.
    pub fn index(lists: Vec<KeyList>) -> KeySet {
        let total = lists.iter().map(|l| l.lens.len()).sum();
        let mut set = KeySet {
            bytes: Vec::with_capacity(lists.iter().map(|l| l.bytes.len()).sum()),
            at: HashTable::with_capacity(total),
            hasher: DefaultHashBuilder::default(),
        };
        for list in lists {
            let mut start = set.bytes.len();
            set.bytes.extend_from_slice(&list.bytes);
            for len in list.lens {
                let hash = set.hasher.hash_one(&set.bytes[start..start + len]);
                let (bytes, hasher) = (&set.bytes, &set.hasher);
                set.at.insert_unique(hash, (start, len), |&(s, l)| {
                    hasher.hash_one(&bytes[s..s + l])
                });
                start += len;
            }
        }
        set
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_every_list_are_found_by_their_bytes() {
        let mut a = KeyList::default();
        for k in [&b"1"[..], b"22", b""] {
            a.push(k);
        }
        let mut b = KeyList::default();
        for i in 0..10_000u32 {
            b.push(&i.to_le_bytes());
        }
        let set = KeySet::index(vec![a, KeyList::default(), b]);
        assert_eq!(set.len(), 10_003);
        assert!(set.contains(b"22") && set.contains(b"") && !set.contains(b"2"));
        assert!((0..10_000u32).all(|i| set.contains(&i.to_le_bytes())));
        assert!(!set.contains(&10_000u32.to_le_bytes()));
    }
}

#[cfg(test)]
mod encoding {
    use super::*;

    #[test]
    fn a_list_travels_as_one_message_and_a_cut_message_is_refused() {
        let mut a = KeyList::default();
        for k in [&b"1"[..], b"", b"333"] {
            a.push(k);
        }
        let msg = a.encode(7);
        let (rows, back) = KeyList::decode(&msg).expect("decodes");
        assert_eq!(rows, 7);
        let set = KeySet::index(vec![back]);
        assert!(set.contains(b"1") && set.contains(b"") && set.contains(b"333"));
        assert_eq!(set.len(), 3);
        assert!(KeyList::decode(&msg[..msg.len() - 1]).is_none());
        assert!(KeyList::decode(&msg[..10]).is_none());
    }
}

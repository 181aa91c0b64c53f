//! Byte-string keys for the trie's and the cache's hash tables, stored inline when short.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// A byte string of up to `N` bytes (N < 256) kept in the key itself, so it lives in the
/// hash table's bucket and a lookup compares it without following a pointer to another
/// cache line (and inserting it allocates nothing). Longer ones go to the heap.
#[derive(Clone)]
pub(crate) enum SmallKey<const N: usize> {
    Inline { len: u8, bytes: [u8; N] },
    Heap(Box<[u8]>),
}

/// A token owned by a trie level; nearly all real tokens fit.
pub(crate) type TokenKey = SmallKey<22>;
/// A literal subject owned by the match cache; most real subjects fit.
pub(crate) type SubjectKey = SmallKey<46>;

impl<const N: usize> SmallKey<N> {
    pub(crate) fn new(token: &[u8]) -> Self {
        if token.len() <= N {
            let mut bytes = [0u8; N];
            bytes[..token.len()].copy_from_slice(token);
            SmallKey::Inline {
                len: token.len() as u8,
                bytes,
            }
        } else {
            SmallKey::Heap(token.into())
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            SmallKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            SmallKey::Heap(b) => b,
        }
    }
}

impl<const N: usize> Borrow<[u8]> for SmallKey<N> {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

// Hash and Eq must agree with `[u8]`'s, since lookups pass a plain slice.
impl<const N: usize> Hash for SmallKey<N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl<const N: usize> PartialEq for SmallKey<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<const N: usize> Eq for SmallKey<N> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn short_and_long_tokens_round_trip_and_look_up_by_slice() {
        let long = vec![b'x'; 100];
        let mut map = HashMap::new();
        for t in [
            &b""[..],
            b"a",
            b"exactly-22-bytes-long!",
            b"twenty-three-bytes-long",
            &long,
        ] {
            let key = TokenKey::new(t);
            assert_eq!(key.as_slice(), t);
            map.insert(key, t.len());
        }
        assert_eq!(map.get(&b"exactly-22-bytes-long!"[..]), Some(&22));
        assert_eq!(map.get(&b"twenty-three-bytes-long"[..]), Some(&23));
        assert_eq!(map.get(&long[..]), Some(&100));
        assert_eq!(map.get(&b"b"[..]), None);
    }
}

//! Byte-string keys for the trie's and the cache's hash tables, stored inline when short.

/// A byte string of up to `N` bytes (N < 256) kept in the key itself, so it lives in the
/// hash table's bucket and a lookup compares it without following a pointer to another
/// cache line (and inserting it allocates nothing). Longer ones go to the heap.
#[derive(Clone)]
pub(crate) enum SmallKey<const N: usize> {
    Inline { len: u8, bytes: [u8; N] },
    Heap(Box<[u8]>),
}

/// The longest token a [`TokenKey`] keeps inline.
const TOKEN_INLINE: usize = 22;

/// A token owned by a trie level; nearly all real tokens fit.
pub(crate) type TokenKey = SmallKey<TOKEN_INLINE>;
/// A literal subject owned by the match cache or the literal table; most real subjects fit.
pub(crate) type SubjectKey = SmallKey<46>;

impl<const N: usize> SmallKey<N> {
    pub(crate) fn new(token: &[u8]) -> Self {
        if token.len() <= N {
            // Zero padding makes equal short strings equal as whole arrays, which
            // `TokenKey::matches` relies on.
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

    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            SmallKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            SmallKey::Heap(b) => b,
        }
    }
}

/// One token of a subject being matched, prepared once per match rather than once per
/// table it is looked up in: its hash, and its bytes zero-padded the way an inline
/// [`TokenKey`] holds them, so that comparing with a stored key is a fixed-size compare
/// the compiler inlines instead of a call to `memcmp`.
#[derive(Clone, Copy)]
pub(crate) struct Probe<'a> {
    pub(crate) hash: u64,
    pub(crate) bytes: &'a [u8],
    padded: [u8; TOKEN_INLINE],
}

impl<'a> Probe<'a> {
    pub(crate) const EMPTY: Probe<'static> = Probe {
        hash: 0,
        bytes: &[],
        padded: [0; TOKEN_INLINE],
    };

    #[inline]
    pub(crate) fn new(token: &'a [u8]) -> Self {
        let mut padded = [0u8; TOKEN_INLINE];
        if let Some(head) = padded.get_mut(..token.len()) {
            head.copy_from_slice(token);
        }
        Self {
            hash: crate::hash::token_hash(token),
            bytes: token,
            padded,
        }
    }
}

impl TokenKey {
    /// Whether this key holds the probe's token.
    #[inline]
    pub(crate) fn matches(&self, probe: &Probe<'_>) -> bool {
        match self {
            SmallKey::Inline { len, bytes } => {
                usize::from(*len) == probe.bytes.len() && *bytes == probe.padded
            }
            SmallKey::Heap(b) => **b == *probe.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_tokens_round_trip_and_match_probes() {
        let long = vec![b'x'; 100];
        let tokens: [&[u8]; 6] = [
            b"",
            b"a",
            b"exactly-22-bytes-long!",
            b"twenty-three-bytes-long",
            b"twenty-three-bytes-lonG",
            &long,
        ];
        for (i, t) in tokens.iter().enumerate() {
            let key = TokenKey::new(t);
            assert_eq!(key.as_slice(), *t);
            for (j, other) in tokens.iter().enumerate() {
                assert_eq!(key.matches(&Probe::new(other)), i == j, "{i} vs {j}");
            }
        }
        // A probe padded with zeros must not equal a key whose bytes end in zeros.
        assert!(!TokenKey::new(b"a\0").matches(&Probe::new(b"a")));
        assert!(!TokenKey::new(b"a").matches(&Probe::new(b"a\0")));
        assert_eq!(Probe::new(b"abc").hash, Probe::new(b"abc").hash);
        assert_eq!(SubjectKey::new(b"a.b").as_slice(), b"a.b");
    }
}

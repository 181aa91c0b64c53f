//! A keyed, fast hasher for subject tokens and cache keys.
//!
//! Subjects come from the network, so the tables keyed by them must not be open to
//! collision flooding; std's SipHash resists that but costs more than the rest of a cache
//! hit. This hasher mixes 8-byte words with a folded 128-bit multiply under two random
//! keys (drawn per sublist for whole subjects, per process for trie tokens), which keeps
//! a hit cheap while leaving an attacker without the keys unable to predict bucket
//! placement.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

const MIX_WORD: u64 = 0x243f_6a88_85a3_08d3;
const MIX_TAIL: u64 = 0x1319_8a2e_0370_7344;
const MIX_INT: u64 = 0xa409_3822_299f_31d0;
const MIX_FINAL: u64 = 0x082e_fa98_ec4e_6c89;

/// Builds [`SubjectHasher`]s that share one pair of random keys.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SubjectHashBuilder {
    seed: u64,
    key: u64,
}

impl SubjectHashBuilder {
    /// Draws fresh keys from the process's random source (the one behind `RandomState`).
    pub(crate) fn random() -> Self {
        let source = RandomState::new();
        Self {
            seed: source.hash_one(MIX_WORD),
            key: source.hash_one(MIX_TAIL) | 1,
        }
    }
}

impl BuildHasher for SubjectHashBuilder {
    type Hasher = SubjectHasher;

    #[inline]
    fn build_hasher(&self) -> SubjectHasher {
        SubjectHasher {
            acc: self.seed,
            key: self.key,
        }
    }
}

impl SubjectHashBuilder {
    /// The hash of a whole byte string, as the tables keyed by subjects and tokens use it.
    /// It needs no length prefix: folding in the tail's length already keeps strings that
    /// differ only by trailing zero bytes apart.
    #[inline]
    pub(crate) fn hash_bytes(&self, bytes: &[u8]) -> u64 {
        let mut h = self.build_hasher();
        h.write(bytes);
        h.finish()
    }
}

/// The hash of a trie token, under keys drawn once per process.
///
/// The trie has a table in every node, and carrying the keys in each would make every
/// node 16 bytes larger, which in a large trie means fewer nodes in the CPU caches and
/// slower matches. Keys per process still leave an attacker without them unable to aim
/// collisions.
#[inline]
pub(crate) fn token_hash(token: &[u8]) -> u64 {
    static KEYS: OnceLock<SubjectHashBuilder> = OnceLock::new();
    KEYS.get_or_init(SubjectHashBuilder::random)
        .hash_bytes(token)
}

/// Streaming state of one hash computation.
pub(crate) struct SubjectHasher {
    acc: u64,
    key: u64,
}

#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let wide = u128::from(a) * u128::from(b);
    (wide as u64) ^ ((wide >> 64) as u64)
}

impl Hasher for SubjectHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut buf = [0u8; 8];
            buf.copy_from_slice(word);
            self.acc = folded_multiply(self.acc ^ u64::from_le_bytes(buf), self.key ^ MIX_WORD);
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            let mut buf = [0u8; 8];
            buf[..tail.len()].copy_from_slice(tail);
            // Folding the tail length in keeps "ab" and "ab\0" apart even without the
            // length prefix that `[u8]`'s Hash impl adds.
            self.acc = folded_multiply(
                self.acc ^ u64::from_le_bytes(buf),
                self.key ^ MIX_TAIL ^ tail.len() as u64,
            );
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.acc = folded_multiply(self.acc ^ n, self.key ^ MIX_INT);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    #[inline]
    fn finish(&self) -> u64 {
        folded_multiply(self.acc, self.key ^ MIX_FINAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_inputs_hash_equal_and_near_inputs_differ() {
        let b = SubjectHashBuilder::random();
        let h = |s: &[u8]| b.hash_one(s);
        assert_eq!(h(b"foo.bar"), h(b"foo.bar"));
        assert_ne!(h(b"foo.bar"), h(b"foo.baz"));
        assert_ne!(h(b"ab"), h(b"ab\0"));
        assert_ne!(h(b"12345678"), h(b"123456781"));
        assert_ne!(h(b""), h(b"\0"));
    }

    #[test]
    fn byte_hashes_separate_near_inputs() {
        let b = SubjectHashBuilder::random();
        assert_eq!(b.hash_bytes(b"foo.bar"), b.hash_bytes(b"foo.bar"));
        assert_ne!(b.hash_bytes(b"foo.bar"), b.hash_bytes(b"foo.baz"));
        assert_ne!(b.hash_bytes(b"ab"), b.hash_bytes(b"ab\0"));
        assert_ne!(
            b.hash_bytes(b"12345678"),
            b.hash_bytes(b"12345678\0\0\0\0\0\0\0\0")
        );
        assert_ne!(b.hash_bytes(b""), b.hash_bytes(b"\0"));
        assert_eq!(token_hash(b"foo"), token_hash(b"foo"));
        assert_ne!(token_hash(b"foo"), token_hash(b"fop"));
    }

    #[test]
    fn keys_differ_between_builders() {
        let a = SubjectHashBuilder::random();
        let b = SubjectHashBuilder::random();
        assert_ne!(a.hash_one(b"foo.bar"), b.hash_one(b"foo.bar"));
    }
}

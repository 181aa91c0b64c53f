//! A session's own cache of recent match results, in front of the account's sublist.
//!
//! The sublist's cache is shared by every publisher: a hit there still hashes with a
//! keyed hasher and takes a shard lock. A publisher usually repeats a few subjects, so a
//! small direct-mapped table per session answers most publishes with one compare. It is
//! exact: every entry was computed at the sublist generation the table is tagged with,
//! and the whole table is dropped as soon as the generation moves (nats-server keeps
//! the same kind of per-client results cache, validated by the sublist's genid).

use std::sync::Arc;

use natter_sublist::{Matches, Sublist};

use crate::sub::SubRef;

/// Entries per session; a power of two. Small, as it lives in every publishing session.
const SLOTS: usize = 32;

struct Slot {
    /// Copied, not a `Bytes` slice of the read buffer, which it would keep alive.
    subject: Vec<u8>,
    matches: Arc<Matches<SubRef>>,
}

/// Match results keyed by literal subject, valid for one sublist generation.
#[derive(Default)]
pub(crate) struct MatchCache {
    generation: u64,
    /// Empty until the session first publishes, so subscriber-only sessions pay nothing.
    slots: Vec<Option<Slot>>,
    /// Misses here that went to the sublist, and how many of those its cache answered;
    /// plain counts, as the table has one user at a time. See [`MatchCache::take_counts`].
    sublist_matches: u64,
    sublist_hits: u64,
}

impl MatchCache {
    /// The subscriptions matching `subject` now, from the table or from `sublist`.
    pub(crate) fn get(
        &mut self,
        sublist: &Sublist<SubRef>,
        subject: &[u8],
    ) -> Arc<Matches<SubRef>> {
        Arc::clone(self.lookup(sublist, subject))
    }

    /// [`get`](Self::get), borrowed from the table: no reference count taken.
    pub(crate) fn lookup(
        &mut self,
        sublist: &Sublist<SubRef>,
        subject: &[u8],
    ) -> &Arc<Matches<SubRef>> {
        // Read before matching: a result computed after an insert or remove that has not
        // bumped the generation yet is newer, never older, than the tag, and the bump
        // then drops it.
        let generation = sublist.generation();
        if generation != self.generation {
            self.clear();
            self.generation = generation;
        }
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, || None);
        }
        let slot = &mut self.slots[index(subject)];
        let (matches, hits) = (&mut self.sublist_matches, &mut self.sublist_hits);
        let mut lookup = || {
            let (m, hit) = sublist.matches_cached(subject);
            *matches += 1;
            *hits += u64::from(hit);
            m
        };
        match slot {
            Some(s) if same(&s.subject, subject) => {}
            Some(s) => {
                s.subject.clear();
                s.subject.extend_from_slice(subject);
                s.matches = lookup();
            }
            None => {}
        }
        let s = slot.get_or_insert_with(|| Slot {
            subject: subject.to_vec(),
            matches: lookup(),
        });
        &s.matches
    }

    /// The sublist lookups this table made since the last call, and how many of them the
    /// sublist's cache answered (nats-server's `/subsz` `num_matches` and cache hits).
    pub(crate) fn take_counts(&mut self) -> (u64, u64) {
        let counts = (self.sublist_matches, self.sublist_hits);
        self.sublist_matches = 0;
        self.sublist_hits = 0;
        counts
    }

    /// Drops every entry if the sublist has changed since they were computed (they would
    /// be dropped at the next lookup anyway).
    pub(crate) fn forget_if_stale(&mut self, sublist: &Sublist<SubRef>) {
        let generation = sublist.generation();
        if generation != self.generation {
            self.clear();
            // An empty table is valid at any generation.
            self.generation = generation;
        }
    }

    /// Drops every entry: they hold subscriptions, and through them sessions.
    pub(crate) fn clear(&mut self) {
        for slot in &mut self.slots {
            *slot = None;
        }
    }
}

/// A cheap, unkeyed hash: the table is per session and tiny, so a subject chosen to
/// collide only evicts that session's own entries.
fn index(subject: &[u8]) -> usize {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = subject.len() as u64;
    let mut chunks = subject.chunks_exact(8);
    for c in &mut chunks {
        h = (h.rotate_left(5) ^ word(c)).wrapping_mul(K);
    }
    h = (h.rotate_left(5) ^ tail(chunks.remainder())).wrapping_mul(K);
    (h >> 32) as usize & (SLOTS - 1)
}

/// `a == b` for the short subjects this table holds, without a call into `memcmp`.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    for (p, q) in (&mut x).zip(&mut y) {
        if word(p) != word(q) {
            return false;
        }
    }
    tail(x.remainder()) == tail(y.remainder())
}

fn word(c: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(c);
    u64::from_le_bytes(w)
}

/// The bytes of a slice shorter than 8 in one word, from fixed-size loads (copying a
/// variable-length tail into a buffer stalls the load that reads it back). Every byte
/// takes part, so two tails of the same length are equal exactly when their words are.
fn tail(rest: &[u8]) -> u64 {
    let n = rest.len();
    if n >= 4 {
        let lo = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let hi = u32::from_le_bytes([rest[n - 4], rest[n - 3], rest[n - 2], rest[n - 1]]);
        u64::from(lo) | u64::from(hi) << 32
    } else if n > 0 {
        u64::from(rest[0]) | u64::from(rest[n / 2]) << 8 | u64::from(rest[n - 1]) << 16
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_stays_in_the_table_and_spreads() {
        let mut seen = [false; SLOTS];
        for i in 0..1000 {
            let s = format!("orders.eu.{i}");
            seen[index(s.as_bytes())] = true;
        }
        assert!(
            seen.iter().all(|&s| s),
            "1000 subjects miss some of {SLOTS} slots"
        );
        assert_eq!(index(b"a.b.c"), index(b"a.b.c"));
    }

    #[test]
    fn same_is_byte_equality() {
        let words: Vec<Vec<u8>> = (0..=20)
            .flat_map(|n| {
                let base: Vec<u8> = (0..n as u8).map(|i| b'a' + i).collect();
                let mut variants = vec![base.clone()];
                for i in 0..n {
                    let mut v = base.clone();
                    v[i] ^= 0x20;
                    variants.push(v);
                }
                variants
            })
            .collect();
        for a in &words {
            for b in &words {
                assert_eq!(same(a, b), a == b, "{a:?} vs {b:?}");
            }
        }
    }
}

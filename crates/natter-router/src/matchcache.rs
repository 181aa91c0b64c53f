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
}

impl MatchCache {
    /// The subscriptions matching `subject` now, from the table or from `sublist`.
    pub(crate) fn get(
        &mut self,
        sublist: &Sublist<SubRef>,
        subject: &[u8],
    ) -> Arc<Matches<SubRef>> {
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
        if let Some(s) = slot {
            if s.subject == subject {
                return Arc::clone(&s.matches);
            }
        }
        let matches = sublist.matches(subject);
        match slot {
            Some(s) => {
                s.subject.clear();
                s.subject.extend_from_slice(subject);
                s.matches = Arc::clone(&matches);
            }
            None => {
                *slot = Some(Slot {
                    subject: subject.to_vec(),
                    matches: Arc::clone(&matches),
                })
            }
        }
        matches
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
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    let rest = chunks.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    h = (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    (h >> 32) as usize & (SLOTS - 1)
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
}

//! The bounded cache of match results, keyed by literal subject.
//!
//! It is split into shards, each behind its own read-write lock, so concurrent hits on
//! different subjects do not contend and a hit costs one shard read lock, one lookup and
//! one reference-count increment. Consistency with the trie rests on one rule kept by
//! [`Sublist`](crate::Sublist): entries are added only while the trie's read lock is held,
//! and updated only while its write lock is held, so no entry can be computed from a trie
//! state that a concurrent insert or remove has already left behind.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::hash::SubjectHashBuilder;
use crate::key::SubjectKey;
use crate::result::Matches;
use crate::subject::matches_unchecked;

/// Upper bound on shards; more would only cost memory at the default capacity.
const MAX_SHARDS: usize = 16;

struct Entry<T> {
    result: Arc<Matches<T>>,
    /// Set on every hit and cleared by a sweep, so sweeps evict entries nobody read since
    /// the last one before touching busy subjects.
    recently_used: AtomicBool,
}

/// Aligned to keep two shards' lock words off one cache line, where hits on different
/// shards from different cores would otherwise contend.
#[repr(align(128))]
struct Shard<T> {
    limit: usize,
    map: RwLock<HashMap<SubjectKey, Entry<T>, SubjectHashBuilder>>,
}

/// Literal subject -> shared match result, with at most `capacity` entries.
pub(crate) struct Cache<T> {
    shards: Box<[Shard<T>]>,
    shard_mask: usize,
    hasher: SubjectHashBuilder,
    empty: Arc<Matches<T>>,
}

impl<T> Cache<T> {
    /// A cache holding at most `capacity` results; 0 disables caching.
    pub(crate) fn new(capacity: usize, hasher: SubjectHashBuilder) -> Self {
        let shard_count: usize = if capacity == 0 {
            0
        } else {
            // The largest power of two not above either bound, so every shard gets at
            // least one slot and the total never exceeds `capacity`.
            let bound = capacity.min(MAX_SHARDS);
            1 << (usize::BITS - 1 - bound.leading_zeros())
        };
        // Spreading the remainder keeps the total exactly `capacity`.
        let shards = (0..shard_count)
            .map(|i| Shard {
                limit: capacity / shard_count + usize::from(i < capacity % shard_count),
                map: RwLock::new(HashMap::with_hasher(hasher)),
            })
            .collect();
        Self {
            shards,
            shard_mask: shard_count.saturating_sub(1),
            hasher,
            empty: Arc::new(Matches::default()),
        }
    }

    /// The shared empty result, so subjects without interest cost no allocation.
    pub(crate) fn empty(&self) -> &Arc<Matches<T>> {
        &self.empty
    }

    /// The most entries this cache holds.
    pub(crate) fn capacity(&self) -> usize {
        self.shards.iter().map(|s| s.limit).sum()
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.map.read().len()).sum()
    }

    #[inline]
    fn shard(&self, subject: &[u8]) -> &Shard<T> {
        let hash = self.hasher.hash_one(subject);
        // The maps index buckets with the low bits, so the high bits choose the shard.
        &self.shards[(hash >> 40) as usize & self.shard_mask]
    }

    /// Looks up a subject's result and lets `f` read it under the shard's read lock.
    #[inline]
    fn with_entry<R>(&self, subject: &[u8], f: impl FnOnce(&Arc<Matches<T>>) -> R) -> Option<R> {
        if self.shards.is_empty() {
            return None;
        }
        let map = self.shard(subject).map.read();
        let entry = map.get(subject)?;
        // Reading before writing keeps a hot entry's cache line shared between cores.
        if !entry.recently_used.load(Ordering::Relaxed) {
            entry.recently_used.store(true, Ordering::Relaxed);
        }
        Some(f(&entry.result))
    }

    /// The cached result for `subject`.
    #[inline]
    pub(crate) fn get(&self, subject: &[u8]) -> Option<Arc<Matches<T>>> {
        self.with_entry(subject, Arc::clone)
    }

    /// Whether the cached result for `subject` is non-empty, without touching its count.
    #[inline]
    pub(crate) fn interest(&self, subject: &[u8]) -> Option<bool> {
        self.with_entry(subject, |r| !r.is_empty())
    }

    /// Stores a freshly computed result. Caller holds the trie's read lock.
    pub(crate) fn insert(&self, subject: &[u8], result: Arc<Matches<T>>) {
        if self.shards.is_empty() {
            return;
        }
        let shard = self.shard(subject);
        let mut map = shard.map.write();
        if map.len() >= shard.limit && !map.contains_key(subject) {
            sweep(&mut map, shard.limit / 2);
        }
        map.insert(
            SubjectKey::new(subject),
            Entry {
                result,
                recently_used: AtomicBool::new(false),
            },
        );
    }

    /// Rewrites the cached result of every subject `pattern` matches. Caller holds the
    /// trie's write lock, so the set of keys cannot change meanwhile.
    fn update_matching(
        &self,
        pattern: &[u8],
        is_literal: bool,
        mut rewrite: impl FnMut(&Arc<Matches<T>>) -> Option<Arc<Matches<T>>>,
    ) {
        if self.shards.is_empty() {
            return;
        }
        let mut apply = |map: &mut HashMap<SubjectKey, Entry<T>, SubjectHashBuilder>,
                         key: &[u8]| {
            let Some(entry) = map.get_mut(key) else {
                return;
            };
            match rewrite(&entry.result) {
                Some(next) => entry.result = next,
                None => {
                    map.remove(key);
                }
            }
        };
        if is_literal {
            let mut map = self.shard(pattern).map.write();
            apply(&mut map, pattern);
            return;
        }
        let mut keys: Vec<SubjectKey> = Vec::new();
        for shard in self.shards.iter() {
            // Scanning under the read lock first keeps hits on shards with nothing to
            // update from waiting behind a write lock.
            keys.clear();
            keys.extend(
                shard
                    .map
                    .read()
                    .keys()
                    .filter(|k| matches_unchecked(pattern, k.as_slice()))
                    .cloned(),
            );
            if keys.is_empty() {
                continue;
            }
            let mut map = shard.map.write();
            for key in &keys {
                apply(&mut map, key.as_slice());
            }
        }
    }
}

impl<T: Clone + PartialEq> Cache<T> {
    /// Adds a new subscription to every cached result it belongs in.
    pub(crate) fn on_insert(
        &self,
        pattern: &[u8],
        is_literal: bool,
        queue: Option<&[u8]>,
        value: &T,
    ) {
        self.update_matching(pattern, is_literal, |r| {
            Some(Arc::new(r.with_added(queue, value)))
        });
    }

    /// Takes a removed subscription out of every cached result it was in.
    pub(crate) fn on_remove(
        &self,
        pattern: &[u8],
        is_literal: bool,
        queue: Option<&[u8]>,
        value: &T,
    ) {
        let empty = &self.empty;
        self.update_matching(pattern, is_literal, |r| {
            // A result lacking the value would mean the cache had drifted from the trie;
            // dropping the entry lets the next match recompute it rather than trust it.
            let next = r.without(queue, value)?;
            Some(if next.is_empty() {
                Arc::clone(empty)
            } else {
                Arc::new(next)
            })
        });
    }
}

/// Shrinks a full shard to `target` entries, evicting entries unread since the previous
/// sweep first and arbitrary ones only if that is not enough.
fn sweep<T>(map: &mut HashMap<SubjectKey, Entry<T>, SubjectHashBuilder>, target: usize) {
    let mut excess = map.len().saturating_sub(target);
    map.retain(|_, e| {
        if excess == 0 {
            return true;
        }
        if e.recently_used.swap(false, Ordering::Relaxed) {
            true
        } else {
            excess -= 1;
            false
        }
    });
    if excess > 0 {
        map.retain(|_, _| {
            if excess == 0 {
                return true;
            }
            excess -= 1;
            false
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(v: u32) -> Arc<Matches<u32>> {
        Arc::new(Matches {
            plain: vec![v],
            queues: Vec::new(),
        })
    }

    #[test]
    fn capacity_is_never_exceeded_and_hot_entries_survive_sweeps() {
        let cache = Cache::new(64, SubjectHashBuilder::random());
        assert_eq!(cache.capacity(), 64);
        cache.insert(b"hot", result(0));
        for i in 0..10_000u32 {
            let key = format!("cold.{i}");
            cache.insert(key.as_bytes(), result(i));
            assert!(cache.len() <= 64);
            assert!(
                cache.get(b"hot").is_some(),
                "hot entry evicted after {i} inserts"
            );
        }
    }

    #[test]
    fn tiny_and_zero_capacities() {
        let off: Cache<u32> = Cache::new(0, SubjectHashBuilder::random());
        off.insert(b"a", result(1));
        assert_eq!(off.len(), 0);
        assert!(off.get(b"a").is_none());
        for cap in [1, 2, 3, 5, 17, 1000] {
            let c = Cache::new(cap, SubjectHashBuilder::random());
            for i in 0..200u32 {
                c.insert(format!("s{i}").as_bytes(), result(i));
            }
            assert!(c.len() <= cap, "capacity {cap} exceeded: {}", c.len());
            assert!(c.len() >= 1);
        }
    }

    #[test]
    fn updates_reach_exactly_the_matching_keys() {
        let cache = Cache::new(1024, SubjectHashBuilder::random());
        for k in ["a.b", "a.c", "b.b", "a.b.c"] {
            cache.insert(k.as_bytes(), Arc::clone(cache.empty()));
        }
        cache.on_insert(b"a.*", false, None, &7u32);
        assert_eq!(cache.get(b"a.b").map(|r| r.plain.clone()), Some(vec![7]));
        assert_eq!(cache.get(b"a.c").map(|r| r.plain.clone()), Some(vec![7]));
        assert!(cache.get(b"b.b").is_some_and(|r| r.is_empty()));
        assert!(cache.get(b"a.b.c").is_some_and(|r| r.is_empty()));
        cache.on_remove(b"a.*", false, None, &7u32);
        assert!(cache.get(b"a.b").is_some_and(|r| r.is_empty()));
        assert_eq!(cache.len(), 4);
        // A removal the entry does not reflect drops the entry.
        cache.on_remove(b"b.b", true, None, &9u32);
        assert!(cache.get(b"b.b").is_none());
    }
}

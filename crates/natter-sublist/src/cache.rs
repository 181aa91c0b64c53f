//! The bounded cache of match results, keyed by literal subject.
//!
//! It is split into shards, each behind its own read-write lock, so concurrent hits on
//! different subjects do not contend and a hit costs one shard read lock, one lookup and
//! one reference-count increment. Consistency with the trie rests on one rule kept by
//! [`Sublist`](crate::Sublist): entries are added only while the trie's read lock is held,
//! and updated only while its write lock is held, so no entry can be computed from a trie
//! state that a concurrent insert or remove has already left behind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hashbrown::HashTable;
use parking_lot::RwLock;

use crate::hash::SubjectHashBuilder;
use crate::key::SubjectKey;
use crate::result::Matches;
use crate::subject::matches_unchecked;

/// Upper bound on shards; more would only cost memory at the default capacity.
const MAX_SHARDS: usize = 16;

struct Entry<T> {
    subject: SubjectKey,
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
    map: RwLock<HashTable<Entry<T>>>,
}

/// Literal subject -> shared match result, with at most `capacity` entries.
///
/// Lookups take the subject's hash from the caller, made with the hasher the cache was
/// built with, so a miss hashes its subject once for the lookup, the trie's literal table
/// and the insert together.
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
                map: RwLock::new(HashTable::new()),
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

    /// Entries, the largest fan-out of one, and all fan-outs added up, where a result's
    /// fan-out is its plain subscriptions plus its queue groups.
    pub(crate) fn fanout(&self) -> (usize, usize, usize) {
        let (mut entries, mut max, mut total) = (0, 0, 0);
        for shard in self.shards.iter() {
            let map = shard.map.read();
            entries += map.len();
            for e in map.iter() {
                let n = e.result.plain.len() + e.result.queues.len();
                max = max.max(n);
                total += n;
            }
        }
        (entries, max, total)
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Shard<T> {
        // The tables use the low bits for buckets and the top seven as tags, so bits
        // from the middle choose the shard.
        &self.shards[(hash >> 40) as usize & self.shard_mask]
    }

    /// Looks up a subject's result and lets `f` read it under the shard's read lock.
    #[inline]
    fn with_entry<R>(
        &self,
        subject: &[u8],
        hash: u64,
        f: impl FnOnce(&Arc<Matches<T>>) -> R,
    ) -> Option<R> {
        if self.shards.is_empty() {
            return None;
        }
        let map = self.shard(hash).map.read();
        let entry = map.find(hash, |e| e.subject.as_slice() == subject)?;
        // Reading before writing keeps a hot entry's cache line shared between cores.
        if !entry.recently_used.load(Ordering::Relaxed) {
            entry.recently_used.store(true, Ordering::Relaxed);
        }
        Some(f(&entry.result))
    }

    /// The hash of `subject` that the other methods take.
    #[inline]
    pub(crate) fn hash(&self, subject: &[u8]) -> u64 {
        self.hasher.hash_bytes(subject)
    }

    /// The cached result for `subject`, whose [hash](Self::hash) is `hash`.
    #[inline]
    pub(crate) fn get(&self, subject: &[u8], hash: u64) -> Option<Arc<Matches<T>>> {
        self.with_entry(subject, hash, Arc::clone)
    }

    /// Whether the cached result for `subject` is non-empty, without touching its count.
    #[inline]
    pub(crate) fn interest(&self, subject: &[u8], hash: u64) -> Option<bool> {
        self.with_entry(subject, hash, |r| !r.is_empty())
    }

    /// Stores a freshly computed result. Caller holds the trie's read lock.
    pub(crate) fn insert(&self, subject: &[u8], hash: u64, result: Arc<Matches<T>>) {
        if self.shards.is_empty() {
            return;
        }
        let shard = self.shard(hash);
        let mut map = shard.map.write();
        let hasher = self.hasher;
        if let Some(e) = map.find_mut(hash, |e| e.subject.as_slice() == subject) {
            // Another thread's miss on the same subject got here first, under the same
            // trie state, so either result is right.
            e.result = result;
            return;
        }
        if map.len() >= shard.limit {
            sweep(&mut map, shard.limit / 2);
        }
        map.insert_unique(
            hash,
            Entry {
                subject: SubjectKey::new(subject),
                result,
                recently_used: AtomicBool::new(false),
            },
            |e| hasher.hash_bytes(e.subject.as_slice()),
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
        let hasher = self.hasher;
        let mut apply = |map: &mut HashTable<Entry<T>>, key: &[u8], hash: u64| {
            let Ok(mut entry) = map.find_entry(hash, |e| e.subject.as_slice() == key) else {
                return;
            };
            match rewrite(&entry.get().result) {
                Some(next) => entry.get_mut().result = next,
                None => {
                    entry.remove();
                }
            }
        };
        if is_literal {
            let hash = hasher.hash_bytes(pattern);
            let mut map = self.shard(hash).map.write();
            apply(&mut map, pattern, hash);
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
                    .iter()
                    .filter(|e| matches_unchecked(pattern, e.subject.as_slice()))
                    .map(|e| e.subject.clone()),
            );
            if keys.is_empty() {
                continue;
            }
            let mut map = shard.map.write();
            for key in &keys {
                apply(&mut map, key.as_slice(), hasher.hash_bytes(key.as_slice()));
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
fn sweep<T>(map: &mut HashTable<Entry<T>>, target: usize) {
    let mut excess = map.len().saturating_sub(target);
    map.retain(|e| {
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
        map.retain(|_| {
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

    fn put<T>(c: &Cache<T>, subject: &[u8], result: Arc<Matches<T>>) {
        c.insert(subject, c.hash(subject), result);
    }

    fn get<T>(c: &Cache<T>, subject: &[u8]) -> Option<Arc<Matches<T>>> {
        c.get(subject, c.hash(subject))
    }

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
        put(&cache, b"hot", result(0));
        for i in 0..10_000u32 {
            let key = format!("cold.{i}");
            put(&cache, key.as_bytes(), result(i));
            assert!(cache.len() <= 64);
            assert!(
                get(&cache, b"hot").is_some(),
                "hot entry evicted after {i} inserts"
            );
        }
    }

    #[test]
    fn tiny_and_zero_capacities() {
        let off: Cache<u32> = Cache::new(0, SubjectHashBuilder::random());
        put(&off, b"a", result(1));
        assert_eq!(off.len(), 0);
        assert!(get(&off, b"a").is_none());
        for cap in [1, 2, 3, 5, 17, 1000] {
            let c = Cache::new(cap, SubjectHashBuilder::random());
            for i in 0..200u32 {
                put(&c, format!("s{i}").as_bytes(), result(i));
            }
            assert!(c.len() <= cap, "capacity {cap} exceeded: {}", c.len());
            assert!(c.len() >= 1);
        }
    }

    #[test]
    fn updates_reach_exactly_the_matching_keys() {
        let cache = Cache::new(1024, SubjectHashBuilder::random());
        for k in ["a.b", "a.c", "b.b", "a.b.c"] {
            put(&cache, k.as_bytes(), Arc::clone(cache.empty()));
        }
        cache.on_insert(b"a.*", false, None, &7u32);
        assert_eq!(get(&cache, b"a.b").map(|r| r.plain.clone()), Some(vec![7]));
        assert_eq!(get(&cache, b"a.c").map(|r| r.plain.clone()), Some(vec![7]));
        assert!(get(&cache, b"b.b").is_some_and(|r| r.is_empty()));
        assert!(get(&cache, b"a.b.c").is_some_and(|r| r.is_empty()));
        cache.on_remove(b"a.*", false, None, &7u32);
        assert!(get(&cache, b"a.b").is_some_and(|r| r.is_empty()));
        assert_eq!(cache.len(), 4);
        // A removal the entry does not reflect drops the entry.
        cache.on_remove(b"b.b", true, None, &9u32);
        assert!(get(&cache, b"b.b").is_none());
    }
}

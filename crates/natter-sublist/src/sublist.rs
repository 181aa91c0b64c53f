//! [`Sublist`]: the thread-safe subscription index with its match cache.

use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::cache::Cache;
use crate::error::SublistError;
use crate::hash::SubjectHashBuilder;
use crate::result::Matches;
use crate::subject;
use crate::trie::Trie;

/// The number of cached match results a [`Sublist::new`] keeps, as in nats-server.
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;

/// Subscriptions indexed by subject, answering "who receives a message on this subject?".
///
/// A subscription is a subject pattern, an optional queue group, and a value `T` that
/// identifies the subscriber (a connection and subscription id, a channel, an `Arc`).
/// Subscriptions form a set: inserting the same pattern, queue and value twice stores it
/// once.
///
/// All methods take `&self`; share a `Sublist` between threads with an `Arc`. Matching
/// takes a read lock on the trie only on a cache miss, and inserts and removes take the
/// write lock, so many threads can match while others subscribe and unsubscribe.
pub struct Sublist<T> {
    trie: RwLock<Trie<T>>,
    /// Shares its hasher with the trie's literal table, so a miss hashes its subject once
    /// for both.
    cache: Cache<T>,
    generation: AtomicU64,
    count: AtomicUsize,
    /// Monitoring counters, bumped under the trie's write lock and never by `matches`.
    inserts: AtomicU64,
    removes: AtomicU64,
}

/// A snapshot of a [`Sublist`]'s size and history, for monitoring (`/subsz`).
///
/// Nothing here is counted on the match path, so there are no match or cache-hit counts:
/// a caller that wants them counts [`Sublist::matches_cached`] answers itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SublistStats {
    /// Subscriptions held now.
    pub subscriptions: usize,
    /// Subjects whose match results are cached now.
    pub cache_len: usize,
    /// Inserts that added a subscription, since the sublist was made (duplicates not counted).
    pub inserts: u64,
    /// Removes that took a subscription out, since the sublist was made (misses not counted).
    pub removes: u64,
    /// The largest fan-out of a cached result: its plain subscriptions plus its queue
    /// groups (a group counts once, as only one member gets each message).
    pub max_fanout: usize,
    /// The fan-outs of all cached results added up; divided by `cache_len`, the average.
    pub total_fanout: usize,
}

impl std::ops::AddAssign for SublistStats {
    fn add_assign(&mut self, o: Self) {
        self.subscriptions += o.subscriptions;
        self.cache_len += o.cache_len;
        self.inserts += o.inserts;
        self.removes += o.removes;
        self.max_fanout = self.max_fanout.max(o.max_fanout);
        self.total_fanout += o.total_fanout;
    }
}

impl<T: Clone + Eq + Hash + Send + Sync + 'static> Default for Sublist<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Sublist<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sublist")
            .field("len", &self.count.load(Ordering::Relaxed))
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .field("cache_len", &self.cache.len())
            .field("cache_capacity", &self.cache.capacity())
            .finish_non_exhaustive()
    }
}

impl<T: Clone + Eq + Hash + Send + Sync + 'static> Sublist<T> {
    /// An empty sublist caching up to [`DEFAULT_CACHE_CAPACITY`] results.
    pub fn new() -> Self {
        Self::with_cache_capacity(DEFAULT_CACHE_CAPACITY)
    }

    /// An empty sublist caching up to `n` match results; 0 turns the cache off, which
    /// suits sublists whose interest changes much more often than it is matched.
    pub fn with_cache_capacity(n: usize) -> Self {
        let hasher = SubjectHashBuilder::random();
        Self {
            trie: RwLock::new(Trie::new(hasher)),
            cache: Cache::new(n, hasher),
            generation: AtomicU64::new(0),
            count: AtomicUsize::new(0),
            inserts: AtomicU64::new(0),
            removes: AtomicU64::new(0),
        }
    }

    /// Adds a subscription on `subject` (wildcards allowed), in queue group `queue` if
    /// given. Adding one that is already present changes nothing.
    ///
    /// Cached results the subscription belongs in are updated before this returns, so a
    /// later [`matches`](Self::matches) from any thread sees it.
    pub fn insert(
        &self,
        subject: &[u8],
        queue: Option<&[u8]>,
        value: T,
    ) -> Result<(), SublistError> {
        let is_literal = check(subject, queue)?;
        let mut trie = self.trie.write();
        if !trie.insert(subject, is_literal, queue, value.clone()) {
            return Ok(());
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.inserts.fetch_add(1, Ordering::Relaxed);
        self.cache.on_insert(subject, is_literal, queue, &value);
        self.generation.fetch_add(1, Ordering::Release);
        drop(trie);
        Ok(())
    }

    /// Removes the subscription inserted with the same subject, queue and value.
    /// `Ok(false)` means it was not present.
    pub fn remove(
        &self,
        subject: &[u8],
        queue: Option<&[u8]>,
        value: &T,
    ) -> Result<bool, SublistError> {
        let is_literal = check(subject, queue)?;
        let mut trie = self.trie.write();
        if !trie.remove(subject, is_literal, queue, value) {
            return Ok(false);
        }
        self.count.fetch_sub(1, Ordering::Relaxed);
        self.removes.fetch_add(1, Ordering::Relaxed);
        self.cache.on_remove(subject, is_literal, queue, value);
        self.generation.fetch_add(1, Ordering::Release);
        drop(trie);
        Ok(true)
    }

    /// Every subscription matching the publish subject `subject`.
    ///
    /// The result is shared with the cache, so a repeated call is a lookup and a
    /// reference-count increment. A `*` or `>` token in `subject` stands for itself (see
    /// [`subject::is_routable`]); a subject with an empty token or whitespace matches nothing.
    pub fn matches(&self, subject: &[u8]) -> Arc<Matches<T>> {
        self.matches_cached(subject).0
    }

    /// [`matches`](Self::matches), and whether the result came from the cache.
    pub fn matches_cached(&self, subject: &[u8]) -> (Arc<Matches<T>>, bool) {
        let hash = self.cache.hash(subject);
        if let Some(hit) = self.cache.get(subject, hash) {
            return (hit, true);
        }
        if !subject::is_routable(subject) {
            return (Arc::clone(self.cache.empty()), false);
        }
        let trie = self.trie.read();
        let mut found = Matches::default();
        trie.collect(subject, hash, &mut found);
        let result = if found.is_empty() {
            Arc::clone(self.cache.empty())
        } else {
            Arc::new(found)
        };
        // Still under the read lock: no insert or remove can slip in between computing
        // this result and publishing it in the cache.
        self.cache.insert(subject, hash, Arc::clone(&result));
        drop(trie);
        (result, false)
    }

    /// Whether any subscription matches the publish subject `subject` (as in [`Self::matches`]).
    ///
    /// Allocates nothing: it reads the cache, or walks the trie without caching.
    pub fn has_interest(&self, subject: &[u8]) -> bool {
        let hash = self.cache.hash(subject);
        if let Some(hit) = self.cache.interest(subject, hash) {
            return hit;
        }
        subject::is_routable(subject) && self.trie.read().has_interest(subject, hash)
    }

    /// A counter that grows with every insert and remove that changed something. A caller
    /// keeping its own copy of results may reuse them while this is unchanged.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The number of subscriptions.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// True when there are no subscriptions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of subjects whose results are cached now.
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// Size, cache occupancy, the fan-out of cached results and insert/remove totals. The
    /// fields are read one after another, each cache shard under its own read lock, so
    /// under concurrent changes they may not agree exactly.
    pub fn stats(&self) -> SublistStats {
        let (cache_len, max_fanout, total_fanout) = self.cache.fanout();
        SublistStats {
            subscriptions: self.len(),
            cache_len,
            inserts: self.inserts.load(Ordering::Relaxed),
            removes: self.removes.load(Ordering::Relaxed),
            max_fanout,
            total_fanout,
        }
    }

    /// The most results the cache keeps.
    pub fn cache_capacity(&self) -> usize {
        self.cache.capacity()
    }

    /// Calls `f` with the subject, queue group and value of every subscription.
    ///
    /// The subscriptions are copied out under the read lock and `f` runs after it is
    /// released, so `f` sees one consistent snapshot and may itself call into this
    /// sublist. Meant for monitoring and for announcing interest to peers, not hot paths.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], Option<&[u8]>, &T)) {
        type Row<T> = (usize, usize, Option<(usize, usize)>, T);
        let mut bytes: Vec<u8> = Vec::new();
        let mut rows: Vec<Row<T>> = Vec::with_capacity(self.len());
        self.trie.read().for_each(|subject, queue, value| {
            let s = (bytes.len(), subject.len());
            bytes.extend_from_slice(subject);
            let q = queue.map(|q| {
                let at = (bytes.len(), q.len());
                bytes.extend_from_slice(q);
                at
            });
            rows.push((s.0, s.1, q, value.clone()));
        });
        for (start, len, queue, value) in &rows {
            let queue = queue.map(|(qs, ql)| &bytes[qs..qs + ql]);
            f(&bytes[*start..start + len], queue, value);
        }
    }
}

/// Validates a subscription; returns whether its subject is free of wildcards.
fn check(subject: &[u8], queue: Option<&[u8]>) -> Result<bool, SublistError> {
    if !subject::is_valid_pattern(subject) {
        return Err(SublistError::InvalidSubject);
    }
    if queue.is_some_and(|q| !subject::is_valid_queue(q)) {
        return Err(SublistError::InvalidQueue);
    }
    Ok(!subject::has_wildcard(subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_count_effective_inserts_and_removes() {
        let s: Sublist<u32> = Sublist::new();
        s.insert(b"a.b", None, 1).unwrap();
        s.insert(b"a.*", Some(b"q"), 2).unwrap();
        s.insert(b"a.b", None, 1).unwrap();
        s.insert(b"a.>", None, 3).unwrap();
        assert!(!s.remove(b"a.b", None, &9).unwrap());
        assert!(s.remove(b"a.b", None, &1).unwrap());
        assert_eq!(s.matches(b"a.c").len(), 2);
        assert_eq!(
            s.stats(),
            SublistStats {
                subscriptions: 2,
                cache_len: 1,
                inserts: 3,
                removes: 1,
                max_fanout: 2,
                total_fanout: 2,
            }
        );
        let mut sum = s.stats();
        sum += s.stats();
        assert_eq!((sum.subscriptions, sum.inserts, sum.removes), (4, 6, 2));
        assert_eq!((sum.max_fanout, sum.total_fanout), (2, 4));
    }

    #[test]
    fn matches_cached_says_where_the_result_came_from() {
        let s: Sublist<u32> = Sublist::new();
        s.insert(b"a", None, 1).unwrap();
        let (first, hit) = s.matches_cached(b"a");
        assert!(!hit);
        let (again, hit) = s.matches_cached(b"a");
        assert!(hit);
        assert!(Arc::ptr_eq(&first, &again));
        // An unroutable subject is answered without the cache, every time.
        assert!(!s.matches_cached(b"a..b").1);
        assert!(!s.matches_cached(b"a..b").1);
    }

    #[test]
    fn fanout_counts_plain_subscriptions_and_queue_groups_of_cached_results() {
        let s: Sublist<u32> = Sublist::new();
        for i in 0..3 {
            s.insert(b"a", None, i).unwrap();
        }
        s.insert(b"a", Some(b"q"), 10).unwrap();
        s.insert(b"a", Some(b"q"), 11).unwrap();
        s.insert(b"*", Some(b"r"), 20).unwrap();
        assert_eq!(s.matches(b"a").len(), 6);
        assert_eq!(s.matches(b"b").len(), 1);
        s.matches(b"x.y");
        let st = s.stats();
        // "a": 3 plain + groups q and r; "b": group r; "x.y": nothing.
        assert_eq!((st.cache_len, st.max_fanout, st.total_fanout), (3, 5, 6));
    }
}

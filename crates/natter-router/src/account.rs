use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use natter_sublist::Sublist;
use parking_lot::Mutex;

use crate::interest::{Hooks, InterestEvent, InterestKind};
use crate::sub::SubRef;

/// The name of the account sessions land in when nothing else is configured.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// A subject namespace: sessions in one account never see messages of another.
///
/// Each account has its own subscription index. Get one with [`Router::account`] or
/// [`Router::global_account`].
///
/// [`Router::account`]: crate::Router::account
/// [`Router::global_account`]: crate::Router::global_account
pub struct Account {
    name: Arc<str>,
    pub(crate) sublist: Sublist<SubRef>,
    /// Subscriptions per (subject, queue): the interest set the mesh mirrors. Touched on
    /// subscribe and unsubscribe only, never on publish.
    interest: Mutex<HashMap<(Bytes, Option<Bytes>), usize>>,
    hooks: Arc<Hooks>,
    /// Publishes that went past a session's own match cache to the sublist, and how many
    /// of those its cache answered. Sessions add their counts in batches.
    matches: AtomicU64,
    cache_hits: AtomicU64,
}

/// One entry of an account's interest set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interest {
    /// Subscription subject, possibly with wildcards.
    pub subject: Bytes,
    /// Queue group, if any.
    pub queue: Option<Bytes>,
    /// How many subscriptions share this subject and queue group (the `RS+` weight).
    pub count: usize,
}

impl Account {
    pub(crate) fn new(name: &str, hooks: Arc<Hooks>) -> Self {
        Account {
            name: Arc::from(name),
            sublist: Sublist::new(),
            interest: Mutex::new(HashMap::new()),
            hooks,
            matches: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
        }
    }

    /// Sublist lookups made for publishes in this account (those a session's own match
    /// cache did not answer) and how many of them the sublist's cache answered: `/subsz`
    /// `num_matches` and, divided, `cache_hit_rate`, as nats-server counts them.
    pub fn match_counts(&self) -> (u64, u64) {
        (
            self.matches.load(Ordering::Relaxed),
            self.cache_hits.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn count_matches(&self, (matches, hits): (u64, u64)) {
        if matches != 0 {
            self.matches.fetch_add(matches, Ordering::Relaxed);
            self.cache_hits.fetch_add(hits, Ordering::Relaxed);
        }
    }

    /// The account name (`"$G"` for the global account).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// Subscriptions held in this account now.
    pub fn subscription_count(&self) -> usize {
        self.sublist.len()
    }

    /// This account's subscription index statistics (size, cached subjects and their
    /// fan-out, inserts and removes), for monitoring.
    pub fn sublist_stats(&self) -> natter_sublist::SublistStats {
        self.sublist.stats()
    }

    /// Whether a publish on the literal `subject` would reach any subscriber here.
    pub fn has_interest(&self, subject: &[u8]) -> bool {
        self.sublist.has_interest(subject)
    }

    /// The interest set: every distinct subject + queue pair with its subscription count.
    ///
    /// A mesh that connects a new route sends this first, then follows
    /// [`Router::on_interest`](crate::Router::on_interest) events.
    pub fn interest(&self) -> Vec<Interest> {
        self.interest
            .lock()
            .iter()
            .map(|((subject, queue), count)| Interest {
                subject: subject.clone(),
                queue: queue.clone(),
                count: *count,
            })
            .collect()
    }

    // The hooks run under the interest lock so that events for one subject are seen in
    // the order the counts changed, even when sessions on several threads race.
    pub(crate) fn interest_added(&self, subject: &Bytes, queue: Option<&Bytes>) {
        let mut map = self.interest.lock();
        let n = map.entry((subject.clone(), queue.cloned())).or_insert(0);
        *n += 1;
        if *n == 1 {
            self.emit(subject, queue, InterestKind::Added);
        }
    }

    pub(crate) fn interest_removed(&self, subject: &Bytes, queue: Option<&Bytes>) {
        let mut map = self.interest.lock();
        let key = (subject.clone(), queue.cloned());
        let gone = match map.get_mut(&key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => true,
            None => return,
        };
        if gone {
            map.remove(&key);
            self.emit(subject, queue, InterestKind::Removed);
        }
    }

    fn emit(&self, subject: &Bytes, queue: Option<&Bytes>, kind: InterestKind) {
        if self.hooks.is_empty() {
            return;
        }
        self.hooks.emit(&InterestEvent {
            account: self.name.clone(),
            subject: subject.clone(),
            queue: queue.cloned(),
            kind,
        });
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("subscriptions", &self.sublist.len())
            .finish()
    }
}

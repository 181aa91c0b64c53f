use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

/// Whether interest appeared or went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InterestKind {
    /// The first subscription on this subject (and queue group) in the account.
    Added,
    /// The last subscription on this subject (and queue group) in the account went away.
    Removed,
}

/// A change in the set of subjects an account is interested in.
///
/// Emitted only when the set changes: the first subscription on a subject + queue pair
/// and the removal of the last one. This is what the mesh turns into `RS+` / `RS-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterestEvent {
    /// The account name.
    pub account: Arc<str>,
    /// The subscription subject, possibly with wildcards.
    pub subject: Bytes,
    /// The queue group, if the interest is a queue group's.
    pub queue: Option<Bytes>,
    /// Added or removed.
    pub kind: InterestKind,
}

type Hook = Arc<dyn Fn(&InterestEvent) + Send + Sync>;

/// The registered `on_interest` callbacks of one router.
#[derive(Default)]
pub(crate) struct Hooks {
    hooks: RwLock<Vec<Hook>>,
}

impl Hooks {
    pub(crate) fn add(&self, f: Hook) {
        self.hooks.write().push(f);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.hooks.read().is_empty()
    }

    pub(crate) fn emit(&self, ev: &InterestEvent) {
        for h in self.hooks.read().iter() {
            h(ev);
        }
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("len", &self.hooks.read().len())
            .finish()
    }
}

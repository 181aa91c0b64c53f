//! One trie level (the children after a token position) and the node under each token.

use std::hash::Hash;

use hashbrown::HashTable;

use super::subs::SubSet;
use crate::hash::token_hash;
use crate::key::{Probe, TokenKey};
use crate::subject::Token;

/// The children at one token position: literal tokens by value, plus at most one `*` and
/// one `>` child, kept apart so a match checks the wildcards without a lookup.
///
/// The table takes hashes from the caller, so a match hashes each token of its subject
/// once, however many levels and branches look it up.
pub(crate) struct Level<T> {
    literals: HashTable<Child<T>>,
    pub(crate) single: Option<Box<Node<T>>>,
    pub(crate) full: Option<Box<Node<T>>>,
}

/// A literal token and the node under it.
pub(crate) struct Child<T> {
    pub(crate) token: TokenKey,
    pub(crate) node: Node<T>,
}

/// The subscriptions whose subject ends at this token, and the level below it. The level
/// is inline (an empty one allocates nothing) to save a pointer hop per token on a match.
pub(crate) struct Node<T> {
    pub(crate) next: Level<T>,
    pub(crate) subs: Subs<T>,
}

/// The subscriptions on one subject: plain ones and, per queue group, its members.
pub(crate) struct Subs<T> {
    pub(crate) plain: SubSet<T>,
    /// A boxed slice rather than a `Vec` saves 8 bytes in every node for a list that
    /// changes only when a group appears or empties.
    pub(crate) queues: Box<[QueueGroup<T>]>,
}

/// The members of one queue group on one subject.
pub(crate) struct QueueGroup<T> {
    pub(crate) name: Box<[u8]>,
    pub(crate) members: SubSet<T>,
}

impl<T> Level<T> {
    pub(crate) fn new() -> Self {
        Self {
            literals: HashTable::new(),
            single: None,
            full: None,
        }
    }

    /// The node under the literal token `probe`.
    #[inline]
    pub(crate) fn literal(&self, probe: &Probe<'_>) -> Option<&Node<T>> {
        if self.literals.is_empty() {
            return None;
        }
        self.literals
            .find(probe.hash, |c| c.token.matches(probe))
            .map(|c| &c.node)
    }

    /// Every literal child.
    pub(crate) fn literal_children(&self) -> impl Iterator<Item = &Child<T>> {
        self.literals.iter()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.literals.is_empty() && self.single.is_none() && self.full.is_none()
    }

    pub(crate) fn child_mut(&mut self, token: Token<'_>) -> Option<&mut Node<T>> {
        match token {
            Token::Single => self.single.as_deref_mut(),
            Token::Full => self.full.as_deref_mut(),
            Token::Literal(t) => {
                let probe = Probe::new(t);
                self.literals
                    .find_mut(probe.hash, |c| c.token.matches(&probe))
                    .map(|c| &mut c.node)
            }
        }
    }

    pub(crate) fn child_or_insert(&mut self, token: Token<'_>) -> &mut Node<T> {
        match token {
            Token::Single => self.single.get_or_insert_with(|| Box::new(Node::new())),
            Token::Full => self.full.get_or_insert_with(|| Box::new(Node::new())),
            Token::Literal(t) => {
                let probe = Probe::new(t);
                let child = self
                    .literals
                    .entry(
                        probe.hash,
                        |c| c.token.matches(&probe),
                        |c| token_hash(c.token.as_slice()),
                    )
                    .or_insert_with(|| Child {
                        token: TokenKey::new(t),
                        node: Node::new(),
                    });
                &mut child.into_mut().node
            }
        }
    }

    pub(crate) fn prune(&mut self, token: Token<'_>) {
        match token {
            Token::Single => self.single = None,
            Token::Full => self.full = None,
            Token::Literal(t) => {
                let probe = Probe::new(t);
                if let Ok(entry) = self
                    .literals
                    .find_entry(probe.hash, |c| c.token.matches(&probe))
                {
                    entry.remove();
                }
            }
        }
    }
}

impl<T> Node<T> {
    fn new() -> Self {
        Self {
            next: Level::new(),
            subs: Subs::default(),
        }
    }

    /// Whether this node holds nothing and leads nowhere, so its parent may drop it.
    pub(crate) fn is_prunable(&self) -> bool {
        self.subs.is_empty() && self.next.is_empty()
    }
}

impl<T> Default for Subs<T> {
    fn default() -> Self {
        Self {
            plain: SubSet::default(),
            queues: Box::default(),
        }
    }
}

impl<T> Subs<T> {
    /// Whether no subscription is here.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }
}

impl<T: Clone + Eq + Hash> Subs<T> {
    /// Adds a subscription; false if this exact one is already here.
    pub(crate) fn add(&mut self, queue: Option<&[u8]>, value: T) -> bool {
        let Some(name) = queue else {
            return self.plain.insert(value);
        };
        match self.queues.iter_mut().find(|g| &*g.name == name) {
            Some(group) => group.members.insert(value),
            None => {
                let mut members = SubSet::default();
                members.insert(value);
                let mut queues = std::mem::take(&mut self.queues).into_vec();
                queues.push(QueueGroup {
                    name: name.into(),
                    members,
                });
                self.queues = queues.into_boxed_slice();
                true
            }
        }
    }

    /// Removes a subscription; false if it is not here. An emptied group goes away.
    pub(crate) fn take(&mut self, queue: Option<&[u8]>, value: &T) -> bool {
        let Some(name) = queue else {
            return self.plain.remove(value);
        };
        let Some(i) = self.queues.iter().position(|g| &*g.name == name) else {
            return false;
        };
        let removed = self.queues[i].members.remove(value);
        if self.queues[i].members.is_empty() {
            let mut queues = std::mem::take(&mut self.queues).into_vec();
            queues.swap_remove(i);
            self.queues = queues.into_boxed_slice();
        }
        removed
    }
}

//! One trie level (the children after a token position) and the node under each token.

use std::collections::HashMap;
use std::hash::Hash;

use super::subs::SubSet;
use crate::hash::SubjectHashBuilder;
use crate::key::TokenKey;
use crate::subject::Token;

/// The children at one token position: literal tokens by value, plus at most one `*` and
/// one `>` child, kept apart so a match checks the wildcards without a lookup.
pub(crate) struct Level<T> {
    pub(crate) literals: HashMap<TokenKey, Node<T>, SubjectHashBuilder>,
    pub(crate) single: Option<Box<Node<T>>>,
    pub(crate) full: Option<Box<Node<T>>>,
}

/// The subscriptions whose subject ends at this token, and the level below it. The level
/// is inline (an empty one allocates nothing) to save a pointer hop per token on a match.
pub(crate) struct Node<T> {
    pub(crate) next: Level<T>,
    pub(crate) plain: SubSet<T>,
    pub(crate) queues: Vec<QueueGroup<T>>,
}

/// The members of one queue group on one node.
pub(crate) struct QueueGroup<T> {
    pub(crate) name: Box<[u8]>,
    pub(crate) members: SubSet<T>,
}

impl<T> Level<T> {
    pub(crate) fn new(hasher: SubjectHashBuilder) -> Self {
        Self {
            literals: HashMap::with_hasher(hasher),
            single: None,
            full: None,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.literals.is_empty() && self.single.is_none() && self.full.is_none()
    }

    pub(crate) fn child_mut(&mut self, token: Token<'_>) -> Option<&mut Node<T>> {
        match token {
            Token::Single => self.single.as_deref_mut(),
            Token::Full => self.full.as_deref_mut(),
            Token::Literal(t) => self.literals.get_mut(t),
        }
    }

    pub(crate) fn child_or_insert(&mut self, token: Token<'_>) -> &mut Node<T> {
        match token {
            Token::Single => {
                let hasher = *self.literals.hasher();
                self.single
                    .get_or_insert_with(|| Box::new(Node::new(hasher)))
            }
            Token::Full => {
                let hasher = *self.literals.hasher();
                self.full.get_or_insert_with(|| Box::new(Node::new(hasher)))
            }
            Token::Literal(t) => {
                // Looking up first avoids building the key for every existing token.
                if !self.literals.contains_key(t) {
                    let node = Node::new(*self.literals.hasher());
                    self.literals.insert(TokenKey::new(t), node);
                }
                self.literals
                    .get_mut(t)
                    .expect("the token was present or has just been inserted")
            }
        }
    }

    pub(crate) fn prune(&mut self, token: Token<'_>) {
        match token {
            Token::Single => self.single = None,
            Token::Full => self.full = None,
            Token::Literal(t) => {
                self.literals.remove(t);
            }
        }
    }
}

impl<T> Node<T> {
    fn new(hasher: SubjectHashBuilder) -> Self {
        Self {
            next: Level::new(hasher),
            plain: SubSet::default(),
            queues: Vec::new(),
        }
    }

    /// Whether any subscription ends at this node.
    pub(crate) fn has_subs(&self) -> bool {
        !self.plain.is_empty() || !self.queues.is_empty()
    }

    /// Whether this node holds nothing and leads nowhere, so its parent may drop it.
    pub(crate) fn is_prunable(&self) -> bool {
        !self.has_subs() && self.next.is_empty()
    }
}

impl<T: Clone + Eq + Hash> Node<T> {
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
                self.queues.push(QueueGroup {
                    name: name.into(),
                    members,
                });
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
            self.queues.swap_remove(i);
        }
        removed
    }
}

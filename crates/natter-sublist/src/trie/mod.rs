//! The subscription trie: one level per token position, as in nats-server's sublist.
//!
//! Callers validate subjects first; every function here assumes a valid pattern (insert,
//! remove) or a valid literal (match).

mod node;
mod subs;

use std::hash::Hash;

use self::node::{Level, Node};
use crate::hash::SubjectHashBuilder;
use crate::result::Matches;
use crate::subject::{split_first, Token};

/// Subscriptions arranged by subject token.
pub(crate) struct Trie<T> {
    root: Level<T>,
}

impl<T> Trie<T> {
    pub(crate) fn new(hasher: SubjectHashBuilder) -> Self {
        Self {
            root: Level::new(hasher),
        }
    }
}

impl<T: Clone + Eq + Hash> Trie<T> {
    /// Adds a subscription on a valid pattern; false if this exact one is already present.
    pub(crate) fn insert(&mut self, pattern: &[u8], queue: Option<&[u8]>, value: T) -> bool {
        let mut level = &mut self.root;
        let (mut token, mut rest) = split_first(pattern);
        loop {
            let node = level.child_or_insert(Token::classify(token));
            match rest {
                None => return node.add(queue, value),
                Some(r) => {
                    (token, rest) = split_first(r);
                    level = &mut node.next;
                }
            }
        }
    }

    /// Removes a subscription on a valid pattern, pruning nodes left empty; false if it
    /// was not present.
    pub(crate) fn remove(&mut self, pattern: &[u8], queue: Option<&[u8]>, value: &T) -> bool {
        let (token, rest) = split_first(pattern);
        remove_below(&mut self.root, token, rest, queue, value)
    }
}

/// Recursion depth is the pattern's token count, which the protocol's control-line limit
/// bounds (a 4 KiB line holds at most about 2,000 tokens).
fn remove_below<T: Clone + Eq + Hash>(
    level: &mut Level<T>,
    token: &[u8],
    rest: Option<&[u8]>,
    queue: Option<&[u8]>,
    value: &T,
) -> bool {
    let token = Token::classify(token);
    let Some(node) = level.child_mut(token) else {
        return false;
    };
    let removed = match rest {
        None => node.take(queue, value),
        Some(r) => {
            let (t, rr) = split_first(r);
            remove_below(&mut node.next, t, rr, queue, value)
        }
    };
    if removed && node.is_prunable() {
        level.prune(token);
    }
    removed
}

impl<T: Clone> Trie<T> {
    /// Appends every subscription matching the valid literal `subject` to `out`.
    pub(crate) fn collect(&self, subject: &[u8], out: &mut Matches<T>) {
        collect_level(&self.root, subject, out);
    }
}

impl<T> Trie<T> {
    /// Whether any subscription matches the valid literal `subject`; allocates nothing.
    pub(crate) fn has_interest(&self, subject: &[u8]) -> bool {
        interest_level(&self.root, subject)
    }

    /// Visits every subscription with its full pattern and queue group.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&[u8], Option<&[u8]>, &T)) {
        let mut path = Vec::with_capacity(64);
        visit_level(&self.root, &mut path, &mut f);
    }
}

fn add_node<T: Clone>(node: &Node<T>, out: &mut Matches<T>) {
    out.plain.extend_from_slice(node.plain.as_slice());
    for group in &node.queues {
        out.extend_queue(&group.name, group.members.as_slice());
    }
}

/// Follows the literal tokens in a loop and recurses only into `*` children, so the stack
/// depth is the number of `*` levels on the path, not the subject's length.
fn collect_level<T: Clone>(mut level: &Level<T>, mut subject: &[u8], out: &mut Matches<T>) {
    loop {
        let (token, rest) = split_first(subject);
        if let Some(full) = &level.full {
            add_node(full, out);
        }
        if let Some(single) = &level.single {
            match rest {
                None => add_node(single, out),
                Some(r) => collect_level(&single.next, r, out),
            }
        }
        let Some(node) = level.literals.get(token) else {
            return;
        };
        match rest {
            None => return add_node(node, out),
            Some(r) => {
                level = &node.next;
                subject = r;
            }
        }
    }
}

fn interest_level<T>(mut level: &Level<T>, mut subject: &[u8]) -> bool {
    loop {
        let (token, rest) = split_first(subject);
        if level.full.as_ref().is_some_and(|n| n.has_subs()) {
            return true;
        }
        if let Some(single) = &level.single {
            let found = match rest {
                None => single.has_subs(),
                Some(r) => interest_level(&single.next, r),
            };
            if found {
                return true;
            }
        }
        let Some(node) = level.literals.get(token) else {
            return false;
        };
        match rest {
            None => return node.has_subs(),
            Some(r) => {
                level = &node.next;
                subject = r;
            }
        }
    }
}

fn visit_level<T>(
    level: &Level<T>,
    path: &mut Vec<u8>,
    f: &mut impl FnMut(&[u8], Option<&[u8]>, &T),
) {
    let children = level
        .literals
        .iter()
        .map(|(t, n)| (t.as_slice(), n))
        .chain(level.single.as_deref().map(|n| (b"*".as_slice(), n)))
        .chain(level.full.as_deref().map(|n| (b">".as_slice(), n)));
    for (token, node) in children {
        let len = path.len();
        if len > 0 {
            path.push(crate::subject::SEPARATOR);
        }
        path.extend_from_slice(token);
        for v in node.plain.as_slice() {
            f(path, None, v);
        }
        for group in &node.queues {
            for v in group.members.as_slice() {
                f(path, Some(&group.name), v);
            }
        }
        visit_level(&node.next, path, f);
        path.truncate(len);
    }
}

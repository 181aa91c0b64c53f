//! The subscription index: wildcard patterns in a trie with one level per token position,
//! as in nats-server's sublist, and literal patterns in a table keyed by the whole subject.
//!
//! Callers validate subjects first; every function here assumes a valid pattern (insert,
//! remove) or a routable subject (match).
//!
//! A literal pattern matches a publish subject only when the two are equal byte for byte,
//! so one lookup by the whole subject finds it. Walking the trie for it instead costs a
//! hash lookup per token, and in a large trie each of those lands on memory no other
//! subject shares, so it misses the CPU caches: the walk, not the work, dominated a match.
//! The trie then holds only wildcard patterns, which are few and share their nodes, so its
//! walk stays short and cache-resident. A routable subject with a `*` or `>` token never
//! equals a key of the table, since those keys hold no wildcard tokens, so it reaches only
//! wildcard subscriptions, as it must.

mod node;
mod subs;

use std::hash::Hash;

use hashbrown::HashTable;

use self::node::{Level, Subs};
use crate::hash::SubjectHashBuilder;
use crate::key::{Probe, SubjectKey};
use crate::result::Matches;
use crate::subject::{split_first, Token};

/// Subscriptions arranged for matching.
pub(crate) struct Trie<T> {
    /// Subscriptions on patterns with at least one wildcard token.
    root: Level<T>,
    /// Subscriptions on literal patterns, by subject, hashed with `hasher`; no entry is
    /// empty.
    exact: HashTable<(SubjectKey, Subs<T>)>,
    hasher: SubjectHashBuilder,
}

impl<T> Trie<T> {
    /// An empty trie whose literal table hashes subjects with `hasher`; callers pass
    /// subject hashes made by the same one.
    pub(crate) fn new(hasher: SubjectHashBuilder) -> Self {
        Self {
            root: Level::new(),
            exact: HashTable::new(),
            hasher,
        }
    }

    #[inline]
    fn exact(&self, subject: &[u8], hash: u64) -> Option<&Subs<T>> {
        if self.exact.is_empty() {
            return None;
        }
        self.exact
            .find(hash, |(k, _)| k.as_slice() == subject)
            .map(|(_, subs)| subs)
    }
}

impl<T: Clone + Eq + Hash> Trie<T> {
    /// Adds a subscription on a valid pattern, `is_literal` when it has no wildcard token;
    /// false if this exact one is already present.
    pub(crate) fn insert(
        &mut self,
        pattern: &[u8],
        is_literal: bool,
        queue: Option<&[u8]>,
        value: T,
    ) -> bool {
        if is_literal {
            let hasher = self.hasher;
            let (_, subs) = self
                .exact
                .entry(
                    hasher.hash_bytes(pattern),
                    |(k, _)| k.as_slice() == pattern,
                    |(k, _)| hasher.hash_bytes(k.as_slice()),
                )
                .or_insert_with(|| (SubjectKey::new(pattern), Subs::default()))
                .into_mut();
            return subs.add(queue, value);
        }
        let mut level = &mut self.root;
        let (mut token, mut rest) = split_first(pattern);
        loop {
            let node = level.child_or_insert(Token::classify(token));
            match rest {
                None => return node.subs.add(queue, value),
                Some(r) => {
                    (token, rest) = split_first(r);
                    level = &mut node.next;
                }
            }
        }
    }

    /// Removes a subscription on a valid pattern (`is_literal` as for insert), pruning
    /// what it leaves empty; false if it was not present.
    pub(crate) fn remove(
        &mut self,
        pattern: &[u8],
        is_literal: bool,
        queue: Option<&[u8]>,
        value: &T,
    ) -> bool {
        if is_literal {
            let hash = self.hasher.hash_bytes(pattern);
            let Ok(mut entry) = self
                .exact
                .find_entry(hash, |(k, _)| k.as_slice() == pattern)
            else {
                return false;
            };
            let removed = entry.get_mut().1.take(queue, value);
            if entry.get().1.is_empty() {
                entry.remove();
            }
            return removed;
        }
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
        None => node.subs.take(queue, value),
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
    /// Appends every subscription matching the routable subject `subject`, whose hash by
    /// this trie's hasher is `hash`, to `out`.
    pub(crate) fn collect(&self, subject: &[u8], hash: u64, out: &mut Matches<T>) {
        let exact = self.exact(subject, hash);
        // The lookup above most likely waits on main memory; the walk does not depend on
        // it, so using its answer only afterwards lets the CPU overlap the two.
        if !self.root.is_empty() {
            with_tokens(subject, |tokens| collect_level(&self.root, tokens, out));
        }
        if let Some(subs) = exact {
            add_subs(subs, out);
        }
    }
}

impl<T> Trie<T> {
    /// Whether any subscription matches the routable subject `subject` (with `hash` as
    /// for [`Self::collect`]); allocates nothing.
    pub(crate) fn has_interest(&self, subject: &[u8], hash: u64) -> bool {
        self.exact(subject, hash).is_some()
            || (!self.root.is_empty()
                && with_tokens(subject, |tokens| interest_level(&self.root, tokens)))
    }

    /// Visits every subscription with its full pattern and queue group.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&[u8], Option<&[u8]>, &T)) {
        for (subject, subs) in &self.exact {
            visit_subs(subs, subject.as_slice(), &mut f);
        }
        let mut path = Vec::with_capacity(64);
        visit_level(&self.root, &mut path, &mut f);
    }
}

/// How many tokens of a subject are prepared up front; later ones are prepared as the
/// walk reaches them, so no subject needs an allocation.
const PREPARED: usize = 16;

/// The tokens of a subject still to match: prepared [`Probe`]s, then the unprepared rest.
#[derive(Clone, Copy)]
struct Tokens<'p, 's> {
    prepared: &'p [Probe<'s>],
    rest: Option<&'s [u8]>,
}

impl<'p, 's> Tokens<'p, 's> {
    /// The next token and what follows it; `None` for what follows the last token.
    #[inline]
    fn split(self) -> (Probe<'s>, Option<Tokens<'p, 's>>) {
        match self.prepared.split_first() {
            Some((first, prepared)) => {
                let next = (!prepared.is_empty() || self.rest.is_some()).then_some(Tokens {
                    prepared,
                    rest: self.rest,
                });
                (*first, next)
            }
            None => {
                let (token, rest) = split_first(self.rest.unwrap_or_default());
                let next = rest.map(|rest| Tokens {
                    prepared: &[],
                    rest: Some(rest),
                });
                (Probe::new(token), next)
            }
        }
    }
}

/// Calls `f` with the subject's tokens, hashing each once for the whole walk.
#[inline]
fn with_tokens<R>(subject: &[u8], f: impl FnOnce(Tokens<'_, '_>) -> R) -> R {
    let mut buf = [Probe::EMPTY; PREPARED];
    let mut count = 0;
    let mut rest = Some(subject);
    while count < PREPARED {
        let Some(r) = rest else { break };
        let (token, next) = split_first(r);
        buf[count] = Probe::new(token);
        count += 1;
        rest = next;
    }
    f(Tokens {
        prepared: &buf[..count],
        rest,
    })
}

#[inline]
fn add_subs<T: Clone>(subs: &Subs<T>, out: &mut Matches<T>) {
    out.plain.extend_from_slice(subs.plain.as_slice());
    for group in &subs.queues {
        out.extend_queue(&group.name, group.members.as_slice());
    }
}

/// Follows the literal tokens in a loop and recurses only into `*` children, so the stack
/// depth is the number of `*` levels on the path, not the subject's length.
fn collect_level<T: Clone>(mut level: &Level<T>, mut tokens: Tokens<'_, '_>, out: &mut Matches<T>) {
    loop {
        let (token, rest) = tokens.split();
        if let Some(full) = &level.full {
            add_subs(&full.subs, out);
        }
        if let Some(single) = &level.single {
            match rest {
                None => add_subs(&single.subs, out),
                Some(r) => collect_level(&single.next, r, out),
            }
        }
        let Some(node) = level.literal(&token) else {
            return;
        };
        match rest {
            None => return add_subs(&node.subs, out),
            Some(r) => {
                level = &node.next;
                tokens = r;
            }
        }
    }
}

fn interest_level<T>(mut level: &Level<T>, mut tokens: Tokens<'_, '_>) -> bool {
    loop {
        let (token, rest) = tokens.split();
        if level.full.as_ref().is_some_and(|n| !n.subs.is_empty()) {
            return true;
        }
        if let Some(single) = &level.single {
            let found = match rest {
                None => !single.subs.is_empty(),
                Some(r) => interest_level(&single.next, r),
            };
            if found {
                return true;
            }
        }
        let Some(node) = level.literal(&token) else {
            return false;
        };
        match rest {
            None => return !node.subs.is_empty(),
            Some(r) => {
                level = &node.next;
                tokens = r;
            }
        }
    }
}

fn visit_subs<T>(subs: &Subs<T>, subject: &[u8], f: &mut impl FnMut(&[u8], Option<&[u8]>, &T)) {
    for v in subs.plain.as_slice() {
        f(subject, None, v);
    }
    for group in &subs.queues {
        for v in group.members.as_slice() {
            f(subject, Some(&group.name), v);
        }
    }
}

fn visit_level<T>(
    level: &Level<T>,
    path: &mut Vec<u8>,
    f: &mut impl FnMut(&[u8], Option<&[u8]>, &T),
) {
    let children = level
        .literal_children()
        .map(|c| (c.token.as_slice(), &c.node))
        .chain(level.single.as_deref().map(|n| (b"*".as_slice(), n)))
        .chain(level.full.as_deref().map(|n| (b">".as_slice(), n)));
    for (token, node) in children {
        let len = path.len();
        if len > 0 {
            path.push(crate::subject::SEPARATOR);
        }
        path.extend_from_slice(token);
        visit_subs(&node.subs, path, f);
        visit_level::<T>(&node.next, path, f);
        path.truncate(len);
    }
}

//! Byte-driven operation sequences checked against a naive model; shared by the fuzz target
//! `sublist_ops` and the corpus replay test, so both decode bytes the same way.
//!
//! # Encoding
//!
//! The first byte picks the cache capacity: `[0, 1, 2, 4, 8, 1024][b % 6]`, so eviction
//! and the uncached path are both exercised. Every following operation starts with a
//! byte `k`; an operation cut short by the end of the input is ignored.
//!
//! - `k % 4 == 0` insert and `k % 4 == 1` remove: a subject, a queue byte and a value
//!   byte follow. The subject is a count byte `n` giving `1 + n % 4` tokens, then one byte
//!   per token indexing [`PATTERN_TOKENS`] (modulo its length). The queue byte `q` gives
//!   `[None, None, Some("q1"), Some("q2"), Some("")][q % 5]`; the value is `v % 4`.
//! - `k % 4 == 2` match: a subject as above over [`PUBLISH_TOKENS`]; `matches` and
//!   `has_interest` are both checked, then `matches` again (now possibly cached).
//! - `k % 4 == 3` remove an existing subscription: one byte indexing the model's current
//!   subscriptions (modulo their count), so removals succeed often enough to matter.
//!
//! After every operation the sublist's length must equal the model's and its cache must
//! be within capacity; at the end, [`Sublist::for_each`] must list exactly the model.

use crate::{Matches, Sublist, SublistError};

/// Tokens a subscription subject is built from: literals, wildcards, and two invalid ones.
pub const PATTERN_TOKENS: [&[u8]; 8] = [b"a", b"b", b"c", b"*", b">", b"a*", b"", b"x y"];
/// Tokens a publish subject is built from: mostly literals, plus a wildcard and an empty
/// token, which make the subject invalid and must match nothing.
pub const PUBLISH_TOKENS: [&[u8]; 8] = [b"a", b"b", b"c", b"a*", b"a", b"b", b"*", b""];
const CAPACITIES: [usize; 6] = [0, 1, 2, 4, 8, 1024];
const QUEUES: [Option<&[u8]>; 5] = [None, None, Some(b"q1"), Some(b"q2"), Some(b"")];

type Sub = (Vec<u8>, Option<Vec<u8>>, u8);
type Normal = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn subject(&mut self, alphabet: &[&[u8]; 8]) -> Option<Vec<u8>> {
        let count = 1 + usize::from(self.byte()? % 4);
        let mut subject = Vec::new();
        for i in 0..count {
            if i > 0 {
                subject.push(b'.');
            }
            subject.extend_from_slice(alphabet[usize::from(self.byte()?) % alphabet.len()]);
        }
        Some(subject)
    }
}

/// Runs the operations encoded in `data` against a [`Sublist`] and a naive model.
///
/// # Panics
///
/// When the sublist and the model disagree; the message says on what.
pub fn run_ops(data: &[u8]) {
    let mut input = Input(data);
    let Some(first) = input.byte() else {
        return;
    };
    let capacity = CAPACITIES[usize::from(first) % CAPACITIES.len()];
    let list: Sublist<u8> = Sublist::with_cache_capacity(capacity);
    let mut model: Vec<Sub> = Vec::new();
    while let Some(kind) = input.byte() {
        let step = match kind % 4 {
            0 | 1 => subscription_op(&mut input, kind % 4 == 0, &list, &mut model),
            2 => input
                .subject(&PUBLISH_TOKENS)
                .map(|s| check_match(&list, &model, &s)),
            _ => input.byte().map(|i| remove_existing(&list, &mut model, i)),
        };
        if step.is_none() {
            break;
        }
        assert_eq!(list.len(), model.len(), "subscription count");
        assert!(list.cache_len() <= capacity, "cache over capacity");
    }
    let mut listed: Vec<Sub> = Vec::new();
    list.for_each(|s, q, v| listed.push((s.to_vec(), q.map(<[u8]>::to_vec), *v)));
    listed.sort();
    model.sort();
    assert_eq!(listed, model, "for_each snapshot");
}

fn subscription_op(
    input: &mut Input<'_>,
    insert: bool,
    list: &Sublist<u8>,
    model: &mut Vec<Sub>,
) -> Option<()> {
    let subject = input.subject(&PATTERN_TOKENS)?;
    let queue = QUEUES[usize::from(input.byte()?) % QUEUES.len()];
    let value = input.byte()? % 4;
    let expected_err = if !naive_valid_pattern(&subject) {
        Some(SublistError::InvalidSubject)
    } else if queue == Some(b"") {
        Some(SublistError::InvalidQueue)
    } else {
        None
    };
    let key: Sub = (subject.clone(), queue.map(<[u8]>::to_vec), value);
    let present = model.contains(&key);
    let before = list.generation();
    if insert {
        let got = list.insert(&subject, queue, value);
        assert_eq!(got.err(), expected_err, "insert {key:?}");
        if expected_err.is_none() && !present {
            model.push(key);
            assert!(list.generation() > before, "generation after insert");
        } else {
            assert_eq!(list.generation(), before, "generation after no-op insert");
        }
    } else {
        let got = list.remove(&subject, queue, &value);
        match expected_err {
            Some(e) => assert_eq!(got, Err(e), "remove {key:?}"),
            None => assert_eq!(got, Ok(present), "remove {key:?}"),
        }
        if expected_err.is_none() && present {
            model.retain(|s| s != &key);
            assert!(list.generation() > before, "generation after remove");
        } else {
            assert_eq!(list.generation(), before, "generation after no-op remove");
        }
    }
    Some(())
}

fn remove_existing(list: &Sublist<u8>, model: &mut Vec<Sub>, index: u8) {
    if model.is_empty() {
        return;
    }
    let (subject, queue, value) = model.swap_remove(usize::from(index) % model.len());
    let got = list.remove(&subject, queue.as_deref(), &value);
    assert_eq!(
        got,
        Ok(true),
        "remove existing {subject:?} {queue:?} {value}"
    );
}

fn check_match(list: &Sublist<u8>, model: &[Sub], subject: &[u8]) {
    let want = reference_matches(model, subject);
    let first = normalize(&list.matches(subject));
    assert_eq!(
        first,
        want,
        "matches({:?})",
        String::from_utf8_lossy(subject)
    );
    let want_interest = !want.0.is_empty() || !want.1.is_empty();
    assert_eq!(list.has_interest(subject), want_interest, "has_interest");
    let again = normalize(&list.matches(subject));
    assert_eq!(
        again,
        want,
        "repeated matches({:?})",
        String::from_utf8_lossy(subject)
    );
}

/// Plain values sorted, and (queue, value) pairs sorted, so order does not matter but
/// multiplicity and grouping do.
fn normalize(m: &Matches<u8>) -> Normal {
    let mut plain = m.plain.clone();
    plain.sort_unstable();
    let mut queues: Vec<(Vec<u8>, Vec<u8>)> = m
        .queues
        .iter()
        .map(|q| {
            assert!(!q.members.is_empty(), "empty queue group in result");
            let mut members = q.members.clone();
            members.sort_unstable();
            (q.name.to_vec(), members)
        })
        .collect();
    queues.sort();
    assert!(
        queues.windows(2).all(|w| w[0].0 != w[1].0),
        "queue group listed twice"
    );
    (plain, queues)
}

fn reference_matches(model: &[Sub], subject: &[u8]) -> Normal {
    let mut out = Matches::default();
    if naive_routable(subject) {
        for (pattern, queue, value) in model {
            if naive_match(&split(pattern), &split(subject)) {
                match queue {
                    None => out.plain.push(*value),
                    Some(q) => out.extend_queue(q, &[*value]),
                }
            }
        }
    }
    normalize(&out)
}

fn split(s: &[u8]) -> Vec<&[u8]> {
    s.split(|&b| b == b'.').collect()
}

fn naive_valid_pattern(s: &[u8]) -> bool {
    let toks = split(s);
    !s.is_empty()
        && toks
            .iter()
            .all(|t| !t.is_empty() && !t.iter().any(|b| b.is_ascii_whitespace()))
        && toks[..toks.len() - 1].iter().all(|t| *t != b">")
}

/// A published subject reaches subscriptions when its tokens are non-empty and free of
/// whitespace; `*` and `>` in it are plain tokens.
fn naive_routable(s: &[u8]) -> bool {
    !s.is_empty()
        && split(s)
            .iter()
            .all(|t| !t.is_empty() && !t.iter().any(|b| b.is_ascii_whitespace()))
}

fn naive_match(pattern: &[&[u8]], subject: &[&[u8]]) -> bool {
    match (pattern.split_first(), subject.split_first()) {
        (None, None) => true,
        (Some((p, _)), Some(_)) if *p == b">" => true,
        (Some((p, prest)), Some((s, srest))) => (*p == b"*" || p == s) && naive_match(prest, srest),
        _ => false,
    }
}

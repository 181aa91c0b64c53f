//! Property tests: the sublist against a naive list-scanning matcher, over random
//! subscription sets and random interleavings of insert, remove and match, with caches
//! small enough that eviction and invalidation both happen constantly.

use std::collections::BTreeMap;

use natter_sublist::{subject, Matches, Sublist};
use proptest::prelude::*;

const TOKENS: [&str; 6] = ["a", "b", "c", "d", "*", ">"];
const LITERALS: [&str; 4] = ["a", "b", "c", "d"];

/// A naive matcher written without the crate's subject code.
fn naive_match(pattern: &str, subject: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let s: Vec<&str> = subject.split('.').collect();
    for (i, tok) in p.iter().enumerate() {
        if *tok == ">" {
            return s.len() > i;
        }
        match s.get(i) {
            Some(st) if *tok == "*" || tok == st => {}
            _ => return false,
        }
    }
    p.len() == s.len()
}

fn pattern() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&TOKENS[..]), 1..5).prop_map(|toks| {
        // Keep `>` valid by cutting the pattern after the first one.
        let end = toks
            .iter()
            .position(|t| *t == ">")
            .map_or(toks.len(), |i| i + 1);
        toks[..end].join(".")
    })
}

fn literal() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&LITERALS[..]), 1..5).prop_map(|t| t.join("."))
}

fn queue() -> impl Strategy<Value = Option<&'static str>> {
    prop::sample::select(&[None, None, Some("q1"), Some("q2")][..])
}

#[derive(Clone, Debug)]
enum Op {
    Insert(String, Option<&'static str>, u8),
    Remove(String, Option<&'static str>, u8),
    RemoveNth(usize),
    Match(String),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (pattern(), queue(), 0u8..6).prop_map(|(s, q, v)| Op::Insert(s, q, v)),
        1 => (pattern(), queue(), 0u8..6).prop_map(|(s, q, v)| Op::Remove(s, q, v)),
        2 => any::<usize>().prop_map(Op::RemoveNth),
        4 => literal().prop_map(Op::Match),
    ]
}

type Key = (String, Option<&'static str>, u8);
type Normal = (Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>);

fn normalize(m: &Matches<u8>) -> Normal {
    let mut plain = m.plain.clone();
    plain.sort_unstable();
    let mut queues = BTreeMap::new();
    for q in &m.queues {
        assert!(!q.members.is_empty(), "empty queue group in a result");
        let mut members = q.members.clone();
        members.sort_unstable();
        assert!(
            queues.insert(q.name.to_vec(), members).is_none(),
            "queue group listed twice"
        );
    }
    (plain, queues)
}

fn expected(model: &[Key], subject: &str) -> Normal {
    let mut plain = Vec::new();
    let mut queues: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for (_, q, v) in model.iter().filter(|(p, _, _)| naive_match(p, subject)) {
        match q {
            None => plain.push(*v),
            Some(q) => queues.entry(q.as_bytes().to_vec()).or_default().push(*v),
        }
    }
    plain.sort_unstable();
    queues.values_mut().for_each(|m| m.sort_unstable());
    (plain, queues)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn interleaved_ops_match_the_naive_model(
        capacity in prop::sample::select(&[0usize, 1, 3, 8, 1024][..]),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let list = Sublist::with_cache_capacity(capacity);
        let mut model: Vec<Key> = Vec::new();
        for op in ops {
            match op {
                Op::Insert(s, q, v) => {
                    let before = list.generation();
                    list.insert(s.as_bytes(), q.map(str::as_bytes), v).unwrap();
                    let key = (s, q, v);
                    if model.contains(&key) {
                        prop_assert_eq!(list.generation(), before);
                    } else {
                        prop_assert!(list.generation() > before);
                        model.push(key);
                    }
                }
                Op::Remove(s, q, v) => {
                    let key = (s, q, v);
                    let present = model.contains(&key);
                    let removed = list.remove(key.0.as_bytes(), q.map(str::as_bytes), &v).unwrap();
                    prop_assert_eq!(removed, present);
                    model.retain(|k| k != &key);
                }
                Op::RemoveNth(i) => {
                    if !model.is_empty() {
                        let (s, q, v) = model.swap_remove(i % model.len());
                        prop_assert!(list.remove(s.as_bytes(), q.map(str::as_bytes), &v).unwrap());
                    }
                }
                Op::Match(s) => {
                    let want = expected(&model, &s);
                    prop_assert_eq!(normalize(&list.matches(s.as_bytes())), want.clone(), "subject {}", s);
                    let interest = !want.0.is_empty() || !want.1.is_empty();
                    prop_assert_eq!(list.has_interest(s.as_bytes()), interest);
                }
            }
            prop_assert_eq!(list.len(), model.len());
            prop_assert!(list.cache_len() <= capacity);
        }
    }

    /// After any history, every literal over the alphabet (up to 3 tokens) matches as the
    /// model says, cached or not, which catches entries left stale by an earlier change.
    #[test]
    fn full_sweep_after_history_has_no_stale_entry(
        subs in prop::collection::vec((pattern(), queue(), 0u8..4), 0..40),
        removals in prop::collection::vec(any::<usize>(), 0..20),
        warm in prop::collection::vec(literal(), 0..30),
    ) {
        let list = Sublist::new();
        let mut model: Vec<Key> = Vec::new();
        for (i, (s, q, v)) in subs.into_iter().enumerate() {
            list.insert(s.as_bytes(), q.map(str::as_bytes), v).unwrap();
            let key = (s, q, v);
            if !model.contains(&key) {
                model.push(key);
            }
            // Warm the cache between inserts so later inserts must update entries.
            if let Some(w) = warm.get(i) {
                list.matches(w.as_bytes());
            }
        }
        for r in removals {
            if model.is_empty() {
                break;
            }
            let (s, q, v) = model.swap_remove(r % model.len());
            prop_assert!(list.remove(s.as_bytes(), q.map(str::as_bytes), &v).unwrap());
        }
        let mut literals = Vec::new();
        for a in LITERALS {
            literals.push(a.to_string());
            for b in LITERALS {
                literals.push(format!("{a}.{b}"));
                for c in LITERALS {
                    literals.push(format!("{a}.{b}.{c}"));
                }
            }
        }
        for s in &literals {
            prop_assert_eq!(normalize(&list.matches(s.as_bytes())), expected(&model, s), "subject {}", s);
        }
    }

    #[test]
    fn byte_driven_run_ops_never_disagrees(data in prop::collection::vec(any::<u8>(), 0..600)) {
        natter_sublist::fuzzing::run_ops(&data);
    }

    #[test]
    fn matches_pattern_agrees_with_naive(p in pattern(), s in literal()) {
        prop_assert_eq!(subject::matches_pattern(p.as_bytes(), s.as_bytes()), naive_match(&p, &s));
    }

    /// `is_subset(a, b)` holds exactly when every literal `a` matches is matched by `b`;
    /// checked by enumerating all literals up to five tokens over a small alphabet plus a
    /// token neither pattern names.
    #[test]
    fn is_subset_agrees_with_enumeration(a in pattern(), b in pattern()) {
        let alphabet = ["a", "b", "c", "d", "z"];
        let mut all = vec![String::new()];
        let mut literals = Vec::new();
        for _ in 0..5 {
            all = all
                .iter()
                .flat_map(|prefix| alphabet.iter().map(move |t| if prefix.is_empty() { t.to_string() } else { format!("{prefix}.{t}") }))
                .collect();
            literals.extend(all.iter().cloned());
        }
        // Patterns here have at most 4 tokens, so a `>` can always be tested one token
        // deeper than either pattern reaches.
        let enumerated = literals.iter().filter(|l| naive_match(&a, l)).all(|l| naive_match(&b, l));
        prop_assert_eq!(subject::is_subset(a.as_bytes(), b.as_bytes()), enumerated, "{} within {}", a, b);
    }
}

//! Behaviour of `Sublist` through its public API.

use std::sync::Arc;

use natter_sublist::{Sublist, SublistError};

fn sorted_plain<T: Clone + Ord>(m: &natter_sublist::Matches<T>) -> Vec<T> {
    let mut v = m.plain.clone();
    v.sort();
    v
}

#[test]
fn wildcards_and_literals_match_as_nats_does() {
    let s = Sublist::new();
    s.insert(b"foo.bar", None, 1).unwrap();
    s.insert(b"foo.*", None, 2).unwrap();
    s.insert(b"foo.>", None, 3).unwrap();
    s.insert(b">", None, 4).unwrap();
    s.insert(b"*.bar", None, 5).unwrap();
    s.insert(b"foo", None, 6).unwrap();
    assert_eq!(sorted_plain(&s.matches(b"foo.bar")), [1, 2, 3, 4, 5]);
    assert_eq!(sorted_plain(&s.matches(b"foo.baz")), [2, 3, 4]);
    assert_eq!(sorted_plain(&s.matches(b"foo.bar.baz")), [3, 4]);
    assert_eq!(sorted_plain(&s.matches(b"foo")), [4, 6]);
    assert_eq!(sorted_plain(&s.matches(b"x.bar")), [4, 5]);
    assert_eq!(s.len(), 6);
}

#[test]
fn queue_members_are_grouped_by_name_across_patterns() {
    let s = Sublist::new();
    s.insert(b"orders.*", Some(b"workers"), "w1").unwrap();
    s.insert(b"orders.>", Some(b"workers"), "w2").unwrap();
    s.insert(b"orders.new", Some(b"audit"), "a1").unwrap();
    s.insert(b"orders.new", None, "plain").unwrap();
    let m = s.matches(b"orders.new");
    assert_eq!(m.plain, ["plain"]);
    assert_eq!(m.queues.len(), 2);
    let mut workers = m
        .queue(b"workers")
        .expect("workers matched")
        .members
        .clone();
    workers.sort();
    assert_eq!(workers, ["w1", "w2"]);
    assert_eq!(m.queue(b"audit").expect("audit matched").members, ["a1"]);
    assert_eq!(m.len(), 4);
    let deep = s.matches(b"orders.new.eu");
    assert!(deep.plain.is_empty());
    assert_eq!(deep.queues.len(), 1);
    assert_eq!(deep.queues[0].members, ["w2"]);
}

#[test]
fn same_value_on_two_patterns_is_two_subscriptions() {
    let s = Sublist::new();
    s.insert(b"a.*", None, 7).unwrap();
    s.insert(b"a.>", None, 7).unwrap();
    assert_eq!(s.matches(b"a.b").plain, [7, 7]);
    assert!(s.remove(b"a.*", None, &7).unwrap());
    assert_eq!(s.matches(b"a.b").plain, [7]);
}

#[test]
fn duplicate_insert_is_a_no_op_and_remove_reports_absence() {
    let s = Sublist::new();
    s.insert(b"a", None, 1).unwrap();
    let g = s.generation();
    s.insert(b"a", None, 1).unwrap();
    assert_eq!(s.generation(), g, "nothing changed");
    assert_eq!(s.len(), 1);
    assert_eq!(s.remove(b"a", Some(b"q"), &1), Ok(false), "queue differs");
    assert_eq!(s.remove(b"a", None, &2), Ok(false), "value differs");
    assert_eq!(s.remove(b"a.b", None, &1), Ok(false), "subject differs");
    assert_eq!(s.remove(b"a", None, &1), Ok(true));
    assert_eq!(s.remove(b"a", None, &1), Ok(false));
    assert!(s.is_empty());
    assert!(s.generation() > g);
}

#[test]
fn invalid_input_is_refused_without_change() {
    let s: Sublist<u32> = Sublist::new();
    for bad in [&b""[..], b"foo.", b"foo..bar", b"foo.>.bar", b"foo bar"] {
        assert_eq!(s.insert(bad, None, 1), Err(SublistError::InvalidSubject));
        assert_eq!(s.remove(bad, None, &1), Err(SublistError::InvalidSubject));
    }
    assert_eq!(
        s.insert(b"foo", Some(b""), 1),
        Err(SublistError::InvalidQueue)
    );
    assert_eq!(
        s.insert(b"foo", Some(b"a b"), 1),
        Err(SublistError::InvalidQueue)
    );
    assert_eq!(s.generation(), 0);
    assert!(s.is_empty());
    assert_eq!(SublistError::InvalidSubject.to_string(), "invalid subject");
}

#[test]
fn unroutable_subjects_match_nothing_and_are_not_cached() {
    let s = Sublist::new();
    s.insert(b">", None, 1).unwrap();
    for bad in [&b""[..], b"a..b", b".a", b"a.", b"a b", b"a\tb"] {
        assert!(
            s.matches(bad).is_empty(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
        assert!(!s.has_interest(bad));
    }
    assert_eq!(s.cache_len(), 0);
}

/// nats-server (2.9.10 seen on the wire) delivers a non-pedantic publish on `foo.*` to
/// subscriptions on `foo.*` and `>`: the wildcard token of a published subject is an
/// ordinary token that only wildcard subscriptions match.
#[test]
fn wildcard_tokens_in_a_published_subject_stand_for_themselves() {
    let s = Sublist::new();
    s.insert(b"foo.bar", None, 1).unwrap();
    s.insert(b"foo.*", None, 2).unwrap();
    s.insert(b">", None, 3).unwrap();
    s.insert(b"foo.>", None, 4).unwrap();
    s.insert(b"*.*.baz", None, 5).unwrap();
    assert_eq!(sorted_plain(&s.matches(b"foo.*")), vec![2, 3, 4]);
    assert_eq!(sorted_plain(&s.matches(b"foo.>")), vec![2, 3, 4]);
    assert_eq!(sorted_plain(&s.matches(b"foo.>.baz")), vec![3, 4, 5]);
    assert!(s.has_interest(b"foo.*"));
    // The cached wildcard-token subject is kept exact through later changes.
    s.insert(b"foo.baz", None, 6).unwrap();
    s.insert(b"*.*", None, 7).unwrap();
    assert_eq!(sorted_plain(&s.matches(b"foo.*")), vec![2, 3, 4, 7]);
    s.remove(b"foo.*", None, &2).unwrap();
    assert_eq!(sorted_plain(&s.matches(b"foo.*")), vec![3, 4, 7]);
}

#[test]
fn cache_hit_returns_the_same_shared_result() {
    let s = Sublist::new();
    s.insert(b"a.b", None, 1).unwrap();
    let first = s.matches(b"a.b");
    let second = s.matches(b"a.b");
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(s.cache_len(), 1);
}

#[test]
fn inserts_and_removes_update_exactly_the_cached_subjects_they_match() {
    let s = Sublist::new();
    s.insert(b"a.b", None, 1).unwrap();
    let ab = s.matches(b"a.b");
    let ac = s.matches(b"a.c");
    let bb = s.matches(b"b.b");
    assert_eq!(s.cache_len(), 3);

    s.insert(b"a.*", None, 2).unwrap();
    assert_eq!(sorted_plain(&s.matches(b"a.b")), [1, 2]);
    assert_eq!(sorted_plain(&s.matches(b"a.c")), [2]);
    // An entry the pattern does not match keeps its very allocation.
    assert!(Arc::ptr_eq(&bb, &s.matches(b"b.b")));
    // The results handed out earlier are snapshots and do not change.
    assert_eq!(ab.plain, [1]);
    assert!(ac.is_empty());

    s.remove(b"a.b", None, &1).unwrap();
    assert_eq!(s.matches(b"a.b").plain, [2]);
    s.remove(b"a.*", None, &2).unwrap();
    assert!(s.matches(b"a.b").is_empty());
    assert!(s.matches(b"a.c").is_empty());
    assert!(!s.has_interest(b"a.b"));
    assert_eq!(s.cache_len(), 3, "updated in place, not dropped");
}

#[test]
fn cache_stays_within_capacity() {
    let s = Sublist::with_cache_capacity(100);
    s.insert(b">", None, 0u32).unwrap();
    for i in 0..5_000 {
        let subject = format!("s.{i}");
        assert_eq!(s.matches(subject.as_bytes()).plain, [0]);
        assert!(s.cache_len() <= 100);
    }
    assert!(s.cache_len() > 0);
    assert_eq!(s.cache_capacity(), 100);
    assert_eq!(
        Sublist::<u32>::new().cache_capacity(),
        natter_sublist::DEFAULT_CACHE_CAPACITY
    );
}

#[test]
fn zero_capacity_disables_the_cache() {
    let s = Sublist::with_cache_capacity(0);
    s.insert(b"a.*", None, 1).unwrap();
    assert_eq!(s.matches(b"a.b").plain, [1]);
    assert_eq!(s.cache_len(), 0);
    s.insert(b"a.b", None, 2).unwrap();
    assert_eq!(sorted_plain(&s.matches(b"a.b")), [1, 2]);
}

#[test]
fn has_interest_follows_inserts_and_removes() {
    let s = Sublist::new();
    assert!(!s.has_interest(b"a.b.c"));
    s.insert(b"a.*.c", Some(b"q"), 1).unwrap();
    assert!(s.has_interest(b"a.b.c"));
    assert!(!s.has_interest(b"a.b"));
    assert!(!s.has_interest(b"a.b.c.d"));
    s.matches(b"a.b.c");
    s.remove(b"a.*.c", Some(b"q"), &1).unwrap();
    assert!(!s.has_interest(b"a.b.c"), "cached answer updated");
    s.insert(b"a.>", None, 2).unwrap();
    assert!(s.has_interest(b"a.b.c.d"));
    assert!(!s.has_interest(b"a"));
}

#[test]
fn removing_prunes_so_remaining_subscriptions_still_match() {
    let s = Sublist::with_cache_capacity(0);
    s.insert(b"a.b.c.d", None, 1).unwrap();
    s.insert(b"a.b", None, 2).unwrap();
    s.insert(b"a.*.c", None, 3).unwrap();
    assert!(s.remove(b"a.b.c.d", None, &1).unwrap());
    assert_eq!(s.matches(b"a.b").plain, [2]);
    assert_eq!(s.matches(b"a.b.c").plain, [3]);
    assert!(s.matches(b"a.b.c.d").is_empty());
    assert!(s.remove(b"a.b", None, &2).unwrap());
    assert!(s.remove(b"a.*.c", None, &3).unwrap());
    let mut seen = 0;
    s.for_each(|_, _, _| seen += 1);
    assert_eq!(seen, 0);
    s.insert(b"a.b.c.d", None, 1).unwrap();
    assert_eq!(s.matches(b"a.b.c.d").plain, [1]);
}

#[test]
fn for_each_lists_every_subscription_and_allows_reentry() {
    let s = Sublist::new();
    s.insert(b"a.*", None, 1).unwrap();
    s.insert(b"a.>", Some(b"q"), 2).unwrap();
    s.insert(b"b", None, 3).unwrap();
    s.insert(b"a", None, 4).unwrap();
    let mut seen = Vec::new();
    s.for_each(|subject, queue, v| {
        // Calling back into the sublist from the visitor must not deadlock.
        assert!(s.len() >= 4);
        seen.push((subject.to_vec(), queue.map(<[u8]>::to_vec), *v));
    });
    seen.sort();
    let want = vec![
        (b"a".to_vec(), None, 4),
        (b"a.*".to_vec(), None, 1),
        (b"a.>".to_vec(), Some(b"q".to_vec()), 2),
        (b"b".to_vec(), None, 3),
    ];
    assert_eq!(seen, want);
}

#[test]
fn deep_subjects_do_not_overflow_the_stack() {
    // About what a 4 KiB control line can carry.
    let deep: Vec<u8> = std::iter::repeat_n(&b"a."[..], 2000)
        .flatten()
        .copied()
        .chain(*b"z")
        .collect();
    let deep_wild: Vec<u8> = std::iter::repeat_n(&b"*."[..], 2000)
        .flatten()
        .copied()
        .chain(*b"z")
        .collect();
    let s = Sublist::new();
    s.insert(&deep, None, 1).unwrap();
    s.insert(&deep_wild, None, 2).unwrap();
    let mut got = s.matches(&deep).plain.clone();
    got.sort();
    assert_eq!(got, [1, 2]);
    assert!(s.remove(&deep, None, &1).unwrap());
    assert!(s.remove(&deep_wild, None, &2).unwrap());
    assert!(s.is_empty());
}

#[test]
fn sublist_is_send_sync_and_debug() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sublist<Arc<str>>>();
    let s: Sublist<u8> = Sublist::default();
    let text = format!("{s:?}");
    assert!(text.contains("len: 0"), "{text}");
}

#[test]
fn long_subjects_and_long_tokens_match_like_the_reference() {
    // Subjects around sixteen tokens, where the walk stops using tokens prepared up front
    // and prepares the rest as it goes; tokens longer than a trie key keeps inline; and
    // tokens that differ only by a trailing NUL byte.
    let long = "t".repeat(30);
    let long2 = format!("{}u", "t".repeat(29));
    let words = ["a", "b", long.as_str(), long2.as_str(), "a\0"];
    let subject_of = |len: usize, seed: usize| -> String {
        (0..len)
            .map(|i| words[(seed >> (i % 8)).wrapping_add(i) % words.len()])
            .collect::<Vec<_>>()
            .join(".")
    };
    let mut subjects = Vec::new();
    for len in 13..=19 {
        for seed in 0..12 {
            subjects.push(subject_of(len, seed));
        }
    }
    let mut patterns = Vec::new();
    for s in &subjects {
        let tokens: Vec<&str> = s.split('.').collect();
        patterns.push(s.clone());
        for at in [0, 7, 14, 15, 16, 17] {
            if at < tokens.len() {
                let mut single = tokens.clone();
                single[at] = "*";
                patterns.push(single.join("."));
                let mut full = tokens[..=at].to_vec();
                full[at] = ">";
                patterns.push(full.join("."));
            }
        }
    }
    patterns.sort();
    patterns.dedup();
    let list = Sublist::new();
    for (i, p) in patterns.iter().enumerate() {
        let queue = (i % 3 == 0).then_some(b"q".as_slice());
        list.insert(p.as_bytes(), queue, i).unwrap();
    }
    for s in &subjects {
        let mut want: Vec<usize> = patterns
            .iter()
            .enumerate()
            .filter(|(_, p)| natter_sublist::subject::matches_pattern(p.as_bytes(), s.as_bytes()))
            .map(|(i, _)| i)
            .collect();
        want.sort();
        for _ in 0..2 {
            let m = list.matches(s.as_bytes());
            let mut got: Vec<usize> = m
                .plain
                .iter()
                .chain(m.queues.iter().flat_map(|q| q.members.iter()))
                .copied()
                .collect();
            got.sort();
            assert_eq!(got, want, "{s:?}");
            assert_eq!(list.has_interest(s.as_bytes()), !want.is_empty());
        }
    }
    // A subject nobody subscribed to, one token short of a subscribed one.
    let short = subject_of(16, 3);
    let shorter = &short[..short.rfind('.').unwrap()];
    let expected = patterns
        .iter()
        .any(|p| natter_sublist::subject::matches_pattern(p.as_bytes(), shorter.as_bytes()));
    assert_eq!(list.has_interest(shorter.as_bytes()), expected);
}

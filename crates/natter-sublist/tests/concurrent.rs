//! Matching from several threads while another inserts and removes: every result must
//! reflect every change that completed before the match began, whatever the cache held.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use natter_sublist::{subject, Sublist};

const PATTERNS: [&str; 5] = ["a.b", "a.*", "*.b", ">", "a.>"];
const SUBJECTS: [&str; 5] = ["a.b", "a.c", "x.b", "a.b.c", "y.z"];
const N: u32 = 600;

fn pattern_of(v: u32) -> &'static str {
    PATTERNS[v as usize % PATTERNS.len()]
}

fn queue_of(v: u32) -> Option<&'static [u8]> {
    (v % 7 == 0).then_some(b"q".as_slice())
}

fn all_values(m: &natter_sublist::Matches<u32>) -> Vec<u32> {
    m.plain
        .iter()
        .chain(m.queues.iter().flat_map(|q| q.members.iter()))
        .copied()
        .collect()
}

fn run(capacity: usize) {
    let list = Arc::new(Sublist::with_cache_capacity(capacity));
    // Values below `inserted` are in the sublist; values below `removed` are gone again.
    let inserted = AtomicU32::new(0);
    let removed = AtomicU32::new(0);
    let done = AtomicBool::new(false);
    let start = Barrier::new(3);

    thread::scope(|scope| {
        for reader in 0..2 {
            let list = &list;
            let (inserted, removed, done, start) = (&inserted, &removed, &done, &start);
            scope.spawn(move || {
                start.wait();
                let mut checks = 0u64;
                let mut i = reader;
                while !done.load(Ordering::Acquire) || checks < 1_000 {
                    let subject = SUBJECTS[i % SUBJECTS.len()];
                    i += 1;
                    let lo = removed.load(Ordering::Acquire);
                    let hi = inserted.load(Ordering::Acquire);
                    let got = all_values(&list.matches(subject.as_bytes()));
                    let interest = list.has_interest(subject.as_bytes());
                    let set: HashSet<u32> = got.iter().copied().collect();
                    assert_eq!(set.len(), got.len(), "duplicate in {subject}: {got:?}");
                    for &v in &got {
                        assert!(
                            subject::matches_pattern(pattern_of(v).as_bytes(), subject.as_bytes()),
                            "{v} on {subject}"
                        );
                        assert!(v >= lo, "{v} was removed before matching {subject} began");
                    }
                    // A value whose removal finished or began while the call ran may or
                    // may not be present; the single writer has at most one removal in
                    // flight, the value `removed` names, so those above it were there
                    // throughout.
                    let still = removed.load(Ordering::Acquire) + 1;
                    let matching: Vec<bool> = PATTERNS
                        .iter()
                        .map(|p| subject::matches_pattern(p.as_bytes(), subject.as_bytes()))
                        .collect();
                    let expected = |v: &u32| matching[*v as usize % PATTERNS.len()];
                    for v in (still..hi).filter(expected) {
                        assert!(
                            set.contains(&v),
                            "{v} inserted before matching {subject} began, missing"
                        );
                    }
                    if (still..hi).any(|v| expected(&v)) {
                        assert!(interest, "interest in {subject} lost");
                    }
                    checks += 1;
                }
                checks
            });
        }

        let list = &list;
        start.wait();
        for v in 0..N {
            list.insert(pattern_of(v).as_bytes(), queue_of(v), v)
                .unwrap();
            inserted.store(v + 1, Ordering::Release);
            // Give the readers a turn on this two-core machine, so matches really
            // interleave with the inserts instead of starting after them.
            if v % 32 == 0 {
                thread::yield_now();
            }
        }
        for v in 0..N {
            assert!(list
                .remove(pattern_of(v).as_bytes(), queue_of(v), &v)
                .unwrap());
            removed.store(v + 1, Ordering::Release);
            if v % 32 == 0 {
                thread::yield_now();
            }
        }
        done.store(true, Ordering::Release);
    });

    assert!(list.is_empty());
    for s in SUBJECTS {
        assert!(list.matches(s.as_bytes()).is_empty());
    }
}

#[test]
fn readers_never_see_stale_results_with_the_default_cache() {
    run(1024);
}

#[test]
fn readers_never_see_stale_results_while_the_cache_evicts() {
    run(2);
}

#[test]
fn readers_never_see_stale_results_without_a_cache() {
    run(0);
}

#[test]
fn many_threads_match_and_subscribe_at_once() {
    let list: Arc<Sublist<(usize, u32)>> = Arc::new(Sublist::new());
    thread::scope(|scope| {
        for t in 0..4 {
            let list = &list;
            scope.spawn(move || {
                let own = format!("t{t}.>");
                for i in 0..500u32 {
                    list.insert(own.as_bytes(), None, (t, i)).unwrap();
                    let subject = format!("t{t}.{}", i % 20);
                    let m = list.matches(subject.as_bytes());
                    // Other threads only touch other prefixes, so this thread's view of
                    // its own prefix is exact.
                    assert_eq!(
                        m.plain.len(),
                        i as usize + 1,
                        "thread {t} after {i} inserts"
                    );
                    assert!(m.plain.iter().all(|(owner, _)| *owner == t));
                }
            });
        }
    });
    assert_eq!(list.len(), 2_000);
}

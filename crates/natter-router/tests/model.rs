//! Random sequences of subscribe / unsubscribe / publish / close on socket sessions,
//! checked against a naive model of nats-server's delivery rules.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::*;
use natter_router::{Client, CloseReason, Router};
use natter_sublist::subject::matches_pattern;
use proptest::prelude::*;

const PATTERNS: &[&str] = &["a", "a.b", "a.*", "a.>", "*.b", ">", "b"];
const SUBJECTS: &[&str] = &["a", "a.b", "a.c", "b", "b.b"];
const QUEUES: &[Option<&str>] = &[None, None, Some("q1"), Some("q2")];
const CLIENTS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Sub {
        c: usize,
        sid: u8,
        pat: usize,
        q: usize,
    },
    Unsub {
        c: usize,
        sid: u8,
        max: Option<u64>,
    },
    Pub {
        c: usize,
        subj: usize,
    },
    Reconnect {
        c: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..CLIENTS, 0..5u8, 0..PATTERNS.len(), 0..QUEUES.len())
            .prop_map(|(c, sid, pat, q)| Op::Sub { c, sid, pat, q }),
        1 => (0..CLIENTS, 0..5u8, proptest::option::of(0..4u64))
            .prop_map(|(c, sid, max)| Op::Unsub { c, sid, max }),
        4 => (0..CLIENTS, 0..SUBJECTS.len()).prop_map(|(c, subj)| Op::Pub { c, subj }),
        1 => (0..CLIENTS).prop_map(|c| Op::Reconnect { c }),
    ]
}

#[derive(Debug, Clone)]
struct ModelSub {
    pattern: &'static str,
    queue: Option<&'static str>,
    delivered: u64,
    max: u64,
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let r = Router::default();
    let mut clients: Vec<Arc<Client>> = (0..CLIENTS).map(|_| socket(&r, |_| {})).collect();
    let mut model: Vec<BTreeMap<String, ModelSub>> = vec![BTreeMap::new(); CLIENTS];

    for op in ops {
        match op {
            Op::Sub { c, sid, pat, q } => {
                let sid = sid.to_string();
                clients[c]
                    .subscribe(b(&sid), b(PATTERNS[pat]), QUEUES[q].map(b))
                    .unwrap();
                model[c].entry(sid).or_insert(ModelSub {
                    pattern: PATTERNS[pat],
                    queue: QUEUES[q],
                    delivered: 0,
                    max: 0,
                });
            }
            Op::Unsub { c, sid, max } => {
                let sid = sid.to_string();
                clients[c].unsubscribe(sid.as_bytes(), max).unwrap();
                if let Some(s) = model[c].get_mut(&sid) {
                    match max {
                        Some(m) if m > 0 && m > s.delivered => s.max = m,
                        _ => {
                            model[c].remove(&sid);
                        }
                    }
                }
            }
            Op::Reconnect { c } => {
                clients[c].close(CloseReason::ClientClosed);
                clients[c] = socket(&r, |_| {});
                model[c].clear();
            }
            Op::Pub { c, subj } => {
                let subject = SUBJECTS[subj];
                publish(&clients[c], subject, "m");
                let got: Vec<BTreeSet<String>> = clients
                    .iter()
                    .map(|cl| {
                        msg_lines(&drain(cl))
                            .iter()
                            .map(|l| l.split(' ').nth(2).unwrap().to_string())
                            .collect()
                    })
                    .collect();
                // Plain subscriptions: exactly the matching ones.
                let mut groups: BTreeMap<&str, Vec<(usize, String)>> = BTreeMap::new();
                for (ci, subs) in model.iter().enumerate() {
                    for (sid, s) in subs {
                        if !matches_pattern(s.pattern.as_bytes(), subject.as_bytes()) {
                            continue;
                        }
                        match s.queue {
                            None => prop_assert!(
                                got[ci].contains(sid),
                                "client {ci} sid {sid} missed {subject}"
                            ),
                            Some(q) => groups.entry(q).or_default().push((ci, sid.clone())),
                        }
                    }
                }
                let mut expected_total: usize = model
                    .iter()
                    .flat_map(|m| m.values())
                    .filter(|s| {
                        s.queue.is_none()
                            && matches_pattern(s.pattern.as_bytes(), subject.as_bytes())
                    })
                    .count();
                // Queue groups: exactly one member each.
                for members in groups.values() {
                    let hits = members
                        .iter()
                        .filter(|(ci, sid)| got[*ci].contains(sid))
                        .count();
                    prop_assert_eq!(hits, 1, "queue group got {} copies", hits);
                    expected_total += 1;
                }
                let total: usize = got.iter().map(|g| g.len()).sum();
                prop_assert_eq!(total, expected_total);
                // Count deliveries and apply auto-unsubscribe in the model.
                for (ci, sids) in got.iter().enumerate() {
                    for sid in sids {
                        let s = model[ci].get_mut(sid).unwrap();
                        s.delivered += 1;
                        if s.max > 0 && s.delivered >= s.max {
                            model[ci].remove(sid);
                        }
                    }
                }
            }
        }
        for (ci, cl) in clients.iter().enumerate() {
            prop_assert_eq!(cl.subscription_count(), model[ci].len());
        }
        let held: usize = model.iter().map(|m| m.len()).sum();
        prop_assert_eq!(r.global_account().subscription_count(), held);
        prop_assert_eq!(r.stats().subscriptions, held as u64);
    }
    Ok(())
}

proptest! {
    #[test]
    fn router_matches_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}

//! The socket read path: publishing through a session's `Ingest`, its counts, and what
//! counting under the subscriber's outbound lock must keep exact.

mod common;

use std::sync::Arc;
use std::thread;

use common::*;
use natter_proto::PubRef;
use natter_router::{LocalOptions, Router};

fn pub_ref<'a>(subject: &'a str, payload: &'a str) -> PubRef<'a> {
    PubRef {
        subject: subject.as_bytes(),
        reply: None,
        headers: None,
        payload: payload.as_bytes(),
    }
}

#[test]
fn counts_reach_the_session_at_settle_and_on_drop_even_after_close() {
    let r = Router::default();
    let s = socket(&r, |_| {});
    sub(&s, "1", "x");
    let p = socket(&r, |_| {});
    let mut ingest = p.ingest();
    ingest.publish(pub_ref("x", "hello")).unwrap();
    // Delivered at once, counted in the session only when settled.
    assert_eq!(msg_lines(&drain(&s)), ["MSG x 1 5"]);
    assert_eq!(p.stats().in_msgs, 0);
    ingest.settle();
    assert_eq!((p.stats().in_msgs, p.stats().in_bytes), (1, 5));

    ingest.publish(pub_ref("x", "abc")).unwrap();
    p.close(natter_router::CloseReason::ClientClosed);
    drop(p);
    // The ingest keeps its session: the last count lands before its totals retire.
    drop(ingest);
    let totals = r.stats();
    assert_eq!((totals.in_msgs, totals.in_bytes), (2, 8));
    assert_eq!(totals.out_msgs, 2);
}

#[test]
fn an_in_process_session_with_a_wire_subscription_loses_no_out_count() {
    let r = Arc::new(Router::default());
    let local = r.connect(LocalOptions::default());
    let _channel = local.subscribe("x").unwrap();
    sub(local.client(), "w", "x");
    const PER_THREAD: usize = 20_000;
    let publishers: Vec<_> = (0..2)
        .map(|_| {
            let p = socket(&r, |_| {});
            let local = local.client().clone();
            thread::spawn(move || {
                let mut ingest = p.ingest();
                for i in 0..PER_THREAD {
                    ingest.publish(pub_ref("x", "m")).unwrap();
                    if i % 256 == 0 {
                        // Keep the wire subscription's pending bytes low.
                        drain(&local);
                    }
                }
            })
        })
        .collect();
    for t in publishers {
        t.join().unwrap();
    }
    // Each message went to both subscriptions of the one session.
    assert_eq!(local.client().stats().out_msgs, 2 * 2 * PER_THREAD as u64);
}

/// Starts `n` publisher threads, each publishing `each` messages on `x` through its own
/// session's `Ingest`.
fn publishers(r: &Router, n: usize, each: usize) -> Vec<thread::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let p = socket(r, |_| {});
            thread::spawn(move || {
                let mut ingest = p.ingest();
                for _ in 0..each {
                    ingest.publish(pub_ref("x", "m")).unwrap();
                }
            })
        })
        .collect()
}

#[test]
fn unsub_max_holds_exactly_against_concurrent_publishers() {
    for round in 0..20 {
        let r = Router::default();
        let s = socket(&r, |_| {});
        sub(&s, "1", "x");
        s.unsubscribe(b"1", Some(500)).unwrap();
        let mut seen = 0;
        let threads = publishers(&r, 3, 2_000);
        while threads.iter().any(|t| !t.is_finished()) {
            seen += msg_lines(&drain(&s)).len();
        }
        for t in threads {
            t.join().unwrap();
        }
        seen += msg_lines(&drain(&s)).len();
        assert_eq!(seen, 500, "round {round}");
        assert_eq!(r.global_account().subscription_count(), 0, "round {round}");
    }
}

#[test]
fn unsub_max_mid_stream_removes_the_subscription_once_used_up() {
    const TOTAL: usize = 3 * 2_000;
    for round in 0..20 {
        let r = Router::default();
        let s = socket(&r, |_| {});
        sub(&s, "1", "x");
        let threads = publishers(&r, 3, TOTAL / 3);
        let mut seen = 0;
        while seen < 50 {
            seen += msg_lines(&drain(&s)).len();
        }
        // Deliveries go on while the limit is set: the subscription may already have
        // had more than `max` by then (it is removed at once), never fewer in the end.
        let max = (seen + 25).min(TOTAL) as u64;
        s.unsubscribe(b"1", Some(max)).unwrap();
        for t in threads {
            t.join().unwrap();
        }
        seen += msg_lines(&drain(&s)).len();
        assert!(seen as u64 >= max, "round {round}: {seen} < {max}");
        assert_eq!(
            r.global_account().subscription_count(),
            0,
            "round {round}: the used-up subscription is still in place"
        );
    }
}

#[test]
fn settle_lets_go_of_sessions_that_closed_since_the_last_publish() {
    let r = Router::default();
    let s = socket(&r, |_| {});
    sub(&s, "1", "x");
    let p = socket(&r, |_| {});
    let mut ingest = p.ingest();
    ingest.publish(pub_ref("x", "m")).unwrap();
    let gone = Arc::downgrade(&s);
    s.close(natter_router::CloseReason::ClientClosed);
    drop(s);
    // The publisher is idle; its next read batch (a PING, say) settles.
    ingest.settle();
    assert!(
        gone.upgrade().is_none(),
        "the closed subscriber is still held by the publisher's match cache"
    );
}

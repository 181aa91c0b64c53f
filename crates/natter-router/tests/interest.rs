//! Interest change events: only when the subject+queue set of an account changes.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use natter_router::{CloseReason, InterestEvent, InterestKind, Router};

type Log = Arc<Mutex<Vec<(String, String, Option<String>, InterestKind)>>>;

fn record(r: &Router) -> Log {
    let log: Log = Arc::default();
    let l = log.clone();
    r.on_interest(move |e: &InterestEvent| {
        l.lock().unwrap().push((
            e.account.to_string(),
            String::from_utf8(e.subject.to_vec()).unwrap(),
            e.queue
                .as_ref()
                .map(|q| String::from_utf8(q.to_vec()).unwrap()),
            e.kind,
        ));
    });
    log
}

fn take(log: &Log) -> Vec<(String, String, Option<String>, InterestKind)> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn ev(
    subject: &str,
    queue: Option<&str>,
    kind: InterestKind,
) -> (String, String, Option<String>, InterestKind) {
    ("$G".into(), subject.into(), queue.map(Into::into), kind)
}

#[test]
fn events_only_on_first_and_last_subscription() {
    use InterestKind::{Added, Removed};
    let r = Router::default();
    let log = record(&r);
    let a = socket(&r, |_| {});
    let c = socket(&r, |_| {});

    sub(&a, "1", "foo");
    assert_eq!(take(&log), [ev("foo", None, Added)]);
    sub(&c, "1", "foo");
    assert_eq!(take(&log), []);
    qsub(&a, "2", "foo", "q1");
    assert_eq!(take(&log), [ev("foo", Some("q1"), Added)]);
    qsub(&c, "2", "foo", "q1");
    assert_eq!(take(&log), []);

    // Publishing never produces events.
    publish(&a, "foo", "x");
    assert_eq!(take(&log), []);

    c.unsubscribe(b"1", None).unwrap();
    assert_eq!(take(&log), []);
    a.unsubscribe(b"1", None).unwrap();
    assert_eq!(take(&log), [ev("foo", None, Removed)]);

    c.close(CloseReason::ClientClosed);
    assert_eq!(take(&log), []);
    a.close(CloseReason::ClientClosed);
    assert_eq!(take(&log), [ev("foo", Some("q1"), Removed)]);
    assert!(r.global_account().interest().is_empty());
}

#[test]
fn auto_unsubscribe_and_close_emit_removals() {
    use InterestKind::{Added, Removed};
    let r = Router::default();
    let log = record(&r);
    let a = socket(&r, |_| {});
    sub(&a, "1", "once");
    a.unsubscribe(b"1", Some(1)).unwrap();
    publish(&a, "once", "x");
    assert_eq!(
        take(&log),
        [ev("once", None, Added), ev("once", None, Removed)]
    );

    sub(&a, "2", "x.>");
    sub(&a, "3", "y");
    take(&log);
    a.close(CloseReason::ClientClosed);
    let mut got = take(&log);
    got.sort();
    assert_eq!(got, [ev("x.>", None, Removed), ev("y", None, Removed)]);
}

#[test]
fn events_carry_the_account_and_the_interest_table_counts() {
    let r = Router::default();
    let log = record(&r);
    let acc = r.account("ORDERS");
    let a = r.register(&acc, Default::default());
    let c = r.register(&acc, Default::default());
    qsub(&a, "1", "new", "w");
    qsub(&c, "1", "new", "w");
    let got = take(&log);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "ORDERS");
    let table = acc.interest();
    assert_eq!(table.len(), 1);
    assert_eq!(table[0].count, 2);
    assert_eq!(table[0].queue.as_deref(), Some(&b"w"[..]));
    assert!(r.global_account().interest().is_empty());
}

#[test]
fn a_failed_subscribe_emits_nothing() {
    let r = Router::default();
    let log = record(&r);
    let a = socket(&r, |_| {});
    assert!(a.subscribe(b("1"), b("bad..subject"), None).is_err());
    sub(&a, "2", "ok");
    sub(&a, "2", "ok");
    assert_eq!(take(&log), [ev("ok", None, InterestKind::Added)]);
}

//! Publish -> match -> deliver for socket sessions, asserted on the exact outbound bytes.

mod common;

use common::*;
use natter_router::{CloseReason, Router, RouterError, RouterOptions};

#[test]
fn plain_delivery_encodes_a_msg_frame() {
    let r = Router::default();
    let sub_c = socket(&r, |_| {});
    let pub_c = socket(&r, |_| {});
    sub(&sub_c, "1", "foo");
    publish(&pub_c, "foo", "hello");
    assert_eq!(drain(&sub_c), "MSG foo 1 5\r\nhello\r\n");
    assert_eq!(drain(&pub_c), "");
}

#[test]
fn reply_subject_is_passed_through() {
    let r = Router::default();
    let s = socket(&r, |_| {});
    sub(&s, "7", "svc");
    s.publish(&b("svc"), Some(&b("_INBOX.a.1")), None, &b("hi"))
        .unwrap();
    assert_eq!(drain(&s), "MSG svc 7 _INBOX.a.1 2\r\nhi\r\n");
}

#[test]
fn wildcards_match_as_nats_does() {
    let r = Router::default();
    let s = socket(&r, |_| {});
    sub(&s, "1", "foo.*");
    sub(&s, "2", "foo.>");
    sub(&s, "3", "foo.bar");
    sub(&s, "4", "bar");
    sub(&s, "5", "*.bar");

    publish(&s, "foo.bar", "x");
    assert_eq!(
        msg_lines(&drain(&s)),
        [
            "MSG foo.bar 1 1",
            "MSG foo.bar 2 1",
            "MSG foo.bar 3 1",
            "MSG foo.bar 5 1"
        ]
    );
    publish(&s, "foo.bar.baz", "x");
    assert_eq!(drain(&s), "MSG foo.bar.baz 2 1\r\nx\r\n");
    publish(&s, "foo", "x");
    assert_eq!(drain(&s), "");
    publish(&s, "bar", "");
    assert_eq!(drain(&s), "MSG bar 4 0\r\n\r\n");
}

#[test]
fn queue_group_gets_each_message_exactly_once_and_all_members_share() {
    let r = Router::default();
    let members: Vec<_> = (0..3).map(|_| socket(&r, |_| {})).collect();
    for m in &members {
        qsub(m, "1", "work", "q");
    }
    let plain = socket(&r, |_| {});
    sub(&plain, "9", "work");
    let p = socket(&r, |_| {});

    let mut counts = [0usize; 3];
    for i in 0..1000 {
        publish(&p, "work", &i.to_string());
        let got: Vec<usize> = members
            .iter()
            .enumerate()
            .filter_map(|(k, m)| (!drain(m).is_empty()).then_some(k))
            .collect();
        assert_eq!(got.len(), 1, "message {i} reached {got:?}");
        counts[got[0]] += 1;
    }
    assert_eq!(msg_lines(&drain(&plain)).len(), 1000);
    // Uniform choice gives ~333 each; 200 is far outside any plausible random spread.
    for c in counts {
        assert!(c >= 200, "unfair spread {counts:?}");
    }
}

#[test]
fn two_queue_groups_each_get_one_copy() {
    let r = Router::default();
    let a: Vec<_> = (0..2).map(|_| socket(&r, |_| {})).collect();
    let bq: Vec<_> = (0..2).map(|_| socket(&r, |_| {})).collect();
    for c in &a {
        qsub(c, "1", "orders.*", "A");
    }
    for c in &bq {
        qsub(c, "1", "orders.>", "B");
    }
    let p = socket(&r, |_| {});
    for _ in 0..50 {
        publish(&p, "orders.new", "o");
    }
    let total_a: usize = a.iter().map(|c| msg_lines(&drain(c)).len()).sum();
    let total_b: usize = bq.iter().map(|c| msg_lines(&drain(c)).len()).sum();
    assert_eq!((total_a, total_b), (50, 50));
}

#[test]
fn echo_off_skips_the_publisher_only() {
    let r = Router::default();
    let quiet = socket(&r, |c| c.echo = false);
    let other = socket(&r, |_| {});
    sub(&quiet, "1", "chat");
    sub(&other, "1", "chat");
    publish(&quiet, "chat", "me");
    assert_eq!(drain(&quiet), "");
    assert_eq!(drain(&other), "MSG chat 1 2\r\nme\r\n");
    // Others still reach it.
    publish(&other, "chat", "you");
    assert_eq!(drain(&quiet), "MSG chat 1 3\r\nyou\r\n");
}

#[test]
fn echo_off_publisher_in_a_queue_group_passes_to_another_member() {
    let r = Router::default();
    let quiet = socket(&r, |c| c.echo = false);
    let other = socket(&r, |_| {});
    qsub(&quiet, "1", "jobs", "w");
    qsub(&other, "1", "jobs", "w");
    for _ in 0..100 {
        publish(&quiet, "jobs", "j");
    }
    assert_eq!(drain(&quiet), "");
    assert_eq!(msg_lines(&drain(&other)).len(), 100);
}

#[test]
fn auto_unsubscribe_after_max_deliveries() {
    let r = Router::default();
    let s = socket(&r, |_| {});
    sub(&s, "6", "tick");
    s.unsubscribe(b"6", Some(3)).unwrap();
    for i in 0..5 {
        publish(&s, "tick", &i.to_string());
    }
    assert_eq!(
        drain(&s),
        "MSG tick 6 1\r\n0\r\nMSG tick 6 1\r\n1\r\nMSG tick 6 1\r\n2\r\n"
    );
    assert_eq!(s.subscription_count(), 0);
    assert_eq!(r.global_account().subscription_count(), 0);
}

#[test]
fn auto_unsubscribe_below_delivered_count_removes_at_once() {
    // nats-server 2.9.10: SUB u 5, two PUBs, UNSUB 5 2, PUB -> only the first two arrive.
    let r = Router::default();
    let s = socket(&r, |_| {});
    sub(&s, "5", "u");
    publish(&s, "u", "1");
    publish(&s, "u", "2");
    s.unsubscribe(b"5", Some(2)).unwrap();
    assert_eq!(s.subscription_count(), 0);
    publish(&s, "u", "3");
    assert_eq!(drain(&s), "MSG u 5 1\r\n1\r\nMSG u 5 1\r\n2\r\n");
}

#[test]
fn unsubscribe_without_max_or_zero_max_is_immediate_and_unknown_sid_is_fine() {
    let r = Router::default();
    let s = socket(&r, |_| {});
    sub(&s, "1", "a");
    sub(&s, "2", "a");
    s.unsubscribe(b"1", None).unwrap();
    s.unsubscribe(b"2", Some(0)).unwrap();
    s.unsubscribe(b"99", None).unwrap();
    publish(&s, "a", "x");
    assert_eq!(drain(&s), "");
    assert_eq!(s.subscription_count(), 0);
}

#[test]
fn duplicate_sid_is_ignored() {
    let r = Router::default();
    let s = socket(&r, |_| {});
    sub(&s, "8", "d");
    sub(&s, "8", "d");
    sub(&s, "8", "other");
    assert_eq!(s.subscription_count(), 1);
    publish(&s, "d", "5");
    publish(&s, "other", "6");
    assert_eq!(drain(&s), "MSG d 8 1\r\n5\r\n");
}

#[test]
fn headers_kept_for_header_clients_and_stripped_for_others() {
    // Bytes as nats-server 2.9.10 sends them for `HPUB h 18 23`.
    let r = Router::default();
    let old = socket(&r, |_| {});
    let new = modern(&r);
    sub(&old, "1", "h");
    sub(&new, "2", "h");
    let hdr = b("NATS/1.0\r\nA: b\r\n\r\n");
    new.publish(&b("h"), None, Some(&hdr), &b("hello")).unwrap();
    assert_eq!(drain(&old), "MSG h 1 5\r\nhello\r\n");
    assert_eq!(
        drain(&new),
        "HMSG h 2 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\n"
    );
    // Counted as nats-server does: header plus body in, what was delivered out.
    assert_eq!(new.stats().in_bytes, 23);
    assert_eq!(new.stats().out_bytes, 23);
    assert_eq!(old.stats().out_bytes, 5);
    assert_eq!(r.stats().out_bytes, 28);
}

#[test]
fn no_responders_status_goes_to_the_reply_subscription() {
    // Bytes from nats-server 2.9.10 for a request nobody listens to.
    let r = Router::default();
    let c = modern(&r);
    sub(&c, "9", "_INBOX.x.*");
    c.publish(&b("nobody"), Some(&b("_INBOX.x.1")), None, &b("hi"))
        .unwrap();
    assert_eq!(
        drain(&c),
        "HMSG _INBOX.x.1 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
    );
    // The status is not a delivery.
    assert_eq!(c.stats().out_msgs, 0);
    assert_eq!(r.stats().out_msgs, 0);
}

#[test]
fn no_responders_needs_both_flags_and_a_reply_subscription() {
    let r = Router::default();
    let off = socket(&r, |c| c.headers = true);
    sub(&off, "2", "_INBOX.d.*");
    off.publish(&b("nobody"), Some(&b("_INBOX.d.1")), None, &b(""))
        .unwrap();
    assert_eq!(drain(&off), "");

    let no_sub = modern(&r);
    no_sub
        .publish(&b("nobody"), Some(&b("_INBOX.e.1")), None, &b(""))
        .unwrap();
    assert_eq!(drain(&no_sub), "");

    // A plain publish (no reply) to nobody gets nothing back either.
    let c = modern(&r);
    sub(&c, "1", "_INBOX.f.*");
    publish(&c, "nobody", "x");
    assert_eq!(drain(&c), "");
}

#[test]
fn no_responders_when_only_the_echo_off_requester_listens() {
    // nats-server 2.9.10: echo off, own SUB on the subject -> 503 on the inbox sid.
    let r = Router::default();
    let c = socket(&r, |c| {
        c.echo = false;
        c.headers = true;
        c.no_responders = true;
    });
    sub(&c, "1", "svc");
    sub(&c, "2", "_INBOX.c.*");
    c.publish(&b("svc"), Some(&b("_INBOX.c.1")), None, &b(""))
        .unwrap();
    assert_eq!(
        drain(&c),
        "HMSG _INBOX.c.1 2 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
    );
}

#[test]
fn a_responder_suppresses_the_no_responders_status() {
    let r = Router::default();
    let c = modern(&r);
    let svc = socket(&r, |_| {});
    sub(&c, "2", "_INBOX.c.*");
    qsub(&svc, "1", "svc", "q");
    c.publish(&b("svc"), Some(&b("_INBOX.c.1")), None, &b("q"))
        .unwrap();
    assert_eq!(drain(&c), "");
    assert_eq!(drain(&svc), "MSG svc 1 _INBOX.c.1 1\r\nq\r\n");
}

#[test]
fn closing_a_session_removes_all_its_subscriptions() {
    let r = Router::default();
    let gone = socket(&r, |_| {});
    let stays = socket(&r, |_| {});
    sub(&gone, "1", "a");
    sub(&gone, "2", "b.>");
    qsub(&gone, "3", "c", "q");
    sub(&stays, "1", "a");
    assert_eq!(r.stats().subscriptions, 4);
    assert_eq!(r.stats().connections, 2);

    gone.close(CloseReason::ClientClosed);
    gone.close(CloseReason::ServerShutdown);
    assert!(gone.is_closed());
    assert_eq!(gone.close_reason(), Some(CloseReason::ClientClosed));
    assert!(gone.outbound().is_closed());
    assert_eq!(r.global_account().subscription_count(), 1);
    assert_eq!(r.stats().subscriptions, 1);
    assert_eq!(r.stats().connections, 1);
    assert_eq!(r.stats().total_connections, 2);
    assert!(r.client(gone.id()).is_none());
    assert_eq!(r.clients().len(), 1);

    publish(&stays, "a", "x");
    publish(&stays, "b.c", "x");
    publish(&stays, "c", "x");
    assert_eq!(drain(&gone), "");
    assert_eq!(drain(&stays), "MSG a 1 1\r\nx\r\n");
    assert_eq!(
        gone.subscribe(b("4"), b("d"), None),
        Err(RouterError::Closed)
    );
    assert_eq!(
        gone.publish(&b("a"), None, None, &b("x")),
        Err(RouterError::Closed)
    );
}

#[test]
fn traffic_counters_per_client_and_total() {
    let r = Router::new(RouterOptions::default());
    let s1 = socket(&r, |_| {});
    let s2 = socket(&r, |_| {});
    let p = socket(&r, |_| {});
    sub(&s1, "1", "n");
    sub(&s2, "1", "n");
    publish(&p, "n", "abc");
    publish(&p, "n", "de");
    publish(&p, "nobody", "fgh");

    let ps = p.stats();
    assert_eq!((ps.in_msgs, ps.in_bytes, ps.out_msgs), (3, 8, 0));
    let s = s1.stats();
    assert_eq!((s.out_msgs, s.out_bytes, s.in_msgs), (2, 5, 0));
    assert_eq!(s.subscriptions, 1);
    assert!(s.pending_bytes > 0);
    let t = r.stats();
    assert_eq!(
        (t.in_msgs, t.in_bytes, t.out_msgs, t.out_bytes),
        (3, 8, 4, 10)
    );
    drain(&s1);
    assert_eq!(s1.stats().pending_bytes, 0);
}

#[test]
fn connect_fields_show_in_stats() {
    let r = Router::default();
    let c = socket(&r, |c| {
        c.name = Some("orders".into());
        c.lang = Some("rust".into());
        c.version = Some("0.51.0".into());
        c.verbose = false;
    });
    let s = c.stats();
    assert_eq!(s.cid, c.id());
    assert_eq!(s.name.as_deref(), Some("orders"));
    assert_eq!(s.lang.as_deref(), Some("rust"));
    assert_eq!(s.version.as_deref(), Some("0.51.0"));
    assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 40000));
    assert_eq!(&*s.account, "$G");
    assert!(s.last_activity >= s.start);
    assert!(!c.verbose());
    assert!(c.pedantic() && c.echo() && !c.headers());
}

#[test]
fn accounts_are_separate_namespaces() {
    let r = Router::default();
    let a = r.account("A");
    assert!(std::sync::Arc::ptr_eq(&a, &r.account("A")));
    let in_a = r.register(&a, Default::default());
    let in_g = socket(&r, |_| {});
    sub(&in_a, "1", "x");
    sub(&in_g, "1", "x");
    publish(&in_g, "x", "g");
    assert_eq!(drain(&in_a), "");
    assert_eq!(drain(&in_g), "MSG x 1 1\r\ng\r\n");
    publish(&in_a, "x", "a");
    assert_eq!(drain(&in_a), "MSG x 1 1\r\na\r\n");
    assert_eq!(drain(&in_g), "");
    assert_eq!(r.accounts().len(), 2);
}

#[test]
fn concurrent_publishers_respect_the_auto_unsubscribe_limit_exactly() {
    let r = Router::default();
    let s = socket(&r, |_| {});
    sub(&s, "1", "race");
    s.unsubscribe(b"1", Some(100)).unwrap();
    let publishers: Vec<_> = (0..4).map(|_| socket(&r, |_| {})).collect();
    std::thread::scope(|scope| {
        for p in &publishers {
            scope.spawn(move || {
                for _ in 0..200 {
                    publish(p, "race", "r");
                }
            });
        }
    });
    assert_eq!(msg_lines(&drain(&s)).len(), 100);
    assert_eq!(s.stats().out_msgs, 100);
    assert_eq!(s.subscription_count(), 0);
    assert_eq!(r.stats().in_msgs, 800);
}

#[test]
fn a_publishers_repeated_subject_sees_every_subscription_change() {
    // The publisher keeps its own cache of match results: each change in between must
    // show on the very next publish, for the same subject and for one sharing its slot.
    let r = Router::default();
    let p = socket(&r, |_| {});
    let s = socket(&r, |_| {});
    publish(&p, "cache.a", "0");
    sub(&s, "1", "cache.a");
    publish(&p, "cache.a", "1");
    assert_eq!(drain(&s), "MSG cache.a 1 1\r\n1\r\n");
    sub(&s, "2", "cache.*");
    publish(&p, "cache.a", "2");
    assert_eq!(
        msg_lines(&drain(&s)),
        ["MSG cache.a 1 1", "MSG cache.a 2 1"]
    );
    s.unsubscribe(b"1", None).unwrap();
    publish(&p, "cache.a", "3");
    assert_eq!(drain(&s), "MSG cache.a 2 1\r\n3\r\n");
    // Many subjects: entries evict each other, and results stay right.
    for i in 0..200 {
        publish(&p, &format!("cache.{i}"), "x");
    }
    assert_eq!(msg_lines(&drain(&s)).len(), 200);
    s.close(CloseReason::ClientClosed);
    publish(&p, "cache.a", "4");
    assert_eq!(drain(&s), "");
}

#[test]
fn router_totals_keep_what_closed_and_dropped_sessions_counted() {
    let r = Router::default();
    let p = socket(&r, |_| {});
    let s = socket(&r, |_| {});
    sub(&s, "1", "t");
    publish(&p, "t", "abc");
    publish(&p, "t", "de");
    let before = r.stats();
    assert_eq!(
        (
            before.in_msgs,
            before.in_bytes,
            before.out_msgs,
            before.out_bytes
        ),
        (2, 5, 2, 5)
    );
    s.close(CloseReason::ClientClosed);
    p.close(CloseReason::ClientClosed);
    assert_eq!(r.stats().in_bytes, 5);
    drop((p, s));
    let after = r.stats();
    assert_eq!(
        (
            after.in_msgs,
            after.in_bytes,
            after.out_msgs,
            after.out_bytes
        ),
        (2, 5, 2, 5)
    );
    assert_eq!(after.connections, 0);
}

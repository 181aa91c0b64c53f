//! max_pending (slow consumers), max_subscriptions, max_payload, and the outbound wake.

mod common;

use std::time::Duration;

use bytes::BytesMut;
use common::*;
use natter_router::{CloseReason, LocalOptions, Router, RouterError, RouterOptions};

fn opts(max_pending: usize) -> RouterOptions {
    RouterOptions {
        max_pending,
        ..Default::default()
    }
}

#[test]
fn slow_consumer_is_closed_counted_and_alone() {
    let r = Router::new(opts(1024));
    let slow = socket(&r, |_| {});
    let fast = socket(&r, |_| {});
    let p = socket(&r, |_| {});
    sub(&slow, "1", "feed");
    sub(&fast, "1", "feed");
    let body = "x".repeat(100);
    let frame = format!("MSG feed 1 100\r\n{body}\r\n");
    for _ in 0..100 {
        publish(&p, "feed", &body);
        assert_eq!(drain(&fast), frame);
    }

    assert!(slow.is_closed());
    assert_eq!(slow.close_reason(), Some(CloseReason::SlowConsumer));
    // What was queued is dropped, never flushed (as nats-server does), and freed at once:
    // publishers' match caches can keep a closed session alive for a while.
    assert_eq!(slow.outbound().pending_bytes(), 0);
    assert_eq!(slow.outbound().unsent_bytes(), 0);
    assert_eq!(drain(&slow), "");
    let fits = 1024 / frame.len();
    assert_eq!(slow.stats().slow_consumers, 1);
    assert_eq!(slow.stats().out_msgs, fits as u64);
    assert_eq!(r.stats().slow_consumers, 1);
    assert_eq!(slow.subscription_count(), 0);
    assert_eq!(r.global_account().subscription_count(), 1);
    assert!(!p.is_closed() && !fast.is_closed());
    assert_eq!(fast.stats().out_msgs, 100);
}

#[test]
fn slow_consumer_from_a_control_push() {
    let r = Router::new(opts(10));
    let c = socket(&r, |_| {});
    assert!(c.outbound().push(|b| b.extend_from_slice(b"PONG\r\n")));
    assert!(!c.outbound().push(|b| b.extend_from_slice(b"PONG\r\n")));
    assert_eq!(c.close_reason(), Some(CloseReason::SlowConsumer));
    assert!(c.is_closed());
    assert_eq!(r.stats().slow_consumers, 1);
    assert_eq!(drain(&c), "");
}

#[test]
fn a_write_error_frees_what_was_queued() {
    let r = Router::new(opts(1 << 20));
    let c = socket(&r, |_| {});
    let p = socket(&r, |_| {});
    sub(&c, "1", "feed");
    for _ in 0..10 {
        publish(&p, "feed", "hello");
    }
    assert!(c.outbound().pending_bytes() > 0);
    c.close(CloseReason::WriteError);
    assert_eq!(c.outbound().pending_bytes(), 0);
    assert_eq!(c.outbound().unsent_bytes(), 0);
    // A graceful close keeps what is queued so the writer can flush it.
    let g = socket(&r, |_| {});
    sub(&g, "1", "feed");
    publish(&p, "feed", "bye");
    g.close(CloseReason::ServerShutdown);
    assert_eq!(drain(&g), "MSG feed 1 3\r\nbye\r\n");
}

#[tokio::test]
async fn local_slow_consumer_is_closed_and_others_keep_going() {
    let r = Router::new(opts(1000));
    let slow = r.connect(LocalOptions::default());
    let fast = r.connect(LocalOptions::default());
    let p = r.connect(LocalOptions::default());
    let mut slow_sub = slow.subscribe("feed").unwrap();
    let mut fast_sub = fast.subscribe("feed").unwrap();
    for i in 0..50u32 {
        p.publish("feed", vec![b'x'; 96]).unwrap();
        let m = fast_sub.next().await.unwrap();
        assert_eq!(m.payload.len(), 96, "message {i}");
    }
    assert!(slow.is_closed());
    assert_eq!(
        slow.client().close_reason(),
        Some(CloseReason::SlowConsumer)
    );
    assert_eq!(r.stats().slow_consumers, 1);
    // What was queued before the limit is still readable, then the stream ends.
    let mut got = 0;
    while slow_sub.next().await.is_some() {
        got += 1;
    }
    assert_eq!(got, 1000 / (4 + 96));
    assert_eq!(slow.client().stats().pending_bytes, 0);
    assert!(!p.is_closed() && !fast.is_closed());
}

#[test]
fn max_subscriptions_is_enforced_per_session() {
    let r = Router::new(RouterOptions {
        max_subscriptions: 2,
        ..Default::default()
    });
    let c = socket(&r, |_| {});
    sub(&c, "1", "a");
    sub(&c, "2", "b");
    let err = c.subscribe(b("3"), b("c"), None).unwrap_err();
    assert_eq!(err, RouterError::MaxSubscriptions);
    // nats-server 2.9.10 sends it in lower case.
    assert_eq!(err.err_text(), Some("'maximum subscriptions exceeded'"));
    assert!(!c.is_closed());
    c.unsubscribe(b"1", None).unwrap();
    sub(&c, "3", "c");
    // Another session has its own budget.
    let d = socket(&r, |_| {});
    sub(&d, "1", "a");
    sub(&d, "2", "b");
}

#[test]
fn max_payload_counts_headers_and_body() {
    let r = Router::new(RouterOptions {
        max_payload: 100,
        ..Default::default()
    });
    let c = modern(&r);
    sub(&c, "1", "p");
    let hdr = b("NATS/1.0\r\n\r\n");
    let ok = b(&"y".repeat(100 - hdr.len()));
    c.publish(&b("p"), None, Some(&hdr), &ok).unwrap();
    let too_big = b(&"y".repeat(101 - hdr.len()));
    let err = c.publish(&b("p"), None, Some(&hdr), &too_big).unwrap_err();
    assert_eq!(err, RouterError::MaxPayload);
    assert_eq!(err.err_text(), Some("'Maximum Payload Violation'"));
    assert_eq!(msg_count(&drain(&c)), 1);
    assert_eq!(c.stats().in_msgs, 1);

    r.set_options(RouterOptions {
        max_payload: 10,
        ..Default::default()
    });
    assert_eq!(r.options().max_payload, 10);
    assert_eq!(
        c.publish(&b("p"), None, None, &b("12345678901")),
        Err(RouterError::MaxPayload)
    );
}

fn msg_count(out: &str) -> usize {
    out.matches("MSG p 1 ").count()
}

#[test]
fn invalid_subjects_are_refused() {
    let r = Router::default();
    let c = socket(&r, |_| {});
    for bad in ["", "foo..bar", "foo.>.bar", ".foo", "foo."] {
        let err = c.subscribe(b("1"), b(bad), None).unwrap_err();
        assert_eq!(err, RouterError::InvalidSubject, "{bad:?}");
        assert_eq!(err.err_text(), Some("'Invalid Subject'"));
    }
    assert_eq!(
        c.subscribe(b("1"), b("ok"), Some(b("bad queue"))),
        Err(RouterError::InvalidSubject)
    );
    assert_eq!(c.subscription_count(), 0);
    assert_eq!(r.stats().subscriptions, 0);
    assert_eq!(
        c.publish(&b(""), None, None, &b("x")),
        Err(RouterError::InvalidSubject)
    );
}

#[tokio::test]
async fn outbound_wakes_the_writer_per_batch_and_on_close() {
    let r = Router::default();
    let c = socket(&r, |_| {});
    let p = socket(&r, |_| {});
    sub(&c, "1", "w");
    let ob = c.outbound();
    assert!(tokio::time::timeout(Duration::from_millis(20), ob.ready())
        .await
        .is_err());
    for _ in 0..10 {
        publish(&p, "w", "z");
    }
    tokio::time::timeout(Duration::from_secs(1), ob.ready())
        .await
        .expect("ready after a push");
    assert_eq!(ob.pending_bytes(), 10 * "MSG w 1 1\r\nz\r\n".len());
    let mut buf = BytesMut::new();
    ob.take(&mut buf);
    assert_eq!(buf.len(), 10 * "MSG w 1 1\r\nz\r\n".len());
    assert_eq!(ob.pending_bytes(), 0);
    // The wake for that batch was consumed; nothing is pending, so no spurious ready.
    assert!(tokio::time::timeout(Duration::from_millis(20), ob.ready())
        .await
        .is_err());
    // Appending to a non-empty `into` keeps what it had.
    publish(&p, "w", "q");
    ob.take(&mut buf);
    assert!(buf.ends_with(b"MSG w 1 1\r\nq\r\n"));
    c.close(CloseReason::StaleConnection);
    tokio::time::timeout(Duration::from_secs(1), ob.ready())
        .await
        .expect("ready after close");
    assert!(!ob.push(|b| b.extend_from_slice(b"PING\r\n")));
    assert_eq!(ob.close_reason(), Some(CloseReason::StaleConnection));
}

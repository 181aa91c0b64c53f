//! The in-process session API: subscribe, publish, request, flush, close.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use natter_proto::HeaderMap;
use natter_router::{LocalOptions, Message, RequestError, Router, RouterError};

#[tokio::test]
async fn request_reply_through_the_local_api() {
    let r = Router::default();
    let server = r.connect(LocalOptions::default());
    let mut svc = server.queue_subscribe("math.double", "workers").unwrap();
    let responder = tokio::spawn(async move {
        for _ in 0..3 {
            let m = svc.next().await.unwrap();
            let n: u32 = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
            server
                .publish(m.reply.unwrap(), (n * 2).to_string())
                .unwrap();
        }
    });
    let client = r.connect(LocalOptions::default());
    for n in [1u32, 21, 50] {
        let reply = client
            .request("math.double", n.to_string(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(reply.payload, Bytes::from((n * 2).to_string()));
        assert!(reply.subject.starts_with(b"_INBOX."));
    }
    responder.await.unwrap();
}

#[tokio::test]
async fn request_to_nobody_fails_fast_with_no_responders() {
    let r = Router::default();
    let c = r.connect(LocalOptions::default());
    let start = Instant::now();
    let err = c
        .request("nobody.home", "?", Duration::from_secs(30))
        .await
        .unwrap_err();
    assert_eq!(err, RequestError::NoResponders);
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn request_without_no_responders_times_out() {
    let r = Router::default();
    let c = r.connect(LocalOptions {
        no_responders: false,
        ..Default::default()
    });
    let err = c
        .request("nobody.home", "?", Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(err, RequestError::Timeout);
}

#[tokio::test]
async fn request_to_a_silent_subscriber_times_out() {
    let r = Router::default();
    let silent = r.connect(LocalOptions::default());
    let _sub = silent.subscribe("svc").unwrap();
    let c = r.connect(LocalOptions::default());
    let err = c
        .request("svc", "?", Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(err, RequestError::Timeout);
}

#[tokio::test]
async fn socket_responder_answers_a_local_request() {
    let r = Router::default();
    let svc = socket(&r, |_| {});
    sub(&svc, "1", "echo");
    let c = r.connect(LocalOptions::default());
    let req = c.request("echo", "ping", Duration::from_secs(5));
    tokio::pin!(req);
    // The request is routed inline when first polled; answer from the socket side.
    assert!(futures_poll_once(req.as_mut()).await.is_none());
    let out = drain(&svc);
    let reply = out
        .strip_prefix("MSG echo 1 ")
        .and_then(|s| s.split(' ').next())
        .expect("a MSG with a reply subject")
        .to_string();
    svc.publish(&b(&reply), None, None, &b("pong")).unwrap();
    let m = req.await.unwrap();
    assert_eq!(&m.payload[..], b"pong");
}

/// Polls a future once, yielding its output if it was ready.
async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
    let mut f = f;
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

#[tokio::test]
async fn two_routers_are_independent() {
    let r1 = Router::default();
    let r2 = Router::default();
    let a = r1.connect(LocalOptions::default());
    let c = r2.connect(LocalOptions::default());
    assert_eq!((a.id(), c.id()), (1, 1));
    let mut s1 = a.subscribe("x").unwrap();
    let mut s2 = c.subscribe("x").unwrap();
    a.publish("x", "one").unwrap();
    assert_eq!(&s1.next().await.unwrap().payload[..], b"one");
    assert!(s2.try_next().is_none());
    assert_eq!(r1.stats().in_msgs, 1);
    assert_eq!(r2.stats().in_msgs, 0);
    c.publish("x", "two").unwrap();
    assert_eq!(&s2.next().await.unwrap().payload[..], b"two");
    assert!(s1.try_next().is_none());
}

#[tokio::test]
async fn close_ends_streams_and_refuses_further_use() {
    let r = Router::default();
    let c = r.connect(LocalOptions::default());
    let mut s = c.subscribe("a.>").unwrap();
    c.publish("a.b", "last").unwrap();
    c.flush().await.unwrap();
    c.close();
    assert_eq!(&s.next().await.unwrap().payload[..], b"last");
    assert!(s.next().await.is_none());
    assert_eq!(c.publish("a.b", "x"), Err(RouterError::Closed));
    assert_eq!(c.flush().await, Err(RouterError::Closed));
    assert!(c.subscribe("z").is_err());
    assert_eq!(r.global_account().subscription_count(), 0);
    assert_eq!(r.stats().connections, 0);
}

#[tokio::test]
async fn dropping_a_subscription_or_client_unsubscribes() {
    let r = Router::default();
    let c = r.connect(LocalOptions::default());
    let s = c.subscribe("a").unwrap();
    let _keep = c.subscribe("b").unwrap();
    assert_eq!(r.global_account().subscription_count(), 2);
    drop(s);
    assert_eq!(r.global_account().subscription_count(), 1);
    drop(c);
    assert_eq!(r.global_account().subscription_count(), 0);
    assert!(r.clients().is_empty());
}

#[tokio::test]
async fn local_queue_group_spreads_and_delivers_once() {
    let r = Router::default();
    let members: Vec<_> = (0..4).map(|_| r.connect(LocalOptions::default())).collect();
    let mut subs: Vec<_> = members
        .iter()
        .map(|m| m.queue_subscribe("jobs", "w").unwrap())
        .collect();
    let p = r.connect(LocalOptions::default());
    for i in 0..1000 {
        p.publish("jobs", i.to_string()).unwrap();
    }
    let mut seen = vec![false; 1000];
    for s in &mut subs {
        let mut n = 0;
        while let Some(m) = s.try_next() {
            let i: usize = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
            assert!(!seen[i], "message {i} delivered twice");
            seen[i] = true;
            n += 1;
        }
        assert!(n >= 150, "member got only {n} of 1000");
    }
    assert!(seen.iter().all(|s| *s));
}

#[tokio::test]
async fn unsubscribe_after_ends_the_stream() {
    let r = Router::default();
    let c = r.connect(LocalOptions::default());
    let mut s = c.subscribe("t").unwrap();
    s.unsubscribe_after(2).unwrap();
    for i in 0..4 {
        c.publish("t", i.to_string()).unwrap();
    }
    assert_eq!(&s.next().await.unwrap().payload[..], b"0");
    assert_eq!(&s.next().await.unwrap().payload[..], b"1");
    assert!(s.next().await.is_none());
    assert_eq!(s.delivered(), 2);
}

#[tokio::test]
async fn headers_reach_header_sessions_only() {
    let r = Router::default();
    let with = r.connect(LocalOptions::default());
    let without = r.connect(LocalOptions {
        headers: false,
        ..Default::default()
    });
    let mut s1 = with.subscribe("h").unwrap();
    let mut s2 = without.subscribe("h").unwrap();
    let mut h = HeaderMap::new();
    h.insert("Trace", "abc").unwrap();
    with.publish_with_headers("h", &h, "body").unwrap();
    let m1 = s1.next().await.unwrap();
    assert_eq!(m1.header_map().unwrap().unwrap().get("Trace"), Some("abc"));
    assert_eq!(&m1.payload[..], b"body");
    assert_eq!(m1.status(), None);
    let m2 = s2.next().await.unwrap();
    assert_eq!(m2.headers, None);
    assert_eq!(&m2.payload[..], b"body");
}

#[tokio::test]
async fn local_and_socket_sessions_see_each_other() {
    let r = Router::default();
    let sock = modern(&r);
    sub(&sock, "5", "mixed");
    let local = r.connect(LocalOptions::default());
    let mut s = local.subscribe("mixed").unwrap();
    local
        .publish_message(&Message {
            subject: b("mixed"),
            reply: Some(b("r.1")),
            headers: Some(b("NATS/1.0\r\nK: v\r\n\r\n")),
            payload: b("p"),
        })
        .unwrap();
    assert_eq!(
        drain(&sock),
        "HMSG mixed 5 r.1 18 19\r\nNATS/1.0\r\nK: v\r\n\r\np\r\n"
    );
    let m = s.next().await.unwrap();
    assert_eq!(m.reply.as_deref(), Some(&b"r.1"[..]));
    sock.publish(&b("mixed"), None, None, &b("from socket"))
        .unwrap();
    assert_eq!(&s.next().await.unwrap().payload[..], b"from socket");
}

#[tokio::test]
async fn echo_off_local_session_does_not_hear_itself() {
    let r = Router::default();
    let c = r.connect(LocalOptions {
        echo: false,
        ..Default::default()
    });
    let mut s = c.subscribe("me").unwrap();
    c.publish("me", "x").unwrap();
    assert!(s.try_next().is_none());
}

#[tokio::test]
async fn pending_bytes_follow_reads() {
    let r = Router::default();
    let c = r.connect(LocalOptions {
        name: Some("tester".into()),
        ..Default::default()
    });
    let mut s = c.subscribe("p").unwrap();
    c.publish("p", "12345").unwrap();
    let st = c.client().stats();
    assert_eq!(st.pending_bytes, 1 + 5);
    assert_eq!(st.name.as_deref(), Some("tester"));
    s.next().await.unwrap();
    assert_eq!(c.client().stats().pending_bytes, 0);
}

#[tokio::test]
async fn sublist_lookups_are_counted_per_account() {
    let r = Router::default();
    let a = r.connect(LocalOptions::default());
    let b = r.connect(LocalOptions::default());
    let _s = a.subscribe("x").unwrap();
    assert_eq!(r.global_account().match_counts(), (0, 0));
    // First publish: a miss in the session's cache and in the sublist's.
    a.publish("x", "1").unwrap();
    assert_eq!(r.global_account().match_counts(), (1, 0));
    // The session's own cache answers a repeat; the sublist is not asked.
    a.publish("x", "2").unwrap();
    assert_eq!(r.global_account().match_counts(), (1, 0));
    // Another session asks the sublist, whose cache answers.
    b.publish("x", "3").unwrap();
    assert_eq!(r.global_account().match_counts(), (2, 1));
    let stats = r.global_account().sublist_stats();
    assert_eq!(
        (stats.cache_len, stats.max_fanout, stats.total_fanout),
        (1, 1, 1)
    );
}

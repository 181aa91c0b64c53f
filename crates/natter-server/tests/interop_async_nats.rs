//! Interop with the async-nats client over real sockets: the scenarios a NATS user meets
//! first must behave as they do against nats-server.
//!
//! Set `NATTER_INTEROP_REFERENCE_BIN=/usr/bin/nats-server` to run this file against the
//! reference server instead of the embedded Natter (see `common_interop`).

mod common_interop;

// The README's quick start; its `main` is for `cargo run --example`, unused here.
#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use async_nats::{ConnectOptions, Event, HeaderMap, RequestErrorKind, StatusCode};
use bytes::Bytes;
use common_interop::{within, Limits, RawConn, TestServer};
use futures::stream::{self, StreamExt};
use tokio::sync::mpsc;

/// How long to wait for something that should arrive almost at once.
const STEP: Duration = Duration::from_secs(5);

async fn connect(server: &TestServer) -> async_nats::Client {
    async_nats::connect(server.url())
        .await
        .expect("async-nats connects")
}

async fn next_msg(sub: &mut async_nats::Subscriber, what: &str) -> async_nats::Message {
    match tokio::time::timeout(STEP, sub.next()).await {
        Ok(Some(m)) => m,
        Ok(None) => panic!("subscription ended while waiting for {what}"),
        Err(_) => panic!("no message within {STEP:?} while waiting for {what}"),
    }
}

/// A round trip through the server on this connection: once the client's own message comes
/// back, every command it sent earlier has been processed. async-nats' `flush` only writes
/// the buffer out, it does not wait for the server.
async fn server_sync(c: &async_nats::Client) {
    let inbox = c.new_inbox();
    let mut probe = c.subscribe(inbox.clone()).await.unwrap();
    c.publish(inbox, Bytes::from_static(b"sync")).await.unwrap();
    c.flush().await.unwrap();
    next_msg(&mut probe, "own sync message").await;
    probe.unsubscribe().await.unwrap();
}

/// Like `server_sync` for a client that cannot receive its own messages (`no_echo`): an
/// observer on another connection waits for the probe instead.
async fn sync_through(c: &async_nats::Client, observer: &async_nats::Client) {
    let inbox = observer.new_inbox();
    let mut probe = observer.subscribe(inbox.clone()).await.unwrap();
    server_sync(observer).await;
    c.publish(inbox, Bytes::from_static(b"sync")).await.unwrap();
    c.flush().await.unwrap();
    next_msg(&mut probe, "probe seen by the observer").await;
    probe.unsubscribe().await.unwrap();
}

/// Reads a subscription until a message on `last` arrives; returns the subjects seen,
/// leaving out the `server_sync` probes that a `>` subscription also sees.
async fn subjects_until(sub: &mut async_nats::Subscriber, last: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let m = next_msg(sub, last).await;
        if m.subject.starts_with("_INBOX.") {
            continue;
        }
        seen.push(m.subject.to_string());
        if m.subject.as_str() == last {
            return seen;
        }
    }
}

#[tokio::test]
async fn publish_subscribe_round_trip() {
    let server = TestServer::start().await;
    within(30, "pub/sub", async {
        let sub_client = connect(&server).await;
        let pub_client = connect(&server).await;
        let mut sub = sub_client.subscribe("greet.joe").await.unwrap();
        server_sync(&sub_client).await;

        for i in 0..3 {
            pub_client
                .publish("greet.joe", format!("hello {i}").into())
                .await
                .unwrap();
        }
        pub_client
            .publish("greet.sue", "not for joe".into())
            .await
            .unwrap();
        pub_client.publish("greet.joe", Bytes::new()).await.unwrap();
        server_sync(&pub_client).await;

        for i in 0..3 {
            let m = next_msg(&mut sub, "greeting").await;
            assert_eq!(m.subject.as_str(), "greet.joe");
            assert_eq!(m.payload, format!("hello {i}").as_bytes());
            assert!(m.reply.is_none());
            assert!(m.headers.is_none());
        }
        let empty = next_msg(&mut sub, "empty payload").await;
        assert_eq!(empty.subject.as_str(), "greet.joe");
        assert!(empty.payload.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_client_receives_its_own_messages_unless_no_echo() {
    let server = TestServer::start().await;
    within(30, "echo", async {
        let echo = connect(&server).await;
        let quiet = ConnectOptions::new()
            .no_echo()
            .connect(server.url())
            .await
            .unwrap();
        let mut echo_sub = echo.subscribe("echo.test").await.unwrap();
        let mut quiet_sub = quiet.subscribe("echo.test").await.unwrap();
        server_sync(&echo).await;
        // The no-echo client cannot see its own probe, so the other client observes it.
        sync_through(&quiet, &echo).await;

        quiet
            .publish("echo.test", "from quiet".into())
            .await
            .unwrap();
        sync_through(&quiet, &echo).await;
        echo.publish("echo.test", "from echo".into()).await.unwrap();
        server_sync(&echo).await;

        assert_eq!(next_msg(&mut echo_sub, "1st").await.payload, "from quiet");
        assert_eq!(next_msg(&mut echo_sub, "2nd").await.payload, "from echo");
        // The no-echo client does not get its own message back, only the other one.
        assert_eq!(
            next_msg(&mut quiet_sub, "other's").await.payload,
            "from echo"
        );
    })
    .await;
}

#[tokio::test]
async fn star_and_full_wildcards_match_as_nats_does() {
    let server = TestServer::start().await;
    within(30, "wildcards", async {
        let c = connect(&server).await;
        let p = connect(&server).await;
        let mut star = c.subscribe("a.*").await.unwrap();
        let mut full = c.subscribe("a.>").await.unwrap();
        let mut middle = c.subscribe("a.*.c").await.unwrap();
        let mut leading = c.subscribe("*.*.c").await.unwrap();
        let mut all = c.subscribe(">").await.unwrap();
        server_sync(&c).await;

        for s in ["a", "a.b", "a.b.c", "a.b.c.d", "x.b.c", "a.b.d", "b"] {
            p.publish(s, Bytes::from_static(b"x")).await.unwrap();
        }
        // Markers, published last: per-publisher order lets each reader stop at its marker
        // knowing nothing else is still on the way.
        p.publish("a.end", Bytes::new()).await.unwrap();
        p.publish("a.end.c", Bytes::new()).await.unwrap();
        server_sync(&p).await;

        assert_eq!(subjects_until(&mut star, "a.end").await, ["a.b", "a.end"]);
        assert_eq!(
            subjects_until(&mut full, "a.end.c").await,
            ["a.b", "a.b.c", "a.b.c.d", "a.b.d", "a.end", "a.end.c"]
        );
        assert_eq!(
            subjects_until(&mut middle, "a.end.c").await,
            ["a.b.c", "a.end.c"]
        );
        assert_eq!(
            subjects_until(&mut leading, "a.end.c").await,
            ["a.b.c", "x.b.c", "a.end.c"]
        );
        assert_eq!(
            subjects_until(&mut all, "a.end.c").await,
            ["a", "a.b", "a.b.c", "a.b.c.d", "x.b.c", "a.b.d", "b", "a.end", "a.end.c"]
        );
    })
    .await;
}

#[tokio::test]
async fn queue_group_delivers_each_message_to_exactly_one_member() {
    const N: usize = 400;
    let server = TestServer::start().await;
    within(60, "queue group", async {
        let (tx, mut rx) = mpsc::unbounded_channel::<(usize, usize)>();
        let mut members = Vec::new();
        for member in 0..4 {
            let c = connect(&server).await;
            let mut sub = c
                .queue_subscribe("jobs.run", "workers".into())
                .await
                .unwrap();
            server_sync(&c).await;
            let tx = tx.clone();
            members.push(tokio::spawn(async move {
                while let Some(m) = sub.next().await {
                    let n: usize = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
                    if tx.send((member, n)).is_err() {
                        break;
                    }
                }
                drop(c);
            }));
        }
        // A plain subscriber on the same subject sees every message regardless of the group.
        let watcher = connect(&server).await;
        let mut plain = watcher.subscribe("jobs.run").await.unwrap();
        server_sync(&watcher).await;

        let publisher = connect(&server).await;
        for n in 0..N {
            publisher
                .publish("jobs.run", n.to_string().into())
                .await
                .unwrap();
        }
        server_sync(&publisher).await;

        for n in 0..N {
            let m = next_msg(&mut plain, "plain copy").await;
            assert_eq!(m.payload, n.to_string().as_bytes());
        }

        let mut per_member = [0usize; 4];
        let mut seen = HashSet::new();
        for _ in 0..N {
            let (member, n) = tokio::time::timeout(STEP, rx.recv())
                .await
                .expect("queue delivery within timeout")
                .unwrap();
            assert!(seen.insert(n), "message {n} delivered twice in the group");
            per_member[member] += 1;
        }
        assert_eq!(seen.len(), N);
        // Anything after the N-th delivery would be a duplicate.
        let late = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
        assert!(late.is_err(), "extra queue delivery: {late:?}");
        for (member, count) in per_member.iter().enumerate() {
            assert!(*count > 0, "member {member} got nothing: {per_member:?}");
        }
        for m in members {
            m.abort();
        }
    })
    .await;
}

#[tokio::test]
async fn request_reply_round_trip() {
    let server = TestServer::start().await;
    within(30, "request/reply", async {
        let responder = connect(&server).await;
        let mut service = responder.subscribe("svc.upper").await.unwrap();
        server_sync(&responder).await;
        let replies = responder.clone();
        let task = tokio::spawn(async move {
            while let Some(m) = service.next().await {
                let reply = m.reply.expect("request carries a reply subject");
                let body = m.payload.to_ascii_uppercase();
                replies.publish(reply, body.into()).await.unwrap();
            }
        });

        let requester = connect(&server).await;
        let answer = requester
            .request("svc.upper", "hello".into())
            .await
            .expect("reply");
        assert_eq!(answer.payload, "HELLO");

        // Many requests in flight at once each get their own answer.
        let answers: Vec<_> = stream::iter(0..50)
            .map(|i| {
                let r = requester.clone();
                async move { (i, r.request("svc.upper", format!("req{i}").into()).await) }
            })
            .buffer_unordered(50)
            .collect()
            .await;
        for (i, a) in answers {
            assert_eq!(a.expect("reply").payload, format!("REQ{i}").as_bytes());
        }

        // Explicit reply subject, as the low-level API uses it.
        let inbox = requester.new_inbox();
        let mut inbox_sub = requester.subscribe(inbox.clone()).await.unwrap();
        server_sync(&requester).await;
        requester
            .publish_with_reply("svc.upper", inbox, "manual".into())
            .await
            .unwrap();
        assert_eq!(
            next_msg(&mut inbox_sub, "manual reply").await.payload,
            "MANUAL"
        );
        task.abort();
    })
    .await;
}

#[tokio::test]
async fn request_without_subscribers_fails_with_no_responders() {
    let server = TestServer::start().await;
    within(30, "no responders", async {
        // A long request timeout: only the server's 503 can end the request quickly.
        let client = ConnectOptions::new()
            .request_timeout(Some(Duration::from_secs(20)))
            .connect(server.url())
            .await
            .unwrap();
        let err = tokio::time::timeout(
            Duration::from_secs(10),
            client.request("nobody.listens", "ping".into()),
        )
        .await
        .expect("no-responders answer arrives well before the request timeout")
        .expect_err("request to nobody must fail");
        assert_eq!(err.kind(), RequestErrorKind::NoResponders, "{err:?}");

        // The same subject works once someone listens.
        let mut sub = client.subscribe("nobody.listens").await.unwrap();
        server_sync(&client).await;
        let c2 = client.clone();
        let t = tokio::spawn(async move {
            let m = sub.next().await.unwrap();
            c2.publish(m.reply.unwrap(), "pong".into()).await.unwrap();
        });
        let ok = client
            .request("nobody.listens", "ping".into())
            .await
            .unwrap();
        assert_eq!(ok.payload, "pong");
        t.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn headers_round_trip_with_repeated_keys() {
    let server = TestServer::start().await;
    within(30, "headers", async {
        let c = connect(&server).await;
        let mut sub = c.subscribe("hdr.test").await.unwrap();
        server_sync(&c).await;

        let mut headers = HeaderMap::new();
        headers.insert("X-Trace-Id", "abc-123");
        headers.append("X-Multi", "first");
        headers.append("X-Multi", "second");
        headers.insert("Content-Type", "text/plain; charset=utf-8");
        c.publish_with_headers("hdr.test", headers, "body".into())
            .await
            .unwrap();

        let mut only_headers = HeaderMap::new();
        only_headers.insert("K", "v");
        c.publish_with_headers("hdr.test", only_headers, Bytes::new())
            .await
            .unwrap();
        server_sync(&c).await;

        let m = next_msg(&mut sub, "message with headers").await;
        assert_eq!(m.payload, "body");
        let h = m.headers.expect("headers delivered");
        assert_eq!(h.get("X-Trace-Id").unwrap().as_str(), "abc-123");
        let multi: Vec<&str> = h.get_all("X-Multi").map(|v| v.as_str()).collect();
        assert_eq!(multi, ["first", "second"]);
        assert_eq!(
            h.get("Content-Type").unwrap().as_str(),
            "text/plain; charset=utf-8"
        );
        assert!(m.status.is_none());

        let m = next_msg(&mut sub, "headers, empty body").await;
        assert!(m.payload.is_empty());
        assert_eq!(m.headers.unwrap().get("K").unwrap().as_str(), "v");

        // Headers travel through request/reply too.
        let mut svc = c.subscribe("hdr.svc").await.unwrap();
        server_sync(&c).await;
        let c2 = c.clone();
        let t = tokio::spawn(async move {
            let m = svc.next().await.unwrap();
            let seen = m.headers.unwrap().get("Q").unwrap().to_string();
            let mut back = HeaderMap::new();
            back.insert("A", format!("re:{seen}").as_str());
            c2.publish_with_headers(m.reply.unwrap(), back, "ok".into())
                .await
                .unwrap();
        });
        let mut q = HeaderMap::new();
        q.insert("Q", "question");
        let answer = c
            .request_with_headers("hdr.svc", q, "?".into())
            .await
            .unwrap();
        assert_eq!(
            answer.headers.unwrap().get("A").unwrap().as_str(),
            "re:question"
        );
        t.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn header_status_line_passes_through_unchanged() {
    let server = TestServer::start().await;
    within(30, "status", async {
        let c = connect(&server).await;
        let mut sub = c.subscribe("status.test").await.unwrap();
        server_sync(&c).await;

        // async-nats cannot publish a status line, so a raw client does.
        let (mut raw, _) = RawConn::connect(server.addr()).await;
        let block = "NATS/1.0 408 Request Timeout\r\nX-Why: slow\r\n\r\n";
        let body = "late";
        raw.send(
            format!(
                "CONNECT {{\"verbose\":false,\"pedantic\":false,\"headers\":true}}\r\nHPUB status.test {} {}\r\n{block}{body}\r\nPING\r\n",
                block.len(),
                block.len() + body.len()
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(raw.read_line().await.as_deref(), Some("PONG"));

        let m = next_msg(&mut sub, "status message").await;
        assert_eq!(m.status, Some(StatusCode::TIMEOUT));
        assert_eq!(m.description.as_deref(), Some("Request Timeout"));
        assert_eq!(m.headers.unwrap().get("X-Why").unwrap().as_str(), "slow");
        assert_eq!(m.payload, body);
    })
    .await;
}

#[tokio::test]
async fn unsubscribe_after_limits_deliveries() {
    let server = TestServer::start().await;
    within(30, "auto-unsubscribe", async {
        let c = connect(&server).await;
        let mut limited = c.subscribe("auto.unsub").await.unwrap();
        let mut control = c.subscribe("auto.unsub").await.unwrap();
        limited.unsubscribe_after(3).await.unwrap();
        server_sync(&c).await;
        for i in 0..10 {
            c.publish("auto.unsub", i.to_string().into()).await.unwrap();
        }
        server_sync(&c).await;

        for i in 0..3 {
            assert_eq!(
                next_msg(&mut limited, "limited").await.payload,
                i.to_string()
            );
        }
        let end = tokio::time::timeout(STEP, limited.next()).await;
        assert!(matches!(end, Ok(None)), "stream must end after 3: {end:?}");
        for i in 0..10 {
            assert_eq!(
                next_msg(&mut control, "control").await.payload,
                i.to_string()
            );
        }
    })
    .await;
}

/// async-nats also counts deliveries itself, so check the server's own `UNSUB sid max`.
#[tokio::test]
async fn server_stops_delivering_after_unsub_max() {
    let server = TestServer::start().await;
    within(30, "UNSUB max on the wire", async {
        let (mut raw, _) = RawConn::connect(server.addr()).await;
        raw.send(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB wire.unsub 7\r\nUNSUB 7 2\r\nPING\r\n")
            .await;
        assert_eq!(raw.read_line().await.as_deref(), Some("PONG"));

        let p = connect(&server).await;
        for i in 0..5 {
            p.publish("wire.unsub", format!("m{i}").into()).await.unwrap();
        }
        server_sync(&p).await;
        // The publisher's flush returned, so the server has routed all five already.
        raw.send(b"PING\r\n").await;
        let mut got = Vec::new();
        loop {
            let line = raw.read_line().await.expect("line");
            if line == "PONG" {
                break;
            }
            assert_eq!(line, "MSG wire.unsub 7 2", "unexpected line");
            got.push(String::from_utf8(raw.read_exact(4).await).unwrap());
        }
        assert_eq!(got, ["m0\r\n", "m1\r\n"]);
    })
    .await;
}

#[tokio::test]
async fn flush_makes_subscriptions_and_publishes_visible() {
    const N: usize = 2000;
    let server = TestServer::start().await;
    within(60, "flush", async {
        let sub_client = connect(&server).await;
        let pub_client = connect(&server).await;
        let mut sub = sub_client.subscribe("flush.test").await.unwrap();
        server_sync(&sub_client).await;
        for i in 0..N {
            pub_client
                .publish("flush.test", i.to_string().into())
                .await
                .unwrap();
        }
        // Nothing but the flush pushes the buffered publishes out.
        pub_client.flush().await.unwrap();
        for i in 0..N {
            assert_eq!(next_msg(&mut sub, "flushed").await.payload, i.to_string());
        }
    })
    .await;
}

#[tokio::test]
async fn draining_a_subscription_delivers_what_was_sent_then_ends() {
    let server = TestServer::start().await;
    within(30, "subscription drain", async {
        let c = connect(&server).await;
        let p = connect(&server).await;
        let mut sub = c.subscribe("drain.sub").await.unwrap();
        let mut other = c.subscribe("drain.sub").await.unwrap();
        server_sync(&c).await;
        for i in 0..100 {
            p.publish("drain.sub", i.to_string().into()).await.unwrap();
        }
        server_sync(&p).await;

        sub.drain().await.unwrap();
        for i in 0..100 {
            assert_eq!(next_msg(&mut sub, "drained").await.payload, i.to_string());
        }
        let end = tokio::time::timeout(STEP, sub.next()).await;
        assert!(matches!(end, Ok(None)), "drained stream must end: {end:?}");

        // The connection and its other subscription keep working.
        p.publish("drain.sub", "after".into()).await.unwrap();
        server_sync(&p).await;
        for i in 0..100 {
            assert_eq!(next_msg(&mut other, "other").await.payload, i.to_string());
        }
        assert_eq!(next_msg(&mut other, "after drain").await.payload, "after");
    })
    .await;
}

#[tokio::test]
async fn draining_a_client_ends_its_subscriptions_and_closes_it() {
    let server = TestServer::start().await;
    within(30, "client drain", async {
        let c = connect(&server).await;
        let p = connect(&server).await;
        let mut a = c.subscribe("drain.client.a").await.unwrap();
        let mut b = c.subscribe("drain.client.b").await.unwrap();
        server_sync(&c).await;
        for i in 0..50 {
            p.publish("drain.client.a", i.to_string().into())
                .await
                .unwrap();
            p.publish("drain.client.b", i.to_string().into())
                .await
                .unwrap();
        }
        server_sync(&p).await;

        c.drain().await.unwrap();
        for i in 0..50 {
            assert_eq!(next_msg(&mut a, "a").await.payload, i.to_string());
            assert_eq!(next_msg(&mut b, "b").await.payload, i.to_string());
        }
        assert!(matches!(
            tokio::time::timeout(STEP, a.next()).await,
            Ok(None)
        ));
        assert!(matches!(
            tokio::time::timeout(STEP, b.next()).await,
            Ok(None)
        ));
        // A drained client is closed for good.
        let mut refused = false;
        for _ in 0..50 {
            if c.subscribe("drain.client.c").await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(refused, "a drained client still accepts subscriptions");

        // Others are unaffected.
        let mut s = p.subscribe("drain.client.a").await.unwrap();
        server_sync(&p).await;
        p.publish("drain.client.a", "still here".into())
            .await
            .unwrap();
        assert_eq!(next_msg(&mut s, "after drain").await.payload, "still here");
    })
    .await;
}

#[tokio::test]
async fn payload_at_max_payload_is_delivered_and_over_is_refused() {
    const MAX: usize = 4096;
    let server = TestServer::start_with(Limits {
        max_payload: Some(MAX),
        ..Limits::default()
    })
    .await;
    within(30, "max_payload", async {
        let c = connect(&server).await;
        assert_eq!(c.max_payload(), MAX, "INFO max_payload reaches the client");
        let mut sub = c.subscribe("big").await.unwrap();
        server_sync(&c).await;

        let exact = Bytes::from(vec![b'x'; MAX]);
        c.publish("big", exact.clone()).await.unwrap();
        server_sync(&c).await;
        assert_eq!(next_msg(&mut sub, "max-size payload").await.payload, exact);

        // async-nats refuses an oversize publish itself, from the server's INFO.
        let err = c
            .publish("big", Bytes::from(vec![b'x'; MAX + 1]))
            .await
            .expect_err("oversize publish");
        assert_eq!(
            err.kind(),
            async_nats::client::PublishErrorKind::MaxPayloadExceeded
        );
        let mut h = HeaderMap::new();
        h.insert("K", "v");
        let err = c
            .publish_with_headers("big", h, exact.clone())
            .await
            .expect_err("headers count towards max_payload");
        assert_eq!(
            err.kind(),
            async_nats::client::PublishErrorKind::MaxPayloadExceeded
        );

        // The server enforces it too, against the declared size, and closes the connection.
        let (mut raw, info) = RawConn::connect(server.addr()).await;
        assert!(info.contains(&format!("\"max_payload\":{MAX}")), "{info}");
        raw.send(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")
            .await;
        assert_eq!(raw.read_line().await.as_deref(), Some("PONG"));
        raw.send(format!("PUB big {}\r\n", MAX + 1).as_bytes())
            .await;
        assert_eq!(
            raw.read_line().await.as_deref(),
            Some("-ERR 'Maximum Payload Violation'")
        );
        let rest = raw.read_to_end().await;
        assert!(rest.is_empty(), "connection must close: {rest:?}");

        // The async-nats client was not disturbed by that.
        c.publish("big", "small".into()).await.unwrap();
        assert_eq!(next_msg(&mut sub, "after violation").await.payload, "small");
    })
    .await;
}

#[tokio::test]
async fn ten_thousand_subscriptions_on_one_connection_all_receive() {
    const N: usize = 10_000;
    let server = TestServer::start().await;
    within(120, "10k subscriptions", async {
        let c = ConnectOptions::new()
            .subscription_capacity(16)
            .connect(server.url())
            .await
            .unwrap();
        let mut subs = Vec::with_capacity(N);
        for i in 0..N {
            subs.push(c.subscribe(format!("many.{i}")).await.unwrap());
        }
        server_sync(&c).await;
        // A wildcard on another connection sees all of them.
        let w = connect(&server).await;
        let mut all = w.subscribe("many.*").await.unwrap();
        server_sync(&w).await;

        let p = connect(&server).await;
        for i in 0..N {
            p.publish(format!("many.{i}"), i.to_string().into())
                .await
                .unwrap();
        }
        server_sync(&p).await;

        let mut seen_all = BTreeSet::new();
        for (i, sub) in subs.iter_mut().enumerate() {
            let m = next_msg(sub, "own subject").await;
            assert_eq!(m.subject.as_str(), format!("many.{i}"));
            assert_eq!(m.payload, i.to_string());
            let copy = next_msg(&mut all, "wildcard copy").await;
            seen_all.insert(copy.payload);
        }
        assert_eq!(seen_all.len(), N);
    })
    .await;
}

#[tokio::test]
async fn client_reconnects_and_resubscribes_after_server_restart() {
    let mut server = TestServer::start().await;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let client = ConnectOptions::new()
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .event_callback(move |e| {
            let tx = events_tx.clone();
            async move {
                let _ = tx.send(e);
            }
        })
        .connect(server.url())
        .await
        .unwrap();
    within(60, "reconnect", async {
        let mut sub = client.subscribe("restart.test").await.unwrap();
        server_sync(&client).await;
        client
            .publish("restart.test", "before".into())
            .await
            .unwrap();
        assert_eq!(next_msg(&mut sub, "before restart").await.payload, "before");

        server.stop().await;
        loop {
            match events.recv().await.expect("event stream") {
                Event::Disconnected => break,
                _ => continue,
            }
        }
        server.restart().await;
        loop {
            match events.recv().await.expect("event stream") {
                Event::Connected => break,
                _ => continue,
            }
        }
        // The probe goes after the re-sent SUBs, so they are in place once it returns.
        server_sync(&client).await;

        let other = connect(&server).await;
        other.publish("restart.test", "after".into()).await.unwrap();
        server_sync(&other).await;
        assert_eq!(next_msg(&mut sub, "after restart").await.payload, "after");

        client.publish("restart.test", "own".into()).await.unwrap();
        assert_eq!(next_msg(&mut sub, "own after restart").await.payload, "own");
    })
    .await;
}

/// Deterministic noise: the same bytes on every run, so a failure can be replayed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[tokio::test]
async fn garbage_flood_on_one_connection_does_not_disturb_another() {
    let server = TestServer::start().await;
    within(60, "garbage flood", async {
        let good = connect(&server).await;
        let mut svc = good.subscribe("calm.echo").await.unwrap();
        server_sync(&good).await;
        let responder = good.clone();
        let echo = tokio::spawn(async move {
            while let Some(m) = svc.next().await {
                responder
                    .publish(m.reply.unwrap(), m.payload)
                    .await
                    .unwrap();
            }
        });

        let addr = server.addr();
        let flood = tokio::spawn(async move {
            let mut answers = Vec::new();
            for round in 0..40u64 {
                let (mut raw, _) = RawConn::connect(addr).await;
                let junk = match round % 3 {
                    // Binary noise: not a protocol verb.
                    0 => noise(round, 64 * 1024),
                    // A control line that never ends.
                    1 => {
                        let mut v = b"PUB ".to_vec();
                        v.extend(std::iter::repeat_n(b'a', 64 * 1024));
                        v
                    }
                    // Valid start, then a lying size and junk.
                    _ => {
                        let mut v = b"CONNECT {\"verbose\":false}\r\nPUB x 5\r\n".to_vec();
                        v.extend(noise(round, 32 * 1024));
                        v
                    }
                };
                // The server may hang up mid-write; that is the point.
                let _ = tokio::io::AsyncWriteExt::write_all(&mut raw.stream, &junk).await;
                answers.push(String::from_utf8_lossy(&raw.read_to_end().await).into_owned());
            }
            answers
        });

        let requester = connect(&server).await;
        for i in 0..200 {
            let body = format!("calm {i}");
            let r = requester
                .request("calm.echo", body.clone().into())
                .await
                .expect("echo while another connection floods");
            assert_eq!(r.payload, body);
        }
        let answers = flood.await.unwrap();
        for (round, a) in answers.iter().enumerate() {
            assert!(
                a.contains("-ERR '"),
                "garbage round {round} got no -ERR before close: {a:?}"
            );
        }
        echo.abort();
    })
    .await;
}

#[tokio::test]
async fn slow_consumer_is_cut_off_without_slowing_others() {
    const BATCHES: usize = 128;
    const PER_BATCH: usize = 32;
    let server = TestServer::start_with(Limits {
        max_pending: Some(1024 * 1024),
        // nats-server refuses a max_payload above max_pending.
        max_payload: Some(64 * 1024),
    })
    .await;
    within(60, "slow consumer", async {
        // Subscribes and then never reads.
        let (mut stuck, _) = RawConn::connect(server.addr()).await;
        stuck
            .send(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB slow.feed 1\r\nPING\r\n")
            .await;
        assert_eq!(stuck.read_line().await.as_deref(), Some("PONG"));

        let (events_tx, mut events) = mpsc::unbounded_channel();
        let reader = ConnectOptions::new()
            .event_callback(move |e| {
                let tx = events_tx.clone();
                async move {
                    let _ = tx.send(e);
                }
            })
            .connect(server.url())
            .await
            .unwrap();
        let mut sub = reader.subscribe("slow.feed").await.unwrap();
        server_sync(&reader).await;

        // The healthy reader confirms every 256 KiB batch before the next one is sent, so its
        // own backlog stays well under max_pending on any server, with or without the
        // fast-producer stall nats-server applies; only the stuck socket piles up 32 MiB.
        let p = connect(&server).await;
        let body = Bytes::from(vec![b'z'; 8 * 1024]);
        for batch in 0..BATCHES {
            for _ in 0..PER_BATCH {
                p.publish("slow.feed", body.clone()).await.unwrap();
            }
            p.flush().await.unwrap();
            for i in 0..PER_BATCH {
                let m = match tokio::time::timeout(STEP, sub.next()).await {
                    Ok(Some(m)) => m,
                    other => {
                        let mut seen = Vec::new();
                        while let Ok(e) = events.try_recv() {
                            seen.push(e.to_string());
                        }
                        panic!(
                            "healthy subscriber stalled at batch {batch}, message {i} ({:?}); \
                             its client events: {seen:?}",
                            other.map(|m| m.is_some())
                        );
                    }
                };
                assert_eq!(m.payload.len(), body.len());
            }
        }
        let mut seen = Vec::new();
        while let Ok(e) = events.try_recv() {
            seen.push(e.to_string());
        }
        assert!(
            !seen.iter().any(|e| e == "disconnected"),
            "the healthy subscriber was disconnected: {seen:?}"
        );
        // 32 MiB were routed to a socket nobody reads: the server must have dropped it.
        let got = stuck.read_to_end().await;
        assert!(
            got.len() < BATCHES * PER_BATCH * body.len(),
            "slow consumer was not cut off: received all {} bytes",
            got.len()
        );
    })
    .await;
}

#[tokio::test]
async fn thousand_concurrent_connections_each_get_a_message() {
    const N: usize = 1000;
    let server = TestServer::start().await;
    within(180, "1000 connections", async {
        let url = server.url();
        let clients: Vec<(
            async_nats::Client,
            async_nats::Subscriber,
            async_nats::Subscriber,
        )> = stream::iter(0..N)
            .map(|i| {
                let url = url.clone();
                async move {
                    let c = ConnectOptions::new()
                        .subscription_capacity(8)
                        .connect(url)
                        .await
                        .unwrap_or_else(|e| panic!("connection {i}: {e}"));
                    let own = c.subscribe(format!("crowd.{i}")).await.unwrap();
                    let all = c.subscribe("crowd.all").await.unwrap();
                    server_sync(&c).await;
                    (c, own, all)
                }
            })
            .buffer_unordered(50)
            .collect()
            .await;
        assert_eq!(clients.len(), N);

        let p = connect(&server).await;
        p.publish("crowd.all", "everyone".into()).await.unwrap();
        for i in 0..N {
            p.publish(format!("crowd.{i}"), i.to_string().into())
                .await
                .unwrap();
        }
        server_sync(&p).await;

        let results: Vec<_> = stream::iter(clients)
            .map(|(c, mut own, mut all)| async move {
                let a = next_msg(&mut all, "broadcast").await;
                let o = next_msg(&mut own, "own").await;
                let _keep_open = c;
                (a.payload, o.subject.to_string(), o.payload)
            })
            .buffer_unordered(N)
            .collect()
            .await;
        let mut seen = HashSet::new();
        for (broadcast, subject, own) in results {
            assert_eq!(broadcast, "everyone");
            assert_eq!(
                subject,
                format!("crowd.{}", std::str::from_utf8(&own).unwrap())
            );
            assert!(seen.insert(own));
        }
        assert_eq!(seen.len(), N);

        // A newcomer is still served while the thousand are connected.
        let late = connect(&server).await;
        let mut s = late.subscribe("crowd.late").await.unwrap();
        server_sync(&late).await;
        p.publish("crowd.late", "hi".into()).await.unwrap();
        assert_eq!(next_msg(&mut s, "newcomer").await.payload, "hi");
    })
    .await;
}

#[tokio::test]
async fn readme_quickstart_example_runs() {
    let server = TestServer::start().await;
    let line = within(30, "quickstart", quickstart::run(&server.url()))
        .await
        .expect("quickstart runs");
    assert_eq!(line, "received on greet.joe: hello from async-nats");
}

//! Fast producers and consumers that fall behind: nats-server holds back a publisher for a
//! moment when a subscriber's pending bytes pass half of `max_pending`, so a healthy but
//! briefly slower subscriber is not cut off, while one that never reads still is.

mod server_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use natter_server::{Server, ServerHandle};
use server_support::Raw;
use tokio::time::timeout;

const MAX_PENDING: usize = 256 * 1024;
const BODY: usize = 8 * 1024;
/// 32 MiB in all: 128 times `max_pending`.
const COUNT: usize = 4096;
/// Hang guard only: nothing here measures speed.
const HANG: Duration = Duration::from_secs(120);

async fn start(write_deadline: Duration) -> ServerHandle {
    Server::builder()
        .host("127.0.0.1")
        .port(0)
        .max_pending(MAX_PENDING)
        .max_payload(64 * 1024)
        .write_deadline(write_deadline)
        .start()
        .await
        .unwrap()
}

/// An async-nats client that records whether it was ever disconnected.
async fn watched(server: &ServerHandle) -> (async_nats::Client, Arc<AtomicBool>) {
    let lost = Arc::new(AtomicBool::new(false));
    let flag = lost.clone();
    let client = async_nats::ConnectOptions::new()
        .event_callback(move |e| {
            let flag = flag.clone();
            async move {
                if matches!(e, async_nats::Event::Disconnected) {
                    flag.store(true, Ordering::SeqCst);
                }
            }
        })
        .connect(server.client_url())
        .await
        .unwrap();
    (client, lost)
}

/// Publishes `COUNT` numbered bodies as fast as the client library allows, then flushes.
async fn flood(publisher: &async_nats::Client, subject: &'static str) {
    for i in 0..COUNT {
        let mut body = vec![b'x'; BODY];
        body[..8].copy_from_slice(&(i as u64).to_be_bytes());
        publisher.publish(subject, Bytes::from(body)).await.unwrap();
    }
    publisher.flush().await.unwrap();
}

/// Reads `COUNT` messages and checks they arrive complete and in order.
async fn receive_all(mut sub: async_nats::Subscriber) -> usize {
    let mut n = 0;
    while n < COUNT {
        let Ok(Some(m)) = timeout(Duration::from_secs(10), sub.next()).await else {
            break;
        };
        assert_eq!(m.payload.len(), BODY);
        assert_eq!(&m.payload[..8], &(n as u64).to_be_bytes(), "message {n}");
        n += 1;
    }
    n
}

/// A raw subscriber that never reads after the handshake.
async fn stuck_subscriber(server: &ServerHandle, subject: &str) -> Raw {
    let (mut raw, _) = Raw::handshake(server.addr()).await;
    raw.send(format!("CONNECT {{\"verbose\":false}}\r\nSUB {subject} 1\r\n").as_bytes())
        .await;
    raw.sync().await;
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn healthy_subscriber_keeps_up_with_a_flooding_publisher() {
    let server = start(Duration::from_secs(10)).await;
    let (subscriber, lost) = watched(&server).await;
    let sub = subscriber.subscribe("flood").await.unwrap();
    subscriber.flush().await.unwrap();
    let reader = tokio::spawn(receive_all(sub));

    let publisher = async_nats::connect(server.client_url()).await.unwrap();
    timeout(HANG, flood(&publisher, "flood")).await.unwrap();
    let got = timeout(HANG, reader).await.unwrap().unwrap();

    assert_eq!(got, COUNT, "the subscriber missed messages");
    assert!(
        !lost.load(Ordering::SeqCst),
        "the subscriber was disconnected"
    );
    assert_eq!(server.router().stats().slow_consumers, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscriber_that_never_reads_is_still_a_slow_consumer() {
    let server = start(Duration::from_secs(10)).await;
    let stuck = stuck_subscriber(&server, "flood").await;
    let publisher = async_nats::connect(server.client_url()).await.unwrap();

    timeout(HANG, flood(&publisher, "flood")).await.unwrap();

    assert_eq!(server.router().stats().slow_consumers, 1);
    // Only the publisher is left.
    timeout(HANG, async {
        while server.num_clients() != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    drop(stuck);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_consumer_socket_is_dropped_without_waiting_for_the_write_deadline() {
    // A write deadline longer than the test: only an immediate close can pass.
    let server = start(Duration::from_secs(3600)).await;
    let stuck = stuck_subscriber(&server, "flood").await;
    let publisher = async_nats::connect(server.client_url()).await.unwrap();

    // Paced, so the socket buffers fill up first and the server's writer is blocked in a
    // write when the pending bytes finally pass max_pending.
    let body = Bytes::from(vec![b'x'; BODY]);
    timeout(HANG, async {
        while server.router().stats().slow_consumers == 0 {
            for _ in 0..16 {
                publisher.publish("flood", body.clone()).await.unwrap();
            }
            publisher.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap();

    // nats-server does not flush to a slow consumer: its connection ends at once, even
    // though its writer is blocked on a socket nobody reads.
    timeout(Duration::from_secs(30), async {
        while server.num_clients() != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the slow consumer's connection was kept open");
    drop(stuck);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_subscribers_are_unaffected_by_a_slow_consumer() {
    let server = start(Duration::from_secs(10)).await;
    let stuck = stuck_subscriber(&server, "flood").await;

    // A healthy subscriber on the flooded subject gets every message.
    let (healthy, healthy_lost) = watched(&server).await;
    let sub = healthy.subscribe("flood").await.unwrap();
    healthy.flush().await.unwrap();
    let healthy_reader = tokio::spawn(receive_all(sub));

    // An unrelated pair keeps exchanging requests while the flood runs.
    let responder = async_nats::connect(server.client_url()).await.unwrap();
    let mut service = responder.subscribe("calm.echo").await.unwrap();
    responder.flush().await.unwrap();
    let echo = tokio::spawn(async move {
        while let Some(m) = service.next().await {
            if let Some(reply) = m.reply {
                responder.publish(reply, m.payload).await.unwrap();
            }
        }
    });
    let requester = async_nats::connect(server.client_url()).await.unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let calm = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut answered = 0u32;
            while !done.load(Ordering::SeqCst) || answered == 0 {
                let body = Bytes::from(answered.to_string());
                let r = requester.request("calm.echo", body.clone()).await.unwrap();
                assert_eq!(r.payload, body);
                answered += 1;
            }
            answered
        })
    };

    let publisher = async_nats::connect(server.client_url()).await.unwrap();
    timeout(HANG, flood(&publisher, "flood")).await.unwrap();
    done.store(true, Ordering::SeqCst);

    assert_eq!(timeout(HANG, healthy_reader).await.unwrap().unwrap(), COUNT);
    assert!(!healthy_lost.load(Ordering::SeqCst));
    assert!(timeout(HANG, calm).await.unwrap().unwrap() > 0);
    assert_eq!(server.router().stats().slow_consumers, 1);
    echo.abort();
    drop(stuck);
    server.shutdown().await;
}

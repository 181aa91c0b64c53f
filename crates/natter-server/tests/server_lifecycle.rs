//! Starting, stopping and lame duck mode, with real clients.

mod server_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use natter_server::Server;
use server_support::{start_local, within, Raw};

#[tokio::test]
async fn two_servers_in_one_process_are_independent() {
    let a = Server::builder().port(0).start().await.unwrap();
    let b = Server::builder().port(0).start().await.unwrap();
    assert_ne!(a.addr().port(), b.addr().port());
    assert_ne!(a.id(), b.id());
    let ca = async_nats::connect(a.client_url()).await.unwrap();
    let cb = async_nats::connect(b.client_url()).await.unwrap();
    let mut sub_a = ca.subscribe("x").await.unwrap();
    let mut sub_b = cb.subscribe("x").await.unwrap();
    ca.flush().await.unwrap();
    cb.flush().await.unwrap();
    cb.publish("x", "for b".into()).await.unwrap();
    cb.flush().await.unwrap();
    assert_eq!(within(sub_b.next()).await.unwrap().payload, "for b");
    ca.publish("x", "for a".into()).await.unwrap();
    assert_eq!(within(sub_a.next()).await.unwrap().payload, "for a");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn restart_on_the_same_port_right_away() {
    let first = start_local().await;
    let port = first.addr().port();
    // Leave an established connection behind so the old socket has TIME_WAIT state.
    let (mut raw, _) = Raw::handshake(first.addr()).await;
    raw.send(b"CONNECT {\"verbose\":false}\r\n").await;
    raw.sync().await;
    first.shutdown().await;
    assert!(raw.read_to_eof().await.is_empty());

    let second = Server::builder()
        .host("127.0.0.1")
        .port(port)
        .start()
        .await
        .expect("rebinding the same port");
    assert_eq!(second.addr().port(), port);
    let client = async_nats::connect(second.client_url()).await.unwrap();
    client.flush().await.unwrap();
    second.shutdown().await;
}

#[tokio::test]
async fn port_in_use_is_a_bind_error() {
    let first = start_local().await;
    let err = Server::builder()
        .host("127.0.0.1")
        .port(first.addr().port())
        .start()
        .await
        .expect_err("port is taken");
    assert!(err.is_bind(), "{err}");
    first.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_flushes_pending_messages() {
    let server = start_local().await;
    let (mut sub, _) = Raw::handshake(server.addr()).await;
    sub.send(b"CONNECT {\"verbose\":false}\r\nSUB big 1\r\n")
        .await;
    sub.sync().await;
    // Queue far more than one socket buffer holds, without reading, then shut down.
    let (mut publisher, _) = Raw::handshake(server.addr()).await;
    let payload = vec![b'x'; 64 * 1024];
    let mut frame = format!("PUB big {}\r\n", payload.len()).into_bytes();
    frame.extend_from_slice(&payload);
    frame.extend_from_slice(b"\r\n");
    publisher.send(b"CONNECT {\"verbose\":false}\r\n").await;
    for _ in 0..64 {
        publisher.send(&frame).await;
    }
    publisher.sync().await;
    let stop = tokio::spawn(server.shutdown());
    let got = sub.read_to_eof().await;
    within(stop).await.unwrap();
    let header = format!("MSG big 1 {}\r\n", payload.len());
    let msgs = got
        .windows(header.len())
        .filter(|w| *w == header.as_bytes())
        .count();
    assert_eq!(
        msgs, 64,
        "every queued message is delivered before the close"
    );
    assert!(sub.eof);
}

#[tokio::test]
async fn shutdown_closes_clients_and_stops_listening() {
    let server = start_local().await;
    let addr = server.addr();
    let (mut raw, _) = Raw::handshake(addr).await;
    within(server.shutdown()).await;
    assert!(raw.read_to_eof().await.is_empty());
    assert!(raw.eof);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn lame_duck_tells_clients_and_closes_them() {
    let server = Server::builder()
        .host("127.0.0.1")
        .port(0)
        .lame_duck(Duration::from_millis(600), Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let saw_ldm = Arc::new(AtomicBool::new(false));
    let flag = saw_ldm.clone();
    let client = async_nats::ConnectOptions::new()
        .event_callback(move |e| {
            let flag = flag.clone();
            async move {
                if matches!(e, async_nats::Event::LameDuckMode) {
                    flag.store(true, Ordering::SeqCst);
                }
            }
        })
        .connect(server.client_url())
        .await
        .unwrap();
    client.flush().await.unwrap();
    // A raw client that spoke protocol 1 and had a PONG gets the INFO with ldm too.
    let (mut raw, _) = Raw::handshake(server.addr()).await;
    raw.send(b"CONNECT {\"verbose\":false,\"protocol\":1}\r\n")
        .await;
    raw.sync().await;

    server.lame_duck();
    assert!(server.is_lame_duck());
    let line = raw.read_line().await;
    assert!(
        line.starts_with("INFO {") && line.contains("\"ldm\":true"),
        "{line}"
    );
    // No new clients in lame duck mode.
    within(async {
        while tokio::net::TcpStream::connect(server.addr()).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    within(server.stopped()).await;
    assert!(raw.read_to_eof().await.is_empty());
    assert!(raw.eof);
    assert!(
        saw_ldm.load(Ordering::SeqCst),
        "async-nats reported lame duck mode"
    );
}

#[tokio::test]
async fn lame_duck_without_clients_stops_at_once() {
    let server = Server::builder()
        .port(0)
        .lame_duck(Duration::from_secs(30), Duration::from_secs(10))
        .start()
        .await
        .unwrap();
    server.lame_duck();
    within(server.stopped()).await;
}

#[tokio::test]
async fn router_sees_socket_subscriptions_until_close() {
    let server = Server::builder().port(0).start().await.unwrap();
    let router = server.router().clone();
    let client = async_nats::connect(server.client_url()).await.unwrap();
    let _sub = client.subscribe("inproc.>").await.unwrap();
    // async-nats' flush only empties its own buffer; wait for the SUB to arrive.
    within(async {
        while !router.global_account().has_interest(b"inproc.a.b") {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(router.global_account().subscription_count(), 1);
    server.shutdown().await;
    assert!(!router.global_account().has_interest(b"inproc.a.b"));
    assert_eq!(router.global_account().subscription_count(), 0);
}

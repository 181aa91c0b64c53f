//! Connection lifecycle details checked against nats-server 2.9.10 on the wire.

mod server_support;

use std::time::Duration;

use natter_server::Server;
use server_support::Raw;

/// nats-server 2.9.10 with `ping_interval: "3s"` and a client that never sends CONNECT:
/// PINGs at 3 s and 6 s, `-ERR 'Stale Connection'` at 9 s. After a CONNECT the first PING
/// comes early (about 2 s) instead.
#[tokio::test]
async fn first_ping_is_short_only_after_connect() {
    let server = Server::builder()
        .host("127.0.0.1")
        .port(0)
        .ping_interval(Duration::from_secs(6))
        .start()
        .await
        .unwrap();

    let (mut raw, _) = Raw::handshake(server.addr()).await;
    // Before CONNECT the full interval applies: nothing in the first 2.5 s.
    assert_eq!(raw.read_for(Duration::from_millis(2500)).await, b"");
    raw.send(b"CONNECT {\"verbose\":false}\r\n").await;
    // The short first PING, 2 s after CONNECT; the full interval would put it 3.5 s later.
    let got = raw.read_for(Duration::from_millis(3000)).await;
    assert_eq!(got, b"PING\r\n");
    assert!(!raw.eof);
    server.shutdown().await;
}

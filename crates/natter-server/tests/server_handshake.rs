//! Handshake, auth and limits on a real listener, checked at the byte level and with async-nats.

mod server_support;

use std::time::Duration;

use natter_server::{Server, ServerHandle};
use server_support::{within, Raw};

async fn start(b: natter_server::ServerBuilder) -> ServerHandle {
    b.host("127.0.0.1").port(0).start().await.expect("start")
}

#[tokio::test]
async fn info_has_the_nats_fields() {
    let server = start(Server::builder().name("alpha").max_payload(2048)).await;
    let mut raw = Raw::connect(server.addr()).await;
    let line = raw.read_line().await;
    assert!(line.starts_with("INFO {"), "{line:?}");
    assert!(
        line.ends_with("} \r\n"),
        "INFO ends with a space before CRLF: {line:?}"
    );
    let (_, info) = Raw::handshake(server.addr()).await;
    assert_eq!(info["server_id"], server.id());
    assert_eq!(server.id().len(), 56);
    assert!(server.id().starts_with('N'));
    assert_eq!(info["server_name"], "alpha");
    assert_eq!(info["version"], "2.10.0");
    assert_eq!(info["proto"], 1);
    assert_eq!(info["host"], "127.0.0.1");
    assert_eq!(info["port"], server.addr().port());
    assert_eq!(info["headers"], true);
    assert_eq!(info["max_payload"], 2048);
    assert_eq!(info["client_ip"], "127.0.0.1");
    assert!(info["client_id"].as_u64().is_some());
    assert!(info["natter_version"].is_string());
    assert!(
        info.get("auth_required").is_none(),
        "only sent when auth is on: {info}"
    );
    assert!(info.get("ldm").is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn server_name_defaults_to_id() {
    let server = start(Server::builder()).await;
    let (_, info) = Raw::handshake(server.addr()).await;
    assert_eq!(info["server_name"], server.id());
    assert_eq!(server.name(), server.id());
    server.shutdown().await;
}

#[tokio::test]
async fn ping_before_connect_gets_pong_and_verbose_is_default() {
    let server = start(Server::builder()).await;
    let (mut raw, _) = Raw::handshake(server.addr()).await;
    raw.send(b"PING\r\n").await;
    assert_eq!(raw.read_line().await, "PONG\r\n");
    // CONNECT without "verbose" means verbose: +OK for CONNECT, SUB and PUB.
    raw.send(b"CONNECT {}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\n")
        .await;
    assert_eq!(raw.read_line().await, "+OK\r\n");
    assert_eq!(raw.read_line().await, "+OK\r\n");
    assert_eq!(raw.read_line().await, "+OK\r\n");
    assert_eq!(raw.read_line().await, "MSG foo 1 2\r\n");
    assert_eq!(raw.read_line().await, "hi\r\n");
    server.shutdown().await;
}

#[tokio::test]
async fn pedantic_errors_keep_the_connection() {
    let server = start(Server::builder()).await;
    let (mut raw, _) = Raw::handshake(server.addr()).await;
    raw.send(b"CONNECT {\"verbose\":false}\r\nPUB foo.* 1\r\na\r\nSUB foo..bar 2\r\n")
        .await;
    let got = raw.sync().await;
    assert_eq!(
        got,
        "-ERR 'Invalid Publish Subject'\r\n-ERR 'Invalid Subject'\r\n"
    );
    // Not pedantic: nats-server routes a wildcard publish subject as a literal.
    let (mut raw, _) = Raw::handshake(server.addr()).await;
    raw.send(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPUB foo.* 1\r\na\r\n")
        .await;
    assert_eq!(raw.sync().await, "");
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_op_and_payload_limits_close() {
    let server = start(Server::builder().max_payload(100)).await;
    let (mut raw, info) = Raw::handshake(server.addr()).await;
    assert_eq!(info["max_payload"], 100);
    raw.send(b"CONNECT {\"verbose\":false}\r\nPUB foo 101\r\n")
        .await;
    assert_eq!(
        raw.read_to_eof().await,
        b"-ERR 'Maximum Payload Violation'\r\n"
    );
    assert!(raw.eof);

    let (mut raw, _) = Raw::handshake(server.addr()).await;
    raw.send(b"FOO bar\r\n").await;
    assert_eq!(
        raw.read_to_eof().await,
        b"-ERR 'Unknown Protocol Operation'\r\n"
    );
    assert!(raw.eof);
    server.shutdown().await;
}

#[tokio::test]
async fn connect_checks_protocol_and_headers() {
    let server = start(Server::builder()).await;
    let (mut raw, _) = Raw::handshake(server.addr()).await;
    raw.send(b"CONNECT {\"protocol\":2}\r\n").await;
    assert_eq!(
        raw.read_to_eof().await,
        b"-ERR 'invalid client protocol'\r\n"
    );
    let (mut raw, _) = Raw::handshake(server.addr()).await;
    raw.send(b"CONNECT {\"no_responders\":true}\r\n").await;
    assert_eq!(
        raw.read_to_eof().await,
        b"-ERR 'no responders requires headers support'\r\n"
    );
    // HPUB without having declared headers: closed without a word, as nats-server does.
    let (mut raw, _) = Raw::handshake(server.addr()).await;
    raw.send(b"CONNECT {\"verbose\":false}\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n")
        .await;
    assert_eq!(raw.read_to_eof().await, b"");
    assert!(raw.eof);
    server.shutdown().await;
}

#[tokio::test]
async fn user_and_password() {
    let server = start(Server::builder().user("alice", "s3cret")).await;
    let (mut raw, info) = Raw::handshake(server.addr()).await;
    assert_eq!(info["auth_required"], true);
    // Anything but CONNECT first, PING included, is a violation when auth is on.
    raw.send(b"PING\r\n").await;
    assert_eq!(
        raw.read_to_eof().await,
        b"-ERR 'Authorization Violation'\r\n"
    );

    let (mut raw, _) = Raw::handshake(server.addr()).await;
    raw.send(b"CONNECT {\"user\":\"alice\",\"pass\":\"wrong\"}\r\n")
        .await;
    assert_eq!(
        raw.read_to_eof().await,
        b"-ERR 'Authorization Violation'\r\n"
    );

    let (mut raw, _) = Raw::handshake(server.addr()).await;
    raw.send(b"CONNECT {\"user\":\"alice\",\"pass\":\"s3cret\",\"verbose\":false}\r\n")
        .await;
    assert_eq!(raw.sync().await, "");

    let url = server.client_url();
    let good = async_nats::ConnectOptions::with_user_and_password("alice".into(), "s3cret".into())
        .connect(&url)
        .await
        .expect("good credentials connect");
    good.flush().await.expect("flush");
    let bad = async_nats::ConnectOptions::with_user_and_password("alice".into(), "nope".into())
        .connect(&url)
        .await;
    assert!(bad.is_err(), "wrong password is refused");
    server.shutdown().await;
}

#[tokio::test]
async fn token_auth() {
    let server = start(Server::builder().token("t0ken")).await;
    let url = server.client_url();
    let good = async_nats::ConnectOptions::with_token("t0ken".into())
        .connect(&url)
        .await
        .expect("good token connects");
    good.flush().await.expect("flush");

    let (mut raw, _) = Raw::handshake(server.addr()).await;
    raw.send(b"CONNECT {\"auth_token\":\"other\"}\r\n").await;
    assert_eq!(
        raw.read_to_eof().await,
        b"-ERR 'Authorization Violation'\r\n"
    );

    let (mut raw, _) = Raw::handshake(server.addr()).await;
    raw.send(b"CONNECT {\"auth_token\":\"t0ken\",\"verbose\":false}\r\n")
        .await;
    assert_eq!(raw.sync().await, "");
    server.shutdown().await;
}

#[tokio::test]
async fn auth_timeout_closes_silent_clients() {
    let server = start(
        Server::builder()
            .token("t")
            .auth_timeout(Duration::from_millis(200)),
    )
    .await;
    let (mut raw, _) = Raw::handshake(server.addr()).await;
    assert_eq!(
        raw.read_to_eof().await,
        b"-ERR 'Authentication Timeout'\r\n"
    );
    assert!(raw.eof);
    server.shutdown().await;
}

#[tokio::test]
async fn max_connections_rejects_the_extra_client() {
    let server = start(Server::builder().max_connections(2)).await;
    let (mut a, _) = Raw::handshake(server.addr()).await;
    let (_b, _) = Raw::handshake(server.addr()).await;
    let (mut c, _) = Raw::handshake(server.addr()).await;
    assert_eq!(
        c.read_to_eof().await,
        b"-ERR 'maximum connections exceeded'\r\n"
    );
    assert!(c.eof);
    // The first clients are unaffected, and a slot frees when one leaves.
    a.send(b"CONNECT {\"verbose\":false}\r\n").await;
    assert_eq!(a.sync().await, "");
    drop(a);
    within(async {
        while server.num_clients() > 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let (mut d, _) = Raw::handshake(server.addr()).await;
    d.send(b"CONNECT {\"verbose\":false}\r\n").await;
    assert_eq!(d.sync().await, "");
    server.shutdown().await;
}

#[tokio::test]
async fn stale_connection_is_closed() {
    let server = start(
        Server::builder()
            .ping_interval(Duration::from_millis(100))
            .ping_max(2),
    )
    .await;
    let (mut raw, _) = Raw::handshake(server.addr()).await;
    raw.send(b"CONNECT {\"verbose\":false}\r\n").await;
    let got = raw.read_to_eof().await;
    assert_eq!(got, b"PING\r\nPING\r\n-ERR 'Stale Connection'\r\n");
    assert!(raw.eof);

    // A client that answers PINGs (async-nats does) stays connected.
    let client = async_nats::connect(server.client_url()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    client.flush().await.expect("still connected");
    assert_eq!(
        client.connection_state(),
        async_nats::connection::State::Connected
    );
    server.shutdown().await;
}

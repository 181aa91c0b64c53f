//! Helpers shared by the integration tests: socket-kind sessions whose outbound bytes
//! the tests read directly.
#![allow(dead_code)]

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use natter_proto::Connect;
use natter_router::{Client, ClientInfo, Router};

pub fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// A socket session in the global account with CONNECT defaults plus `f`'s changes.
pub fn socket(router: &Router, f: impl FnOnce(&mut Connect)) -> Arc<Client> {
    let c = router.register(
        &router.global_account(),
        ClientInfo {
            host: "127.0.0.1".into(),
            port: 40000,
            ..Default::default()
        },
    );
    let mut connect = Connect::default();
    f(&mut connect);
    c.set_connect(&connect);
    c
}

/// A socket session that understands headers and wants no-responders statuses.
pub fn modern(router: &Router) -> Arc<Client> {
    socket(router, |c| {
        c.headers = true;
        c.no_responders = true;
    })
}

/// Everything queued for `c` so far, as a string; taken and reported written, as the
/// connection writer does.
pub fn drain(c: &Client) -> String {
    let mut buf = BytesMut::new();
    c.outbound().take(&mut buf);
    c.outbound().written(buf.len());
    String::from_utf8(buf.to_vec()).expect("frames in tests are text")
}

pub fn sub(c: &Client, sid: &str, subject: &str) {
    c.subscribe(b(sid), b(subject), None).expect("subscribe");
}

pub fn qsub(c: &Client, sid: &str, subject: &str, queue: &str) {
    c.subscribe(b(sid), b(subject), Some(b(queue)))
        .expect("queue subscribe");
}

pub fn publish(c: &Client, subject: &str, payload: &str) {
    c.publish(&b(subject), None, None, &b(payload))
        .expect("publish");
}

/// Splits a run of `MSG` frames (no headers) into their control lines, sorted, so
/// tests need not depend on the order the sublist returns subscribers in.
pub fn msg_lines(out: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rest = out;
    while !rest.is_empty() {
        let (line, tail) = rest.split_once("\r\n").expect("complete control line");
        let size: usize = line
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .expect("size");
        lines.push(line.to_string());
        rest = &tail[size + 2..];
    }
    lines.sort();
    lines
}

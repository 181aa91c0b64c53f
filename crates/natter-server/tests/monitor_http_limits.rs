//! The monitoring port stays usable when clients misbehave: sockets that never send a
//! request must not lock out a well-behaved `/varz` poll (harnesses and orchestrators use
//! it to decide whether the server is up), and a request trickling in one byte per read
//! still gets its answer.

mod monitor_common;

use std::time::Duration;

use monitor_common::{get, monitor, parse_answer, start, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};

/// More idle sockets than the monitor serves at once.
const IDLE_SOCKETS: usize = 300;

/// Well under the 10 s a request head may take to arrive, so waiting out the idle sockets'
/// read timeout cannot pass for an answer.
const PROMPT: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_do_not_lock_out_a_new_request() {
    let server = start().await;
    let addr = monitor(&server);

    let mut idle = Vec::with_capacity(IDLE_SOCKETS);
    for _ in 0..IDLE_SOCKETS {
        idle.push(TcpStream::connect(addr).await.expect("idle connect"));
    }

    let answer = timeout(PROMPT, get(addr, "/varz"))
        .await
        .expect("/varz answers while idle sockets are open");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.json()["server_id"].is_string(),
        "varz body: {}",
        answer.body
    );

    // Room was made without refusing anyone: the port keeps answering.
    let again = timeout(PROMPT, get(addr, "/healthz"))
        .await
        .expect("a second request answers too");
    assert_eq!(again.status, 200, "{}", again.body);

    drop(idle);
    server.shutdown().await;
}

#[tokio::test]
async fn a_socket_that_sends_nothing_is_closed_well_before_the_read_timeout() {
    let server = start().await;
    let mut s = TcpStream::connect(monitor(&server)).await.unwrap();
    let mut got = Vec::new();
    let n = timeout(Duration::from_secs(6), s.read_to_end(&mut got))
        .await
        .expect("closed by the idle timeout, not the 10 s request timeout")
        .expect("a clean close");
    assert_eq!(n, 0, "no answer to a request never sent: {got:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_request_sent_one_byte_at_a_time_is_answered() {
    let server = start().await;
    let mut s = TcpStream::connect(monitor(&server)).await.unwrap();
    s.set_nodelay(true).unwrap();
    let request =
        b"GET /varz HTTP/1.1\r\nHost: test\r\nUser-Agent: trickle\r\nConnection: close\r\n\r\n";
    timeout(WAIT, async {
        for byte in request {
            s.write_all(std::slice::from_ref(byte)).await.unwrap();
            s.flush().await.unwrap();
            // Let each byte arrive as a read of its own.
            sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the request is sent");
    let mut out = Vec::new();
    timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("an answer")
        .unwrap();
    let answer = parse_answer(&String::from_utf8(out).unwrap());
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.json()["server_id"].is_string(), "{}", answer.body);
    server.shutdown().await;
}

//! The fast-producer stall: a publisher that pushes a subscriber past half of
//! `max_pending` waits, bounded, for it to catch up (nats-server 2.9/2.10 timings).

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use common::*;
use natter_router::{Client, CloseReason, LocalOptions, Router, RouterOptions};
use tokio::time::Instant;

const MAX_PENDING: usize = 10_000;
const BODY: usize = 1_000;

fn router() -> Router {
    Router::new(RouterOptions {
        max_pending: MAX_PENDING,
        ..Default::default()
    })
}

/// Publishes `BODY`-byte messages on `subject` until `target` is stalled.
fn fill(p: &Client, target: &Client, subject: &str) -> usize {
    let body = "x".repeat(BODY);
    let mut n = 0;
    while !target.outbound().is_stalled() {
        publish(p, subject, &body);
        n += 1;
        assert!(n < 100, "never stalled");
    }
    n
}

/// A writer that takes everything and reports it written.
fn write_all(c: &Client) {
    let mut buf = BytesMut::new();
    c.outbound().take(&mut buf);
    c.outbound().written(buf.len());
}

#[tokio::test(start_paused = true)]
async fn stall_starts_past_half_and_ends_when_the_writer_drains() {
    let r = router();
    let s = socket(&r, |_| {});
    let p = socket(&r, |_| {});
    sub(&s, "1", "feed");

    let n = fill(&p, &s, "feed");
    // Past half, not before: each frame is a little over BODY bytes.
    assert_eq!(n, MAX_PENDING / 2 / BODY);
    assert!(s.outbound().unsent_bytes() > MAX_PENDING / 2);
    assert!(p.is_stalling());
    // The writer taking the bytes is not enough: they count until written.
    let mut buf = BytesMut::new();
    s.outbound().take(&mut buf);
    assert!(s.outbound().is_stalled());
    assert_eq!(s.outbound().unsent_bytes(), buf.len());

    let start = Instant::now();
    let writer = {
        let s = s.clone();
        let len = buf.len();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            // Partial progress that stays past half does not release the publisher.
            s.outbound().written(50);
            assert!(s.outbound().is_stalled());
            tokio::time::sleep(Duration::from_millis(20)).await;
            s.outbound().written(len - 50);
        })
    };
    p.stall_wait().await;
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    assert!(!s.outbound().is_stalled());
    assert!(!p.is_stalling());
    writer.await.unwrap();
    assert!(!s.is_closed());
}

#[tokio::test(start_paused = true)]
async fn stall_wait_is_bounded_and_skips_a_subscriber_that_never_moves() {
    let r = router();
    let s = socket(&r, |_| {});
    let p = socket(&r, |_| {});
    sub(&s, "1", "feed");
    fill(&p, &s, "feed");

    // Just past half: the shortest wait.
    let start = Instant::now();
    p.stall_wait().await;
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert!(s.outbound().is_stalled());

    // Nothing moved during that whole wait: the next publish does not wait for it.
    publish(&p, "feed", &"x".repeat(BODY));
    assert!(p.is_stalling());
    let start = Instant::now();
    p.stall_wait().await;
    assert_eq!(start.elapsed(), Duration::ZERO);

    // Once it writes something, publishers wait for it again, longer as it fills up:
    // 100 ms more per further 5 % of max_pending.
    let mut buf = BytesMut::new();
    s.outbound().take(&mut buf);
    s.outbound().written(10);
    publish(&p, "feed", &"x".repeat(BODY));
    let unsent = s.outbound().unsent_bytes();
    assert_eq!(unsent, 7 * 1019 - 10);
    let start = Instant::now();
    p.stall_wait().await;
    assert_eq!(start.elapsed(), Duration::from_millis(100 + 100 * 4));

    // And it still ends as a slow consumer when it never catches up.
    for _ in 0..10 {
        publish(&p, "feed", &"x".repeat(BODY));
    }
    assert_eq!(s.close_reason(), Some(CloseReason::SlowConsumer));
    assert!(!s.outbound().is_stalled());
    assert!(!p.is_closed());
}

#[tokio::test(start_paused = true)]
async fn closing_the_subscriber_releases_the_publisher() {
    let r = router();
    let s = socket(&r, |_| {});
    let p = socket(&r, |_| {});
    sub(&s, "1", "feed");
    fill(&p, &s, "feed");
    let closer = {
        let s = s.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            s.close(CloseReason::ClientClosed);
        })
    };
    let start = Instant::now();
    p.stall_wait().await;
    assert_eq!(start.elapsed(), Duration::from_millis(10));
    closer.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn only_the_publishers_that_fed_it_are_held_back() {
    let r = router();
    let slow = socket(&r, |_| {});
    let fast = socket(&r, |_| {});
    let p = socket(&r, |_| {});
    let other = socket(&r, |_| {});
    sub(&slow, "1", "feed");
    sub(&fast, "1", "other");
    fill(&p, &slow, "feed");
    publish(&other, "other", "y");
    assert!(p.is_stalling());
    assert!(!other.is_stalling());
    let start = Instant::now();
    other.stall_wait().await;
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(drain(&fast), "MSG other 1 1\r\ny\r\n");
}

#[tokio::test(start_paused = true)]
async fn local_subscriber_stalls_until_it_reads() {
    let r = router();
    let reader = r.connect(LocalOptions::default());
    let mut feed = reader.subscribe("feed").unwrap();
    let p = socket(&r, |_| {});
    fill(&p, reader.client(), "feed");
    let consumer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let mut n = 0;
        while feed.try_next().is_some() {
            n += 1;
        }
        (n, feed)
    });
    let start = Instant::now();
    p.stall_wait().await;
    assert_eq!(start.elapsed(), Duration::from_millis(40));
    let (n, _feed) = consumer.await.unwrap();
    assert_eq!(n, MAX_PENDING / 2 / BODY);
    assert!(!reader.client().outbound().is_stalled());
    assert_eq!(reader.client().stats().pending_bytes, 0);
}

#[tokio::test(start_paused = true)]
async fn local_publisher_is_held_back_in_flush_only() {
    let r = router();
    let s = socket(&r, |_| {});
    sub(&s, "1", "feed");
    let p = r.connect(LocalOptions::default());
    let body = vec![b'x'; BODY];
    let start = Instant::now();
    while !s.outbound().is_stalled() {
        // Synchronous publish never waits.
        p.publish("feed", body.clone()).unwrap();
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    let s2 = Arc::clone(&s);
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(25)).await;
        write_all(&s2);
    });
    p.flush().await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(25));
    writer.await.unwrap();
    // Nothing stalled: flush returns at once.
    p.flush().await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(25));
}

#[test]
fn unlimited_max_pending_never_stalls() {
    let r = Router::new(RouterOptions {
        max_pending: 0,
        ..Default::default()
    });
    let s = socket(&r, |_| {});
    let p = socket(&r, |_| {});
    sub(&s, "1", "feed");
    for _ in 0..1000 {
        publish(&p, "feed", &"x".repeat(BODY));
    }
    assert!(!s.outbound().is_stalled());
    assert!(!p.is_stalling());
}

//! Closing a session while it subscribes (a write error or a slow consumer detected on
//! another thread) must leave no interest behind and report it exactly once each way.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Barrier};

use common::*;
use natter_router::{CloseReason, InterestKind, Router};

#[test]
fn subscribe_racing_close_leaves_no_interest_behind() {
    const ROUNDS: usize = 20_000;
    let r = Router::default();
    let balance = Arc::new(AtomicI64::new(0));
    let b2 = balance.clone();
    r.on_interest(move |e| {
        let d = match e.kind {
            InterestKind::Added => 1,
            InterestKind::Removed => -1,
        };
        b2.fetch_add(d, Ordering::SeqCst);
    });
    let start = Arc::new(Barrier::new(2));
    let (tx, rx) = std::sync::mpsc::channel::<Option<Arc<natter_router::Client>>>();
    let closer = {
        let start = start.clone();
        std::thread::spawn(move || {
            while let Ok(Some(c)) = rx.recv() {
                start.wait();
                c.close(CloseReason::WriteError);
                start.wait();
            }
        })
    };
    for round in 0..ROUNDS {
        let c = socket(&r, |_| {});
        tx.send(Some(c.clone())).unwrap();
        start.wait();
        let _ = c.subscribe(b("1"), b("race"), None);
        start.wait();
        assert!(
            r.global_account().interest().is_empty(),
            "round {round}: interest left behind by a closed session"
        );
        assert_eq!(balance.load(Ordering::SeqCst), 0, "round {round}");
        assert_eq!(r.stats().subscriptions, 0, "round {round}");
    }
    tx.send(None).unwrap();
    closer.join().unwrap();
}

//! Abuse that must only hurt the abuser: garbage, slow consumers, many connections.

mod server_support;

use std::time::Duration;

use futures::StreamExt;
use natter_server::Server;
use server_support::{start_local, within, Raw};

#[tokio::test]
async fn garbage_flood_does_not_affect_other_clients() {
    let server = start_local().await;
    let good = async_nats::connect(server.client_url()).await.unwrap();
    let mut sub = good.subscribe("ok").await.unwrap();
    good.flush().await.unwrap();

    let mut flooders = Vec::new();
    for i in 0..8u8 {
        let addr = server.addr();
        flooders.push(tokio::spawn(async move {
            let mut raw = Raw::connect(addr).await;
            let junk: Vec<u8> = (0..64 * 1024)
                .map(|j| (j as u8).wrapping_mul(31).wrapping_add(i))
                .collect();
            // The server closes the connection on the first bad op; writes after that fail.
            for _ in 0..16 {
                if tokio::io::AsyncWriteExt::write_all(&mut raw.stream, &junk)
                    .await
                    .is_err()
                {
                    break;
                }
            }
            raw.read_to_eof().await;
            raw.eof
        }));
    }
    for n in 0..100 {
        good.publish("ok", format!("{n}").into()).await.unwrap();
    }
    for n in 0..100 {
        let m = within(sub.next()).await.unwrap();
        assert_eq!(m.payload, format!("{n}"));
    }
    for f in flooders {
        assert!(within(f).await.unwrap(), "a flooder was disconnected");
    }
    good.flush().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_thousand_concurrent_connections() {
    let server = start_local().await;
    let addr = server.addr();
    let mut tasks = Vec::new();
    for i in 0..1000u32 {
        tasks.push(tokio::spawn(async move {
            let (mut raw, info) = Raw::handshake(addr).await;
            let subject = format!("c.{i}");
            let cmd = format!(
                "CONNECT {{\"verbose\":false}}\r\nSUB {subject} 1\r\nPUB {subject} 2\r\nhi\r\n"
            );
            raw.send(cmd.as_bytes()).await;
            let got = raw.sync().await;
            assert_eq!(got, format!("MSG {subject} 1 2\r\nhi\r\n"));
            (raw, info["client_id"].as_u64().unwrap())
        }));
    }
    let mut conns = Vec::new();
    for t in tasks {
        conns.push(within(t).await.unwrap());
    }
    let mut ids: Vec<u64> = conns.iter().map(|c| c.1).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1000, "every connection has its own client id");
    assert_eq!(server.num_clients(), 1000);
    // With all of them open, a new client is served normally.
    let client = async_nats::connect(server.client_url()).await.unwrap();
    let reply = client.request("nobody", "x".into()).await;
    assert!(reply.is_err(), "no responders");
    drop(conns);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_closed_while_others_keep_receiving() {
    let server = Server::builder()
        .host("127.0.0.1")
        .port(0)
        .max_pending(2 * 1024 * 1024)
        .start()
        .await
        .unwrap();
    // The slow one subscribes and never reads.
    let (mut slow, _) = Raw::handshake(server.addr()).await;
    slow.send(b"CONNECT {\"verbose\":false}\r\nSUB feed 1\r\n")
        .await;
    slow.sync().await;

    let fast = async_nats::connect(server.client_url()).await.unwrap();
    let mut sub = fast.subscribe("feed").await.unwrap();
    fast.flush().await.unwrap();
    let publisher = async_nats::connect(server.client_url()).await.unwrap();

    let payload = bytes::Bytes::from(vec![b'p'; 16 * 1024]);
    let total = 2000;
    let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while n < total {
            match tokio::time::timeout(Duration::from_secs(2), sub.next()).await {
                Ok(Some(_)) => n += 1,
                _ => break,
            }
            progress_tx.send_replace(n);
        }
        n
    });
    // Wait for the subscription to be in place: probe until a message comes back.
    within(async {
        while *progress.borrow() == 0 {
            publisher.publish("feed", payload.clone()).await.unwrap();
            let _ = tokio::time::timeout(Duration::from_millis(20), progress.changed()).await;
        }
    })
    .await;
    let mut sent = *progress.borrow();
    // Batches paced by the fast subscriber: it keeps up, the slow one never reads.
    while sent < total {
        for _ in 0..20.min(total - sent) {
            publisher.publish("feed", payload.clone()).await.unwrap();
            sent += 1;
        }
        within(progress.wait_for(|n| *n >= sent)).await.unwrap();
    }
    assert_eq!(
        within(reader).await.unwrap(),
        total,
        "the fast subscriber got everything"
    );
    // 2000 x 16 KiB is far past 2 MiB pending plus socket buffers: the slow one is gone.
    let stats = server.router().stats();
    assert!(stats.slow_consumers >= 1, "{stats:?}");
    let got = slow.read_to_eof().await;
    assert!(slow.eof, "slow consumer closed after {} bytes", got.len());
    server.shutdown().await;
}

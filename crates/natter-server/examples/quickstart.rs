//! Quick start with the async-nats client: connect to a running `natter-server`, subscribe,
//! publish, print what arrives.
//!
//! ```text
//! natter-server &                                   # listens on 127.0.0.1:4222
//! cargo run -p natter-server --example quickstart   # NATS_URL overrides the address
//! ```
//!
//! The interop suite runs `run` against a real server, so this example stays correct.

use futures::StreamExt;

/// Subscribes to `greet.*`, publishes one greeting to `greet.joe`, and returns the line it
/// printed for the message that came back.
pub async fn run(url: &str) -> Result<String, async_nats::Error> {
    let client = async_nats::connect(url).await?;

    let mut greetings = client.subscribe("greet.*").await?;
    // Same connection: the server handles the SUB before this PUB, so the message comes back.
    client
        .publish("greet.joe", "hello from async-nats".into())
        .await?;

    let msg = greetings
        .next()
        .await
        .ok_or("the subscription ended before a message arrived")?;
    let line = format!(
        "received on {}: {}",
        msg.subject,
        String::from_utf8_lossy(&msg.payload)
    );
    println!("{line}");
    Ok(line)
}

#[tokio::main]
async fn main() -> Result<(), async_nats::Error> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_string());
    run(&url).await?;
    Ok(())
}

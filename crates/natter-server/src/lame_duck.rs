//! Lame duck mode: stop taking clients, then close the existing ones gradually so they
//! reconnect elsewhere without a thundering herd.

use std::sync::Arc;
use std::time::Duration;

use natter_router::CloseReason;
use tokio::sync::watch;
use tokio::time::sleep;

use crate::server::{Shared, State};

/// nats-server never waits more than this between two closes, whatever the duration.
const MAX_CLOSE_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) async fn run(shared: Arc<Shared>, guard: watch::Receiver<()>) {
    let opts = shared.options();
    let mut state = shared.state_receiver();
    if !shared.clients().is_empty() {
        let grace = opts.lame_duck_grace_period;
        let shutdown_early = async {
            let _ = state.wait_for(|s| *s == State::Shutdown).await;
        };
        tokio::select! {
            _ = sleep(grace) => {}
            _ = shutdown_early => return,
        }
        let clients = shared.clients();
        if !clients.is_empty() {
            tracing::info!("Closing existing clients");
        }
        let spread = opts
            .lame_duck_duration
            .saturating_sub(grace)
            .max(Duration::from_secs(1));
        let interval = (spread / clients.len().max(1) as u32).min(MAX_CLOSE_INTERVAL);
        for (i, c) in clients.iter().enumerate() {
            if shared.state() == State::Shutdown {
                break;
            }
            c.close(CloseReason::LameDuck);
            if i + 1 < clients.len() {
                sleep(interval).await;
            }
        }
    }
    if shared.state() != State::Shutdown {
        tracing::info!("Initiating Shutdown...");
    }
    shared.set_state(State::Shutdown);
    drop(guard);
}

//! `cargo xtask bench`: the criterion benches of the leaf crates. A side-by-side run against
//! nats-server will replace this once the server can be measured end to end.

use crate::command;
use crate::failure::Failure;
use crate::workspace;

/// Runs `cargo bench -p natter-proto -p natter-sublist`.
pub fn run() -> Result<(), Failure> {
    command::run(
        "bench",
        workspace::cargo().args(["bench", "-p", "natter-proto", "-p", "natter-sublist"]),
    )
}

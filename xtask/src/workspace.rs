//! Where things are: the repository root, the cargo binary, the target directory.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root. xtask is always built from `<root>/xtask`, so its manifest dir says
/// where the root is no matter where `cargo xtask` was typed.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits one level below the repository root")
        .to_path_buf()
}

/// The same cargo that launched us (cargo sets `CARGO` for `cargo run`), so a rustup toolchain
/// override applies to every step.
///
/// Under CI (`CI` set, as CI services do), builds are not incremental unless the caller chose
/// otherwise: a clean clone builds once, and the incremental cache would only add gigabytes
/// to a disk that CI shares.
pub fn cargo() -> Command {
    let program = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    cmd.current_dir(root());
    if env::var_os("CI").is_some_and(|v| !v.is_empty())
        && env::var_os("CARGO_INCREMENTAL").is_none()
    {
        cmd.env("CARGO_INCREMENTAL", "0");
    }
    cmd
}

/// The workspace target directory: `CARGO_TARGET_DIR` when the caller set one, else
/// `<root>/target`. Build outputs are located through cargo's own messages instead; this is
/// only for xtask's own files (the interop virtualenv, the scratch fuzz corpus).
pub fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

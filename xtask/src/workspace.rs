//! Where things are: the repository root, the cargo binary, the target directory.

use std::env;
use std::ffi::OsStr;
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
/// Under CI (`CI` set, as CI services do, to anything but empty, `false` or `0`), builds are not incremental unless the caller chose
/// otherwise: a clean clone builds once, and the incremental cache would only add gigabytes
/// to a disk that CI shares.
pub fn cargo() -> Command {
    let program = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    cmd.current_dir(root());
    if is_ci(env::var_os("CI").as_deref()) && env::var_os("CARGO_INCREMENTAL").is_none() {
        cmd.env("CARGO_INCREMENTAL", "0");
    }
    cmd
}

/// Whether the value of `CI` says this is a CI run: set, and not empty, `false` or `0`.
fn is_ci(value: Option<&OsStr>) -> bool {
    value.is_some_and(|v| {
        let v = v.to_string_lossy();
        let v = v.trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_is_off_when_unset_empty_false_or_zero() {
        let ci = |v: &str| is_ci(Some(OsStr::new(v)));
        assert!(!is_ci(None));
        assert!(!ci(""));
        assert!(!ci("false"));
        assert!(!ci("FALSE"));
        assert!(!ci("0"));
        assert!(ci("true"));
        assert!(ci("1"));
        assert!(ci("yes"));
    }
}

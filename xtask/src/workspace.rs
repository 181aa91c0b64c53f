//! Where things are: the repository root, the cargo binary, the target directory, and the
//! executables a build made (read from cargo's own messages).

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::command;
use crate::failure::Failure;

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

/// Runs `cmd` (a `cargo build` without `--message-format`) and returns the executables it
/// built, as cargo's own messages name them.
pub fn build_executables(step: &str, cmd: &mut Command) -> Result<Vec<PathBuf>, Failure> {
    cmd.arg("--message-format=json-render-diagnostics");
    println!("\n==> [{step}] {}", command::line(cmd));
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Failure::new(step, format!("could not run cargo: {e}")))?;
    if !out.status.success() {
        return Err(command::failed(step, cmd, out.status));
    }
    Ok(executables(&String::from_utf8_lossy(&out.stdout)))
}

/// The executables named in cargo's JSON messages.
fn executables(messages: &str) -> Vec<PathBuf> {
    messages
        .lines()
        .filter(|l| l.contains(r#""reason":"compiler-artifact""#))
        .filter_map(|l| json_string_field(l, "executable"))
        .map(PathBuf::from)
        .collect()
}

/// The executable called `name` among `executables`.
pub fn find_executable(
    step: &str,
    executables: &[PathBuf],
    name: &str,
) -> Result<PathBuf, Failure> {
    executables
        .iter()
        .find(|p| p.file_name().is_some_and(|f| f == name))
        .cloned()
        .ok_or_else(|| Failure::new(step, format!("cargo built no `{name}` executable")))
}

/// The string value of `"field":"..."` in one line of JSON (cargo's messages, a server's INFO), unescaped.
pub fn json_string_field(line: &str, field: &str) -> Option<String> {
    let key = format!("\"{field}\":\"");
    let start = line.find(&key)? + key.len();
    let mut value = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
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

    #[test]
    fn executables_come_from_cargo_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"natter_proto"},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"name":"natter-server"},"executable":"/t/release/natter-server"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
            "\n",
        );
        let found = executables(messages);
        assert_eq!(found, vec![PathBuf::from("/t/release/natter-server")]);
        assert_eq!(
            find_executable("s", &found, "natter-server").ok(),
            Some(PathBuf::from("/t/release/natter-server"))
        );
        assert!(find_executable("s", &found, "natter").is_err());
    }

    #[test]
    fn json_fields_of_info() {
        let info = r#"INFO {"server_id":"N1","version":"2.9.10","go":"go1.19.8","x":"a \"b\""}"#;
        assert_eq!(json_string_field(info, "go").as_deref(), Some("go1.19.8"));
        assert_eq!(json_string_field(info, "x").as_deref(), Some("a \"b\""));
        assert_eq!(json_string_field(info, "missing"), None);
    }
    #[test]
    fn reads_the_executable_of_an_artifact_message() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"natter-server"},"executable":"/w/target/debug/natter-server","fresh":true}"#;
        assert_eq!(
            json_string_field(line, "executable").as_deref(),
            Some("/w/target/debug/natter-server")
        );
    }

    #[test]
    fn unescapes_quotes_and_backslashes() {
        let line = r#"{"executable":"/a \"b\"/c\\d"}"#;
        assert_eq!(
            json_string_field(line, "executable").as_deref(),
            Some(r#"/a "b"/c\d"#)
        );
    }

    #[test]
    fn null_executable_is_absent() {
        let line = r#"{"reason":"compiler-artifact","executable":null}"#;
        assert_eq!(json_string_field(line, "executable"), None);
    }
}

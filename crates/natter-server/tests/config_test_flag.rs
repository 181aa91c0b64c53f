//! `natter-server -t`: passes what `nats-server -t` (v2.9.10) passes, fails what it fails.
//!
//! Settings nats-server has and Natter ignores are shown as notices and never fail the
//! check; warnings nats-server raises itself (old-style bare-number durations) fail it, as
//! under nats-server.

use std::path::PathBuf;
use std::process::{Command, Output};

fn conf(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natter-test-flag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_natter-server"))
        .args(args)
        .output()
        .unwrap()
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn unimplemented_features_do_not_fail_the_check() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("js_block.conf", "jetstream {\n  max_mem: 1G\n}\n", &[]),
        ("js_enabled.conf", "jetstream: enabled\n", &[]),
        (
            "cluster.conf",
            "cluster {\n  name: c\n  listen: 127.0.0.1:-1\n}\n",
            &[],
        ),
        ("accounts.conf", "accounts { A: {} }\n", &[]),
        ("flags.conf", "port: 4333\n", &["-js"]),
        ("flags.conf", "port: 4333\n", &["-js=false"]),
        ("flags.conf", "port: 4333\n", &["-sd=/tmp/natter-js"]),
        (
            "flags.conf",
            "port: 4333\n",
            &["-routes", "nats://127.0.0.1:6222"],
        ),
        ("flags.conf", "port: 4333\n", &["--cluster_name", "c"]),
    ];
    for (name, text, flags) in cases {
        let path = conf(name, text);
        let path = path.to_str().unwrap();
        let mut args = vec!["-c", path, "-t"];
        args.extend_from_slice(flags);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}\n{}", show(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("is valid"), "{args:?}\n{}", show(&out));
        // The notice is still shown.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("notice:") && stderr.contains("not implemented"),
            "{args:?}\n{}",
            show(&out)
        );
    }
}

#[test]
fn nats_server_warnings_fail_the_check() {
    for text in ["write_deadline: 10\n", "ping_interval: 60\n"] {
        let path = conf("old_style.conf", text);
        let out = run(&["-c", path.to_str().unwrap(), "-t"]);
        assert_eq!(out.status.code(), Some(1), "{text}\n{}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("should be converted to a duration"),
            "{text}\n{}",
            show(&out)
        );
    }
}

#[test]
fn a_clean_file_passes_quietly() {
    let path = conf("clean.conf", "port: 4333\nwrite_deadline: \"10s\"\n");
    let out = run(&["-c", path.to_str().unwrap(), "-t"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(out.stderr.is_empty(), "{}", show(&out));
}

#[test]
fn negative_limits_nats_server_starts_with_pass_the_check() {
    let path = conf(
        "negative.conf",
        "max_connections: -1\nmax_payload: -1\nmax_subscriptions: -1\n",
    );
    let out = run(&["-c", path.to_str().unwrap(), "-t"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

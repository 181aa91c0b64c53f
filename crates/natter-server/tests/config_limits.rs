//! Hostile configurations: files that nest without end, variables that expand
//! exponentially, numbers and durations that overflow. Each is answered at once with a
//! located error (or accepted, where nats-server v2.9.10 accepts it), never with a crash.

use std::time::{Duration, Instant};

use natter_server::config::{self, ErrorKind};

/// A SIGHUP reload parses on a runtime worker thread; 256 KiB is well below tokio's 2 MiB, so
/// passing here leaves room there.
const SMALL_STACK: usize = 256 * 1024;

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .unwrap()
        .join()
        .expect("the parse panicked or overflowed its stack")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("natter-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Ten variables, each a block referencing the previous one ten times: 0.7 KB that a
/// copying parser expands to 10^10 nodes.
fn variable_bomb() -> String {
    let mut text = String::from("v0: {a: 1}\n");
    for i in 1..10 {
        let refs: Vec<String> = (0..10).map(|k| format!("k{k}:$v{}", i - 1)).collect();
        text.push_str(&format!("v{i}: {{{}}}\n", refs.join(",")));
    }
    text
}

#[test]
fn variable_fan_out_is_refused_at_once() {
    let text = variable_bomb();
    assert!(text.len() < 800);
    let started = Instant::now();
    let err = config::parse_tree(&text, "bomb.conf").unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    assert_eq!(err.kind(), ErrorKind::Limit, "{err}");
    let loc = err.location().unwrap();
    assert_eq!(&*loc.file, "bomb.conf");
    // Points at a `$v..` reference of a later line, at its column.
    assert!(loc.line >= 2, "{err}");
    let line = text.lines().nth(loc.line as usize - 1).unwrap();
    assert!(
        line[loc.column as usize - 1..].starts_with("$v"),
        "{err} -> {line}"
    );
    assert!(err.to_string().contains("MiB"), "{err}");
}

#[test]
fn moderate_reuse_of_variables_is_fine() {
    // The same shape, three levels deep: a thousand copies of a small block.
    let text: String = variable_bomb()
        .lines()
        .take(4)
        .collect::<Vec<_>>()
        .join("\n");
    let tree = config::parse_tree(&text, "ok.conf").unwrap();
    assert_eq!(tree.len(), 4);
}

fn nested(open: &str, close: &str, depth: usize) -> String {
    format!("a: {}1{}", open.repeat(depth), close.repeat(depth))
}

#[test]
fn deep_nesting_is_refused_on_a_small_stack() {
    for (text, column) in [
        (format!("a: {}", "[".repeat(200_000)), 3 + 128 + 1),
        (format!("a: {}", "{b: ".repeat(100_000)), 3 + 128 * 4 + 1),
        (nested("[", "]", 129), 3 + 128 + 1),
        (nested("{b: ", "}", 129), 3 + 128 * 4 + 1),
    ] {
        let err = on_small_stack(move || config::parse_tree(&text, "deep.conf").unwrap_err());
        assert_eq!(err.kind(), ErrorKind::Limit, "{err}");
        let loc = err.location().unwrap();
        // The first bracket past the limit.
        assert_eq!((loc.line, loc.column), (1, column as u32), "{err}");
        assert!(err.to_string().contains("deeper than 128"), "{err}");
    }
}

#[test]
fn nesting_up_to_the_limit_is_accepted_on_a_small_stack() {
    on_small_stack(|| {
        for text in [nested("[", "]", 128), nested("{b: ", "}", 128)] {
            let tree = config::parse_tree(&text, "deep.conf").unwrap();
            assert_eq!(tree.len(), 1);
            // The whole pipeline: meaning of keys (`a` is unknown), then the drop.
            let err = config::parse_str(&text, "deep.conf").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnknownField, "{err}");
        }
    });
}

#[test]
fn a_variable_cannot_carry_nesting_past_the_limit() {
    // Each line is shallow; the references stack the depth up to 130.
    let mut text = String::from("v0: [1]\n");
    for i in 1..130 {
        text.push_str(&format!("v{i}: [$v{}]\n", i - 1));
    }
    let err = on_small_stack(move || config::parse_tree(&text, "chain.conf").unwrap_err());
    assert_eq!(err.kind(), ErrorKind::Limit, "{err}");
    let loc = err.location().unwrap();
    // v127 is 128 deep; v128 would be 129.
    assert_eq!((loc.line, loc.column), (129, 8), "{err}");
}

#[test]
fn includes_count_towards_the_nesting_limit() {
    let dir = temp_dir("include-depth");
    // 120 blocks, then an include whose file opens 10 more.
    std::fs::write(
        dir.join("main.conf"),
        format!(
            "a: {}\ninclude inner.conf\n{}",
            "{b: ".repeat(119) + "{",
            "}".repeat(120)
        ),
    )
    .unwrap();
    std::fs::write(dir.join("inner.conf"), nested("[", "]", 10)).unwrap();
    let path = dir.join("main.conf");
    let err = on_small_stack(move || config::parse_tree_file(path).unwrap_err());
    assert_eq!(err.kind(), ErrorKind::Limit, "{err}");
    assert!(
        err.location().unwrap().file.ends_with("inner.conf"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn include_fan_out_is_bounded() {
    // Each file includes the next one ten times: 10^8 reads if nothing stopped it.
    let dir = temp_dir("include-fan-out");
    for i in 0..8 {
        let body: String = (0..10)
            .map(|_| format!("include f{}.conf\n", i + 1))
            .collect();
        std::fs::write(dir.join(format!("f{i}.conf")), body).unwrap();
    }
    std::fs::write(dir.join("f8.conf"), "x: 1\n").unwrap();
    let started = Instant::now();
    let err = config::parse_tree_file(dir.join("f0.conf")).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
    assert_eq!(err.kind(), ErrorKind::Limit, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn durations_that_overflow_are_handled_like_go() {
    // nats-server v2.9.10 accepts this one: fraction digits past what fits are dropped.
    let (o, _) = config::parse_str(
        "ping_interval: \"1.999999999999999999999999999999h\"",
        "d.conf",
    )
    .unwrap();
    let want = Duration::from_secs(2 * 3600) - Duration::from_nanos(1);
    assert!(
        o.ping_interval <= Duration::from_secs(7200) && o.ping_interval >= want,
        "{:?}",
        o.ping_interval
    );
    // Go's limit is i64::MAX nanoseconds (2562047h47m16.854775807s); nats-server refuses more.
    for bad in [
        "5124095576030431h",
        "2562048h",
        "9223372036854775808ns",
        "2562047h48m",
        "18446744073709551616s",
    ] {
        let err = config::parse_str(&format!("ping_interval: \"{bad}\""), "d.conf").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidValue, "{bad}: {err}");
        assert!(err.to_string().contains("invalid duration"), "{bad}: {err}");
    }
    for good in ["2562047h", "9223372036854775807ns"] {
        config::parse_str(&format!("ping_interval: \"{good}\""), "d.conf")
            .unwrap_or_else(|e| panic!("{good}: {e}"));
    }
}

#[test]
fn durations_in_other_forms_cannot_overflow() {
    for text in [
        // Seconds as a bare number: more than Go's 292 years.
        "ping_interval: 9223372037",
        "write_deadline: 9223372036854775807",
        "authorization { timeout: 9223372036854775807 }",
        "authorization { timeout: 99999999999999999999999.5 }",
        "authorization { timeout: 9300000000.5 }",
        "lame_duck_grace_period: \"2562048h\"",
    ] {
        let err = config::parse_str(text, "d.conf").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidValue, "{text}: {err}");
    }
}

#[test]
fn sizes_that_overflow_are_errors() {
    for text in [
        "max_payload: 1000000000000000E",
        "max_pending: 9EB",
        "max_pending: 8EiB",
        "max_connections: 99999999999999999999",
        "max_pending: -9223372036854775809",
    ] {
        let err = config::parse_str(text, "s.conf").unwrap_err();
        let loc = err.location().unwrap();
        assert_eq!(
            (loc.line, loc.column),
            (1, text.find(": ").unwrap() as u32 + 3)
        );
    }
    // Too big for nats-server's 32-bit fields.
    for text in ["max_payload: 3000000000", "max_control_line: 2GB"] {
        let err = config::parse_str(text, "s.conf").unwrap_err();
        assert!(err.to_string().contains("too big"), "{text}: {err}");
    }
}

/// nats-server v2.9.10 starts with each of these: a negative limit is no limit where its
/// code compares against `> 0` (or `jwt.NoLimit`, -1).
#[test]
fn negative_limits_mean_what_they_mean_in_nats_server() {
    let (o, _) = config::parse_str("max_connections: -1", "n.conf").unwrap();
    assert_eq!(o.max_connections, usize::MAX);
    let (o, _) = config::parse_str("max_connections: -5", "n.conf").unwrap();
    assert_eq!(o.max_connections, usize::MAX);
    let (o, _) = config::parse_str("max_subscriptions: -1", "n.conf").unwrap();
    assert_eq!(o.max_subscriptions, 0);
    let (o, _) = config::parse_str("max_traced_msg_len: -1", "n.conf").unwrap();
    assert_eq!(o.max_traced_msg_len, 0);
    // No payload limit of its own: bounded by what a subscriber may have pending.
    let (o, _) = config::parse_str("max_payload: -1", "n.conf").unwrap();
    assert_eq!(o.max_payload, o.max_pending);
    let (o, _) = config::parse_str("max_payload: -1\nmax_pending: 100MB", "n.conf").unwrap();
    assert_eq!(o.max_payload, 100 << 20);
    let (o, _) = config::parse_str("max_pending: 8GB\nmax_payload: -1", "n.conf").unwrap();
    assert_eq!(o.max_payload, i32::MAX as usize);
}

/// Values with which nats-server starts but then refuses every client (every PUB exceeds a
/// negative max_payload, every line a negative max_control_line), or refuses to start.
#[test]
fn negative_limits_nats_server_cannot_serve_are_refused() {
    for (text, column, words) in [
        ("max_payload: -5", 14, "every message"),
        ("max_control_line: -1", 19, "every protocol line"),
        ("max_pending: -1", 14, "max_pending"),
    ] {
        let err = config::parse_str(text, "n.conf").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidValue, "{text}: {err}");
        let loc = err.location().unwrap();
        assert_eq!((loc.line, loc.column), (1, column), "{text}: {err}");
        assert!(err.to_string().contains(words), "{text}: {err}");
    }
}

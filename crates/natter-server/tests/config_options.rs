//! Config keys mapped onto `Options`: nats-server's keys and defaults, warnings for what
//! Natter ignores, errors for what it cannot guarantee.

use std::time::Duration;

use natter_server::config::{self, Authorization, ErrorKind, Options, User};

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/config/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn parse(text: &str) -> (Options, Vec<String>) {
    config::parse_str(text, "natter.conf").unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn parse_err(text: &str) -> config::ConfigError {
    match config::parse_str(text, "natter.conf") {
        Ok(_) => panic!("{text:?} was accepted"),
        Err(e) => e,
    }
}

#[test]
fn full_fixture() {
    let (o, warnings) = config::parse_file(fixture("main.conf")).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(o.server_name.as_deref(), Some("main_server"));
    assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4333));
    assert_eq!(o.max_payload, 2 * 1024 * 1024);
    assert_eq!(o.max_pending, 128 * 1024 * 1024);
    assert_eq!(o.ping_interval, Duration::from_secs(30));
    assert_eq!(o.ping_max, 5);
    assert_eq!((o.http_host.as_str(), o.http_port), ("127.0.0.1", Some(-1)));
    assert_eq!(o.auth_timeout, Duration::from_secs(5));
    assert_eq!(o.no_auth_user.as_deref(), Some("app"));
    let auth = o.authorization.unwrap();
    assert_eq!(
        auth.users,
        vec![
            User {
                user: "admin".into(),
                password: Some("s3cret".into())
            },
            User {
                user: "app".into(),
                password: Some("app_pw".into())
            },
        ]
    );
    assert_eq!(
        o.config_file.as_deref(),
        Some(std::path::Path::new(&fixture("main.conf")))
    );
}

#[test]
fn defaults_when_empty() {
    let (o, w) = parse("");
    assert!(w.is_empty());
    assert_eq!(o, Options::default());
}

#[test]
fn every_supported_key() {
    let (o, w) = parse(
        "host: 10.0.0.1\nport: 5222\nserver_name: n1\nclient_advertise: \"example.com:4222\"\n\
         http_port: 8222\nmax_payload: 64KB\nmax_control_line: 2KB\nmax_pending: 32MB\n\
         max_connections: 100\nmax_subscriptions: 10\nmax_traced_msg_len: 256\n\
         ping_interval: \"1m\"\nping_max: 3\nwrite_deadline: \"5s\"\n\
         lame_duck_duration: \"45s\"\nlame_duck_grace_period: \"3s\"\n\
         debug: true\ntrace: yes\nlogtime: false\nlog_file: \"/tmp/n.log\"\n\
         pid_file: /tmp/n.pid\nports_file_dir: /tmp\nprotocol_version: \"2.9.0\"\n",
    );
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(o.host, "10.0.0.1");
    assert_eq!(
        o.http_host, "10.0.0.1",
        "monitoring follows host unless set"
    );
    assert_eq!(o.port, 5222);
    assert_eq!(o.server_name.as_deref(), Some("n1"));
    assert_eq!(o.client_advertise.as_deref(), Some("example.com:4222"));
    assert_eq!(o.http_port, Some(8222));
    assert_eq!(o.max_payload, 64 * 1024);
    assert_eq!(o.max_control_line, 2048);
    assert_eq!(o.max_pending, 32 << 20);
    assert_eq!(o.max_connections, 100);
    assert_eq!(o.max_subscriptions, 10);
    assert_eq!(o.max_traced_msg_len, 256);
    assert_eq!(o.ping_interval, Duration::from_secs(60));
    assert_eq!(o.ping_max, 3);
    assert_eq!(o.write_deadline, Duration::from_secs(5));
    assert_eq!(o.lame_duck_duration, Duration::from_secs(45));
    assert_eq!(o.lame_duck_grace_period, Duration::from_secs(3));
    assert!(o.debug && o.trace && !o.logtime);
    assert_eq!(
        o.log_file.as_deref(),
        Some(std::path::Path::new("/tmp/n.log"))
    );
    assert_eq!(
        o.pid_file.as_deref(),
        Some(std::path::Path::new("/tmp/n.pid"))
    );
    assert_eq!(
        o.ports_file_dir.as_deref(),
        Some(std::path::Path::new("/tmp"))
    );
    assert_eq!(o.protocol_version, "2.9.0");
}

#[test]
fn aliases_and_case() {
    let (o, _) = parse("NET: 1.2.3.4\nmax_conn: 7\nmax_subs: 8\nlogfile: a.log\npidfile: a.pid\nmonitor_port: 9\nversion: \"2.11.0\"");
    assert_eq!(o.host, "1.2.3.4");
    assert_eq!((o.max_connections, o.max_subscriptions), (7, 8));
    assert_eq!(o.log_file.as_deref(), Some(std::path::Path::new("a.log")));
    assert_eq!(o.pid_file.as_deref(), Some(std::path::Path::new("a.pid")));
    assert_eq!(o.http_port, Some(9));
    assert_eq!(o.protocol_version, "2.11.0");
    let (o, _) = parse("trace_verbose: true");
    assert!(o.trace && o.trace_verbose);
}

#[test]
fn listen_forms_and_free_ports() {
    assert_eq!(parse("listen: 127.0.0.1:4333").0.port, 4333);
    assert_eq!(parse("listen: \"[::1]:4333\"").0.host, "::1");
    assert_eq!(parse("listen: 4444").0.port, 4444);
    assert_eq!(parse("listen: localhost:-1").0.port, -1);
    assert_eq!(parse("port: -1").0.port, -1);
    // nats-server: port 0 in a config means the default port.
    assert_eq!(parse("port: 0").0.port, 4222);
    let (o, _) = parse("http: \"127.0.0.1:-1\"");
    assert_eq!((o.http_host.as_str(), o.http_port), ("127.0.0.1", Some(-1)));
    assert_eq!(parse("http: 8222").0.http_port, Some(8222));
    assert_eq!(parse("http_port: 0").0.http_port, None);
}

#[test]
fn zero_limits_keep_defaults_as_nats_does() {
    let (o, _) = parse(
        "max_payload: 0\nmax_pending: 0\nmax_connections: 0\nping_max: 0\nping_interval: \"0s\"",
    );
    let d = Options::default();
    assert_eq!(
        (
            o.max_payload,
            o.max_pending,
            o.max_connections,
            o.ping_max,
            o.ping_interval
        ),
        (
            d.max_payload,
            d.max_pending,
            d.max_connections,
            d.ping_max,
            d.ping_interval
        )
    );
}

#[test]
fn durations_and_old_style_seconds() {
    for (lit, want) in [
        ("\"2m\"", 120),
        ("30s", 30),
        ("\"1h\"", 3600),
        ("1h30m", 5400),
    ] {
        let (o, w) = parse(&format!("ping_interval: {lit}"));
        assert_eq!(o.ping_interval, Duration::from_secs(want), "{lit}");
        assert!(w.is_empty(), "{lit}: {w:?}");
    }
    let (o, _) = parse("write_deadline: 500ms");
    assert_eq!(o.write_deadline, Duration::from_millis(500));
    // A bare integer is seconds, with nats-server's warning.
    let (o, w) = parse("ping_interval: 30");
    assert_eq!(o.ping_interval, Duration::from_secs(30));
    assert_eq!(w.len(), 1);
    assert!(
        w[0].starts_with("natter.conf:1:16: ping_interval should be converted to a duration"),
        "{w:?}"
    );
    // A bare 2m is the number 2000000 for nats-server too; the warning says so.
    let (o, w) = parse("ping_interval: 2m");
    assert_eq!(o.ping_interval, Duration::from_secs(2_000_000));
    assert!(w[0].contains("\"2m\" in quotes"), "{w:?}");
}

#[test]
fn authorization_forms() {
    let (o, _) = parse("authorization { user: derek, password: T0pS3cr3t, timeout: 1 }");
    assert_eq!(
        o.authorization,
        Some(Authorization {
            user: Some("derek".into()),
            password: Some("T0pS3cr3t".into()),
            token: None,
            users: vec![],
            timeout: Some(Duration::from_secs(1)),
        })
    );
    assert_eq!(o.auth_timeout, Duration::from_secs(1));
    let (o, _) = parse("authorization { token: \"s3cr3t\", timeout: 0.5 }");
    let a = o.authorization.unwrap();
    assert_eq!(a.token.as_deref(), Some("s3cr3t"));
    assert_eq!(a.timeout, Some(Duration::from_millis(500)));
    let (o, _) = parse("authorization { username: u, pass: p }");
    assert_eq!(o.authorization.unwrap().password.as_deref(), Some("p"));

    for (text, words) in [
        (
            "authorization { user: a, password: b, token: c }",
            "user/pass and token",
        ),
        (
            "authorization { user: a, users: [{user: b}] }",
            "single user/pass and a users array",
        ),
        (
            "authorization { token: t, users: [{user: b}] }",
            "token and a users array",
        ),
        (
            "authorization { users: [{user: b}, {user: b}] }",
            "Duplicate user",
        ),
        (
            "authorization { users: [{password: b}] }",
            "needs a user name",
        ),
        (
            "no_auth_user: ghost\nauthorization { users: [{user: b}] }",
            "ghost",
        ),
    ] {
        let e = parse_err(text);
        assert!(e.to_string().contains(words), "{text}: {e}");
    }
}

#[test]
fn unimplemented_blocks_are_noticed_with_file_and_line() {
    let parsed = config::read_file(fixture("unimplemented.conf")).unwrap();
    assert_eq!(parsed.options.port, 4444);
    // Not nats-server warnings: `-t` must not fail on them.
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let w = parsed.notices;
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains("unimplemented.conf:2:1: 'jetstream'"),
        "{w:?}"
    );
    assert!(w[0].contains("not implemented"), "{w:?}");
    assert!(w[1].contains("unimplemented.conf:6:1: 'cluster'"), "{w:?}");

    for key in [
        "leafnodes { port: 7422 }",
        "gateway { name: g }",
        "mqtt { port: 1883 }",
        "websocket { port: 8080 }",
        "system_account: SYS",
        "syslog: true",
        "store_dir: /tmp/js",
        "mappings { a: b }",
        "accounts { A: { jetstream: enabled } }",
    ] {
        let parsed = config::read_str(key, "natter.conf").unwrap();
        assert!(parsed.warnings.is_empty(), "{key}: {:?}", parsed.warnings);
        let w = parsed.notices;
        let name = key.split([' ', ':']).next().unwrap();
        assert_eq!(w.len(), 1, "{key}: {w:?}");
        assert!(
            w[0].starts_with(&format!("natter.conf:1:1: '{name}'")),
            "{key}: {w:?}"
        );
    }
}

#[test]
fn guarantees_natter_cannot_give_are_startup_errors() {
    let e = config::parse_file(fixture("tls.conf")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(
        e.to_string()
            .contains("tls.conf:2:1: 'tls' is not supported"),
        "{e}"
    );

    let hash = "$2a$11$abcdefghijklmnopqrstuuJ0Wg4e5xPZ8HPrNA2L5R6M0pNAlPCF2";
    for text in [
        "https_port: 8443".to_string(),
        "authorization { user: a, password: b, permissions: { publish: \"x\" } }".into(),
        "authorization { default_permissions: { publish: \"x\" } }".into(),
        "authorization { users: [{user: a, password: b, permissions: { publish: x }}] }".into(),
        "authorization { users: [{nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4}] }".into(),
        "authorization { users: [{user: a, account: A}] }".into(),
        "authorization { users: [{user: a, allowed_connection_types: [\"WEBSOCKET\"]}] }".into(),
        format!("authorization {{ user: a, password: {hash} }}"),
        format!("authorization {{ user: a, password: \"{hash}\" }}"),
        "accounts { A: { users: [{user: a, password: b}] } }".into(),
        "operator: /etc/op.jwt".into(),
        "resolver: MEMORY".into(),
    ] {
        let e = parse_err(&text);
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{text}: {e}");
        assert!(e.location().is_some(), "{text}: {e}");
    }
    // A restriction that allows standard clients is kept (it is what Natter serves).
    let (o, _) = parse("authorization { users: [{user: a, password: b, allowed_connection_types: [\"STANDARD\"]}] }");
    assert_eq!(o.authorization.unwrap().users.len(), 1);
}

#[test]
fn unknown_fields_are_errors_as_in_nats() {
    // nats-server v2.9.10: `unknown field "foo"` for both.
    let e = parse_err("port: 4222\nfoo: 1");
    assert_eq!(e.kind(), ErrorKind::UnknownField);
    assert_eq!(e.to_string(), "natter.conf:2:1: unknown field \"foo\"");
    let e = parse_err("authorization { user: a, colour: blue }");
    assert_eq!(e.kind(), ErrorKind::UnknownField);
    // A variable that is used is not a field; an unused one is (nats-server agrees).
    assert!(config::parse_str("P = 4333\nport: $P", "natter.conf").is_ok());
    assert_eq!(
        parse_err("P = 4333\nport: 1").kind(),
        ErrorKind::UnknownField
    );
    assert!(config::parse_str("authorization { U = bob\n user: $U }", "natter.conf").is_ok());
}

#[test]
fn variable_holding_a_block() {
    let (o, _) = parse("AUTH = { user: a, password: b }\nauthorization: $AUTH");
    assert_eq!(o.authorization.unwrap().user.as_deref(), Some("a"));
    std::env::set_var("NATTER_CFG_OPTS_AUTH", "{ token: tok }");
    let (o, _) = parse("authorization: $NATTER_CFG_OPTS_AUTH");
    assert_eq!(o.authorization.unwrap().token.as_deref(), Some("tok"));
}

#[test]
fn max_payload_cannot_exceed_max_pending() {
    let e = parse_err("max_payload: 2MB\nmax_pending: 1MB");
    assert!(
        e.to_string().contains("cannot be higher than max_pending"),
        "{e}"
    );
}

#[test]
fn reload_plan_between_two_files() {
    let (old, _) = parse("port: 4222\ndebug: false\nmax_payload: 1MB");
    let (new, _) = parse("port: 4333\ndebug: true\nmax_payload: 2MB\nping_interval: \"10s\"");
    let plan = old.reload_diff(&new);
    assert_eq!(plan.applied, ["debug", "max_payload", "ping_interval"]);
    assert_eq!(plan.not_reloadable, ["port"]);
}

//! The nats-server configuration syntax, form by form.
//!
//! Every input in the accepted tables was also checked with the real nats-server v2.9.10
//! (`nats-server -c FILE -t` says "is valid"), and every input of the rejected table is
//! refused by it too, except where a comment says otherwise.

use natter_server::config::{self, value::Value, ErrorKind};

fn tree(text: &str) -> config::value::Map {
    config::parse_tree(text, "test.conf").unwrap_or_else(|e| panic!("{text:?} failed: {e}"))
}

fn get(text: &str, key: &str) -> Value {
    tree(text)
        .get(key)
        .unwrap_or_else(|| panic!("no key {key} in {text:?}"))
        .value
        .value
        .clone()
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

#[test]
fn key_value_separators() {
    for text in [
        "port: 4222",
        "port = 4222",
        "port 4222",
        "port:4222",
        "port=4222",
        "port\t4222",
        "port: 4222;",
    ] {
        assert_eq!(get(text, "port"), Value::Integer(4222), "{text:?}");
    }
}

#[test]
fn scalars() {
    let cases: &[(&str, Value)] = &[
        ("k: \"quoted string\"", s("quoted string")),
        ("k: 'single quoted'", s("single quoted")),
        ("k: bare_string", s("bare_string")),
        ("k: localhost:4222", s("localhost:4222")),
        ("k: 127.0.0.1:4222", s("127.0.0.1:4222")),
        ("k: 127.0.0.1:-1", s("127.0.0.1:-1")),
        ("k: nats://host:4222", s("nats://host:4222")),
        ("k: /var/run/nats.pid", s("/var/run/nats.pid")),
        ("k: \"a\\tb\\n\\\"c\\\\\"", s("a\tb\n\"c\\")),
        ("k: \"\\x41\\x42\"", s("AB")),
        ("k: 'raw \\q kept'", s("raw \\q kept")),
        ("k: a#b", s("a#b")),
        ("k: 30s", s("30s")),
        ("k: 1h30m", s("1h30m")),
        ("k: 500ms", s("500ms")),
        ("k: 4222abc", s("4222abc")),
        ("k: 42", Value::Integer(42)),
        ("k: -1", Value::Integer(-1)),
        ("k: 1.5", Value::Float(1.5)),
        (
            "k: 2016-05-04T18:53:41Z",
            Value::Datetime("2016-05-04T18:53:41Z".into()),
        ),
        ("k: (\nline one\nline two\n)", s("\nline one\nline two\n")),
    ];
    for (text, want) in cases {
        assert_eq!(&get(text, "k"), want, "{text:?}");
    }
}

#[test]
fn booleans_any_case() {
    for (word, want) in [
        ("true", true),
        ("TRUE", true),
        ("True", true),
        ("yes", true),
        ("Yes", true),
        ("on", true),
        ("On", true),
        ("false", false),
        ("no", false),
        ("NO", false),
        ("off", false),
    ] {
        assert_eq!(
            get(&format!("debug: {word}"), "debug"),
            Value::Bool(want),
            "{word}"
        );
    }
    // Quoted, it is a string (nats-server then refuses it for a boolean key).
    assert_eq!(get("debug: \"true\"", "debug"), s("true"));
}

#[test]
fn sizes() {
    let cases: &[(&str, i64)] = &[
        ("1k", 1000),
        ("1K", 1000),
        ("1kb", 1024),
        ("64KB", 64 * 1024),
        ("1Ki", 1024),
        ("1KiB", 1024),
        ("1m", 1_000_000),
        ("1M", 1_000_000),
        ("1MB", 1 << 20),
        ("1Mb", 1 << 20),
        ("1mb", 1 << 20),
        ("1MiB", 1 << 20),
        ("1g", 1_000_000_000),
        ("1GB", 1 << 30),
        ("2T", 2_000_000_000_000),
        ("1TB", 1 << 40),
    ];
    for (lit, want) in cases {
        assert_eq!(
            get(&format!("max_payload: {lit}"), "max_payload"),
            Value::Integer(*want),
            "{lit}"
        );
    }
}

#[test]
fn comments() {
    let text = "# hash comment\n// slash comment\nport: 4222 # trailing\ndebug: true // trailing\n\
                authorization {\n  # inside\n  user: a // after\n  password: b\n}\n\
                arr: [\n  1 # one\n  // between\n  2\n]\n";
    let t = tree(text);
    assert_eq!(t.get("port").unwrap().value.value, Value::Integer(4222));
    assert_eq!(t.get("debug").unwrap().value.value, Value::Bool(true));
    let Value::Map(auth) = &t.get("authorization").unwrap().value.value else {
        panic!()
    };
    assert_eq!(auth.get("user").unwrap().value.value, s("a"));
    let Value::Array(arr) = &t.get("arr").unwrap().value.value else {
        panic!()
    };
    assert_eq!(arr.len(), 2);
}

#[test]
fn blocks() {
    for text in [
        "authorization { user: a, password: b }",
        "authorization: { user: a, password: b }",
        "authorization = { user: a; password: b }",
        "authorization {\n  user: a\n  password: b\n}",
        "authorization {\n  user = a,\n  password = b,\n}",
        "authorization {user:a,password:b}",
    ] {
        let Value::Map(m) = get(text, "authorization") else {
            panic!("{text:?}")
        };
        assert_eq!(m.get("user").unwrap().value.value, s("a"), "{text:?}");
        assert_eq!(m.get("password").unwrap().value.value, s("b"), "{text:?}");
    }
    // Without a space, nats-server reads the key "authorization{user" (then: unknown field).
    assert!(tree("authorization{user:a,password:b}")
        .get("authorization{user")
        .is_some());
    // Nested blocks, and a whole file wrapped in braces.
    let Value::Map(c) = get("cluster { authorization { user: r } }", "cluster") else {
        panic!()
    };
    assert!(matches!(
        c.get("authorization").unwrap().value.value,
        Value::Map(_)
    ));
    assert_eq!(get("{ port: 4222 }", "port"), Value::Integer(4222));
}

#[test]
fn arrays() {
    for text in [
        "a: [1, 2, 3]",
        "a: [1,2,3]",
        "a [1, 2, 3]",
        "a: [\n  1\n  2\n  3\n]",
        "a: [\n  1,\n  2,\n  3,\n]",
        "a = [ 1, 2\n 3 ]",
        // nats-server v2.9.10 refuses an integer right before ']' (a lexer bug); Natter does not.
        "a:[1,2,3]",
    ] {
        let Value::Array(items) = get(text, "a") else {
            panic!("{text:?}")
        };
        let nums: Vec<_> = items.iter().map(|n| n.value.clone()).collect();
        assert_eq!(
            nums,
            [Value::Integer(1), Value::Integer(2), Value::Integer(3)],
            "{text:?}"
        );
    }
    let Value::Array(items) = get("users: [{user: a}, {user: b}]", "users") else {
        panic!()
    };
    assert!(items.iter().all(|n| matches!(n.value, Value::Map(_))));
    let Value::Array(empty) = get("a: []", "a") else {
        panic!()
    };
    assert!(empty.is_empty());
}

#[test]
fn quoted_keys_and_separators_on_one_line() {
    let t = tree("\"my key\": 1, 'other': 2; third 3");
    assert_eq!(t.get("my key").unwrap().value.value, Value::Integer(1));
    assert_eq!(t.get("other").unwrap().value.value, Value::Integer(2));
    assert_eq!(t.get("third").unwrap().value.value, Value::Integer(3));
}

#[test]
fn last_duplicate_wins() {
    assert_eq!(get("port: 1\nport: 2", "port"), Value::Integer(2));
}

#[test]
fn positions_are_recorded() {
    let t = tree("\n  port: 4222\nauthorization {\n    user: a\n}");
    let port = t.get("port").unwrap();
    assert_eq!((port.key_location.line, port.key_location.column), (2, 3));
    assert_eq!(
        (port.value.location.line, port.value.location.column),
        (2, 9)
    );
    let Value::Map(auth) = &t.get("authorization").unwrap().value.value else {
        panic!()
    };
    let user = auth.get("user").unwrap();
    assert_eq!((user.key_location.line, user.key_location.column), (4, 5));
}

#[test]
fn variables_from_the_file() {
    assert_eq!(get("P = 4333\nport: $P", "port"), Value::Integer(4333));
    // Enclosing block, and same block.
    let t = tree("U = bob\nauthorization { user: $U, P = pw\n password: $P }");
    let Value::Map(a) = &t.get("authorization").unwrap().value.value else {
        panic!()
    };
    assert_eq!(a.get("user").unwrap().value.value, s("bob"));
    assert_eq!(a.get("password").unwrap().value.value, s("pw"));
    // The defining key is marked as a variable, so it is not an unknown field.
    assert!(t.get("U").unwrap().used_as_variable);
    // Innermost definition wins.
    let t = tree("X = outer\nb { X = inner\n y: $X }");
    let Value::Map(b) = &t.get("b").unwrap().value.value else {
        panic!()
    };
    assert_eq!(b.get("y").unwrap().value.value, s("inner"));
}

#[test]
fn block_and_array_valued_variables() {
    let text = "ADMIN_PERMS = { publish: \">\", subscribe: \">\" }\nuser_perms: $ADMIN_PERMS\nL = [a, b]\nlist: $L";
    let t = tree(text);
    let Value::Map(p) = &t.get("user_perms").unwrap().value.value else {
        panic!()
    };
    assert_eq!(p.get("publish").unwrap().value.value, s(">"));
    let Value::Array(l) = &t.get("list").unwrap().value.value else {
        panic!()
    };
    assert_eq!(l.len(), 2);
    // The reference's node points at the reference.
    assert_eq!(t.get("user_perms").unwrap().value.location.line, 2);
}

#[test]
fn variables_from_the_environment() {
    // Names unique to this test: the environment is shared by the test process.
    std::env::set_var("NATTER_CFG_TEST_PORT", "4555");
    std::env::set_var("NATTER_CFG_TEST_AUTH", "{ user: envuser, password: envpw }");
    std::env::set_var("NATTER_CFG_TEST_SIZE", "2MB");
    let t = tree(
        "port: $NATTER_CFG_TEST_PORT\nauthorization: $NATTER_CFG_TEST_AUTH\nmax_payload: $NATTER_CFG_TEST_SIZE",
    );
    assert_eq!(t.get("port").unwrap().value.value, Value::Integer(4555));
    let Value::Map(a) = &t.get("authorization").unwrap().value.value else {
        panic!()
    };
    assert_eq!(a.get("user").unwrap().value.value, s("envuser"));
    assert_eq!(
        t.get("max_payload").unwrap().value.value,
        Value::Integer(2 << 20)
    );
    // A file variable shadows the environment.
    assert_eq!(
        get(
            "NATTER_CFG_TEST_PORT = 1\nport: $NATTER_CFG_TEST_PORT",
            "port"
        ),
        Value::Integer(1)
    );
}

#[test]
fn self_referencing_environment_variable_is_an_error() {
    std::env::set_var("NATTER_CFG_TEST_LOOP", "$NATTER_CFG_TEST_LOOP");
    let e = config::parse_tree("port: $NATTER_CFG_TEST_LOOP", "test.conf").unwrap_err();
    assert!(e.to_string().contains("refers to itself"), "{e}");
}

#[test]
fn bare_bcrypt_hash_is_a_string() {
    let hash = "$2a$11$abcdefghijklmnopqrstuuJ0Wg4e5xPZ8HPrNA2L5R6M0pNAlPCF2";
    assert_eq!(get(&format!("password: {hash}"), "password"), s(hash));
}

#[test]
fn includes_resolve_against_the_including_file() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/config");
    let t = config::parse_tree_file(format!("{dir}/main.conf")).unwrap();
    // From inc/limits.conf, and inc/deeper.conf included by it with a path relative to inc/.
    assert_eq!(
        t.get("max_payload").unwrap().value.value,
        Value::Integer(2 << 20)
    );
    assert_eq!(t.get("ping_max").unwrap().value.value, Value::Integer(5));
    // Included inside a block: the keys join that block.
    let Value::Map(a) = &t.get("authorization").unwrap().value.value else {
        panic!()
    };
    assert_eq!(a.get("timeout").unwrap().value.value, Value::Integer(5));
    // Positions of included keys name the included file.
    let loc = &t.get("ping_max").unwrap().key_location;
    assert!(loc.file.ends_with("deeper.conf"), "{}", loc.file);
    assert_eq!(loc.line, 1);
}

#[test]
fn include_errors_name_the_include() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/config");
    let e = config::parse_tree_file(format!("{dir}/include_missing.conf")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let loc = e.location().unwrap();
    assert!(loc.file.ends_with("include_missing.conf"));
    assert_eq!((loc.line, loc.column), (2, 1));
    assert!(e.message().contains("nope.conf"), "{e}");

    let e = config::parse_tree_file(format!("{dir}/include_loop.conf")).unwrap_err();
    assert!(e.to_string().contains("include cycle"), "{e}");
}

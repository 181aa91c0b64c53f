//! Subject syntax rules, checked case by case against what nats-server 2.9 accepts.

use natter_sublist::subject::{
    has_wildcard, is_subset, is_valid_literal, is_valid_pattern, is_valid_queue, matches_pattern,
    tokens,
};

#[test]
fn valid_patterns() {
    for s in [
        "foo",
        "foo.bar",
        "*",
        ">",
        "foo.*",
        "foo.>",
        "*.*.>",
        "foo.*.baz",
        "a*",
        "*b.c",
        "foo.>b",
        "$SYS.REQ",
        "_INBOX.x1y2",
        "a-b_c:d/e",
        "\u{e9}t\u{e9}.caf\u{e9}",
    ] {
        assert!(
            is_valid_pattern(s.as_bytes()),
            "{s:?} should be a valid pattern"
        );
    }
    assert!(
        is_valid_pattern(b"foo\x01bar"),
        "control bytes other than whitespace are allowed"
    );
}

#[test]
fn invalid_patterns() {
    for s in [
        "",
        ".",
        "foo.",
        ".foo",
        "foo..bar",
        ">.foo",
        "foo.>.bar",
        "> .a",
        "foo bar",
        "foo\tbar",
        "foo\nbar",
        "foo\rbar",
        "foo\x0cbar",
        " ",
        "foo. ",
        "a.>.>",
    ] {
        assert!(!is_valid_pattern(s.as_bytes()), "{s:?} should be refused");
        assert!(
            !is_valid_literal(s.as_bytes()),
            "{s:?} should be refused as a literal too"
        );
    }
}

#[test]
fn literals_have_no_wildcard_tokens() {
    for s in ["foo", "foo.bar", "a*", "foo.>b", "*b", "a>.b"] {
        assert!(
            is_valid_literal(s.as_bytes()),
            "{s:?} should be a valid literal"
        );
        assert!(!has_wildcard(s.as_bytes()), "{s:?} has no wildcard token");
    }
    for s in ["*", ">", "foo.*", "foo.>", "*.bar"] {
        assert!(is_valid_pattern(s.as_bytes()));
        assert!(!is_valid_literal(s.as_bytes()), "{s:?} is not a literal");
        assert!(has_wildcard(s.as_bytes()), "{s:?} has a wildcard token");
    }
}

#[test]
fn tokens_split_on_every_separator() {
    let t: Vec<&[u8]> = tokens(b"a.bb.*").collect();
    assert_eq!(t, [b"a".as_slice(), b"bb", b"*"]);
    assert_eq!(tokens(b"a..b").count(), 3);
    assert_eq!(tokens(b"").collect::<Vec<_>>(), [b"".as_slice()]);
    assert_eq!(tokens(b"x.y").next_back(), Some(b"y".as_slice()));
}

#[test]
fn matching_rules() {
    let yes = [
        ("foo", "foo"),
        ("*", "foo"),
        (">", "foo"),
        (">", "foo.bar.baz"),
        ("foo.*", "foo.bar"),
        ("foo.>", "foo.bar.baz"),
        ("*.bar.*", "foo.bar.baz"),
        ("a*", "a*"),
    ];
    let no = [
        ("foo", "bar"),
        ("*", "foo.bar"),
        ("foo.*", "foo"),
        ("foo.>", "foo"),
        ("foo.*", "foo.bar.baz"),
        ("foo.bar", "foo"),
        ("foo", "foo.bar"),
        ("a*", "ab"),
        // Invalid arguments never match.
        ("foo.*", "foo.*"),
        ("foo..bar", "foo..bar"),
        ("foo.>.bar", "foo.x.bar"),
    ];
    for (p, s) in yes {
        assert!(
            matches_pattern(p.as_bytes(), s.as_bytes()),
            "{p:?} should match {s:?}"
        );
    }
    for (p, s) in no {
        assert!(
            !matches_pattern(p.as_bytes(), s.as_bytes()),
            "{p:?} should not match {s:?}"
        );
    }
}

#[test]
fn subset_rules() {
    let yes = [
        ("foo.bar", "foo.bar"),
        ("foo.bar", "foo.*"),
        ("foo.bar", ">"),
        ("foo.*", "foo.*"),
        ("foo.*", "foo.>"),
        ("foo.*", "*.*"),
        ("foo.*", ">"),
        ("foo.>", "foo.>"),
        ("foo.>", ">"),
        ("foo.*.baz", "foo.>"),
        ("foo.bar.>", "foo.*.>"),
        ("*.>", ">"),
        (">", ">"),
    ];
    let no = [
        ("foo.*", "foo.bar"),
        ("foo.>", "foo.*"),
        ("foo", "foo.>"),
        (">", "foo.>"),
        (">", "*"),
        ("*.>", "*"),
        ("foo.*", "foo.*.baz"),
        ("foo.bar", "foo.baz"),
        ("foo.bar.baz", "foo.bar"),
        ("foo.*", "foo"),
        ("foo..bar", ">"),
        ("foo", "foo..bar"),
    ];
    for (a, b) in yes {
        assert!(
            is_subset(a.as_bytes(), b.as_bytes()),
            "{a:?} should be within {b:?}"
        );
    }
    for (a, b) in no {
        assert!(
            !is_subset(a.as_bytes(), b.as_bytes()),
            "{a:?} should not be within {b:?}"
        );
    }
}

#[test]
fn queue_names() {
    for q in ["q", "workers", "a.b", "*", ">", "q\x01"] {
        assert!(
            is_valid_queue(q.as_bytes()),
            "{q:?} is accepted by nats-server"
        );
    }
    for q in ["", " ", "a b", "a\tb", "a\r\n"] {
        assert!(!is_valid_queue(q.as_bytes()), "{q:?} should be refused");
    }
}

//! Malformed configurations: each is refused with the file, line and column of the problem,
//! and no input makes the parser panic.
//!
//! nats-server v2.9.10 (`nats-server -c FILE -t`) refuses every input of the table as well;
//! its messages carry only a line, ours a line and a column.

use natter_server::config::{self, ErrorKind};

/// (input, line, column, words the message must contain)
const MALFORMED: &[(&str, u32, u32, &str)] = &[
    // Block never closed: points at the '{'.
    (
        "port: 4222\nauthorization {\n  user: a\n  password: b\n",
        2,
        15,
        "expected '}'",
    ),
    // Two values on one line.
    ("port: 4222 debug: true", 1, 12, "expected a new line"),
    // Unterminated string: points at the opening quote.
    (
        "server_name: \"unterminated\n",
        1,
        14,
        "unterminated string",
    ),
    // Array never closed.
    ("users: [a, b\n", 1, 8, "expected ']'"),
    // Empty array element.
    ("users: [a,, b]", 1, 11, "unexpected ','"),
    // A separator then a new line (nats-server: "Expected value but found new line").
    ("port:\n4222", 1, 6, "expected a value"),
    // Invalid escape in a double-quoted string.
    ("server_name: \"bad \\q escape\"", 1, 19, "invalid escape"),
    // A float with a size suffix.
    ("max_payload: 1.5MB", 1, 17, "expected a new line"),
    // Undefined variable.
    (
        "port: $NATTER_SURELY_UNDEFINED_VARIABLE",
        1,
        7,
        "can not be found",
    ),
    // Missing separators between block entries.
    (
        "authorization { user a password b }",
        1,
        24,
        "after a value",
    ),
    // Key separator without a key.
    ("  : 4222", 1, 3, "unexpected key separator"),
    // Date not in full Zulu form.
    ("d: 2016-05-04\n", 1, 14, "ISO 8601"),
    // Array elements without separator.
    ("k: [1 2]", 1, 7, "expected ',' or ']'"),
    // Block string never closed.
    ("k: (\nnever closed\n", 1, 4, "block string"),
    // '-' not followed by a digit.
    ("port: -x", 1, 8, "expected a digit"),
    // Integer out of range.
    ("port: 99999999999999999999", 1, 7, "out of range"),
    // A key without a value at the end of a block.
    (
        "authorization {\n  user\n}",
        3,
        1,
        "expected a value for 'user'",
    ),
    // Unknown size suffix.
    ("max_payload: 1kbb", 1, 14, "invalid size"),
];

#[test]
fn malformed_inputs_name_file_line_and_column() {
    for (text, line, column, words) in MALFORMED {
        let err = match config::parse_str(text, "natter.conf") {
            Ok(_) => panic!("{text:?} was accepted"),
            Err(e) => e,
        };
        let loc = err
            .location()
            .unwrap_or_else(|| panic!("{text:?}: no location in {err}"));
        assert_eq!(&*loc.file, "natter.conf", "{text:?}");
        assert_eq!((loc.line, loc.column), (*line, *column), "{text:?}: {err}");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("natter.conf:{line}:{column}: ")),
            "{text:?}: {shown}"
        );
        assert!(shown.contains(words), "{text:?}: {shown:?} lacks {words:?}");
    }
}

#[test]
fn errors_in_included_files_name_the_included_file() {
    let dir = std::env::temp_dir().join(format!("natter-config-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.conf"), "port: 4222\ninclude ./bad.conf\n").unwrap();
    std::fs::write(dir.join("bad.conf"), "# bad\nmax_payload: [1,\n").unwrap();
    let err = config::parse_file(dir.join("main.conf")).unwrap_err();
    let loc = err.location().unwrap();
    assert!(loc.file.ends_with("bad.conf"), "{err}");
    assert_eq!((loc.line, loc.column), (2, 14), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrong_types_point_at_the_value() {
    let cases: &[(&str, u32, u32, &str)] = &[
        ("debug: \"true\"", 1, 8, "debug: expected a boolean"),
        ("port: \"4222\"", 1, 7, "port: expected an integer"),
        ("server_name: 1.5", 1, 14, "expected a string"),
        ("max_payload: \"1MB\"", 1, 14, "expected an integer"),
        ("\n\nlisten: nohostport", 3, 9, "could not parse address"),
        (
            "lame_duck_duration: \"10s\"",
            1,
            21,
            "minimum is 30 seconds",
        ),
        ("lame_duck_duration: 30", 1, 21, "duration string"),
        ("ping_interval: \"5x\"", 1, 16, "unknown unit"),
        ("port: 70000", 1, 7, "out of range"),
        ("max_payload: -5", 1, 14, "refuse every message"),
        ("max_pending: -5", 1, 14, "must not be negative"),
    ];
    for (text, line, column, words) in cases {
        let err = config::parse_str(text, "natter.conf").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidValue, "{text:?}: {err}");
        let loc = err.location().unwrap();
        assert_eq!((loc.line, loc.column), (*line, *column), "{text:?}: {err}");
        assert!(err.to_string().contains(words), "{text:?}: {err}");
    }
}

#[test]
fn all_errors_of_a_file_are_reported_together() {
    let err = config::parse_str("foo: 1\nport: \"x\"\nbar: 2", "natter.conf").unwrap_err();
    let lines: Vec<u32> = err
        .diagnostics()
        .iter()
        .map(|d| d.location.as_ref().unwrap().line)
        .collect();
    assert_eq!(lines, [1, 2, 3], "{err}");
    assert_eq!(err.to_string().lines().count(), 3);
}

/// A small deterministic generator, so the test needs no extra dependency and always
/// explores the same inputs.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn no_input_panics() {
    let seeds = [
        "port: 4222\nauthorization { users: [ {user: a, password: \"b\"} ] }\n",
        "X = { a: [1, 2k, 3MB] }\nk: $X // c\nd: 2016-05-04T18:53:41Z\n",
        "s: 'x' # c\nb: (\nblock\n)\nf: -1.5\nip: 127.0.0.1:-1\n",
        "listen: 0.0.0.0:4222\nping_interval: \"2m\"\ninclude ./nonexistent.conf\n",
    ];
    let alphabet: Vec<char> = "{}[]()\"'$#/\\:=;,\n\t -.0123456789kKmMbBiIxtTZaz\u{e9}\u{feff}"
        .chars()
        .collect();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..4000 {
        let mut text: Vec<char> = seeds[round % seeds.len()].chars().collect();
        for _ in 0..1 + rng.below(6) {
            match rng.below(3) {
                0 if !text.is_empty() => {
                    let i = rng.below(text.len());
                    text.remove(i);
                }
                1 => {
                    let i = rng.below(text.len() + 1);
                    text.insert(i, alphabet[rng.below(alphabet.len())]);
                }
                _ if !text.is_empty() => {
                    let i = rng.below(text.len());
                    text[i] = alphabet[rng.below(alphabet.len())];
                }
                _ => {}
            }
        }
        let text: String = text.into_iter().collect();
        // Either result is fine; a panic fails the test.
        let _ = config::parse_str(&text, "fuzz.conf");
    }
}

/// Runs a parse on a thread with a small stack (a reload runs on a runtime worker), so that
/// a stack overflow shows as a failure of this test rather than passing unnoticed.
fn parse_on_small_stack(text: String) -> Result<(), config::ConfigError> {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || config::parse_tree(&text, "fuzz.conf").map(drop))
        .unwrap()
        .join()
        .expect("the parse panicked or overflowed its stack")
}

/// Random mixes of arrays and blocks, nested up to twice the limit, sometimes broken.
#[test]
fn generated_deep_nesting_is_bounded() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    for _ in 0..200 {
        let depth = 1 + rng.below(256);
        let mut open = String::from("a: ");
        let mut close = String::new();
        for _ in 0..depth {
            if rng.below(2) == 0 {
                open.push('[');
                close.insert(0, ']');
            } else {
                open.push_str("{k: ");
                close.insert(0, '}');
            }
        }
        let mut text = format!("{open}1{close}");
        if rng.below(4) == 0 {
            // Truncated: unclosed brackets.
            text.truncate(3 + rng.below(text.len() - 3));
        }
        let result = parse_on_small_stack(text.clone());
        if depth > 128 && text.len() > open.len() {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Limit, "depth {depth}: {err}");
        } else if depth <= 128 && text.len() == open.len() + 1 + close.len() {
            assert!(result.is_ok(), "depth {depth}: {result:?}");
        }
    }
}

/// Chains of variables, each referencing the previous one `fan` times, in blocks or arrays:
/// small ones parse, large ones are refused, all within moments.
#[test]
fn generated_variable_fan_out_is_bounded() {
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let started = std::time::Instant::now();
    for _ in 0..60 {
        let levels = 1 + rng.below(14);
        let fan = 1 + rng.below(12);
        let mut text = String::from("v0: {a: \"x\"}\n");
        for i in 1..=levels {
            let items: Vec<String> = (0..fan)
                .map(|k| {
                    if i % 2 == 0 {
                        format!("k{k}: $v{}", i - 1)
                    } else {
                        format!("$v{}", i - 1)
                    }
                })
                .collect();
            let body = items.join(", ");
            if i % 2 == 0 {
                text.push_str(&format!("v{i}: {{{body}}}\n"));
            } else {
                text.push_str(&format!("v{i}: [{body}]\n"));
            }
        }
        // Copies of v0 (a block with a string: a few hundred bytes each).
        let copies = (fan as f64).powi(levels as i32);
        match parse_on_small_stack(text) {
            Ok(()) => assert!(copies < 1e6, "{levels} levels of {fan} accepted"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Limit, "{e}");
                assert!(copies > 1e4, "{levels} levels of {fan}: {e}");
            }
        }
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

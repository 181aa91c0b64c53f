//! Test counts read from what the runners print, so `ci` can refuse a run that tested nothing
//! and close with one `N passed, N failed` line.

use std::fmt;
use std::ops::AddAssign;

/// Tests that passed, failed, and were skipped or ignored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        Ok(())
    }
}

impl Tally {
    /// The closing line of `cargo xtask ci`, `ci: N passed, M failed`, exactly that: tooling
    /// reads it, so skipped tests are reported elsewhere.
    pub fn ci_line(&self) -> String {
        format!("ci: {} passed, {} failed", self.passed, self.failed)
    }

    /// Sums libtest's `test result: ok. 3 passed; 0 failed; 1 ignored; ...` lines (one per test
    /// binary, doctests included).
    pub fn from_libtest(text: &str) -> Tally {
        let mut tally = Tally::default();
        for binary in Tally::libtest_binaries(text) {
            tally += binary;
        }
        tally
    }

    /// Each `test result:` line on its own, in order: one per test binary that ran (and one
    /// for each crate's doctests).
    pub fn libtest_binaries(text: &str) -> Vec<Tally> {
        plain(text)
            .lines()
            // The space matters: `test result::tests::x ... ok` is a test named `result::...`.
            .filter_map(|line| line.trim().strip_prefix("test result: "))
            .map(|rest| Tally {
                passed: count_before(rest, "passed"),
                failed: count_before(rest, "failed"),
                skipped: count_before(rest, "ignored"),
            })
            .collect()
    }

    /// Reads nextest's closing `Summary [ 1.2s] 40 tests run: 39 passed, 1 failed, 2 skipped`.
    pub fn from_nextest(text: &str) -> Tally {
        let plain = plain(text);
        let Some(line) = plain
            .lines()
            .rev()
            .find(|l| l.contains(" run: ") && l.trim_start().starts_with("Summary"))
        else {
            return Tally::default();
        };
        let rest = &line[line.find(" run: ").map_or(0, |i| i + 6)..];
        Tally {
            passed: count_before(rest, "passed"),
            failed: count_before(rest, "failed"),
            skipped: count_before(rest, "skipped"),
        }
    }

    /// Reads pytest's closing line, e.g. `1 failed, 11 passed, 2 skipped in 3.2s`.
    pub fn from_pytest(text: &str) -> Tally {
        let plain = plain(text);
        let Some(line) = plain.lines().rev().find(|l| {
            let l = l.trim().trim_matches('=').trim();
            (l.contains(" in ") || l.starts_with("no tests ran"))
                && (l.contains("passed")
                    || l.contains("failed")
                    || l.contains("error")
                    || l.contains("no tests ran"))
        }) else {
            return Tally::default();
        };
        Tally {
            passed: count_before(line, "passed"),
            failed: count_before(line, "failed")
                + count_before(line, "error")
                + count_before(line, "errors"),
            skipped: count_before(line, "skipped"),
        }
    }
}

/// The number written just before `word` ("12 passed"), or 0 when the word is absent.
fn count_before(text: &str, word: &str) -> u64 {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '.')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|pair| pair[1] == word)
        .filter_map(|pair| pair[0].parse::<u64>().ok())
        .sum()
}

/// `text` without ANSI colour sequences (runners colour their summaries at a terminal).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        // CSI sequences end with a byte in '@'..='~'.
        if chars.next() == Some('[') {
            for end in chars.by_ref() {
                if ('@'..='~').contains(&end) {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_lines_are_summed_over_binaries() {
        let text = "\
running 3 tests
test a ... ok
test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s

   Doc-tests natter_proto
test result: FAILED. 4 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s
";
        assert_eq!(
            Tally::from_libtest(text),
            Tally {
                passed: 7,
                failed: 2,
                skipped: 1
            }
        );
    }

    #[test]
    fn libtest_without_result_lines_counts_nothing() {
        assert_eq!(
            Tally::from_libtest("error: could not compile"),
            Tally::default()
        );
    }

    #[test]
    fn nextest_summary_is_read_through_colours() {
        let text = "\
        PASS [   0.004s] natter-proto tests::a
\u{1b}[1m------------\u{1b}[0m
     \u{1b}[32;1mSummary\u{1b}[0m [   2.345s] \u{1b}[1m120\u{1b}[0m tests run: \u{1b}[1m118\u{1b}[0m \u{1b}[32;1mpassed\u{1b}[0m, \u{1b}[1m2\u{1b}[0m \u{1b}[31;1mfailed\u{1b}[0m, \u{1b}[1m3\u{1b}[0m \u{1b}[33;1mskipped\u{1b}[0m
";
        assert_eq!(
            Tally::from_nextest(text),
            Tally {
                passed: 118,
                failed: 2,
                skipped: 3
            }
        );
    }

    #[test]
    fn nextest_single_test_summary() {
        let text = "     Summary [   0.010s] 1 test run: 1 passed, 0 skipped\n";
        assert_eq!(
            Tally::from_nextest(text),
            Tally {
                passed: 1,
                failed: 0,
                skipped: 0
            }
        );
    }

    #[test]
    fn pytest_quiet_closing_line() {
        let text = "....F.\nFAILED test_x.py::test_y - assert 1 == 2\n1 failed, 5 passed, 2 skipped, 1 error in 3.21s\n";
        assert_eq!(
            Tally::from_pytest(text),
            Tally {
                passed: 5,
                failed: 2,
                skipped: 2
            }
        );
    }

    #[test]
    fn pytest_no_tests_counts_nothing() {
        let text = "\nno tests ran in 0.01s\n";
        assert_eq!(Tally::from_pytest(text), Tally::default());
    }

    #[test]
    fn pytest_ignores_a_test_name_that_mentions_passed() {
        let text = "test_passed_in_order.py ....\n4 passed in 0.50s\n";
        assert_eq!(Tally::from_pytest(text).passed, 4);
    }

    #[test]
    fn ci_line_leaves_skipped_out() {
        let t = Tally {
            passed: 310,
            failed: 2,
            skipped: 4,
        };
        assert_eq!(t.ci_line(), "ci: 310 passed, 2 failed");
    }

    #[test]
    fn libtest_binaries_one_per_result_line() {
        let text = "\
     Running tests/corpus_replay.rs (target/debug/deps/corpus_replay-1)
test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.20s
     Running tests/corpus_replay.rs (target/debug/deps/corpus_replay-2)
test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
";
        let binaries = Tally::libtest_binaries(text);
        assert_eq!(binaries.len(), 2);
        let named_result = "test result::tests::keeps_groups ... ok\n";
        assert!(Tally::libtest_binaries(named_result).is_empty());
        assert_eq!(binaries[0].passed, 4);
        assert_eq!(binaries[1].passed, 0);
    }

    #[test]
    fn closing_line_shape() {
        let t = Tally {
            passed: 10,
            failed: 0,
            skipped: 0,
        };
        assert_eq!(t.to_string(), "10 passed, 0 failed");
        let t = Tally {
            passed: 10,
            failed: 1,
            skipped: 2,
        };
        assert_eq!(t.to_string(), "10 passed, 1 failed, 2 skipped");
    }
}

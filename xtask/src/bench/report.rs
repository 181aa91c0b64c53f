//! Rendering the side-by-side figures as Markdown tables, and putting the section into
//! docs/benchmarks.md without touching the rest of the file. Pure, so it is tested.

use super::stats::{ratio, Summary};

/// The heading of the section this command owns in docs/benchmarks.md.
pub const HEADING: &str = "## Side by side with nats-server";

/// The goal for the server, from the issue: natter at least 1.25x nats-server's throughput, and
/// no worse on latency or memory.
pub const THROUGHPUT_GOAL: f64 = 1.25;

/// What a figure measures, which decides its formatting and which direction is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Messages per second; higher is better.
    Rate,
    /// Messages per second from the second generator (libnats), which saturates before
    /// either server on small messages: a check on `natter bench`, not scored against the
    /// goal.
    CheckRate,
    /// Microseconds; lower is better.
    Micros,
    /// KiB; lower is better.
    KiB,
}

/// One row of the main table.
#[derive(Debug, Clone)]
pub struct Line {
    pub scenario: String,
    pub payload: String,
    pub unit: Unit,
    pub natter: Option<Summary>,
    pub nats: Option<Summary>,
    /// nats-server in the same scenario driven by libnats, where that was measured. When
    /// libnats got more out of nats-server than `natter bench` did, the row is scored
    /// against libnats's figure as well, and the lower ratio decides.
    pub nats_libnats: Option<Summary>,
}

/// One row of the generator check: the same nats-server driven by two load generators.
#[derive(Debug, Clone)]
pub struct GeneratorLine {
    pub scenario: String,
    pub payload: String,
    /// `natter bench` against nats-server.
    pub natter_bench: Option<Summary>,
    /// libnats against nats-server.
    pub libnats: Option<Summary>,
    /// `natter bench` against natter-server: how fast the generator itself can go.
    pub reach: Option<Summary>,
}

/// The main table: medians with their min–max, the ratio, and whether the goal is met.
pub fn main_table(lines: &[Line]) -> String {
    let mut out = String::from(
        "| scenario | payload | natter-server | nats-server | natter / nats | goal |\n\
         |---|---|---|---|---|---|\n",
    );
    for l in lines {
        let r = ratio(l.natter.as_ref(), l.nats.as_ref());
        // libnats drove nats-server faster than `natter bench` did: also against that.
        let against_libnats = match (&l.nats_libnats, &l.nats) {
            (Some(other), Some(nats)) if other.median > nats.median => {
                ratio(l.natter.as_ref(), Some(other))
            }
            _ => None,
        };
        let shown = match (r, against_libnats) {
            (Some(r), Some(c)) => format!("{r:.2} ({c:.2} against libnats's nats-server figure)"),
            (Some(r), None) => format!("{r:.2}"),
            (None, _) => "–".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            l.scenario,
            l.payload,
            cell(l.natter.as_ref(), l.unit),
            cell(l.nats.as_ref(), l.unit),
            shown,
            verdict(against_libnats.or(r), l.unit),
        ));
    }
    out
}

/// The generator check table.
pub fn generator_table(lines: &[GeneratorLine]) -> String {
    let mut out = String::from(
        "| scenario | payload | `natter bench` → nats-server | libnats → nats-server | natter bench / libnats | `natter bench` → natter-server |\n\
         |---|---|---|---|---|---|\n",
    );
    for l in lines {
        let r = ratio(l.natter_bench.as_ref(), l.libnats.as_ref());
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            l.scenario,
            l.payload,
            cell(l.natter_bench.as_ref(), Unit::Rate),
            cell(l.libnats.as_ref(), Unit::Rate),
            r.map_or_else(|| "–".into(), |r| format!("{r:.2}")),
            cell(l.reach.as_ref(), Unit::Rate),
        ));
    }
    out
}

/// How far below libnats `natter bench` may land and still count as level with it.
pub const LEVEL: f64 = 0.02;

/// What the generator check shows: where `natter bench` drove nats-server at least as fast
/// as libnats did; where it was slower but drove natter-server faster than libnats drove
/// nats-server (so it had room, and nats-server set the rate); and where neither holds (so
/// the generator may be what limits that row).
pub fn generator_verdict(lines: &[GeneratorLine]) -> String {
    let mut room = Vec::new();
    let mut behind = Vec::new();
    let mut compared = 0;
    for l in lines {
        let (Some(nb), Some(lib)) = (&l.natter_bench, &l.libnats) else {
            continue;
        };
        compared += 1;
        // Within 2%, the two are level: a difference that small flips with noise.
        if nb.median >= lib.median * (1.0 - LEVEL) {
            continue;
        }
        let label = format!(
            "{} {} ({:.2})",
            l.scenario,
            l.payload,
            nb.median / lib.median
        );
        if l.reach.as_ref().is_some_and(|r| r.median >= lib.median) {
            room.push(label);
        } else {
            behind.push(label);
        }
    }
    if compared == 0 {
        return "No scenario had figures from both generators.\n".into();
    }
    let mut out = String::new();
    if room.is_empty() && behind.is_empty() {
        out.push_str(
            "`natter bench` drove nats-server at least as fast as libnats did in every checked \
             scenario: the generator is not the bottleneck there.\n",
        );
    }
    if !room.is_empty() {
        out.push_str(&format!(
            "`natter bench` drove nats-server more slowly than libnats did in: {}. It drove \
             natter-server faster than libnats drove nats-server in the same scenario, so it \
             is not simply at its own limit there, but it got less out of nats-server; the \
             main table scores those rows against libnats's nats-server figure as well.{}\n",
            room.join(", "),
            if behind.is_empty() {
                " In every other checked scenario it drove nats-server at least as fast as \
                 libnats did."
            } else {
                ""
            }
        ));
    }
    if !behind.is_empty() {
        out.push_str(&format!(
            "`natter bench` drove nats-server more slowly than libnats did, and did not reach \
             libnats's rate against natter-server either, in: {}. There the generator may be \
             what limits the run, so those natter/nats ratios measure it as much as the \
             servers.\n",
            behind.join(", ")
        ));
    }
    out
}

fn verdict(r: Option<f64>, unit: Unit) -> &'static str {
    match (r, unit) {
        (None, _) => "–",
        (Some(r), Unit::Rate) if r >= THROUGHPUT_GOAL => "met",
        (Some(_), Unit::Rate) => "**short**",
        (Some(_), Unit::CheckRate) => "generator check",
        (Some(r), _) if r <= 1.0 => "met",
        (Some(_), _) => "**worse**",
    }
}

/// `1.23 M/s (1.20–1.31)`: the median with its unit, then min–max in the same scale.
pub fn cell(s: Option<&Summary>, unit: Unit) -> String {
    let Some(s) = s else {
        return "no result".into();
    };
    let (div, suffix) = scale(s.median, unit);
    let digits = |v: f64| {
        let v = v / div;
        if v >= 100.0 {
            format!("{v:.0}")
        } else if v >= 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.2}")
        }
    };
    if s.samples > 1 {
        format!(
            "{} {suffix} ({}–{})",
            digits(s.median),
            digits(s.min),
            digits(s.max)
        )
    } else {
        format!("{} {suffix}", digits(s.median))
    }
}

fn scale(v: f64, unit: Unit) -> (f64, &'static str) {
    match unit {
        Unit::Rate | Unit::CheckRate if v >= 1e6 => (1e6, "M/s"),
        Unit::Rate | Unit::CheckRate if v >= 1e3 => (1e3, "k/s"),
        Unit::Rate | Unit::CheckRate => (1.0, "/s"),
        Unit::Micros if v >= 1e3 => (1e3, "ms"),
        Unit::Micros => (1.0, "µs"),
        Unit::KiB => (1.0, "KiB"),
    }
}

/// `doc` with the section under [`HEADING`] replaced by `section` (which starts with the
/// heading), up to the next `## ` heading; appended at the end when the heading is absent.
pub fn replace_section(doc: &str, section: &str) -> String {
    replace_section_under(doc, HEADING, section)
}

/// [`replace_section`] for the section under `heading`.
pub fn replace_section_under(doc: &str, heading: &str, section: &str) -> String {
    let section = section.trim_end();
    let lines: Vec<&str> = doc.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == heading) else {
        let mut out = doc.trim_end().to_string();
        out.push_str("\n\n");
        out.push_str(section);
        out.push('\n');
        return out;
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut out = String::new();
    for l in &lines[..start] {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(section);
    out.push('\n');
    if end < lines.len() {
        out.push('\n');
        for l in &lines[end..] {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::summarize;

    fn s(values: &[f64]) -> Option<Summary> {
        summarize(values)
    }

    #[test]
    fn cells_scale_units_and_show_spread() {
        assert_eq!(
            cell(s(&[1.2e6, 1.31e6, 1.23e6]).as_ref(), Unit::Rate),
            "1.23 M/s (1.20–1.31)"
        );
        assert_eq!(cell(s(&[45_600.0]).as_ref(), Unit::Rate), "45.6 k/s");
        assert_eq!(
            cell(s(&[812.0, 790.0]).as_ref(), Unit::Micros),
            "801 µs (790–812)"
        );
        assert_eq!(cell(s(&[2500.0]).as_ref(), Unit::Micros), "2.50 ms");
        assert_eq!(cell(s(&[3.5]).as_ref(), Unit::KiB), "3.50 KiB");
        assert_eq!(cell(None, Unit::Rate), "no result");
    }

    #[test]
    fn goal_direction_depends_on_the_unit() {
        let lines = vec![
            Line {
                scenario: "pub-only".into(),
                payload: "16 B".into(),
                unit: Unit::Rate,
                natter: s(&[2.5e6]),
                nats: s(&[2.0e6]),
                nats_libnats: None,
            },
            Line {
                scenario: "1 pub -> 1 sub".into(),
                payload: "16 B".into(),
                unit: Unit::Rate,
                natter: s(&[2.2e6]),
                nats: s(&[2.0e6]),
                nats_libnats: None,
            },
            Line {
                scenario: "request/reply p99".into(),
                payload: "16 B".into(),
                unit: Unit::Micros,
                natter: s(&[90.0]),
                nats: s(&[100.0]),
                nats_libnats: None,
            },
            Line {
                scenario: "RSS per idle connection".into(),
                payload: "–".into(),
                unit: Unit::KiB,
                natter: s(&[6.0]),
                nats: s(&[4.0]),
                nats_libnats: None,
            },
            Line {
                scenario: "request/reply".into(),
                payload: "1 KiB".into(),
                unit: Unit::Rate,
                natter: None,
                nats: s(&[1.0]),
                nats_libnats: None,
            },
            Line {
                scenario: "pub-only, libnats generator".into(),
                payload: "16 B".into(),
                unit: Unit::CheckRate,
                natter: s(&[2.0e6]),
                nats: s(&[2.0e6]),
                nats_libnats: None,
            },
        ];
        let mut lines = lines;
        // natter bench got 1.5 M/s from nats-server, libnats 2.0 M/s: scored against both.
        lines.push(Line {
            scenario: "pub-only, published".into(),
            payload: "128 B".into(),
            unit: Unit::Rate,
            natter: s(&[2.2e6]),
            nats: s(&[1.5e6]),
            nats_libnats: s(&[2.0e6]),
        });
        let table = main_table(&lines);
        let rows: Vec<&str> = table.lines().skip(2).collect();
        assert_eq!(
            rows[0],
            "| pub-only | 16 B | 2.50 M/s | 2.00 M/s | 1.25 | met |"
        );
        assert!(rows[1].ends_with("| 1.10 | **short** |"), "{}", rows[1]);
        assert!(rows[2].ends_with("| 0.90 | met |"), "{}", rows[2]);
        assert!(rows[3].ends_with("| 1.50 | **worse** |"), "{}", rows[3]);
        assert!(rows[4].contains("no result") && rows[4].ends_with("| – | – |"));
        assert_eq!(
            rows[5],
            "| pub-only, libnats generator | 16 B | 2.00 M/s | 2.00 M/s | 1.00 | generator check |"
        );
        assert_eq!(
            rows[6],
            "| pub-only, published | 128 B | 2.20 M/s | 1.50 M/s | 1.47 (1.10 against libnats's nats-server figure) | **short** |"
        );
    }

    #[test]
    fn generator_ratio_is_natter_bench_over_libnats() {
        let t = generator_table(&[GeneratorLine {
            scenario: "pub-only".into(),
            payload: "16 B".into(),
            natter_bench: s(&[3.0e6]),
            libnats: s(&[2.0e6]),
            reach: s(&[4.0e6]),
        }]);
        assert!(
            t.lines().nth(2).unwrap().ends_with("| 1.50 | 4.00 M/s |"),
            "{t}"
        );
    }

    #[test]
    fn generator_verdict_names_the_scenarios_where_it_lags() {
        let line = |scenario: &str, a: f64, b: f64, reach: f64| GeneratorLine {
            scenario: scenario.into(),
            payload: "16 B".into(),
            natter_bench: s(&[a]),
            libnats: s(&[b]),
            reach: s(&[reach]),
        };
        let ok = generator_verdict(&[line("pub-only", 1.0, 1.0, 1.5), line("1:1", 2.0, 1.0, 3.0)]);
        assert!(ok.contains("not the bottleneck"), "{ok}");
        // Slower than libnats against nats-server, but faster against natter-server.
        let room =
            generator_verdict(&[line("pub-only", 0.9, 1.0, 1.4), line("1:1", 2.0, 1.0, 3.0)]);
        assert!(
            room.contains("more slowly than libnats did in: pub-only 16 B (0.90). It drove")
                && !room.contains("1:1")
                && !room.contains("may be"),
            "{room}"
        );
        // Slower, and no faster against natter-server: possibly the limit.
        let lag =
            generator_verdict(&[line("pub-only", 0.33, 1.0, 0.5), line("1:1", 2.0, 1.0, 3.0)]);
        assert!(
            lag.contains("either, in: pub-only 16 B (0.33).") && !lag.contains("1:1"),
            "{lag}"
        );
        // Both kinds at once: no claim about "every other" scenario.
        let mixed =
            generator_verdict(&[line("pub-only", 0.9, 1.0, 1.4), line("1:1", 0.33, 1.0, 0.5)]);
        assert!(
            mixed.contains("pub-only 16 B (0.90)")
                && mixed.contains("1:1 16 B (0.33)")
                && !mixed.contains("every other"),
            "{mixed}"
        );
        // Within the 2% margin counts as level.
        let level = generator_verdict(&[line("pub-only", 0.99, 1.0, 1.0)]);
        assert!(level.contains("not the bottleneck"), "{level}");
        let none = generator_verdict(&[GeneratorLine {
            scenario: "x".into(),
            payload: "y".into(),
            natter_bench: None,
            libnats: s(&[1.0]),
            reach: None,
        }]);
        assert!(none.contains("No scenario"), "{none}");
    }

    #[test]
    fn section_is_replaced_up_to_the_next_heading() {
        let doc = "# Benchmarks\n\n## Crate benches\nkeep\n\n## Side by side with nats-server\nold\nold\n\n## Open work\n- x\n";
        let new = replace_section(doc, "## Side by side with nats-server\nnew\n");
        assert_eq!(
            new,
            "# Benchmarks\n\n## Crate benches\nkeep\n\n## Side by side with nats-server\nnew\n\n## Open work\n- x\n"
        );
        // Idempotent: writing the same section again changes nothing.
        assert_eq!(
            replace_section(&new, "## Side by side with nats-server\nnew\n"),
            new
        );
    }

    #[test]
    fn section_is_appended_when_absent_and_replaced_when_last() {
        let doc = "# Benchmarks\n\n## Open work\n- x\n";
        let added = replace_section(doc, "## Side by side with nats-server\nfirst\n");
        assert_eq!(
            added,
            "# Benchmarks\n\n## Open work\n- x\n\n## Side by side with nats-server\nfirst\n"
        );
        let again = replace_section(&added, "## Side by side with nats-server\nsecond\n");
        assert_eq!(
            again,
            "# Benchmarks\n\n## Open work\n- x\n\n## Side by side with nats-server\nsecond\n"
        );
    }
}

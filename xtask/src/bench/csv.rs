//! Reading the `--csv` report of `natter bench`, whose shape follows `nats bench`:
//! `RunID, ClientID, MsgCount, MsgBytes, MsgsPerSec, BytesPerSec, DurationSecs`, one row per
//! client (`P0`, `P1`... publishers, `S0`... subscribers), plus latency percentile columns
//! (`P50`, `P99`... with a unit in the name) when the run was `--request`. Columns are found by
//! header name, so their order and extra columns do not matter.

/// One client's row.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRow {
    pub id: String,
    pub msgs: u64,
    pub duration_secs: f64,
    /// (percentile, microseconds), e.g. (99.9, 812.0); empty unless the run was `--request`.
    pub latency_us: Vec<(f64, f64)>,
}

/// Every client row of one report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub rows: Vec<ClientRow>,
}

impl Report {
    /// Parses the whole CSV text. Fails, naming what is missing, when the header lacks a
    /// needed column or a row does not parse.
    pub fn parse(text: &str) -> Result<Report, String> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines.next().ok_or("the CSV report is empty")?;
        let names: Vec<String> = split(header)
            .into_iter()
            .map(|n| n.trim().trim_start_matches('#').to_ascii_lowercase())
            .collect();
        let find = |want: &str| {
            names
                .iter()
                .position(|n| n == want)
                .ok_or_else(|| format!("the CSV header has no `{want}` column: {header}"))
        };
        let id_col = find("clientid")?;
        let count_col = find("msgcount")?;
        let duration_col = find("durationsecs")?;
        let latency_cols: Vec<(usize, f64, f64)> = names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| percentile_column(n).map(|(p, scale)| (i, p, scale)))
            .collect();

        let mut rows = Vec::new();
        for line in lines {
            let fields = split(line);
            let field = |i: usize| fields.get(i).map(|f| f.trim()).unwrap_or("");
            let id = field(id_col).to_string();
            let msgs = field(count_col)
                .parse::<u64>()
                .map_err(|_| format!("MsgCount is not a whole number in `{line}`"))?;
            let duration_secs = field(duration_col)
                .parse::<f64>()
                .map_err(|_| format!("DurationSecs is not a number in `{line}`"))?;
            let latency_us = latency_cols
                .iter()
                .filter_map(|&(i, p, scale)| {
                    field(i)
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .map(|v| (p, v * scale))
                })
                .collect();
            rows.push(ClientRow {
                id,
                msgs,
                duration_secs,
                latency_us,
            });
        }
        if rows.is_empty() {
            return Err("the CSV report has a header but no client rows".into());
        }
        Ok(Report { rows })
    }

    /// Messages per second summed over the publishers: all their messages over the longest
    /// publisher's duration (so one slow publisher is not hidden by an average).
    pub fn publish_rate(&self) -> f64 {
        self.side_rate('P')
    }

    /// Messages per second delivered to the subscribers, counted the same way.
    pub fn delivery_rate(&self) -> f64 {
        self.side_rate('S')
    }

    /// The worst (largest) value of one latency percentile over the rows that report it.
    pub fn latency_us(&self, percentile: f64) -> Option<f64> {
        self.rows
            .iter()
            .flat_map(|r| r.latency_us.iter())
            .filter(|(p, _)| (p - percentile).abs() < 1e-9)
            .map(|&(_, v)| v)
            .reduce(f64::max)
    }

    fn side_rate(&self, prefix: char) -> f64 {
        let side = self
            .rows
            .iter()
            .filter(|r| r.id.starts_with(prefix) && r.id[1..].chars().all(|c| c.is_ascii_digit()));
        let (msgs, longest) = side.fold((0u64, 0f64), |(m, d), r| {
            (m + r.msgs, d.max(r.duration_secs))
        });
        super::stats::rate(msgs as f64, longest)
    }
}

/// Splits one CSV line, honouring double quotes (Go's csv writer quotes a field that holds a
/// comma or a quote).
fn split(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// Reads a latency column name such as `p99.9us`, `latencyp50(ms)`, `p999_ns` or `p90micros`
/// (already lower-cased): the percentile and the factor to microseconds. `p999` is 99.9, as in
/// the NATS tools. A name with no recognisable unit is taken as microseconds.
pub fn percentile_column(name: &str) -> Option<(f64, f64)> {
    let bytes = name.as_bytes();
    let start = (0..bytes.len().saturating_sub(1))
        .find(|&i| bytes[i] == b'p' && bytes[i + 1].is_ascii_digit())?;
    let rest = &name[start + 1..];
    let end = rest
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_digit()
                || ((c == '.' || c == '_')
                    && rest[i + 1..].starts_with(|d: char| d.is_ascii_digit())))
        })
        .map_or(rest.len(), |(i, _)| i);
    let digits = rest[..end].replace('_', ".");
    let unit = &rest[end..];
    let percentile = match digits.as_str() {
        "999" => 99.9,
        "9999" => 99.99,
        d => d.parse::<f64>().ok()?,
    };
    if !(0.0..=100.0).contains(&percentile) {
        return None;
    }
    let scale = if unit.contains("ns") || unit.contains("nano") {
        0.001
    } else if unit.contains("us") || unit.contains("µs") || unit.contains("micro") {
        1.0
    } else if unit.contains("ms") || unit.contains("milli") {
        1000.0
    } else if unit.contains("sec") || unit.trim_matches(|c: char| !c.is_alphabetic()) == "s" {
        1_000_000.0
    } else {
        1.0
    };
    Some((percentile, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUB_SUB: &str = "\
#RunID, ClientID, MsgCount, MsgBytes, MsgsPerSec, BytesPerSec, DurationSecs
abc,P0,100000,1600000,500000,8000000.000000,0.200000
abc,S0,100000,1600000,400000,6400000.000000,0.250000
abc,S1,100000,1600000,200000,3200000.000000,0.500000
";

    #[test]
    fn rates_use_total_count_over_longest_duration() {
        let r = Report::parse(PUB_SUB).unwrap();
        assert_eq!(r.rows.len(), 3);
        assert_eq!(r.publish_rate(), 500_000.0);
        // 200k delivered over the slower subscriber's 0.5 s.
        assert_eq!(r.delivery_rate(), 400_000.0);
        assert_eq!(r.latency_us(99.0), None);
    }

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let text = "DurationSecs,MsgCount,ClientID,RunID\n2.0,1000,P0,x\n";
        let r = Report::parse(text).unwrap();
        assert_eq!(r.publish_rate(), 500.0);
        assert!(r.delivery_rate().is_nan(), "no subscriber rows");
    }

    #[test]
    fn request_latency_columns_are_read_in_microseconds() {
        let text = "\
RunID,ClientID,MsgCount,MsgBytes,MsgsPerSec,BytesPerSec,DurationSecs,P50Us,P90Us,P99Us,P99.9Us
r,P0,20000,320000,20000,320000,1.0,40.5,55,90,\"1,200\"
r,S0,20000,320000,20000,320000,1.0,,,,
";
        let r = Report::parse(text).unwrap();
        assert_eq!(r.latency_us(50.0), Some(40.5));
        assert_eq!(r.latency_us(99.0), Some(90.0));
        // "1,200" is not a number: that figure is missing, the rest of the row still counts.
        assert_eq!(r.latency_us(99.9), None);
        assert_eq!(r.publish_rate(), 20_000.0);
    }

    #[test]
    fn natter_bench_request_report() {
        // The header `natter bench --request --csv` writes: latency columns in microseconds,
        // replier rows first with the latency cells empty.
        let text = "\
#RunID,ClientID,MsgCount,MsgBytes,MsgsPerSec,BytesPerSec,DurationSecs,LatencyMinUs,LatencyAvgUs,LatencyP50Us,LatencyP90Us,LatencyP99Us,LatencyP999Us,LatencyMaxUs
1-2,S0,10000,160000,25000,400000.000000,0.400000,,,,,,,
1-2,P0,10000,160000,25000,400000.000000,0.400000,20.100,38.000,35.500,44.000,71.250,130.000,900.000
";
        let r = Report::parse(text).unwrap();
        assert_eq!(r.latency_us(50.0), Some(35.5));
        assert_eq!(r.latency_us(90.0), Some(44.0));
        assert_eq!(r.latency_us(99.0), Some(71.25));
        assert_eq!(r.latency_us(99.9), Some(130.0));
        assert_eq!(r.publish_rate(), 25_000.0);
    }

    #[test]
    fn percentile_names_and_units() {
        assert_eq!(percentile_column("p50us"), Some((50.0, 1.0)));
        assert_eq!(percentile_column("p99.9us"), Some((99.9, 1.0)));
        assert_eq!(percentile_column("p99_9_ms"), Some((99.9, 1000.0)));
        assert_eq!(percentile_column("p999(ns)"), Some((99.9, 0.001)));
        assert_eq!(percentile_column("latencyp90micros"), Some((90.0, 1.0)));
        assert_eq!(percentile_column("p99secs"), Some((99.0, 1_000_000.0)));
        assert_eq!(percentile_column("p90"), Some((90.0, 1.0)));
        assert_eq!(percentile_column("msgspersec"), None);
        assert_eq!(percentile_column("clientid"), None);
    }

    #[test]
    fn quoted_fields_keep_their_commas() {
        assert_eq!(split(r#"a,"b,c","d""e""#), ["a", "b,c", "d\"e"]);
    }

    #[test]
    fn bad_reports_say_what_is_wrong() {
        assert!(Report::parse("").unwrap_err().contains("empty"));
        assert!(Report::parse("RunID,ClientID,MsgCount\n")
            .unwrap_err()
            .contains("durationsecs"));
        assert!(Report::parse("ClientID,MsgCount,DurationSecs\n")
            .unwrap_err()
            .contains("no client rows"));
        assert!(Report::parse("ClientID,MsgCount,DurationSecs\nP0,many,1\n")
            .unwrap_err()
            .contains("MsgCount"));
    }
}

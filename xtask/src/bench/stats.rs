//! The arithmetic of the side-by-side table: medians, spread, ratios. Pure, so it is tested
//! without a server.

/// The median and the extremes of a handful of repeated measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub samples: usize,
}

/// Summarises `values`; `None` when there is nothing to summarise. NaNs (a run that produced
/// no figure) are left out rather than poisoning the median.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Some(Summary {
        median,
        min: sorted[0],
        max: sorted[n - 1],
        samples: n,
    })
}

/// natter / nats-server, or `None` when nats-server's figure is zero or missing.
pub fn ratio(natter: Option<&Summary>, nats: Option<&Summary>) -> Option<f64> {
    let (a, b) = (natter?.median, nats?.median);
    (b > 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

/// Messages per second from a count and a duration; NaN for a zero or negative duration, which
/// [`summarize`] then ignores.
pub fn rate(count: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count / seconds
    } else {
        f64::NAN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(summarize(&[3.0, 1.0, 2.0]).unwrap().median, 2.0);
        assert_eq!(summarize(&[4.0, 1.0, 3.0, 2.0]).unwrap().median, 2.5);
        assert_eq!(summarize(&[7.0]).unwrap().median, 7.0);
    }

    #[test]
    fn extremes() {
        let s = summarize(&[90.0, 110.0, 100.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.samples), (100.0, 90.0, 110.0, 3));
    }

    #[test]
    fn nan_runs_are_left_out_and_nothing_gives_none() {
        let s = summarize(&[f64::NAN, 5.0, 1.0]).unwrap();
        assert_eq!((s.median, s.samples), (3.0, 2));
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[f64::NAN]), None);
    }

    #[test]
    fn ratio_is_natter_over_nats() {
        let natter = summarize(&[250.0]).unwrap();
        let nats = summarize(&[200.0]).unwrap();
        assert_eq!(ratio(Some(&natter), Some(&nats)), Some(1.25));
        let zero = summarize(&[0.0]).unwrap();
        assert_eq!(ratio(Some(&natter), Some(&zero)), None);
        assert_eq!(ratio(None, Some(&nats)), None);
    }

    #[test]
    fn rate_of_zero_duration_is_not_a_number() {
        assert_eq!(rate(100.0, 2.0), 50.0);
        assert!(rate(100.0, 0.0).is_nan());
    }
}

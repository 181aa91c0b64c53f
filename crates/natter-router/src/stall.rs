//! Fast-producer stall, as nats-server 2.9/2.10 applies it.
//!
//! When a delivery leaves a session with more than half of `max_pending` unsent, that
//! session is stalled. A socket publisher that fed it waits, after the read batch that
//! did it, until the stalled session's writer brings it back under half, or until a
//! timeout that grows with how full it is: 100 ms just past half, 100 ms more per
//! further 5 % of `max_pending`, 1 s when full. A healthy subscriber that is a moment
//! behind gets time to catch up instead of being cut off as a slow consumer; one that
//! never reads still reaches `max_pending` and is closed, and the publisher is never
//! held longer than the timeout per batch.

use std::time::Duration;

/// The wait for a subscriber just past the stall mark.
pub(crate) const STALL_MIN: Duration = Duration::from_millis(100);
/// The longest wait, for a subscriber at `max_pending`.
pub(crate) const STALL_MAX: Duration = Duration::from_secs(1);

/// Unsent bytes above which a session is stalled; `None` when `max_pending` is unlimited.
pub(crate) fn stall_threshold(max_pending: usize) -> Option<usize> {
    (max_pending != 0).then_some(max_pending / 2)
}

/// How long a publisher may wait for a session with `unsent` bytes to catch up.
pub(crate) fn stall_duration(unsent: usize, max_pending: usize) -> Duration {
    if max_pending == 0 {
        return STALL_MIN;
    }
    if unsent >= max_pending {
        return STALL_MAX;
    }
    let half = max_pending / 2;
    let step = max_pending / 20;
    if unsent <= half || step == 0 {
        return STALL_MIN;
    }
    let steps = ((unsent - half) / step) as u32;
    STALL_MIN.saturating_mul(steps + 1).min(STALL_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_grows_with_the_backlog() {
        let ms = |u| stall_duration(u, 100).as_millis();
        assert_eq!(ms(0), 100);
        assert_eq!(ms(49), 100);
        assert_eq!(ms(50), 100);
        assert_eq!(ms(55), 200);
        assert_eq!(ms(60), 300);
        assert_eq!(ms(70), 500);
        assert_eq!(ms(90), 900);
        assert_eq!(ms(99), 1000);
        assert_eq!(ms(100), 1000);
        assert_eq!(ms(110), 1000);
        assert_eq!(stall_duration(5, 0), STALL_MIN);
        assert_eq!(stall_duration(7, 10), STALL_MIN);
    }

    #[test]
    fn threshold_is_half_of_max_pending() {
        assert_eq!(stall_threshold(0), None);
        assert_eq!(stall_threshold(256 * 1024), Some(128 * 1024));
    }
}

//! Queue member choice: a small fast generator per thread, so publishers on different
//! threads never contend on it.

use std::cell::RefCell;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

thread_local! {
    static RNG: RefCell<SmallRng> = RefCell::new(SmallRng::from_os_rng());
}

/// A uniform index in `0..n`; `n` must be non-zero.
pub(crate) fn below(n: usize) -> usize {
    RNG.with(|r| r.borrow_mut().random_range(0..n))
}

//! Exact good/total event counts.
//!
//! Counts are kept as cumulative sums in ring buffers. They use wrapping arithmetic so that a
//! correction (a re-judged time slice) can be applied as a subtraction: differences of
//! cumulative sums stay exact as long as every real window total is non-negative.

use std::ops::{Add, Sub};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub good: u64,
    pub total: u64,
}

impl Counts {
    pub const ZERO: Counts = Counts { good: 0, total: 0 };

    pub const fn new(good: u64, total: u64) -> Counts {
        Counts { good, total }
    }

    pub fn bad(self) -> u64 {
        self.total.saturating_sub(self.good)
    }

    /// good / total, or `None` when there were no events.
    pub fn ratio(self) -> Option<f64> {
        (self.total > 0).then(|| self.good as f64 / self.total as f64)
    }

    /// bad / total, 0 when there were no events (no traffic burns no budget).
    pub fn error_ratio(self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.bad() as f64 / self.total as f64
        }
    }
}

impl Add for Counts {
    type Output = Counts;
    fn add(self, rhs: Counts) -> Counts {
        Counts {
            good: self.good.wrapping_add(rhs.good),
            total: self.total.wrapping_add(rhs.total),
        }
    }
}

impl Sub for Counts {
    type Output = Counts;
    fn sub(self, rhs: Counts) -> Counts {
        Counts {
            good: self.good.wrapping_sub(rhs.good),
            total: self.total.wrapping_sub(rhs.total),
        }
    }
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, rhs: Counts) {
        *self = *self + rhs;
    }
}

//! The bounds Steward holds every input to, chosen so that no count can overflow and no
//! window can take more memory than an SLO is allowed. Each is checked where the input
//! arrives (the config reader, sample validation), with a message that names the bound.
//!
//! Why these numbers: the longest span any figure sums over is a rolling window or calendar
//! period of [`MAX_WINDOW`] (366 days: 8,784 hours, 8,785 with a DST change). Samples are
//! admitted only while the hour they fall in (for time-slice SLOs: their slice) stays within
//! [`MAX_HOUR_EVENTS`] for each objective they feed, so a window holds at most
//! 8,785 × 10¹⁵ ≈ 8.8·10¹⁸ events, below 2⁶³ ≈ 9.2·10¹⁸: no running sum, calendar
//! counter or stored row (a signed 64-bit integer in both stores) can overflow. A stored row
//! covers at most an hour of one series, and a series feeds its objectives, so a row holds at
//! most 10¹⁵ as well.

use crate::duration::Duration;

/// The most events (good or total) one objective may count in one hour, all samples together;
/// and so the most one sample may carry.
pub const MAX_HOUR_EVENTS: u64 = 1_000_000_000_000_000;

/// The longest rolling window or calendar period.
pub const MAX_WINDOW: Duration = Duration::days(366);

/// The longest time slice (Timeslices and RatioTimeslices).
pub const MAX_SLICE: Duration = Duration::hours(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_window_of_full_hours_fits_in_a_signed_64_bit_integer() {
        let hours = (MAX_WINDOW.secs() / 3600 + 1) as u128;
        assert!(hours * MAX_HOUR_EVENTS as u128 <= i64::MAX as u128);
    }
}

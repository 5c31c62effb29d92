//! The bounds Steward holds every input to, chosen so that no count can overflow and no
//! window can take more memory than an SLO is allowed. Each is checked where the input
//! arrives (the config reader, sample validation), with a message that names the bound.
//!
//! Why these numbers: the longest span any figure sums over is a rolling window or calendar
//! period of [`MAX_WINDOW`] (366 days, 8,784 hours, 8,785 on a DST year in a time zone).
//! An objective is fed by at most two stored series (samples sent to the SLO and samples
//! sent to the objective by name). Every stored row of one series at the finest resolution
//! (5 s) holds at most [`MAX_BUCKET_EVENTS`]; a row rolled up to 1 h holds at most 720 of
//! those. So a window holds at most 8,785 × 720 × 2 × 5·10¹¹ ≈ 6.3·10¹⁸ events, below
//! 2⁶³ ≈ 9.2·10¹⁸: no running sum, calendar counter or stored row (a signed 64-bit
//! integer in both stores) can overflow.

use crate::duration::Duration;

/// The most good or total events one sample may carry.
pub const MAX_SAMPLE_EVENTS: u64 = 500_000_000_000;

/// The most events one series may hold in one 5-second bucket, all samples together.
pub const MAX_BUCKET_EVENTS: u64 = MAX_SAMPLE_EVENTS;

/// The longest rolling window or calendar period.
pub const MAX_WINDOW: Duration = Duration::days(366);

/// The longest time slice (Timeslices and RatioTimeslices).
pub const MAX_SLICE: Duration = Duration::hours(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_window_of_full_buckets_fits_in_a_signed_64_bit_integer() {
        let hours = (MAX_WINDOW.secs() / 3600 + 1) as u128;
        let per_hour_row = 720 * MAX_BUCKET_EVENTS as u128;
        assert!(hours * per_hour_row * 2 < i64::MAX as u128);
    }
}

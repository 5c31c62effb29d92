//! A status page's daily bars: each day of an SLO, in the reader's time zone, judged against
//! its share of the error budget. Pure: the caller brings the counts and `now`.

use crate::Counts;
use jiff::civil::Date;
use jiff::tz::TimeZone;

crate::words! {
    /// How one day of an SLO went.
    pub enum DayState {
        /// No event that day: neither good nor bad, and said so.
        NoTraffic = "no-traffic",
        /// Its bad events stayed within the day's share of the budget.
        WithinBudget = "within-budget",
        /// Its bad events exceeded the day's share of the budget.
        OverBudget = "over-budget",
    }
}

/// Parts per billion: targets have at most nine decimals (`limits.rs`).
const PPB: u128 = 1_000_000_000;

/// A day's state. The budget is proportional to traffic, so a day's share of it is
/// `(1 − target) × its events`: a day is over when `bad > (1 − target) × total`, judged in
/// whole parts per billion so that no rounding decides it.
pub fn day_state(counts: Counts, target: f64) -> DayState {
    if counts.total == 0 {
        return DayState::NoTraffic;
    }
    let allowed_ppb = ((1.0 - target.clamp(0.0, 1.0)) * PPB as f64).round() as u128;
    let bad = u128::from(counts.total - counts.good.min(counts.total));
    // At most 2⁶⁴ × 10⁹ on either side: no overflow.
    if bad * PPB > allowed_ppb * u128::from(counts.total) {
        DayState::OverBudget
    } else {
        DayState::WithinBudget
    }
}

/// The last `n` local days in `zone` up to and including the one holding `now`, oldest
/// first: each day's date and its [start, end) in unix seconds (23 or 25 hours long across a
/// DST change).
pub fn last_days(now: i64, n: usize, zone: &TimeZone) -> Vec<(Date, i64, i64)> {
    let Ok(t) = jiff::Timestamp::from_second(now) else {
        return Vec::new();
    };
    let today = t.to_zoned(zone.clone()).date();
    let start_of = |d: Date| {
        d.to_zoned(zone.clone())
            .map(|z| z.timestamp().as_second())
            .ok()
    };
    let mut out = Vec::with_capacity(n.min(1000));
    let mut d = today;
    for _ in 0..n {
        let (Some(a), Some(b)) = (start_of(d), d.tomorrow().ok().and_then(start_of)) else {
            break;
        };
        out.push((d, a, b));
        match d.yesterday() {
            Ok(y) => d = y,
            Err(_) => break,
        }
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_over_when_its_bad_events_exceed_its_share_of_the_budget() {
        // 99.9 %: 1,000 events allow exactly 1 bad one.
        assert_eq!(
            day_state(Counts::new(999, 1000), 0.999),
            DayState::WithinBudget
        );
        assert_eq!(
            day_state(Counts::new(998, 1000), 0.999),
            DayState::OverBudget
        );
        // 1 bad in 999 events is over (999 allow 0.999).
        assert_eq!(
            day_state(Counts::new(998, 999), 0.999),
            DayState::OverBudget
        );
        assert_eq!(day_state(Counts::new(0, 0), 0.999), DayState::NoTraffic);
        assert_eq!(
            day_state(Counts::new(10, 10), 0.999999999),
            DayState::WithinBudget
        );
        // A 100 % target allows nothing bad.
        assert_eq!(day_state(Counts::new(9, 10), 1.0), DayState::OverBudget);
        // Targets outside [0, 1] are taken at the bound, not overflowed.
        assert_eq!(
            day_state(Counts::new(0, u64::MAX), -5.0),
            DayState::WithinBudget
        );
        assert_eq!(
            day_state(Counts::new(u64::MAX - 1, u64::MAX), 7.0),
            DayState::OverBudget
        );
        // Exactly at the limit at nine decimals, where floating point would wobble.
        assert_eq!(
            day_state(
                Counts::new(999_999_999_999 - 1_000, 999_999_999_999),
                0.999_999_999
            ),
            DayState::OverBudget
        );
        assert_eq!(
            day_state(
                Counts::new(1_000_000_000_000 - 1_000, 1_000_000_000_000),
                0.999_999_999
            ),
            DayState::WithinBudget
        );
    }

    #[test]
    fn the_last_days_are_local_and_dst_days_are_23_or_25_hours() {
        let ny = TimeZone::get("America/New_York").unwrap();
        // 2026-03-09 12:00 New York: the three days up to it, 8 March being 23 hours long.
        let now = "2026-03-09T12:00:00-04:00"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second();
        let days = last_days(now, 3, &ny);
        let dates: Vec<String> = days.iter().map(|(d, _, _)| d.to_string()).collect();
        assert_eq!(dates, ["2026-03-07", "2026-03-08", "2026-03-09"]);
        let hours: Vec<i64> = days.iter().map(|(_, a, b)| (b - a) / 3600).collect();
        assert_eq!(hours, [24, 23, 24]);
        assert!(
            days.windows(2).all(|w| w[0].2 == w[1].1),
            "days follow each other"
        );
        let nov = "2026-11-01T12:00:00-05:00"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second();
        assert_eq!(
            last_days(nov, 1, &ny)
                .iter()
                .map(|(_, a, b)| (b - a) / 3600)
                .collect::<Vec<_>>(),
            [25]
        );
        assert_eq!(last_days(now, 90, &ny).len(), 90);
    }
}

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

crate::words! {
    /// What a status page says of a service now.
    pub enum ServiceState {
        Operational = "operational",
        /// A maintenance window of the service is open.
        Maintenance = "maintenance",
        /// A ticket-urgency burn, or an open SEV3/SEV4 incident.
        Degraded = "degraded",
        /// A page-urgency burn, or an open SEV1/SEV2 incident.
        Outage = "outage",
    }
}

impl ServiceState {
    /// The state from what Steward knows now: the worst open incident's severity (`SEV1` …
    /// `SEV4`), whether a page or a ticket burn-rate condition fires, and whether a
    /// maintenance window is open. Planned maintenance explains a burn, not an incident.
    pub fn of(
        worst_incident: Option<&str>,
        page_burn: bool,
        ticket_burn: bool,
        maintenance: bool,
    ) -> ServiceState {
        match worst_incident {
            Some("SEV1" | "SEV2") => return ServiceState::Outage,
            Some(_) => return ServiceState::Degraded,
            None => {}
        }
        if maintenance {
            ServiceState::Maintenance
        } else if page_burn {
            ServiceState::Outage
        } else if ticket_burn {
            ServiceState::Degraded
        } else {
            ServiceState::Operational
        }
    }

    /// How bad it is, to show a customer's worst.
    pub fn severity(self) -> u8 {
        match self {
            ServiceState::Operational => 0,
            ServiceState::Maintenance => 1,
            ServiceState::Degraded => 2,
            ServiceState::Outage => 3,
        }
    }

    /// The words a reader outside sees.
    pub fn describe(self) -> &'static str {
        match self {
            ServiceState::Operational => "Operational",
            ServiceState::Maintenance => "Under maintenance",
            ServiceState::Degraded => "Degraded performance",
            ServiceState::Outage => "Major outage",
        }
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

impl DayState {
    /// How bad a day is, for showing the worst of several SLOs: over budget, then within,
    /// then no traffic.
    pub fn severity(self) -> u8 {
        match self {
            DayState::NoTraffic => 0,
            DayState::WithinBudget => 1,
            DayState::OverBudget => 2,
        }
    }
}

/// How one SLO did over a span (a month of a report): its counts against its objective.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attainment {
    pub counts: Counts,
    pub target: f64,
    /// good ÷ total; `None` without traffic.
    pub ratio: Option<f64>,
    /// Bad events ÷ the budget the span's events allowed; `None` without traffic or with no
    /// budget at all (a 100 % objective).
    pub budget_spent: Option<f64>,
    /// Whether the objective was met, judged exactly as a day is; `None` without traffic.
    pub met: Option<bool>,
}

impl Attainment {
    pub fn of(counts: Counts, target: f64) -> Attainment {
        let total = counts.total;
        let bad = total - counts.good.min(total);
        let allowed = (1.0 - target.clamp(0.0, 1.0)) * total as f64;
        Attainment {
            counts,
            target,
            ratio: (total > 0).then(|| counts.good.min(total) as f64 / total as f64),
            budget_spent: (total > 0 && allowed > 0.0).then(|| bad as f64 / allowed),
            met: (total > 0).then(|| day_state(counts, target) == DayState::WithinBudget),
        }
    }
}

/// A calendar month written `YYYY-MM`: its first day and its [start, end) in unix seconds in
/// `zone`.
pub fn month_bounds(month: &str, zone: &TimeZone) -> Result<(Date, i64, i64), String> {
    let bad = || format!("month `{month}` is not a month; write it as YYYY-MM, e.g. 2026-11");
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let (y, m): (i16, i8) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let first = Date::new(y, m, 1).map_err(|_| bad())?;
    let next = first
        .checked_add(jiff::Span::new().months(1))
        .map_err(|_| bad())?;
    let at = |d: Date| {
        d.to_zoned(zone.clone())
            .map(|z| z.timestamp().as_second())
            .map_err(|_| bad())
    };
    Ok((first, at(first)?, at(next)?))
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
    fn an_open_incident_outranks_maintenance_which_explains_a_burn() {
        use ServiceState::*;
        assert_eq!(ServiceState::of(None, false, false, false), Operational);
        assert_eq!(ServiceState::of(None, false, true, false), Degraded);
        assert_eq!(ServiceState::of(None, true, true, false), Outage);
        assert_eq!(ServiceState::of(None, true, false, true), Maintenance);
        assert_eq!(ServiceState::of(Some("SEV3"), false, false, true), Degraded);
        assert_eq!(ServiceState::of(Some("SEV2"), false, false, false), Outage);
        assert_eq!(ServiceState::of(Some("SEV1"), false, false, true), Outage);
    }

    #[test]
    fn a_month_is_its_local_days_and_a_bad_month_is_named() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // October 2026 in Berlin: 31 days and the hour given back on the 25th.
        let (first, a, b) = month_bounds("2026-10", &berlin).unwrap();
        assert_eq!(first, jiff::civil::date(2026, 10, 1));
        assert_eq!(a, 1_790_805_600); // 2026-09-30T22:00:00Z
        assert_eq!(b - a, 31 * 86_400 + 3600);
        let (_, a, b) = month_bounds("2026-12", &TimeZone::UTC).unwrap();
        assert_eq!((a, b - a), (1_796_083_200, 31 * 86_400));
        for bad in [
            "2026-13", "2026-1", "26-11", "2026/11", "", "2026-00", "x-11",
        ] {
            let e = month_bounds(bad, &TimeZone::UTC).unwrap_err();
            assert!(e.contains("YYYY-MM"), "{bad}: {e}");
        }
    }

    #[test]
    fn attainment_is_exact_and_says_when_there_was_no_traffic() {
        let a = Attainment::of(Counts::new(9_990, 10_000), 0.999);
        assert_eq!(a.ratio, Some(0.999));
        assert!((a.budget_spent.unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(a.met, Some(true), "exactly the budget is met");
        let a = Attainment::of(Counts::new(9_989, 10_000), 0.999);
        assert_eq!(a.met, Some(false));
        assert!((a.budget_spent.unwrap() - 1.1).abs() < 1e-9);
        let none = Attainment::of(Counts::new(0, 0), 0.999);
        assert_eq!(
            (none.ratio, none.budget_spent, none.met),
            (None, None, None)
        );
        let strict = Attainment::of(Counts::new(10, 10), 1.0);
        assert_eq!((strict.budget_spent, strict.met), (None, Some(true)));
    }

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

//! SLO time windows: rolling (the last N) and calendar-aligned (this month, in a time zone).

use crate::duration::Duration;
use jiff::{civil, tz::TimeZone, Span, Timestamp, Zoned};

#[derive(Clone, Debug, PartialEq)]
pub enum SloWindow {
    Rolling(Duration),
    Calendar(CalendarWindow),
}

/// A calendar period: `count` `unit`s starting at `anchor`, repeating, DST-correct in the
/// anchor's time zone (a day is 23 or 25 hours on a DST change; a month is 28 to 31 days).
#[derive(Clone, Debug, PartialEq)]
pub struct CalendarWindow {
    pub anchor: Zoned,
    pub unit: CalendarUnit,
    pub count: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalendarUnit {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

/// A half-open interval `[start, end)` in unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub start: i64,
    pub end: i64,
}

impl Period {
    pub fn length(&self) -> Duration {
        Duration::from_secs(self.end - self.start)
    }
    pub fn contains(&self, t: i64) -> bool {
        self.start <= t && t < self.end
    }
}

impl CalendarUnit {
    /// `n` units, or `None` past what a calendar can express.
    fn span(self, n: i64) -> Option<Span> {
        let s = Span::new();
        match self {
            CalendarUnit::Minute => s.try_minutes(n),
            CalendarUnit::Hour => s.try_hours(n),
            CalendarUnit::Day => s.try_days(n),
            CalendarUnit::Week => s.try_weeks(n),
            CalendarUnit::Month => s.try_months(n),
            CalendarUnit::Quarter => s.try_months(n.checked_mul(3)?),
            CalendarUnit::Year => s.try_years(n),
        }
        .ok()
    }

    /// A typical length, used only to guess how many periods lie between two instants.
    fn nominal_secs(self) -> i64 {
        match self {
            CalendarUnit::Minute => 60,
            CalendarUnit::Hour => 3600,
            CalendarUnit::Day => 86_400,
            CalendarUnit::Week => 7 * 86_400,
            CalendarUnit::Month => 2_629_746,
            CalendarUnit::Quarter => 7_889_238,
            CalendarUnit::Year => 31_556_952,
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            CalendarUnit::Minute => "m",
            CalendarUnit::Hour => "h",
            CalendarUnit::Day => "d",
            CalendarUnit::Week => "w",
            CalendarUnit::Month => "M",
            CalendarUnit::Quarter => "Q",
            CalendarUnit::Year => "Y",
        }
    }
}

impl CalendarWindow {
    /// A window that starts at local midnight of the first day of `unit` in `tz` — the usual
    /// "calendar month in Europe/Berlin" — anchored on 2000-01-01 (a Saturday; weeks are
    /// anchored on Monday 2000-01-03).
    pub fn aligned(unit: CalendarUnit, count: i64, tz: TimeZone) -> CalendarWindow {
        let date = if unit == CalendarUnit::Week {
            civil::date(2000, 1, 3)
        } else {
            civil::date(2000, 1, 1)
        };
        let anchor = date
            .to_zoned(tz)
            .expect("2000-01-01 midnight exists in every time zone");
        CalendarWindow {
            anchor,
            unit,
            count,
        }
    }

    fn start_of(&self, k: i64) -> Option<Zoned> {
        let span = self.unit.span(k.checked_mul(self.count)?)?;
        self.anchor.checked_add(span).ok()
    }

    /// The period that contains `t`.
    pub fn period_at(&self, t: i64) -> Period {
        let at = Timestamp::from_second(t).unwrap_or(Timestamp::UNIX_EPOCH);
        let secs = |z: &Zoned| z.timestamp().as_second();
        let len = self.unit.nominal_secs() * self.count;
        let mut k = (t - self.anchor.timestamp().as_second()).div_euclid(len);
        // The guess is off by at most a period or two; walk to the right one.
        loop {
            let (Some(start), Some(end)) = (self.start_of(k), self.start_of(k + 1)) else {
                return Period {
                    start: t,
                    end: t + 1,
                };
            };
            if start.timestamp() > at {
                k -= 1;
            } else if end.timestamp() <= at {
                k += 1;
            } else {
                return Period {
                    start: secs(&start),
                    end: secs(&end),
                };
            }
        }
    }

    pub fn describe(&self) -> String {
        format!("{}{}", self.count, self.unit.suffix())
    }

    /// The longest one period can be: 31 days for a month, 25 hours for a day with a DST
    /// change.
    pub fn longest(&self) -> Duration {
        let unit: i64 = match self.unit {
            CalendarUnit::Minute => 60,
            CalendarUnit::Hour => 3600,
            CalendarUnit::Day => 25 * 3600,
            CalendarUnit::Week => 7 * 86_400 + 3600,
            CalendarUnit::Month => 31 * 86_400 + 3600,
            CalendarUnit::Quarter => 92 * 86_400 + 3600,
            CalendarUnit::Year => 366 * 86_400 + 3600,
        };
        Duration::from_secs(unit.saturating_mul(self.count))
    }
}

impl SloWindow {
    /// The span whose events count toward the budget at `now`.
    pub fn period_at(&self, now: i64) -> Period {
        match self {
            SloWindow::Rolling(d) => Period {
                start: now - d.secs(),
                end: now,
            },
            SloWindow::Calendar(c) => c.period_at(now),
        }
    }

    /// `30d`, or `1M` for a calendar month.
    pub fn describe(&self) -> String {
        match self {
            SloWindow::Rolling(d) => d.to_string(),
            SloWindow::Calendar(c) => c.describe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_second()
    }

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    #[test]
    fn calendar_month_in_a_time_zone() {
        let w = CalendarWindow::aligned(CalendarUnit::Month, 1, tz("Europe/Berlin"));
        let p = w.period_at(ts("2026-03-15T12:00:00Z"));
        // March starts at 00:00 CET (+01:00) and ends at 00:00 CEST (+02:00) on April 1st.
        assert_eq!(p.start, ts("2026-02-28T23:00:00Z"));
        assert_eq!(p.end, ts("2026-03-31T22:00:00Z"));
        assert_eq!(p.length(), Duration::from_secs(31 * 86_400 - 3600));
    }

    #[test]
    fn calendar_day_is_23_hours_on_spring_forward() {
        let w = CalendarWindow::aligned(CalendarUnit::Day, 1, tz("America/New_York"));
        let p = w.period_at(ts("2026-03-08T12:00:00Z"));
        assert_eq!(p.start, ts("2026-03-08T05:00:00Z"));
        assert_eq!(p.length(), Duration::hours(23));
        let p = w.period_at(ts("2026-11-01T12:00:00Z"));
        assert_eq!(p.length(), Duration::hours(25));
    }

    #[test]
    fn period_boundaries_are_half_open() {
        let w = CalendarWindow::aligned(CalendarUnit::Month, 1, TimeZone::UTC);
        let p = w.period_at(ts("2026-12-01T00:00:00Z"));
        assert_eq!(p.start, ts("2026-12-01T00:00:00Z"));
        let p = w.period_at(ts("2026-11-30T23:59:59Z"));
        assert_eq!(p.end, ts("2026-12-01T00:00:00Z"));
    }

    #[test]
    fn weeks_start_on_monday_and_quarters_on_january() {
        let w = CalendarWindow::aligned(CalendarUnit::Week, 1, TimeZone::UTC);
        let p = w.period_at(ts("2026-11-21T10:00:00Z")); // a Saturday
        assert_eq!(p.start, ts("2026-11-16T00:00:00Z"));
        let w = CalendarWindow::aligned(CalendarUnit::Quarter, 1, TimeZone::UTC);
        let p = w.period_at(ts("2026-11-21T10:00:00Z"));
        assert_eq!(p.start, ts("2026-10-01T00:00:00Z"));
        assert_eq!(p.end, ts("2027-01-01T00:00:00Z"));
    }

    /// Problem 4 of the spine issue: a calendar window of 20000Y panicked in `serve`.
    #[test]
    fn a_calendar_too_long_to_compute_is_a_one_second_period_not_a_panic() {
        let w = CalendarWindow::aligned(CalendarUnit::Year, 20_000, TimeZone::UTC);
        let t = ts("2026-11-21T10:00:00Z");
        assert_eq!(
            w.period_at(t),
            Period {
                start: t,
                end: t + 1
            }
        );
    }

    #[test]
    fn anchored_week_follows_its_start_time() {
        // OpenSLO's example: a week starting 2022-01-01 12:00 in New York (a Saturday noon).
        let anchor = civil::datetime(2022, 1, 1, 12, 0, 0, 0)
            .to_zoned(tz("America/New_York"))
            .unwrap();
        let w = CalendarWindow {
            anchor,
            unit: CalendarUnit::Week,
            count: 1,
        };
        let p = w.period_at(ts("2026-11-21T10:00:00Z"));
        assert_eq!(p.start, ts("2026-11-14T17:00:00Z"));
        assert_eq!(p.end, ts("2026-11-21T17:00:00Z"));
    }
}

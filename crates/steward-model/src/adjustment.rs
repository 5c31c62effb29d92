//! Budget adjustments: time that counts as neither good nor bad for the SLOs they name
//! (planned maintenance, known events), once or recurring by an RFC 5545 RRULE, at the same
//! local time across DST changes.

use jiff::civil::{DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// How often a recurrence repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freq {
    Daily,
    Weekly,
    Monthly,
}

/// The part of RFC 5545's RRULE that Steward reads: FREQ (DAILY, WEEKLY, MONTHLY), INTERVAL,
/// BYDAY (weekdays, with WEEKLY), COUNT and UNTIL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recurrence {
    pub freq: Freq,
    pub interval: u32,
    pub by_day: Vec<Weekday>,
    pub count: Option<u32>,
    pub until: Option<i64>,
}

/// At most this many occurrences are looked at for one adjustment.
pub const MAX_OCCURRENCES: usize = 100_000;

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s {
        "MO" => Weekday::Monday,
        "TU" => Weekday::Tuesday,
        "WE" => Weekday::Wednesday,
        "TH" => Weekday::Thursday,
        "FR" => Weekday::Friday,
        "SA" => Weekday::Saturday,
        "SU" => Weekday::Sunday,
        _ => return None,
    })
}

impl Recurrence {
    /// Reads `FREQ=WEEKLY;BYDAY=SA,SU;INTERVAL=1` (an `RRULE:` prefix is allowed).
    pub fn parse(text: &str) -> Result<Recurrence, String> {
        let body = text.trim().strip_prefix("RRULE:").unwrap_or(text.trim());
        let (mut freq, mut interval, mut by_day, mut count, mut until) =
            (None, 1u32, Vec::new(), None, None);
        let mut seen: Vec<&str> = Vec::new();
        for part in body.split(';').filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not NAME=VALUE"))?;
            if seen.contains(&k) {
                return Err(format!("{k} is given twice"));
            }
            seen.push(k);
            match k {
                "FREQ" => {
                    freq = Some(match v {
                        "DAILY" => Freq::Daily,
                        "WEEKLY" => Freq::Weekly,
                        "MONTHLY" => Freq::Monthly,
                        _ => return Err(format!("FREQ `{v}` is not one of DAILY, WEEKLY, MONTHLY")),
                    })
                }
                "INTERVAL" => {
                    interval = v
                        .parse()
                        .ok()
                        .filter(|i| (1..=1000).contains(i))
                        .ok_or_else(|| format!("INTERVAL `{v}` is not a number from 1 to 1000"))?
                }
                "BYDAY" => {
                    for d in v.split(',') {
                        by_day.push(weekday(d).ok_or_else(|| {
                            format!("BYDAY `{d}` is not one of MO, TU, WE, TH, FR, SA, SU")
                        })?);
                    }
                }
                "COUNT" => {
                    count = Some(
                        v.parse()
                            .ok()
                            .filter(|c| *c >= 1)
                            .ok_or_else(|| format!("COUNT `{v}` is not a positive number"))?,
                    )
                }
                "UNTIL" => {
                    let t = parse_until(v)
                        .ok_or_else(|| format!("UNTIL `{v}` is not a time such as 20261231T000000Z"))?;
                    until = Some(t);
                }
                other => {
                    return Err(format!(
                        "RRULE part `{other}` is not one Steward reads (FREQ, INTERVAL, BYDAY, COUNT, UNTIL)"
                    ))
                }
            }
        }
        let freq = freq.ok_or("an RRULE needs FREQ")?;
        if !by_day.is_empty() && freq != Freq::Weekly {
            return Err("BYDAY goes with FREQ=WEEKLY".into());
        }
        if count.is_some() && until.is_some() {
            return Err("an RRULE has COUNT or UNTIL, not both".into());
        }
        Ok(Recurrence {
            freq,
            interval,
            by_day,
            count,
            until,
        })
    }
}

impl Recurrence {
    /// The shortest time between two starts, roughly (days count 23 h, months 28 days): an
    /// occurrence must be shorter, or the adjustment would exclude all time.
    pub fn shortest_gap(&self) -> i64 {
        let i = i64::from(self.interval);
        match self.freq {
            Freq::Daily => i * 86_400 - 3600,
            Freq::Monthly => i * 28 * 86_400,
            Freq::Weekly if self.by_day.len() <= 1 => i * 7 * 86_400 - 3600,
            Freq::Weekly => {
                let mut days: Vec<i64> = self
                    .by_day
                    .iter()
                    .map(|d| i64::from(d.to_monday_zero_offset()))
                    .collect();
                days.sort_unstable();
                days.dedup();
                let wrap = days[0] + 7 * i - days[days.len() - 1];
                let gap = days
                    .windows(2)
                    .map(|w| w[1] - w[0])
                    .min()
                    .unwrap_or(wrap)
                    .min(wrap);
                gap * 86_400 - 3600
            }
        }
    }

    /// An upper bound of one period's length (DST days are 25 h, months 31 days): skipping
    /// by it never skips a period that reaches `from`.
    fn period_ceiling(&self) -> i64 {
        let i = i64::from(self.interval);
        match self.freq {
            Freq::Daily => i * 25 * 3600,
            Freq::Weekly => i * (7 * 86_400 + 3600),
            Freq::Monthly => i * 31 * 86_400 + 3600,
        }
    }
}

impl std::fmt::Display for Recurrence {
    /// The rule as RFC 5545 writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let freq = match self.freq {
            Freq::Daily => "DAILY",
            Freq::Weekly => "WEEKLY",
            Freq::Monthly => "MONTHLY",
        };
        write!(f, "FREQ={freq}")?;
        if self.interval != 1 {
            write!(f, ";INTERVAL={}", self.interval)?;
        }
        if !self.by_day.is_empty() {
            let days: Vec<&str> = self
                .by_day
                .iter()
                .map(|d| {
                    ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][d.to_monday_zero_offset() as usize]
                })
                .collect();
            write!(f, ";BYDAY={}", days.join(","))?;
        }
        if let Some(c) = self.count {
            write!(f, ";COUNT={c}")?;
        }
        if let Some(u) = self.until.and_then(|u| Timestamp::from_second(u).ok()) {
            write!(f, ";UNTIL={}", u.strftime("%Y%m%dT%H%M%SZ"))?;
        }
        Ok(())
    }
}

/// `20261231T000000Z` or an RFC 3339 time.
fn parse_until(v: &str) -> Option<i64> {
    if let Ok(t) = v.parse::<Timestamp>() {
        return Some(t.as_second());
    }
    let b = v.strip_suffix('Z')?;
    let dt = DateTime::strptime("%Y%m%dT%H%M%S", b).ok()?;
    dt.to_zoned(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// Time that counts for none of `slos`: from `start` for `duration` seconds, and again at
/// each recurrence (the same local time in `time_zone`).
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetAdjustment {
    pub name: String,
    pub description: String,
    pub service: String,
    /// The SLI (or SLO) it names; `None`: every SLO of the service.
    pub indicator: Option<String>,
    pub start: i64,
    pub duration: i64,
    pub recurrence: Option<Recurrence>,
    pub time_zone: TimeZone,
}

impl BudgetAdjustment {
    /// The excluded intervals that overlap [from, to), in order.
    pub fn intervals(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        let Some(rule) = &self.recurrence else {
            let end = self.start.saturating_add(self.duration);
            return if end > from && self.start < to {
                vec![(self.start, end)]
            } else {
                Vec::new()
            };
        };
        let Ok(first) = Timestamp::from_second(self.start) else {
            return Vec::new();
        };
        let local = first.to_zoned(self.time_zone.clone()).datetime();
        let at = |dt: DateTime| {
            dt.to_zoned(self.time_zone.clone())
                .ok()
                .map(|z| z.timestamp().as_second())
        };
        let mut out = Vec::new();
        let mut seen = 0u32;
        // Without COUNT, the periods that end before `from` need no walking: skip as many
        // as certainly end before it, counting each as long as a period can be.
        let skip = match rule.count {
            Some(_) => 0,
            None => ((from - self.start - self.duration) / rule.period_ceiling() - 1).max(0),
        };
        'outer: for k in skip..skip + MAX_OCCURRENCES as i64 {
            let step = k * i64::from(rule.interval);
            let candidates: Vec<DateTime> = match rule.freq {
                Freq::Daily => local.checked_add(step.days()).ok().into_iter().collect(),
                // A month without the start's day (the 31st in April) has no occurrence.
                Freq::Monthly => local
                    .checked_add(step.months())
                    .ok()
                    .filter(|d| d.day() == local.day())
                    .into_iter()
                    .collect(),
                Freq::Weekly if rule.by_day.is_empty() => {
                    local.checked_add(step.weeks()).ok().into_iter().collect()
                }
                Freq::Weekly => {
                    // The days of this period's week (Monday first), from the first start on.
                    let monday = local
                        .checked_sub(i64::from(local.weekday().to_monday_zero_offset()).days())
                        .and_then(|m| m.checked_add(step.weeks()));
                    let Ok(monday) = monday else { break };
                    let mut days: Vec<DateTime> = rule
                        .by_day
                        .iter()
                        .filter_map(|d| {
                            monday
                                .checked_add(i64::from(d.to_monday_zero_offset()).days())
                                .ok()
                        })
                        .filter(|d| *d >= local)
                        .collect();
                    days.sort();
                    days.dedup();
                    days
                }
            };
            if candidates.is_empty() {
                // A week whose days all come before the start, or a short month: go on.
                if rule.freq == Freq::Weekly || rule.freq == Freq::Monthly {
                    continue;
                }
                break;
            }
            for dt in candidates {
                let Some(start) = at(dt) else { continue };
                if rule.until.is_some_and(|u| start > u) || start >= to {
                    break 'outer;
                }
                seen += 1;
                if rule.count.is_some_and(|c| seen > c) {
                    break 'outer;
                }
                let end = start.saturating_add(self.duration);
                if end > from {
                    out.push((start, end));
                }
            }
        }
        merge(out)
    }
}

/// Intervals sorted and joined where they touch or overlap.
pub fn merge(mut spans: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    spans.retain(|(a, b)| a < b);
    spans.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Whether `t` falls in one of the merged intervals.
pub fn excluded(spans: &[(i64, i64)], t: i64) -> bool {
    if spans.is_empty() {
        return false;
    }
    let i = spans.partition_point(|(a, _)| *a <= t);
    i > 0 && t < spans[i - 1].1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_second()
    }

    #[test]
    fn a_weekly_window_keeps_its_local_time_across_the_dst_change() {
        // Sundays 03:00–04:00 in Berlin: 02:00Z in winter, 01:00Z in summer.
        let a = BudgetAdjustment {
            name: "backup".into(),
            description: String::new(),
            service: "db".into(),
            indicator: None,
            start: ts("2026-03-15T02:00:00Z"),
            duration: 3600,
            recurrence: Some(Recurrence::parse("RRULE:FREQ=WEEKLY;BYDAY=SU").unwrap()),
            time_zone: TimeZone::get("Europe/Berlin").unwrap(),
        };
        assert_eq!(
            a.intervals(ts("2026-03-01T00:00:00Z"), ts("2026-04-06T00:00:00Z")),
            vec![
                (ts("2026-03-15T02:00:00Z"), ts("2026-03-15T03:00:00Z")),
                (ts("2026-03-22T02:00:00Z"), ts("2026-03-22T03:00:00Z")),
                (ts("2026-03-29T01:00:00Z"), ts("2026-03-29T02:00:00Z")),
                (ts("2026-04-05T01:00:00Z"), ts("2026-04-05T02:00:00Z")),
            ]
        );
    }

    #[test]
    fn count_until_interval_and_weekdays_bound_the_occurrences() {
        let mut a = BudgetAdjustment {
            name: "n".into(),
            description: String::new(),
            service: "s".into(),
            indicator: None,
            start: ts("2026-01-05T10:00:00Z"), // a Monday
            duration: 600,
            recurrence: Some(Recurrence::parse("FREQ=DAILY;INTERVAL=2;COUNT=3").unwrap()),
            time_zone: TimeZone::UTC,
        };
        let starts = |a: &BudgetAdjustment| -> Vec<i64> {
            a.intervals(ts("2026-01-01T00:00:00Z"), ts("2026-03-01T00:00:00Z"))
                .iter()
                .map(|x| x.0)
                .collect()
        };
        assert_eq!(
            starts(&a),
            [
                ts("2026-01-05T10:00:00Z"),
                ts("2026-01-07T10:00:00Z"),
                ts("2026-01-09T10:00:00Z")
            ]
        );
        a.recurrence =
            Some(Recurrence::parse("FREQ=WEEKLY;BYDAY=WE,MO;UNTIL=20260114T000000Z").unwrap());
        assert_eq!(
            starts(&a),
            [
                ts("2026-01-05T10:00:00Z"),
                ts("2026-01-07T10:00:00Z"),
                ts("2026-01-12T10:00:00Z")
            ]
        );
        assert_eq!(
            Recurrence::parse("FREQ=HOURLY").unwrap_err(),
            "FREQ `HOURLY` is not one of DAILY, WEEKLY, MONTHLY"
        );
        assert_eq!(
            Recurrence::parse("FREQ=DAILY;BYSETPOS=1").unwrap_err(),
            "RRULE part `BYSETPOS` is not one Steward reads (FREQ, INTERVAL, BYDAY, COUNT, UNTIL)"
        );
    }

    #[test]
    fn a_weekly_rule_whose_first_week_has_no_day_left_starts_the_next_week_and_months_skip() {
        let a = BudgetAdjustment {
            name: "n".into(),
            description: String::new(),
            service: "s".into(),
            indicator: None,
            start: ts("2026-01-07T10:00:00Z"), // a Wednesday; Mondays only
            duration: 600,
            recurrence: Some(Recurrence::parse("FREQ=WEEKLY;BYDAY=MO").unwrap()),
            time_zone: TimeZone::UTC,
        };
        let starts: Vec<i64> = a
            .intervals(ts("2026-01-01T00:00:00Z"), ts("2026-01-20T00:00:00Z"))
            .iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(
            starts,
            [ts("2026-01-12T10:00:00Z"), ts("2026-01-19T10:00:00Z")]
        );
        let monthly = BudgetAdjustment {
            start: ts("2026-01-31T10:00:00Z"),
            recurrence: Some(Recurrence::parse("FREQ=MONTHLY;COUNT=3").unwrap()),
            ..a.clone()
        };
        let starts: Vec<i64> = monthly
            .intervals(ts("2026-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z"))
            .iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(
            starts,
            [
                ts("2026-01-31T10:00:00Z"),
                ts("2026-03-31T10:00:00Z"),
                ts("2026-05-31T10:00:00Z")
            ]
        );
        // Started long ago: the recent occurrences are there, found without walking them all.
        let old = BudgetAdjustment {
            start: ts("1971-01-01T00:00:00Z"),
            recurrence: Some(Recurrence::parse("FREQ=DAILY").unwrap()),
            ..a
        };
        assert_eq!(
            old.intervals(ts("2026-06-01T00:00:00Z"), ts("2026-06-03T00:00:00Z")),
            vec![
                (ts("2026-06-01T00:00:00Z"), ts("2026-06-01T00:10:00Z")),
                (ts("2026-06-02T00:00:00Z"), ts("2026-06-02T00:10:00Z"))
            ]
        );
        assert_eq!(
            Recurrence::parse("FREQ=DAILY;FREQ=WEEKLY").unwrap_err(),
            "FREQ is given twice"
        );
        assert_eq!(
            Recurrence::parse("FREQ=WEEKLY;BYDAY=MO,WE")
                .unwrap()
                .shortest_gap(),
            2 * 86_400 - 3600
        );
    }

    #[test]
    fn excluded_finds_the_interval_of_an_instant() {
        let spans = merge(vec![(10, 20), (15, 30), (40, 50)]);
        assert_eq!(spans, vec![(10, 30), (40, 50)]);
        let hits: Vec<i64> = [9, 10, 29, 30, 39, 40, 49, 50]
            .into_iter()
            .filter(|t| excluded(&spans, *t))
            .collect();
        assert_eq!(hits, [10, 29, 40, 49]);
    }
}

//! Who is on call: rotations, layers, restrictions and overrides, resolved to shifts.
//!
//! A rotation hands off at a local time in its time zone: shifts of days or weeks are counted
//! in the calendar, so a daily 09:00 hand-off stays at 09:00 across a DST change (that day's
//! shift is 23 or 25 hours long); shifts of hours are counted in elapsed time. A hand-off that
//! falls in a DST gap moves to the first instant after it; one in a repeated hour takes the
//! first of the two. Later layers take precedence over earlier ones wherever they have
//! someone on call; an override takes precedence over every layer.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftLength {
    Hours(u32),
    Days(u32),
    Weeks(u32),
}

/// When a layer may have someone on call: these weekdays (Monday first), from `from` to
/// `to` local time (`to` at or before `from`: until `to` the next day).
#[derive(Clone, Debug, PartialEq)]
pub struct Restriction {
    pub days: [bool; 7],
    pub from: Time,
    pub to: Time,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rotation {
    pub name: String,
    pub participants: Vec<String>,
    pub shift: ShiftLength,
    /// The first hand-off, local time: `participants[0]` starts then.
    pub start: DateTime,
    pub time_zone: TimeZone,
    /// Empty: always.
    pub restrictions: Vec<Restriction>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub name: String,
    pub time_zone: TimeZone,
    /// Later layers take precedence.
    pub layers: Vec<Rotation>,
}

/// `user` is on call from `start` to `end` (unix seconds, end exclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shift {
    pub user: String,
    pub start: i64,
    pub end: i64,
}

/// Instants handled: 1970 to 2100, well inside what jiff represents.
pub const MIN_T: i64 = 0;
pub const MAX_T: i64 = 4_102_444_800;

fn local(dt: DateTime, tz: &TimeZone) -> i64 {
    // `to_zoned` resolves gaps and folds as RFC 5545 does ("compatible").
    dt.to_zoned(tz.clone())
        .map_or(MAX_T, |z| z.timestamp().as_second())
}

fn civil(t: i64, tz: &TimeZone) -> DateTime {
    Timestamp::from_second(t.clamp(MIN_T, MAX_T))
        .map(|ts| tz.to_datetime(ts))
        .unwrap_or_default()
}

impl Rotation {
    /// When shift `k` starts (shift 0 at `start`).
    pub fn boundary(&self, k: i64) -> i64 {
        let first = local(self.start, &self.time_zone);
        let days = match self.shift {
            ShiftLength::Hours(h) => {
                return first
                    .saturating_add(k.saturating_mul(i64::from(h) * 3600))
                    .clamp(MIN_T, MAX_T)
            }
            ShiftLength::Days(d) => i64::from(d),
            ShiftLength::Weeks(w) => i64::from(w) * 7,
        };
        let date = jiff::Span::new()
            .try_days(k.saturating_mul(days))
            .and_then(|span| self.start.date().checked_add(span));
        match date {
            Ok(date) => {
                local(date.to_datetime(self.start.time()), &self.time_zone).clamp(MIN_T, MAX_T)
            }
            Err(_) if k < 0 => MIN_T,
            Err(_) => MAX_T,
        }
    }

    fn nominal_secs(&self) -> i64 {
        match self.shift {
            ShiftLength::Hours(h) => i64::from(h) * 3600,
            ShiftLength::Days(d) => i64::from(d) * 86_400,
            ShiftLength::Weeks(w) => i64::from(w) * 7 * 86_400,
        }
        .max(1)
    }

    /// The shift that holds `t` (the estimate from the nominal length is off by a few
    /// shifts at most, for DST; the steps are bounded all the same).
    fn index_at(&self, t: i64) -> i64 {
        let t = t.clamp(MIN_T, MAX_T);
        let first = local(self.start, &self.time_zone);
        let mut k = (t - first).div_euclid(self.nominal_secs());
        for _ in 0..1000 {
            if self.boundary(k) > t {
                k -= 1;
            } else if self.boundary(k + 1) <= t && self.boundary(k + 1) < MAX_T {
                k += 1;
            } else {
                break;
            }
        }
        k
    }

    fn participant(&self, k: i64) -> Option<&String> {
        let n = self.participants.len() as i64;
        (n > 0).then(|| &self.participants[k.rem_euclid(n) as usize])
    }

    /// The shifts that overlap [from, to), clipped to it and to the restrictions.
    pub fn shifts(&self, from: i64, to: i64) -> Vec<Shift> {
        let mut out = Vec::new();
        let first = local(self.start, &self.time_zone);
        let from = from.max(first);
        if from >= to || self.participants.is_empty() {
            return out;
        }
        let mut k = self.index_at(from);
        loop {
            let (s, e) = (self.boundary(k), self.boundary(k + 1));
            if s >= to || e <= s {
                break;
            }
            let user = self.participant(k).expect("participants checked above");
            let (s, e) = (s.max(from), e.min(to));
            if self.restrictions.is_empty() {
                out.push(Shift {
                    user: user.clone(),
                    start: s,
                    end: e,
                });
            } else {
                for (a, b) in self.allowed(s, e) {
                    out.push(Shift {
                        user: user.clone(),
                        start: a,
                        end: b,
                    });
                }
            }
            k += 1;
        }
        out
    }

    /// The parts of [s, e) the restrictions allow, in order.
    fn allowed(&self, s: i64, e: i64) -> Vec<(i64, i64)> {
        let mut spans = Vec::new();
        let tz = &self.time_zone;
        let mut day: Date = civil(s, tz).date().yesterday().unwrap_or(Date::MIN);
        let last = civil(e, tz).date();
        while day <= last {
            let weekday = day.weekday().to_monday_zero_offset() as usize;
            for r in &self.restrictions {
                if !r.days[weekday] {
                    continue;
                }
                let a = local(day.to_datetime(r.from), tz);
                let end_day = if r.to <= r.from {
                    day.tomorrow().unwrap_or(day)
                } else {
                    day
                };
                let b = local(end_day.to_datetime(r.to), tz);
                let (a, b) = (a.max(s), b.min(e));
                if a < b {
                    spans.push((a, b));
                }
            }
            match day.tomorrow() {
                Ok(d) => day = d,
                Err(_) => break,
            }
        }
        merge(spans)
    }
}

/// Sorts spans and joins those that touch or overlap.
fn merge(mut spans: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
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

impl Schedule {
    /// Who is on call over [from, to): the final shifts, overrides and layers applied, in
    /// order, adjacent shifts of the same person joined. Time nobody covers is left out.
    pub fn timeline(&self, overrides: &[Shift], from: i64, to: i64) -> Vec<Shift> {
        let (from, to) = (from.clamp(MIN_T, MAX_T), to.clamp(MIN_T, MAX_T));
        if from >= to {
            return Vec::new();
        }
        // Every layer's shifts (and the overrides, as the top layer), then each elementary
        // interval between their edges goes to the highest layer that covers it.
        let mut layers: Vec<Vec<Shift>> = self.layers.iter().map(|l| l.shifts(from, to)).collect();
        layers.push(
            overrides
                .iter()
                .filter(|o| o.end > from && o.start < to && o.start < o.end)
                .map(|o| Shift {
                    user: o.user.clone(),
                    start: o.start.max(from),
                    end: o.end.min(to),
                })
                .collect(),
        );
        let mut edges: Vec<i64> = vec![from, to];
        for l in &layers {
            for s in l {
                edges.push(s.start);
                edges.push(s.end);
            }
        }
        edges.sort_unstable();
        edges.dedup();
        // A layer's shifts are in order and do not overlap: one cursor a layer walks them
        // with the edges. Overrides may overlap (a later one wins), so they are searched.
        let overrides = layers.pop().unwrap_or_default();
        let mut cursors = vec![0usize; layers.len()];
        let mut out: Vec<Shift> = Vec::new();
        for w in edges.windows(2) {
            let (a, b) = (w[0], w[1]);
            let mut who = overrides
                .iter()
                .rev()
                .find(|s| s.start <= a && a < s.end)
                .map(|s| &s.user);
            for (l, c) in layers.iter().zip(cursors.iter_mut()).rev() {
                while *c < l.len() && l[*c].end <= a {
                    *c += 1;
                }
                if who.is_none() && *c < l.len() && l[*c].start <= a {
                    who = Some(&l[*c].user);
                }
            }
            let Some(user) = who else { continue };
            match out.last_mut() {
                Some(last) if last.end == a && &last.user == user => last.end = b,
                _ => out.push(Shift {
                    user: user.clone(),
                    start: a,
                    end: b,
                }),
            }
        }
        out
    }

    /// Who is on call at `at`.
    pub fn on_call(&self, overrides: &[Shift], at: i64) -> Option<String> {
        self.timeline(overrides, at, at.saturating_add(1))
            .into_iter()
            .next()
            .map(|s| s.user)
    }

    /// Who is on call at `at` (the whole shift, from when it began to when it hands off) and
    /// the next shift that starts after `at`. It looks a month either way, and further (up
    /// to 400 days) while the shift reaches the edge of what it looked at — a person alone on
    /// a rotation is on call until the next override, not until a month from now.
    pub fn now_and_next(&self, overrides: &[Shift], at: i64) -> (Option<Shift>, Option<Shift>) {
        const HORIZONS: [i64; 3] = [31 * 86_400, 124 * 86_400, 400 * 86_400];
        let mut found = (None, None);
        for horizon in HORIZONS {
            let (from, to) = (at.saturating_sub(horizon), at.saturating_add(horizon));
            let timeline = self.timeline(overrides, from, to);
            let current = timeline
                .iter()
                .find(|s| s.start <= at && at < s.end)
                .cloned();
            let next = timeline.into_iter().find(|s| s.start > at);
            let clipped = current
                .as_ref()
                .is_some_and(|s| s.start <= from || s.end >= to)
                || (current.is_none() && next.is_none());
            found = (current, next);
            if !clipped {
                break;
            }
        }
        found
    }

    /// Every interval in [from, to) that nobody covers.
    pub fn gaps(&self, overrides: &[Shift], from: i64, to: i64) -> Vec<(i64, i64)> {
        let (from, to) = (from.clamp(MIN_T, MAX_T), to.clamp(MIN_T, MAX_T));
        let mut gaps = Vec::new();
        let mut at = from;
        for s in self.timeline(overrides, from, to) {
            if s.start > at {
                gaps.push((at, s.start));
            }
            at = at.max(s.end);
        }
        if at < to {
            gaps.push((at, to));
        }
        gaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: "until" was cut at a month from now, so a person alone on a rotation
    /// seemed to hand off in 31 days.
    #[test]
    fn a_shift_longer_than_a_month_is_reported_whole() {
        let s = schedule(vec![rotation(
            &["ann"],
            ShiftLength::Weeks(1),
            "2026-01-05T09:00",
            "UTC",
        )]);
        let at = ts("2026-03-02T12:00:00Z");
        let (now, next) = s.now_and_next(&[], at);
        let now = now.unwrap();
        assert_eq!(now.user, "ann");
        assert!(now.end > at + 124 * 86_400, "until {}", now.end - at);
        assert!(next.is_none() || next.unwrap().start > at + 124 * 86_400);
    }

    fn ts(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_second()
    }

    fn rotation(people: &[&str], shift: ShiftLength, start: &str, tz: &str) -> Rotation {
        Rotation {
            name: "r".into(),
            participants: people.iter().map(|p| p.to_string()).collect(),
            shift,
            start: start.parse().unwrap(),
            time_zone: TimeZone::get(tz).unwrap(),
            restrictions: Vec::new(),
        }
    }

    fn schedule(layers: Vec<Rotation>) -> Schedule {
        Schedule {
            name: "s".into(),
            time_zone: TimeZone::UTC,
            layers,
        }
    }

    #[test]
    fn a_daily_nine_oclock_hand_off_stays_at_nine_across_both_dst_changes() {
        let r = rotation(
            &["ann", "bob"],
            ShiftLength::Days(1),
            "2026-03-06T09:00",
            "America/New_York",
        );
        // 2026-03-08 is spring forward in New York; 2026-11-01 fall back.
        assert_eq!(r.boundary(1), ts("2026-03-07T14:00:00Z")); // EST, UTC-5
        assert_eq!(r.boundary(2), ts("2026-03-08T13:00:00Z")); // EDT, UTC-4
        assert_eq!(r.boundary(2) - r.boundary(1), 23 * 3600);
        let s = schedule(vec![r.clone()]);
        assert_eq!(
            s.on_call(&[], ts("2026-03-08T12:59:59Z")).as_deref(),
            Some("bob")
        );
        assert_eq!(
            s.on_call(&[], ts("2026-03-08T13:00:00Z")).as_deref(),
            Some("ann")
        );
        let k = r.index_at(ts("2026-11-01T12:00:00Z"));
        assert_eq!(r.boundary(k), ts("2026-10-31T13:00:00Z")); // EDT
        assert_eq!(r.boundary(k + 1), ts("2026-11-01T14:00:00Z")); // EST: a 25-hour shift
    }

    #[test]
    fn an_hourly_rotation_counts_elapsed_hours_across_dst() {
        let r = rotation(
            &["a", "b"],
            ShiftLength::Hours(12),
            "2026-03-07T21:00",
            "America/New_York",
        );
        assert_eq!(r.boundary(1) - r.boundary(0), 12 * 3600);
        assert_eq!(r.boundary(2) - r.boundary(1), 12 * 3600);
    }

    #[test]
    fn a_hand_off_in_the_spring_gap_moves_after_it() {
        let r = rotation(
            &["a"],
            ShiftLength::Days(1),
            "2026-03-07T02:30",
            "America/New_York",
        );
        // 02:30 does not exist on 2026-03-08: the hand-off is 03:30 EDT.
        assert_eq!(r.boundary(1), ts("2026-03-08T07:30:00Z"));
    }

    #[test]
    fn weekly_shifts_rotate_through_participants() {
        let r = rotation(
            &["a", "b", "c"],
            ShiftLength::Weeks(1),
            "2026-01-05T10:00",
            "UTC",
        );
        let shifts = r.shifts(ts("2026-01-05T10:00:00Z"), ts("2026-02-02T10:00:00Z"));
        let users: Vec<&str> = shifts.iter().map(|s| s.user.as_str()).collect();
        assert_eq!(users, vec!["a", "b", "c", "a"]);
        assert_eq!(shifts[1].start, ts("2026-01-12T10:00:00Z"));
    }

    #[test]
    fn nobody_is_on_call_before_a_rotation_starts() {
        let s = schedule(vec![rotation(
            &["a"],
            ShiftLength::Days(1),
            "2026-01-05T10:00",
            "UTC",
        )]);
        assert_eq!(s.on_call(&[], ts("2026-01-05T09:59:59Z")), None);
        assert_eq!(
            s.gaps(&[], ts("2026-01-05T00:00:00Z"), ts("2026-01-06T00:00:00Z")),
            vec![(ts("2026-01-05T00:00:00Z"), ts("2026-01-05T10:00:00Z"))]
        );
    }

    #[test]
    fn business_hours_restrictions_leave_gaps_that_a_second_layer_fills() {
        let mut day = rotation(
            &["ann"],
            ShiftLength::Weeks(1),
            "2026-01-05T00:00",
            "Europe/Berlin",
        );
        day.restrictions = vec![Restriction {
            days: [true, true, true, true, true, false, false],
            from: Time::constant(9, 0, 0, 0),
            to: Time::constant(17, 0, 0, 0),
        }];
        let s = schedule(vec![day.clone()]);
        let (from, to) = (ts("2026-01-09T00:00:00Z"), ts("2026-01-10T00:00:00Z")); // a Friday
        assert_eq!(
            s.timeline(&[], from, to),
            vec![Shift {
                user: "ann".into(),
                start: ts("2026-01-09T08:00:00Z"),
                end: ts("2026-01-09T16:00:00Z")
            }]
        );
        assert_eq!(
            s.gaps(&[], from, to),
            vec![
                (from, ts("2026-01-09T08:00:00Z")),
                (ts("2026-01-09T16:00:00Z"), to)
            ]
        );
        // The business-hours layer on top of a 24/7 one: no gap, ann by day, bob by night.
        let night = rotation(
            &["bob"],
            ShiftLength::Weeks(1),
            "2026-01-05T00:00",
            "Europe/Berlin",
        );
        let s = schedule(vec![night, day]);
        assert!(s.gaps(&[], from, to).is_empty());
        let timeline = s.timeline(&[], from, to);
        let users: Vec<&str> = timeline.iter().map(|s| s.user.as_str()).collect();
        assert_eq!(users, vec!["bob", "ann", "bob"]);
    }

    #[test]
    fn an_overnight_restriction_runs_into_the_next_day() {
        let mut r = rotation(&["owl"], ShiftLength::Weeks(1), "2026-01-05T00:00", "UTC");
        r.restrictions = vec![Restriction {
            days: [true; 7],
            from: Time::constant(22, 0, 0, 0),
            to: Time::constant(6, 0, 0, 0),
        }];
        let s = schedule(vec![r]);
        assert_eq!(
            s.on_call(&[], ts("2026-01-07T03:00:00Z")).as_deref(),
            Some("owl")
        );
        assert_eq!(s.on_call(&[], ts("2026-01-07T12:00:00Z")), None);
    }

    #[test]
    fn an_override_takes_precedence_and_the_latest_override_wins() {
        let s = schedule(vec![rotation(
            &["ann"],
            ShiftLength::Days(1),
            "2026-01-05T00:00",
            "UTC",
        )]);
        let o = vec![
            Shift {
                user: "bob".into(),
                start: ts("2026-01-06T10:00:00Z"),
                end: ts("2026-01-06T14:00:00Z"),
            },
            Shift {
                user: "cid".into(),
                start: ts("2026-01-06T12:00:00Z"),
                end: ts("2026-01-06T13:00:00Z"),
            },
        ];
        let t = s.timeline(&o, ts("2026-01-06T00:00:00Z"), ts("2026-01-07T00:00:00Z"));
        let got: Vec<(&str, i64)> = t.iter().map(|s| (s.user.as_str(), s.start)).collect();
        assert_eq!(
            got,
            vec![
                ("ann", ts("2026-01-06T00:00:00Z")),
                ("bob", ts("2026-01-06T10:00:00Z")),
                ("cid", ts("2026-01-06T12:00:00Z")),
                ("bob", ts("2026-01-06T13:00:00Z")),
                ("ann", ts("2026-01-06T14:00:00Z")),
            ]
        );
    }

    /// Found in review: a time in 9999 made the shift search run into jiff's limit and panic.
    #[test]
    fn times_far_outside_1970_to_2100_are_clamped_not_a_panic() {
        let r = rotation(
            &["a", "b"],
            ShiftLength::Days(1),
            "2026-01-01T09:00",
            "Europe/Berlin",
        );
        let s = schedule(vec![r]);
        let far = ts("9999-12-30T21:00:00Z");
        assert_eq!(s.on_call(&[], far), None);
        assert!(s.gaps(&[], far - 86_400, far).is_empty());
        assert_eq!(s.on_call(&[], i64::MIN), None);
        assert_eq!(
            s.timeline(&[], i64::MIN, ts("2026-01-03T00:00:00Z")).len(),
            2
        );
    }

    /// The timeline against the definition, point by point, over random schedules: an
    /// override covering the instant (the latest one), else the highest layer with a shift
    /// at it.
    #[test]
    fn the_timeline_agrees_with_who_covers_each_instant_over_random_schedules() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let people = ["ann", "bob", "cyd", "dee"];
        let from = ts("2026-03-23T00:00:00Z"); // a week over Europe's spring change
        let to = from + 14 * 86_400;
        for _ in 0..60 {
            let layers: Vec<Rotation> = (0..1 + rand(3))
                .map(|_| {
                    let n = 1 + rand(3) as usize;
                    let picked: Vec<&str> = (0..n).map(|_| people[rand(4) as usize]).collect();
                    let shift = match rand(3) {
                        0 => ShiftLength::Hours(1 + rand(30) as u32),
                        1 => ShiftLength::Days(1 + rand(3) as u32),
                        _ => ShiftLength::Weeks(1),
                    };
                    let start = format!("2026-03-{:02}T{:02}:00", 16 + rand(10), rand(24));
                    let mut r = rotation(&picked, shift, &start, "Europe/Berlin");
                    if rand(2) == 0 {
                        r.restrictions = vec![Restriction {
                            days: std::array::from_fn(|_| rand(3) > 0),
                            from: Time::constant(rand(24) as i8, 0, 0, 0),
                            to: Time::constant(rand(24) as i8, 30, 0, 0),
                        }];
                    }
                    r
                })
                .collect();
            let overrides: Vec<Shift> = (0..rand(5))
                .map(|_| {
                    let start = from + rand(14 * 24) as i64 * 3600;
                    Shift {
                        user: people[rand(4) as usize].into(),
                        start,
                        end: start + (1 + rand(48) as i64) * 1800,
                    }
                })
                .collect();
            let s = schedule(layers);
            let timeline = s.timeline(&overrides, from, to);
            for t in (from..to).step_by(15 * 60) {
                let expected = overrides
                    .iter()
                    .rev()
                    .find(|o| o.start <= t && t < o.end)
                    .map(|o| o.user.clone())
                    .or_else(|| {
                        s.layers
                            .iter()
                            .rev()
                            .find_map(|l| l.shifts(t, t + 1).into_iter().next().map(|x| x.user))
                    });
                let got = timeline
                    .iter()
                    .find(|x| x.start <= t && t < x.end)
                    .map(|x| x.user.clone());
                assert_eq!(got, expected, "at {t} of {s:?} with {overrides:?}");
            }
        }
    }

    #[test]
    fn a_year_of_daily_shifts_has_one_shift_a_day_and_no_gap() {
        let r = rotation(
            &["a", "b", "c"],
            ShiftLength::Days(1),
            "2026-01-01T09:00",
            "Europe/Berlin",
        );
        let s = schedule(vec![r]);
        let (from, to) = (ts("2026-01-01T08:00:00Z"), ts("2027-01-01T08:00:00Z"));
        assert_eq!(s.timeline(&[], from, to).len(), 365);
        assert!(s.gaps(&[], from, to).is_empty());
    }
}

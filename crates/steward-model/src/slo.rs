//! An SLO's definition, its running state (counts, judged time slices, calendar period) and the
//! status computed from it at an instant.

use crate::alerting::{BurnRateRule, BURN_WINDOWS, SRE_WORKBOOK_RULES};
use crate::budget::{burn_rate, ErrorBudget};
use crate::buffer::{SliBuffer, MAX_FUTURE};
use crate::counts::Counts;
use crate::duration::Duration;
use crate::limits::MAX_HOUR_EVENTS;
use crate::window::{Period, SloWindow};
use std::fmt;

pub type UnixSeconds = i64;

/// An SLO target, always above 0 and at most [`MAX_TARGET`].
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Objective(f64);

/// The highest target Steward takes: nine nines. The error allowance `1 − target` is then at
/// least 10⁻⁹, which [`Objective::error_allowance`] still holds to three significant digits
/// after rounding to 12 decimals; a higher target would round to an allowance of zero and
/// make every budget infinite.
pub const MAX_TARGET: f64 = 0.999_999_999;

impl Objective {
    pub fn new(target: f64) -> Option<Objective> {
        (target > 0.0 && target <= MAX_TARGET).then_some(Objective(target))
    }
    pub fn target(self) -> f64 {
        self.0
    }
    /// `1 − target`: the share of events allowed to fail. Rounded to 12 decimals, because
    /// targets are written in decimal: `1 − 0.999` is 0.001, not 0.0010000000000000009.
    pub fn error_allowance(self) -> f64 {
        ((1.0 - self.0) * 1e12).round() / 1e12
    }
}

/// Comparison of a threshold SLI: a value is good when `value <op> threshold`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Op {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => value < threshold,
            Op::Lte => value <= threshold,
            Op::Gt => value > threshold,
            Op::Gte => value >= threshold,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Gt => "gt",
            Op::Gte => "gte",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Indicator {
    /// Samples carry good and total event counts.
    Ratio,
    /// Samples carry a value; each is one event, good when it meets the threshold.
    Threshold { op: Op, value: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BudgetingMethod {
    /// The budget is a share of events.
    Occurrences,
    /// The budget is a share of time slices; a slice is good when its good/total ratio
    /// reaches `slice_target`.
    Timeslices { slice: Duration, slice_target: f64 },
    /// The SLI is the average of the slices' good/total ratios.
    RatioTimeslices { slice: Duration },
}

impl BudgetingMethod {
    pub fn as_str(&self) -> &'static str {
        match self {
            BudgetingMethod::Occurrences => "Occurrences",
            BudgetingMethod::Timeslices { .. } => "Timeslices",
            BudgetingMethod::RatioTimeslices { .. } => "RatioTimeslices",
        }
    }
    /// The time slice, for the time-slice methods.
    pub fn slice(&self) -> Option<Duration> {
        match *self {
            BudgetingMethod::Occurrences => None,
            BudgetingMethod::Timeslices { slice, .. }
            | BudgetingMethod::RatioTimeslices { slice } => Some(slice),
        }
    }

    /// The budget units a closed slice with these events adds (nothing without events);
    /// for Occurrences, the events themselves.
    pub fn slice_verdict(&self, events: Counts) -> Counts {
        match SliceKind::of(*self) {
            Some(kind) => kind.verdict(events),
            None => events,
        }
    }
}

/// One evaluated objective: what Steward computes budgets and alerts for.
#[derive(Clone, Debug, PartialEq)]
pub struct SloDefinition {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub service: String,
    pub objective: Objective,
    pub window: SloWindow,
    pub method: BudgetingMethod,
    pub indicator: Indicator,
}

/// Units of a RatioTimeslices slice: a slice with ratio r counts as (r × SCALE, SCALE), so the
/// window's good/total is the average of its slices' ratios.
pub const RATIO_SLICE_SCALE: u64 = 1_000_000_000;

/// How late a sample may arrive for a time-slice SLO: after that its slice is final.
pub const SLICE_LATENESS: Duration = Duration::hours(1);

/// Why a sample cannot be taken.
#[derive(Clone, Debug, PartialEq)]
pub enum SampleError {
    InFuture { max: Duration },
    TooOld { oldest: UnixSeconds },
    SliceFinal { lateness: Duration },
    GoodExceedsTotal,
    ValueNotFinite,
    WrongKind { expected: &'static str },
}

impl fmt::Display for SampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleError::InFuture { max } => write!(
                f,
                "time is more than {max} in the future; check the sender's clock"
            ),
            SampleError::TooOld { oldest } => write!(
                f,
                "time is older than the SLO's window (oldest accepted: {})",
                jiff::Timestamp::from_second(*oldest).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            ),
            SampleError::SliceFinal { lateness } => write!(
                f,
                "time-slice SLOs accept samples at most {lateness} late; that slice is already final"
            ),
            SampleError::GoodExceedsTotal => write!(f, "good is greater than total"),
            SampleError::ValueNotFinite => write!(f, "value must be a finite number"),
            SampleError::WrongKind { expected } => write!(f, "this SLO takes {expected}"),
        }
    }
}

/// What a sample measured, before it is judged against an objective.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measurement {
    Events { good: u64, total: u64 },
    Value(f64),
}

impl SloDefinition {
    /// Turns a measurement into event counts for this objective.
    pub fn judge(&self, m: Measurement) -> Result<Counts, SampleError> {
        match (self.indicator, m) {
            (Indicator::Ratio, Measurement::Events { good, total }) => {
                if good > total {
                    Err(SampleError::GoodExceedsTotal)
                } else {
                    Ok(Counts::new(good, total))
                }
            }
            (Indicator::Threshold { op, value }, Measurement::Value(v)) => {
                if !v.is_finite() {
                    return Err(SampleError::ValueNotFinite);
                }
                Ok(Counts::new(u64::from(op.holds(v, value)), 1))
            }
            (Indicator::Ratio, Measurement::Value(_)) => Err(SampleError::WrongKind {
                expected: "\"good\" and \"total\" counts, not \"value\"",
            }),
            (Indicator::Threshold { .. }, Measurement::Events { .. }) => {
                Err(SampleError::WrongKind {
                    expected: "a \"value\" (it is a threshold SLI), not good/total counts",
                })
            }
        }
    }

    /// The earliest instant any reported figure looks at: the window, or the longest burn
    /// window (3d) if that reaches further back.
    pub fn history_start(&self, now: UnixSeconds) -> UnixSeconds {
        let longest_burn = BURN_WINDOWS[BURN_WINDOWS.len() - 1].secs();
        self.window.period_at(now).start.min(now - longest_burn)
    }

    /// Checks a sample's time against what this SLO can still count.
    pub fn check_time(&self, t: UnixSeconds, now: UnixSeconds) -> Result<(), SampleError> {
        if t > now + MAX_FUTURE.secs() {
            return Err(SampleError::InFuture { max: MAX_FUTURE });
        }
        let oldest = self.history_start(now);
        if t < oldest {
            return Err(SampleError::TooOld { oldest });
        }
        if self.method.slice().is_some() && t < now - SLICE_LATENESS.secs() {
            return Err(SampleError::SliceFinal {
                lateness: SLICE_LATENESS,
            });
        }
        Ok(())
    }

    /// The span kept at hourly resolution: the rolling window, or the longest calendar period,
    /// and at least the longest burn window, so that every sample
    /// [`SloDefinition::check_time`] accepts lands in a kept hour (its admission block).
    fn coarse_span(&self) -> Duration {
        let window = match &self.window {
            SloWindow::Rolling(d) => *d,
            SloWindow::Calendar(c) => c.longest(),
        };
        window.max(BURN_WINDOWS[BURN_WINDOWS.len() - 1])
    }

    /// The admission block a sample at `t` counts in: its hour, or its time slice.
    pub fn block_of(&self, t: UnixSeconds) -> i64 {
        t.div_euclid(self.block_len())
    }

    fn block_len(&self) -> i64 {
        self.method.slice().map_or(3600, |s| s.secs())
    }

    /// The most events one block may hold: [`MAX_HOUR_EVENTS`] an hour, and for time slices
    /// half their share of it, since an hour touches one slice more than fit in it.
    pub fn block_cap(&self) -> u64 {
        match self.method.slice() {
            None => MAX_HOUR_EVENTS,
            Some(s) => MAX_HOUR_EVENTS / 7200 * s.secs() as u64,
        }
    }
}

/// How a closed slice turns into budget units.
#[derive(Clone, Copy, Debug)]
enum SliceKind {
    /// (1, 1) for a good slice, (0, 1) for a bad one.
    Share { slice_target: f64 },
    /// (ratio × SCALE, SCALE).
    Ratio,
}

impl SliceKind {
    fn of(method: BudgetingMethod) -> Option<SliceKind> {
        match method {
            BudgetingMethod::Occurrences => None,
            BudgetingMethod::Timeslices { slice_target, .. } => {
                Some(SliceKind::Share { slice_target })
            }
            BudgetingMethod::RatioTimeslices { .. } => Some(SliceKind::Ratio),
        }
    }

    fn verdict(self, events: Counts) -> Counts {
        let Some(ratio) = events.ratio() else {
            // A slice without events is neither good nor bad: it is not counted.
            return Counts::ZERO;
        };
        match self {
            SliceKind::Share { slice_target } => Counts::new(u64::from(ratio >= slice_target), 1),
            SliceKind::Ratio => Counts::new(
                (ratio * RATIO_SLICE_SCALE as f64).round() as u64,
                RATIO_SLICE_SCALE,
            ),
        }
    }
}

/// Per-slice event counts for the last [`SLICE_LATENESS`], and what each slice added to the
/// budget once judged, so that a late sample can re-judge its slice.
#[derive(Clone, Debug)]
struct Slices {
    kind: SliceKind,
    len: i64,
    cells: Box<[SliceCell]>,
    /// The newest slice index the ring holds.
    newest: i64,
    /// Every slice up to this index has been judged.
    judged_through: i64,
}

#[derive(Clone, Copy, Debug, Default)]
struct SliceCell {
    events: Counts,
    verdict: Counts,
}

impl Slices {
    fn new(method: BudgetingMethod, start: UnixSeconds) -> Option<Slices> {
        let (kind, slice) = (SliceKind::of(method)?, method.slice()?);
        let len = slice.secs();
        let horizon = SLICE_LATENESS.secs() + MAX_FUTURE.secs() + len;
        let n = (horizon + len - 1) / len + 1;
        let current = start.div_euclid(len);
        Some(Slices {
            kind,
            len,
            cells: vec![SliceCell::default(); n as usize].into_boxed_slice(),
            newest: current,
            judged_through: current - 1,
        })
    }

    fn slot(&self, k: i64) -> usize {
        k.rem_euclid(self.cells.len() as i64) as usize
    }

    fn oldest(&self) -> i64 {
        self.newest - self.cells.len() as i64 + 1
    }

    /// Where a slice's units are counted: its last second, so that a window holds the slices
    /// that ended within it.
    fn stamp(&self, k: i64) -> UnixSeconds {
        (k + 1) * self.len - 1
    }

    /// Adds events to slice `k`; returns the budget units to add at each slice's stamp: slices
    /// pushed out of the ring unjudged, and the correction of a re-judged slice.
    fn add(&mut self, k: i64, events: Counts, out: &mut Vec<(UnixSeconds, Counts)>) {
        if k < self.oldest() {
            return;
        }
        if k > self.newest {
            // The slices that leave the ring are the old ones up to `k − n`: those not judged
            // yet are judged on the way out, every one of them exactly once. Their slots are
            // exactly the slots of the new slices `(newest, k]`, so clearing them readies those.
            let n = self.cells.len() as i64;
            for leaving in self.oldest()..=self.newest.min(k - n) {
                let slot = self.slot(leaving);
                if leaving > self.judged_through {
                    out.push((
                        self.stamp(leaving),
                        self.kind.verdict(self.cells[slot].events),
                    ));
                }
                self.cells[slot] = SliceCell::default();
            }
            self.newest = k;
        }
        let slot = self.slot(k);
        let stamp = self.stamp(k);
        let cell = &mut self.cells[slot];
        cell.events += events;
        if k <= self.judged_through {
            let verdict = self.kind.verdict(cell.events);
            out.push((stamp, verdict - cell.verdict));
            cell.verdict = verdict;
        }
    }

    /// Events counted so far in the slice holding `t` (zero once it has left the ring).
    fn events_at(&self, t: UnixSeconds) -> Counts {
        let k = t.div_euclid(self.len);
        if k < self.oldest() || k > self.newest {
            return Counts::ZERO;
        }
        self.cells[self.slot(k)].events
    }

    /// Judges every slice that has closed by `now`.
    fn judge_closed(&mut self, now: UnixSeconds, out: &mut Vec<(UnixSeconds, Counts)>) {
        let last_closed = (now - self.len).div_euclid(self.len).min(self.newest);
        let from = (self.judged_through + 1).max(self.oldest());
        for k in from..=last_closed {
            let slot = self.slot(k);
            let verdict = self.kind.verdict(self.cells[slot].events);
            self.cells[slot].verdict = verdict;
            out.push((self.stamp(k), verdict));
        }
        self.judged_through = self.judged_through.max(last_closed);
    }
}

/// The running state of one [`SloDefinition`].
#[derive(Clone, Debug)]
pub struct SloState {
    buffer: SliBuffer,
    slices: Option<Slices>,
    /// The calendar period (or rolling window) that `period_counts` covers; for calendar
    /// windows those counts are exact, whatever the tiers' resolution.
    period: Period,
    period_counts: Counts,
    /// Units stamped at or after the period's end (samples at the future limit), and the
    /// latest of their stamps: when the next period follows, they are its exact start.
    after: Counts,
    after_latest: UnixSeconds,
}

/// Remaining budget ratio at `start`, `start + step`, …: a chart's points, kept small.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BudgetCurve {
    pub start: UnixSeconds,
    pub step: i64,
    pub remaining: Vec<f32>,
}

impl BudgetCurve {
    pub fn points(&self) -> impl Iterator<Item = (UnixSeconds, f64)> + '_ {
        self.remaining
            .iter()
            .enumerate()
            .map(|(i, r)| (self.start + i as i64 * self.step, f64::from(*r)))
    }
}

/// The figures of one SLO at an instant.
#[derive(Clone, Debug, PartialEq)]
pub struct SloStatus {
    pub at: UnixSeconds,
    pub period: Period,
    /// Events (or slice units) counted over the SLO window.
    pub window_counts: Counts,
    pub budget: ErrorBudget,
    pub burn_rates: [(Duration, f64); 7],
    pub alerts: [AlertCondition; 4],
}

impl SloStatus {
    /// The burn rate over one of [`BURN_WINDOWS`]; 0 for any other window.
    pub fn burn_rate(&self, window: Duration) -> f64 {
        burn_in(&self.burn_rates, window)
    }
}

fn burn_in(rates: &[(Duration, f64)], window: Duration) -> f64 {
    rates
        .iter()
        .find(|(w, _)| *w == window)
        .map_or(0.0, |(_, b)| *b)
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlertCondition {
    pub rule: BurnRateRule,
    pub factor: f64,
    pub firing: bool,
}

impl SloState {
    /// A fresh state whose buffers begin at `start` (the oldest sample to come, for a rebuild);
    /// `now` picks the calendar period.
    pub fn new(def: &SloDefinition, start: UnixSeconds, now: UnixSeconds) -> SloState {
        let mut buffer = SliBuffer::new(def.coarse_span(), start);
        for w in BURN_WINDOWS {
            buffer.track(w);
        }
        if let SloWindow::Rolling(d) = def.window {
            buffer.track(d);
        }
        SloState {
            buffer,
            slices: Slices::new(def.method, start),
            period: def.window.period_at(now),
            period_counts: Counts::ZERO,
            after: Counts::ZERO,
            after_latest: UnixSeconds::MIN,
        }
    }

    /// Counts judged events at time `t`. The caller has checked the time with
    /// [`SloDefinition::check_time`]; a sample for a slice that is already final is ignored.
    pub fn add(&mut self, t: UnixSeconds, events: Counts) {
        let Some(slices) = self.slices.as_mut() else {
            self.add_units(t, events);
            return;
        };
        let mut units = Vec::new();
        slices.add(t.div_euclid(slices.len), events, &mut units);
        for (at, u) in units {
            self.add_units(at, u);
        }
    }

    /// Counts a stored row while rebuilding at `now` (rows in time order): raw events, or,
    /// when `judged`, slice units judged before (a roll-up stored the verdict).
    pub fn add_stored(&mut self, t: UnixSeconds, counts: Counts, judged: bool, now: UnixSeconds) {
        if judged || self.slices.is_none() {
            self.add_units_at(t, counts, Some(now));
        } else {
            self.add(t, counts);
        }
    }

    fn add_units(&mut self, t: UnixSeconds, units: Counts) {
        self.add_units_at(t, units, None);
    }

    /// `rebuilding`: the time of a rebuild, whose history the tiers may skip in part.
    fn add_units_at(&mut self, t: UnixSeconds, units: Counts, rebuilding: Option<UnixSeconds>) {
        if units == Counts::ZERO {
            return;
        }
        match rebuilding {
            Some(now) => self.buffer.add_history(t, units, now),
            None => self.buffer.add(t, units),
        }
        if self.period.contains(t) {
            self.period_counts += units;
        } else if t >= self.period.end {
            self.after += units;
            self.after_latest = self.after_latest.max(t);
        }
    }

    /// Events already counted in the admission block ([`SloDefinition::block_of`]) holding `t`.
    /// Judged events (or slice units) from `from` to `to`, at the resolution of the finest
    /// tier that still holds `from`.
    pub fn between(&self, from: UnixSeconds, to: UnixSeconds) -> Counts {
        self.buffer.between(from, to)
    }

    pub fn block_events(&self, t: UnixSeconds) -> u64 {
        match &self.slices {
            Some(slices) => slices.events_at(t).total,
            None => self.buffer.coarse().range(t, t).total,
        }
    }

    /// Moves the state to `now`: judges closed slices and starts a new calendar period.
    pub fn advance(&mut self, def: &SloDefinition, now: UnixSeconds) {
        self.advance_slices_and_period(def, now);
        self.buffer.advance_sums(now);
    }

    fn advance_slices_and_period(&mut self, def: &SloDefinition, now: UnixSeconds) {
        if let Some(slices) = self.slices.as_mut() {
            let mut units = Vec::new();
            slices.judge_closed(now, &mut units);
            for (at, u) in units {
                self.add_units(at, u);
            }
        }
        if let SloWindow::Calendar(_) = def.window {
            if now >= self.period.end {
                let next = def.window.period_at(now);
                if next.start == self.period.end && self.after_latest < next.end {
                    // The usual case: the evaluator saw the period end, and what was stamped
                    // after it (clock skew, evaluator lag) is exactly the new period's start.
                    self.period_counts = self.after;
                    self.after = Counts::ZERO;
                    self.after_latest = UnixSeconds::MIN;
                } else {
                    // Periods were skipped: read the new one from the finest tier holding its
                    // start (exact when that tier's resolution divides the start). What lies
                    // past its end is at most minutes ahead of now, in the 5 s tier.
                    self.period_counts = self.buffer.between(next.start, next.end - 1);
                    self.after = self.buffer.between(next.end, UnixSeconds::MAX);
                    if self.after == Counts::ZERO {
                        self.after_latest = UnixSeconds::MIN;
                    }
                }
                self.period = next;
            }
        }
    }

    /// Everything Steward reports about the SLO at `now`. Call [`SloState::advance`] first.
    pub fn status(&self, def: &SloDefinition, now: UnixSeconds) -> SloStatus {
        let (period, window_counts) = match def.window {
            SloWindow::Rolling(d) => (def.window.period_at(now), self.buffer.window(now, d)),
            SloWindow::Calendar(_) => (self.period, self.period_counts),
        };
        let burn_rates =
            BURN_WINDOWS.map(|w| (w, burn_rate(self.buffer.window(now, w), def.objective)));
        let alerts = SRE_WORKBOOK_RULES.map(|rule| {
            let factor = rule.factor(period.length());
            let (long, short) = (
                burn_in(&burn_rates, rule.long),
                burn_in(&burn_rates, rule.short),
            );
            AlertCondition {
                rule,
                factor,
                firing: rule.is_firing(factor, long, short),
            }
        });
        SloStatus {
            at: now,
            period,
            window_counts,
            budget: ErrorBudget::of(window_counts, def.objective),
            burn_rates,
            alerts,
        }
    }

    /// How the budget of the window that ends now was spent, at up to `max_points` evenly
    /// spaced hours, for charts. Counts are read straight from the hourly tier: a point costs
    /// one ring read.
    pub fn budget_curve(
        &self,
        def: &SloDefinition,
        status: &SloStatus,
        max_points: usize,
    ) -> BudgetCurve {
        let now = status.at;
        let coarse = self.buffer.coarse();
        let res = coarse.resolution();
        let start = status.period.start.max(now - def.coarse_span().secs());
        // Points on whole hours, the last one on the latest, stepping back to the window start.
        let last = now.div_euclid(res) * res;
        let first = start.div_euclid(res) * res + res;
        let hours = ((last - first).div_euclid(res) + 1).max(0);
        let step = (hours as usize).div_ceil(max_points.max(1)).max(1) as i64 * res;
        let first = last - (last - first).div_euclid(step) * step;
        let allowed = status.window_counts.total as f64 * def.objective.error_allowance();
        let mut remaining = Vec::new();
        let mut t = first;
        while t <= last {
            let spent = coarse.range(start, t - 1).bad() as f64;
            remaining.push(if allowed > 0.0 {
                (1.0 - spent / allowed) as f32
            } else {
                1.0
            });
            t += step;
        }
        BudgetCurve {
            start: first,
            step,
            remaining,
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.buffer.heap_bytes()
            + self
                .slices
                .as_ref()
                .map_or(0, |s| std::mem::size_of_val(&*s.cells))
    }
}

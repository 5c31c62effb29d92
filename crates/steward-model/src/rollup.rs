//! Rolling stored rows up as they age, without changing any figure.
//!
//! Stored rows feed the tiers on a rebuild. A row only needs the resolution of the finest
//! tier whose windows can still reach it, so as rows age they merge into blocks (a row moves
//! to its block's start):
//!
//! | age (block end older than) | resolution | because |
//! |---|---:|---|
//! | up to 1 h 10 m | 5 s | the 5 s tier's windows reach 1 h back |
//! | 1 h 10 m | 1 min | the 1 min tier's windows reach 6 h back |
//! | 6 h 10 m | 10 min | the 10 min tier's windows reach 3 d back |
//! | 3 d 10 m | 1 h | the hourly tier serves the SLO window |
//!
//! A block lands in the same bucket of every tier at or above its resolution, and in no
//! window of the finer tiers (they stop short of it, with 10 minutes to spare for a lagging
//! evaluator), so a state rebuilt from rolled rows equals one rebuilt from the originals. A
//! block in which a calendar period begins is left as it is, so every row stays in its
//! period. Rows older than an hour before [`SloDefinition::history_start`], or before
//! [`KEPT_DAYS`] days ago if that is earlier, are deleted: a status page draws 90 days of
//! any SLO, and a report covers the last months, from the same rows.
//!
//! Time slices are judged on their events, so raw events are never merged across slices:
//! once a slice is final (no sample can reach it, [`SLICE_LATENESS`]), its events are
//! replaced by its verdict, a row of budget units at the slice's last second, and those unit
//! rows roll up like events. A series keeps where its unit rows end (`units_through`).

use crate::counts::Counts;
use crate::slo::{SloDefinition, UnixSeconds, SLICE_LATENESS};
use crate::window::SloWindow;

/// One step of the schedule: blocks that ended more than `age` seconds ago merge at
/// `resolution`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage {
    pub age: i64,
    pub resolution: i64,
}

/// Room left between the finest tier's reach and the rows merged for the next tier.
const MARGIN: i64 = 600;

pub const STAGES: [Stage; 3] = [
    Stage {
        age: 3600 + MARGIN,
        resolution: 60,
    },
    Stage {
        age: 6 * 3600 + MARGIN,
        resolution: 600,
    },
    Stage {
        age: 3 * 86_400 + MARGIN,
        resolution: 3600,
    },
];

/// Rows are kept at least this many days (hourly once older than three): a status page's 90
/// days, with a day to spare for the reader's time zone.
pub const KEPT_DAYS: i64 = 92;

fn align_down(t: i64, r: i64) -> i64 {
    t.div_euclid(r) * r
}

/// What one pass over a series does, in this order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Time slices: raw rows in `[from, to)` are judged and replaced by unit rows, and the
    /// series' unit rows then end at `to`.
    pub judge: Option<(i64, i64)>,
    /// Rows in `[from, to)` merge into blocks of `resolution`, coarsest last.
    pub merges: Vec<(i64, i64, i64)>,
    /// Rows before this are deleted.
    pub delete_before: i64,
}

/// The pass for one series of `def` at `now`. `last` is when the previous pass ran
/// (`i64::MIN` for never), `dirty` the earliest bucket appended since (`i64::MAX` for none),
/// and `units_through` where the series' unit rows end.
pub fn plan(
    def: &SloDefinition,
    now: UnixSeconds,
    last: UnixSeconds,
    dirty: i64,
    units_through: i64,
) -> Plan {
    let judge = final_before(def, now)
        .filter(|&to| to > units_through)
        .map(|to| (units_through, to));
    let units_end = judge.map_or(units_through, |(_, to)| to);
    let delete_before = def.history_start(now).min(now - KEPT_DAYS * 86_400) - 3600;
    let merges = STAGES
        .iter()
        .filter_map(|s| {
            let r = s.resolution;
            let mut to = align_down(now - s.age, r);
            if def.method.slice().is_some() {
                // Raw events merge only once they are units.
                to = to.min(align_down(units_end, r));
            }
            // What the previous pass left at this stage, and what was appended since.
            let changed = last.saturating_sub(s.age).min(dirty);
            let from = align_down(changed.max(delete_before - r), r);
            (from < to).then_some((from, to, r))
        })
        .collect();
    Plan {
        judge,
        merges,
        delete_before,
    }
}

/// The end of the slices that no sample can reach any more (samples are taken at most
/// [`SLICE_LATENESS`] late), for time-slice objectives.
pub fn final_before(def: &SloDefinition, now: UnixSeconds) -> Option<i64> {
    let slice = def.method.slice()?.secs();
    Some(align_down(now - SLICE_LATENESS.secs() - MARGIN, slice))
}

/// Merges rows (sorted by time) into blocks of `resolution`: each block's rows become one
/// row at the block's start, except in a block where a calendar period begins.
pub fn merge(def: &SloDefinition, rows: &[(i64, Counts)], resolution: i64) -> Vec<(i64, Counts)> {
    let mut out: Vec<(i64, Counts)> = Vec::with_capacity(rows.len());
    for block in rows.chunk_by(|a, b| align_down(a.0, resolution) == align_down(b.0, resolution)) {
        let start = align_down(block[0].0, resolution);
        if splits_a_period(&def.window, start, start + resolution) {
            out.extend_from_slice(block);
        } else {
            let sum = block.iter().fold(Counts::ZERO, |a, (_, c)| a + *c);
            out.push((start, sum));
        }
    }
    out
}

fn splits_a_period(window: &SloWindow, start: i64, end: i64) -> bool {
    match window {
        SloWindow::Rolling(_) => false,
        SloWindow::Calendar(c) => c.period_at(start).start != c.period_at(end - 1).start,
    }
}

/// Judges raw event rows (sorted by time) slice by slice: one row of budget units per slice
/// with events, at the slice's last second, as the live state counts it.
pub fn judge_slices(def: &SloDefinition, rows: &[(i64, Counts)]) -> Vec<(i64, Counts)> {
    let Some(slice) = def.method.slice() else {
        return rows.to_vec();
    };
    let len = slice.secs();
    rows.chunk_by(|a, b| a.0.div_euclid(len) == b.0.div_euclid(len))
        .map(|s| {
            let events = s.iter().fold(Counts::ZERO, |a, (_, c)| a + *c);
            let stamp = (s[0].0.div_euclid(len) + 1) * len - 1;
            (stamp, def.method.slice_verdict(events))
        })
        .filter(|(_, units)| *units != Counts::ZERO)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{CalendarUnit, CalendarWindow};
    use crate::{BudgetingMethod, Duration, Indicator, Objective};

    fn def(window: SloWindow, method: BudgetingMethod) -> SloDefinition {
        SloDefinition {
            name: "x".into(),
            display_name: None,
            description: None,
            service: "s".into(),
            objective: Objective::new(0.99).unwrap(),
            window,
            method,
            indicator: Indicator::Ratio,
        }
    }

    const NOW: i64 = 1_793_577_600; // 2026-11-02T00:00:00Z

    #[test]
    fn rows_merge_into_blocks_except_where_a_period_begins() {
        let d = def(
            SloWindow::Calendar(CalendarWindow::aligned(
                CalendarUnit::Day,
                1,
                jiff::tz::TimeZone::get("Asia/Kolkata").unwrap(),
            )),
            BudgetingMethod::Occurrences,
        );
        // A Kolkata day begins at 18:30 UTC: the 18:00 hour keeps its rows, 19:00 merges.
        let h18 = NOW - 6 * 3600;
        let rows = [
            (h18 + 5, Counts::new(1, 1)),
            (h18 + 1900, Counts::new(2, 2)),
            (h18 + 3600, Counts::new(1, 2)),
            (h18 + 3605, Counts::new(3, 4)),
        ];
        assert_eq!(
            merge(&d, &rows, 3600),
            vec![
                (h18 + 5, Counts::new(1, 1)),
                (h18 + 1900, Counts::new(2, 2)),
                (h18 + 3600, Counts::new(4, 6)),
            ]
        );
    }

    #[test]
    fn slices_are_judged_into_one_unit_row_each() {
        let d = def(
            SloWindow::Rolling(Duration::days(7)),
            BudgetingMethod::Timeslices {
                slice: Duration::minutes(1),
                slice_target: 0.9,
            },
        );
        let rows = [
            (NOW, Counts::new(9, 10)),
            (NOW + 30, Counts::new(10, 10)),
            (NOW + 60, Counts::new(0, 1)),
            (NOW + 180, Counts::ZERO),
        ];
        assert_eq!(
            judge_slices(&d, &rows),
            vec![
                (NOW + 59, Counts::new(1, 1)),
                (NOW + 119, Counts::new(0, 1))
            ]
        );
    }

    #[test]
    fn a_pass_judges_final_slices_then_merges_each_stage() {
        let d = def(
            SloWindow::Rolling(Duration::days(30)),
            BudgetingMethod::Timeslices {
                slice: Duration::minutes(5),
                slice_target: 0.9,
            },
        );
        // The previous pass ran a minute ago; a late sample landed 2 h back since.
        let p = plan(&d, NOW, NOW - 60, NOW - 7200, NOW - 7200);
        // Slices that ended before now − 1 h − 10 min are final.
        assert_eq!(p.judge, Some((NOW - 7200, NOW - 4200)));
        // Merges stop where the unit rows end, and start where rows may have changed.
        assert_eq!(
            p.merges,
            vec![
                (NOW - 7200, NOW - 4200, 60),
                (NOW - 22_800, NOW - 22_200, 600)
            ]
        );
        let quiet = plan(&d, NOW, NOW - 60, i64::MAX, NOW - 4260);
        assert_eq!(quiet.judge, Some((NOW - 4260, NOW - 4200)));
        assert_eq!(
            quiet.merges,
            vec![
                (NOW - 4260, NOW - 4200, 60),
                (NOW - 22_800, NOW - 22_200, 600)
            ]
        );
        assert_eq!(p.delete_before, NOW - KEPT_DAYS * 86_400 - 3600);
        let occurrences = def(
            SloWindow::Rolling(Duration::days(30)),
            BudgetingMethod::Occurrences,
        );
        let p = plan(&occurrences, NOW, i64::MIN, i64::MAX, i64::MIN);
        assert_eq!(p.judge, None);
        // From the first row kept (92 d and an hour back: longer than its window), each stage
        // to its age.
        assert_eq!(
            p.merges,
            vec![
                (NOW - 7_952_460, NOW - 4200, 60),
                (NOW - 7_953_000, NOW - 22_200, 600),
                (NOW - 7_956_000, NOW - 262_800, 3600)
            ]
        );
    }
}

//! The OpenSLO v2alpha draft's `BudgetAdjustment` (`apiVersion: openslo.com/v2alpha`), read
//! exactly as the draft writes it — description, service, indicatorRef, startTime, and one
//! of endTime or duration — plus two Steward extensions for recurring adjustments: `rrule`
//! (an RFC 5545 RRULE) and `timeZone` (where its occurrences keep their local time).

use crate::docs::{read_name, Metadata, Name};
use crate::read::Reader;
use crate::yaml::Node;
use jiff::tz::TimeZone;
use steward_model::adjustment::{BudgetAdjustment, Recurrence};

#[derive(Clone, Debug, PartialEq)]
pub struct BudgetAdjustmentDoc {
    pub meta: Metadata,
    pub adjustment: BudgetAdjustment,
    pub service: Name,
    pub indicator: Name,
}

/// The longest adjustment (one occurrence).
pub const MAX_ADJUSTMENT: i64 = 366 * 86_400;

fn time(r: &mut Reader<'_>, n: &Node, what: &str) -> Option<i64> {
    let text = r.string(n, what)?;
    match text.parse::<jiff::Timestamp>() {
        // 1970 to 2100, as every time Steward keeps.
        Ok(t) if (0..4_102_444_800).contains(&t.as_second()) => Some(t.as_second()),
        Ok(_) => {
            r.error(
                n.mark,
                format!("{what} `{text}` is not between 1970 and 2100"),
            );
            None
        }
        Err(_) => {
            r.error(
                n.mark,
                format!("{what} `{text}` is not an RFC 3339 time such as 2026-11-14T02:00:00Z"),
            );
            None
        }
    }
}

pub fn read(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<BudgetAdjustmentDoc> {
    let mut f = r.map(spec, "BudgetAdjustment spec")?;
    let description = f.required(r, "description").and_then(|n| {
        let d = r.string(n, "description")?;
        if d.chars().count() > 1050 {
            r.error(n.mark, "description is longer than 1050 characters");
            return None;
        }
        Some(d)
    });
    let service = f
        .required(r, "service")
        .and_then(|n| read_name(r, n, "service"));
    let indicator = f
        .required(r, "indicatorRef")
        .and_then(|n| read_name(r, n, "indicatorRef"));
    let start = f
        .required(r, "startTime")
        .and_then(|n| time(r, n, "startTime"));
    let end_node = f.get("endTime");
    let duration_node = f.get("duration");
    let rrule = f.get("rrule").and_then(|n| {
        let text = r.string(n, "rrule")?;
        match Recurrence::parse(&text) {
            Ok(rule) => Some(rule),
            Err(e) => {
                r.error(n.mark, format!("rrule: {e}"));
                None
            }
        }
    });
    let tz = match f.get("timeZone") {
        Some(n) => r
            .string(n, "timeZone")
            .and_then(|name| match TimeZone::get(&name) {
                Ok(tz) => Some(tz),
                Err(_) => {
                    r.error(
                        n.mark,
                        format!(
                            "`{name}` is not a time zone; use an IANA name such as Europe/Berlin"
                        ),
                    );
                    None
                }
            }),
        None => Some(TimeZone::UTC),
    };
    let rrule_given = f.get("rrule").is_some();
    f.finish(r);
    let duration = match (end_node, duration_node) {
        (Some(e), None) => {
            let end = time(r, e, "endTime")?;
            match start {
                Some(s) if end > s && end - s <= MAX_ADJUSTMENT => Some(end - s),
                Some(_) => {
                    r.error(
                        e.mark,
                        "endTime must be after startTime, and within 366 days of it",
                    );
                    None
                }
                None => None,
            }
        }
        (None, Some(d)) => {
            let text = r.string(d, "duration")?;
            match steward_model::Duration::parse(&text).map(|d| d.secs()) {
                Ok(secs) if secs > 0 && secs <= MAX_ADJUSTMENT => Some(secs),
                _ => {
                    r.error(
                        d.mark,
                        format!("duration `{text}` is not a duration such as 30m, 2h or 1d"),
                    );
                    None
                }
            }
        }
        (Some(_), Some(d)) => {
            r.error(
                d.mark,
                "a BudgetAdjustment has endTime or duration, not both",
            );
            None
        }
        (None, None) => {
            r.error(spec.mark, "a BudgetAdjustment needs endTime or duration");
            None
        }
    };
    let (service, indicator) = (service?, indicator?);
    if rrule_given && rrule.is_none() {
        return None;
    }
    if let (Some(rule), Some(d), Some(s)) = (&rrule, duration, start) {
        if d >= rule.shortest_gap() {
            r.error(
                spec.mark,
                "each occurrence must end before the next begins: the duration is as long as the rrule's period, which would exclude all time",
            );
            return None;
        }
        if rule.until.is_some_and(|u| u < s) {
            r.error(
                spec.mark,
                "the rrule's UNTIL is before startTime: it would never occur",
            );
            return None;
        }
    }
    Some(BudgetAdjustmentDoc {
        adjustment: BudgetAdjustment {
            name: meta.name.name.clone(),
            description: description?,
            service: service.name.clone(),
            indicator: Some(indicator.name.clone()),
            start: start?,
            duration: duration?,
            recurrence: rrule,
            time_zone: tz?,
        },
        meta,
        service,
        indicator,
    })
}

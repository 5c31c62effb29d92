//! Which notifications travel together, and when a group's next notification leaves.
//!
//! A group is one escalation policy, one urgency and one kind of alert (by default its SLO,
//! or an outside alert's `alertname`; `--group-by` names the labels; an alert with none of
//! them is of its integration's kind), to one destination — never a service, and never
//! across urgencies, so a warning never holds back a page. The first notification
//! of a group that delivered nothing within `group_interval` leaves at once; what follows
//! within `group_wait` of it is gathered into one more; after that the group sends at most
//! once per `group_interval`. A storm of one kind is a handful of notifications; a new kind
//! of failure always reaches someone at once.

use steward_model::matcher::Labels;
use steward_model::Severity;
use steward_store::GroupTiming;

/// The group an alert's notifications join under a policy.
pub fn group_key(
    policy: &str,
    urgency: Severity,
    group_by: &[String],
    labels: &Labels,
    integration: &str,
) -> String {
    let values: Vec<String> = group_by
        .iter()
        .filter_map(|l| labels.get(l).map(|v| format!("{l}={v}")))
        .collect();
    if values.is_empty() {
        // Nothing names its kind: its source does.
        format!("{policy}/{}/integration:{integration}", urgency.as_str())
    } else {
        format!("{policy}/{}/{}", urgency.as_str(), values.join(","))
    }
}

/// When a new notification of a group leaves, given where the group stands.
pub fn due_at(t: GroupTiming, now: i64, group_wait: i64, group_interval: i64) -> i64 {
    // One is waiting already: the new one goes with it.
    if let Some(waiting) = t.waiting {
        return waiting.max(now);
    }
    // A first delivery under way counts as sent when it was due (one being retried does
    // not: a receiver that recovers gets new pages at once).
    let (last, before) = match t.in_flight {
        Some(f) => (Some(f), t.last_delivery),
        None => (t.last_delivery, t.delivery_before),
    };
    let Some(last) = last else {
        return now;
    };
    if now >= last.saturating_add(group_interval) {
        return now;
    }
    // The last delivery opened the group (nothing for an interval before it): what follows
    // within group_wait is gathered into one notification at its end.
    let opened = before.is_none_or(|before| last - before >= group_interval);
    if opened && now < last.saturating_add(group_wait) {
        last + group_wait
    } else if opened && group_wait >= group_interval {
        now
    } else {
        last + group_interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(last: Option<i64>, before: Option<i64>, waiting: Option<i64>) -> GroupTiming {
        GroupTiming {
            last_delivery: last,
            delivery_before: before,
            waiting,
            in_flight: None,
        }
    }

    #[test]
    fn what_follows_a_first_notification_still_under_way_is_gathered_too() {
        let t = GroupTiming {
            in_flight: Some(1000),
            ..GroupTiming::default()
        };
        assert_eq!(due_at(t, 1002, 30, 300), 1030);
    }

    #[test]
    fn the_first_notification_of_a_quiet_group_leaves_at_once() {
        assert_eq!(due_at(timing(None, None, None), 1000, 30, 300), 1000);
        // Quiet for an interval: at once again.
        assert_eq!(due_at(timing(Some(700), None, None), 1000, 30, 300), 1000);
    }

    #[test]
    fn what_follows_the_first_is_gathered_for_group_wait_then_held_to_the_interval() {
        // The first left at 1000: the next ones within 30 s wait for 1030.
        assert_eq!(due_at(timing(Some(1000), None, None), 1005, 30, 300), 1030);
        assert_eq!(
            due_at(timing(Some(1000), Some(500), None), 1029, 30, 300),
            1030
        );
        // After the gathered one (1030, right after 1000), the interval applies.
        assert_eq!(
            due_at(timing(Some(1030), Some(1000), None), 1031, 30, 300),
            1330
        );
        // Past group_wait but within the interval of a first: the interval applies.
        assert_eq!(due_at(timing(Some(1000), None, None), 1100, 30, 300), 1300);
    }

    #[test]
    fn a_new_notification_joins_one_that_is_waiting() {
        assert_eq!(
            due_at(timing(Some(1000), None, Some(1030)), 1010, 30, 300),
            1030
        );
        // Overdue (the destination was busy): now.
        assert_eq!(due_at(timing(None, None, Some(900)), 1010, 30, 300), 1010);
    }

    #[test]
    fn groups_are_per_kind_and_urgency_not_per_service() {
        let labels = |pairs: &[(&str, &str)]| -> Labels {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let by = ["alertname".to_string(), "slo".to_string()];
        let down = labels(&[("alertname", "Down"), ("service", "search")]);
        let down_elsewhere = labels(&[("alertname", "Down"), ("service", "checkout")]);
        let tls = labels(&[("alertname", "TlsExpiry"), ("service", "search")]);
        let key = |l: &Labels, u| group_key("web", u, &by, l, "prom");
        assert_eq!(
            key(&down, Severity::Page),
            key(&down_elsewhere, Severity::Page)
        );
        assert_ne!(key(&down, Severity::Page), key(&tls, Severity::Page));
        assert_ne!(key(&down, Severity::Page), key(&down, Severity::Ticket));
        assert_eq!(
            group_key("web", Severity::Page, &by, &Labels::new(), "pd"),
            "web/page/integration:pd"
        );
    }
}

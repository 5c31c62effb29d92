//! Multi-window, multi-burn-rate alert rules (Google SRE Workbook, "Alerting on SLOs").

use crate::duration::Duration;

crate::words! {
    /// What Steward does with an alert: page someone, or record a ticket.
    pub enum Severity {
        Page = "page",
        Ticket = "ticket",
    }
}

impl Severity {
    /// What a source's own severity word means here; the one mapping for every source.
    ///
    /// Tickets: `warning`, `warn`, `info`, `informational`, `notice`, `low`, `debug`,
    /// `ticket`, `none` (Alertmanager's and PagerDuty's lower levels, syslog's lower levels).
    /// Everything else pages: `critical`, `error`, `page`, `high`, and any word Steward does
    /// not know, since a page too many wakes someone and a page too few lets an outage run
    /// with nobody on it. Case does not matter.
    pub fn of(word: &str) -> Severity {
        const TICKETS: [&str; 9] = [
            "warning",
            "warn",
            "info",
            "informational",
            "notice",
            "low",
            "debug",
            "ticket",
            "none",
        ];
        if TICKETS.iter().any(|t| t.eq_ignore_ascii_case(word.trim())) {
            Severity::Ticket
        } else {
            Severity::Page
        }
    }
}

/// Why an alert notifies no one. Kept as a value (the store encodes it, the API and the
/// console word it), so nobody recovers a fact from a sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Suppression {
    /// An active silence matches its labels.
    Silenced { silence: i64 },
    /// Its service is in a maintenance window.
    Maintenance { window: String },
    /// An inhibition rule's source alert is open.
    Inhibited { alert: i64, rule: String },
    /// A page of a service it depends on is open: it is held back for a while, as that
    /// page is probably the cause.
    Dependency {
        alert: i64,
        service: String,
        dependent: String,
    },
    /// What the store holds cannot be read (another version wrote it): never a verdict of
    /// this one, so the next judgement replaces it.
    Unreadable { stored: String },
}

impl Suppression {
    /// The alert whose being open is the reason, if one is.
    pub fn alert(&self) -> Option<i64> {
        match self {
            Suppression::Inhibited { alert, .. } | Suppression::Dependency { alert, .. } => {
                Some(*alert)
            }
            _ => None,
        }
    }

    /// Silenced by people (a silence or a maintenance window), not inhibited by an alert.
    pub fn is_silence(&self) -> bool {
        matches!(
            self,
            Suppression::Silenced { .. } | Suppression::Maintenance { .. }
        )
    }
}

impl std::fmt::Display for Suppression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Suppression::Silenced { silence } => write!(f, "silenced by silence {silence}"),
            Suppression::Maintenance { window } => write!(f, "in maintenance window {window}"),
            Suppression::Inhibited { alert, rule } => {
                write!(f, "inhibited by alert {alert} (rule {rule})")
            }
            Suppression::Dependency {
                alert,
                service,
                dependent,
            } => write!(
                f,
                "held back by alert {alert} of {service}, which {dependent} depends on"
            ),
            Suppression::Unreadable { stored } => {
                write!(f, "a suppression this Steward cannot read (`{stored}`)")
            }
        }
    }
}

/// The windows every SLO reports a burn rate for.
pub const BURN_WINDOWS: [Duration; 7] = [
    Duration::minutes(5),
    Duration::minutes(30),
    Duration::hours(1),
    Duration::hours(2),
    Duration::hours(6),
    Duration::days(1),
    Duration::days(3),
];

/// Fires when both windows burn faster than `factor`: the long window proves the burn is
/// significant, the short one that it is still going on (so the alert stops ~`short` after
/// the errors stop).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurnRateRule {
    pub severity: Severity,
    pub long: Duration,
    pub short: Duration,
    /// Share of the whole period's budget this rule lets burn within `long` before firing.
    pub budget_percent: f64,
}

impl BurnRateRule {
    /// `budget% × period_hours / 100 / long_window_hours`: 14.4 for 2% in 1h of 30d.
    pub fn factor(&self, period: Duration) -> f64 {
        self.budget_percent * period.hours_f64() / (100.0 * self.long.hours_f64())
    }

    pub fn is_firing(&self, factor: f64, long_burn: f64, short_burn: f64) -> bool {
        long_burn > factor && short_burn > factor
    }
}

const fn rule(severity: Severity, long: Duration, short: Duration, pct: f64) -> BurnRateRule {
    BurnRateRule {
        severity,
        long,
        short,
        budget_percent: pct,
    }
}

/// A rule of [`SRE_WORKBOOK_RULES`], by its place in the table: what identifies a condition
/// of an objective in the engine, rather than its windows written out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(pub u8);

impl RuleId {
    pub fn rule(self) -> &'static BurnRateRule {
        &SRE_WORKBOOK_RULES[usize::from(self.0)]
    }
}

/// The four rules of the SRE Workbook's table.
pub const SRE_WORKBOOK_RULES: [BurnRateRule; 4] = [
    rule(
        Severity::Page,
        Duration::hours(1),
        Duration::minutes(5),
        2.0,
    ),
    rule(
        Severity::Page,
        Duration::hours(6),
        Duration::minutes(30),
        5.0,
    ),
    rule(
        Severity::Ticket,
        Duration::days(1),
        Duration::hours(2),
        10.0,
    ),
    rule(
        Severity::Ticket,
        Duration::days(3),
        Duration::hours(6),
        10.0,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn factors(period: Duration) -> String {
        SRE_WORKBOOK_RULES
            .iter()
            .map(|r| {
                format!(
                    "{} {}/{} {:.4}",
                    r.severity.as_str(),
                    r.long,
                    r.short,
                    r.factor(period)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn factors_scale_with_the_slo_period() {
        expect![[r#"
            page 1h/5m 14.4000
            page 6h/30m 6.0000
            ticket 1d/2h 3.0000
            ticket 3d/6h 1.0000"#]]
        .assert_eq(&factors(Duration::days(30)));
        expect![[r#"
            page 1h/5m 13.4400
            page 6h/30m 5.6000
            ticket 1d/2h 2.8000
            ticket 3d/6h 0.9333"#]]
        .assert_eq(&factors(Duration::days(28)));
    }

    #[test]
    fn fires_only_when_both_windows_exceed_the_factor() {
        let r = SRE_WORKBOOK_RULES[0];
        assert!(r.is_firing(14.4, 15.0, 20.0));
        assert!(!r.is_firing(14.4, 15.0, 14.4));
        assert!(!r.is_firing(14.4, 14.0, 100.0));
    }
}

#[cfg(test)]
mod severity_tests {
    use super::Severity;

    #[test]
    fn every_source_word_maps_to_page_or_ticket() {
        for w in [
            "critical", "CRITICAL", "error", "page", "high", "fatal", "sev1", "",
        ] {
            assert_eq!(Severity::of(w), Severity::Page, "{w}");
        }
        for w in [
            "warning", "Warning", "warn", "info", "ticket", "none", "low", " info ",
        ] {
            assert_eq!(Severity::of(w), Severity::Ticket, "{w}");
        }
    }
}

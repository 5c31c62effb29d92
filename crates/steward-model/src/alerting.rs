//! Multi-window, multi-burn-rate alert rules (Google SRE Workbook, "Alerting on SLOs").

use crate::duration::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    Page,
    Ticket,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
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

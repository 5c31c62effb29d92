//! Steward's domain core: SLO math, windows, burn-rate rules and the tiered count buffers.
//!
//! Everything here is pure: no I/O, no async, no clocks. Callers pass `now` in.

pub mod adjustment;
pub mod alerting;
pub mod budget;
pub mod buffer;
pub mod catalog;
pub mod counts;
pub mod duration;
pub mod escalation;
pub mod limits;
pub mod matcher;
pub mod oncall;
pub mod readiness;
pub mod rollup;
pub mod runbook;
pub mod slo;
pub mod status;
pub mod window;
pub mod words;

pub use alerting::{BurnRateRule, RuleId, Severity, Suppression, BURN_WINDOWS, SRE_WORKBOOK_RULES};
pub use budget::{burn_rate, ErrorBudget};
pub use buffer::{SliBuffer, Tier};
pub use counts::Counts;
pub use duration::Duration;
pub use matcher::Labels;
pub use slo::{
    AlertCondition, BudgetCurve, BudgetingMethod, Indicator, Measurement, Objective, Op,
    SampleError, SloDefinition, SloState, SloStatus, UnixSeconds,
};
pub use window::{CalendarUnit, CalendarWindow, Period, SloWindow};

#[cfg(test)]
mod slo_tests;

//! Error budgets and burn rates.

use crate::counts::Counts;
use crate::slo::Objective;

/// How much of the window's allowed failure is left. `remaining_ratio` goes below zero when the
/// budget is overspent; with no events nothing is spent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErrorBudget {
    pub remaining_ratio: f64,
    pub consumed_ratio: f64,
}

impl ErrorBudget {
    /// `remaining = 1 − (bad / total) / (1 − target)`.
    pub fn of(counts: Counts, objective: Objective) -> ErrorBudget {
        let consumed = burn_rate(counts, objective);
        ErrorBudget {
            remaining_ratio: 1.0 - consumed,
            consumed_ratio: consumed,
        }
    }
}

/// `(bad / total) / (1 − target)`: 1.0 spends the budget exactly over the SLO period.
pub fn burn_rate(counts: Counts, objective: Objective) -> f64 {
    counts.error_ratio() / objective.error_allowance()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Problem 4 of the spine issue: a target of 0.9999999999995 rounded to an allowance of
    /// zero, and the budget became NaN or infinite.
    #[test]
    fn targets_past_nine_nines_are_refused_and_nine_nines_has_a_finite_budget() {
        assert_eq!(Objective::new(0.9999999999995), None);
        let o = Objective::new(crate::slo::MAX_TARGET).unwrap();
        assert_eq!(o.error_allowance(), 1e-9);
        let b = ErrorBudget::of(Counts::new(999_999_999, 1_000_000_000), o);
        assert!((b.consumed_ratio - 1.0).abs() < 1e-6, "{b:?}");
        assert!(b.remaining_ratio.is_finite());
    }

    #[test]
    fn budget_of_hand_computed_cases() {
        let o = Objective::new(0.999).unwrap();
        // 1 bad in 10_000 = 0.0001, a tenth of the 0.001 allowance.
        let b = ErrorBudget::of(Counts::new(9_999, 10_000), o);
        assert!((b.consumed_ratio - 0.1).abs() < 1e-12);
        assert!((b.remaining_ratio - 0.9).abs() < 1e-12);
        // No traffic spends nothing.
        assert_eq!(
            ErrorBudget::of(Counts::ZERO, o),
            ErrorBudget {
                remaining_ratio: 1.0,
                consumed_ratio: 0.0
            }
        );
        // All bad: 1000× the allowance.
        assert!((burn_rate(Counts::new(0, 50), o) - 1000.0).abs() < 1e-9);
    }
}

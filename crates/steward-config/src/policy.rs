//! The `steward/v1` ErrorBudgetPolicy: when a service's deploys freeze.
//!
//! ```yaml
//! apiVersion: steward/v1
//! kind: ErrorBudgetPolicy
//! metadata: {name: storefront-freeze}
//! spec:
//!   services: [checkout, search]
//!   freezeWhen: {budgetRemainingBelow: 0.1, burnRateAbove: 6}
//!   allowFixes: true
//!   minimumReadiness: intermediate
//! ```

use crate::docs::{read_description, read_name, Metadata, Name};
use crate::read::Reader;
use crate::yaml::Node;
use steward_model::catalog::BudgetPolicy;

#[derive(Clone, Debug, PartialEq)]
pub struct BudgetPolicyDoc {
    pub meta: Metadata,
    pub policy: BudgetPolicy,
    pub services: Vec<Name>,
}

fn number(r: &mut Reader<'_>, n: &Node, what: &str) -> Option<f64> {
    let text = r.string(n, what)?;
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Some(v),
        _ => {
            r.error(n.mark, format!("{what} `{text}` is not a number"));
            None
        }
    }
}

pub fn read(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<BudgetPolicyDoc> {
    let mut f = r.map(spec, "ErrorBudgetPolicy spec")?;
    let _ = read_description(r, &mut f);
    let services: Vec<Name> = f
        .required(r, "services")
        .and_then(|n| r.list(n, "services"))
        .unwrap_or_default()
        .iter()
        .filter_map(|n| read_name(r, n, "service"))
        .collect();
    let (mut below, mut burn) = (Some(0.0), Some(None));
    if let Some(n) = f.get("freezeWhen") {
        if let Some(mut g) = r.map(n, "freezeWhen") {
            if let Some(b) = g.get("budgetRemainingBelow") {
                below = number(r, b, "budgetRemainingBelow").and_then(|v| {
                    if (0.0..=1.0).contains(&v) {
                        Some(v)
                    } else {
                        r.error(
                            b.mark,
                            format!("budgetRemainingBelow {v} is not a ratio from 0 to 1"),
                        );
                        None
                    }
                });
            }
            if let Some(b) = g.get("burnRateAbove") {
                burn = number(r, b, "burnRateAbove").and_then(|v| {
                    if v > 0.0 && v <= 1e6 {
                        Some(Some(v))
                    } else {
                        r.error(b.mark, format!("burnRateAbove {v} must be above 0 (1 spends the budget exactly over the window)"));
                        None
                    }
                });
            }
            g.finish(r);
        }
    }
    let allow_fixes = match f.get("allowFixes") {
        Some(n) => r.boolean(n, "allowFixes"),
        None => Some(true),
    };
    let minimum_readiness = match f.get("minimumReadiness") {
        Some(n) => r.string(n, "minimumReadiness").and_then(|w| {
            let l = steward_model::readiness::Level::parse(&w);
            if l.is_none() {
                r.error(
                    n.mark,
                    format!(
                        "minimumReadiness `{w}` is not one of beginner, intermediate, advanced"
                    ),
                );
            }
            l.map(Some)
        }),
        None => Some(None),
    };
    f.finish(r);
    if services.is_empty() {
        r.error(spec.mark, "an ErrorBudgetPolicy names at least one service");
        return None;
    }
    Some(BudgetPolicyDoc {
        policy: BudgetPolicy {
            name: meta.name.name.clone(),
            services: services.iter().map(|s| s.name.clone()).collect(),
            remaining_below: below?,
            burn_rate_above: burn?,
            allow_fixes: allow_fixes?,
            minimum_readiness: minimum_readiness?,
        },
        meta,
        services,
    })
}

//! The responsibility map and readiness policy as code: the `steward/v1` ServiceClass (the
//! controls a kind of service has, who owns each and what proves it is done) and the
//! `steward/v1` Policy (which services must pass which readiness checks or reach a level).
//!
//! ```yaml
//! apiVersion: steward/v1
//! kind: ServiceClass
//! metadata: {name: managed-database}
//! spec:
//!   controls:
//!     - {control: managed-patching, owner: provider, evidence: {kind: patch-report, every: 30d}}
//!     - {control: backup-and-recovery, owner: customer, evidence: {kind: restore-drill, every: 90d}}
//! ---
//! apiVersion: steward/v1
//! kind: Policy
//! metadata: {name: tier-1-production}
//! spec:
//!   select: {tier: [1], lifecycle: [production]}
//!   require:
//!     checks: [oncall-coverage, runbooks, slo-paging]
//!     level: intermediate
//!   alertNoise: {pagesPerWeek: 5, unactedShare: 0.2, nightPagesPerWeek: 1, medianAck: 10m}
//!   tickets: true   # a required check that starts failing opens a ticket (off unless set)
//! ```

use crate::docs::{read_description, read_name, Metadata, Name};
use crate::read::Reader;
use crate::runbook::duration;
use crate::yaml::Node;
use steward_model::readiness::{
    Control, ControlOwner, EvidenceRule, Level, NoiseLimits, ReadinessPolicy, Selector,
    ServiceClass, CHECKS,
};

/// The longest evidence may stay fresh.
const MAX_EVERY: i64 = 366 * 86_400;

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceClassDoc {
    pub meta: Metadata,
    pub class: ServiceClass,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PolicyDoc {
    pub meta: Metadata,
    pub policy: ReadinessPolicy,
    /// The customers and classes it selects, where written (checked against the catalog).
    pub customers: Vec<Name>,
    pub classes: Vec<Name>,
}

/// `controls: [{control, owner, evidence: {kind, every}}]`, as a class or a service writes
/// them; each control named once.
pub fn read_controls(r: &mut Reader<'_>, n: &Node) -> Vec<Control> {
    let mut out: Vec<Control> = Vec::new();
    for c in r.list(n, "controls").unwrap_or_default() {
        let Some(mut g) = r.map(c, "control") else {
            continue;
        };
        let name = g
            .required(r, "control")
            .and_then(|n| read_name(r, n, "control"));
        let owner = g.get("owner").and_then(|n| {
            let w = r.string(n, "owner")?;
            let o = ControlOwner::parse(&w);
            if o.is_none() {
                r.error(
                    n.mark,
                    format!("owner `{w}` is not one of provider, customer"),
                );
            }
            o
        });
        let evidence = g.get("evidence").and_then(|n| {
            let mut e = r.map(n, "evidence")?;
            let kind = e
                .required(r, "kind")
                .and_then(|k| read_name(r, k, "evidence kind"));
            let every = e
                .required(r, "every")
                .and_then(|d| duration(r, d, "evidence.every", MAX_EVERY));
            e.finish(r);
            Some(EvidenceRule {
                kind: kind?.name,
                every: every?,
            })
        });
        g.finish(r);
        let Some(name) = name else { continue };
        if out.iter().any(|o| o.name == name.name) {
            r.error(c.mark, format!("control `{}` is listed twice", name.name));
            continue;
        }
        out.push(Control {
            name: name.name,
            owner,
            evidence,
        });
    }
    out
}

pub fn read_class(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<ServiceClassDoc> {
    let mut f = r.map(spec, "ServiceClass spec")?;
    let description = read_description(r, &mut f);
    let controls = f.required(r, "controls").map(|n| read_controls(r, n));
    f.finish(r);
    Some(ServiceClassDoc {
        class: ServiceClass {
            name: meta.name.name.clone(),
            display_name: meta.display_name.clone(),
            description,
            controls: controls?,
        },
        meta,
    })
}

fn names(r: &mut Reader<'_>, n: Option<&Node>, what: &str) -> Vec<Name> {
    n.and_then(|n| r.list(n, what))
        .unwrap_or_default()
        .iter()
        .filter_map(|v| read_name(r, v, what))
        .collect()
}

fn ratio(r: &mut Reader<'_>, n: &Node, what: &str, max: f64) -> Option<f64> {
    let v = r.number(n, what)?;
    if (0.0..=max).contains(&v) {
        Some(v)
    } else {
        r.error(
            n.mark,
            format!("{what} {v} is out of range; use 0 to {max}"),
        );
        None
    }
}

pub fn read_policy(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<PolicyDoc> {
    let mut f = r.map(spec, "Policy spec")?;
    let _ = read_description(r, &mut f);
    let mut selector = Selector::default();
    let (mut customers, mut classes) = (Vec::new(), Vec::new());
    if let Some(n) = f.get("select") {
        if let Some(mut g) = r.map(n, "select") {
            if let Some(t) = g.get("tier") {
                for v in r.list(t, "tier").unwrap_or_default() {
                    match r.integer(v, "tier") {
                        Some(t @ 1..=4) => selector.tiers.push(t as u8),
                        Some(t) => r.error(
                            v.mark,
                            format!("tier {t} is out of range; use 1 (most critical) to 4"),
                        ),
                        None => {}
                    }
                }
            }
            selector.lifecycles = g
                .get("lifecycle")
                .map(|n| r.strings(n, "lifecycle"))
                .unwrap_or_default()
                .into_iter()
                .map(|(s, _)| s)
                .collect();
            customers = names(r, g.get("customer"), "customer");
            classes = names(r, g.get("class"), "class");
            selector.tags = g
                .get("tags")
                .map(|n| r.strings(n, "tags"))
                .unwrap_or_default()
                .into_iter()
                .map(|(s, _)| s)
                .collect();
            g.finish(r);
        }
    }
    selector.customers = customers.iter().map(|c| c.name.clone()).collect();
    selector.classes = classes.iter().map(|c| c.name.clone()).collect();
    let (mut checks, mut level) = (Vec::new(), None);
    if let Some(n) = f.required(r, "require") {
        if let Some(mut g) = r.map(n, "require") {
            for (c, mark) in g
                .get("checks")
                .map(|n| r.strings(n, "checks"))
                .unwrap_or_default()
            {
                if CHECKS.contains(&c.as_str()) {
                    checks.push(c);
                } else {
                    r.error(
                        mark,
                        format!("unknown check `{c}`; the checks are {}", CHECKS.join(", ")),
                    );
                }
            }
            level = g.get("level").and_then(|n| {
                let w = r.string(n, "level")?;
                let l = Level::parse(&w);
                if l.is_none() {
                    r.error(
                        n.mark,
                        format!("level `{w}` is not one of beginner, intermediate, advanced"),
                    );
                }
                l
            });
            g.finish(r);
            if checks.is_empty() && level.is_none() {
                r.error(
                    n.mark,
                    "require names no check and no level: add checks: [...] or level: intermediate",
                );
            }
        }
    }
    let noise = f.get("alertNoise").and_then(|n| {
        let mut g = r.map(n, "alertNoise")?;
        let d = NoiseLimits::default();
        let per_week = match g.get("pagesPerWeek") {
            Some(v) => ratio(r, v, "pagesPerWeek", 10_000.0),
            None => Some(d.pages_per_week),
        };
        let unacted = match g.get("unactedShare") {
            Some(v) => ratio(r, v, "unactedShare", 1.0),
            None => Some(d.unacted_share),
        };
        let night = match g.get("nightPagesPerWeek") {
            Some(v) => ratio(r, v, "nightPagesPerWeek", 10_000.0),
            None => Some(d.night_pages_per_week),
        };
        let ack = match g.get("medianAck") {
            Some(v) => duration(r, v, "medianAck", 86_400),
            None => Some(d.median_ack),
        };
        g.finish(r);
        Some(NoiseLimits {
            pages_per_week: per_week?,
            unacted_share: unacted?,
            night_pages_per_week: night?,
            median_ack: ack?,
        })
    });
    let tickets = match f.get("tickets") {
        Some(n) => r.boolean(n, "tickets"),
        None => Some(false),
    };
    f.finish(r);
    Some(PolicyDoc {
        policy: ReadinessPolicy {
            name: meta.name.name.clone(),
            selector,
            checks,
            level,
            noise,
            tickets: tickets?,
        },
        meta,
        customers,
        classes,
    })
}

//! Why an alert notifies no one: an active silence, a maintenance window of its service, an
//! inhibition rule, or an open page of a service it depends on (the cascade: when the
//! database pages, the services on top of it do not page too; their alerts are recorded and
//! linked to the database's). A dependency holds a page back for a limited time only
//! ([`Context::new`]'s `hold`): after that it pages, naming the page it waited on, since the
//! two may be different failures.

use super::Alerting;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use steward_config::Catalog;
use steward_model::matcher::{all_match, MatchOp, Matcher};
use steward_model::{Severity, Suppression};
use steward_store::{Alert, AlertFilter, AlertStatus, StoreError, Tx};

/// Every service's dependencies, transitively (a cycle is cut where it closes).
pub fn dependencies(catalog: &Catalog) -> HashMap<String, Vec<String>> {
    let direct: HashMap<&str, &[String]> = catalog
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.depends_on.as_slice()))
        .collect();
    catalog
        .services
        .iter()
        .map(|s| {
            let mut seen: Vec<String> = Vec::new();
            let mut stack: Vec<&str> = s.depends_on.iter().map(String::as_str).collect();
            while let Some(d) = stack.pop() {
                if d == s.name || seen.iter().any(|x| x == d) {
                    continue;
                }
                seen.push(d.to_string());
                stack.extend(
                    direct
                        .get(d)
                        .copied()
                        .unwrap_or_default()
                        .iter()
                        .map(String::as_str),
                );
            }
            (s.name.clone(), seen)
        })
        .collect()
}

/// Reads silences as Alertmanager writes their matchers.
pub fn silence_matchers(json: &str) -> Result<Vec<Matcher>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let items = v.as_array().ok_or("matchers must be a list")?;
    items
        .iter()
        .map(|m| {
            let name = m["name"].as_str().ok_or("a matcher needs a name")?;
            let value = m["value"].as_str().ok_or("a matcher needs a value")?;
            let is_regex = m["isRegex"].as_bool().unwrap_or(false);
            let is_equal = m["isEqual"].as_bool().unwrap_or(true);
            Matcher::new(name, MatchOp::from_flags(is_regex, is_equal), value)
        })
        .collect()
}

/// Matchers in Alertmanager's JSON shape, as silences are stored.
pub fn matchers_json(matchers: &[Matcher]) -> String {
    Value::Array(
        matchers
            .iter()
            .map(|m| {
                serde_json::json!({
                    "name": m.name,
                    "value": m.value,
                    "isRegex": m.op.is_regex(),
                    "isEqual": m.op.is_equal(),
                })
            })
            .collect(),
    )
    .to_string()
}

struct ActiveSilence {
    id: i64,
    matchers: Vec<Matcher>,
    starts_at: i64,
    ends_at: i64,
    /// An integration's own silence silences its alerts only.
    integration: Option<String>,
}

/// What suppression is judged against, read from the transaction when first needed: the
/// silences, and (only when inhibition rules exist) the open alerts. Dependencies are asked
/// of the store per alert, so they see this transaction's own changes.
pub struct Context<'c> {
    catalog: &'c Catalog,
    dependencies: &'c HashMap<String, Vec<String>>,
    /// How long after it opened a page may be held back by a dependency's page (seconds).
    hold: i64,
    silences: Option<Vec<ActiveSilence>>,
    open: Option<Vec<Alert>>,
    /// The first open page of each service that nothing holds back, as asked in this
    /// transaction (forgotten whenever a suppression, an opening or a resolve changes it).
    first_page: HashMap<String, Option<Alert>>,
    /// For each inhibition rule, where in `open` its live source alerts are (forgotten with
    /// `first_page`): a page is judged against a rule's few sources, not every open alert.
    rule_sources: Option<Vec<Vec<usize>>>,
}

/// Open alerts read for inhibition rules at most: a storm larger than this is judged against
/// its newest alerts.
const MAX_OPEN: u32 = 10_000;

impl<'c> Context<'c> {
    pub fn new(
        catalog: &'c Catalog,
        dependencies: &'c HashMap<String, Vec<String>>,
        hold: i64,
    ) -> Context<'c> {
        Context {
            catalog,
            dependencies,
            hold,
            silences: None,
            open: None,
            first_page: HashMap::new(),
            rule_sources: None,
        }
    }

    /// A new alert joins the open ones (later events of the same transaction see it).
    pub fn opened(&mut self, a: &Alert) {
        self.first_page.clear();
        self.rule_sources = None;
        if let Some(open) = &mut self.open {
            open.push(a.clone());
        }
    }

    /// An alert's suppression changed in this transaction: later judgements see it.
    pub fn set_suppressed(&mut self, id: i64, why: Option<&Suppression>) {
        self.first_page.clear();
        self.rule_sources = None;
        if let Some(open) = &mut self.open {
            for a in open.iter_mut().filter(|a| a.id == id) {
                a.suppressed = why.cloned();
            }
        }
    }

    pub fn resolved(&mut self, id: i64) {
        self.first_page.clear();
        self.rule_sources = None;
        if let Some(open) = &mut self.open {
            open.retain(|a| a.id != id);
        }
    }

    fn silences(&mut self, tx: &mut Tx<'_>, now: i64) -> Result<&[ActiveSilence], StoreError> {
        if self.silences.is_none() {
            let loaded = tx
                .live_silences(now)?
                .into_iter()
                .filter_map(|s| {
                    Some(ActiveSilence {
                        id: s.id,
                        matchers: silence_matchers(&s.matchers).ok()?,
                        starts_at: s.starts_at,
                        ends_at: s.ends_at,
                        integration: s.integration,
                    })
                })
                .collect();
            self.silences = Some(loaded);
        }
        Ok(self.silences.as_deref().unwrap_or_default())
    }

    fn open(&mut self, tx: &mut Tx<'_>) -> Result<&[Alert], StoreError> {
        if self.open.is_none() {
            let loaded = tx.alerts(&AlertFilter {
                unresolved: true,
                limit: Some(MAX_OPEN),
                ..AlertFilter::default()
            })?;
            self.open = Some(loaded);
        }
        Ok(self.open.as_deref().unwrap_or_default())
    }

    /// Reads each rule's live source alerts, as positions in `open` (which must be read).
    fn sources(&mut self) {
        if self.rule_sources.is_none() {
            let open = self.open.as_deref().unwrap_or_default();
            let sources = self
                .catalog
                .inhibit_rules
                .iter()
                .map(|rule| {
                    open.iter()
                        .enumerate()
                        .filter(|(_, o)| {
                            o.suppressed.is_none()
                                && o.status != AlertStatus::Resolved
                                && all_match(&rule.source, &o.labels)
                        })
                        .map(|(pos, _)| pos)
                        .collect()
                })
                .collect();
            self.rule_sources = Some(sources);
        }
    }

    /// Why `a` notifies no one at `now`, if anything says so.
    pub fn suppressed(
        &mut self,
        tx: &mut Tx<'_>,
        a: &Alert,
        now: i64,
    ) -> Result<Option<Suppression>, StoreError> {
        let labels = &a.labels;
        if let Some(s) = self.silences(tx, now)?.iter().find(|s| {
            s.starts_at <= now
                && now < s.ends_at
                && s.integration.as_ref().is_none_or(|i| *i == a.integration)
                && all_match(&s.matchers, labels)
        }) {
            return Ok(Some(Suppression::Silenced { silence: s.id }));
        }
        let catalog = self.catalog;
        if let Some(service) = &a.service {
            if let Some(w) = catalog
                .maintenance
                .iter()
                .find(|w| w.services.contains(service) && w.is_active(now))
            {
                return Ok(Some(Suppression::Maintenance {
                    window: w.name.clone(),
                }));
            }
        }
        // Only an open alert that itself notifies inhibits: a silenced source does not hide
        // its dependents.
        let rules: Vec<usize> = (0..catalog.inhibit_rules.len())
            .filter(|&r| all_match(&catalog.inhibit_rules[r].target, labels))
            .collect();
        if !rules.is_empty() {
            self.open(tx)?;
            self.sources();
            let sources = self.rule_sources.as_deref().unwrap_or_default();
            let open = self.open.as_deref().unwrap_or_default();
            // The earliest open source alert that any of these rules names (with equal
            // labels), and the first such rule.
            let mut best: Option<(usize, usize)> = None;
            for &r in &rules {
                let rule = &catalog.inhibit_rules[r];
                let first = sources[r].iter().copied().find(|&pos| {
                    let o = &open[pos];
                    o.id != a.id && rule.equal.iter().all(|l| labels.get(l) == o.labels.get(l))
                });
                if let Some(pos) = first {
                    if best.is_none_or(|(p, _)| pos < p) {
                        best = Some((pos, r));
                    }
                }
            }
            if let Some((pos, r)) = best {
                return Ok(Some(Suppression::Inhibited {
                    alert: open[pos].id,
                    rule: catalog.inhibit_rules[r].name.clone(),
                }));
            }
        }
        // A page of a dependency holds a page back for `hold` after it opened; a ticket
        // holds nothing back.
        let Some(service) = &a.service else {
            return Ok(None);
        };
        let deps = match self.dependencies.get(service) {
            Some(d) if !d.is_empty() && a.urgency == Severity::Page => d,
            _ => return Ok(None),
        };
        if now >= a.opened_at.saturating_add(self.hold) {
            return Ok(None);
        }
        for d in deps {
            if !self.first_page.contains_key(d) {
                let page = tx.first_open_page_of(std::slice::from_ref(d), a.id)?;
                self.first_page.insert(d.clone(), page);
            }
        }
        let first = deps
            .iter()
            .filter_map(|d| self.first_page.get(d).and_then(Option::as_ref))
            .filter(|p| p.id != a.id)
            .min_by_key(|p| p.id);
        Ok(first.map(|o| Suppression::Dependency {
            alert: o.id,
            service: o.service.clone().unwrap_or_default(),
            dependent: service.clone(),
        }))
    }
}

/// How long an ended silence is kept (seconds).
const SILENCE_RETENTION: i64 = 5 * 86_400;

impl Alerting {
    /// Every open page judged again: suppression is a state, not a verdict at opening. A page
    /// a new silence (or window, or dependency page) covers stops escalating; one whose reason
    /// changed names the new one; one that nothing holds back any more escalates again from
    /// its first step. Pages of services others depend on are judged first, so a chain
    /// settles in one pass.
    pub(super) fn recheck_suppressed(self: &Arc<Self>, now: i64) -> Result<(), StoreError> {
        let me = self.clone();
        let (held, woke) = self.store.transact(move |tx| {
            // Ended silences are kept five days for the record, as Alertmanager does.
            tx.forget_silences(now - SILENCE_RETENTION)?;
            let mut ctx = me.context();
            let mut pages = tx.open_pages(100_000)?;
            let depth = |a: &Alert| {
                a.service
                    .as_ref()
                    .and_then(|s| me.dependencies.get(s))
                    .map_or(0, Vec::len)
            };
            pages.sort_by_key(|a| (depth(a), a.id));
            let (mut held, mut woke) = (0, 0);
            for a in pages {
                let now_why = ctx.suppressed(tx, &a, now)?;
                if now_why.is_none() && a.suppressed.is_none() {
                    // A page nothing routed (its policy gone in a reload, or none when it
                    // opened) goes where it would be routed now, once something takes it.
                    let routed = a
                        .policy
                        .as_deref()
                        .is_some_and(|p| me.catalog.policy(p).is_some());
                    if a.status == AlertStatus::Triggered && !routed {
                        if let Some(p) = me.policy_for(a.service.as_deref(), &a.labels) {
                            tx.set_policy(a.id, Some(&p))?;
                            me.escalate_page(tx, &mut ctx, &a, Some(p), "routed", now)?;
                            woke += 1;
                        }
                    }
                    continue;
                }
                if now_why == a.suppressed {
                    continue;
                }
                tx.set_suppressed(a.id, now_why.as_ref())?;
                ctx.set_suppressed(a.id, now_why.as_ref());
                match (&a.suppressed, &now_why) {
                    (_, Some(why)) => {
                        tx.stop_escalation(a.id)?;
                        tx.log(a.id, now, "suppressed", "steward", &why.to_string())?;
                        held += 1;
                    }
                    (Some(was), None) if a.status == AlertStatus::Triggered => {
                        tx.log(
                            a.id,
                            now,
                            "unsuppressed",
                            "steward",
                            &format!("no longer suppressed ({was}); paging"),
                        )?;
                        // Where it goes now: its policy, or (gone in a reload, or never
                        // found) wherever it would be routed today.
                        let policy = a
                            .policy
                            .clone()
                            .filter(|p| me.catalog.policy(p).is_some())
                            .or_else(|| me.policy_for(a.service.as_deref(), &a.labels));
                        if policy != a.policy {
                            tx.set_policy(a.id, policy.as_deref())?;
                        }
                        me.escalate_page(tx, &mut ctx, &a, policy, "escalating", now)?;
                        woke += 1;
                    }
                    (Some(was), None) => tx.log(
                        a.id,
                        now,
                        "unsuppressed",
                        "steward",
                        &format!("no longer suppressed ({was})"),
                    )?,
                    (None, None) => {}
                }
            }
            Ok((held, woke))
        })?;
        if held + woke > 0 {
            tracing::info!(
                held,
                woke,
                "open pages judged again: some are held back, some page again"
            );
        }
        Ok(())
    }
}

//! The second stage: documents checked against each other (names, references) and turned
//! into the model's SLO definitions and catalog entries.

use crate::diag::{Diagnostics, Loc};
use crate::docs::*;
use crate::oncall::OnCallDoc;
use std::collections::HashMap;
use steward_model::catalog::{
    FailureMode, InhibitRule, Integration, Link, MaintenanceWindow, Route, Service, Team, User,
};
use steward_model::escalation::EscalationPolicy;
use steward_model::oncall::Schedule;
use steward_model::{
    BudgetingMethod, CalendarUnit, CalendarWindow, Duration, Indicator, Objective, SloDefinition,
    SloWindow,
};

/// Everything a configuration directory declares, ready for the engine.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    pub slos: Vec<SloDefinition>,
    pub services: Vec<Service>,
    pub teams: Vec<Team>,
    pub users: Vec<User>,
    pub customers: Vec<steward_model::catalog::Customer>,
    /// The OpenID Connect provider people log in with, if any.
    pub sso: Option<steward_model::catalog::SingleSignOn>,
    pub schedules: Vec<Schedule>,
    pub policies: Vec<EscalationPolicy>,
    pub integrations: Vec<Integration>,
    pub inhibit_rules: Vec<InhibitRule>,
    pub routes: Vec<Route>,
    pub maintenance: Vec<MaintenanceWindow>,
    pub runbooks: Vec<steward_model::runbook::Runbook>,
    pub budget_policies: Vec<steward_model::catalog::BudgetPolicy>,
    /// Adjustments the configuration declares (the API keeps more in the store).
    pub budget_adjustments: Vec<steward_model::adjustment::BudgetAdjustment>,
    /// Each objective with the SLO document and the SLI it came from.
    pub objective_refs: Vec<ObjectiveRef>,
    /// Kinds of service and the controls of their responsibility maps.
    pub classes: Vec<steward_model::readiness::ServiceClass>,
    /// Which services must pass which readiness checks.
    pub readiness_policies: Vec<steward_model::readiness::ReadinessPolicy>,
}

/// Where an objective came from: its SLO document and SLI (by name).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectiveRef {
    pub objective: String,
    pub slo: String,
    pub sli: Option<String>,
}

impl Catalog {
    pub fn slo(&self, name: &str) -> Option<&SloDefinition> {
        self.slos.iter().find(|s| s.name == name)
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The error-budget policy a service follows: the first that names it, else the
    /// default (deploys freeze while any SLO's budget is exhausted, fixes pass).
    pub fn budget_policy(&self, service: &str) -> steward_model::catalog::BudgetPolicy {
        self.budget_policies
            .iter()
            .find(|p| p.services.iter().any(|s| s == service))
            .cloned()
            .unwrap_or_else(|| steward_model::catalog::BudgetPolicy::default_for(service))
    }

    /// The objectives an adjustment of `service` names: those of the SLOs whose SLI (or
    /// whose own name) is `indicator`, or every one of the service's when `None`.
    pub fn objectives_for(&self, service: &str, indicator: Option<&str>) -> Vec<String> {
        self.slos
            .iter()
            .filter(|d| d.service == service)
            .filter(|d| {
                indicator.is_none_or(|i| {
                    d.name == i
                        || self.objective_refs.iter().any(|r| {
                            r.objective == d.name && (r.slo == i || r.sli.as_deref() == Some(i))
                        })
                })
            })
            .map(|d| d.name.clone())
            .collect()
    }

    pub fn runbook(&self, name: &str) -> Option<&steward_model::runbook::Runbook> {
        self.runbooks.iter().find(|r| r.name == name)
    }

    /// The automatic runbook that answers an alert of `service` with these labels.
    pub fn automatic_runbook_for(
        &self,
        service: Option<&str>,
        labels: &steward_model::matcher::Labels,
    ) -> Option<&steward_model::runbook::Runbook> {
        self.runbooks
            .iter()
            .find(|r| r.automatic && r.answers(service, labels))
    }

    /// The runbook that answers an alert of `service` with these labels (the first).
    pub fn runbook_for(
        &self,
        service: Option<&str>,
        labels: &steward_model::matcher::Labels,
    ) -> Option<&steward_model::runbook::Runbook> {
        self.runbooks.iter().find(|r| r.answers(service, labels))
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn schedule(&self, name: &str) -> Option<&Schedule> {
        self.schedules.iter().find(|s| s.name == name)
    }

    pub fn policy(&self, name: &str) -> Option<&EscalationPolicy> {
        self.policies.iter().find(|p| p.name == name)
    }

    pub fn integration(&self, name: &str) -> Option<&Integration> {
        self.integrations.iter().find(|i| i.name == name)
    }

    pub fn class(&self, name: &str) -> Option<&steward_model::readiness::ServiceClass> {
        self.classes.iter().find(|c| c.name == name)
    }

    /// A service's responsibility map: its class's controls with its own over them.
    pub fn controls_of(&self, service: &Service) -> Vec<steward_model::readiness::Control> {
        steward_model::readiness::controls_of(
            service.class.as_deref().and_then(|c| self.class(c)),
            &service.controls,
        )
    }

    /// What `service` depends on: directly, or (`transitive`) through any path, nearest
    /// first, each once.
    pub fn dependencies(&self, service: &str, transitive: bool) -> Vec<&str> {
        self.walk(service, transitive, |s| {
            s.depends_on.iter().map(String::as_str).collect()
        })
    }

    /// What depends on `service`: directly, or (`transitive`) through any path.
    pub fn dependents(&self, service: &str, transitive: bool) -> Vec<&str> {
        self.walk(service, transitive, |s| {
            self.services
                .iter()
                .filter(|d| d.depends_on.iter().any(|x| x == &s.name))
                .map(|d| d.name.as_str())
                .collect()
        })
    }

    fn walk<'a>(
        &'a self,
        from: &str,
        transitive: bool,
        next: impl Fn(&'a Service) -> Vec<&'a str>,
    ) -> Vec<&'a str> {
        let mut out: Vec<&str> = Vec::new();
        let mut queue = std::collections::VecDeque::from([from.to_string()]);
        while let Some(name) = queue.pop_front() {
            let Some(s) = self.service(&name) else {
                continue;
            };
            for n in next(s) {
                if n != from && !out.contains(&n) {
                    out.push(n);
                    if transitive {
                        queue.push_back(n.to_string());
                    }
                }
            }
        }
        out
    }
}

/// How strictly references are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A whole configuration: every reference must resolve.
    Complete,
    /// One file on its own: references are checked only against kinds the file defines.
    SingleFile,
}

/// Names of each kind, with where each was first declared.
#[derive(Default)]
struct Names<'a> {
    by_kind: HashMap<&'static str, HashMap<&'a str, &'a Loc>>,
}

impl<'a> Names<'a> {
    fn declare(&mut self, kind: &'static str, name: &'a Name, diags: &mut Diagnostics) {
        let names = self.by_kind.entry(kind).or_default();
        if let Some(first) = names.get(name.name.as_str()) {
            diags.error(
                name.loc.clone(),
                format!(
                    "{kind} `{}` is declared twice; the first is at {}:{}:{}",
                    name.name, first.file, first.mark.line, first.mark.col
                ),
            );
        } else {
            names.insert(&name.name, &name.loc);
        }
    }

    fn has(&self, kinds: &[&'static str], name: &str) -> bool {
        kinds
            .iter()
            .any(|k| self.by_kind.get(k).is_some_and(|n| n.contains_key(name)))
    }

    fn any_of(&self, kinds: &[&'static str]) -> bool {
        kinds
            .iter()
            .any(|k| self.by_kind.get(k).is_some_and(|n| !n.is_empty()))
    }
}

const SERVICE_KINDS: &[&str] = &["openslo/v1 Service", "steward/v1 Service"];

struct Checker<'a> {
    names: Names<'a>,
    scope: Scope,
}

impl Checker<'_> {
    /// Reports a reference to a `kinds` name that nothing declares.
    fn reference(&self, kinds: &[&'static str], what: &str, name: &Name, diags: &mut Diagnostics) {
        if self.scope == Scope::SingleFile && !self.names.any_of(kinds) {
            return;
        }
        if !self.names.has(kinds, &name.name) {
            diags.error(
                name.loc.clone(),
                format!(
                    "{what} `{}` does not exist; declare a {} named `{}` or fix the name",
                    name.name,
                    kinds[0].trim_start_matches("openslo/v1 "),
                    name.name
                ),
            );
        }
    }
}

/// Checks the documents against each other and builds the catalog. Errors go to `diags`.
pub fn build(docs: &[Document], scope: Scope, diags: &mut Diagnostics) -> Catalog {
    let mut names = Names::default();
    for doc in docs {
        names.declare(doc.kind(), &doc.metadata().name, diags);
    }
    let ck = Checker { names, scope };
    let slis: HashMap<&str, &SliDoc> = docs
        .iter()
        .filter_map(|d| match d {
            Document::Sli(s) => Some((s.meta.name.name.as_str(), s)),
            _ => None,
        })
        .collect();

    let mut catalog = Catalog::default();
    for doc in docs {
        match doc {
            Document::Slo(slo) => {
                if let Some(s) = &slo.service {
                    ck.reference(SERVICE_KINDS, "service", s, diags);
                }
                for p in &slo.alert_policies {
                    match p {
                        AlertPolicyUse::Ref(n) => {
                            ck.reference(&["AlertPolicy"], "alert policy", n, diags)
                        }
                        AlertPolicyUse::Inline(p) => {
                            check_policy(&ck, p, diags);
                            unused_alerting(diags, "AlertPolicy", &p.meta.name);
                        }
                    }
                }
                let sli = match &slo.indicator {
                    Some(IndicatorUse::Inline(s)) => Some(&**s),
                    Some(IndicatorUse::Ref(n)) => {
                        ck.reference(&["SLI"], "indicatorRef", n, diags);
                        slis.get(n.name.as_str()).copied()
                    }
                    None => None,
                };
                if let Some(sli) = sli {
                    check_sli(&ck, sli, diags);
                }
                let sli_name = match &slo.indicator {
                    Some(IndicatorUse::Ref(n)) => Some(n.name.clone()),
                    Some(IndicatorUse::Inline(s)) => Some(s.meta.name.name.clone()),
                    None => None,
                };
                for def in build_slo(slo, sli, diags) {
                    catalog.objective_refs.push(ObjectiveRef {
                        objective: def.name.clone(),
                        slo: slo.meta.name.name.clone(),
                        sli: sli_name.clone(),
                    });
                    catalog.slos.push(def);
                }
            }
            Document::Sli(sli) => check_sli(&ck, sli, diags),
            Document::AlertPolicy(p) => {
                check_policy(&ck, p, diags);
                unused_alerting(diags, "AlertPolicy", &p.meta.name);
            }
            Document::AlertCondition(c) => unused_alerting(diags, "AlertCondition", &c.meta.name),
            Document::AlertNotificationTarget(t) => {
                unused_alerting(diags, "AlertNotificationTarget", &t.meta.name)
            }
            Document::CatalogService(s) => {
                if let Some(owner) = &s.owner {
                    ck.reference(&["Team"], "owner team", owner, diags);
                }
                if let Some(c) = &s.customer {
                    ck.reference(&["Customer"], "customer", c, diags);
                }
                if let Some(p) = &s.escalation_policy {
                    ck.reference(&["EscalationPolicy"], "escalationPolicy", p, diags);
                }
                for d in &s.depends_on {
                    ck.reference(SERVICE_KINDS, "dependency", d, diags);
                    if d.name == s.meta.name.name {
                        diags.error(
                            d.loc.clone(),
                            format!("service `{}` depends on itself", d.name),
                        );
                    }
                }
            }
            Document::Team(t) => catalog.teams.push(Team {
                name: t.meta.name.name.clone(),
                display_name: t.meta.display_name.clone(),
                members: t.members.clone(),
            }),
            Document::OnCall(d) => add_on_call(&ck, d, &mut catalog, diags),
            Document::BudgetAdjustment(d) => {
                ck.reference(SERVICE_KINDS, "service", &d.service, diags);
                catalog.budget_adjustments.push(d.adjustment.clone());
            }
            Document::BudgetPolicy(d) => {
                for s in &d.services {
                    ck.reference(SERVICE_KINDS, "service", s, diags);
                    if let Some(other) = catalog
                        .budget_policies
                        .iter()
                        .find(|p| p.services.contains(&s.name))
                    {
                        diags.error(
                            s.loc.clone(),
                            format!(
                                "service `{}` already follows error budget policy `{}`; a service follows one",
                                s.name, other.name
                            ),
                        );
                    }
                }
                catalog.budget_policies.push(d.policy.clone());
            }
            Document::Runbook(d) => {
                ck.reference(SERVICE_KINDS, "service", &d.service, diags);
                if let Some(p) = &d.policy {
                    ck.reference(&["EscalationPolicy"], "escalationPolicy", p, diags);
                }
                for a in &d.approvers {
                    ck.reference(&["User"], "approver", a, diags);
                }
                catalog.runbooks.push(d.runbook.clone());
            }
            Document::ServiceClass(d) => catalog.classes.push(d.class.clone()),
            Document::Policy(d) => {
                for c in &d.customers {
                    ck.reference(&["Customer"], "customer", c, diags);
                }
                for c in &d.classes {
                    ck.reference(&["ServiceClass"], "class", c, diags);
                }
                catalog.readiness_policies.push(d.policy.clone());
            }
            Document::Service(_) | Document::DataSource(_) => {}
        }
    }
    for doc in docs {
        if let Document::CatalogService(s) = doc {
            if let Some(c) = &s.class {
                ck.reference(&["ServiceClass"], "class", c, diags);
            }
        }
    }
    catalog.services = merge_services(docs);
    report_cycles(docs, &catalog, diags);
    // An adjustment names an SLI (or SLO) of its service.
    for doc in docs {
        let Document::BudgetAdjustment(d) = doc else {
            continue;
        };
        if catalog.service(&d.service.name).is_some()
            && catalog
                .objectives_for(&d.service.name, Some(&d.indicator.name))
                .is_empty()
        {
            diags.error(
                d.indicator.loc.clone(),
                format!(
                    "indicatorRef `{}` names no SLI or SLO of service `{}`",
                    d.indicator.name, d.service.name
                ),
            );
        }
    }
    // A runbook's failure mode is one its service declares.
    for doc in docs {
        let Document::Runbook(d) = doc else { continue };
        let (Some(mode), Some(service)) = (&d.failure_mode, catalog.service(&d.service.name))
        else {
            continue;
        };
        if !service.failure_modes.iter().any(|m| m.name == mode.name) {
            let known: Vec<&str> = service
                .failure_modes
                .iter()
                .map(|m| m.name.as_str())
                .collect();
            diags.error(
                mode.loc.clone(),
                format!(
                    "service `{}` declares no failure mode `{}`{}",
                    service.name,
                    mode.name,
                    if known.is_empty() {
                        " (it declares none: add it under spec.failureModes)".to_string()
                    } else {
                        format!("; it declares {}", known.join(", "))
                    }
                ),
            );
        }
    }
    catalog
}

fn add_on_call(ck: &Checker<'_>, doc: &OnCallDoc, catalog: &mut Catalog, diags: &mut Diagnostics) {
    match doc {
        OnCallDoc::User { user, customer, .. } => {
            if let Some(c) = customer {
                ck.reference(&["Customer"], "customer", c, diags);
            }
            catalog.users.push(user.clone());
        }
        OnCallDoc::Customer(_, c) => catalog.customers.push(c.clone()),
        OnCallDoc::SingleSignOn(meta, s) => {
            if catalog.sso.is_some() {
                diags.error(
                    meta.name.loc.clone(),
                    "only one SingleSignOn document is allowed; this is the second",
                );
            }
            catalog.sso = Some(s.clone());
        }
        OnCallDoc::Schedule {
            schedule,
            participants,
            ..
        } => {
            for p in participants {
                ck.reference(&["User"], "participant", p, diags);
            }
            catalog.schedules.push(schedule.clone());
        }
        OnCallDoc::EscalationPolicy {
            policy,
            users,
            schedules,
            ..
        } => {
            for u in users {
                ck.reference(&["User"], "user", u, diags);
            }
            for s in schedules {
                ck.reference(&["Schedule"], "schedule", s, diags);
            }
            catalog.policies.push(policy.clone());
        }
        OnCallDoc::Integration {
            meta,
            integration,
            service,
        } => {
            if let Some(s) = service {
                ck.reference(SERVICE_KINDS, "service", s, diags);
            }
            if let Some(other) = catalog
                .integrations
                .iter()
                .find(|i| i.key == integration.key)
            {
                diags.error(
                    meta.name.loc.clone(),
                    format!(
                        "integration `{}` has the same key as `{}`; every integration needs its own key",
                        integration.name, other.name
                    ),
                );
            }
            catalog.integrations.push(integration.clone());
        }
        OnCallDoc::InhibitRule(_, rule) => catalog.inhibit_rules.push(rule.clone()),
        OnCallDoc::Route { route, policy, .. } => {
            ck.reference(&["EscalationPolicy"], "escalationPolicy", policy, diags);
            catalog.routes.push(route.clone());
        }
        OnCallDoc::MaintenanceWindow {
            window, services, ..
        } => {
            for s in services {
                ck.reference(SERVICE_KINDS, "service", s, diags);
            }
            catalog.maintenance.push(window.clone());
        }
    }
}

fn check_sli(ck: &Checker<'_>, sli: &SliDoc, diags: &mut Diagnostics) {
    let sources: Vec<&MetricSource> = match &sli.spec {
        IndicatorSpec::Ratio { good, bad, total } => {
            [good, bad, total].into_iter().flatten().collect()
        }
        IndicatorSpec::Threshold { source } => vec![source],
    };
    for s in sources {
        if let Some(r) = &s.source_ref {
            ck.reference(&["DataSource"], "metricSourceRef", r, diags);
        }
    }
}

/// OpenSLO's alerting documents are read (and their references checked) but not acted on:
/// said once per document, so nobody believes a condition or target of theirs will page.
fn unused_alerting(diags: &mut Diagnostics, kind: &str, name: &Name) {
    diags.warn(
        name.loc.clone(),
        format!(
            "OpenSLO {kind} `{}` is read but not used: Steward alerts on every SLO with the multi-window burn-rate rules and pages through the service's escalationPolicy (or a Route); write those instead",
            name.name
        ),
    );
}

fn check_policy(ck: &Checker<'_>, p: &AlertPolicyDoc, diags: &mut Diagnostics) {
    for c in &p.conditions {
        if let ConditionUse::Ref(n) = c {
            ck.reference(&["AlertCondition"], "conditionRef", n, diags);
        }
    }
    for t in &p.targets {
        if let TargetUse::Ref(n) = t {
            ck.reference(&["AlertNotificationTarget"], "targetRef", n, diags);
        }
    }
}

/// A service that depends on itself through others is an error at the first edge of the
/// cycle, naming the whole path: `a → b → c → a`.
fn report_cycles(docs: &[Document], catalog: &Catalog, diags: &mut Diagnostics) {
    let graph: HashMap<&str, &[String]> = catalog
        .services
        .iter()
        .map(|s| (s.name.as_str(), &s.depends_on[..]))
        .collect();
    let mut reported: Vec<Vec<&str>> = Vec::new();
    for doc in docs {
        let Document::CatalogService(s) = doc else {
            continue;
        };
        for d in &s.depends_on {
            if d.name == s.meta.name.name {
                continue; // reported as depending on itself
            }
            // A path from the dependency back to this service closes a cycle.
            let Some(path) = path_between(&graph, &d.name, &s.meta.name.name) else {
                continue;
            };
            let mut cycle: Vec<&str> = vec![s.meta.name.name.as_str()];
            cycle.extend(path);
            let mut key = cycle[..cycle.len() - 1].to_vec();
            key.sort_unstable();
            if reported.contains(&key) {
                continue;
            }
            reported.push(key);
            diags.error(
                d.loc.clone(),
                format!(
                    "dependency cycle: {}; a service cannot depend on itself through others",
                    cycle.join(" → ")
                ),
            );
        }
    }
}

/// The shortest path of dependencies from `from` to `to` (both included).
fn path_between<'c>(
    graph: &HashMap<&'c str, &'c [String]>,
    from: &'c str,
    to: &str,
) -> Option<Vec<&'c str>> {
    let mut came: HashMap<&str, &str> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([from]);
    while let Some(at) = queue.pop_front() {
        if at == to {
            let mut path = vec![at];
            let mut cur = at;
            while let Some(prev) = came.get(cur) {
                path.push(prev);
                cur = prev;
            }
            path.reverse();
            return Some(path);
        }
        for n in graph.get(at).copied().unwrap_or_default() {
            if n != from && !came.contains_key(n.as_str()) {
                came.insert(n, at);
                queue.push_back(n);
            }
        }
    }
    None
}

/// An OpenSLO Service and a steward/v1 Service of the same name are one catalog entry.
fn merge_services(docs: &[Document]) -> Vec<Service> {
    let mut out: Vec<Service> = Vec::new();
    for doc in docs {
        let (name, entry) = match doc {
            Document::Service(s) => (
                &s.meta.name.name,
                Service {
                    name: s.meta.name.name.clone(),
                    display_name: s.meta.display_name.clone(),
                    description: s.description.clone(),
                    owner: None,
                    tier: None,
                    lifecycle: None,
                    customer: None,
                    depends_on: Vec::new(),
                    escalation_policy: None,
                    links: Vec::new(),
                    failure_modes: Vec::new(),
                    auto_incident: None,
                    class: None,
                    controls: Vec::new(),
                    tags: Vec::new(),
                    system: None,
                },
            ),
            Document::CatalogService(s) => (
                &s.meta.name.name,
                Service {
                    name: s.meta.name.name.clone(),
                    display_name: s.meta.display_name.clone(),
                    description: s.description.clone(),
                    owner: s.owner.as_ref().map(|o| o.name.clone()),
                    tier: s.tier,
                    lifecycle: s.lifecycle.clone(),
                    customer: s.customer.as_ref().map(|c| c.name.clone()),
                    depends_on: s.depends_on.iter().map(|d| d.name.clone()).collect(),
                    escalation_policy: s.escalation_policy.as_ref().map(|p| p.name.clone()),
                    links: s
                        .links
                        .iter()
                        .map(|l| Link {
                            title: l.title.clone(),
                            url: l.url.clone(),
                        })
                        .collect(),
                    failure_modes: s
                        .failure_modes
                        .iter()
                        .map(|m| FailureMode {
                            name: m.name.clone(),
                            description: m.description.clone(),
                        })
                        .collect(),
                    auto_incident: s.auto_incident.clone(),
                    class: s.class.as_ref().map(|c| c.name.clone()),
                    controls: s.controls.clone(),
                    tags: s.tags.clone(),
                    system: s.system.clone(),
                },
            ),
            _ => continue,
        };
        match out.iter_mut().find(|s| &s.name == name) {
            None => out.push(entry),
            Some(existing) => {
                // The steward/v1 entry extends the OpenSLO one: keep what either says.
                existing.display_name = existing.display_name.take().or(entry.display_name);
                existing.description = existing.description.take().or(entry.description);
                existing.owner = existing.owner.take().or(entry.owner);
                existing.tier = existing.tier.or(entry.tier);
                existing.lifecycle = existing.lifecycle.take().or(entry.lifecycle);
                existing.customer = existing.customer.take().or(entry.customer);
                existing.depends_on.extend(entry.depends_on);
                existing.escalation_policy = existing
                    .escalation_policy
                    .take()
                    .or(entry.escalation_policy);
                existing.links.extend(entry.links);
                existing.failure_modes.extend(entry.failure_modes);
                existing.auto_incident = existing.auto_incident.take().or(entry.auto_incident);
                existing.class = existing.class.take().or(entry.class);
                existing.controls.extend(entry.controls);
                existing.tags.extend(entry.tags);
                existing.system = existing.system.take().or(entry.system);
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The most units of each kind a calendar window may span: a year, the longest window
/// Steward holds ([`steward_model::limits::MAX_WINDOW`]).
fn max_count(unit: CalendarUnit) -> i64 {
    match unit {
        CalendarUnit::Minute => 366 * 1440,
        CalendarUnit::Hour => 366 * 24,
        CalendarUnit::Day => 366,
        CalendarUnit::Week => 52,
        CalendarUnit::Month => 12,
        CalendarUnit::Quarter => 4,
        CalendarUnit::Year => 1,
    }
}

fn build_window(w: &TimeWindowDoc, loc: &Loc, diags: &mut Diagnostics) -> Option<SloWindow> {
    let max_days = steward_model::limits::MAX_WINDOW.secs() / 86_400;
    let too_long = |duration: &crate::docs::DurationDoc, diags: &mut Diagnostics| {
        diags.error(
            Loc {
                file: loc.file.clone(),
                mark: duration.mark,
            },
            format!(
                "a window of {}{} is longer than the {max_days}d Steward can hold; use a window of at most a year",
                duration.count, duration.unit
            ),
        );
    };
    match w {
        TimeWindowDoc::Rolling { duration } => {
            let secs = match duration.unit {
                'M' | 'Q' | 'Y' => {
                    let days = match duration.unit {
                        'M' => 30,
                        'Q' => 90,
                        _ => 365,
                    } * duration.count;
                    diags.warn(
                        Loc { file: loc.file.clone(), mark: duration.mark },
                        format!(
                            "a rolling window of {}{} is taken as {days}d; write `{days}d` to say so",
                            duration.count, duration.unit
                        ),
                    );
                    days * 86_400
                }
                _ => duration.fixed_secs()?,
            };
            if secs > steward_model::limits::MAX_WINDOW.secs() {
                too_long(duration, diags);
                return None;
            }
            Some(SloWindow::Rolling(Duration::from_secs(secs)))
        }
        TimeWindowDoc::Calendar { duration, start } => {
            let unit = match duration.unit {
                'm' => CalendarUnit::Minute,
                'h' => CalendarUnit::Hour,
                'd' => CalendarUnit::Day,
                'w' => CalendarUnit::Week,
                'M' => CalendarUnit::Month,
                'Q' => CalendarUnit::Quarter,
                _ => CalendarUnit::Year,
            };
            if duration.count > max_count(unit) {
                too_long(duration, diags);
                return None;
            }
            Some(SloWindow::Calendar(CalendarWindow {
                anchor: start.clone(),
                unit,
                count: duration.count,
            }))
        }
    }
}

/// `checkout-availability` for a single objective; `name:display-name` for each of several.
fn objective_names(slo: &SloDoc) -> Vec<String> {
    let base = &slo.meta.name.name;
    if slo.objectives.len() <= 1 {
        return vec![base.clone()];
    }
    let mut names: Vec<String> = Vec::new();
    for (i, o) in slo.objectives.iter().enumerate() {
        let slug = o
            .display_name
            .as_deref()
            .map(slugify)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("objective-{}", i + 1));
        let mut name = format!("{base}:{slug}");
        if names.contains(&name) {
            name = format!("{base}:{slug}-{}", i + 1);
        }
        names.push(name);
    }
    names
}

fn slugify(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn build_slo(slo: &SloDoc, sli: Option<&SliDoc>, diags: &mut Diagnostics) -> Vec<SloDefinition> {
    let loc = &slo.meta.name.loc;
    let at = |mark| Loc {
        file: loc.file.clone(),
        mark,
    };
    let window = slo
        .time_window
        .as_ref()
        .and_then(|w| build_window(w, loc, diags));
    let mut out = Vec::new();
    for (o, name) in slo.objectives.iter().zip(objective_names(slo)) {
        let method = match slo.method {
            Some(MethodDoc::Occurrences) => Some(BudgetingMethod::Occurrences),
            Some(m @ (MethodDoc::Timeslices | MethodDoc::RatioTimeslices)) => {
                let slice = match o.time_slice_window {
                    Some(s) if s > steward_model::limits::MAX_SLICE.secs() => {
                        diags.error(at(o.mark), format!("timeSliceWindow of {s}s is longer than Steward's 1h limit for a time slice"));
                        None
                    }
                    Some(s) if s % 5 != 0 => {
                        diags.error(at(o.mark), format!("timeSliceWindow of {s}s is not a multiple of 5 seconds, the resolution Steward stores samples at"));
                        None
                    }
                    Some(s) => Some(Duration::from_secs(s)),
                    None => {
                        diags.error(
                            at(o.mark),
                            format!(
                                "a {} objective needs `timeSliceWindow` (e.g. 1m)",
                                if m == MethodDoc::Timeslices {
                                    "Timeslices"
                                } else {
                                    "RatioTimeslices"
                                }
                            ),
                        );
                        None
                    }
                };
                match m {
                    MethodDoc::Timeslices => {
                        if o.time_slice_target.is_none() {
                            diags.error(at(o.mark), "a Timeslices objective needs `timeSliceTarget` (the share of good events that makes a slice good, e.g. 0.95)");
                        }
                        slice.zip(o.time_slice_target).map(|(slice, slice_target)| {
                            BudgetingMethod::Timeslices {
                                slice,
                                slice_target,
                            }
                        })
                    }
                    _ => slice.map(|slice| BudgetingMethod::RatioTimeslices { slice }),
                }
            }
            None => None,
        };
        let indicator = match sli.map(|s| &s.spec) {
            Some(IndicatorSpec::Threshold { .. }) => match (o.op, o.value) {
                (Some(op), Some(value)) => Some(Indicator::Threshold { op, value }),
                _ => {
                    diags.error(at(o.mark), "an objective on a thresholdMetric SLI needs `op` and `value` (e.g. op: lte, value: 300)");
                    None
                }
            },
            Some(IndicatorSpec::Ratio { .. }) => Some(Indicator::Ratio),
            None => None,
        };
        let (Some(window), Some(method), Some(indicator), Some(target), Some(service)) = (
            window.clone(),
            method,
            indicator,
            o.target,
            slo.service.as_ref(),
        ) else {
            continue;
        };
        let Some(objective) = Objective::new(target) else {
            continue;
        };
        out.push(SloDefinition {
            name,
            display_name: slo
                .meta
                .display_name
                .clone()
                .or_else(|| o.display_name.clone()),
            description: slo.description.clone(),
            service: service.name.clone(),
            objective,
            window,
            method,
            indicator,
        });
    }
    out
}

/// How far ahead `steward validate` looks for on-call gaps.
pub const COVERAGE_HORIZON: i64 = 14 * 86_400;

/// What a tier-1 service's on-call misses over the next 14 days from `now`: no escalation
/// policy, or a schedule of its policy that leaves time uncovered (overrides made through the
/// API are not counted).
pub fn coverage_warnings(catalog: &Catalog, now: i64) -> Vec<String> {
    let time = |t: i64| {
        jiff::Timestamp::from_second(t).map_or_else(|_| t.to_string(), |ts| ts.to_string())
    };
    let mut out = Vec::new();
    // At 3am nobody should improvise: every known failure mode has a runbook.
    for s in &catalog.services {
        for m in &s.failure_modes {
            let covered = catalog
                .runbooks
                .iter()
                .any(|r| r.service == s.name && r.failure_mode.as_deref() == Some(m.name.as_str()));
            if !covered {
                out.push(format!(
                    "service `{}` declares failure mode `{}` but no runbook answers it",
                    s.name, m.name
                ));
            }
        }
    }
    for s in catalog.services.iter().filter(|s| s.tier == Some(1)) {
        let Some(name) = &s.escalation_policy else {
            continue;
        };
        let Some(policy) = catalog.policy(name) else {
            continue;
        };
        let mut seen: Vec<&str> = Vec::new();
        for step in &policy.steps {
            for t in &step.targets {
                let steward_model::escalation::Target::Schedule(sched) = t else {
                    continue;
                };
                if seen.contains(&sched.as_str()) {
                    continue;
                }
                seen.push(sched);
                let Some(schedule) = catalog.schedule(sched) else {
                    continue;
                };
                let gaps = schedule.gaps(&[], now, now + COVERAGE_HORIZON);
                if let Some((from, to)) = gaps.first() {
                    let hours: i64 = gaps.iter().map(|(a, b)| b - a).sum::<i64>() / 3600;
                    out.push(format!(
                        "tier-1 service `{}`: schedule `{sched}` leaves {} gap(s), {hours} h in all, uncovered in the next 14 days; the first from {} to {}",
                        s.name,
                        gaps.len(),
                        time(*from),
                        time(*to)
                    ));
                }
            }
        }
    }
    out
}

/// Whether a service's pages can reach a person: found by `steward validate` and at start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reachability {
    /// Tier-1 services whose pages reach nobody: the configuration is refused.
    pub errors: Vec<String>,
    /// Other services whose pages reach nobody, and steps of any service that reach nobody.
    pub warnings: Vec<String>,
}

/// Who a service's escalation can reach, judged from the configuration alone: a user is
/// reachable with a webhook, Slack or Teams contact, or an email contact when SMTP is set up
/// (`smtp`); a schedule when every participant is; a webhook target always. A policy reaches
/// nobody when none of its steps does — for a tier-1 service that is an error.
pub fn reachability(catalog: &Catalog, smtp: bool) -> Reachability {
    let mut out = Reachability::default();
    for s in &catalog.services {
        let tier1 = s.tier == Some(1);
        let Some(name) = &s.escalation_policy else {
            match (tier1, catalog.routes.is_empty()) {
                (true, true) => out.errors.push(format!(
                    "tier-1 service `{}` has no escalationPolicy and no Route exists: its pages reach nobody",
                    s.name
                )),
                (true, false) => out.warnings.push(format!(
                    "tier-1 service `{}` has no escalationPolicy: only a Route that matches its pages reaches anyone",
                    s.name
                )),
                _ => {}
            }
            continue;
        };
        let Some(reach) = PolicyReach::of(catalog, name, smtp) else {
            continue;
        };
        if reach.steps_reaching == 0 {
            let findings = if tier1 {
                &mut out.errors
            } else {
                &mut out.warnings
            };
            findings.push(format!(
                "{}service `{}`: escalation policy `{name}` reaches no one: {}; give them a webhook, Slack, Teams or email contact",
                if tier1 { "tier-1 " } else { "" },
                s.name,
                reach.why(smtp)
            ));
        } else if !reach.unreached.is_empty() {
            out.warnings.push(format!(
                "service `{}`: {} of escalation policy `{name}` may reach no one: {}",
                s.name,
                reach.unreached.join(", "),
                reach.why(smtp)
            ));
        }
    }
    // A route takes pages of any service, tier 1 among them: one to a policy that reaches
    // no one is an error.
    for r in &catalog.routes {
        let Some(reach) = PolicyReach::of(catalog, &r.policy, smtp) else {
            continue;
        };
        if reach.steps_reaching == 0 {
            out.errors.push(format!(
                "route `{}` sends pages to escalation policy `{}`, which reaches no one: {}",
                r.name,
                r.policy,
                reach.why(smtp)
            ));
        }
    }
    out.warnings.dedup();
    out
}

/// Who an escalation policy reaches, judged from the configuration.
struct PolicyReach<'c> {
    catalog: &'c Catalog,
    steps_reaching: usize,
    /// Steps that reach no one ("step 2").
    unreached: Vec<String>,
    /// People it names (directly or on a schedule) that no contact reaches.
    lacking: Vec<String>,
}

impl<'c> PolicyReach<'c> {
    fn of(catalog: &'c Catalog, policy: &str, smtp: bool) -> Option<PolicyReach<'c>> {
        use steward_model::catalog::Contact;
        use steward_model::escalation::Target;
        let policy = catalog.policy(policy)?;
        let user_reachable = |u: &str| {
            catalog.user(u).is_some_and(|u| {
                u.contacts
                    .iter()
                    .any(|c| smtp || !matches!(c, Contact::Email(_)))
            })
        };
        let mut reach = PolicyReach {
            catalog,
            steps_reaching: 0,
            unreached: Vec::new(),
            lacking: Vec::new(),
        };
        for (i, step) in policy.steps.iter().enumerate() {
            let mut missing: Vec<String> = Vec::new();
            let mut reaches = false;
            for t in &step.targets {
                match t {
                    Target::Webhook(_) => reaches = true,
                    Target::User(u) if user_reachable(u) => reaches = true,
                    Target::User(u) => missing.push(u.clone()),
                    Target::Schedule(name) => {
                        let people: Vec<&String> = catalog
                            .schedule(name)
                            .map(|sch| sch.layers.iter().flat_map(|l| &l.participants).collect())
                            .unwrap_or_default();
                        let without: Vec<&String> = people
                            .iter()
                            .copied()
                            .filter(|p| !user_reachable(p))
                            .collect();
                        if !people.is_empty() && without.is_empty() {
                            reaches = true;
                        }
                        missing.extend(without.into_iter().cloned());
                    }
                }
            }
            if reaches {
                reach.steps_reaching += 1;
            } else {
                reach.unreached.push(format!("step {}", i + 1));
            }
            for m in missing {
                if !reach.lacking.contains(&m) {
                    reach.lacking.push(m);
                }
            }
        }
        Some(reach)
    }

    fn why(&self, smtp: bool) -> String {
        use steward_model::catalog::Contact;
        let email_only: Vec<&str> = self
            .lacking
            .iter()
            .filter(|u| {
                self.catalog.user(u).is_some_and(|u| {
                    !u.contacts.is_empty()
                        && u.contacts.iter().all(|c| matches!(c, Contact::Email(_)))
                })
            })
            .map(String::as_str)
            .collect();
        let mut text = format!(
            "{} have no contact Steward can deliver to",
            self.lacking.join(", ")
        );
        if !smtp && !email_only.is_empty() {
            text.push_str(&format!(
                " ({} only email, and no SMTP relay is set up: --smtp-url)",
                email_only.join(", ")
            ));
        }
        text
    }
}

//! The alert pipeline: events from every source (Steward's own burn-rate conditions,
//! Alertmanager, PagerDuty-style events, webhooks, heartbeats) become alerts, deduplicated by
//! an open-only key; an alert that pages is checked against silences, maintenance windows and
//! inhibition (rules, and the catalog's dependency graph), routed to an escalation policy, and
//! escalated step by step through the outbox until someone acknowledges it.
//!
//! Every change is one store transaction: a condition's start, the alert it opens and the
//! escalation it starts commit together; a step's notifications and the move to the next step
//! commit together. So a `kill -9` at any point loses nothing and repeats nothing but a
//! delivery, which carries the same idempotency key every time.

mod channels;
mod grouping;
mod incidents;
mod intake;
mod notify;
pub mod postmortem;
mod routing;
mod runbooks;
mod suppress;

pub use channels::{check_smtp, sign, Attempt, Notice, Notifier};
pub use incidents::{
    redact, redact_urls, Durations, Entry, IncidentView, CHANGES_BEFORE, SEVERITIES,
};
pub use intake::slo_of;
pub use notify::{DeliveryOptions, Outbox, SmtpOptions};
pub use runbooks::{Subject, CAUSATION_LABEL, KILL_SWITCH};
pub use suppress::{matchers_json, silence_matchers};

use crate::metrics::Metrics;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use steward_config::Catalog;
use steward_model::catalog::{Integration, IntegrationKind};
use steward_model::matcher::Labels;
use steward_model::oncall::Shift;
use steward_store::{Alert, AlertTransition, Store, StoreError, Tx};

/// What an event asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Trigger,
    Acknowledge,
    Resolve,
}

/// One event about an alert, from any source.
#[derive(Clone, Debug)]
pub struct Event {
    pub action: Action,
    /// slo | alertmanager | pagerduty | webhook | heartbeat
    pub source: &'static str,
    /// The integration's name; `steward` for Steward's own conditions.
    pub integration: String,
    pub service: Option<String>,
    pub dedup_key: String,
    pub severity: String,
    pub summary: String,
    pub labels: Labels,
    pub details: Value,
    pub at: i64,
    /// Resolved by Steward at this time unless the source sends it again first (the
    /// Alertmanager API's `endsAt`).
    pub expires_at: Option<i64>,
    /// `integration:NAME`, `user:NAME` or `steward`.
    pub actor: String,
}

/// What an event did.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Opened(Alert),
    Updated(Alert),
    Acknowledged(Alert),
    Resolved(Alert),
    /// An acknowledge or resolve for a key with no open alert: nothing to do.
    NoOpenAlert,
}

impl Outcome {
    pub fn alert(&self) -> Option<&Alert> {
        match self {
            Outcome::Opened(a)
            | Outcome::Updated(a)
            | Outcome::Acknowledged(a)
            | Outcome::Resolved(a) => Some(a),
            Outcome::NoOpenAlert => None,
        }
    }
}

/// A burn-rate condition that started or stopped, with what its notification needs.
#[derive(Clone, Debug)]
pub struct ConditionChange {
    /// Which of the objective's conditions.
    pub rule: steward_model::RuleId,
    pub transition: AlertTransition,
    pub service: String,
    /// Share of the error budget left, 0..=1 (negative when overspent).
    pub budget_remaining: f64,
    pub target: f64,
    /// Another condition of the same SLO and severity fires after this change: the SLO's
    /// alert of that severity stays open.
    pub others_firing: bool,
}

/// Timing of the pipeline, from the command line.
#[derive(Clone, Debug)]
pub struct AlertOptions {
    /// The address people reach Steward at, for the links in notifications.
    pub public_url: String,
    /// How long after a group's first notification (which leaves at once) the ones that
    /// follow are gathered into one (seconds).
    pub group_wait: i64,
    /// How long after a group's notification the next one to the same destination waits.
    pub group_interval: i64,
    /// The labels whose values make a group (with the policy and the urgency).
    pub group_by: Vec<String>,
    /// How often the last step of an exhausted, unacknowledged escalation is notified again
    /// (0: never).
    pub repeat_interval: i64,
    /// How long a page of a service may be held back by an open page of a service it
    /// depends on, from when it opened (seconds); then it pages, naming the page it waited on.
    pub dependency_hold: i64,
    pub delivery: DeliveryOptions,
}

impl Default for AlertOptions {
    fn default() -> AlertOptions {
        AlertOptions {
            public_url: "http://127.0.0.1:8580".into(),
            group_wait: 30,
            group_interval: 300,
            group_by: vec!["alertname".into(), "slo".into()],
            repeat_interval: 4 * 3600,
            dependency_hold: 30 * 60,
            delivery: DeliveryOptions::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("no integration has this key")]
    UnknownKey,
    #[error("integration `{0}` sent more than its {1} events a minute; retry in a minute")]
    RateLimited(String, u32),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    /// The request contradicts the state it would change.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

enum Work {
    Conditions(Vec<ConditionChange>),
    Wake,
}

/// The alert pipeline. Shared by the HTTP handlers (events, acks) and its worker thread
/// (conditions, escalation steps, heartbeats, suppressions that end).
pub struct Alerting {
    catalog: Arc<Catalog>,
    store: Store,
    pub options: AlertOptions,
    /// Every service's dependencies, transitively.
    dependencies: HashMap<String, Vec<String>>,
    /// The runbook runs executing in this process (shared with a reloaded successor).
    runner: Arc<runbooks::Runner>,
    /// Events each integration sent in the current minute.
    rates: Mutex<HashMap<usize, (i64, u32)>>,
    work: mpsc::Sender<Work>,
    /// What the worker takes work from (one worker at a time; it may be started again).
    inbox: Arc<Mutex<mpsc::Receiver<Work>>>,
    /// Condition changes the store has not taken yet, retried each second.
    unrecorded: Mutex<Vec<ConditionChange>>,
    pub outbox: Arc<Outbox>,
    metrics: Arc<Metrics>,
    /// When each heartbeat was last seen (unix seconds), by integration index.
    beats: Mutex<HashMap<usize, i64>>,
    started_at: AtomicI64,
    loaded: AtomicBool,
    /// The address in notification links; set once the listener is bound.
    public_url: Mutex<String>,
    /// Every service's readiness as the last pass found it (for `/metrics` and tickets),
    /// and when that pass ran.
    readiness: Mutex<(i64, Arc<Vec<steward_model::readiness::Readiness>>)>,
    /// The last computation of every service's readiness (see [`Alerting::readiness_now`]).
    fresh_readiness: Mutex<Fresh>,
}

/// Every service's readiness, shared.
pub type AllReadiness = Arc<Vec<steward_model::readiness::Readiness>>;

/// A computation of every service's readiness: when, and the generation of the facts it saw
/// (each [`Alerting::forget_readiness`] moves it on).
#[derive(Default)]
struct Fresh {
    at: i64,
    generation: u64,
    list: AllReadiness,
}

/// How long a computation of every service's readiness answers requests.
pub const READINESS_FRESH: i64 = 5;

/// How often every service's readiness is computed, kept as the day's snapshot and
/// compared with the last pass for tickets.
pub const READINESS_EVERY: i64 = 60;

/// How often open suppressed alerts are checked for a silence, window, inhibition or hold
/// that ended: every pass of the worker, so a page that may notify again does within a
/// second.
const RECHECK_EVERY: i64 = 1;

impl Alerting {
    pub fn new(
        catalog: Arc<Catalog>,
        store: Store,
        options: AlertOptions,
        metrics: Arc<Metrics>,
    ) -> Alerting {
        let (work, inbox) = mpsc::channel();
        let options_url = options.public_url.clone();

        let outbox = Arc::new(Outbox::new(
            store.clone(),
            options.delivery.clone(),
            metrics.clone(),
        ));
        Alerting {
            dependencies: suppress::dependencies(&catalog),
            runner: Arc::default(),
            catalog,
            store,
            options,
            rates: Mutex::default(),
            work,
            inbox: Arc::new(Mutex::new(inbox)),
            unrecorded: Mutex::default(),
            outbox,
            metrics,
            beats: Mutex::default(),
            started_at: AtomicI64::new(0),
            loaded: AtomicBool::new(false),
            public_url: Mutex::new(options_url),
            readiness: Mutex::new((i64::MIN, Arc::default())),
            fresh_readiness: Mutex::new(Fresh {
                at: i64::MIN,
                ..Fresh::default()
            }),
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The pipeline for a reloaded configuration: the same store, options, outbox, runbook
    /// runs in flight, heartbeats seen and condition changes not yet recorded; routing,
    /// suppression and escalation follow the new catalog from the next step on.
    pub fn successor(&self, catalog: Arc<Catalog>) -> Alerting {
        let (work, inbox) = mpsc::channel();
        let index = |name: &str| catalog.integrations.iter().position(|i| i.name == name);
        let beats: HashMap<usize, i64> = crate::lock(&self.beats)
            .iter()
            .filter_map(|(&i, &at)| {
                let name = &self.catalog.integrations.get(i)?.name;
                Some((index(name)?, at))
            })
            .collect();
        Alerting {
            dependencies: suppress::dependencies(&catalog),
            runner: self.runner.clone(),
            catalog,
            store: self.store.clone(),
            options: self.options.clone(),
            rates: Mutex::default(),
            work,
            inbox: Arc::new(Mutex::new(inbox)),
            unrecorded: Mutex::new(crate::lock(&self.unrecorded).clone()),
            outbox: self.outbox.clone(),
            metrics: self.metrics.clone(),
            beats: Mutex::new(beats),
            started_at: AtomicI64::new(self.started_at.load(Ordering::Relaxed)),
            loaded: AtomicBool::new(self.loaded.load(Ordering::Acquire)),
            public_url: Mutex::new(crate::lock(&self.public_url).clone()),
            readiness: Mutex::new((i64::MIN, crate::lock(&self.readiness).1.clone())),
            fresh_readiness: Mutex::new(Fresh {
                at: i64::MIN,
                ..Fresh::default()
            }),
        }
    }

    /// Every service's readiness as the last pass found it (empty before the first).
    pub fn last_readiness(&self) -> Arc<Vec<steward_model::readiness::Readiness>> {
        crate::lock(&self.readiness).1.clone()
    }

    /// Every service's readiness as of `now`: computed afresh unless a computation of the
    /// last [`READINESS_FRESH`] seconds is at hand (requests for every service's answer share
    /// it; recording evidence or a rehearsal forgets it).
    pub fn readiness_now(&self, now: i64) -> Result<(i64, AllReadiness), AlertError> {
        let generation = {
            let fresh = crate::lock(&self.fresh_readiness);
            // A clock that stepped back does not make an old answer fresh.
            if (0..=READINESS_FRESH).contains(&now.saturating_sub(fresh.at)) {
                return Ok((fresh.at, fresh.list.clone()));
            }
            fresh.generation
        };
        let facts = crate::readiness::gather(&self.store, now)?;
        let list = Arc::new(crate::readiness::assess_all(&self.catalog, &facts, now));
        let mut fresh = crate::lock(&self.fresh_readiness);
        // Evidence recorded while this was computed: the answer is not kept for others.
        if fresh.generation == generation {
            fresh.at = now;
            fresh.list = list.clone();
        }
        Ok((now, list))
    }

    /// Something readiness is computed from changed: the next answer is computed afresh.
    pub fn forget_readiness(&self) {
        let mut fresh = crate::lock(&self.fresh_readiness);
        fresh.at = i64::MIN;
        fresh.generation += 1;
    }

    /// Computes every service's readiness, keeps it as today's snapshot, and keeps one
    /// ticket open for each check a ticketing Policy requires that fails, resolving it when
    /// the check passes (or no ticketing Policy requires it any more). Tickets are reconciled
    /// with what the store holds each pass, so none is lost to a restart, a reload or a
    /// failed pass.
    pub fn readiness_pass(self: &Arc<Self>, now: i64) -> Result<(), AlertError> {
        self.forget_readiness();
        let (_, list) = self.readiness_now(now)?;
        let (last_at, before) = crate::lock(&self.readiness).clone();
        // The day's snapshot: what changed since the last pass, or everything on a new day.
        let new_day = last_at == i64::MIN
            || crate::readiness::day_of(last_at) != crate::readiness::day_of(now);
        crate::readiness::keep_snapshot(
            &self.store,
            &list,
            (!new_day).then_some(&before[..]),
            now,
        )?;
        *crate::lock(&self.readiness) = (now, list.clone());
        let mut wanted: HashMap<String, (String, &'static str)> = HashMap::new();
        for r in list.iter() {
            let Some(service) = self.catalog.service(&r.service) else {
                continue;
            };
            let ticketed: Vec<&str> = self
                .catalog
                .readiness_policies
                .iter()
                .filter(|p| p.tickets && p.selector.selects(service))
                .flat_map(|p| {
                    p.checks.iter().map(String::as_str).chain(
                        p.level
                            .map(steward_model::readiness::needs)
                            .unwrap_or_default(),
                    )
                })
                .collect();
            for c in r
                .checks
                .iter()
                .filter(|c| !c.passed && ticketed.contains(&c.name))
            {
                wanted.insert(
                    format!("readiness/{}/{}", r.service, c.name),
                    (r.service.clone(), c.name),
                );
            }
        }
        let open = self.store.transact(|tx| {
            tx.alerts(&steward_store::AlertFilter {
                unresolved: true,
                source: Some("readiness".into()),
                limit: Some(1_000_000),
                ..Default::default()
            })
        })?;
        let event = |action: Action, key: &str, service: &str, check: &str| Event {
            action,
            source: "readiness",
            integration: "steward".into(),
            service: Some(service.to_string()),
            dedup_key: key.to_string(),
            severity: "ticket".into(),
            // What the check found is in the readiness answer, for those who may read it;
            // the ticket only names the check.
            summary: format!("{service}: readiness check `{check}` fails"),
            labels: Labels::from([
                ("alertname".to_string(), "ReadinessCheckFailing".to_string()),
                ("service".to_string(), service.to_string()),
                ("check".to_string(), check.to_string()),
            ]),
            details: serde_json::json!({ "check": check }),
            at: now,
            expires_at: None,
            actor: "steward".into(),
        };
        let mut events: Vec<Event> = open
            .iter()
            .filter(|a| a.integration == "steward" && !wanted.contains_key(&a.dedup_key))
            .map(|a| {
                let check = a.labels.get("check").cloned().unwrap_or_default();
                event(
                    Action::Resolve,
                    &a.dedup_key,
                    a.service.as_deref().unwrap_or_default(),
                    &check,
                )
            })
            .collect();
        for (key, (service, check)) in &wanted {
            if !open.iter().any(|a| &a.dedup_key == key) {
                events.push(event(Action::Trigger, key, service, check));
            }
        }
        if !events.is_empty() {
            self.handle(events)?;
        }
        Ok(())
    }

    /// What suppression is judged against, for one transaction.
    fn context(&self) -> suppress::Context<'_> {
        suppress::Context::new(
            &self.catalog,
            &self.dependencies,
            self.options.dependency_hold,
        )
    }

    /// Where people reach Steward, for links in notifications.
    pub fn set_public_url(&self, url: String) {
        *crate::lock(&self.public_url) = url;
    }

    /// The address people reach Steward at (links in notifications, the login's callback).
    pub fn public_url(&self) -> String {
        crate::lock(&self.public_url).clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The integration a key belongs to, if it is of one of `kinds`, within its rate limit.
    pub fn authenticate(
        &self,
        key: &str,
        kinds: &[IntegrationKind],
        now: i64,
    ) -> Result<&Integration, AlertError> {
        let (i, integ) = self.identify(key, kinds)?;
        let minute = now.div_euclid(60);
        let mut rates = crate::lock(&self.rates);
        let entry = rates.entry(i).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= integ.rate_limit {
            return Err(AlertError::RateLimited(
                integ.name.clone(),
                integ.rate_limit,
            ));
        }
        entry.1 += 1;
        Ok(integ)
    }

    /// The integration a key belongs to, if it is of one of `kinds`, without counting a
    /// request against its rate limit (for reads). Every key is compared, each in constant
    /// time, so the time taken says nothing about how much of a key was right.
    pub fn identify(
        &self,
        key: &str,
        kinds: &[IntegrationKind],
    ) -> Result<(usize, &Integration), AlertError> {
        let mut found = None;
        for (i, integ) in self.catalog.integrations.iter().enumerate() {
            if constant_time_eq(integ.key.as_bytes(), key.as_bytes()) {
                found = Some(i);
            }
        }
        found
            .map(|i| (i, &self.catalog.integrations[i]))
            .filter(|(_, integ)| kinds.contains(&integ.kind))
            .ok_or(AlertError::UnknownKey)
    }

    /// Hands burn-rate condition changes to the pipeline; never waits on the store.
    pub fn conditions(&self, changes: Vec<ConditionChange>) {
        if !changes.is_empty() {
            let _ = self.work.send(Work::Conditions(changes));
        }
    }

    /// Makes the worker look for due work now.
    pub fn wake(&self) {
        let _ = self.work.send(Work::Wake);
    }

    /// Spawns the worker and the outbox's delivery loop (see [`Alerting::spawn_worker`]).
    pub fn spawn(self: &Arc<Self>, stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
        vec![self.spawn_worker(stop.clone()), self.outbox.spawn(stop)]
    }

    /// Spawns the worker: condition changes, escalation steps, heartbeats and suppressions
    /// that end, woken at once by new work and at least every second. The outbox delivers on
    /// its own thread ([`Outbox::spawn`]), which a reloaded successor shares.
    pub fn spawn_worker(self: &Arc<Self>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
        let inbox = self.inbox.clone();
        let me = self.clone();
        let mut last_recheck = i64::MIN;
        crate::supervise("alerting", self.metrics.clone(), stop, move || {
            let mut changes = Vec::new();
            // Wait up to a second for work; take everything that is queued.
            {
                let inbox = crate::lock(&inbox);
                let first = inbox.recv_timeout(std::time::Duration::from_secs(1));
                for w in first.into_iter().chain(inbox.try_iter()) {
                    if let Work::Conditions(c) = w {
                        changes.extend(c);
                    }
                }
            }
            // The time after the wait: work that arrived is due now, not a second ago.
            let now = jiff::Timestamp::now().as_second();
            me.tick(changes, now, &mut last_recheck);
            std::time::Duration::ZERO
        })
    }

    /// One round of the worker (public for tests, which drive time themselves).
    pub fn tick(self: &Arc<Self>, changes: Vec<ConditionChange>, now: i64, last_recheck: &mut i64) {
        let mut pending = crate::lock(&self.unrecorded);
        pending.extend(changes);
        if !pending.is_empty() {
            match self.record_conditions(pending.clone()) {
                Ok(()) => pending.clear(),
                Err(e) => {
                    tracing::error!(error = %e, pending = pending.len(), "cannot record burn-rate conditions; retrying in a second")
                }
            }
        }
        drop(pending);
        if let Err(e) = self.expire(now) {
            tracing::error!(error = %e, "cannot resolve expired alerts");
        }
        if let Err(e) = self.heartbeats(now) {
            tracing::error!(error = %e, "cannot check heartbeats");
        }
        if now.saturating_sub(*last_recheck) >= RECHECK_EVERY {
            if let Err(e) = self.reconcile_slo_alerts(now) {
                tracing::error!(error = %e, "cannot compare SLO alerts with their conditions");
            }
            match self.recheck_suppressed(now) {
                Ok(()) => *last_recheck = now,
                Err(e) => tracing::error!(error = %e, "cannot check suppressed alerts"),
            }
        }
        if let Err(e) = self.escalate(now) {
            tracing::error!(error = %e, "cannot run escalation steps; retrying in a second");
        }
        if let Err(e) = self.run_runbooks(now) {
            tracing::error!(error = %e, "cannot look at runbook runs; retrying in a second");
        }
        let last = crate::lock(&self.readiness).0;
        if now.saturating_sub(last) >= READINESS_EVERY {
            if let Err(e) = self.readiness_pass(now) {
                // Tried again at the next pass: the last figures stay.
                crate::lock(&self.readiness).0 = now;
                tracing::error!(error = %e, "cannot compute readiness; trying again in a minute");
            }
        }
    }
}

/// Whether two byte strings are equal, in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A schedule's overrides over [from, to), as shifts.
pub fn overrides_of(
    tx: &mut Tx<'_>,
    schedule: &str,
    from: i64,
    to: i64,
) -> Result<Vec<Shift>, StoreError> {
    Ok(shifts_of(&tx.overrides(from, to)?, schedule))
}

/// The overrides of one schedule, as shifts.
pub fn shifts_of(overrides: &[steward_store::Override], schedule: &str) -> Vec<Shift> {
    overrides
        .iter()
        .filter(|o| o.schedule == schedule)
        .map(|o| Shift {
            user: o.user.clone(),
            start: o.starts_at,
            end: o.ends_at,
        })
        .collect()
}

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

mod grouping;
mod incidents;
mod notify;
pub mod postmortem;
mod runbooks;
mod suppress;

pub use incidents::{redact, Durations, Entry, IncidentView, CHANGES_BEFORE, SEVERITIES};
pub use notify::{check_smtp, sign, DeliveryOptions, Outbox, SmtpOptions};
pub use runbooks::{Mode, Subject, CAUSATION_LABEL, KILL_SWITCH};
pub use suppress::{matchers_json, silence_matchers};

use crate::metrics::Metrics;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use steward_config::Catalog;
use steward_model::catalog::{Integration, IntegrationKind};
use steward_model::escalation::Target;
use steward_model::matcher::{all_match, Labels};
use steward_model::oncall::Shift;
use steward_model::Severity;
use steward_store::{
    Alert, AlertFilter, AlertStatus, AlertTransition, Escalation, NewAlert, NewMessage, Store,
    StoreError, Triggered, Tx,
};

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
}

/// How often open suppressed alerts are checked for a silence, window, inhibition or hold
/// that ended: every pass of the worker, so a page that may notify again does within a
/// second.
const RECHECK_EVERY: i64 = 1;

/// How long an ended silence is kept (seconds).
const SILENCE_RETENTION: i64 = 5 * 86_400;

/// Escalation steps taken in one transaction at most.
const STEPS_PER_TRANSACTION: u32 = 64;

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
        }
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

    /// Applies events in one transaction, in order, and wakes the escalation worker.
    pub fn handle(self: &Arc<Self>, events: Vec<Event>) -> Result<Vec<Outcome>, AlertError> {
        self.handle_where(events, |_, _| Ok(true))
    }

    /// Like `handle`, for the events `keep` still wants when their transaction runs.
    fn handle_where(
        self: &Arc<Self>,
        events: Vec<Event>,
        keep: impl Fn(&mut Tx<'_>, &Event) -> Result<bool, StoreError> + Send + 'static,
    ) -> Result<Vec<Outcome>, AlertError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let me = self.clone();
        let outcomes = self.store.transact(move |tx| {
            let mut ctx = me.context();
            let mut out = Vec::new();
            for e in &events {
                if keep(tx, e)? {
                    out.push(me.apply(tx, &mut ctx, e)?);
                }
            }
            Ok(out)
        })?;
        self.metrics.alert_events.add(outcomes.len() as u64);
        self.wake();
        self.outbox.wake();
        Ok(outcomes)
    }

    fn apply(
        &self,
        tx: &mut Tx<'_>,
        ctx: &mut suppress::Context<'_>,
        e: &Event,
    ) -> Result<Outcome, StoreError> {
        match e.action {
            Action::Trigger => {
                let customer = e
                    .service
                    .as_deref()
                    .and_then(|s| self.catalog.service(s))
                    .and_then(|s| s.customer.clone());
                let mut labels = e.labels.clone();
                if let Some(s) = &e.service {
                    labels.entry("service".into()).or_insert_with(|| s.clone());
                }
                labels
                    .entry("severity".into())
                    .or_insert_with(|| e.severity.clone());
                let new = NewAlert {
                    source: e.source.to_string(),
                    integration: e.integration.clone(),
                    dedup_key: e.dedup_key.clone(),
                    service: e.service.clone(),
                    customer,
                    severity: e.severity.clone(),
                    urgency: Severity::of(&e.severity),
                    summary: e.summary.clone(),
                    labels: serde_json::to_string(&labels).unwrap_or_default(),
                    details: capped(&e.details),
                    at: e.at,
                    expires_at: e.expires_at,
                    actor: e.actor.clone(),
                };
                match tx.trigger(&new)? {
                    Triggered::Repeated(a, was) => {
                        self.regraded(tx, ctx, &a, was, &labels, e.at)?;
                        Ok(Outcome::Updated(tx.alert(a.id)?.unwrap_or(a)))
                    }
                    Triggered::Opened(a) => {
                        self.route(tx, ctx, &a, &labels, e.at)?;
                        // As it is after routing (suppressed or not), for later events.
                        let a = tx.alert(a.id)?.unwrap_or(a);
                        ctx.opened(&a, labels);
                        Ok(Outcome::Opened(a))
                    }
                }
            }
            Action::Acknowledge | Action::Resolve => {
                let Some(open) = tx.open_alert(&e.integration, &e.dedup_key)? else {
                    return Ok(Outcome::NoOpenAlert);
                };
                if e.action == Action::Acknowledge {
                    let a = tx.acknowledge(open.id, &e.actor, e.at)?.unwrap_or(open);
                    Ok(Outcome::Acknowledged(a))
                } else {
                    let a = tx.resolve(open.id, &e.actor, e.at)?.unwrap_or(open);
                    ctx.resolved(a.id);
                    Ok(Outcome::Resolved(a))
                }
            }
        }
    }

    /// A repeat that changed the alert's urgency: a ticket raised to a page is routed now,
    /// as a new page would be; a page lowered to a ticket stops escalating.
    fn regraded(
        &self,
        tx: &mut Tx<'_>,
        ctx: &mut suppress::Context<'_>,
        a: &Alert,
        was: Severity,
        labels: &Labels,
        now: i64,
    ) -> Result<(), StoreError> {
        if was == a.urgency {
            return Ok(());
        }
        if a.urgency == Severity::Page {
            tx.log(
                a.id,
                now,
                "raised",
                "steward",
                &format!("raised to a page ({})", a.severity),
            )?;
            if a.status != AlertStatus::Triggered {
                return Ok(());
            }
            self.route(tx, ctx, a, labels, now)
        } else {
            // A ticket is never held back nor escalated: whatever held the page back is
            // forgotten with it.
            tx.stop_escalation(a.id)?;
            tx.set_suppressed(a.id, None)?;
            ctx.set_suppressed(a.id, None);
            tx.log(
                a.id,
                now,
                "lowered",
                "steward",
                &format!(
                    "lowered to a ticket ({}); it no longer escalates",
                    a.severity
                ),
            )
        }
    }

    /// For a new alert: who it goes to, unless something suppresses it.
    fn route(
        &self,
        tx: &mut Tx<'_>,
        ctx: &mut suppress::Context<'_>,
        a: &Alert,
        labels: &Labels,
        now: i64,
    ) -> Result<(), StoreError> {
        if a.urgency != Severity::Page {
            return Ok(());
        }
        // A page about a runbook's run goes where the runbook's escalation line says.
        let policy = match labels.get("escalation_policy") {
            Some(p) if a.source == "runbook" && self.catalog.policy(p).is_some() => Some(p.clone()),
            _ => self.policy_for(a.service.as_deref(), labels),
        };
        tx.set_policy(a.id, policy.as_deref())?;
        if let Some(why) = ctx.suppressed(tx, a, labels, now)? {
            tx.set_suppressed(a.id, Some(&why))?;
            ctx.set_suppressed(a.id, Some(&why));
            tx.log(a.id, now, "suppressed", "steward", &why.to_string())?;
            return Ok(());
        }
        self.auto_run(tx, a, labels, now)?;
        self.escalate_page(tx, ctx, a, labels, policy, "routed", now)
    }

    /// Starts paging for an alert that notifies (new, raised, or no longer suppressed): it
    /// joins its service's incident, if the service opens them; the person who has an
    /// acknowledged incident hears of it first, and the escalation policy follows unless
    /// they acknowledge within its first step's delay; otherwise step 1 is notified now.
    #[allow(clippy::too_many_arguments)]
    fn escalate_page(
        &self,
        tx: &mut Tx<'_>,
        ctx: &mut suppress::Context<'_>,
        a: &Alert,
        labels: &Labels,
        policy: Option<String>,
        why: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let holder = match a.incident {
            None => self.auto_incident(tx, a, now)?,
            Some(_) => None,
        };
        let mut first_at = now;
        if let Some((incident, person)) = &holder {
            let reached = self.notify(
                tx,
                a,
                labels,
                Recipients {
                    people: vec![person.clone()],
                    webhooks: Vec::new(),
                    policy: policy.as_deref().unwrap_or("-"),
                    step: 0,
                    round: 0,
                    key: format!("{now}-incident{incident}"),
                },
                now,
            )?;
            let first_delay = policy
                .as_deref()
                .and_then(|p| self.catalog.policy(p))
                .and_then(|p| p.steps.first())
                .map_or(0, |s| s.delay);
            if reached.queued > 0 {
                first_at = now + first_delay;
            }
            tx.log(
                a.id,
                now,
                if reached.destinations == 0 {
                    "unreached"
                } else {
                    "notified"
                },
                "steward",
                &format!(
                    "joined incident {incident}, which {person} has: {}{}",
                    reached.describe(),
                    if reached.queued > 0 && policy.is_some() {
                        format!(
                            "; the escalation policy follows unless acknowledged within {}",
                            steward_model::Duration::from_secs(first_delay)
                        )
                    } else {
                        String::new()
                    }
                ),
            )?;
        }
        match policy {
            Some(p) => {
                tx.start_escalation(a.id, &p, first_at)?;
                tx.log(a.id, now, why, "steward", &format!("escalation policy {p}"))?;
                if first_at > now {
                    return Ok(());
                }
                // The first step's notifications are queued in this same transaction: the
                // alert and who it pages commit together, and nothing waits for the worker.
                let first = Escalation {
                    alert: a.id,
                    policy: p,
                    step: 0,
                    round: 0,
                    next_at: now,
                    started_at: now,
                };
                self.step(tx, ctx, first, now).map(|_| ())
            }
            None if holder.is_some() => Ok(()),
            None => tx.log(
                a.id,
                now,
                "unrouted",
                "steward",
                &format!(
                    "nobody is paged: service {} has no escalation policy and no route matches",
                    a.service.as_deref().unwrap_or("(none)")
                ),
            ),
        }
    }

    /// The first route whose matchers match, else the service's own policy.
    fn policy_for(&self, service: Option<&str>, labels: &Labels) -> Option<String> {
        self.catalog
            .routes
            .iter()
            .find(|r| all_match(&r.matchers, labels))
            .map(|r| r.policy.clone())
            .or_else(|| {
                service
                    .and_then(|s| self.catalog.service(s))
                    .and_then(|s| s.escalation_policy.clone())
            })
    }

    /// Acknowledges or resolves an alert by id, for a person.
    pub fn set_status(
        self: &Arc<Self>,
        id: i64,
        status: AlertStatus,
        actor: String,
        now: i64,
    ) -> Result<Alert, AlertError> {
        if status == AlertStatus::Resolved {
            self.refuse_resolving_a_firing_slo_alert(id)?;
        }
        let alert = self.store.transact(move |tx| match status {
            AlertStatus::Acknowledged => tx.acknowledge(id, &actor, now),
            AlertStatus::Resolved => tx.resolve(id, &actor, now),
            AlertStatus::Triggered => tx.alert(id),
        })?;
        self.wake();
        alert.ok_or_else(|| AlertError::NotFound(format!("there is no alert {id}")))
    }

    /// A person may not resolve an SLO's alert while its condition fires: it would open
    /// again at once. Acknowledging it, or silencing it, is what they mean.
    fn refuse_resolving_a_firing_slo_alert(&self, id: i64) -> Result<(), AlertError> {
        let Some(a) = self.store.transact(move |tx| tx.alert(id))? else {
            return Ok(());
        };
        let Some(slo) = slo_of(&a).filter(|_| a.status != AlertStatus::Resolved) else {
            return Ok(());
        };
        let firing: Vec<String> = self
            .store
            .alert_states()?
            .into_iter()
            .filter(|s| s.firing && s.slo == slo && s.severity == a.severity)
            .map(|s| format!("{}/{}", s.long_window, s.short_window))
            .collect();
        if firing.is_empty() {
            return Ok(());
        }
        Err(AlertError::Conflict(format!(
            "alert {id} cannot be resolved by hand: {slo} still burns its budget too fast ({} windows fire), so it would open again at once; acknowledge it to stop the escalation, or add a silence; it resolves by itself about 5 minutes after the burn stops",
            firing.join(", ")
        )))
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

    /// Records condition changes and opens or resolves their alerts, in one transaction.
    fn record_conditions(
        self: &Arc<Self>,
        changes: Vec<ConditionChange>,
    ) -> Result<(), StoreError> {
        let me = self.clone();
        // One alert per SLO and severity: it opens with the first condition that fires and
        // resolves when the last one stops.
        let events: Vec<(AlertTransition, Option<Event>)> = changes
            .into_iter()
            .map(|c| {
                let event = (c.transition.firing || !c.others_firing).then(|| condition_event(&c));
                (c.transition.clone(), event)
            })
            .collect();
        self.store.transact(move |tx| {
            let mut ctx = me.context();
            for (t, e) in &events {
                tx.record_transition(t)?;
                if let Some(e) = e {
                    me.apply(tx, &mut ctx, e)?;
                }
            }
            Ok(())
        })?;
        self.outbox.wake();
        Ok(())
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
    }

    /// Runs every escalation step that is due, each in its own transaction.
    /// Steps are taken up to [`STEPS_PER_TRANSACTION`] at a time: each step's notifications
    /// and its move to the next step still commit together.
    pub fn escalate(self: &Arc<Self>, now: i64) -> Result<(), StoreError> {
        loop {
            let me = self.clone();
            let (taken, queued) = self.store.transact(move |tx| {
                let due = tx.due_escalations(now, STEPS_PER_TRANSACTION)?;
                let mut ctx = me.context();
                let mut queued = 0;
                for e in &due {
                    queued += me.step(tx, &mut ctx, e.clone(), now)?;
                }
                Ok((due.len(), queued))
            })?;
            if queued > 0 {
                self.outbox.wake();
            }
            if taken < STEPS_PER_TRANSACTION as usize {
                return Ok(());
            }
        }
    }

    /// One escalation step: its notifications and the move to the next step; how many
    /// notifications it queued.
    fn step(
        &self,
        tx: &mut Tx<'_>,
        ctx: &mut suppress::Context<'_>,
        e: Escalation,
        now: i64,
    ) -> Result<usize, StoreError> {
        let Some(alert) = tx.alert(e.alert)? else {
            tx.stop_escalation(e.alert)?;
            return Ok(0);
        };
        if alert.status != AlertStatus::Triggered {
            tx.stop_escalation(e.alert)?;
            return Ok(0);
        }
        let labels: Labels = serde_json::from_str(&alert.labels).unwrap_or_default();
        if let Some(why) = ctx.suppressed(tx, &alert, &labels, now)? {
            tx.set_suppressed(alert.id, Some(&why))?;
            ctx.set_suppressed(alert.id, Some(&why));
            tx.stop_escalation(alert.id)?;
            tx.log(alert.id, now, "suppressed", "steward", &why.to_string())?;
            return Ok(0);
        }
        let Some(policy) = self.catalog.policy(&e.policy) else {
            tx.stop_escalation(alert.id)?;
            tx.log(
                alert.id,
                now,
                "unrouted",
                "steward",
                &format!("escalation policy {} is no longer configured", e.policy),
            )?;
            return Ok(0);
        };
        // Past the last step: its delay went by and nobody acknowledged. The last step is
        // notified again every repeat interval, as long as the alert is not acknowledged.
        let past_end = usize::try_from(e.step).unwrap_or(0) >= policy.steps.len();
        if past_end && self.options.repeat_interval <= 0 {
            tx.stop_escalation(alert.id)?;
            tx.log(
                alert.id,
                now,
                "exhausted",
                "steward",
                "every step notified; nobody acknowledged",
            )?;
            return Ok(0);
        }
        let (step_index, round) = if past_end {
            tx.log(
                alert.id,
                now,
                "exhausted",
                "steward",
                &format!(
                    "every step notified; nobody acknowledged; notifying the last step again every {}",
                    steward_model::Duration::from_secs(self.options.repeat_interval)
                ),
            )?;
            (policy.steps.len() - 1, e.round + 1)
        } else {
            (usize::try_from(e.step).unwrap_or(0), e.round)
        };
        let step = &policy.steps[step_index];
        // Who this step reaches.
        let mut people: Vec<String> = Vec::new();
        let mut webhooks: Vec<String> = Vec::new();
        let mut nobody: Vec<String> = Vec::new();
        for t in &step.targets {
            match t {
                Target::User(u) => people.push(u.clone()),
                Target::Schedule(s) => match self.on_call(tx, s, now)? {
                    Some(u) => people.push(u),
                    None => nobody.push(s.clone()),
                },
                Target::Webhook(url) => webhooks.push(url.clone()),
            }
        }
        for s in &nobody {
            tx.log(
                alert.id,
                now,
                "uncovered",
                "steward",
                &format!("nobody is on call for schedule {s}"),
            )?;
        }
        let reached = self.notify(
            tx,
            &alert,
            &labels,
            Recipients {
                people,
                webhooks,
                policy: &policy.name,
                step: step_index,
                round,
                key: format!("{}-r{round}-s{step_index}", e.started_at),
            },
            now,
        )?;
        tx.log(
            alert.id,
            now,
            if reached.destinations == 0 {
                "unreached"
            } else {
                "notified"
            },
            "steward",
            &format!(
                "step {} of {} (round {}): {}",
                step_index + 1,
                policy.steps.len(),
                round + 1,
                reached.describe()
            ),
        )?;
        let queued = reached.queued;
        // After the last step, the escalation waits out its delay (then the repeat interval)
        // before it notifies the last step again.
        let wait = if past_end {
            self.options.repeat_interval
        } else {
            step.delay
        };
        let (next_step, round, at) = match policy.next(step_index, round as u32, now) {
            Some(next) if !past_end => next,
            _ => (policy.steps.len(), round as u32, now.saturating_add(wait)),
        };
        tx.set_escalation(&Escalation {
            alert: alert.id,
            policy: e.policy.clone(),
            step: next_step as i64,
            round: i64::from(round),
            next_at: at,
            started_at: e.started_at,
        })?;
        Ok(queued)
    }

    /// Queues one notification per destination of `to`'s people (their contacts) and
    /// webhooks, rendered now, grouped by the alert's kind; what it reached.
    fn notify(
        &self,
        tx: &mut Tx<'_>,
        alert: &Alert,
        labels: &Labels,
        to: Recipients<'_>,
        now: i64,
    ) -> Result<Reached, StoreError> {
        let mut people = to.people;
        let mut seen = std::collections::HashSet::new();
        people.retain(|p| seen.insert(p.clone()));
        let mut destinations: Vec<(String, String, Option<String>)> = Vec::new();
        for p in &people {
            let contacts = self
                .catalog
                .user(p)
                .map(|u| u.contacts.clone())
                .unwrap_or_default();
            if contacts.is_empty() {
                tx.log(
                    alert.id,
                    now,
                    "unreachable",
                    "steward",
                    &format!("user {p} has no contacts"),
                )?;
            }
            for c in contacts {
                let (channel, dest) = c.channel();
                if channel == "email" && self.options.delivery.smtp.is_none() {
                    tx.log(
                        alert.id,
                        now,
                        "unreachable",
                        "steward",
                        &format!("user {p}'s email {dest} is not sent: no SMTP relay is set up (--smtp-url)"),
                    )?;
                    continue;
                }
                destinations.push((channel.to_string(), dest.to_string(), Some(p.clone())));
            }
        }
        for w in to.webhooks {
            destinations.push(("webhook".into(), w, None));
        }
        let service = alert
            .service
            .as_deref()
            .and_then(|s| self.catalog.service(s));
        let public_url = crate::lock(&self.public_url).clone();
        let info = notify::Notice {
            alert,
            labels,
            owner: service.and_then(|s| s.owner.clone()),
            paged: &people,
            step: to.step,
            round: to.round,
            policy: to.policy,
            public_url: &public_url,
            runbook: self
                .catalog
                .runbook_for(alert.service.as_deref(), labels)
                .map(|r| r.name.as_str()),
        };
        let mut queued = 0;
        let group = grouping::group_key(
            to.policy,
            alert.urgency,
            &self.options.group_by,
            labels,
            &alert.integration,
        );
        for (channel, dest, _) in &destinations {
            let key = format!(
                "steward-alert-{}-{}-{:016x}",
                alert.id,
                to.key,
                crate::body_hash(format!("{channel} {dest}").as_bytes())
            );
            let due_at = grouping::due_at(
                tx.group_timing(dest, &group)?,
                now,
                self.options.group_wait,
                self.options.group_interval,
            );
            let m = NewMessage {
                alert: Some(alert.id),
                service: alert.service.clone(),
                customer: alert.customer.clone(),
                channel: channel.clone(),
                destination: dest.clone(),
                payload: notify::render(channel, &info),
                idempotency_key: key,
                at: now,
                due_at,
                give_up_at: due_at + self.options.delivery.give_up_after,
                created_by: "steward".into(),
                group_key: Some(group.clone()),
            };
            if tx.queue(&m)?.is_some() {
                queued += 1;
            }
        }
        if destinations.is_empty() {
            tracing::warn!(alert = alert.id, policy = %to.policy, step = to.step + 1, "an escalation step reaches nobody: its users have no contacts and nobody is on call; see the alert's history");
        }
        let mut who = people;
        who.extend(
            destinations
                .iter()
                .filter(|d| d.2.is_none())
                .map(|d| d.1.clone()),
        );
        Ok(Reached {
            destinations: destinations.len(),
            queued,
            who,
        })
    }

    /// Who is on call for a schedule at `at`, overrides included.
    pub fn on_call(
        &self,
        tx: &mut Tx<'_>,
        schedule: &str,
        at: i64,
    ) -> Result<Option<String>, StoreError> {
        let Some(s) = self.catalog.schedule(schedule) else {
            return Ok(None);
        };
        let overrides = overrides_of(tx, schedule, at, at + 1)?;
        Ok(s.on_call(&overrides, at))
    }

    /// Every open page judged again: suppression is a state, not a verdict at opening. A page
    /// a new silence (or window, or dependency page) covers stops escalating; one whose reason
    /// changed names the new one; one that nothing holds back any more escalates again from
    /// its first step. Pages of services others depend on are judged first, so a chain
    /// settles in one pass.
    fn recheck_suppressed(self: &Arc<Self>, now: i64) -> Result<(), StoreError> {
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
                let labels: Labels = serde_json::from_str(&a.labels).unwrap_or_default();
                let now_why = ctx.suppressed(tx, &a, &labels, now)?;
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
                        let policy = a.policy.clone();
                        me.escalate_page(tx, &mut ctx, &a, &labels, policy, "escalating", now)?;
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

    /// SLO alerts as their conditions say, whatever happened to them: an alert of an SLO no
    /// longer configured resolves; a condition that fires with no open alert of its SLO and
    /// severity (resolved with its incident, or by a person) opens one again.
    fn reconcile_slo_alerts(self: &Arc<Self>, now: i64) -> Result<(), StoreError> {
        let me = self.clone();
        let (gone, reopened) = self.store.transact(move |tx| {
            let open = tx.alerts(&AlertFilter {
                unresolved: true,
                source: Some("slo".into()),
                limit: Some(100_000),
                ..AlertFilter::default()
            })?;
            let configured = |slo: &str| me.catalog.slos.iter().any(|d| d.name == slo);
            let mut gone = 0;
            for a in &open {
                if slo_of(a).is_some_and(|slo| !configured(slo)) {
                    tx.resolve(a.id, "steward", now)?;
                    tx.log(
                        a.id,
                        now,
                        "removed",
                        "steward",
                        "its SLO is no longer in the configuration",
                    )?;
                    gone += 1;
                }
            }
            let open_keys: std::collections::HashSet<&str> =
                open.iter().map(|a| a.dedup_key.as_str()).collect();
            let mut firing: BTreeMap<String, steward_store::AlertState> = BTreeMap::new();
            for s in tx.condition_states()? {
                if s.firing && configured(&s.slo) {
                    firing
                        .entry(format!("slo/{}/{}", s.slo, s.severity))
                        .or_insert(s);
                }
            }
            let mut ctx = me.context();
            let mut reopened = 0;
            for (key, s) in &firing {
                if open_keys.contains(key.as_str()) {
                    continue;
                }
                let service = me
                    .catalog
                    .slos
                    .iter()
                    .find(|d| d.name == s.slo)
                    .map(|d| d.service.clone())
                    .unwrap_or_default();
                let mut e = slo_event(
                    &s.slo,
                    &service,
                    &s.severity,
                    &s.long_window,
                    &s.short_window,
                    now,
                );
                e.summary = format!(
                    "{} still burns its error budget too fast ({} and {} windows fire since {})",
                    s.slo,
                    s.long_window,
                    s.short_window,
                    jiff::Timestamp::from_second(s.since.unwrap_or(now))
                        .map_or_else(|_| "?".into(), |t| t.to_string())
                );
                if let Outcome::Opened(a) = me.apply(tx, &mut ctx, &e)? {
                    tx.log(
                        a.id,
                        now,
                        "reopened",
                        "steward",
                        "its condition still fires, so its page is open again",
                    )?;
                    reopened += 1;
                }
            }
            Ok((gone, reopened))
        })?;
        if gone + reopened > 0 {
            tracing::info!(
                gone,
                reopened,
                "SLO alerts made to agree with their conditions"
            );
            self.outbox.wake();
        }
        Ok(())
    }

    /// Resolves alerts whose source stopped sending them (their `endsAt` passed), as
    /// Alertmanager does.
    fn expire(self: &Arc<Self>, now: i64) -> Result<(), StoreError> {
        let n = self.store.transact(move |tx| {
            let ids = tx.expired_alerts(now, 1000)?;
            for id in &ids {
                tx.resolve(*id, "steward", now)?;
                tx.log(
                    *id,
                    now,
                    "expired",
                    "steward",
                    "its source stopped sending it (endsAt passed)",
                )?;
            }
            Ok(ids.len())
        })?;
        if n > 0 {
            tracing::info!(alerts = n, "resolved alerts their source stopped sending");
        }
        Ok(())
    }

    /// A heartbeat ping: recorded, and its late alert resolved.
    pub fn beat(
        self: &Arc<Self>,
        integration: &Integration,
        now: i64,
    ) -> Result<Outcome, AlertError> {
        let name = integration.name.clone();
        self.store.transact(move |tx| tx.beat(&name, now))?;
        if let Some(i) = self
            .catalog
            .integrations
            .iter()
            .position(|x| x.name == integration.name)
        {
            crate::lock(&self.beats).insert(i, now);
        }
        let outcome = self.handle(vec![Event {
            action: Action::Resolve,
            source: "heartbeat",
            integration: integration.name.clone(),
            service: integration.service.clone(),
            dedup_key: "heartbeat".into(),
            severity: "page".into(),
            summary: String::new(),
            labels: Labels::new(),
            details: Value::Null,
            at: now,
            expires_at: None,
            actor: format!("integration:{}", integration.name),
        }])?;
        Ok(outcome.into_iter().next().unwrap_or(Outcome::NoOpenAlert))
    }

    /// Opens an alert for every heartbeat later than its interval (a heartbeat never seen
    /// counts from when Steward started).
    fn heartbeats(self: &Arc<Self>, now: i64) -> Result<(), AlertError> {
        if !self.loaded.swap(true, Ordering::AcqRel) {
            self.started_at.store(now, Ordering::Relaxed);
            let stored = self.store.transact(|tx| tx.heartbeats())?;
            let mut beats = crate::lock(&self.beats);
            for (name, at) in stored {
                if let Some(i) = self
                    .catalog
                    .integrations
                    .iter()
                    .position(|x| x.name == name)
                {
                    beats.entry(i).or_insert(at);
                }
            }
        }
        let started = self.started_at.load(Ordering::Relaxed);
        let late: Vec<Event> = {
            let beats = crate::lock(&self.beats);
            self.catalog
                .integrations
                .iter()
                .enumerate()
                .filter(|(_, i)| i.kind == IntegrationKind::Heartbeat)
                .filter_map(|(idx, i)| {
                    let last = beats.get(&idx).copied().unwrap_or(started);
                    (now - last > i.interval).then(|| Event {
                        action: Action::Trigger,
                        source: "heartbeat",
                        integration: i.name.clone(),
                        service: i.service.clone(),
                        dedup_key: "heartbeat".into(),
                        severity: "page".into(),
                        summary: format!(
                            "heartbeat {} is late: no ping for {}s (expected every {}s)",
                            i.name,
                            now - last,
                            i.interval
                        ),
                        labels: BTreeMap::from([
                            ("alertname".to_string(), "HeartbeatLate".to_string()),
                            ("integration".to_string(), i.name.clone()),
                        ]),
                        details: json!({ "last_ping": last, "interval_seconds": i.interval }),
                        at: now,
                        expires_at: None,
                        actor: "steward".into(),
                    })
                })
                .collect()
        };
        // A late heartbeat's alert is opened once; while it stays late, repeats only update
        // it. The last ping is read again in the alert's transaction: a ping that came after
        // the check above is either seen here, or resolves the alert after it.
        self.handle_where(late, move |tx, e| {
            let interval = e.details["interval_seconds"].as_i64().unwrap_or(0);
            let pinged = tx.heartbeat(&e.integration)?;
            Ok(pinged.is_none_or(|at| now - at > interval)
                && tx.open_alert(&e.integration, &e.dedup_key)?.is_none())
        })?;
        Ok(())
    }
}

/// Who one notification round goes to, and what names it.
struct Recipients<'a> {
    people: Vec<String>,
    webhooks: Vec<String>,
    policy: &'a str,
    step: usize,
    round: i64,
    /// What makes the idempotency keys of this round unique for the alert.
    key: String,
}

/// What a notification round reached.
struct Reached {
    /// Destinations found (contacts and webhooks).
    destinations: usize,
    /// Notifications queued (a key queued before is not queued again).
    queued: usize,
    /// The people and webhooks reached.
    who: Vec<String>,
}

impl Reached {
    fn describe(&self) -> String {
        if self.destinations == 0 {
            "no one to notify".to_string()
        } else if self.queued == 0 {
            "already notified".to_string()
        } else {
            self.who.join(", ")
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

/// The SLO an alert of Steward's own conditions is about (its key is `slo/NAME/SEVERITY`).
pub fn slo_of(a: &Alert) -> Option<&str> {
    if a.source != "slo" {
        return None;
    }
    a.dedup_key
        .strip_prefix("slo/")
        .and_then(|k| k.rsplit_once('/'))
        .map(|(slo, _)| slo)
}

/// A trigger of an SLO's alert of one severity.
fn slo_event(slo: &str, service: &str, severity: &str, long: &str, short: &str, at: i64) -> Event {
    let labels: Labels = BTreeMap::from([
        ("alertname".to_string(), "SLOBurnRate".to_string()),
        ("slo".to_string(), slo.to_string()),
        ("service".to_string(), service.to_string()),
        ("severity".to_string(), severity.to_string()),
        ("long_window".to_string(), long.to_string()),
        ("short_window".to_string(), short.to_string()),
    ]);
    Event {
        action: Action::Trigger,
        source: "slo",
        integration: "steward".into(),
        service: Some(service.to_string()),
        dedup_key: format!("slo/{slo}/{severity}"),
        severity: severity.to_string(),
        summary: String::new(),
        labels,
        details: json!({ "slo": slo, "since": at, "long_window": long, "short_window": short }),
        at,
        expires_at: None,
        actor: "steward".into(),
    }
}

/// The alert event of a burn-rate condition's change.
fn condition_event(c: &ConditionChange) -> Event {
    let t = &c.transition;
    let mut e = slo_event(
        &t.slo,
        &c.service,
        &t.severity,
        &t.long_window,
        &t.short_window,
        t.at,
    );
    if !t.firing {
        e.action = Action::Resolve;
    }
    e.summary = format!(
        "{} burns its error budget {:.1}x too fast ({} and {} windows; the threshold is {:.1}x)",
        t.slo, t.long_burn, t.long_window, t.short_window, t.factor
    );
    e.details = json!({
        "slo": t.slo,
        "since": t.at,
        "long_window": t.long_window,
        "short_window": t.short_window,
        "long_burn_rate": finite(t.long_burn),
        "short_burn_rate": finite(t.short_burn),
        "threshold": finite(t.factor),
        "budget_remaining": finite(c.budget_remaining),
        "target": finite(c.target),
    });
    e
}

/// Details an alert keeps, in bytes of JSON at most: every notification of it carries them.
const MAX_DETAILS: usize = 16 * 1024;

/// An event's details as stored: as sent, or a note of their size when they are too large.
fn capped(details: &Value) -> String {
    let text = details.to_string();
    if text.len() <= MAX_DETAILS {
        text
    } else {
        json!({ "truncated": true, "bytes": text.len(), "note": format!("details over {MAX_DETAILS} bytes are not kept") }).to_string()
    }
}

fn finite(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

//! Intake: events from every source become alerts (deduplicated by an open-only key, their
//! urgency from the one severity mapping), people acknowledge and resolve them, burn-rate
//! conditions open and resolve their SLO's alerts (and are made to agree with them every
//! pass), heartbeats go late, and Alertmanager alerts expire.

use super::{suppress, Action, AlertError, Alerting, ConditionChange, Event, Outcome};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use steward_model::catalog::{Integration, IntegrationKind};
use steward_model::matcher::Labels;
use steward_model::Severity;
use steward_store::{
    Alert, AlertFilter, AlertStatus, AlertTransition, NewAlert, StoreError, Triggered, Tx,
};

impl Alerting {
    /// Applies events in one transaction, in order, and wakes the escalation worker.
    pub fn handle(self: &Arc<Self>, events: Vec<Event>) -> Result<Vec<Outcome>, AlertError> {
        self.handle_where(events, |_, _| Ok(true))
    }

    /// Like `handle`, for the events `keep` still wants when their transaction runs.
    pub(super) fn handle_where(
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

    pub(super) fn apply(
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
                    labels,
                    details: capped(&e.details),
                    at: e.at,
                    expires_at: e.expires_at,
                    actor: e.actor.clone(),
                };
                match tx.trigger(&new)? {
                    Triggered::Repeated(a, was) => {
                        self.regraded(tx, ctx, &a, was, e.at)?;
                        Ok(Outcome::Updated(tx.alert(a.id)?.unwrap_or(a)))
                    }
                    Triggered::Opened(a) => {
                        self.route(tx, ctx, &a, e.at)?;
                        // As it is after routing (suppressed or not), for later events.
                        let a = tx.alert(a.id)?.unwrap_or(a);
                        ctx.opened(&a);
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
    pub(super) fn refuse_resolving_a_firing_slo_alert(&self, id: i64) -> Result<(), AlertError> {
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

    /// Records condition changes and opens or resolves their alerts, in one transaction.
    pub(super) fn record_conditions(
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

    /// SLO alerts as their conditions say, whatever happened to them: an alert of an SLO no
    /// longer configured resolves; a condition that fires with no open alert of its SLO and
    /// severity (resolved with its incident, or by a person) opens one again.
    pub(super) fn reconcile_slo_alerts(self: &Arc<Self>, now: i64) -> Result<(), StoreError> {
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
    pub(super) fn expire(self: &Arc<Self>, now: i64) -> Result<(), StoreError> {
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
    pub(super) fn heartbeats(self: &Arc<Self>, now: i64) -> Result<(), AlertError> {
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

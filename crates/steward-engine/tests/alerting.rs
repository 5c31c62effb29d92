//! The alert pipeline on a real (SQLite) store, with time driven by the test: routing,
//! escalation, acknowledgement, silences, maintenance windows, inhibition, heartbeats and
//! burn-rate conditions.

use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use steward_config::{catalog, parse_text, Diagnostics, Scope};
use steward_engine::alerting::{Action, AlertOptions, Alerting, ConditionChange, Event, Outcome};
use steward_engine::Metrics;
use steward_model::catalog::IntegrationKind;
use steward_model::Suppression;
use steward_store::{
    AlertFilter, AlertStatus, AlertTransition, IncidentStatus, Message, Silence, Store,
};

const CONFIG: &str = r#"
apiVersion: steward/v1
kind: Team
metadata: {name: web}
spec: {members: [ann, bob]}
---
apiVersion: steward/v1
kind: Service
metadata: {name: db}
spec: {owner: web, tier: 1, escalationPolicy: web}
---
apiVersion: steward/v1
kind: Service
metadata: {name: checkout}
spec: {owner: web, tier: 1, escalationPolicy: web, dependsOn: [api]}
---
apiVersion: steward/v1
kind: Service
metadata: {name: api}
spec: {owner: web, tier: 2, escalationPolicy: web, dependsOn: [db]}
---
apiVersion: steward/v1
kind: Service
metadata: {name: batch}
spec: {owner: web, tier: 3, escalationPolicy: web}
---
apiVersion: steward/v1
kind: User
metadata: {name: ann}
spec: {contacts: [{type: webhook, url: "http://127.0.0.1:9/ann"}]}
---
apiVersion: steward/v1
kind: User
metadata: {name: bob}
spec: {contacts: [{type: slack, url: "http://127.0.0.1:9/bob"}]}
---
apiVersion: steward/v1
kind: Schedule
metadata: {name: primary}
spec:
  layers:
    - {participants: [ann], shift: 1w, start: "2020-01-06"}
---
apiVersion: steward/v1
kind: EscalationPolicy
metadata: {name: web}
spec:
  steps:
    - {delay: 5m, targets: [{schedule: primary}]}
    - {delay: 5m, targets: [{user: bob}]}
---
apiVersion: steward/v1
kind: EscalationPolicy
metadata: {name: twice}
spec:
  steps:
    - {delay: 5m, targets: [{user: ann}, {user: bob}, {schedule: primary}]}
---
apiVersion: steward/v1
kind: Service
metadata: {name: shop}
spec: {owner: web, tier: 1, escalationPolicy: web, incidents: {automatic: true, severity: SEV1}}
---
apiVersion: steward/v1
kind: Service
metadata: {name: ledger}
spec: {owner: web, tier: 2, escalationPolicy: twice}
---
apiVersion: steward/v1
kind: Integration
metadata: {name: prom}
spec: {kind: alertmanager, service: batch, key: {value: prom-key-0123456789}}
---
apiVersion: steward/v1
kind: Integration
metadata: {name: cron}
spec: {kind: heartbeat, service: batch, interval: 10m, key: {value: cron-key-0123456789}}
---
apiVersion: steward/v1
kind: InhibitRule
metadata: {name: cluster-down}
spec:
  sourceMatchers: ["alertname=ClusterDown"]
  targetMatchers: ["severity=~page|critical"]
  equal: [cluster]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: db-availability}
spec:
  service: db
  indicator:
    metadata: {name: db-requests}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: steward, spec: {}}}
        total: {metricSource: {type: steward, spec: {}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.999}]
---
apiVersion: steward/v1
kind: MaintenanceWindow
metadata: {name: nightly}
spec: {services: [batch], start: "2020-01-01T02:00", duration: 1h, repeat: daily}
"#;

/// 2026-01-07 12:00 UTC, a Wednesday: outside the nightly window.
const T0: i64 = 1_767_787_200;

struct Fixture {
    _dir: tempfile::TempDir,
    alerting: Arc<Alerting>,
    store: Store,
    recheck: i64,
}

fn fixture() -> Fixture {
    let mut diags = Diagnostics::default();
    let docs = parse_text("test.yaml", CONFIG, &mut diags);
    let catalog = catalog::build(&docs, Scope::Complete, &mut diags);
    assert!(!diags.has_errors(), "{:?}", diags.items);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("s.db").display())).unwrap();
    let alerting = Arc::new(Alerting::new(
        Arc::new(catalog),
        store.clone(),
        AlertOptions::default(),
        Arc::new(Metrics::default()),
    ));
    Fixture {
        _dir: dir,
        alerting,
        store,
        recheck: i64::MIN,
    }
}

impl Fixture {
    fn tick(&mut self, now: i64) {
        self.alerting.tick(Vec::new(), now, &mut self.recheck);
    }

    fn messages(&self) -> Vec<Message> {
        let ids: Vec<i64> = self
            .store
            .transact(|tx| {
                Ok(tx
                    .alerts(&AlertFilter::default())?
                    .iter()
                    // The heartbeat of the fixture goes late in long tests: not these.
                    .filter(|a| a.integration != "cron")
                    .map(|a| a.id)
                    .collect())
            })
            .unwrap();
        let mut out: Vec<Message> = ids
            .into_iter()
            .flat_map(|id| self.store.transact(move |tx| tx.messages_of(id)).unwrap())
            .collect();
        out.sort_by_key(|m| m.id);
        out
    }

    fn destinations(&self) -> Vec<String> {
        self.messages().into_iter().map(|m| m.destination).collect()
    }

    fn trigger(&self, service: &str, key: &str, labels: &[(&str, &str)], at: i64) -> Outcome {
        self.event(Action::Trigger, service, key, labels, at)
    }

    fn event(
        &self,
        action: Action,
        service: &str,
        key: &str,
        labels: &[(&str, &str)],
        at: i64,
    ) -> Outcome {
        self.event_of(action, service, key, "page", labels, at)
    }

    fn event_of(
        &self,
        action: Action,
        service: &str,
        key: &str,
        severity: &str,
        labels: &[(&str, &str)],
        at: i64,
    ) -> Outcome {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.alerting
            .handle(vec![Event {
                action,
                source: "alertmanager",
                integration: "prom".into(),
                service: Some(service.into()),
                dedup_key: key.into(),
                severity: severity.into(),
                summary: format!("{service} {key}"),
                labels,
                details: Value::Null,
                at,
                expires_at: None,
                actor: "integration:prom".into(),
            }])
            .unwrap()
            .remove(0)
    }

    fn alert(&self, id: i64) -> steward_store::Alert {
        self.store
            .transact(move |tx| tx.alert(id))
            .unwrap()
            .unwrap()
    }
}

fn opened(o: Outcome) -> i64 {
    match o {
        Outcome::Opened(a) => a.id,
        other => panic!("expected a new alert, got {other:?}"),
    }
}

#[test]
fn a_page_notifies_the_on_call_then_escalates_and_stops_when_acknowledged() {
    let mut f = fixture();
    let id = opened(f.trigger("db", "disk-full", &[], T0));
    f.tick(T0);
    assert_eq!(f.destinations(), vec!["http://127.0.0.1:9/ann"]);
    let first = &f.messages()[0];
    assert_eq!(
        first.idempotency_key,
        format!(
            "steward-alert-{id}-{T0}-r0-s0-{}",
            &first.idempotency_key[first.idempotency_key.len() - 16..]
        )
    );
    let payload: Value = serde_json::from_str(&first.payload).unwrap();
    assert_eq!(payload["alert"]["service"], "db");
    assert_eq!(payload["service_owner"], "web");
    assert_eq!(payload["paged"], serde_json::json!(["ann"]));
    assert_eq!(
        payload["links"]["acknowledge"],
        format!("http://127.0.0.1:8580/api/v1/alerts/{id}/ack")
    );
    // Nothing more until the step's delay has passed; then the next step.
    f.tick(T0 + 299);
    assert_eq!(f.messages().len(), 1);
    f.tick(T0 + 300);
    assert_eq!(
        f.destinations(),
        vec!["http://127.0.0.1:9/ann", "http://127.0.0.1:9/bob"]
    );
    assert_eq!(f.messages()[1].channel.as_str(), "slack");
    // Acknowledged: the escalation stops.
    let a = f
        .alerting
        .set_status(id, AlertStatus::Acknowledged, "user:ann".into(), T0 + 400)
        .unwrap();
    assert_eq!(
        (a.status, a.acknowledged_by.as_deref()),
        (AlertStatus::Acknowledged, Some("user:ann"))
    );
    f.tick(T0 + 10_000);
    assert_eq!(f.messages().len(), 2);
    let history: Vec<String> = f
        .store
        .transact(move |tx| tx.history(id))
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        history,
        [
            "triggered",
            "routed",
            "notified",
            "notified",
            "acknowledged"
        ]
    );
}

#[test]
fn an_unacknowledged_policy_runs_out_then_repeats_its_last_step_every_repeat_interval() {
    let mut f = fixture();
    let id = opened(f.trigger("db", "k", &[], T0));
    for t in [T0, T0 + 300, T0 + 599] {
        f.tick(t);
    }
    assert_eq!(f.messages().len(), 2, "two steps");
    f.tick(T0 + 600);
    let last = f.store.transact(move |tx| tx.history(id)).unwrap();
    let exhausted = last.iter().find(|e| e.kind == "exhausted").unwrap();
    assert_eq!(
        exhausted.detail,
        "every step notified; nobody acknowledged; notifying the last step again every 4h"
    );
    assert_eq!(f.destinations().last().unwrap(), "http://127.0.0.1:9/bob");
    assert_eq!(f.messages().len(), 3);
    f.tick(T0 + 600 + 4 * 3600 - 1);
    assert_eq!(f.messages().len(), 3);
    f.tick(T0 + 600 + 4 * 3600);
    assert_eq!(f.messages().len(), 4);
    let keys: std::collections::HashSet<String> = f
        .messages()
        .into_iter()
        .map(|m| m.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 4, "each repeat is a notification of its own");
}

#[test]
fn repeats_update_the_open_alert_and_a_resolved_key_opens_a_new_one() {
    let f = fixture();
    let id = opened(f.trigger("db", "k", &[], T0));
    let Outcome::Updated(a) = f.trigger("db", "k", &[], T0 + 5) else {
        panic!()
    };
    assert_eq!((a.id, a.events), (id, 2));
    let Outcome::Resolved(r) = f.event(Action::Resolve, "db", "k", &[], T0 + 10) else {
        panic!()
    };
    assert_eq!(
        (r.id, r.status, r.resolved_by.as_deref()),
        (id, AlertStatus::Resolved, Some("integration:prom"))
    );
    assert_eq!(
        f.event(Action::Resolve, "db", "k", &[], T0 + 11),
        Outcome::NoOpenAlert
    );
    assert_ne!(opened(f.trigger("db", "k", &[], T0 + 20)), id);
}

#[test]
fn a_silenced_alert_is_recorded_notifies_no_one_and_notifies_when_the_silence_ends() {
    let mut f = fixture();
    let silence = Silence {
        id: 0,
        matchers: r#"[{"name":"service","value":"d.","isRegex":true,"isEqual":true}]"#.into(),
        starts_at: T0 - 10,
        ends_at: T0 + 60,
        created_by: "ann".into(),
        comment: "migrating".into(),
        updated_at: T0 - 10,
        integration: None,
    };
    let sid = f
        .store
        .transact(move |tx| tx.add_silence(&silence))
        .unwrap();
    let id = opened(f.trigger("db", "k", &[], T0));
    f.tick(T0);
    assert!(f.messages().is_empty());
    assert_eq!(
        f.alert(id).suppressed,
        Some(Suppression::Silenced { silence: sid })
    );
    // Another service is not silenced.
    opened(f.trigger("checkout", "other", &[], T0));
    f.tick(T0 + 1);
    assert_eq!(f.messages().len(), 1);
    // The silence ends while the alert still fires: it notifies then.
    f.tick(T0 + 60);
    assert_eq!(f.alert(id).suppressed, None);
    assert_eq!(
        f.messages().iter().filter(|m| m.alert == Some(id)).count(),
        1
    );
}

#[test]
fn a_maintenance_window_suppresses_its_services_alerts_only_while_open() {
    let mut f = fixture();
    let night = T0 + 14 * 3600 + 30 * 60; // 02:30 UTC the next day
    let id = opened(f.trigger("batch", "k", &[], night));
    f.tick(night);
    assert_eq!(
        f.alert(id).suppressed,
        Some(Suppression::Maintenance {
            window: "nightly".into()
        })
    );
    assert!(f.messages().is_empty());
    f.tick(night + 30 * 60); // 03:00: the window has closed
    assert_eq!(f.alert(id).suppressed, None);
    assert_eq!(f.messages().len(), 1);
}

#[test]
fn a_paging_dependency_inhibits_its_dependents_pages_transitively_until_it_resolves() {
    let mut f = fixture();
    let db = opened(f.trigger("db", "db-down", &[], T0));
    let checkout = opened(f.trigger("checkout", "errors", &[], T0 + 1));
    let batch = opened(f.trigger("batch", "late", &[], T0 + 1));
    f.tick(T0 + 1);
    assert_eq!(
        f.alert(checkout).suppressed,
        Some(Suppression::Dependency {
            alert: db,
            service: "db".into(),
            dependent: "checkout".into()
        })
    );
    assert_eq!(
        f.alert(batch).suppressed,
        None,
        "batch does not depend on db"
    );
    assert_eq!(
        f.messages()
            .iter()
            .filter(|m| m.alert == Some(checkout))
            .count(),
        0
    );
    f.event(Action::Resolve, "db", "db-down", &[], T0 + 100);
    f.tick(T0 + 100);
    assert_eq!(f.alert(checkout).suppressed, None);
    assert_eq!(
        f.messages()
            .iter()
            .filter(|m| m.alert == Some(checkout))
            .count(),
        1
    );
}

#[test]
fn a_dependency_page_inhibits_even_behind_a_hundred_open_tickets() {
    let mut f = fixture();
    for i in 0..120 {
        opened(f.event_of(Action::Trigger, "db", &format!("t{i}"), "ticket", &[], T0));
    }
    let db = opened(f.trigger("db", "db-down", &[], T0));
    let checkout = opened(f.trigger("checkout", "errors", &[], T0 + 1));
    f.tick(T0 + 1);
    assert_eq!(
        f.alert(checkout).suppressed,
        Some(Suppression::Dependency {
            alert: db,
            service: "db".into(),
            dependent: "checkout".into()
        })
    );
}

#[test]
fn a_person_a_step_names_twice_is_notified_once() {
    let mut f = fixture();
    let a = opened(f.trigger("ledger", "down", &[], T0));
    f.tick(T0);
    let to: Vec<String> = f
        .messages()
        .into_iter()
        .filter(|m| m.alert == Some(a))
        .map(|m| m.destination)
        .collect();
    assert_eq!(
        to,
        ["http://127.0.0.1:9/ann", "http://127.0.0.1:9/bob"],
        "ann is named and on call"
    );
}

#[test]
fn an_inhibit_rule_needs_its_equal_labels_to_match() {
    let mut f = fixture();
    opened(f.trigger(
        "batch",
        "cluster",
        &[("alertname", "ClusterDown"), ("cluster", "eu")],
        T0,
    ));
    let same = opened(f.trigger("checkout", "x", &[("cluster", "eu")], T0));
    let other = opened(f.trigger("checkout", "y", &[("cluster", "us")], T0));
    f.tick(T0);
    assert!(matches!(
        f.alert(same).suppressed,
        Some(Suppression::Inhibited { ref rule, .. }) if rule == "cluster-down"
    ));
    assert_eq!(f.alert(other).suppressed, None);
}

#[test]
fn a_late_heartbeat_opens_an_alert_and_a_ping_resolves_it() {
    let mut f = fixture();
    f.tick(T0);
    let cron = f.alerting.catalog().integration("cron").unwrap().clone();
    assert_eq!(cron.kind, IntegrationKind::Heartbeat);
    f.tick(T0 + 600);
    assert!(f
        .store
        .transact(|tx| tx.open_alert("cron", "heartbeat"))
        .unwrap()
        .is_none());
    f.tick(T0 + 601);
    let open = f
        .store
        .transact(|tx| tx.open_alert("cron", "heartbeat"))
        .unwrap()
        .unwrap();
    assert_eq!(
        open.summary,
        "heartbeat cron is late: no ping for 601s (expected every 600s)"
    );
    f.tick(T0 + 700);
    assert_eq!(
        f.store
            .transact(move |tx| tx.alert(open.id))
            .unwrap()
            .unwrap()
            .events,
        1,
        "opened once"
    );
    let Outcome::Resolved(r) = f.alerting.beat(&cron, T0 + 800).unwrap() else {
        panic!()
    };
    assert_eq!(r.id, open.id);
}

#[test]
fn a_ping_that_lands_during_the_late_check_opens_no_alert() {
    let mut f = fixture();
    f.tick(T0);
    // The ping is committed, but the worker's own copy of the last ping is older: the
    // moment between the check and the alert's transaction.
    f.store.transact(|tx| tx.beat("cron", T0 + 590)).unwrap();
    f.tick(T0 + 700);
    assert!(f
        .store
        .transact(|tx| tx.open_alert("cron", "heartbeat"))
        .unwrap()
        .is_none());
}

#[test]
fn a_burn_rate_condition_opens_a_page_and_resolves_it_when_it_stops() {
    let mut f = fixture();
    let change = |firing: bool, at: i64| ConditionChange {
        rule: steward_model::RuleId(0),
        transition: AlertTransition {
            slo: "db-availability".into(),
            long_window: "1h".into(),
            short_window: "5m".into(),
            severity: "page".into(),
            firing,
            at,
            long_burn: 20.0,
            short_burn: 31.5,
            factor: 14.4,
        },
        service: "db".into(),
        budget_remaining: 0.42,
        target: 0.999,
        others_firing: false,
    };
    f.alerting.tick(vec![change(true, T0)], T0, &mut f.recheck);
    let a = f
        .store
        .transact(|tx| tx.open_alert("steward", "slo/db-availability/page"))
        .unwrap()
        .unwrap();
    assert_eq!(a.summary, "db-availability burns its error budget 20.0x too fast (1h and 5m windows; the threshold is 14.4x)");
    let labels = &a.labels;
    assert_eq!(labels["slo"], "db-availability");
    assert_eq!(labels["long_window"], "1h");
    let text = serde_json::from_str::<Value>(&f.messages()[0].payload).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("Burn rate: 20.0x over 1h, 31.5x over 5m (threshold 14.4x)"),
        "{text}"
    );
    assert!(text.contains("Error budget left: 42.0%"), "{text}");
    f.alerting
        .tick(vec![change(false, T0 + 60)], T0 + 60, &mut f.recheck);
    let a = f.alert(a.id);
    assert_eq!(
        (a.status, a.resolved_by.as_deref()),
        (AlertStatus::Resolved, Some("steward"))
    );
    assert_eq!(
        f.store.alert_events("db-availability", 10).unwrap().len(),
        2
    );
}

#[test]
fn two_page_conditions_of_one_slo_are_one_alert_resolved_when_the_last_stops() {
    let mut f = fixture();
    let change =
        |long: &str, short: &str, firing: bool, others_firing: bool, at: i64| ConditionChange {
            rule: steward_model::RuleId(if long == "1h" { 0 } else { 1 }),
            transition: AlertTransition {
                slo: "db-availability".into(),
                long_window: long.into(),
                short_window: short.into(),
                severity: "page".into(),
                firing,
                at,
                long_burn: 20.0,
                short_burn: 31.5,
                factor: 14.4,
            },
            service: "db".into(),
            budget_remaining: 0.42,
            target: 0.999,
            others_firing,
        };
    f.alerting.tick(
        vec![
            change("1h", "5m", true, false, T0),
            change("6h", "30m", true, true, T0),
        ],
        T0,
        &mut f.recheck,
    );
    let all = f
        .store
        .transact(|tx| tx.alerts(&AlertFilter::default()))
        .unwrap();
    let pages: Vec<_> = all.iter().filter(|a| a.integration == "steward").collect();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].events, 2);
    let id = pages[0].id;
    // The fast condition stops; the slow one still fires: the page stays open.
    f.alerting.tick(
        vec![change("1h", "5m", false, true, T0 + 60)],
        T0 + 60,
        &mut f.recheck,
    );
    assert_eq!(f.alert(id).status, AlertStatus::Triggered);
    f.alerting.tick(
        vec![change("6h", "30m", false, false, T0 + 120)],
        T0 + 120,
        &mut f.recheck,
    );
    assert_eq!(f.alert(id).status, AlertStatus::Resolved);
    assert_eq!(
        f.store.alert_events("db-availability", 10).unwrap().len(),
        4,
        "every condition change is recorded"
    );
}

#[test]
fn an_alert_its_source_stops_sending_resolves_when_its_ends_at_passes() {
    let mut f = fixture();
    let event = |at: i64| Event {
        action: Action::Trigger,
        source: "alertmanager",
        integration: "prom".into(),
        service: Some("batch".into()),
        dedup_key: "fp-1".into(),
        severity: "ticket".into(),
        summary: "queue is long".into(),
        labels: BTreeMap::new(),
        details: Value::Null,
        at,
        expires_at: Some(at + 240),
        actor: "integration:prom".into(),
    };
    let id = opened(f.alerting.handle(vec![event(T0)]).unwrap().remove(0));
    // Sent again before it expires: it lives on from the new endsAt.
    f.alerting.handle(vec![event(T0 + 200)]).unwrap();
    f.tick(T0 + 300);
    assert_eq!(f.alert(id).status, AlertStatus::Triggered);
    f.tick(T0 + 440);
    let a = f.alert(id);
    assert_eq!(
        (a.status, a.resolved_by.as_deref()),
        (AlertStatus::Resolved, Some("steward"))
    );
    let last = f
        .store
        .transact(move |tx| tx.history(id))
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(last.kind, "expired");
}

/// Found in review: an alert silenced in the middle of its escalation escalated again from
/// step 1 when the silence ended, but its notifications had the first escalation's keys and
/// were dropped as duplicates: nobody was paged.
#[test]
fn an_alert_silenced_mid_escalation_pages_again_when_the_silence_ends() {
    let mut f = fixture();
    let id = opened(f.trigger("db", "k", &[], T0));
    f.tick(T0);
    assert_eq!(f.messages().len(), 1);
    let silence = Silence {
        id: 0,
        matchers: r#"[{"name":"service","value":"db","isRegex":false,"isEqual":true}]"#.into(),
        starts_at: T0 + 10,
        ends_at: T0 + 400,
        created_by: "ann".into(),
        comment: "looking into it".into(),
        updated_at: T0 + 10,
        integration: None,
    };
    f.store
        .transact(move |tx| tx.add_silence(&silence))
        .unwrap();
    f.tick(T0 + 300);
    assert_eq!(f.messages().len(), 1, "silenced: step 2 notifies no one");
    assert!(f.alert(id).suppressed.is_some());
    f.tick(T0 + 400);
    let messages = f.messages();
    assert_eq!(
        messages.len(),
        2,
        "the silence ended: the escalation starts again"
    );
    assert_eq!(messages[1].destination, "http://127.0.0.1:9/ann");
    assert_ne!(messages[1].idempotency_key, messages[0].idempotency_key);
}

fn incident_of(f: &Fixture, alert: i64) -> steward_store::Incident {
    let id = f
        .alert(alert)
        .incident
        .expect("the alert joined an incident");
    f.store
        .transact(move |tx| tx.incident(id))
        .unwrap()
        .unwrap()
}

#[test]
fn a_page_opens_an_incident_and_the_next_page_of_the_service_joins_it() {
    let f = fixture();
    let first = opened(f.trigger("shop", "a", &[], T0));
    let i = incident_of(&f, first);
    assert_eq!(
        (
            i.severity.as_str(),
            i.status,
            i.started_at,
            i.created_by.as_str()
        ),
        ("SEV1", IncidentStatus::Triggered, T0, "steward")
    );
    let second = opened(f.trigger("shop", "b", &[], T0 + 30));
    assert_eq!(incident_of(&f, second).id, i.id);
    // Not a service that opens incidents: none.
    let other = opened(f.trigger("db", "c", &[], T0));
    assert_eq!(f.alert(other).incident, None);
}

/// Regression: a page joining an acknowledged incident was acknowledged in the name of
/// whoever had the incident, and paged nobody ("checkout writes corrupt orders" went unseen).
#[test]
fn a_page_joining_an_acknowledged_incident_notifies_who_has_it_and_is_acknowledged_by_nobody() {
    let mut f = fixture();
    let first = opened(f.trigger("shop", "a", &[], T0));
    let i = incident_of(&f, first).id;
    f.alerting
        .move_incident(i, IncidentStatus::Acknowledged, "user:bob".into(), T0 + 60)
        .unwrap();
    let before = f.messages().len();
    let second = opened(f.trigger("shop", "b", &[], T0 + 120));
    let a = f.alert(second);
    assert_eq!(
        (a.incident, a.status, a.acknowledged_by.as_deref()),
        (Some(i), AlertStatus::Triggered, None)
    );
    let new: Vec<String> = f.destinations()[before..].to_vec();
    assert_eq!(new, ["http://127.0.0.1:9/bob"], "bob has the incident");
    // Unacknowledged after the policy's first delay: the policy pages the on-call.
    f.tick(T0 + 120 + 299);
    assert_eq!(f.messages().len(), before + 1);
    f.tick(T0 + 120 + 300);
    assert_eq!(
        f.destinations()[before + 1..].to_vec(),
        ["http://127.0.0.1:9/ann"]
    );
}

/// Regression: resolving an incident left its alerts open and acknowledged, so they went on
/// holding back the pages of the services that depend on it.
#[test]
fn resolving_an_incident_resolves_its_alerts() {
    let f = fixture();
    let first = opened(f.trigger("shop", "a", &[], T0));
    let i = incident_of(&f, first).id;
    f.alerting
        .move_incident(i, IncidentStatus::Resolved, "user:ann".into(), T0 + 60)
        .unwrap();
    let a = f.alert(first);
    assert_eq!(
        (a.status, a.resolved_by.as_deref()),
        (AlertStatus::Resolved, Some("user:ann"))
    );
}

/// Regression: an event re-sent under the same key with a higher severity (`info` latency,
/// then `critical` "PAY DOWN") updated the alert but was never routed.
#[test]
fn a_ticket_raised_to_critical_under_the_same_key_pages() {
    let mut f = fixture();
    let id = opened(f.event_of(Action::Trigger, "db", "pay", "info", &[], T0));
    f.tick(T0);
    assert!(f.messages().is_empty(), "info is a ticket");
    let Outcome::Updated(a) = f.event_of(Action::Trigger, "db", "pay", "critical", &[], T0 + 10)
    else {
        panic!("the same key updates its alert")
    };
    assert_eq!((a.id, a.urgency), (id, steward_model::Severity::Page));
    assert_eq!(f.destinations(), ["http://127.0.0.1:9/ann"]);
    // It escalates like any page.
    f.tick(T0 + 10 + 300);
    assert_eq!(
        f.destinations(),
        ["http://127.0.0.1:9/ann", "http://127.0.0.1:9/bob"]
    );
    // Lowered again, it stops escalating.
    f.event_of(Action::Trigger, "db", "pay", "warning", &[], T0 + 400);
    f.tick(T0 + 10_000);
    assert_eq!(f.messages().len(), 2);
}

/// Regression: any open alert of a dependency, even an acknowledged warning ("TLS
/// certificate expires in 20 days"), held back every page of the services depending on it.
#[test]
fn a_dependency_ticket_holds_back_no_page() {
    let mut f = fixture();
    let tls = opened(f.event_of(Action::Trigger, "db", "tls", "warning", &[], T0));
    f.alerting
        .set_status(tls, AlertStatus::Acknowledged, "user:ann".into(), T0 + 1)
        .unwrap();
    let down = opened(f.trigger("checkout", "down", &[], T0 + 2));
    f.tick(T0 + 2);
    assert_eq!(f.alert(down).suppressed, None);
    assert_eq!(f.destinations(), ["http://127.0.0.1:9/ann"]);
}

/// Regression: a dependency's page held its dependents' pages back for as long as it stayed
/// open. Now for 30 minutes from when each opened; then it pages, naming what it waited on.
#[test]
fn a_dependency_page_holds_a_page_back_for_thirty_minutes_then_it_pages() {
    let mut f = fixture();
    let db = opened(f.trigger("db", "db-down", &[], T0));
    let checkout = opened(f.trigger("checkout", "down", &[], T0 + 60));
    f.tick(T0 + 60);
    let of_checkout = |f: &Fixture| {
        f.messages()
            .iter()
            .filter(|m| m.alert == Some(checkout))
            .count()
    };
    assert_eq!(of_checkout(&f), 0);
    f.tick(T0 + 60 + 1799);
    assert_eq!(of_checkout(&f), 0);
    f.tick(T0 + 60 + 1800);
    assert_eq!(f.alert(checkout).suppressed, None);
    assert_eq!(of_checkout(&f), 1);
    let history = f.store.transact(move |tx| tx.history(checkout)).unwrap();
    assert!(
        history.iter().any(|h| h.kind == "unsuppressed"
            && h.detail.contains(&format!("held back by alert {db} of db"))),
        "{history:#?}"
    );
}

#[test]
fn a_page_after_the_incident_is_mitigated_opens_a_new_incident() {
    let f = fixture();
    let first = opened(f.trigger("shop", "a", &[], T0));
    let i = incident_of(&f, first).id;
    f.alerting
        .move_incident(i, IncidentStatus::Mitigated, "user:ann".into(), T0 + 60)
        .unwrap();
    let later = opened(f.trigger("shop", "b", &[], T0 + 3600));
    assert_ne!(incident_of(&f, later).id, i);
}

#[test]
fn resolving_an_incident_nobody_acknowledged_acknowledges_it_records_no_mitigation_and_stops_its_pages(
) {
    let mut f = fixture();
    let first = opened(f.trigger("shop", "a", &[], T0));
    let i = incident_of(&f, first).id;
    let r = f
        .alerting
        .move_incident(i, IncidentStatus::Resolved, "user:bob".into(), T0 + 90)
        .unwrap();
    // Regression: a mitigation nobody recorded was filled in at the resolve time, and the
    // postmortem reported it as when the incident was mitigated.
    assert_eq!(
        (r.acknowledged_at, r.mitigated_at, r.resolved_at),
        (Some(T0 + 90), None, Some(T0 + 90))
    );
    assert_eq!(f.alert(first).status, AlertStatus::Resolved);
    let before = f.messages().len();
    f.tick(T0 + 3600);
    assert_eq!(
        f.messages().len(),
        before,
        "no later step after the resolve"
    );
    let view = f.alerting.incident_view(i, T0 + 100).unwrap();
    let kinds: Vec<&str> = view
        .timeline
        .iter()
        .filter(|e| !e.kind.starts_with("alert_"))
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds, ["declared", "alert", "acknowledged", "resolved"]);
    let postmortem = steward_engine::alerting::postmortem::markdown(&view, &[], &[], T0 + 100);
    assert!(
        postmortem
            .contains("| Mitigated | not recorded (resolved without a separate mitigation) |"),
        "{postmortem}"
    );
}

#[test]
fn an_incident_opened_when_a_silence_ends_starts_when_its_alert_opened() {
    let mut f = fixture();
    f.store
        .transact(|tx| {
            tx.add_silence(&Silence {
                id: 0,
                matchers: r#"[{"name":"service","value":"shop","isRegex":false,"isEqual":true}]"#
                    .into(),
                starts_at: T0 - 10,
                ends_at: T0 + 600,
                created_by: "user:ann".into(),
                comment: "deploy".into(),
                updated_at: T0 - 10,
                integration: None,
            })
        })
        .unwrap();
    let a = opened(f.trigger("shop", "a", &[], T0));
    f.tick(T0 + 1);
    assert_eq!(f.alert(a).incident, None, "silenced: no incident yet");
    f.tick(T0 + 700);
    let i = incident_of(&f, a);
    assert_eq!(i.started_at, T0);
    // Regression: the "declared" entry took the alert's time, not when it was declared.
    let view = f.alerting.incident_view(i.id, T0 + 800).unwrap();
    let declared = view.timeline.iter().find(|e| e.kind == "declared").unwrap();
    assert_eq!(declared.at, T0 + 700);
}

/// Regression: notifications were grouped per policy and service whatever the alert, so a
/// critical "SEARCH IS DOWN" waited up to 5 minutes behind an unrelated alert sent just before
/// it, and the first page of a quiet service waited the whole group_wait (30 s).
#[test]
fn a_page_of_a_new_kind_leaves_at_once_and_its_own_kind_is_gathered() {
    let mut f = fixture();
    let due = |f: &Fixture, alert: i64| -> Vec<i64> {
        f.messages()
            .iter()
            .filter(|m| m.alert == Some(alert))
            .map(|m| m.next_attempt_at)
            .collect()
    };
    let tls = opened(f.trigger("db", "tls", &[("alertname", "TlsHandshakes")], T0));
    assert_eq!(
        due(&f, tls),
        [T0],
        "the first of a quiet group leaves at once"
    );
    let sent = f.messages()[0].id;
    f.store
        .transact(move |tx| tx.delivered(sent, 1, T0))
        .unwrap();
    let down = opened(f.trigger("db", "down", &[("alertname", "SearchDown")], T0 + 5));
    assert_eq!(due(&f, down), [T0 + 5], "another kind is not held back");
    // Its own kind right after goes with it; a ticket notifies no one.
    let more = opened(f.trigger("db", "down-2", &[("alertname", "SearchDown")], T0 + 6));
    assert_eq!(
        due(&f, more),
        [T0 + 6],
        "due at once, carried by the waiting one"
    );
    // The same kind as the delivered one, within group_wait: gathered to its end.
    let tls2 = opened(f.trigger("db", "tls-2", &[("alertname", "TlsHandshakes")], T0 + 7));
    assert_eq!(due(&f, tls2), [T0 + 30]);
    f.tick(T0 + 7);
}

/// A receiver on loopback that answers every request with `status` and counts them.
fn receiver(status: u16) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut conn = conn;
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, count)
}

/// Queues a notification of alert `alert` to `url`, due now.
fn queue_to(store: &Store, alert: i64, url: &str, key: &str, now: i64) {
    let m = steward_store::NewMessage {
        alert: Some(alert),
        service: Some("db".into()),
        customer: None,
        channel: steward_model::catalog::Channel::Webhook,
        destination: url.into(),
        payload: "{}".into(),
        idempotency_key: key.into(),
        at: now,
        due_at: now,
        give_up_at: now + 3600,
        created_by: "steward".into(),
        group_key: Some(key.into()),
    };
    store.transact(move |tx| tx.queue(&m)).unwrap();
}

fn outbox(store: &Store, per_minute: u32) -> Arc<steward_engine::alerting::Outbox> {
    Arc::new(steward_engine::alerting::Outbox::new(
        store.clone(),
        steward_engine::alerting::DeliveryOptions {
            per_destination_per_minute: per_minute,
            retry_base: std::time::Duration::from_secs(1),
            ..Default::default()
        },
        Arc::new(Metrics::default()),
    ))
}

/// Dispatches for up to `secs` seconds of real time, until `done`.
fn dispatch_until(
    outbox: &Arc<steward_engine::alerting::Outbox>,
    secs: u64,
    done: impl Fn() -> bool,
) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < until && !done() {
        outbox.dispatch(jiff::Timestamp::now().as_second()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Regression: the per-destination throttle counted dispatches that sent nothing (a
/// notification whose alert was acknowledged before it left), so a storm drained slowly.
#[test]
fn the_throttle_counts_only_notifications_that_are_sent() {
    let f = fixture();
    let now = jiff::Timestamp::now().as_second();
    let (url, count) = receiver(200);
    let taken = opened(f.trigger("db", "taken", &[], now));
    let open = opened(f.trigger("db", "open", &[], now));
    f.alerting
        .set_status(taken, AlertStatus::Acknowledged, "user:ann".into(), now)
        .unwrap();
    queue_to(&f.store, taken, &url, "k-taken", now);
    queue_to(&f.store, open, &url, "k-open", now);
    let outbox = outbox(&f.store, 1);
    dispatch_until(&outbox, 5, || {
        count.load(std::sync::atomic::Ordering::SeqCst) >= 1
    });
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the open alert's notification is the minute's one"
    );
}

/// Regression: retries of a failed delivery went on after the alert was acknowledged.
#[test]
fn a_failed_delivery_is_not_retried_once_its_alert_is_acknowledged() {
    let f = fixture();
    let now = jiff::Timestamp::now().as_second();
    let (url, count) = receiver(503);
    let id = opened(f.trigger("db", "down", &[], now));
    queue_to(&f.store, id, &url, "k-down", now);
    let outbox = outbox(&f.store, 60);
    dispatch_until(&outbox, 5, || {
        count.load(std::sync::atomic::Ordering::SeqCst) >= 1
    });
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    f.alerting
        .set_status(id, AlertStatus::Acknowledged, "user:ann".into(), now)
        .unwrap();
    // The retry comes due within a few seconds; it is not sent.
    let pending = |f: &Fixture| {
        f.store
            .transact(move |tx| tx.messages_of(id))
            .unwrap()
            .iter()
            .any(|m| m.status == steward_store::MessageStatus::Pending)
    };
    dispatch_until(&outbox, 15, || !pending(&f));
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    let status = f
        .store
        .transact(move |tx| tx.messages_of(id))
        .unwrap()
        .iter()
        .map(|m| m.status)
        .collect::<Vec<_>>();
    // Its own notification to ann (unreachable) and the one to the failing receiver.
    assert_eq!(status, [steward_store::MessageStatus::Skipped; 2]);
}

/// Regression (review): a page that nothing routed — its service had no policy, or a reload
/// removed it — stayed with nobody after a reload gave it one.
#[test]
fn a_page_nothing_routed_pages_once_a_reload_gives_it_a_policy() {
    let mut f = fixture();
    let without = CONFIG.replace(
        "metadata: {name: batch}\nspec: {owner: web, tier: 3, escalationPolicy: web}",
        "metadata: {name: batch}\nspec: {owner: web, tier: 3}",
    );
    assert_ne!(without, CONFIG);
    let build = |text: &str| {
        let mut diags = Diagnostics::default();
        let docs = parse_text("test.yaml", text, &mut diags);
        let catalog = catalog::build(&docs, Scope::Complete, &mut diags);
        assert!(!diags.has_errors(), "{:?}", diags.items);
        Arc::new(catalog)
    };
    f.alerting = Arc::new(f.alerting.successor(build(&without)));
    let id = opened(f.trigger("batch", "nightly-failed", &[], T0));
    f.tick(T0);
    assert!(
        f.messages().iter().all(|m| m.alert != Some(id)),
        "nothing routes it"
    );
    f.alerting = Arc::new(f.alerting.successor(build(CONFIG)));
    f.recheck = i64::MIN;
    f.tick(T0 + 5);
    assert_eq!(
        f.messages()
            .iter()
            .filter(|m| m.alert == Some(id))
            .map(|m| m.destination.as_str())
            .collect::<Vec<_>>(),
        ["http://127.0.0.1:9/ann"]
    );
}

/// Regression (review): a notification already queued (waiting for its group, or for a
/// retry) was still sent after a silence covered its page.
#[test]
fn a_queued_notification_of_a_page_silenced_meanwhile_is_not_sent() {
    let mut f = fixture();
    let now = jiff::Timestamp::now().as_second();
    let (url, count) = receiver(200);
    let id = opened(f.trigger("db", "down", &[], now));
    queue_to(&f.store, id, &url, "k-silenced", now);
    let silence = Silence {
        id: 0,
        matchers: r#"[{"name":"service","value":"db","isRegex":false,"isEqual":true}]"#.into(),
        starts_at: now,
        ends_at: now + 3600,
        created_by: "user:ann".into(),
        comment: "planned".into(),
        updated_at: now,
        integration: None,
    };
    f.store
        .transact(move |tx| tx.add_silence(&silence))
        .unwrap();
    f.tick(now);
    assert!(f.alert(id).suppressed.is_some());
    let outbox = outbox(&f.store, 60);
    let pending = |f: &Fixture| {
        f.store
            .transact(move |tx| tx.messages_of(id))
            .unwrap()
            .iter()
            .any(|m| m.status == steward_store::MessageStatus::Pending)
    };
    dispatch_until(&outbox, 15, || !pending(&f));
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 0);
}

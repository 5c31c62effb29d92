//! Readiness computed from the catalog and the store's facts, on the example shop and on
//! made-up catalogs, with the clock fixed.

use std::collections::HashMap;
use steward_config::catalog::{build, Scope};
use steward_config::{Catalog, Diagnostics};
use steward_engine::readiness::{assess, assess_all, Facts};
use steward_model::readiness::{Level, Readiness};
use steward_store::PageRow;

const DAY: i64 = 86_400;

fn at(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}

/// 2026-11-16, a Monday, 12:00 UTC.
fn now() -> i64 {
    at("2026-11-16T12:00:00Z")
}

fn shop() -> Catalog {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop");
    steward_config::load(&path).unwrap().catalog
}

fn catalog_of(yaml: &str) -> Catalog {
    let mut d = Diagnostics::default();
    let docs = steward_config::parse_text("test.yaml", yaml, &mut d);
    let c = build(&docs, Scope::Complete, &mut d);
    assert!(!d.has_errors(), "{:?}", d.items);
    c
}

/// What the store holds in the example: checkout's runbook rehearsed 10 days ago and every
/// control of checkout proved 5 days ago.
fn shop_facts(catalog: &Catalog) -> Facts {
    let mut f = Facts::default();
    f.rehearsals
        .insert("checkout-payment-timeouts".into(), now() - 10 * DAY);
    let checkout = catalog.service("checkout").unwrap();
    for c in catalog.controls_of(checkout) {
        if c.evidence.is_some() {
            f.evidence
                .insert(("checkout".into(), c.name.clone()), now() - 5 * DAY);
        }
    }
    f
}

fn of<'a>(list: &'a [Readiness], service: &str) -> &'a Readiness {
    list.iter().find(|r| r.service == service).unwrap()
}

fn reason<'a>(r: &'a Readiness, check: &str) -> &'a str {
    &r.check(check).unwrap().reason
}

/// The checks whose answer (passed, reason or fix) differs.
fn changed(a: &Readiness, b: &Readiness) -> Vec<&'static str> {
    a.checks
        .iter()
        .zip(&b.checks)
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x.name)
        .collect()
}

fn flipped(a: &Readiness, b: &Readiness) -> Vec<&'static str> {
    a.checks
        .iter()
        .zip(&b.checks)
        .filter(|(x, y)| x.passed != y.passed)
        .map(|(x, _)| x.name)
        .collect()
}

#[test]
fn the_example_shop_has_a_service_at_each_level_with_the_exact_missing_items() {
    let catalog = shop();
    let list = assess_all(&catalog, &shop_facts(&catalog), now());
    let levels: HashMap<&str, (Level, u8, Vec<&str>)> = list
        .iter()
        .map(|r| (r.service.as_str(), (r.level, r.score, r.failing())))
        .collect();
    assert_eq!(levels["checkout"], (Level::Advanced, 100, vec![]));
    assert_eq!(
        levels["payments"],
        (
            Level::Intermediate,
            83,
            vec!["runbook-rehearsal", "evidence"]
        )
    );
    assert_eq!(
        levels["search"],
        (
            Level::Beginner,
            58,
            vec![
                "runbooks",
                "runbook-rehearsal",
                "recovery-test",
                "responsibilities",
                "evidence"
            ]
        )
    );
    assert_eq!(
        levels["catalog-db"],
        (
            Level::Beginner,
            67,
            vec!["runbooks", "runbook-rehearsal", "recovery-test", "evidence"]
        )
    );
    let payments = of(&list, "payments");
    assert_eq!(
        reason(payments, "runbook-rehearsal"),
        "never rehearsed: `payments-card-declines`"
    );
    assert_eq!(
        payments.check("runbook-rehearsal").unwrap().fix.as_deref(),
        Some("rehearse it: steward runbook rehearse payments-card-declines")
    );
    assert_eq!(
        reason(payments, "evidence"),
        "no evidence for `runtime-patching` (the provider's, a patch-report every 30 days), \
         `function-identity-and-permissions` (the customer's, a access-review every 90 days), \
         `secrets-and-configuration` (the customer's, a secret-rotation every 180 days), \
         `dependency-updates` (the customer's, a dependency-scan every 30 days), \
         `log-review-and-alerting` (the customer's, a log-review every 30 days)"
    );
    assert_eq!(
        reason(payments, "recovery-test"),
        "no control of class `serverless-runtime` asks for a restore drill: it keeps nothing to restore"
    );
    let db = of(&list, "catalog-db");
    assert_eq!(
        reason(db, "runbooks"),
        "no runbook for failure mode `replica-lag`"
    );
    assert_eq!(
        reason(db, "recovery-test"),
        "no restore drill recorded for `backup-usage-and-recovery-objectives`"
    );
    let search = of(&list, "search");
    assert_eq!(
        reason(search, "runbooks"),
        "no failure modes declared: nobody has written down what breaks"
    );
    assert_eq!(
        reason(search, "responsibilities"),
        "no responsibility map: the service names no class and no controls"
    );
    assert_eq!(
        reason(of(&list, "checkout"), "responsibilities"),
        "the provider operates `deploys-and-rollback`, `access-policy-and-admin-scope`, \
         `dependency-updates`, `log-review-and-alerting`; the customer owns `data-classification`"
    );
    assert_eq!(
        reason(of(&list, "checkout"), "oncall-coverage"),
        "escalation policy `storefront` names user `dara`, who is paged at every hour"
    );
}

#[test]
fn recording_one_piece_of_evidence_changes_only_the_evidence_check() {
    let catalog = shop();
    let mut facts = shop_facts(&catalog);
    facts.evidence.remove(&(
        "checkout".to_string(),
        "log-review-and-alerting".to_string(),
    ));
    let checkout = catalog.service("checkout").unwrap();
    let before = assess(&catalog, &facts, checkout, now());
    assert_eq!(before.level, Level::Intermediate);
    assert_eq!(
        reason(&before, "evidence"),
        "no evidence for `log-review-and-alerting` (the provider's, a log-review every 30 days)"
    );
    facts.evidence.insert(
        ("checkout".into(), "log-review-and-alerting".into()),
        now() - DAY,
    );
    let after = assess(&catalog, &facts, checkout, now());
    assert_eq!(changed(&before, &after), ["evidence"]);
    assert_eq!(after.level, Level::Advanced);
    assert_eq!(
        reason(&after, "evidence"),
        "the evidence of 4 controls is fresh"
    );

    // Evidence older than its limit is no evidence: a log review 31 days ago.
    facts.evidence.insert(
        ("checkout".into(), "log-review-and-alerting".into()),
        now() - 31 * DAY,
    );
    let stale = assess(&catalog, &facts, checkout, now());
    assert_eq!(changed(&after, &stale), ["evidence"]);
    assert_eq!(
        reason(&stale, "evidence"),
        "evidence too old for `log-review-and-alerting` (the provider's, last on 2026-10-16, 31 days ago; its limit is 30 days)"
    );

    // A restore drill proves both the control's evidence and the recovery test.
    let db = catalog.service("catalog-db").unwrap();
    let before = assess(&catalog, &facts, db, now());
    facts.evidence.insert(
        (
            "catalog-db".into(),
            "backup-usage-and-recovery-objectives".into(),
        ),
        now() - DAY,
    );
    let after = assess(&catalog, &facts, db, now());
    assert_eq!(flipped(&before, &after), ["recovery-test"]);
    assert_eq!(changed(&before, &after), ["recovery-test", "evidence"]);
    assert_eq!(
        reason(&after, "recovery-test"),
        "restored within its limit (on 2026-11-15)"
    );
}

#[test]
fn rehearsing_one_runbook_changes_only_the_rehearsal_check() {
    let catalog = shop();
    let mut facts = shop_facts(&catalog);
    let payments = catalog.service("payments").unwrap();
    let before = assess(&catalog, &facts, payments, now());
    facts
        .rehearsals
        .insert("payments-card-declines".into(), now() - 3600);
    let after = assess(&catalog, &facts, payments, now());
    assert_eq!(changed(&before, &after), ["runbook-rehearsal"]);
    assert!(after.check("runbook-rehearsal").unwrap().passed);
    assert_eq!(after.level, Level::Intermediate, "evidence still missing");
    // Its own limit is 30 days: 31 days later the rehearsal has expired.
    let later = assess(&catalog, &facts, payments, now() + 31 * DAY);
    assert_eq!(
        reason(&later, "runbook-rehearsal"),
        "rehearsal expired: `payments-card-declines` (last on 2026-11-16, 31 days ago; its limit is 30 days)"
    );
    // Checkout's runbook keeps the default of 90 days.
    let checkout = catalog.service("checkout").unwrap();
    assert!(
        assess(&catalog, &facts, checkout, now() + 79 * DAY)
            .check("runbook-rehearsal")
            .unwrap()
            .passed
    );
    assert!(
        !assess(&catalog, &facts, checkout, now() + 81 * DAY)
            .check("runbook-rehearsal")
            .unwrap()
            .passed
    );
}

#[test]
fn adding_one_runbook_changes_only_the_runbook_checks() {
    let mut catalog = shop();
    let facts = shop_facts(&catalog);
    let before = assess(
        &catalog,
        &facts,
        catalog.service("catalog-db").unwrap(),
        now(),
    );
    assert_eq!(before.level, Level::Beginner);
    let mut rb = catalog
        .runbook("checkout-payment-timeouts")
        .unwrap()
        .clone();
    rb.name = "catalog-db-replica-lag".into();
    rb.service = "catalog-db".into();
    rb.failure_mode = Some("replica-lag".into());
    catalog.runbooks.push(rb);
    let after = assess(
        &catalog,
        &facts,
        catalog.service("catalog-db").unwrap(),
        now(),
    );
    assert_eq!(flipped(&before, &after), ["runbooks"]);
    assert_eq!(changed(&before, &after), ["runbooks", "runbook-rehearsal"]);
    assert_eq!(after.level, Level::Intermediate);
    assert_eq!(
        reason(&after, "runbook-rehearsal"),
        "never rehearsed: `catalog-db-replica-lag`"
    );
}

const NEW_YORK: &str = r#"
apiVersion: steward/v1
kind: Team
metadata: {name: night}
spec: {members: [ny]}
---
apiVersion: steward/v1
kind: User
metadata: {name: ny}
spec:
  timeZone: America/New_York
  contacts: [{type: webhook, url: "https://hooks.example.com/ny"}]
---
apiVersion: steward/v1
kind: Schedule
metadata: {name: ny-primary}
spec:
  timeZone: America/New_York
  layers:
    # Everyone sleeps from 01:00 to 03:00 New York time.
    - name: daily
      participants: [ny]
      shift: 1d
      start: 2026-01-05
      handoff: "09:00"
      restrictions: [{from: "03:00", to: "01:00"}]
---
apiVersion: steward/v1
kind: EscalationPolicy
metadata: {name: ny}
spec:
  steps: [{delay: 5m, targets: [{schedule: ny-primary}]}]
  repeat: 2
---
apiVersion: steward/v1
kind: Service
metadata: {name: api}
spec: {owner: night, escalationPolicy: ny, tier: 1}
"#;

#[test]
fn oncall_coverage_names_the_first_uncovered_hour_across_a_dst_change_in_new_york() {
    let catalog = catalog_of(NEW_YORK);
    let api = catalog.service("api").unwrap();
    // Noon on Saturday 2026-03-07; clocks spring forward at 02:00 on Sunday 2026-03-08, so
    // that night's gap from 01:00 to 03:00 lasts one hour, and every later one two.
    let now = at("2026-03-07T12:00:00-05:00");
    let r = assess(&catalog, &Facts::default(), api, now);
    let c = r.check("oncall-coverage").unwrap();
    assert!(!c.passed);
    assert_eq!(
        c.reason,
        "nobody is on call from 2026-03-08 01:00 EST to 2026-03-08 03:00 EDT (14 gaps, 27 h in all, in the next 14 days)"
    );
    assert_eq!(
        c.fix.as_deref(),
        Some("add an override to schedule `ny-primary` from 2026-03-08 01:00 EST to 2026-03-08 03:00 EDT, or a layer that covers those hours")
    );
    // In the autumn the night of 2026-11-01 repeats 01:00: three hours uncovered.
    let r = assess(
        &catalog,
        &Facts::default(),
        api,
        at("2026-10-31T12:00:00-04:00"),
    );
    assert_eq!(
        r.check("oncall-coverage").unwrap().reason,
        "nobody is on call from 2026-11-01 01:00 EDT to 2026-11-01 03:00 EST (14 gaps, 29 h in all, in the next 14 days)"
    );
    // An override for each night closes the gaps: an override counts as coverage.
    let mut facts = Facts::default();
    for d in 0..15 {
        facts.overrides.push(steward_store::Override {
            id: d,
            schedule: "ny-primary".into(),
            user: "ny".into(),
            starts_at: now + d * DAY,
            ends_at: now + (d + 1) * DAY,
            created_by: "user:ny".into(),
        });
    }
    let r = assess(&catalog, &facts, api, now);
    assert_eq!(
        r.check("oncall-coverage").unwrap().reason,
        "someone on `ny-primary` is on call at every hour of the next 14 days"
    );
}

/// A month of pages, generated: one page every 8 hours from 2026-10-17T00:00Z (90 pages),
/// every third one at 23:00 New York time. Each page is acknowledged after (i % 7 + 1)
/// minutes except every fifth, which nobody touches and which resolves by itself.
#[test]
fn alert_noise_figures_match_a_hand_count_over_a_generated_month() {
    let catalog = catalog_of(NEW_YORK);
    let api = catalog.service("api").unwrap();
    let now = at("2026-11-16T00:00:00Z");
    let start = now - 30 * DAY;
    let mut facts = Facts::default();
    for i in 0..90i64 {
        // Pages at 00:00, 08:00, 16:00 UTC: 19:00/20:00, 03:00/04:00, 11:00/12:00 New York
        // time (EDT until 2026-11-01, EST after): the 08:00 UTC one is at night there.
        let paged_at = start + i * 8 * 3600;
        let untouched = i % 5 == 0;
        facts.pages.push(PageRow {
            alert: i,
            service: Some("api".into()),
            policy: Some("ny".into()),
            paged_at,
            acknowledged_at: (!untouched).then_some(paged_at + (i % 7 + 1) * 60),
            acknowledged_by: (!untouched).then(|| "user:ny".to_string()),
            resolved_by: Some(
                if untouched {
                    "integration:prom"
                } else {
                    "user:ny"
                }
                .into(),
            ),
        });
    }
    // The restriction leaves 01:00–03:00 uncovered: who was paged then is the schedule's
    // zone anyway (New York). Hand count: 90 pages; 18 untouched (i = 0, 5, ..., 85);
    // night pages are those at 08:00 UTC: i % 3 == 1, 30 of them (03:00 or 04:00 local).
    // Acknowledged: 72, minutes (i % 7 + 1) for i not divisible by 5.
    let mut acks: Vec<i64> = (0..90)
        .filter(|i| i % 5 != 0)
        .map(|i| (i % 7 + 1) * 60)
        .collect();
    acks.sort_unstable();
    let median = (acks[35] + acks[36]) / 2;
    assert_eq!(
        median, 240,
        "hand count: the middle of 72 acknowledgement times"
    );
    let r = assess(&catalog, &facts, api, now);
    let c = r.check("alert-noise").unwrap();
    assert_eq!(
        c.reason,
        "90 pages in 30 days (21.0 a week), 18 nobody acted on (20 %), 30 at night (7.0 a week), \
         median time to acknowledge 4.0 min: 21.0 pages a week is above the limit of 10; \
         7.0 night pages a week (22:00–07:00 where the paged person lives) is above the limit of 1"
    );
    assert!(!c.passed);
    // A Policy's own limits apply where stricter: 15 % unacted and a 3-minute median.
    let strict = format!(
        "{NEW_YORK}---\napiVersion: steward/v1\nkind: Policy\nmetadata: {{name: strict}}\nspec:\n  select: {{tier: [1]}}\n  require: {{checks: [alert-noise]}}\n  alertNoise: {{pagesPerWeek: 100, unactedShare: 0.15, nightPagesPerWeek: 50, medianAck: 3m}}\n"
    );
    let catalog = catalog_of(&strict);
    let r = assess(&catalog, &facts, catalog.service("api").unwrap(), now);
    assert_eq!(
        r.check("alert-noise").unwrap().reason,
        "90 pages in 30 days (21.0 a week), 18 nobody acted on (20 %), 30 at night (7.0 a week), \
         median time to acknowledge 4.0 min: 20 % of pages nobody acted on is above the limit of 15 %; \
         the median time to acknowledge, 4.0 min, is above the limit of 3.0 min"
    );
}

#[test]
fn a_service_without_pages_passes_alert_noise_and_overdue_items_fail_action_items() {
    let catalog = shop();
    let mut facts = shop_facts(&catalog);
    facts.overdue.push(steward_store::OverdueItem {
        id: 7,
        service: "checkout".into(),
        title: "add a timeout to the payment client".into(),
        due_at: now() - 3 * DAY,
    });
    let r = assess(
        &catalog,
        &facts,
        catalog.service("checkout").unwrap(),
        now(),
    );
    assert_eq!(
        reason(&r, "alert-noise"),
        "0 pages in 30 days (0.0 a week), 0 nobody acted on (0 %), 0 at night (0.0 a week), median time to acknowledge none"
    );
    assert_eq!(
        reason(&r, "action-items"),
        "1 overdue action item: #7 \"add a timeout to the payment client\" (due 2026-11-13, 3 days ago)"
    );
    assert_eq!(r.level, Level::Intermediate);
}

/// A ticketing Policy: each required check that fails has one open ticket alert, resolved
/// when it passes; a new Alerting over the same store (a restart, a reload) neither loses
/// nor repeats one.
#[test]
fn a_ticketing_policy_keeps_one_ticket_per_failing_check_across_restarts() {
    use std::sync::Arc;
    use steward_engine::alerting::{AlertOptions, Alerting};
    use steward_store::{AlertFilter, Evidence, Store};
    let yaml = format!(
        "{NEW_YORK}---\napiVersion: steward/v1\nkind: ServiceClass\nmetadata: {{name: db}}\nspec: {{controls: [{{control: backups, owner: provider, evidence: {{kind: restore-drill, every: 30d}}}}]}}\n---\napiVersion: steward/v1\nkind: Service\nmetadata: {{name: db}}\nspec: {{owner: night, escalationPolicy: ny, tier: 2, class: db}}\n---\napiVersion: steward/v1\nkind: Policy\nmetadata: {{name: drills}}\nspec: {{select: {{class: [db]}}, require: {{checks: [recovery-test]}}, tickets: true}}\n"
    );
    let catalog = Arc::new(catalog_of(&yaml));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("s.db").display())).unwrap();
    let start = || {
        Arc::new(Alerting::new(
            catalog.clone(),
            store.clone(),
            AlertOptions::default(),
            Arc::new(steward_engine::Metrics::default()),
        ))
    };
    let tickets = |status: bool| {
        store
            .transact(move |tx| {
                tx.alerts(&AlertFilter {
                    source: Some("readiness".into()),
                    unresolved: status,
                    ..AlertFilter::default()
                })
            })
            .unwrap()
    };
    let t = now();
    let a = start();
    a.readiness_pass(t).unwrap();
    let open = tickets(true);
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].dedup_key, "readiness/db/recovery-test");
    assert_eq!(open[0].summary, "db: readiness check `recovery-test` fails");
    assert_eq!(open[0].urgency, steward_model::Severity::Ticket);
    assert_eq!(open[0].service.as_deref(), Some("db"));
    // Restarted: the ticket stays one.
    let b = start();
    b.readiness_pass(t + 60).unwrap();
    b.readiness_pass(t + 120).unwrap();
    assert_eq!(tickets(true).len(), 1);
    assert_eq!(tickets(false).len(), 1, "no second ticket was opened");
    // The drill is done: the ticket resolves.
    store
        .transact(move |tx| {
            tx.add_evidence(&Evidence {
                id: 0,
                service: "db".into(),
                customer: None,
                control: "backups".into(),
                link: "https://wiki.example.com/drill".into(),
                note: String::new(),
                done_at: t + 150,
                recorded_by: "user:ny".into(),
                recorded_at: t + 150,
            })
        })
        .unwrap();
    b.readiness_pass(t + 180).unwrap();
    assert_eq!(tickets(true).len(), 0);
    // 31 days later it has expired: a new ticket.
    b.readiness_pass(t + 150 + 31 * DAY).unwrap();
    assert_eq!(tickets(true).len(), 1);
    assert_eq!(tickets(false).len(), 2);
    // The day's snapshot is kept.
    let days = store
        .transact(|tx| tx.readiness_days("db", "2000-01-01"))
        .unwrap();
    assert_eq!(days.len(), 2, "{days:?}");
    assert_eq!(days[0].day, "2026-11-16");
    assert!(days[1].failing.contains(&"recovery-test".to_string()));
    assert_eq!(b.last_readiness().len(), 2);
    // A reload without the ticketing policy: its ticket resolves.
    let calm = Arc::new(catalog_of(&yaml.replace("tickets: true", "tickets: false")));
    let c = Arc::new(Alerting::new(
        calm,
        store.clone(),
        AlertOptions::default(),
        Arc::new(steward_engine::Metrics::default()),
    ));
    c.readiness_pass(t + 150 + 31 * DAY + 60).unwrap();
    assert_eq!(tickets(true).len(), 0);
    assert_eq!(tickets(false).len(), 2);
}

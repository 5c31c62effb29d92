//! What a user sees for a wrong configuration: every error, each at its file:line:col.

use expect_test::{expect, Expect};
use steward_config::{catalog, parse_text, Diagnostics, Scope};

fn check(files: &[(&str, &str)], expect: Expect) {
    let mut diags = Diagnostics::default();
    let mut docs = Vec::new();
    for (file, text) in files {
        docs.extend(parse_text(file, text, &mut diags));
    }
    catalog::build(&docs, Scope::Complete, &mut diags);
    let out: Vec<String> = diags.items.iter().map(|d| d.to_string()).collect();
    expect.assert_eq(&out.join("\n"));
}

const SLO_HEAD: &str = "apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
spec:
";

#[test]
fn the_shop_example_is_valid() {
    let loaded = steward_config::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/shop"
    )))
    .unwrap();
    let names: Vec<&str> = loaded
        .catalog
        .slos
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "checkout-availability",
            "payments-authorisation",
            "search-latency",
            "catalog-db-queries"
        ]
    );
    assert_eq!(loaded.catalog.services.len(), 4);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn unknown_fields_wrong_types_and_impossible_values_are_all_reported() {
    let text = format!(
        "{SLO_HEAD}  service: checkout
  indicatorRef: requests
  timeWindow:
    - duration: 0d
      isRolling: true
  budgetingMethod: Ocurrences
  objectives:
    - target: 1.0
    - targetPercent: 99.9
      colour: blue
"
    );
    check(
        &[("slo.yaml", &text)],
        expect![[r#"
            slo.yaml:9:17: timeWindow.duration `0d` is not a duration; write a positive whole number and a unit: m (minutes), h, d, w, M (months), Q, Y — e.g. 30d
            slo.yaml:11:20: budgetingMethod `Ocurrences` is not one of Occurrences, Timeslices, RatioTimeslices
            slo.yaml:13:15: target 1 is impossible: an SLO target must be above 0 and below 1 (100%); a target of 100% leaves no error budget
            slo.yaml:15:7: unknown field `colour` in objective; expected one of: displayName, op, target, targetPercent, timeSliceTarget, timeSliceWindow, value
            slo.yaml:6:12: service `checkout` does not exist; declare a Service named `checkout` or fix the name
            slo.yaml:7:17: indicatorRef `requests` does not exist; declare a SLI named `requests` or fix the name"#]],
    );
}

#[test]
fn dangling_references_and_duplicate_names_point_at_their_source() {
    let services = "apiVersion: steward/v1
kind: Service
metadata:
  name: checkout
spec:
  owner: nobody
  tier: 5
  dependsOn: [payments, checkout]
---
apiVersion: steward/v1
kind: Service
metadata:
  name: checkout
spec:
  owner: nobody
  tier: 1
";
    check(
        &[("services.yaml", services)],
        expect![[r#"
            services.yaml:7:9: tier 5 is out of range; use 1 (most critical) to 4
            services.yaml:13:9: steward/v1 Service `checkout` is declared twice; the first is at services.yaml:4:9
            services.yaml:6:10: owner team `nobody` does not exist; declare a Team named `nobody` or fix the name
            services.yaml:8:15: dependency `payments` does not exist; declare a Service named `payments` or fix the name
            services.yaml:8:25: service `checkout` depends on itself
            services.yaml:15:10: owner team `nobody` does not exist; declare a Team named `nobody` or fix the name"#]],
    );
}

#[test]
fn yaml_syntax_errors_and_unknown_kinds() {
    check(
        &[
            ("broken.yaml", "apiVersion: openslo/v1\nkind: [SLO\n"),
            (
                "kind.yaml",
                "apiVersion: steward/v1\nkind: Pager\nmetadata: {name: x}\nspec: {}\n",
            ),
        ],
        expect![[r#"
            broken.yaml:3:1: YAML syntax error: while parsing a flow sequence, expected ',' or ']'
            kind.yaml:2:7: unknown kind `Pager` for steward/v1; expected one of: Service, Team, User, Customer, SingleSignOn, Schedule, EscalationPolicy, Integration, InhibitRule, Route, MaintenanceWindow, Runbook, ErrorBudgetPolicy, ServiceClass, Policy"#]],
    );
}

#[test]
fn time_slices_must_fit_the_store_resolution() {
    let text = format!(
        "{SLO_HEAD}  service: checkout
  indicator:
    metadata: {{name: requests}}
    spec:
      ratioMetric:
        total: {{metricSource: {{spec: {{}}}}}}
        good: {{metricSource: {{spec: {{}}}}}}
  timeWindow:
    - duration: 7d
      isRolling: true
  budgetingMethod: Timeslices
  objectives:
    - target: 0.99
      timeSliceTarget: 0.9
      timeSliceWindow: 7
"
    );
    check(
        &[("slo.yaml", &text)],
        expect![[r#"
            slo.yaml:6:12: service `checkout` does not exist; declare a Service named `checkout` or fix the name
            slo.yaml:18:13: timeSliceWindow of 7s is not a multiple of 5 seconds, the resolution Steward stores samples at"#]],
    );
}

fn slo_with(window: &str, target: &str) -> String {
    format!(
        "{SLO_HEAD}  service: checkout
  indicator:
    metadata:
      name: requests
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: steward
            spec: {{}}
        total:
          metricSource:
            type: steward
            spec: {{}}
  timeWindow:
{window}
  budgetingMethod: Occurrences
  objectives:
    - target: {target}
"
    )
}

/// Problem 4 of the spine issue: each of these panicked or ate memory in `serve`; each is now
/// an error at its position.
#[test]
fn hostile_durations_windows_and_targets_are_errors_not_panics() {
    let multibyte_unit = slo_with("    - duration: 28日\n      isRolling: true", "0.99");
    let huge_calendar = slo_with(
        "    - duration: 20000Y\n      calendar:\n        startTime: 2022-01-01 00:00:00\n        timeZone: UTC",
        "0.99",
    );
    let huge_rolling = slo_with("    - duration: 99999w\n      isRolling: true", "0.99");
    let far_start = slo_with(
        "    - duration: 1M\n      calendar:\n        startTime: 9999-01-01 00:00:00\n        timeZone: UTC",
        "0.99",
    );
    let extreme_target = slo_with(
        "    - duration: 28d\n      isRolling: true",
        "0.9999999999995",
    );
    check(
        &[
            (
                "service.yaml",
                "apiVersion: openslo/v1\nkind: Service\nmetadata:\n  name: checkout\nspec: {}\n",
            ),
            ("multibyte.yaml", &multibyte_unit),
            (
                "calendar.yaml",
                &huge_calendar.replace("checkout-availability", "b"),
            ),
            (
                "rolling.yaml",
                &huge_rolling.replace("checkout-availability", "c"),
            ),
            (
                "start.yaml",
                &far_start.replace("checkout-availability", "d"),
            ),
            (
                "target.yaml",
                &extreme_target.replace("checkout-availability", "e"),
            ),
        ],
        expect![[r#"
            multibyte.yaml:22:17: timeWindow.duration `28日` is not a duration; write a positive whole number and a unit: m (minutes), h, d, w, M (months), Q, Y — e.g. 30d
            start.yaml:24:20: calendar.startTime `9999-01-01 00:00:00` must be in the years 1970 to 2100
            target.yaml:26:15: target 0.9999999999995 is above the highest target Steward takes, 0.999999999 (nine nines): its error budget would be too small to compute
            calendar.yaml:22:17: a window of 20000Y is longer than the 366d Steward can hold; use a window of at most a year
            rolling.yaml:22:17: a window of 99999w is longer than the 366d Steward can hold; use a window of at most a year"#]],
    );
}

#[test]
fn the_shop_example_declares_its_on_call() {
    let loaded = steward_config::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/shop"
    )))
    .unwrap();
    let c = &loaded.catalog;
    assert_eq!(c.users.len(), 5);
    assert_eq!(c.schedules.len(), 2);
    assert_eq!(c.policies.len(), 2);
    assert_eq!(c.integrations.len(), 2);
    assert_eq!(
        c.service("checkout").unwrap().escalation_policy.as_deref(),
        Some("storefront")
    );
    let p = c.policy("storefront").unwrap();
    assert_eq!((p.steps.len(), p.steps[0].delay, p.repeat), (2, 300, 1));
}

const ONCALL_HEAD: &str = "apiVersion: steward/v1\n";

#[test]
fn on_call_documents_report_every_mistake_at_its_place() {
    let text = format!(
        "{ONCALL_HEAD}kind: User
metadata: {{name: ann}}
spec:
  timeZone: Mars/Olympus
  contacts:
    - {{type: pager, url: x}}
    - {{type: slack, url: ftp://x}}
---
{ONCALL_HEAD}kind: Schedule
metadata: {{name: primary}}
spec:
  layers:
    - participants: [ann, nobody]
      shift: 3m
      start: 2026-13-01
      handoff: \"25:00\"
      restrictions:
        - {{days: [funday], from: \"09:00\", to: \"17:00\"}}
---
{ONCALL_HEAD}kind: EscalationPolicy
metadata: {{name: p}}
spec:
  repeat: 99
  steps:
    - delay: 2d
      targets: [{{user: ghost}}, {{phone: 123}}]
---
{ONCALL_HEAD}kind: Integration
metadata: {{name: am}}
spec:
  kind: nagios
  service: nowhere
  key: {{value: short}}
---
{ONCALL_HEAD}kind: Integration
metadata: {{name: env}}
spec:
  kind: webhook
  key: {{env: STEWARD_TEST_SURELY_UNSET_VARIABLE}}
---
{ONCALL_HEAD}kind: InhibitRule
metadata: {{name: i}}
spec:
  sourceMatchers: [\"severity=~(\"]
  targetMatchers: [\"severity\"]
"
    );
    check(
        &[("oncall.yaml", &text)],
        expect![[r#"
            oncall.yaml:5:13: `Mars/Olympus` is not a time zone; use an IANA name such as Europe/Berlin or America/New_York
            oncall.yaml:7:14: contact type `pager` is not one of webhook, slack, teams, email
            oncall.yaml:8:26: contact url `ftp://x` is not an http:// or https:// URL
            oncall.yaml:16:14: a shift is a number of hours, days or weeks, e.g. 12h, 1d or 1w
            oncall.yaml:17:14: start `2026-13-01` is not a date between 1970 and 2100; write YYYY-MM-DD
            oncall.yaml:18:16: handoff `25:00` is not a time of day; write HH:MM, e.g. 09:00
            oncall.yaml:20:19: `funday` is not a weekday; write monday … sunday or mon … sun
            oncall.yaml:26:11: repeat 99 is out of range; use 0 to 20
            oncall.yaml:28:14: delay `2d` is not a step delay; write seconds, minutes or hours up to 1d, e.g. 30s, 5m or 1h
            oncall.yaml:29:32: a target is one of {user: NAME}, {schedule: NAME} or {webhook: URL}
            oncall.yaml:29:33: unknown field `phone` in target; expected one of: schedule, user, webhook
            oncall.yaml:35:9: integration kind `nagios` is not one of alertmanager, pagerduty, webhook, heartbeat
            oncall.yaml:37:8: the key must be at least 16 characters, without spaces
            oncall.yaml:44:14: the environment variable `STEWARD_TEST_SURELY_UNSET_VARIABLE` that holds this key is not set
            oncall.yaml:50:20: the regex of `severity` is invalid: regex parse error:
                ^(?:()$
                 ^
            error: unclosed group
            oncall.yaml:51:20: `severity` is not a matcher; write name=value, name!=value, name=~regex or name!~regex"#]],
    );
}

#[test]
fn runbooks_report_every_mistake_at_its_place() {
    let text = format!(
        "{ONCALL_HEAD}kind: Service
metadata: {{name: checkout}}
spec:
  owner: web
  tier: 1
  failureModes: [{{name: slow-db}}]
---
{ONCALL_HEAD}kind: Team
metadata: {{name: web}}
spec: {{members: []}}
---
{ONCALL_HEAD}kind: Runbook
metadata: {{name: rb}}
spec:
  service: checkout
  failureMode: full-disk
  alerts: [\"alertname\"]
  steps:
    - name: restart
      run: {{program: systemctl, args: [restart]}}
    - name: templated
      run: {{program: /bin/echo, args: [\"--host={{{{labels.host}}}}\", {{label: host}}, {{lable: x}}]}}
    - name: call
      run: {{http: {{method: BREW, url: \"ftp://x\"}}}}
      timeout: 2h
      approval: true
    - name: both
      run: {{program: /bin/true, http: {{url: \"http://x\"}}}}
  escalate: {{after: 30d, escalationPolicy: nobody}}
  maxRunsPerHour: 0
---
{ONCALL_HEAD}kind: Runbook
metadata: {{name: other}}
spec:
  service: nowhere
  steps: [{{name: look}}]
  approvers: [zed]
---
{ONCALL_HEAD}kind: Runbook
metadata: {{name: third}}
spec:
  service: checkout
  failureMode: full-disk
  steps: [{{name: fail over, run: {{http: {{url: \"https://ops.example.com/failover\"}}}}, approval: true}}]
---
{ONCALL_HEAD}kind: Runbook
metadata: {{name: fourth}}
spec:
  service: checkout
  failureMode: full-disk
  steps: [{{name: look}}]
---
{ONCALL_HEAD}kind: Runbook
metadata: {{name: fifth}}
spec:
  service: checkout
  automatic: true
  steps: [{{name: look}}]
"
    );
    check(
        &[("runbooks.yaml", &text)],
        expect![[r#"
            runbooks.yaml:20:12: `alertname` is not a matcher; write name=value, name!=value, name=~regex or name!~regex
            runbooks.yaml:23:22: program `systemctl` must be an absolute path: runbooks do not search PATH
            runbooks.yaml:25:40: argument `--host={{labels.host}}` looks like a template; an alert label is a whole argument of its own: {label: NAME}
            runbooks.yaml:25:81: argument is missing `label`
            runbooks.yaml:25:82: unknown field `lable` in argument; expected one of: label
            runbooks.yaml:27:28: method `BREW` is not one of GET, POST, PUT, PATCH, DELETE
            runbooks.yaml:27:39: url `ftp://x` is not an http:// or https:// URL
            runbooks.yaml:28:16: timeout `2h` is not a duration from 1s to 1h, e.g. 30s, 5m or 1h
            runbooks.yaml:31:12: run is either {program: /ABSOLUTE/PATH, args: [...]} or {http: {method, url, body}}
            runbooks.yaml:32:21: after `30d` is not a duration from 1s to 7d, e.g. 30s, 5m or 1h
            runbooks.yaml:33:19: maxRunsPerHour 0 is out of range; use 1 to 60
            runbooks.yaml:47:10: a step needs approval but the runbook names no approvers
            runbooks.yaml:63:10: an automatic runbook names the alerts it answers (alerts: [matchers]); it would run on every page of its service
            runbooks.yaml:39:12: service `nowhere` does not exist; declare a Service named `nowhere` or fix the name
            runbooks.yaml:41:15: approver `zed` does not exist; declare a User named `zed` or fix the name
            runbooks.yaml:56:16: service `checkout` declares no failure mode `full-disk`; it declares slow-db"#]],
    );
}

#[test]
fn the_openslo_v2alpha_budget_adjustments_read_as_the_draft_writes_them() {
    let shop = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/shop");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/fixtures/openslo/v2alpha/budget-adjustment.yaml"
    );
    let mut diags = Diagnostics::default();
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(shop).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        docs.extend(parse_text(&path.display().to_string(), &text, &mut diags));
    }
    let text = std::fs::read_to_string(fixture).expect("the fixtures are in testdata/");
    docs.extend(parse_text("budget-adjustment.yaml", &text, &mut diags));
    let catalog = catalog::build(&docs, Scope::Complete, &mut diags);
    assert!(!diags.has_errors(), "{:?}", diags.items);
    let a: Vec<(&str, &str, i64, i64, Vec<String>)> = catalog
        .budget_adjustments
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.service.as_str(),
                a.start,
                a.duration,
                catalog.objectives_for(&a.service, a.indicator.as_deref()),
            )
        })
        .collect();
    assert_eq!(
        a,
        [
            (
                "payments-db-upgrade",
                "payments",
                1_794_621_600, // 2026-11-14T02:00:00Z
                7200,
                vec!["payments-authorisation".to_string()]
            ),
            (
                "checkout-provider-outage",
                "checkout",
                1_793_624_700, // 2026-11-02T13:05:00Z
                42 * 60,
                vec!["checkout-availability".to_string()]
            ),
        ]
    );
}

#[test]
fn budget_adjustments_report_every_mistake_at_its_place() {
    let text = "apiVersion: openslo.com/v2alpha
kind: BudgetAdjustment
metadata: {name: a}
spec:
  service: checkout
  indicatorRef: nothing
  startTime: yesterday
  endTime: 2026-11-02T13:47:00Z
  duration: 2h
---
apiVersion: openslo.com/v2alpha
kind: BudgetAdjustment
metadata: {name: b}
spec:
  description: weekly
  service: checkout
  indicatorRef: nothing
  startTime: 2026-11-02T13:05:00Z
  duration: 2h
  rrule: FREQ=HOURLY
  timeZone: Mars/Base
---
apiVersion: openslo.com/v2alpha
kind: BudgetAdjustment
metadata: {name: c}
spec:
  description: known
  service: checkout
  indicatorRef: nothing
  startTime: 2026-11-02T13:05:00Z
  endTime: 2026-11-02T13:00:00Z
---
apiVersion: openslo.com/v2alpha
kind: BudgetAdjustment
metadata: {name: d}
spec:
  description: known
  service: checkout
  indicatorRef: nothing
  startTime: 2026-11-02T13:05:00Z
  duration: 1h
---
apiVersion: steward/v1
kind: Service
metadata: {name: checkout}
spec: {owner: web, tier: 1}
---
apiVersion: steward/v1
kind: Team
metadata: {name: web}
spec: {members: []}
";
    check(
        &[("adjust.yaml", text)],
        expect![[r#"
        adjust.yaml:5:10: BudgetAdjustment spec is missing `description`
        adjust.yaml:7:14: startTime `yesterday` is not an RFC 3339 time such as 2026-11-14T02:00:00Z
        adjust.yaml:9:13: a BudgetAdjustment has endTime or duration, not both
        adjust.yaml:20:10: rrule: FREQ `HOURLY` is not one of DAILY, WEEKLY, MONTHLY
        adjust.yaml:21:13: `Mars/Base` is not a time zone; use an IANA name such as Europe/Berlin
        adjust.yaml:31:12: endTime must be after startTime, and within 366 days of it
        adjust.yaml:39:17: indicatorRef `nothing` names no SLI or SLO of service `checkout`"#]],
    );
}

#[test]
fn roles_and_customers_must_be_known() {
    check(
        &[(
            "people.yaml",
            "apiVersion: steward/v1
kind: Customer
metadata: {name: acme}
spec:
  contacts: [{type: email, address: ops@acme.example}]
---
apiVersion: steward/v1
kind: User
metadata: {name: ann}
spec: {role: boss}
---
apiVersion: steward/v1
kind: User
metadata: {name: bob}
spec: {role: responder, customer: globex}
---
apiVersion: steward/v1
kind: Team
metadata: {name: t}
spec: {members: [bob]}
---
apiVersion: steward/v1
kind: Service
metadata: {name: shop}
spec: {owner: t, tier: 2, customer: initech}
",
        )],
        expect![[r#"
            people.yaml:10:14: role `boss` is not one of admin, responder, viewer
            people.yaml:15:35: customer `globex` does not exist; declare a Customer named `globex` or fix the name
            people.yaml:25:37: customer `initech` does not exist; declare a Customer named `initech` or fix the name"#]],
    );
}

#[test]
fn a_user_without_a_role_is_a_viewer() {
    let mut diags = Diagnostics::default();
    let docs = parse_text(
        "u.yaml",
        "apiVersion: steward/v1\nkind: User\nmetadata: {name: ann}\nspec: {}\n",
        &mut diags,
    );
    let catalog = catalog::build(&docs, Scope::Complete, &mut diags);
    assert!(!diags.has_errors(), "{:?}", diags.items);
    assert_eq!(catalog.users[0].role, steward_model::catalog::Role::Viewer);
    assert_eq!(catalog.users[0].customer, None);
}

#[test]
fn a_customers_user_cannot_be_an_admin() {
    check(
        &[(
            "people.yaml",
            "apiVersion: steward/v1
kind: Customer
metadata: {name: acme}
spec: {}
---
apiVersion: steward/v1
kind: User
metadata: {name: carl}
spec: {role: admin, customer: acme}
",
        )],
        expect!["people.yaml:9:14: a customer's user is a viewer or a responder; admin is the provider's role"],
    );
}

#[test]
fn dependency_cycles_classes_and_policies_are_checked() {
    let svc = |name: &str, deps: &str, extra: &str| {
        format!("apiVersion: steward/v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{owner: t, tier: 2, dependsOn: [{deps}]{extra}}}\n---\n")
    };
    let text = format!(
        "apiVersion: steward/v1\nkind: Team\nmetadata: {{name: t}}\nspec: {{members: []}}\n---\n{}{}{}{}{}",
        svc("a", "b", ""),
        svc("b", "c", ""),
        svc("c", "a", ", class: managed-dbase"),
        svc("d", "d", ""),
        "apiVersion: steward/v1
kind: ServiceClass
metadata: {name: db}
spec:
  controls:
    - {control: backups, owner: nobody, evidence: {kind: restore-drill, every: 2y}}
    - {control: backups, owner: customer}
---
apiVersion: steward/v1
kind: Policy
metadata: {name: p}
spec:
  select: {tier: [7], class: [dbx], customer: [nobody]}
  require: {checks: [runbook, owner], level: expert}
  alertNoise: {unactedShare: 2}
---
apiVersion: steward/v1
kind: Policy
metadata: {name: empty}
spec:
  require: {}
"
    );
    check(
        &[("c.yaml", &text)],
        expect![[r#"
            c.yaml:31:33: owner `nobody` is not one of provider, customer
            c.yaml:31:80: evidence.every `2y` is not a duration from 1s to 366d, e.g. 30s, 5m or 1h
            c.yaml:32:7: control `backups` is listed twice
            c.yaml:38:19: tier 7 is out of range; use 1 (most critical) to 4
            c.yaml:39:22: unknown check `runbook`; the checks are owner, oncall-coverage, escalation, slo, slo-paging, runbooks, runbook-rehearsal, recovery-test, responsibilities, evidence, action-items, alert-noise
            c.yaml:39:46: level `expert` is not one of beginner, intermediate, advanced
            c.yaml:40:30: unactedShare 2 is out of range; use 0 to 1
            c.yaml:46:12: require names no check and no level: add checks: [...] or level: intermediate
            c.yaml:24:39: service `d` depends on itself
            c.yaml:38:48: customer `nobody` does not exist; declare a Customer named `nobody` or fix the name
            c.yaml:38:31: class `dbx` does not exist; declare a ServiceClass named `dbx` or fix the name
            c.yaml:19:50: class `managed-dbase` does not exist; declare a ServiceClass named `managed-dbase` or fix the name
            c.yaml:9:39: dependency cycle: a → b → c → a; a service cannot depend on itself through others"#]],
    );
}

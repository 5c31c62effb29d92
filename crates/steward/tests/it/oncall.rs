//! On-call, silences, heartbeats, the console and the command line against a running server,
//! and the errors bad alert input gets.

use crate::support::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const HOOK_KEY: &str = "hook-key-0123456789abcdef";
const PD_KEY: &str = "pd-routing-key-0123456789";
const BEAT_KEY: &str = "beat-key-0123456789abcdef";

/// A tier-1 service whose schedule is covered on weekdays 09:00–17:00 in Berlin only, a
/// second user to override with, a heartbeat every 2 s, and a PagerDuty integration allowed
/// 3 events a minute.
fn config(dir: &Path, receiver: &str) -> PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("steward.yaml"),
        format!(
            r#"
apiVersion: steward/v1
kind: Team
metadata: {{name: web}}
spec: {{members: [ann, bob]}}
---
apiVersion: steward/v1
kind: Service
metadata: {{name: checkout}}
spec: {{owner: web, tier: 1, escalationPolicy: web}}
---
apiVersion: steward/v1
kind: User
metadata: {{name: ann}}
spec: {{role: responder, timeZone: Europe/Berlin, contacts: [{{type: webhook, url: "{receiver}"}}]}}
---
apiVersion: steward/v1
kind: User
metadata: {{name: bob}}
spec: {{role: responder, contacts: [{{type: webhook, url: "{receiver}"}}]}}
---
apiVersion: steward/v1
kind: Schedule
metadata: {{name: primary}}
spec:
  timeZone: Europe/Berlin
  layers:
    - name: office-hours
      participants: [ann]
      shift: 1w
      start: "2020-01-06"
      handoff: "09:00"
      restrictions: [{{days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}}]
---
apiVersion: steward/v1
kind: EscalationPolicy
metadata: {{name: web}}
spec:
  steps: [{{delay: 1h, targets: [{{schedule: primary}}, {{user: bob}}]}}]
---
apiVersion: steward/v1
kind: Integration
metadata: {{name: hook}}
spec: {{kind: webhook, service: checkout, key: {{value: {HOOK_KEY}}}}}
---
apiVersion: steward/v1
kind: Integration
metadata: {{name: pd}}
spec: {{kind: pagerduty, service: checkout, rateLimit: 3, key: {{value: {PD_KEY}}}}}
---
apiVersion: steward/v1
kind: Integration
metadata: {{name: nightly-backup}}
spec: {{kind: heartbeat, service: checkout, interval: 2s, key: {{value: {BEAT_KEY}}}}}
"#
        ),
    )
    .unwrap();
    config
}

fn cli(server: &Server, args: &[&str]) -> String {
    let out = steward()
        .args(args)
        .args(["--server", &server.base])
        .env("STEWARD_TOKEN", server.token_of("ann"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "steward {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_command_line_lists_acknowledges_and_resolves_alerts_and_manages_silences() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Receiver::start(Answer::Status(200));
    let server = Server::start_with(
        &config(dir.path(), &sink.url),
        &sqlite_url(dir.path()),
        &["--group-wait", "0s"],
    );
    let (status, body) = server.post_key(
        "/api/v1/integrations/webhook",
        HOOK_KEY,
        r#"[{"summary": "checkout is down", "dedup_key": "a"}, {"summary": "cart is slow", "dedup_key": "b", "severity": "ticket"}]"#,
    );
    assert_eq!(status, 202, "{body}");
    let table = cli(&server, &["alerts", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID  STATUS"), "{table}");
    assert!(
        lines[1].contains("open")
            && lines[1].contains("ticket")
            && lines[1].contains("cart is slow"),
        "{table}"
    );
    let ids: Vec<i64> = server
        .alerts("status=all")
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    let acked: Value = serde_json::from_str(&cli(
        &server,
        &["alerts", "ack", &ids[1].to_string(), "--output", "json"],
    ))
    .unwrap();
    assert_eq!(acked["alerts"][0]["status"], "acknowledged");
    assert_eq!(acked["alerts"][0]["acknowledged_by"], "user:ann");
    cli(
        &server,
        &[
            "alerts",
            "resolve",
            &ids[0].to_string(),
            &ids[1].to_string(),
        ],
    );
    assert_eq!(server.alerts("status=resolved").len(), 2);

    // Every page of checkout: ann responds, and such a broad silence needs an admin.
    let broad = [
        "silence",
        "add",
        "service=checkout",
        "severity=~page|critical",
        "--duration",
        "2h",
        "--comment",
        "deploy",
        "--output",
        "json",
    ];
    let refused = steward()
        .args(broad)
        .args(["--server", &server.base])
        .env("STEWARD_TOKEN", server.token_of("ann"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("it needs an admin"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let out = server
        .cli()
        .args(broad)
        .args(["--server", &server.base])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["state"], "active");
    assert_eq!(added["created_by"], "test-admin");
    let listed = cli(&server, &["silence", "list"]);
    assert!(
        listed.contains(r#"service="checkout",severity=~"page|critical""#),
        "{listed}"
    );
    // A page matching the silence is recorded and notifies no one.
    let (status, _) = server.post_key(
        "/api/v1/integrations/webhook",
        HOOK_KEY,
        r#"{"summary": "silenced page", "dedup_key": "c"}"#,
    );
    assert_eq!(status, 202);
    let silenced = server.alerts("status=open");
    assert!(
        silenced[0]["suppressed"]
            .as_str()
            .unwrap()
            .starts_with("silenced by silence"),
        "{silenced:?}"
    );
    let id = added["id"].as_i64().unwrap().to_string();
    let expired: Value = serde_json::from_str(&cli(
        &server,
        &["silence", "expire", &id, "--output", "json"],
    ))
    .unwrap();
    assert_eq!(expired["state"], "expired");
    let bad = server
        .cli()
        .args(["silence", "add", "service", "--server", &server.base])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("`service` is not a matcher"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn on_call_gaps_overrides_and_calendars_follow_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Receiver::start(Answer::Status(200));
    let config = config(dir.path(), &sink.url);
    let server = Server::start(&config, &sqlite_url(dir.path()));
    // Monday 2026-03-02 in Berlin (UTC+1): ann from 08:00 to 16:00 UTC.
    let (status, who) = server.get("/api/v1/oncall?schedule=primary&at=2026-03-02T10:00:00Z");
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["oncall"][0]["on_call"]["user"], "ann");
    assert_eq!(who["oncall"][0]["on_call"]["until"], "2026-03-02T16:00:00Z");
    assert_eq!(who["oncall"][0]["next"]["from"], "2026-03-03T08:00:00Z");
    let (_, night) = server.get("/api/v1/oncall?schedule=primary&at=2026-03-02T20:00:00Z");
    assert_eq!(night["oncall"][0]["on_call"], Value::Null);
    // After the change to summer time (2026-03-29) the hours stay 09:00–17:00 Berlin.
    let (_, summer) = server.get("/api/v1/oncall?schedule=primary&at=2026-03-30T10:00:00Z");
    assert_eq!(
        summer["oncall"][0]["on_call"]["until"],
        "2026-03-30T15:00:00Z"
    );

    let (_, gaps) = server
        .get("/api/v1/schedules/primary/gaps?from=2026-03-02T00:00:00Z&to=2026-03-03T00:00:00Z");
    assert_eq!(
        gaps["gaps"],
        json!([
            { "from": "2026-03-02T00:00:00Z", "to": "2026-03-02T08:00:00Z", "seconds": 28800 },
            { "from": "2026-03-02T16:00:00Z", "to": "2026-03-03T00:00:00Z", "seconds": 28800 },
        ])
    );
    // bob covers the evening.
    let (status, o) = server.post(
        "/api/v1/schedules/primary/overrides",
        r#"{"user": "bob", "from": "2026-03-02T16:00:00Z", "to": "2026-03-03T00:00:00Z"}"#,
    );
    assert_eq!(status, 201, "{o}");
    let (_, gaps) = server
        .get("/api/v1/schedules/primary/gaps?from=2026-03-02T00:00:00Z&to=2026-03-03T00:00:00Z");
    assert_eq!(gaps["gaps"].as_array().unwrap().len(), 1, "{gaps}");
    let (_, evening) = server.get("/api/v1/oncall?schedule=primary&at=2026-03-02T20:00:00Z");
    assert_eq!(evening["oncall"][0]["on_call"]["user"], "bob");
    let (status, bad) = server.post(
        "/api/v1/schedules/primary/overrides",
        r#"{"user": "nobody", "from": "2026-03-02T16:00:00Z", "to": "2026-03-03T00:00:00Z"}"#,
    );
    assert_eq!(
        (status, bad["error"]["message"].as_str()),
        (400, Some("there is no user `nobody`"))
    );

    // The same through the command line.
    let text = cli(
        &server,
        &[
            "oncall",
            "gaps",
            "primary",
            "--from",
            "2026-03-02T00:00:00Z",
            "--to",
            "2026-03-03T00:00:00Z",
        ],
    );
    assert!(
        text.contains("2026-03-02T00:00:00Z  2026-03-02T08:00:00Z  8.0"),
        "{text}"
    );
    let text = cli(
        &server,
        &[
            "oncall",
            "who",
            "--schedule",
            "primary",
            "--at",
            "2026-03-02T20:00:00Z",
        ],
    );
    assert!(
        text.lines().nth(1).unwrap().starts_with("primary   bob"),
        "{text}"
    );

    // Calendars, a year ahead: ann's weekday shifts, never more than 8 hours.
    let (status, ical) = server.get_text("/api/v1/users/ann/ical");
    assert_eq!(status, 200);
    assert!(
        ical.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"),
        "{ical}"
    );
    let events = ical.matches("BEGIN:VEVENT").count();
    assert!(
        (250..=265).contains(&events),
        "{events} weekday shifts in a year"
    );
    assert!(ical.contains("SUMMARY:On call: ann (primary)"));
    let (status, _) = server.get_text("/api/v1/schedules/primary/ical");
    assert_eq!(status, 200);
    let (status, missing) = server.get("/api/v1/schedules/nope/ical");
    assert_eq!(
        (status, missing["error"]["message"].as_str()),
        (404, Some("there is no schedule `nope`"))
    );

    // validate warns that the tier-1 service's on-call leaves gaps.
    let out = steward().args(["validate"]).arg(&config).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("warning: tier-1 service `checkout`: schedule `primary` leaves")
            && text.contains("uncovered in the next 14 days"),
        "{text}"
    );
}

#[test]
fn a_late_heartbeat_pages_and_its_ping_resolves_it() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Receiver::start(Answer::Status(200));
    let server = Server::start_with(
        &config(dir.path(), &sink.url),
        &sqlite_url(dir.path()),
        &["--group-wait", "0s"],
    );
    let (status, body) = server.post_key("/api/v1/heartbeats/nightly-backup", BEAT_KEY, "");
    assert_eq!(status, 200, "{body}");
    let open = server.wait_for("/api/v1/alerts?status=open", Duration::from_secs(10), |b| {
        b["alerts"].as_array().is_some_and(|a| !a.is_empty())
    });
    assert!(
        open["alerts"][0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("heartbeat nightly-backup is late"),
        "{open}"
    );
    sink.wait_for(1, Duration::from_secs(5));
    let (status, body) = server.post_key("/api/v1/heartbeats/nightly-backup", BEAT_KEY, "");
    assert_eq!(status, 200, "{body}");
    let pinged: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pinged["resolved"], open["alerts"][0]["id"]);
    // Another heartbeat's key, or another kind's, is refused.
    let (status, _) = server.post_key("/api/v1/heartbeats/nightly-backup", HOOK_KEY, "");
    assert_eq!(status, 401);
}

#[test]
fn the_console_shows_open_alerts_and_who_is_on_call_and_acknowledges() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Receiver::start(Answer::Status(200));
    let server = Server::start(&config(dir.path(), &sink.url), &sqlite_url(dir.path()));
    let (status, _) = server.post_key(
        "/api/v1/integrations/webhook",
        HOOK_KEY,
        r#"{"summary": "checkout <b>is</b> down"}"#,
    );
    assert_eq!(status, 202);
    let (status, page) = server.get_text("/");
    assert_eq!(status, 200);
    assert!(page.contains("<h2>Open alerts</h2>"), "{page}");
    assert!(
        page.contains("checkout &lt;b&gt;is&lt;/b&gt; down"),
        "escaped"
    );
    assert!(
        page.contains("<h2>On call</h2>") && page.contains("<td>primary</td>"),
        "{page}"
    );
    let id = server.alerts("status=open")[0]["id"].as_i64().unwrap();
    let (status, alert_page) = server.get_text(&format!("/alerts/{id}"));
    assert_eq!(status, 200);
    assert!(
        alert_page.contains(&format!(r#"action="/alerts/{id}/ack""#)),
        "{alert_page}"
    );
    let (status, _) = server.post_text(&format!("/alerts/{id}/ack"), "");
    assert_eq!(
        status, 200,
        "the button's POST is redirected back to the alert page"
    );
    assert_eq!(server.alerts("status=acknowledged").len(), 1);
}

#[test]
fn bad_alert_input_gets_a_clear_error_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Receiver::start(Answer::Status(200));
    let server = Server::start(&config(dir.path(), &sink.url), &sqlite_url(dir.path()));
    let err = |text: &str| -> String {
        let v: Value = serde_json::from_str(text).unwrap();
        v["error"]["message"].as_str().unwrap().to_string()
    };
    let (status, body) =
        server.post_key("/api/v1/integrations/webhook", "wrong-key-0123456789", "{}");
    assert_eq!(status, 401);
    assert!(
        err(&body).contains("not the key of an integration"),
        "{body}"
    );
    let (status, body) = server.post_key("/api/v1/integrations/alertmanager", HOOK_KEY, "{}");
    assert_eq!(
        status, 401,
        "a webhook key is not an Alertmanager key: {body}"
    );
    let (status, body) = server.post_key("/api/v1/integrations/webhook", HOOK_KEY, "[1, 2");
    assert_eq!(status, 400);
    assert!(err(&body).starts_with("the body is not JSON"), "{body}");
    let (status, body) = server.post_key(
        "/api/v1/integrations/webhook",
        HOOK_KEY,
        r#"{"summary": "x", "labels": {"a": 1}}"#,
    );
    assert_eq!(
        (status, err(&body)),
        (400, "events[0].labels.a must be a string".to_string())
    );
    let (status, body) = server.post_key(
        "/api/v1/integrations/webhook",
        HOOK_KEY,
        r#"{"action": "resolve"}"#,
    );
    assert_eq!(
        (status, err(&body)),
        (400, "events[0] needs a dedup_key to resolve".to_string())
    );
    let (status, body) = server.post_key("/api/v1/integrations/nagios", HOOK_KEY, "{}");
    assert_eq!(status, 404, "{body}");
    // PagerDuty: every reason, and 429 past the integration's rate limit.
    let (status, body) = post_text(
        &format!("{}/v2/enqueue", server.base),
        r#"{"routing_key": "pd-routing-key-0123456789", "event_action": "trigger", "payload": {"summary": "", "severity": "fatal"}}"#,
    );
    assert_eq!(status, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "invalid event");
    assert_eq!(
        v["errors"],
        json!([
            "'payload.summary' is missing or blank",
            "'payload.source' is missing or blank",
            "'payload.severity' is invalid (`fatal`); must be one of critical, error, warning, info"
        ])
    );
    let ok = r#"{"routing_key": "pd-routing-key-0123456789", "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info"}}"#;
    for _ in 0..3 {
        let (status, body) = post_text(&format!("{}/v2/enqueue", server.base), ok);
        assert_eq!(status, 202, "{body}");
    }
    let (status, body) = post_text(&format!("{}/v2/enqueue", server.base), ok);
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        "throttle event"
    );
    // Silences and alerts through the v1 API.
    let (status, body) = server.post(
        "/api/v1/silences",
        r#"{"matchers": ["service=~("], "duration": "1h"}"#,
    );
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("matchers[0]: the regex of `service` is invalid"),
        "{body}"
    );
    let (status, body) = server.post("/api/v1/silences", r#"{"matchers": ["a=b"], "startsAt": "2026-01-02T00:00:00Z", "endsAt": "2026-01-01T00:00:00Z"}"#);
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("endsAt must be after startsAt"))
    );
    // Found in review: silences that silence everything, or are over before they start.
    let (status, body) = server.post(
        "/api/v1/silences",
        r#"{"matchers": ["alertname=~.*", "team=\"\""], "duration": "1h"}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("matchers")
            || body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("every matcher"),
        "{body}"
    );
    let (status, body) = server.post("/api/v1/silences", r#"{"matchers": ["a=b"], "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2020-01-02T00:00:00Z"}"#);
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (
            400,
            Some("endsAt is in the past: the silence would never be active")
        )
    );
    // A NUL character no store keeps: refused, not a 503 to retry for ever.
    let (status, body) = server.post_key(
        "/api/v1/integrations/webhook",
        HOOK_KEY,
        r#"{"summary": "nul\u0000byte"}"#,
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.get("/api/v1/oncall?schedule=primary&at=9999-12-30T21:00:00Z");
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("at must be between 1970 and 2100"))
    );
    let (status, body) = server.get("/api/v1/alerts?status=burning");
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.post("/api/v1/alerts/999999/ack", "");
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (404, Some("there is no alert 999999"))
    );
    let (status, _) = server.post("/api/v1/alerts/-3/ack", "");
    assert_eq!(status, 404);
}

#[test]
fn email_notifications_go_through_the_smtp_relay_with_their_key_as_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Receiver::start(Answer::Status(200));
    let config = config(dir.path(), &sink.url);
    let text = std::fs::read_to_string(config.join("steward.yaml"))
        .unwrap()
        .replace(
            "metadata: {name: bob}\nspec: {role: responder, contacts: [{type: webhook,",
            "metadata: {name: bob}\nspec: {role: responder, contacts: [{type: email, address: bob@example.com}, {type: webhook,",
        );
    assert!(text.contains("bob@example.com"));
    std::fs::write(config.join("steward.yaml"), text).unwrap();
    let smtp = SmtpSink::start();
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let server = Server::start_with(
        &config,
        &sqlite_url(dir.path()),
        &[
            "--group-wait",
            "0s",
            "--smtp-url",
            &url,
            "--smtp-from",
            "Steward <steward@example.com>",
        ],
    );
    let (status, body) = server.post_key(
        "/api/v1/integrations/webhook",
        HOOK_KEY,
        r#"{"summary": "checkout is down\nreally", "dedup_key": "mail"}"#,
    );
    assert_eq!(status, 202, "{body}");
    let mails = smtp.wait_for(1, Duration::from_secs(10));
    let mail = &mails[0];
    assert!(mail.contains("To: bob@example.com"), "{mail}");
    assert!(
        mail.contains("From: Steward <steward@example.com>"),
        "{mail}"
    );
    assert!(
        mail.contains("Subject: [PAGE] checkout is down really"),
        "{mail}"
    );
    assert!(mail.contains("Message-ID: <steward-alert-"), "{mail}");
    assert!(
        mail.contains("Acknowledge: http://127.0.0.1:"),
        "the mail links to the acknowledgement: {mail}"
    );
    // A relay URL that cannot work is refused at start.
    let out = steward()
        .args(["serve", "--config"])
        .arg(&config)
        .args([
            "--db",
            &sqlite_url(&dir.path().join("other")),
            "--smtp-url",
            "ftp://x",
            "--smtp-from",
            "a@b.c",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the SMTP URL is not usable"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

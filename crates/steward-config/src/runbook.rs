//! The `steward/v1` Runbook: a known failure mode's symptoms, checks, remediation steps
//! (some executable, with guards) and escalation line.
//!
//! ```yaml
//! apiVersion: steward/v1
//! kind: Runbook
//! metadata: {name: checkout-pool-exhausted}
//! spec:
//!   service: checkout
//!   failureMode: pool-exhausted
//!   alerts: ["alertname=CheckoutErrors"]
//!   symptoms: ["5xx from checkout", "pool wait time above 1s"]
//!   checks: ["the db dashboard shows connections at the limit"]
//!   steps:
//!     - name: restart the pool
//!       run: {program: /usr/local/bin/pool-restart, args: ["--instance", {label: instance}]}
//!       timeout: 30s
//!     - name: fail over
//!       run: {http: {method: POST, url: "https://ops.example.com/failover"}}
//!       approval: true
//!   escalate: {after: 15m, onFailure: true, escalationPolicy: web}
//!   automatic: true
//!   maxRunsPerHour: 3
//!   approvers: [ann]
//! ```

use crate::docs::{read_description, read_name, Metadata, Name};
use crate::read::Reader;
use crate::yaml::{Node, Value};
use steward_model::matcher::Matcher;
use steward_model::runbook::{Action, Arg, EscalationLine, Runbook, RunbookStep};

#[derive(Clone, Debug, PartialEq)]
pub struct RunbookDoc {
    pub meta: Metadata,
    pub runbook: Runbook,
    pub service: Name,
    pub policy: Option<Name>,
    pub approvers: Vec<Name>,
    /// The failure mode's name, where it was written.
    pub failure_mode: Option<Name>,
}

/// The longest a step may run.
const MAX_TIMEOUT: i64 = 3600;

pub(crate) fn duration(r: &mut Reader<'_>, n: &Node, what: &str, max: i64) -> Option<i64> {
    let text = r.string(n, what)?;
    match steward_model::Duration::parse(&text).map(|d| d.secs()) {
        Ok(s) if s > 0 && s <= max => Some(s),
        _ => {
            r.error(
                n.mark,
                format!(
                    "{what} `{text}` is not a duration from 1s to {}, e.g. 30s, 5m or 1h",
                    steward_model::Duration::from_secs(max)
                ),
            );
            None
        }
    }
}

fn texts(r: &mut Reader<'_>, n: Option<&Node>, what: &str) -> Vec<String> {
    n.map(|n| r.strings(n, what).into_iter().map(|(s, _)| s).collect())
        .unwrap_or_default()
}

fn read_arg(r: &mut Reader<'_>, n: &Node) -> Option<Arg> {
    if let Value::Map(_) = n.value {
        let mut g = r.map(n, "argument")?;
        let label = g.required(r, "label").and_then(|l| r.string(l, "label"));
        g.finish(r);
        return label.map(Arg::Label);
    }
    let text = r.string(n, "argument")?;
    if text.contains("{{") || text.contains("${") {
        r.error(
            n.mark,
            format!("argument `{text}` looks like a template; an alert label is a whole argument of its own: {{label: NAME}}"),
        );
        return None;
    }
    Some(Arg::Text(text))
}

fn read_action(r: &mut Reader<'_>, n: &Node) -> Option<Action> {
    let mut f = r.map(n, "run")?;
    let program = f.get("program");
    let http = f.get("http");
    let args = f.get("args");
    f.finish(r);
    match (program, http) {
        (Some(p), None) => {
            let program = r.string(p, "program")?;
            if !program.starts_with('/') {
                r.error(
                    p.mark,
                    format!(
                        "program `{program}` must be an absolute path: runbooks do not search PATH"
                    ),
                );
                return None;
            }
            let mut out = Vec::new();
            let mut ok = true;
            for a in args.and_then(|a| r.list(a, "args")).unwrap_or_default() {
                match read_arg(r, a) {
                    Some(a) => out.push(a),
                    None => ok = false,
                }
            }
            ok.then_some(Action::Program { program, args: out })
        }
        (None, Some(h)) => {
            if let Some(a) = args {
                r.error(a.mark, "args belong to a program, not to an http request");
            }
            let mut g = r.map(h, "http")?;
            let method = match g.get("method") {
                Some(m) => {
                    let mark = m.mark;
                    r.string(m, "method").and_then(|m| {
                        if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()) {
                            Some(m)
                        } else {
                            r.error(
                                mark,
                                format!("method `{m}` is not one of GET, POST, PUT, PATCH, DELETE"),
                            );
                            None
                        }
                    })
                }
                None => Some("POST".into()),
            };
            let url = g.required(r, "url").and_then(|u| {
                let s = r.string(u, "url")?;
                if s.starts_with("http://") || s.starts_with("https://") {
                    Some(s)
                } else {
                    r.error(
                        u.mark,
                        format!("url `{s}` is not an http:// or https:// URL"),
                    );
                    None
                }
            });
            let body = g.get("body").and_then(|b| r.string(b, "body"));
            g.finish(r);
            Some(Action::Http {
                method: method?,
                url: url?,
                body,
            })
        }
        _ => {
            r.error(n.mark, "run is either {program: /ABSOLUTE/PATH, args: [...]} or {http: {method, url, body}}");
            None
        }
    }
}

pub fn read(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<RunbookDoc> {
    let mut f = r.map(spec, "Runbook spec")?;
    let _ = read_description(r, &mut f);
    let service = f
        .required(r, "service")
        .and_then(|n| read_name(r, n, "service"));
    let failure_mode = f
        .get("failureMode")
        .and_then(|n| read_name(r, n, "failureMode"));
    let alerts: Option<Vec<Matcher>> = match f.get("alerts") {
        Some(n) => {
            let mut out = Vec::new();
            let mut ok = true;
            for (text, mark) in r.strings(n, "alerts") {
                match Matcher::parse(&text) {
                    Ok(m) => out.push(m),
                    Err(e) => {
                        r.error(mark, e);
                        ok = false;
                    }
                }
            }
            ok.then_some(out)
        }
        None => Some(Vec::new()),
    };
    let symptoms = texts(r, f.get("symptoms"), "symptoms");
    let checks = texts(r, f.get("checks"), "checks");
    let mut steps = Vec::new();
    let mut ok = true;
    for s in f
        .required(r, "steps")
        .and_then(|n| r.list(n, "steps"))
        .unwrap_or_default()
    {
        let Some(mut g) = r.map(s, "step") else {
            ok = false;
            continue;
        };
        let name = g.required(r, "name").and_then(|n| r.string(n, "step name"));
        let description = g
            .get("description")
            .and_then(|n| r.string(n, "description"));
        let action = match g.get("run") {
            Some(n) => read_action(r, n).map(Some),
            None => Some(None),
        };
        let approval = match g.get("approval") {
            Some(n) => r.boolean(n, "approval"),
            None => Some(false),
        };
        let timeout = match g.get("timeout") {
            Some(n) => duration(r, n, "timeout", MAX_TIMEOUT),
            None => Some(60),
        };
        g.finish(r);
        match (name, action, approval, timeout) {
            (Some(name), Some(action), Some(approval), Some(timeout)) => steps.push(RunbookStep {
                name,
                description,
                action,
                approval,
                timeout,
            }),
            _ => ok = false,
        }
    }
    let mut policy = None;
    let escalate = match f.get("escalate") {
        Some(n) => r.map(n, "escalate").and_then(|mut g| {
            let after = g.get("after").map(|a| duration(r, a, "after", 7 * 86_400));
            let on_failure = match g.get("onFailure") {
                Some(b) => r.boolean(b, "onFailure"),
                None => Some(true),
            };
            policy = g
                .get("escalationPolicy")
                .and_then(|p| read_name(r, p, "escalationPolicy"));
            g.finish(r);
            let after = match after {
                Some(None) => return None,
                Some(Some(a)) => Some(a),
                None => None,
            };
            Some(EscalationLine {
                after,
                on_failure: on_failure?,
                policy: policy.as_ref().map(|p| p.name.clone()),
            })
        }),
        None => Some(EscalationLine {
            after: None,
            on_failure: true,
            policy: None,
        }),
    };
    let automatic = match f.get("automatic") {
        Some(n) => r.boolean(n, "automatic"),
        None => Some(false),
    };
    let max_runs = match f.get("maxRunsPerHour") {
        Some(n) => r.integer(n, "maxRunsPerHour").and_then(|v| {
            if (1..=60).contains(&v) {
                Some(v as u32)
            } else {
                r.error(
                    n.mark,
                    format!("maxRunsPerHour {v} is out of range; use 1 to 60"),
                );
                None
            }
        }),
        None => Some(3),
    };
    // `rehearse: {every: 30d}`: how long a rehearsal stays fresh.
    let rehearse_every = match f.get("rehearse") {
        Some(n) => r.map(n, "rehearse").and_then(|mut g| {
            let every = g
                .required(r, "every")
                .and_then(|e| duration(r, e, "rehearse.every", 366 * 86_400));
            g.finish(r);
            every
        }),
        None => Some(steward_model::runbook::REHEARSE_EVERY),
    };
    let approvers: Vec<Name> = f
        .get("approvers")
        .and_then(|n| r.list(n, "approvers"))
        .unwrap_or_default()
        .iter()
        .filter_map(|n| read_name(r, n, "approver"))
        .collect();
    f.finish(r);
    if automatic == Some(true) && alerts.as_ref().is_some_and(Vec::is_empty) {
        r.error(
            spec.mark,
            "an automatic runbook names the alerts it answers (alerts: [matchers]); it would run on every page of its service",
        );
        ok = false;
    }
    if steps.iter().any(|s| s.approval) && approvers.is_empty() {
        r.error(
            spec.mark,
            "a step needs approval but the runbook names no approvers",
        );
        ok = false;
    }
    let service = service?;
    if !ok {
        return None;
    }
    Some(RunbookDoc {
        runbook: Runbook {
            name: meta.name.name.clone(),
            service: service.name.clone(),
            failure_mode: failure_mode.as_ref().map(|f| f.name.clone()),
            alerts: alerts?,
            symptoms,
            checks,
            steps,
            escalate: escalate?,
            automatic: automatic?,
            max_runs_per_hour: max_runs?,
            approvers: approvers.iter().map(|a| a.name.clone()).collect(),
            rehearse_every: rehearse_every?,
        },
        meta,
        service,
        policy,
        approvers,
        failure_mode,
    })
}

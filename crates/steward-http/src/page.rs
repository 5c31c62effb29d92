//! `GET /`: the SLO overview, server-rendered, readable at a glance at 3am.

use crate::access::Actor;
use crate::access::Scope;
use crate::error::ApiError;
use crate::login::Csrf;
use crate::slos::rfc3339;
use crate::AppState;
use axum::extract::State;
use axum::response::Html;
use std::fmt::Write;
use steward_engine::SloReport;
use steward_model::BudgetCurve;

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2}%", x * 100.0)
    } else {
        "—".into()
    }
}

/// The error budget remaining over the SLO's window as it stands at `at`: 100 % at the top,
/// the 0 % line marked, overspend below it (down to -100 %).
fn chart(r: &SloReport, points: &[(i64, f64)], at: i64) -> String {
    let lowest = points.iter().map(|p| p.1).fold(0.0_f64, f64::min).max(-1.0);
    crate::charts::line_chart(&crate::charts::LineChart {
        title: &format!("error budget of {} remaining over its window", r.def.name),
        y_label: "budget left",
        from: r.def.window.period_at(at).start,
        to: at,
        points,
        y_min: lowest,
        y_max: 1.0,
        y_format: crate::charts::percent,
        marks: &[(0.0, "0 %")],
        zone: &jiff::tz::TimeZone::UTC,
    })
}

fn card(
    out: &mut String,
    r: &SloReport,
    curve: &[(i64, f64)],
    at: i64,
    excluded: &[(String, i64, i64)],
) {
    let d = &r.def;
    let s = &r.status;
    let remaining = s.budget.remaining_ratio;
    let firing: Vec<String> = s
        .alerts
        .iter()
        .zip(r.since)
        .filter(|(a, _)| a.firing)
        .map(|(a, since)| {
            format!(
                r#"<span class="badge {sev}">{sev} · {long}/{short} burn &gt; {f:.1}×{since}</span>"#,
                sev = a.rule.severity.as_str(),
                long = a.rule.long,
                short = a.rule.short,
                f = a.factor,
                since = since.map(|t| format!(" since {}", rfc3339(t))).unwrap_or_default()
            )
        })
        .collect();
    let state = if firing.iter().any(|f| f.contains("page")) {
        "page"
    } else if !firing.is_empty() {
        "ticket"
    } else {
        "ok"
    };
    let _ = write!(
        out,
        r#"<section class="slo {state}" id="{id}"><header><h2>{title}</h2><p class="meta">{name} · service <b>{service}</b> · objective {obj} over {window} ({method})</p></header>
<div class="row"><div class="budget"><span class="big">{rem}</span><span class="label">error budget left</span><span class="label">SLI {sli} · {total} {unit}</span></div>{chart}</div>
<table class="burn"><tr>{heads}</tr><tr>{cells}</tr></table>
<p class="alerts">{alerts}</p>{excluded}</section>"#,
        id = esc(&d.name),
        title = esc(d.display_name.as_deref().unwrap_or(&d.name)),
        name = esc(&d.name),
        service = esc(&d.service),
        obj = pct(d.objective.target()),
        window = esc(&d.window.describe()),
        method = d.method.as_str(),
        rem = pct(remaining),
        sli = s.window_counts.ratio().map_or("no data".into(), pct),
        total = s.window_counts.total,
        unit = if matches!(d.method, steward_model::BudgetingMethod::Occurrences) {
            "events"
        } else {
            "slice units"
        },
        chart = chart(r, curve, at),
        heads = s
            .burn_rates
            .iter()
            .map(|(w, _)| format!("<th>{w}</th>"))
            .collect::<String>(),
        cells = s
            .burn_rates
            .iter()
            .map(|(_, b)| format!(
                r#"<td class="{}">{b:.2}×</td>"#,
                if *b > 1.0 { "hot" } else { "" }
            ))
            .collect::<String>(),
        alerts = if firing.is_empty() {
            "no burn-rate condition firing".to_string()
        } else {
            firing.join(" ")
        },
        excluded = if excluded.is_empty() {
            String::new()
        } else {
            format!(
                r#"<p class="meta">not counted (budget adjustments): {}</p>"#,
                excluded
                    .iter()
                    .rev()
                    .take(5)
                    .map(|(n, a, b)| format!("{} {} – {}", esc(n), rfc3339(*a), rfc3339(*b)))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        },
    );
}

pub async fn index(
    State(app): State<AppState>,
    csrf: Csrf,
    scope: Scope,
) -> Result<Html<String>, ApiError> {
    // Drawing every card is heavy: it runs off the async workers.
    tokio::task::spawn_blocking(move || Html(render(&app, &csrf, &scope)))
        .await
        .map_err(|e| ApiError::internal(format!("drawing the console failed: {e}")))
}

/// Open alerts, newest first, and who is on call now and next for every schedule.
fn alerts_and_oncall(app: &AppState, out: &mut String, scope: &Scope) {
    let now = jiff::Timestamp::now().as_second();
    let customer = scope.customer().map(str::to_string);
    let of = customer.clone();
    if let Ok(incidents) = app
        .engine()
        .store()
        .transact(move |tx| tx.incidents_of(true, None, of.as_deref(), 50))
    {
        if !incidents.is_empty() {
            out.push_str(r#"<section class="panel"><h2>Open incidents</h2><table class="list"><tr><th>id</th><th>severity</th><th>service</th><th>title</th><th>started</th><th>status</th></tr>"#);
            for i in &incidents {
                let _ = write!(
                    out,
                    r#"<tr><td><a href="/incidents/{id}">{id}</a></td><td><b>{sev}</b></td><td>{svc}</td><td>{title}</td><td>{start}</td><td>{status}</td></tr>"#,
                    id = i.id,
                    sev = esc(&i.severity),
                    svc = esc(&i.service),
                    title = esc(&i.title),
                    start = rfc3339(i.started_at),
                    status = i.status.as_str(),
                );
            }
            out.push_str("</table></section>");
        }
    }
    let alerts = app.engine().store().transact(|tx| {
        tx.alerts(&steward_store::AlertFilter {
            unresolved: true,
            customer,
            limit: Some(50),
            ..Default::default()
        })
    });
    match alerts {
        Err(e) => {
            let _ = write!(
                out,
                r#"<p class="error">Alerts cannot be read now: {}</p>"#,
                esc(&e.to_string())
            );
        }
        Ok(alerts) if alerts.is_empty() => {
            out.push_str(r#"<section class="panel"><h2>Open alerts</h2><p>None.</p></section>"#)
        }
        Ok(alerts) => {
            out.push_str(r#"<section class="panel"><h2>Open alerts</h2><table class="list"><tr><th>id</th><th>severity</th><th>service</th><th>summary</th><th>since</th><th>status</th></tr>"#);
            for a in &alerts {
                let status = match (a.status, &a.suppressed) {
                    (_, Some(why)) => format!(
                        "quiet: {}",
                        esc(&crate::alerts::seen_text(
                            &why.to_string(),
                            scope,
                            app.engine().catalog()
                        ))
                    ),
                    (steward_store::AlertStatus::Acknowledged, _) => format!(
                        "acknowledged by {}",
                        esc(a.acknowledged_by.as_deref().unwrap_or("?"))
                    ),
                    _ => "<b>open</b>".into(),
                };
                let _ = write!(
                    out,
                    r#"<tr class="{sev}"><td><a href="/alerts/{id}">{id}</a></td><td>{sev}</td><td>{svc}</td><td>{sum}</td><td>{since}</td><td>{status}</td></tr>"#,
                    id = a.id,
                    sev = esc(&a.severity),
                    svc = esc(a.service.as_deref().unwrap_or("-")),
                    sum = esc(&a.summary),
                    since = rfc3339(a.opened_at),
                );
            }
            out.push_str("</table></section>");
        }
    }
    let engine = app.engine();
    let catalog = engine.catalog();
    // Schedules are the provider's staff's: a customer's user does not see them.
    if catalog.schedules.is_empty() || *scope != Scope::All {
        return;
    }
    let overrides = app
        .engine()
        .store()
        .transact(move |tx| tx.overrides(now - 400 * 86_400, now + 400 * 86_400))
        .unwrap_or_default();
    out.push_str(r#"<section class="panel"><h2>On call</h2><table class="list"><tr><th>schedule</th><th>now</th><th>until</th><th>next</th></tr>"#);
    for s in &catalog.schedules {
        let mine = steward_engine::alerting::shifts_of(&overrides, &s.name);
        let (current, next) = s.now_and_next(&mine, now);
        let (current, next) = (current.as_ref(), next.as_ref());
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.name),
            current.map_or("<b class=\"gap\">nobody</b>".to_string(), |c| format!(
                "<b>{}</b>",
                esc(&c.user)
            )),
            current.map_or("-".to_string(), |c| rfc3339(c.end)),
            next.map_or("-".to_string(), |n| format!(
                "{} from {}",
                esc(&n.user),
                rfc3339(n.start)
            )),
        );
    }
    out.push_str("</table></section>");
}

fn render(app: &AppState, csrf: &Csrf, scope: &Scope) -> String {
    let snap = app.engine().snapshot();
    let engine = app.engine();
    let seen = |r: &SloReport| scope.sees_service(engine.catalog(), &r.def.service);
    let mut body = String::new();
    alerts_and_oncall(app, &mut body, scope);
    let mut sorted: Vec<(&SloReport, &BudgetCurve)> =
        snap.slos_with_curves().filter(|(r, _)| seen(r)).collect();
    let shown = sorted.len();
    // What burns comes first: pages, then tickets, then the least budget left.
    sorted.sort_by(|(a, _), (b, _)| {
        let rank = |r: &SloReport| {
            let page = r
                .status
                .alerts
                .iter()
                .any(|a| a.firing && a.rule.severity == steward_model::Severity::Page);
            let any = r.status.alerts.iter().any(|a| a.firing);
            (!page, !any)
        };
        rank(a).cmp(&rank(b)).then(
            a.status
                .budget
                .remaining_ratio
                .total_cmp(&b.status.budget.remaining_ratio),
        )
    });
    let mut excluded: std::collections::HashMap<&str, Vec<(String, i64, i64)>> = Default::default();
    let exclusions = app.engine().exclusions();
    for e in exclusions.iter() {
        for o in &e.objectives {
            excluded.entry(o.as_str()).or_default().extend(
                e.intervals
                    .iter()
                    .filter(|(a, b)| *a <= snap.at && *b > snap.at - 30 * 86_400)
                    .map(|(a, b)| (e.adjustment.name.clone(), *a, *b)),
            );
        }
    }
    for (r, c) in sorted {
        let mut curve: Vec<(i64, f64)> = c.points().collect();
        curve.push((snap.at, r.status.budget.remaining_ratio));
        let none = Vec::new();
        card(
            &mut body,
            r,
            &curve,
            snap.at,
            excluded.get(r.def.name.as_str()).unwrap_or(&none),
        );
    }
    if shown == 0 {
        body.push_str("<p>No SLOs are configured. Add OpenSLO documents to the config directory and reload.</p>");
    }
    let firing = snap
        .slos()
        .filter(|r| seen(r) && r.status.alerts.iter().any(|a| a.firing))
        .count();
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="10"><title>Steward · {n} SLOs{burning}</title><style>{CSS}</style></head>
<body><h1>Steward <small>{n} SLOs · {firing} burning · evaluated {at}</small>{logout}</h1>{body}</body></html>"#,
        logout = if csrf.0.is_empty() {
            String::new()
        } else {
            format!(
                r#" <form class="inline" method="post" action="/logout">{}<button>Log out</button></form>"#,
                csrf.field()
            )
        },
        n = shown,
        burning = if firing > 0 {
            format!(" · {firing} burning")
        } else {
            String::new()
        },
        at = rfc3339(snap.at),
    )
}

const CSS: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:1.5rem;background:#f7f7f5;color:#222}
h1 small{font-weight:normal;color:#666;font-size:.6em;margin-left:.5em}
.slo{background:#fff;border-left:6px solid #1e8449;border-radius:6px;padding:.8rem 1rem;margin:0 0 1rem;box-shadow:0 1px 2px #0002}
.slo.page{border-color:#c0392b}.slo.ticket{border-color:#d68910}
h2{margin:0;font-size:1.15em}.meta{margin:.2rem 0 .6rem;color:#555}
.row{display:flex;gap:1.5rem;align-items:center;flex-wrap:wrap}
.budget{display:flex;flex-direction:column;min-width:10rem}.big{font-size:2em;font-weight:600}.label{color:#666}
.chart{margin:0;width:480px;max-width:100%}.chart svg{width:100%;height:auto;background:#fafafa;border:1px solid #eee}.chart line{stroke:#999}.chart text{font-size:10px;fill:#444}.chart .series{stroke:#1f618d;fill:#1f618d}.chart polyline.series{fill:none}.chart .alt{font-size:12px;color:#444;margin:2px 0 0}
table.burn{border-collapse:collapse;margin:.6rem 0}.burn th,.burn td{padding:.15rem .6rem;text-align:right;border-bottom:1px solid #eee}
.burn th{color:#666;font-weight:normal}.burn td.hot{color:#c0392b;font-weight:600}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:1rem;color:#fff;margin-right:.3rem}.badge.page{background:#c0392b}.badge.ticket{background:#d68910}
.alerts{margin:.2rem 0 0;color:#555}
.panel{background:#fff;border-radius:6px;padding:.8rem 1rem;margin:0 0 1rem;box-shadow:0 1px 2px #0002}
.sent-all{display:flex;gap:1rem;flex-wrap:wrap}.sent{flex:1 1 22rem;min-width:0}.sent pre{white-space:pre-wrap;word-break:break-word;background:#f4f4f1;padding:.5rem;max-height:24rem;overflow:auto}.sent pre.said{background:#fff;border-left:3px solid #888;font:inherit}
table.list{border-collapse:collapse;width:100%}.list th,.list td{padding:.2rem .5rem;text-align:left;border-bottom:1px solid #eee}
.list th{color:#666;font-weight:normal}.list tr.page td:nth-child(2){color:#c0392b;font-weight:600}.gap{color:#c0392b}
form.inline{display:inline}button{font:inherit;padding:.3rem .9rem;margin-right:.5rem}";

/// `GET /alerts/{id}`: one alert, its history, and buttons to acknowledge and resolve it: the
/// page a notification links to.
pub async fn alert(
    State(app): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    csrf: Csrf,
    scope: Scope,
) -> Result<Html<String>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("there is no alert `{id}`")))?;
    let store = app.engine().store().clone();
    let (alert, history, messages) = crate::alerts::blocking(move || {
        Ok(store.transact(move |tx| Ok((tx.alert(id)?, tx.history(id)?, tx.messages_of(id)?)))?)
    })
    .await?;
    let a = alert.ok_or_else(|| ApiError::not_found(format!("there is no alert {id}")))?;
    // Where notifications went are the provider's people's contacts.
    let messages = if scope == Scope::All {
        messages
    } else {
        Vec::new()
    };
    let mut rows = String::new();
    for e in &history {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            rfc3339(e.at),
            esc(&e.kind),
            esc(&e.actor),
            esc(&crate::alerts::seen_text(
                &e.detail,
                &scope,
                app.engine().catalog()
            ))
        );
    }
    // What each notification said, as its receiver got it (a webhook's JSON beside a chat
    // message's text), and whether it arrived.
    let mut sent = String::new();
    let outbox = app.engine().alerting.outbox.clone();
    for m in &messages {
        let body = serde_json::from_str::<serde_json::Value>(&m.payload)
            .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
            .unwrap_or_else(|_| m.payload.clone());
        let state = match (m.status, m.delivered_at) {
            (_, Some(at)) => format!("delivered {}", rfc3339(at)),
            (status, None) => format!(
                "{}{}",
                status.as_str(),
                m.last_error
                    .as_deref()
                    .map(|e| format!(": {}", steward_engine::alerting::redact_urls(e)))
                    .unwrap_or_default()
            ),
        };
        let _ = write!(
            sent,
            r#"<div class="sent"><p class="meta"><b>{channel}</b> to {dest} · {state}</p><pre class="said">{said}</pre><details><summary>as sent</summary><pre>{body}</pre></details></div>"#,
            channel = m.channel,
            dest = esc(&steward_engine::alerting::redact(&m.destination)),
            state = esc(&state),
            said = esc(&outbox.notifier(m.channel).text(&m.payload)),
            body = esc(&body),
        );
    }
    if sent.is_empty() {
        sent.push_str("<p>None.</p>");
    }
    let runbook = match app
        .engine()
        .catalog()
        .runbook_for(a.service.as_deref(), &a.labels)
    {
        Some(r) => format!(
            r#" · runbook <a href="/runbooks/{n}">{n}</a>"#,
            n = esc(&r.name)
        ),
        None => String::new(),
    };
    let incident = match a.incident {
        Some(i) => format!(" · incident {i}"),
        None => String::new(),
    };
    let buttons = match a.status {
        steward_store::AlertStatus::Triggered => format!(
            r#"<form class="inline" method="post" action="/alerts/{id}/ack">{f}<button>Acknowledge</button></form><form class="inline" method="post" action="/alerts/{id}/resolve">{f}<button>Resolve</button></form>"#,
            f = csrf.field()
        ),
        steward_store::AlertStatus::Acknowledged => format!(
            r#"<form class="inline" method="post" action="/alerts/{id}/resolve">{f}<button>Resolve</button></form>"#,
            f = csrf.field()
        ),
        steward_store::AlertStatus::Resolved => String::new(),
    };
    Ok(Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Alert {id} · Steward</title><style>{CSS}</style></head>
<body><p><a href="/">← Steward</a></p><section class="panel"><h1>[{sev}] {sum}</h1><p class="meta">alert {id} · service <b>{svc}</b> · {status} · opened {opened} · from {source}{runbook}{incident}</p><p>{buttons}</p><pre>{details}</pre></section>
<section class="panel"><h2>Notifications</h2><div class="sent-all">{sent}</div></section>
<section class="panel"><h2>History</h2><table class="list"><tr><th>at</th><th>what</th><th>who</th><th>detail</th></tr>{rows}</table></section></body></html>"#,
        sev = esc(&a.severity.to_uppercase()),
        sum = esc(&a.summary),
        svc = esc(a.service.as_deref().unwrap_or("-")),
        status = crate::alerts::status_name(a.status),
        opened = rfc3339(a.opened_at),
        source = esc(&a.source),
        details = esc(&serde_json::from_str::<serde_json::Value>(&a.details)
            .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
            .unwrap_or_default()),
    )))
}

/// `POST /alerts/{id}/ack` and `/resolve` from the console's buttons: done, then back to the
/// alert's page.
pub async fn alert_action(
    State(app): State<AppState>,
    axum::extract::Path((id, action)): axum::extract::Path<(String, String)>,
    Actor(by): Actor,
) -> Result<axum::response::Redirect, ApiError> {
    let n: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("there is no alert `{id}`")))?;
    let status = match action.as_str() {
        "ack" => steward_store::AlertStatus::Acknowledged,
        "resolve" => steward_store::AlertStatus::Resolved,
        other => {
            return Err(ApiError::not_found(format!(
                "there is no action `{other}`; use ack or resolve"
            )))
        }
    };
    let alerting = app.engine().alerting.clone();
    // A click on the console; who clicked, when a proxy in front says so.
    let who = if by == "user:api" {
        "user:console".to_string()
    } else {
        by
    };
    crate::alerts::blocking(move || {
        Ok(alerting.set_status(n, status, who, crate::alerts::now())?)
    })
    .await?;
    Ok(axum::response::Redirect::to(&format!("/alerts/{n}")))
}

/// `GET /runbooks/{name}`: a runbook as the on-call reads it at 3am.
pub async fn runbook(
    State(app): State<AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Html<String>, ApiError> {
    let store = app.engine().store().clone();
    let rehearsed =
        crate::alerts::blocking(move || Ok(store.transact(|tx| tx.last_rehearsals())?)).await?;
    let engine = app.engine();
    let catalog = engine.catalog();
    let r = catalog
        .runbook(&name)
        .ok_or_else(|| ApiError::not_found(format!("there is no runbook `{name}`")))?;
    let rehearsal = match rehearsed.iter().find(|(n, _)| *n == r.name) {
        Some((_, at)) => format!(
            "last rehearsed {} ago ({})",
            steward_engine::alerting::postmortem::span(crate::alerts::now() - at),
            rfc3339(*at)
        ),
        None => "<b>never rehearsed</b>: steward runbook rehearse NAME".to_string(),
    };
    let list = |items: &[String]| -> String {
        items
            .iter()
            .map(|i| format!("<li>{}</li>", esc(i)))
            .collect()
    };
    let mut steps = String::new();
    for s in &r.steps {
        let what = match &s.action {
            None => "by hand".to_string(),
            Some(steward_model::runbook::Action::Program { program, .. }) => {
                format!("runs <code>{}</code>", esc(program))
            }
            Some(steward_model::runbook::Action::Http { method, url, .. }) => {
                format!("{} <code>{}</code>", esc(method), esc(url))
            }
        };
        let _ = write!(
            steps,
            "<li><b>{}</b> ({what}{}){}</li>",
            esc(&s.name),
            if s.approval { ", needs approval" } else { "" },
            s.description
                .as_deref()
                .map(|d| format!("<br>{}", esc(d)))
                .unwrap_or_default()
        );
    }
    let line = &r.escalate;
    let escalate = format!(
        "Page a human{}{} through {}.",
        line.after
            .map(|a| format!(
                " after {} without mitigation",
                steward_engine::alerting::postmortem::span(a)
            ))
            .unwrap_or_default(),
        if line.on_failure {
            ", or as soon as a step fails"
        } else {
            ""
        },
        esc(line
            .policy
            .as_deref()
            .unwrap_or("the service's escalation policy"))
    );
    Ok(Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Runbook {name} · Steward</title><style>{CSS}</style></head>
<body><p><a href="/">← Steward</a></p><section class="panel"><h1>Runbook {name}</h1><p class="meta">service <b>{svc}</b>{mode} · {rehearsal}</p>
<h2>Symptoms</h2><ul>{symptoms}</ul><h2>Checks</h2><ul>{checks}</ul><h2>Remediation</h2><ol>{steps}</ol><h2>When to escalate</h2><p>{escalate}</p></section></body></html>"#,
        name = esc(&r.name),
        svc = esc(&r.service),
        mode = r
            .failure_mode
            .as_deref()
            .map(|m| format!(" · failure mode <b>{}</b>", esc(m)))
            .unwrap_or_default(),
        symptoms = list(&r.symptoms),
        checks = list(&r.checks),
    )))
}

/// `GET /incidents/{id}`: an incident as the people running it read it — head, derived
/// times, roles, buttons, the timeline, and the postmortem once resolved.
pub async fn incident(
    State(app): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    csrf: Csrf,
    scope: Scope,
) -> Result<Html<String>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("there is no incident `{id}`")))?;
    let alerting = app.engine().alerting.clone();
    let mut v =
        crate::alerts::blocking(move || Ok(alerting.incident_view(id, crate::alerts::now())?))
            .await?;
    crate::incidents::for_scope(&mut v, &scope, app.engine().catalog());
    let i = &v.incident;
    let mut rows = String::new();
    for e in &v.timeline {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            rfc3339(e.at),
            esc(&e.kind),
            esc(e.actor.as_deref().unwrap_or("")),
            esc(&e.summary)
        );
    }
    let roles: Vec<String> = v
        .roles
        .iter()
        .map(|r| format!("{} <b>{}</b>", esc(&r.role), esc(&r.person)))
        .collect();
    let d = v.durations;
    let secs =
        |t: Option<i64>| t.map_or("—".to_string(), steward_engine::alerting::postmortem::span);
    let button = |action: &str, label: &str| {
        format!(
            r#"<form class="inline" method="post" action="/incidents/{id}/{action}">{f}<button>{label}</button></form>"#,
            f = csrf.field()
        )
    };
    let buttons = match i.status {
        steward_store::IncidentStatus::Triggered => {
            button("ack", "Acknowledge")
                + &button("mitigate", "Mitigated")
                + &button("resolve", "Resolve")
        }
        steward_store::IncidentStatus::Acknowledged => {
            button("mitigate", "Mitigated") + &button("resolve", "Resolve")
        }
        steward_store::IncidentStatus::Mitigated => button("resolve", "Resolve"),
        steward_store::IncidentStatus::Resolved => {
            format!(r#"<a href="/incidents/{id}/postmortem">Postmortem</a>"#)
        }
    };
    Ok(Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Incident {id} · Steward</title><style>{CSS}</style></head>
<body><p><a href="/">← Steward</a></p><section class="panel"><h1>[{sev}] {title}</h1><p class="meta">incident {id} · service <b>{svc}</b> · <b>{status}</b> · started {started}{roles}</p>
<p class="meta">time to acknowledge {tta} · to mitigate {ttm} · to resolve {ttr}{ttd}</p><p>{buttons}</p></section>
<section class="panel"><h2>Timeline</h2><table class="list"><tr><th>at</th><th>what</th><th>who</th><th>detail</th></tr>{rows}</table></section></body></html>"#,
        sev = esc(&i.severity),
        title = esc(&i.title),
        svc = esc(&i.service),
        status = i.status.as_str(),
        started = rfc3339(i.started_at),
        roles = if roles.is_empty() {
            String::new()
        } else {
            format!(" · {}", roles.join(", "))
        },
        tta = secs(d.time_to_acknowledge),
        ttm = secs(d.time_to_mitigate),
        ttr = secs(d.time_to_resolve),
        ttd = d
            .time_to_detect
            .map(|t| format!(
                " · detected after {}",
                steward_engine::alerting::postmortem::span(t)
            ))
            .unwrap_or_default(),
    )))
}

/// `POST /incidents/{id}/{ack|mitigate|resolve}` from the console's buttons.
pub async fn incident_action(
    State(app): State<AppState>,
    axum::extract::Path((id, action)): axum::extract::Path<(String, String)>,
    Actor(by): Actor,
) -> Result<axum::response::Redirect, ApiError> {
    let n: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("there is no incident `{id}`")))?;
    let to = match action.as_str() {
        "ack" => steward_store::IncidentStatus::Acknowledged,
        "mitigate" => steward_store::IncidentStatus::Mitigated,
        "resolve" => steward_store::IncidentStatus::Resolved,
        other => {
            return Err(ApiError::not_found(format!(
                "there is no action `{other}`; use ack, mitigate or resolve"
            )))
        }
    };
    let who = if by == "user:api" {
        "user:console".to_string()
    } else {
        by
    };
    let alerting = app.engine().alerting.clone();
    crate::alerts::blocking(move || {
        Ok(alerting.move_incident(n, to, who, crate::alerts::now())?)
    })
    .await?;
    Ok(axum::response::Redirect::to(&format!("/incidents/{n}")))
}

/// `GET /incidents/{id}/postmortem`: the postmortem's Markdown, as text to read and copy.
pub async fn postmortem(
    State(app): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    scope: Scope,
) -> Result<Html<String>, ApiError> {
    let md = crate::incidents::postmortem_markdown(&app, &id, &scope).await?;
    Ok(Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Postmortem · Steward</title><style>{CSS}</style></head>
<body><p><a href="/incidents/{id}">← incident</a></p><section class="panel"><pre>{}</pre></section></body></html>"#,
        esc(&md),
        id = esc(&id)
    )))
}

//! `GET /metrics`: SLO state and Steward's own counters in the Prometheus text format.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

/// Escapes a label value: backslash, double quote and newline.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn value(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        x.to_string()
    }
}

pub fn render(app: &AppState) -> String {
    let snap = app.engine().snapshot();
    let mut out = String::with_capacity(256 + snap.len() * 1024);
    let labels = |r: &steward_engine::SloReport| {
        format!(
            "slo=\"{}\",service=\"{}\"",
            esc(&r.def.name),
            esc(&r.def.service)
        )
    };
    family(
        &mut out,
        "steward_slo_objective_ratio",
        "gauge",
        "The SLO's target as a ratio.",
    );
    for r in snap.slos() {
        let _ = writeln!(
            out,
            "steward_slo_objective_ratio{{{}}} {}",
            labels(r),
            value(r.def.objective.target())
        );
    }
    family(
        &mut out,
        "steward_slo_sli_ratio",
        "gauge",
        "Good over total over the SLO window (absent with no events).",
    );
    for r in snap.slos() {
        if let Some(ratio) = r.status.window_counts.ratio() {
            let _ = writeln!(
                out,
                "steward_slo_sli_ratio{{{}}} {}",
                labels(r),
                value(ratio)
            );
        }
    }
    family(
        &mut out,
        "steward_slo_error_budget_remaining_ratio",
        "gauge",
        "Share of the error budget left; negative when overspent.",
    );
    for r in snap.slos() {
        let _ = writeln!(
            out,
            "steward_slo_error_budget_remaining_ratio{{{}}} {}",
            labels(r),
            value(r.status.budget.remaining_ratio)
        );
    }
    family(
        &mut out,
        "steward_slo_burn_rate",
        "gauge",
        "Error rate over the window divided by the error allowance.",
    );
    for r in snap.slos() {
        for (w, b) in &r.status.burn_rates {
            let _ = writeln!(
                out,
                "steward_slo_burn_rate{{{},window=\"{w}\"}} {}",
                labels(r),
                value(*b)
            );
        }
    }
    family(
        &mut out,
        "steward_slo_alert_firing",
        "gauge",
        "1 while a multi-window burn-rate condition fires.",
    );
    for r in snap.slos() {
        for a in &r.status.alerts {
            let _ = writeln!(
                out,
                "steward_slo_alert_firing{{{},severity=\"{}\",long_window=\"{}\",short_window=\"{}\"}} {}",
                labels(r),
                a.rule.severity.as_str(),
                a.rule.long,
                a.rule.short,
                u8::from(a.firing)
            );
        }
    }
    let engine = app.engine();
    let m = &engine.metrics;
    let store = engine.store().stats();
    let counters = [
        (
            "steward_samples_accepted_total",
            "Samples stored and counted.",
            m.samples_accepted.get(),
        ),
        (
            "steward_samples_rejected_total",
            "Samples refused with a 400 (the whole batch).",
            m.samples_rejected.get(),
        ),
        (
            "steward_ingest_batches_total",
            "Sample batches stored.",
            m.batches_accepted.get(),
        ),
        (
            "steward_evaluations_total",
            "Evaluations of every SLO.",
            m.evaluations.get(),
        ),
        (
            "steward_alert_transitions_total",
            "Burn-rate conditions that started or stopped firing.",
            m.alert_transitions.get(),
        ),
        (
            "steward_alert_events_total",
            "Alert events taken: triggers, acknowledgements and resolutions, from every source.",
            m.alert_events.get(),
        ),
        (
            "steward_notifications_delivered_total",
            "Notification deliveries a receiver accepted.",
            m.notifications_delivered.get(),
        ),
        (
            "steward_notification_retries_total",
            "Notification deliveries that failed and will be tried again.",
            m.notification_retries.get(),
        ),
        (
            "steward_notifications_dead_total",
            "Notification deliveries given up on: dead letters.",
            m.notifications_dead.get(),
        ),
        (
            "steward_notifications_grouped_total",
            "Notifications carried inside another's delivery (grouped).",
            m.notifications_grouped.get(),
        ),
        (
            "steward_worker_restarts_total",
            "Worker ticks that panicked; the worker was restarted.",
            m.worker_restarts.get(),
        ),
        (
            "steward_ingest_batches_repeated_total",
            "Batches retried with a known Idempotency-Key: answered again, stored once.",
            m.batches_repeated.get(),
        ),
        (
            "steward_rollup_rows_read_total",
            "Stored rows read by roll-ups.",
            m.rollup_rows_before.get(),
        ),
        (
            "steward_rollup_rows_written_total",
            "Rows written by roll-ups in place of those read.",
            m.rollup_rows_after.get(),
        ),
        (
            "steward_rollup_rows_deleted_total",
            "Stored rows deleted because no window needs them.",
            m.rollup_rows_deleted.get(),
        ),
        (
            "steward_store_commits_total",
            "Store transactions that committed sample batches (each holds one or more).",
            store.commits.load(Relaxed),
        ),
        (
            "steward_store_busy_total",
            "Batches refused with a 503 because the store's queue was full.",
            store.busy.load(Relaxed),
        ),
    ];
    for (name, help, v) in counters {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {v}");
    }
    family(
        &mut out,
        "steward_evaluation_duration_seconds",
        "gauge",
        "How long the last evaluation of every SLO took.",
    );
    let _ = writeln!(
        out,
        "steward_evaluation_duration_seconds {}",
        m.last_evaluation_micros.get() as f64 / 1e6
    );
    let config = app.runtime.config_status();
    family(
        &mut out,
        "steward_config_info",
        "gauge",
        "The running configuration, by the hash of its files.",
    );
    let _ = writeln!(out, "steward_config_info{{hash=\"{}\"}} 1", config.hash);
    let gauges = [
        (
            "steward_config_last_reload_successful",
            "Whether the last configuration reload succeeded (1) or was refused (0).",
            f64::from(u8::from(config.last_reload_successful)),
        ),
        (
            "steward_config_last_reload_success_timestamp_seconds",
            "When the running configuration was loaded (unix seconds).",
            config.loaded_at as f64,
        ),
        (
            "steward_store_queue_depth",
            "Requests waiting for the store's thread.",
            store.queued.load(Relaxed) as f64,
        ),
        (
            "steward_store_commit_seconds",
            "How long the last commit of sample batches took.",
            store.last_commit_micros.load(Relaxed) as f64 / 1e6,
        ),
        (
            "steward_store_commit_seconds_sum",
            "Time spent committing sample batches, in total (with steward_store_commits_total, the mean).",
            store.commit_micros_total.load(Relaxed) as f64 / 1e6,
        ),
        (
            "steward_rebuild_duration_seconds",
            "How long the last rebuild of the engine from the store took.",
            m.rebuild_micros.get() as f64 / 1e6,
        ),
        (
            "steward_rebuild_rows",
            "Stored rows the last rebuild read.",
            m.rebuild_rows.get() as f64,
        ),
        (
            "steward_last_evaluation_timestamp_seconds",
            "When the SLO figures on this page were evaluated (unix seconds): alert when it lags.",
            snap.at as f64,
        ),
        (
            "steward_rollup_duration_seconds",
            "How long the last roll-up pass took.",
            m.last_rollup_micros.get() as f64 / 1e6,
        ),
        (
            "steward_ready",
            "1 when Steward has rebuilt from its store and evaluates on time.",
            f64::from(u8::from(
                app.engine().readiness(jiff::Timestamp::now().as_second())
                    == steward_engine::Readiness::Ready,
            )),
        ),
    ];
    for (name, help, v) in gauges {
        family(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {}", value(v));
    }
    family(
        &mut out,
        "steward_slos",
        "gauge",
        "SLO objectives evaluated.",
    );
    let _ = writeln!(out, "steward_slos {}", snap.len());
    // When each runbook was last rehearsed (absent: never): alert when one grows old.
    let rehearsed = app
        .engine()
        .store()
        .transact(|tx| tx.last_rehearsals())
        .unwrap_or_default();
    family(
        &mut out,
        "steward_runbook_last_rehearsal_timestamp_seconds",
        "gauge",
        "When each runbook's last rehearsal succeeded (unix seconds).",
    );
    for (name, at) in rehearsed {
        if app.engine().catalog().runbook(&name).is_some() {
            let _ = writeln!(
                out,
                "steward_runbook_last_rehearsal_timestamp_seconds{{runbook=\"{}\"}} {at}",
                esc(&name)
            );
        }
    }
    // Readiness as the alert worker's last pass found it (every minute): absent until then.
    let readiness = app.engine().alerting.last_readiness();
    family(
        &mut out,
        "steward_readiness_score",
        "gauge",
        "Each service's readiness score, 0 to 100 (the share of readiness checks it passes).",
    );
    for r in readiness.iter() {
        let _ = writeln!(
            out,
            "steward_readiness_score{{service=\"{}\"}} {}",
            esc(&r.service),
            r.score
        );
    }
    family(
        &mut out,
        "steward_readiness_level",
        "gauge",
        "Each service's level on the maturity ladder: 1 beginner, 2 intermediate, 3 advanced.",
    );
    for r in readiness.iter() {
        let _ = writeln!(
            out,
            "steward_readiness_level{{service=\"{}\",level=\"{}\"}} {}",
            esc(&r.service),
            r.level,
            r.level as u8 + 1
        );
    }
    family(
        &mut out,
        "steward_readiness_check_passed",
        "gauge",
        "1 when the service passes the readiness check, 0 when it fails.",
    );
    for r in readiness.iter() {
        for c in &r.checks {
            let _ = writeln!(
                out,
                "steward_readiness_check_passed{{service=\"{}\",check=\"{}\"}} {}",
                esc(&r.service),
                c.name,
                u8::from(c.passed)
            );
        }
    }
    out
}

pub async fn metrics(State(app): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    // Rendering every SLO is heavy: it runs off the async workers.
    let text = tokio::task::spawn_blocking(move || render(&app))
        .await
        .map_err(|e| ApiError::internal(format!("rendering /metrics failed: {e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

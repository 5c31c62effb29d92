//! Runbook runs, guarded. A run is started by a person (real, or a dry run), by a
//! rehearsal, or by an alert the runbook answers when it says so; before it starts:
//!
//! - the kill switch: while it is on, no real run starts and a running one stops before its
//!   next step;
//! - causation: every run has a causation id, given to what it runs (`STEWARD_CAUSATION` in
//!   a program's environment, `X-Steward-Causation` on a request); an alert that carries it
//!   (label `steward_causation`) starts no run by itself, so automation cannot feed itself;
//! - the circuit breaker: at most `maxRunsPerHour` real runs of a runbook in any hour; past
//!   it the run is refused and a human is paged;
//! - one run at a time per (runbook, target): the store refuses a second.
//!
//! Steps run one after another on a thread of their own (at most [`MAX_RUNNING`] runs at
//! once), programs without a shell and with a timeout, and a step marked so waits for an
//! approver. Every run and step — who or what started it, inputs, output, exit, duration —
//! goes into the incident's timeline. A step that was running when Steward stopped is not
//! repeated: the run fails as interrupted and says so.

use super::{AlertError, Alerting, Event};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use steward_model::matcher::Labels;
use steward_model::runbook::{Action, Arg, Runbook};
use steward_store::{Alert, Run, RunMode, RunStatus, RunStep, StepStatus, StoreError, Switch, Tx};

/// The switch that stops every real run.
pub const KILL_SWITCH: &str = "runbooks";

/// Runs executing at once.
pub const MAX_RUNNING: usize = 16;

/// The label an alert caused by a run carries.
pub const CAUSATION_LABEL: &str = "steward_causation";

/// Output kept of a step (stdout and stderr together, or a response body).
const MAX_OUTPUT: usize = 64 * 1024;

/// What a run is asked to act on.
#[derive(Clone, Debug, Default)]
pub struct Subject {
    pub alert: Option<i64>,
    pub incident: Option<i64>,
    /// Labels for the steps when there is no alert (an alert's own labels win).
    pub labels: Labels,
}

/// The runs executing in this process.
#[derive(Default)]
pub(super) struct Runner {
    running: Mutex<HashSet<i64>>,
    /// The kill switch as last read or set: a running program is stopped when it turns on.
    killed: AtomicBool,
}

/// Takes a run off the running set however its thread ends (a panic included).
struct Running<'a>(&'a Mutex<HashSet<i64>>, i64);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        crate::lock(self.0).remove(&self.1);
    }
}

/// How long a run waits for a step's approval (or a person's confirmation) before it fails
/// and a human is paged.
pub const APPROVAL_WAIT: i64 = 3600;

fn since_start(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// What a run acts on: the alert's instance, else its target label, else the service.
fn target_of(rb: &Runbook, labels: &Labels) -> String {
    labels
        .get("instance")
        .or_else(|| labels.get("target"))
        .cloned()
        .unwrap_or_else(|| rb.service.clone())
}

/// A step's inputs as recorded: the argument list (labels the alert lacks shown as
/// `<label NAME>` in a dry run), or the request.
fn inputs(a: &Action, labels: &Labels) -> Value {
    match a {
        Action::Program { program, args } => {
            let mut v = vec![json!(program)];
            v.extend(args.iter().map(|x| {
                match x {
                    Arg::Text(t) => json!(t),
                    Arg::Label(l) => labels
                        .get(l)
                        .map_or_else(|| json!(format!("<label {l}>")), |v| json!(v)),
                }
            }));
            Value::Array(v)
        }
        Action::Http { method, url, body } => json!({ "method": method, "url": url, "body": body }),
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}

impl Alerting {
    /// Starts a run (or records why it may not): a person's, a rehearsal's or one an alert
    /// starts. The run comes back as recorded; `status` is `refused` with the reason when a
    /// guard stopped it.
    pub fn start_run(
        self: &Arc<Self>,
        runbook: &str,
        subject: Subject,
        mode: RunMode,
        actor: String,
        now: i64,
    ) -> Result<Run, AlertError> {
        let Some(rb) = self.catalog.runbook(runbook).cloned() else {
            return Err(AlertError::NotFound(format!(
                "there is no runbook `{runbook}`"
            )));
        };
        let me = self.clone();
        let run = self.store.transact(move |tx| {
            let alert = match subject.alert {
                Some(id) => match tx.alert(id)? {
                    Some(a) => Some(a),
                    None => return Ok(Err(format!("there is no alert {id}"))),
                },
                None => None,
            };
            if let Some(i) = subject.incident {
                if tx.incident(i)?.is_none() {
                    return Ok(Err(format!("there is no incident {i}")));
                }
            }
            let mut labels = subject.labels.clone();
            if let Some(a) = &alert {
                labels.extend(a.labels.clone());
            }
            let incident = subject.incident.or(alert.as_ref().and_then(|a| a.incident));
            me.begin_run(tx, &rb, alert.as_ref(), incident, labels, mode, &actor, now)
                .map(Ok)
        })?;
        let run = run.map_err(AlertError::Invalid)?;
        self.wake_runner();
        self.outbox.wake();
        Ok(run)
    }

    /// The guards, then the run's record, in the caller's transaction.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn begin_run(
        &self,
        tx: &mut Tx<'_>,
        rb: &Runbook,
        alert: Option<&Alert>,
        incident: Option<i64>,
        labels: Labels,
        mode: RunMode,
        actor: &str,
        now: i64,
    ) -> Result<Run, StoreError> {
        let target = target_of(rb, &labels);
        let mut run = Run {
            id: 0,
            runbook: rb.name.clone(),
            target: target.clone(),
            alert: alert.map(|a| a.id),
            incident,
            mode,
            status: RunStatus::Running,
            reason: None,
            causation: String::new(),
            labels,
            started_by: actor.into(),
            started_at: now,
            finished_at: None,
            escalated_at: None,
        };
        let mut page = None;
        let switch = tx.switch(KILL_SWITCH)?.filter(|s| s.on);
        let refusal = if let (RunMode::Real, Some(s)) = (mode, &switch) {
            Some(format!(
                "the runbook kill switch is on (set by {}: {})",
                s.set_by, s.reason
            ))
        } else if let Some(other) = match mode {
            RunMode::Real => tx.active_run(&rb.name, &target)?,
            _ => None,
        } {
            Some(format!(
                "run {} of runbook {} is already in progress on {target}",
                other.id, rb.name
            ))
        } else if mode == RunMode::Real
            && tx.real_runs_since(&rb.name, now - 3600)? >= i64::from(rb.max_runs_per_hour)
        {
            page = Some(format!(
                "runbook {} ran {} times in the last hour, its limit: the circuit breaker stops its runs (the last refused was for {target}); a human must look",
                rb.name, rb.max_runs_per_hour
            ));
            Some(format!(
                "the circuit breaker is open: {} real runs in the last hour, the limit",
                rb.max_runs_per_hour
            ))
        } else {
            None
        };
        if let Some(why) = &refusal {
            run.status = RunStatus::Refused;
            run.reason = Some(why.clone());
            run.finished_at = Some(now);
        }
        let mut run = tx.insert_run(&run)?;
        run.causation = format!("steward-run-{}", run.id);
        tx.set_run_causation(run.id, &run.causation)?;
        let summary = match &refusal {
            Some(why) => format!(
                "runbook {} refused for {} ({}): {why}",
                rb.name,
                actor,
                mode.as_str()
            ),
            None => format!(
                "runbook {} started by {actor} ({}) on {target}, run {}",
                rb.name,
                mode.as_str().replace('_', " "),
                run.id
            ),
        };
        let kind = if refusal.is_some() {
            "runbook_refused"
        } else {
            "runbook_run"
        };
        self.run_event(tx, &run, now, kind, &summary, json!({}))?;
        if let Some(why) = page {
            self.page_human(tx, rb, &run, "circuit", &why, now)?;
        }
        Ok(run)
    }

    /// A run's entry in its incident's timeline (when it has an incident).
    fn run_event(
        &self,
        tx: &mut Tx<'_>,
        run: &Run,
        at: i64,
        kind: &str,
        summary: &str,
        details: Value,
    ) -> Result<(), StoreError> {
        RunEvent::of(run).write(tx, at, kind, summary, details)
    }

    /// Pages a human about a run: an alert of the runbook's service, routed to the
    /// runbook's escalation policy (else the service's). `key` dedups: one open page for
    /// the breaker of a runbook, one per failed run.
    fn page_human(
        &self,
        tx: &mut Tx<'_>,
        rb: &Runbook,
        run: &Run,
        key: &str,
        why: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut labels = BTreeMap::from([
            ("alertname".to_string(), "RunbookNeedsHuman".to_string()),
            ("runbook".to_string(), rb.name.clone()),
            ("run".to_string(), run.id.to_string()),
        ]);
        if let Some(p) = &rb.escalate.policy {
            labels.insert("escalation_policy".into(), p.clone());
        }
        let e = Event {
            action: super::Action::Trigger,
            source: "runbook",
            integration: format!("runbook:{}", rb.name),
            service: Some(rb.service.clone()),
            dedup_key: key.to_string(),
            severity: "page".into(),
            summary: why.chars().take(500).collect(),
            labels,
            details: json!({ "run": run.id, "runbook": rb.name }),
            at: now,
            expires_at: None,
            actor: "steward".into(),
        };
        let mut ctx = self.context();
        self.apply(tx, &mut ctx, &e)?;
        self.run_event(
            tx,
            run,
            now,
            "runbook_escalated",
            &format!("a human is paged: {why}"),
            json!({}),
        )?;
        tracing::warn!(runbook = %rb.name, run = run.id, "{why}");
        Ok(())
    }

    /// For a new page: the runbook that answers it runs by itself when it says so, unless
    /// the page was caused by a run (automation never feeds itself).
    pub(super) fn auto_run(&self, tx: &mut Tx<'_>, a: &Alert, now: i64) -> Result<(), StoreError> {
        if a.urgency != steward_model::Severity::Page || a.source == "runbook" {
            return Ok(());
        }
        let Some(rb) = self
            .catalog
            .automatic_runbook_for(a.service.as_deref(), &a.labels)
        else {
            return Ok(());
        };
        if let Some(cause) = a.labels.get(CAUSATION_LABEL) {
            tracing::info!(alert = a.id, cause = %cause, runbook = %rb.name, "an alert caused by a run starts no run");
            return tx.log(
                a.id,
                now,
                "not_automated",
                "steward",
                &format!("caused by {cause}: runbook {} does not run by itself on what automation caused", rb.name),
            );
        }
        let incident = tx.incident_of_alert(a.id)?;
        let run = self.begin_run(
            tx,
            rb,
            Some(a),
            incident,
            a.labels.clone(),
            RunMode::Real,
            &format!("alert:{}", a.id),
            now,
        )?;
        tx.log(
            a.id,
            now,
            "runbook",
            "steward",
            &match &run.reason {
                Some(why) => format!("runbook {} refused: {why}", rb.name),
                None => format!("runbook {} runs by itself: run {}", rb.name, run.id),
            },
        )
    }

    /// Approves step `step` (counted from 1) of a run that waits on it: a step that needs
    /// approval, by one of the runbook's approvers, or a step for a person, confirmed done
    /// by whoever did it.
    pub fn approve_run(
        self: &Arc<Self>,
        id: i64,
        step: i64,
        person: &str,
        now: i64,
    ) -> Result<Run, AlertError> {
        let me = self.clone();
        let person = person.to_string();
        let out = self.store.transact(move |tx| {
            let Some(run) = tx.run(id)? else {
                return Ok(Err(AlertError::NotFound(format!("there is no run {id}"))));
            };
            let Some(rb) = me.catalog.runbook(&run.runbook) else {
                return Ok(Err(AlertError::Conflict(format!(
                    "runbook {} is no longer in the configuration",
                    run.runbook
                ))));
            };
            if run.status != RunStatus::AwaitingApproval {
                return Ok(Err(AlertError::Conflict(format!(
                    "run {id} is {}, not waiting for an approval",
                    run.status
                ))));
            }
            let waiting = next_step(&tx.steps_of(id)?);
            if step != waiting + 1 {
                return Ok(Err(AlertError::Conflict(format!(
                    "run {id} waits on step {}, not step {step}",
                    waiting + 1
                ))));
            }
            let Some(s) = rb.steps.get(waiting as usize) else {
                return Ok(Err(AlertError::Conflict(format!(
                    "runbook {} has no step {step} any more",
                    rb.name
                ))));
            };
            let person_step = s.action.is_none();
            if !person_step && !rb.approvers.contains(&person) {
                return Ok(Err(AlertError::Invalid(format!(
                    "{person} may not approve runs of {}; its approvers are {}",
                    rb.name,
                    rb.approvers.join(", ")
                ))));
            }
            tx.approve(id, waiting, &format!("user:{person}"), now)?;
            tx.set_run_status(id, RunStatus::Running, None, now)?;
            let what = if person_step { "did" } else { "approved" };
            me.run_event(
                tx,
                &run,
                now,
                "runbook_approved",
                &format!("{person} {what} step {step} ({}) of run {id}", s.name),
                json!({ "step": waiting }),
            )?;
            Ok(Ok(tx.run(id)?))
        })?;
        let run = out?.ok_or_else(|| AlertError::NotFound(format!("there is no run {id}")))?;
        self.wake_runner();
        Ok(run)
    }

    /// Turns the kill switch on (no real run starts, a running program is stopped) or off;
    /// audited with where the request came `from`.
    pub fn set_kill_switch(
        self: &Arc<Self>,
        on: bool,
        reason: String,
        actor: String,
        from: serde_json::Value,
        now: i64,
    ) -> Result<Switch, AlertError> {
        let s = Switch {
            name: KILL_SWITCH.into(),
            on,
            reason,
            set_by: actor,
            set_at: now,
        };
        let stored = s.clone();
        let after = json!({ "on": on, "reason": s.reason });
        self.store.transact(move |tx| {
            let before = tx
                .switch(KILL_SWITCH)?
                .map(|b| json!({ "on": b.on, "reason": b.reason }));
            let details = json!({ "before": before, "after": after, "from": from }).to_string();
            tx.set_switch(&stored)?;
            tx.audit(
                stored.set_at,
                &stored.set_by,
                "runbooks.kill_switch",
                "runbooks",
                &details,
            )
        })?;
        self.runner.killed.store(on, Ordering::Release);
        tracing::warn!(on, by = %s.set_by, reason = %s.reason, "runbook kill switch");
        Ok(s)
    }

    pub fn kill_switch(self: &Arc<Self>) -> Result<Option<Switch>, AlertError> {
        Ok(self.store.transact(|tx| tx.switch(KILL_SWITCH))?)
    }

    pub(super) fn wake_runner(&self) {
        let _ = self.work.send(super::Work::Wake);
    }

    /// One pass of the executor: starts the runs that are due on threads of their own, fails
    /// runs that waited too long for an approval, and pages a human for runs past their
    /// escalation line.
    pub(super) fn run_runbooks(self: &Arc<Self>, now: i64) -> Result<(), StoreError> {
        let (due, waiting, switch) = self.store.transact(|tx| {
            Ok((
                tx.runs_in(RunStatus::Running, 1000)?,
                tx.runs_in(RunStatus::AwaitingApproval, 1000)?,
                tx.switch(KILL_SWITCH)?,
            ))
        })?;
        self.runner
            .killed
            .store(switch.is_some_and(|s| s.on), Ordering::Release);
        for run in due {
            let mut running = crate::lock(&self.runner.running);
            if running.contains(&run.id) || running.len() >= MAX_RUNNING {
                continue;
            }
            running.insert(run.id);
            drop(running);
            let me = self.clone();
            let id = run.id;
            let spawned = std::thread::Builder::new()
                .name(format!("run-{id}"))
                .spawn(move || {
                    let _running = Running(&me.runner.running, id);
                    if let Err(e) = me.execute(id) {
                        tracing::error!(run = id, error = %e, "a runbook run could not be recorded; it is looked at again");
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(run = id, error = %e, "cannot start a thread for a run");
                crate::lock(&self.runner.running).remove(&id);
            }
        }
        for run in waiting {
            let me = self.clone();
            let id = run.id;
            let steps = self.store.transact(move |tx| tx.steps_of(id))?;
            let since = steps
                .iter()
                .filter_map(|s| s.finished_at)
                .max()
                .unwrap_or(run.started_at);
            if now - since >= APPROVAL_WAIT {
                if let Some(rb) = me.catalog.runbook(&run.runbook).cloned() {
                    let why = format!(
                        "nobody approved or confirmed step {} within {}",
                        next_step(&steps) + 1,
                        super::postmortem::span(APPROVAL_WAIT)
                    );
                    self.finish(&run, &rb, RunStatus::Failed, &why, true)?;
                }
            }
        }
        self.escalate_runs(now)
    }

    /// Pages a human for real runs whose escalation line passed: their alert still open
    /// `after` the run started. Runs without a line are marked looked at.
    fn escalate_runs(self: &Arc<Self>, now: i64) -> Result<(), StoreError> {
        let me = self.clone();
        self.store.transact(move |tx| {
            for run in tx.runs_to_watch(now - 7 * 86_400, 1000)? {
                let Some((rb, after)) = me
                    .catalog
                    .runbook(&run.runbook)
                    .and_then(|rb| rb.escalate.after.map(|a| (rb, a)))
                else {
                    tx.set_run_escalated(run.id, now)?;
                    continue;
                };
                if now < run.started_at + after {
                    continue;
                }
                let open = match run.alert {
                    Some(a) => tx
                        .alert(a)?
                        .is_some_and(|a| a.status != steward_store::AlertStatus::Resolved),
                    None => matches!(run.status, RunStatus::Running | RunStatus::AwaitingApproval),
                };
                let mitigated = match run.incident {
                    Some(i) => tx
                        .incident(i)?
                        .is_some_and(|i| i.status >= steward_store::IncidentStatus::Mitigated),
                    None => false,
                };
                tx.set_run_escalated(run.id, now)?;
                if open && !mitigated {
                    let why = format!(
                        "runbook {} ran {} ago on {} and the problem is still there",
                        rb.name,
                        super::postmortem::span(now - run.started_at),
                        run.target
                    );
                    me.page_human(tx, rb, &run, &format!("line-{}", run.id), &why, now)?;
                }
            }
            Ok(())
        })
    }

    /// Runs a run's remaining steps, one after another. A step that did not end well before
    /// (Steward stopped while it ran, or its end was not recorded) is not run again, and
    /// nothing after it runs: the run fails, saying so.
    fn execute(self: &Arc<Self>, id: i64) -> Result<(), StoreError> {
        let now = || jiff::Timestamp::now().as_second();
        let (run, done) = self
            .store
            .transact(move |tx| Ok((tx.run(id)?, tx.steps_of(id)?)))?;
        // Another pass may have finished it since it was listed.
        let Some(run) = run.filter(|r| r.status == RunStatus::Running) else {
            return Ok(());
        };
        let Some(rb) = self.catalog.runbook(&run.runbook).cloned() else {
            let why = format!("runbook {} is no longer in the configuration", run.runbook);
            let me = self.clone();
            return self.store.transact(move |tx| {
                tx.set_run_status(run.id, RunStatus::Failed, Some(&why), now())?;
                me.run_event(tx, &run, now(), "runbook_failed", &why, json!({}))
            });
        };
        if let Some(bad) = done.iter().find(|s| !ended_well(s.status)) {
            let why = format!(
                "interrupted: Steward stopped during step {} ({}); not repeated",
                bad.step + 1,
                bad.name
            );
            if bad.status == StepStatus::Running {
                let (sid, t) = (bad.id, now());
                self.store.transact(move |tx| {
                    tx.finish_step(
                        sid,
                        StepStatus::Interrupted,
                        None,
                        "Steward stopped while this step ran; it is not run again",
                        t,
                    )
                })?;
            }
            return self.finish(&run, &rb, RunStatus::Failed, &why, true);
        }
        let labels = &run.labels;
        let first = next_step(&done) as usize;
        let real = run.mode == RunMode::Real;
        for (i, step) in rb.steps.iter().enumerate().skip(first) {
            let idx = i as i64;
            let (switch, approved) = self
                .store
                .transact(move |tx| Ok((tx.switch(KILL_SWITCH)?, tx.approval(id, idx)?)))?;
            if real {
                if let Some(s) = switch.filter(|s| s.on) {
                    let why = format!(
                        "stopped before step {} ({}) by the kill switch (set by {}: {})",
                        i + 1,
                        step.name,
                        s.set_by,
                        s.reason
                    );
                    return self.finish(&run, &rb, RunStatus::Failed, &why, false);
                }
                // A real run waits for a person to do their step, and for an approver.
                let needs = step.action.is_none() || step.approval;
                if needs && approved.is_none() {
                    let text = match step.action {
                        None => format!(
                            "run {} of {} waits for a person to do step {} ({}) and confirm it",
                            run.id,
                            rb.name,
                            i + 1,
                            step.name
                        ),
                        Some(_) => format!(
                            "run {} of {} waits for an approval of step {} ({}) by {}",
                            run.id,
                            rb.name,
                            i + 1,
                            step.name,
                            rb.approvers.join(" or ")
                        ),
                    };
                    let (me, run2) = (self.clone(), run.clone());
                    return self.store.transact(move |tx| {
                        tx.set_run_status(run2.id, RunStatus::AwaitingApproval, None, now())?;
                        me.run_event(
                            tx,
                            &run2,
                            now(),
                            "runbook_waiting",
                            &text,
                            json!({ "step": idx }),
                        )
                    });
                }
            }
            let Some(action) = &step.action else {
                let text = match &approved {
                    Some(by) => format!("done by {}", by.trim_start_matches("user:")),
                    None => step
                        .description
                        .clone()
                        .unwrap_or_else(|| "a step for a person".into()),
                };
                self.record_step(
                    &run,
                    idx,
                    &step.name,
                    StepStatus::Manual,
                    json!(null),
                    &text,
                    approved.clone(),
                    now(),
                )?;
                continue;
            };
            let inputs = inputs(action, labels);
            if !real {
                let text = format!("would run: {inputs}");
                self.record_step(
                    &run,
                    idx,
                    &step.name,
                    StepStatus::WouldRun,
                    inputs,
                    &text,
                    None,
                    now(),
                )?;
                continue;
            }
            let argv = match action.argv(labels) {
                Ok(v) => v,
                Err(e) => {
                    let why = format!("step {} ({}) cannot run: {e}", i + 1, step.name);
                    return self.finish(&run, &rb, RunStatus::Failed, &why, true);
                }
            };
            let step_row = RunStep {
                id: 0,
                run: run.id,
                step: idx,
                name: step.name.clone(),
                status: StepStatus::Running,
                inputs: inputs.to_string(),
                output: String::new(),
                exit_code: None,
                approved_by: approved.clone(),
                started_at: now(),
                finished_at: None,
            };
            // The switch again, in the transaction that starts the step.
            let started = self.store.transact(move |tx| {
                if tx.switch(KILL_SWITCH)?.is_some_and(|s| s.on) {
                    return Ok(None);
                }
                tx.start_step(&step_row).map(Some)
            })?;
            let Some(step_id) = started else {
                let why = format!(
                    "stopped before step {} ({}) by the kill switch",
                    i + 1,
                    step.name
                );
                return self.finish(&run, &rb, RunStatus::Failed, &why, false);
            };
            let clock = Instant::now();
            let timeout = Duration::from_secs(step.timeout.max(1) as u64);
            let (status, exit, output) = match action {
                Action::Program { .. } => {
                    run_program(&argv, &run.causation, run.id, timeout, &self.runner.killed)
                }
                Action::Http { method, url, body } => run_http(
                    method,
                    url,
                    body.as_deref(),
                    &run,
                    &rb.name,
                    &step.name,
                    labels,
                    timeout,
                ),
            };
            let secs = since_start(clock);
            let summary = format!(
                "step {} ({}) of run {}: {} {} in {secs:.1}s",
                i + 1,
                step.name,
                run.id,
                match action {
                    Action::Program { .. } => format!("ran {}", argv.join(" ")),
                    Action::Http { method, url, .. } => format!("{method} {url}"),
                },
                match (status, exit) {
                    (StepStatus::Succeeded, Some(c)) => format!("exited {c}"),
                    (StepStatus::Succeeded, None) => "succeeded".into(),
                    (StepStatus::TimedOut, _) => format!("timed out after {}s", timeout.as_secs()),
                    (StepStatus::Killed, _) => "stopped by the kill switch".into(),
                    (_, Some(c)) => format!("failed with {c}"),
                    _ => "failed".into(),
                }
            );
            let me = self.clone();
            let (run2, out2, summary2) = (run.clone(), output.clone(), summary.clone());
            let inputs2 = inputs.clone();
            self.store.transact(move |tx| {
                let t = now();
                tx.finish_step(step_id, status, exit, &out2, t)?;
                me.run_event(
                    tx,
                    &run2,
                    t,
                    "runbook_step",
                    &summary2,
                    json!({
                        "step": idx,
                        "inputs": inputs2,
                        "output": clip(&out2, 2048),
                        "exit_code": exit,
                        "status": status.as_str(),
                        "duration_seconds": secs,
                        "approved_by": approved,
                    }),
                )
            })?;
            if status != StepStatus::Succeeded {
                return self.finish(
                    &run,
                    &rb,
                    RunStatus::Failed,
                    &summary,
                    status != StepStatus::Killed,
                );
            }
        }
        self.finish(
            &run,
            &rb,
            RunStatus::Succeeded,
            &format!("run {} of {} succeeded", run.id, rb.name),
            false,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn record_step(
        &self,
        run: &Run,
        idx: i64,
        name: &str,
        status: StepStatus,
        inputs: Value,
        output: &str,
        approved_by: Option<String>,
        at: i64,
    ) -> Result<(), StoreError> {
        let s = RunStep {
            id: 0,
            run: run.id,
            step: idx,
            name: name.into(),
            status,
            inputs: inputs.to_string(),
            output: output.into(),
            exit_code: None,
            approved_by,
            started_at: at,
            finished_at: Some(at),
        };
        let summary = format!("step {} ({name}) of run {}: {output}", idx + 1, run.id);
        let details = json!({ "step": idx, "inputs": inputs, "status": status.as_str() });
        let event = RunEvent::of(run);
        self.store.transact(move |tx| {
            tx.start_step(&s)?;
            event.write(tx, at, "runbook_step", &summary, details)
        })
    }

    /// Ends a run; a failure pages a human when the runbook's line says so.
    fn finish(
        self: &Arc<Self>,
        run: &Run,
        rb: &Runbook,
        status: RunStatus,
        why: &str,
        failed_step: bool,
    ) -> Result<(), StoreError> {
        let me = self.clone();
        let (run, rb2, why) = (run.clone(), rb.clone(), why.to_string());
        let page = failed_step && rb.escalate.on_failure && run.mode == RunMode::Real;
        self.store.transact(move |tx| {
            let t = jiff::Timestamp::now().as_second();
            tx.set_run_status(
                run.id,
                status,
                (status != RunStatus::Succeeded).then_some(why.as_str()),
                t,
            )?;
            let kind = if status == RunStatus::Succeeded {
                "runbook_succeeded"
            } else {
                "runbook_failed"
            };
            me.run_event(tx, &run, t, kind, &why, json!({}))?;
            if page {
                let key = format!("failed-{}", run.id);
                me.page_human(
                    tx,
                    &rb2,
                    &run,
                    &key,
                    &format!("runbook {} failed: {why}", rb2.name),
                    t,
                )?;
            }
            Ok(())
        })?;
        // A rehearsal that ended changes the runbook-rehearsal check.
        self.forget_readiness();
        self.outbox.wake();
        Ok(())
    }
}

/// Whether a recorded step ended so that the next may follow.
fn ended_well(status: StepStatus) -> bool {
    matches!(
        status,
        StepStatus::Succeeded | StepStatus::Manual | StepStatus::WouldRun
    )
}

/// The index of the step after the last one recorded.
fn next_step(done: &[RunStep]) -> i64 {
    done.iter().map(|s| s.step + 1).max().unwrap_or(0)
}

/// What a run's timeline entries say about it.
struct RunEvent {
    incident: Option<i64>,
    run: i64,
    runbook: String,
    mode: RunMode,
    started_by: String,
}

impl RunEvent {
    fn of(run: &Run) -> RunEvent {
        RunEvent {
            incident: run.incident,
            run: run.id,
            runbook: run.runbook.clone(),
            mode: run.mode,
            started_by: run.started_by.clone(),
        }
    }

    fn write(
        &self,
        tx: &mut Tx<'_>,
        at: i64,
        kind: &str,
        summary: &str,
        mut details: Value,
    ) -> Result<(), StoreError> {
        let Some(incident) = self.incident else {
            return Ok(());
        };
        details["run"] = json!(self.run);
        details["runbook"] = json!(self.runbook);
        details["mode"] = json!(self.mode.as_str());
        details["started_by"] = json!(self.started_by);
        tx.incident_event(
            incident,
            at,
            kind,
            summary,
            &self.started_by,
            &details.to_string(),
        )
    }
}

/// Stops a process group with SIGKILL (through `kill(1)`: Steward has no unsafe code).
fn kill_group(pgid: u32) {
    let kill = ["/bin/kill", "/usr/bin/kill"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("kill");
    let _ = Command::new(kill)
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs a program without a shell, in a process group of its own, with only `PATH` and the
/// run's ids in its environment. Stops the whole group when the timeout passes or the kill
/// switch turns on, and when the program ends (what it left running in the background goes
/// with it). Output past the cap is read and thrown away, so a chatty program never dies of
/// a closed pipe.
fn run_program(
    argv: &[String],
    causation: &str,
    run: i64,
    timeout: Duration,
    killed: &AtomicBool,
) -> (StepStatus, Option<i64>, String) {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("STEWARD_CAUSATION", causation)
        .env("STEWARD_RUN", run.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return (
                StepStatus::Failed,
                None,
                format!("cannot start {}: {e}", argv[0]),
            )
        }
    };
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut pipe = pipe;
            let mut buf = Vec::new();
            let _ = (&mut pipe).take(MAX_OUTPUT as u64).read_to_end(&mut buf);
            let _ = tx.send(buf);
            let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        });
    }
    drop(tx);
    let deadline = Instant::now() + timeout;
    let mut stopped = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if killed.load(Ordering::Acquire) => {
                stopped = Some(StepStatus::Killed);
                break None;
            }
            Ok(None) if Instant::now() >= deadline => {
                stopped = Some(StepStatus::TimedOut);
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    // The whole group, whether the program ended or not: a script's children go with it.
    kill_group(child.id());
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut out = Vec::new();
    let grace = Instant::now() + Duration::from_secs(2);
    while let Ok(chunk) = rx.recv_timeout(grace.saturating_duration_since(Instant::now())) {
        out.extend(chunk);
    }
    let text = clip(&String::from_utf8_lossy(&out), MAX_OUTPUT);
    match (status, stopped) {
        (None, Some(why)) => (why, None, text),
        (None, None) => (
            StepStatus::Failed,
            None,
            format!("{text}\n(could not wait for the program)"),
        ),
        (Some(s), _) => match s.code() {
            Some(0) => (StepStatus::Succeeded, Some(0), text),
            Some(c) => (StepStatus::Failed, Some(i64::from(c)), text),
            None => (
                StepStatus::Failed,
                None,
                format!("{text}\n(killed by a signal)"),
            ),
        },
    }
}

/// Sends a step's request; 2xx succeeds. The body, when the runbook gives none, is the run.
#[allow(clippy::too_many_arguments)]
fn run_http(
    method: &str,
    url: &str,
    body: Option<&str>,
    run: &Run,
    runbook: &str,
    step: &str,
    labels: &Labels,
    timeout: Duration,
) -> (StepStatus, Option<i64>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into();
    let body = body.map(str::to_string).unwrap_or_else(|| {
        json!({ "runbook": runbook, "run": run.id, "step": step, "labels": labels, "causation": run.causation }).to_string()
    });
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .header("x-steward-causation", &run.causation)
        .body(body);
    let req = match req {
        Ok(r) => r,
        Err(e) => {
            return (
                StepStatus::Failed,
                None,
                format!("cannot build the request: {e}"),
            )
        }
    };
    match agent.run(req) {
        Ok(mut resp) => {
            let code = i64::from(resp.status().as_u16());
            let text = resp
                .body_mut()
                .with_config()
                .limit(MAX_OUTPUT as u64)
                .read_to_string()
                .unwrap_or_default();
            let status = if (200..300).contains(&code) {
                StepStatus::Succeeded
            } else {
                StepStatus::Failed
            };
            (status, Some(code), clip(&text, MAX_OUTPUT))
        }
        Err(ureq::Error::Timeout(_)) => (StepStatus::TimedOut, None, String::new()),
        Err(e) => (StepStatus::Failed, None, e.to_string()),
    }
}

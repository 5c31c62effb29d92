//! Runbook runs, their steps and approvals, and the switches people flip (the runbook kill
//! switch): typed operations on a transaction, written once for both backends.

use crate::alerts::word;
use crate::sql::Row;
use crate::{Result, StoreError, Tx};
use steward_model::Labels;

steward_model::words! {
    /// How a run acts.
    pub enum RunMode {
        /// Does what the steps say.
        Real = "real",
        /// Records what each step would do, and does nothing.
        DryRun = "dry_run",
        /// A dry run that proves the runbook is known and current; its age is shown.
        Rehearsal = "rehearsal",
    }
}

steward_model::words! {
    /// Where a run stands.
    pub enum RunStatus {
        Running = "running",
        AwaitingApproval = "awaiting_approval",
        Succeeded = "succeeded",
        Failed = "failed",
        /// A guard stopped it before its first step.
        Refused = "refused",
    }
}

steward_model::words! {
    /// How one step of a run went.
    pub enum StepStatus {
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        TimedOut = "timed_out",
        /// A dry run's record of what it would have done.
        WouldRun = "would_run",
        /// A step for a person: the run waits for their approval.
        Manual = "manual",
        /// The process stopped while the step ran.
        Interrupted = "interrupted",
        /// The kill switch stopped it.
        Killed = "killed",
    }
}

/// A run of a runbook as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub id: i64,
    pub runbook: String,
    /// What the run acts on (an instance, else the service): one run at a time per target.
    pub target: String,
    pub alert: Option<i64>,
    pub incident: Option<i64>,
    pub mode: RunMode,
    pub status: RunStatus,
    pub reason: Option<String>,
    /// Passed to what the run does; an alert that carries it starts no run.
    pub causation: String,
    /// The labels the steps read (stored as a JSON object).
    pub labels: Labels,
    pub started_by: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub escalated_at: Option<i64>,
}

/// One step of a run as it went.
#[derive(Clone, Debug, PartialEq)]
pub struct RunStep {
    pub id: i64,
    pub run: i64,
    pub step: i64,
    pub name: String,
    pub status: StepStatus,
    /// JSON: the argument list, or the request.
    pub inputs: String,
    pub output: String,
    pub exit_code: Option<i64>,
    pub approved_by: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

/// A switch as last set.
#[derive(Clone, Debug, PartialEq)]
pub struct Switch {
    pub name: String,
    pub on: bool,
    pub reason: String,
    pub set_by: String,
    pub set_at: i64,
}

const RUN_COLUMNS: &str = "id, runbook, target, alert, incident, mode, status, reason, causation, labels, started_by, started_at, finished_at, escalated_at";

fn run(r: &Row) -> Result<Run> {
    Ok(Run {
        id: r.int(0)?,
        runbook: r.text(1)?,
        target: r.text(2)?,
        alert: r.opt_int(3)?,
        incident: r.opt_int(4)?,
        mode: word(r, 5, RunMode::parse, "run mode")?,
        status: word(r, 6, RunStatus::parse, "run status")?,
        reason: r.opt_text(7)?,
        causation: r.text(8)?,
        labels: crate::alerts::labels(r, 9)?,
        started_by: r.text(10)?,
        started_at: r.int(11)?,
        finished_at: r.opt_int(12)?,
        escalated_at: r.opt_int(13)?,
    })
}

const STEP_COLUMNS: &str =
    "id, run, step, name, status, inputs, output, exit_code, approved_by, started_at, finished_at";

fn step(r: &Row) -> Result<RunStep> {
    Ok(RunStep {
        id: r.int(0)?,
        run: r.int(1)?,
        step: r.int(2)?,
        name: r.text(3)?,
        status: word(r, 4, StepStatus::parse, "step status")?,
        inputs: r.text(5)?,
        output: r.text(6)?,
        exit_code: r.opt_int(7)?,
        approved_by: r.opt_text(8)?,
        started_at: r.int(9)?,
        finished_at: r.opt_int(10)?,
    })
}

impl Tx<'_> {
    /// Records a run; `status` is `running`, or `refused` with the reason. A second run of
    /// the runbook on the same target while one is in progress is refused by the store
    /// itself (a partial unique index), so check [`Tx::active_run`] first for a clear word.
    pub fn insert_run(&mut self, r: &Run) -> Result<Run> {
        let id = self
            .db
            .one(
                "INSERT INTO runbook_runs (runbook, target, alert, incident, mode, status, reason, causation, labels, started_by, started_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
                &[(&r.runbook).into(), (&r.target).into(), r.alert.into(), r.incident.into(), r.mode.as_str().into(), r.status.as_str().into(), r.reason.as_ref().into(), (&r.causation).into(), crate::alerts::encode_labels(&r.labels).into(), (&r.started_by).into(), r.started_at.into(), r.finished_at.into()],
            )?
            .int(0)?;
        self.run(id)?
            .ok_or_else(|| StoreError::Corrupt(format!("run {id} vanished")))
    }

    pub fn run(&mut self, id: i64) -> Result<Option<Run>> {
        self.db
            .opt(
                &format!("SELECT {RUN_COLUMNS} FROM runbook_runs WHERE id = ?1"),
                &[id.into()],
            )?
            .map(|r| run(&r))
            .transpose()
    }

    /// The real run of a runbook in progress on a target (dry runs and rehearsals do
    /// nothing, so they hold no target).
    pub fn active_run(&mut self, runbook: &str, target: &str) -> Result<Option<Run>> {
        self.db
            .opt(
                &format!("SELECT {RUN_COLUMNS} FROM runbook_runs WHERE runbook = ?1 AND target = ?2 AND status IN ('running', 'awaiting_approval') AND mode = 'real'"),
                &[runbook.into(), target.into()],
            )?
            .map(|r| run(&r))
            .transpose()
    }

    /// A runbook's runs (every runbook's when `None`), newest first.
    pub fn runs(&mut self, runbook: Option<&str>, limit: u32) -> Result<Vec<Run>> {
        let (sql, params) = match runbook {
            Some(n) => (
                format!("SELECT {RUN_COLUMNS} FROM runbook_runs WHERE runbook = ?2 ORDER BY id DESC LIMIT ?1"),
                vec![i64::from(limit).into(), n.into()],
            ),
            None => (
                format!("SELECT {RUN_COLUMNS} FROM runbook_runs ORDER BY id DESC LIMIT ?1"),
                vec![i64::from(limit).into()],
            ),
        };
        self.db.query(&sql, &params)?.iter().map(run).collect()
    }

    /// Runs in a status, oldest first.
    pub fn runs_in(&mut self, status: RunStatus, limit: u32) -> Result<Vec<Run>> {
        self.db
            .query(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runbook_runs WHERE status = ?1 ORDER BY id LIMIT ?2"
                ),
                &[status.as_str().into(), i64::from(limit).into()],
            )?
            .iter()
            .map(run)
            .collect()
    }

    /// Real runs of a runbook that started at or after `since` (refused ones do not count).
    pub fn real_runs_since(&mut self, runbook: &str, since: i64) -> Result<i64> {
        self.db
            .one(
                "SELECT COUNT(*) FROM runbook_runs WHERE runbook = ?1 AND started_at >= ?2 AND mode = 'real' AND status <> 'refused'",
                &[runbook.into(), since.into()],
            )?
            .int(0)
    }

    /// The last rehearsal of each runbook: (runbook, when).
    pub fn last_rehearsals(&mut self) -> Result<Vec<(String, i64)>> {
        self.db
            .query(
                "SELECT runbook, MAX(started_at) FROM runbook_runs WHERE mode = 'rehearsal' AND status = 'succeeded' GROUP BY runbook ORDER BY runbook",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.int(1)?)))
            .collect()
    }

    /// Moves a run on; a finished one gets its end time.
    pub fn set_run_status(
        &mut self,
        id: i64,
        status: RunStatus,
        reason: Option<&str>,
        at: i64,
    ) -> Result<()> {
        let finished = matches!(
            status,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Refused
        );
        self.db.exec(
            "UPDATE runbook_runs SET status = ?2, reason = COALESCE(?3, reason), finished_at = ?4 WHERE id = ?1",
            &[id.into(), status.as_str().into(), reason.into(), finished.then_some(at).into()],
        )?;
        Ok(())
    }

    pub fn set_run_causation(&mut self, id: i64, causation: &str) -> Result<()> {
        self.db.exec(
            "UPDATE runbook_runs SET causation = ?2 WHERE id = ?1",
            &[id.into(), causation.into()],
        )?;
        Ok(())
    }

    /// Real runs since `since` whose escalation line has not been looked at to the end.
    pub fn runs_to_watch(&mut self, since: i64, limit: u32) -> Result<Vec<Run>> {
        self.db
            .query(
                &format!("SELECT {RUN_COLUMNS} FROM runbook_runs WHERE mode = 'real' AND status <> 'refused' AND escalated_at IS NULL AND started_at >= ?1 ORDER BY id LIMIT ?2"),
                &[since.into(), i64::from(limit).into()],
            )?
            .iter()
            .map(run)
            .collect()
    }

    pub fn set_run_escalated(&mut self, id: i64, at: i64) -> Result<()> {
        self.db.exec(
            "UPDATE runbook_runs SET escalated_at = ?2 WHERE id = ?1",
            &[id.into(), at.into()],
        )?;
        Ok(())
    }

    /// Records that a step started (or, for one that does not run, what it was).
    pub fn start_step(&mut self, s: &RunStep) -> Result<i64> {
        self.db
            .one(
                "INSERT INTO runbook_steps (run, step, name, status, inputs, output, exit_code, approved_by, started_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
                &[s.run.into(), s.step.into(), (&s.name).into(), s.status.as_str().into(), (&s.inputs).into(), (&s.output).into(), s.exit_code.into(), s.approved_by.as_ref().into(), s.started_at.into(), s.finished_at.into()],
            )?
            .int(0)
    }

    pub fn finish_step(
        &mut self,
        id: i64,
        status: StepStatus,
        exit_code: Option<i64>,
        output: &str,
        at: i64,
    ) -> Result<()> {
        self.db.exec(
            "UPDATE runbook_steps SET status = ?2, exit_code = ?3, output = ?4, finished_at = ?5 WHERE id = ?1",
            &[id.into(), status.as_str().into(), exit_code.into(), output.into(), at.into()],
        )?;
        Ok(())
    }

    pub fn steps_of(&mut self, run: i64) -> Result<Vec<RunStep>> {
        self.db
            .query(
                &format!(
                    "SELECT {STEP_COLUMNS} FROM runbook_steps WHERE run = ?1 ORDER BY step, id"
                ),
                &[run.into()],
            )?
            .iter()
            .map(step)
            .collect()
    }

    /// Approves step `step` of a run; false when it was approved before.
    pub fn approve(&mut self, run: i64, step: i64, by: &str, at: i64) -> Result<bool> {
        Ok(self.db.exec(
            "INSERT INTO runbook_approvals (run, step, approved_by, approved_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (run, step) DO NOTHING",
            &[run.into(), step.into(), by.into(), at.into()],
        )? > 0)
    }

    /// Who approved step `step` of a run.
    pub fn approval(&mut self, run: i64, step: i64) -> Result<Option<String>> {
        self.db
            .opt(
                "SELECT approved_by FROM runbook_approvals WHERE run = ?1 AND step = ?2",
                &[run.into(), step.into()],
            )?
            .map(|r| r.text(0))
            .transpose()
    }

    pub fn switch(&mut self, name: &str) -> Result<Option<Switch>> {
        self.db
            .opt(
                "SELECT name, is_on, reason, set_by, set_at FROM switches WHERE name = ?1",
                &[name.into()],
            )?
            .map(|r| {
                Ok(Switch {
                    name: r.text(0)?,
                    on: r.int(1)? != 0,
                    reason: r.text(2)?,
                    set_by: r.text(3)?,
                    set_at: r.int(4)?,
                })
            })
            .transpose()
    }

    pub fn set_switch(&mut self, s: &Switch) -> Result<()> {
        self.db.exec(
            "INSERT INTO switches (name, is_on, reason, set_by, set_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO UPDATE SET is_on = excluded.is_on, reason = excluded.reason, set_by = excluded.set_by, set_at = excluded.set_at",
            &[(&s.name).into(), i64::from(s.on).into(), (&s.reason).into(), (&s.set_by).into(), s.set_at.into()],
        )?;
        Ok(())
    }
}

/// An override of a service's deploy gate.
#[derive(Clone, Debug, PartialEq)]
pub struct GateOverride {
    pub id: i64,
    pub service: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
}

fn gate_override(r: &Row) -> Result<GateOverride> {
    Ok(GateOverride {
        id: r.int(0)?,
        service: r.text(1)?,
        reason: r.text(2)?,
        created_by: r.text(3)?,
        created_at: r.int(4)?,
        expires_at: r.int(5)?,
    })
}

impl Tx<'_> {
    /// Records an override and its entry in the audit trail (`details`, a JSON object).
    pub fn add_gate_override(&mut self, o: &GateOverride, details: &str) -> Result<GateOverride> {
        let id = self
            .db
            .one(
                "INSERT INTO gate_overrides (service, reason, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                &[(&o.service).into(), (&o.reason).into(), (&o.created_by).into(), o.created_at.into(), o.expires_at.into()],
            )?
            .int(0)?;
        self.audit(
            o.created_at,
            &o.created_by,
            "deploy_gate.override",
            &format!("service:{}", o.service),
            details,
        )?;
        Ok(GateOverride { id, ..o.clone() })
    }

    /// A service's overrides: the one in force at `at` (the latest to expire), or all.
    pub fn gate_overrides(
        &mut self,
        service: &str,
        live_at: Option<i64>,
    ) -> Result<Vec<GateOverride>> {
        let (sql, params) = match live_at {
            Some(t) => (
                "SELECT id, service, reason, created_by, created_at, expires_at FROM gate_overrides WHERE service = ?1 AND created_at <= ?2 AND expires_at > ?2 ORDER BY expires_at DESC, id DESC LIMIT 1",
                vec![service.into(), t.into()],
            ),
            None => (
                "SELECT id, service, reason, created_by, created_at, expires_at FROM gate_overrides WHERE service = ?1 ORDER BY id DESC LIMIT 1000",
                vec![service.into()],
            ),
        };
        self.db
            .query(sql, &params)?
            .iter()
            .map(gate_override)
            .collect()
    }
}

/// A budget adjustment as the API stored it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAdjustment {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub service: String,
    pub indicator: Option<String>,
    pub start_at: i64,
    pub duration: i64,
    pub rrule: Option<String>,
    pub time_zone: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_by: String,
    pub updated_at: i64,
}

const ADJUSTMENT_COLUMNS: &str = "id, name, description, service, indicator, start_at, duration, rrule, time_zone, created_by, created_at, updated_by, updated_at";

fn adjustment(r: &Row) -> Result<StoredAdjustment> {
    Ok(StoredAdjustment {
        id: r.int(0)?,
        name: r.text(1)?,
        description: r.text(2)?,
        service: r.text(3)?,
        indicator: r.opt_text(4)?,
        start_at: r.int(5)?,
        duration: r.int(6)?,
        rrule: r.opt_text(7)?,
        time_zone: r.text(8)?,
        created_by: r.text(9)?,
        created_at: r.int(10)?,
        updated_by: r.text(11)?,
        updated_at: r.int(12)?,
    })
}

impl Tx<'_> {
    pub fn adjustments(&mut self) -> Result<Vec<StoredAdjustment>> {
        self.db
            .query(
                &format!("SELECT {ADJUSTMENT_COLUMNS} FROM budget_adjustments ORDER BY id"),
                &[],
            )?
            .iter()
            .map(adjustment)
            .collect()
    }

    pub fn adjustment(&mut self, name: &str) -> Result<Option<StoredAdjustment>> {
        self.db
            .opt(
                &format!("SELECT {ADJUSTMENT_COLUMNS} FROM budget_adjustments WHERE name = ?1"),
                &[name.into()],
            )?
            .map(|r| adjustment(&r))
            .transpose()
    }

    /// Adds an adjustment, or replaces the one of that name (keeping who created it).
    pub fn put_adjustment(&mut self, a: &StoredAdjustment) -> Result<StoredAdjustment> {
        self.db.exec(
            "INSERT INTO budget_adjustments (name, description, service, indicator, start_at, duration, rrule, time_zone, created_by, created_at, updated_by, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?9, ?10)
             ON CONFLICT (name) DO UPDATE SET description = excluded.description, service = excluded.service, indicator = excluded.indicator,
                 start_at = excluded.start_at, duration = excluded.duration, rrule = excluded.rrule, time_zone = excluded.time_zone,
                 updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            &[(&a.name).into(), (&a.description).into(), (&a.service).into(), a.indicator.as_ref().into(), a.start_at.into(), a.duration.into(), a.rrule.as_ref().into(), (&a.time_zone).into(), (&a.updated_by).into(), a.updated_at.into()],
        )?;
        self.adjustment(&a.name)?
            .ok_or_else(|| StoreError::Corrupt(format!("adjustment {} vanished", a.name)))
    }

    /// Removes an adjustment; false when there was none of that name.
    pub fn delete_adjustment(&mut self, name: &str) -> Result<bool> {
        Ok(self.db.exec(
            "DELETE FROM budget_adjustments WHERE name = ?1",
            &[name.into()],
        )? > 0)
    }
}

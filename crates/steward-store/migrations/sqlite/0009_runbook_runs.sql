-- Runs of runbooks: who or what started each, in which mode, on which target, and each
-- step's inputs, output, exit and duration. One run at a time per (runbook, target).
CREATE TABLE runbook_runs (
    id          INTEGER PRIMARY KEY,
    runbook     TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    alert       INTEGER,
    incident    INTEGER,
    mode        TEXT    NOT NULL, -- real | dry_run | rehearsal
    status      TEXT    NOT NULL, -- running | awaiting_approval | succeeded | failed | refused
    reason      TEXT,             -- why it failed or was refused
    causation   TEXT    NOT NULL, -- passed to what the run does; alerts carrying it do not start runs
    labels      TEXT    NOT NULL, -- the alert's labels the steps read, a JSON object
    started_by  TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    escalated_at INTEGER
);
CREATE UNIQUE INDEX runbook_runs_one_at_a_time ON runbook_runs (runbook, target)
    WHERE status IN ('running', 'awaiting_approval') AND mode = 'real';
CREATE INDEX runbook_runs_by_runbook ON runbook_runs (runbook, started_at);
CREATE INDEX runbook_runs_by_status ON runbook_runs (status);

CREATE TABLE runbook_steps (
    id          INTEGER PRIMARY KEY,
    run         INTEGER NOT NULL,
    step        INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL, -- running | succeeded | failed | timed_out | would_run | manual | interrupted
    inputs      TEXT    NOT NULL, -- a JSON array (the argument list) or object (the request)
    output      TEXT    NOT NULL,
    exit_code   INTEGER,
    approved_by TEXT,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX runbook_steps_by_run ON runbook_steps (run, step);

-- Approvals of steps that need one, given before or while the run waits.
CREATE TABLE runbook_approvals (
    id          INTEGER PRIMARY KEY,
    run         INTEGER NOT NULL,
    step        INTEGER NOT NULL,
    approved_by TEXT    NOT NULL,
    approved_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX runbook_approvals_once ON runbook_approvals (run, step);

-- Switches people flip: the runbook kill switch stops every real run.
CREATE TABLE switches (
    id     INTEGER PRIMARY KEY,
    name   TEXT    NOT NULL UNIQUE,
    is_on  INTEGER NOT NULL,
    reason TEXT    NOT NULL,
    set_by TEXT    NOT NULL,
    set_at INTEGER NOT NULL
);

-- Alerts from every source, their history, silences, escalations and the notification outbox.
-- Every table has an integer surrogate key; rows that belong to a service carry its customer,
-- and every change records who made it (`user:NAME`, `integration:NAME` or `steward`).

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    source          TEXT    NOT NULL, -- slo | alertmanager | pagerduty | webhook | heartbeat
    integration     TEXT    NOT NULL, -- the integration's name; `steward` for SLO conditions
    dedup_key       TEXT    NOT NULL,
    service         TEXT,
    customer        TEXT,
    severity        TEXT    NOT NULL,
    summary         TEXT    NOT NULL,
    labels          TEXT    NOT NULL, -- a JSON object of strings
    details         TEXT    NOT NULL, -- a JSON object
    status          TEXT    NOT NULL, -- triggered | acknowledged | resolved
    opened_at       INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    resolved_at     INTEGER,
    resolved_by     TEXT,
    updated_at      INTEGER NOT NULL,
    events          INTEGER NOT NULL,
    suppressed      TEXT,             -- why it notifies no one (silence, maintenance, inhibition)
    policy          TEXT              -- the escalation policy it was routed to
);
-- Open-only dedup: one open alert per key; once resolved, the key opens a new one.
CREATE UNIQUE INDEX alerts_open_key ON alerts (integration, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_by_status ON alerts (status, id);

CREATE TABLE alert_log (
    id     INTEGER PRIMARY KEY,
    alert  INTEGER NOT NULL,
    at     INTEGER NOT NULL,
    kind   TEXT    NOT NULL, -- triggered | repeated | acknowledged | resolved | notified | escalated | suppressed
    actor  TEXT    NOT NULL,
    detail TEXT    NOT NULL
);
CREATE INDEX alert_log_by_alert ON alert_log (alert, id);

CREATE TABLE silences (
    id         INTEGER PRIMARY KEY,
    matchers   TEXT    NOT NULL, -- JSON: [{"name","value","isRegex","isEqual"}]
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    comment    TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

-- An alert's escalation: the step whose notifications go out at `next_at`. Deleted when the
-- alert is acknowledged or resolved, or when the policy is exhausted.
CREATE TABLE escalations (
    id      INTEGER PRIMARY KEY,
    alert   INTEGER NOT NULL UNIQUE,
    policy  TEXT    NOT NULL,
    step    INTEGER NOT NULL,
    round   INTEGER NOT NULL,
    next_at INTEGER NOT NULL
);
CREATE INDEX escalations_due ON escalations (next_at);

-- Notifications to deliver, at least once, with the same idempotency key on every attempt.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    alert           INTEGER,
    service         TEXT,
    customer        TEXT,
    channel         TEXT    NOT NULL, -- webhook | slack | teams | email
    destination     TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    status          TEXT    NOT NULL, -- pending | delivered | dead
    attempts        INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    give_up_at      INTEGER NOT NULL,
    last_error      TEXT,
    delivered_at    INTEGER,
    created_by      TEXT    NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE oncall_overrides (
    id         INTEGER PRIMARY KEY,
    schedule   TEXT    NOT NULL,
    user_name  TEXT    NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE heartbeats (
    id          INTEGER PRIMARY KEY,
    integration TEXT    NOT NULL UNIQUE,
    last_at     INTEGER NOT NULL
);

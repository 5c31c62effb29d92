-- Overrides of the deploy gate: who let a service deploy through a freeze, why, until when.
CREATE TABLE gate_overrides (
    id         INTEGER PRIMARY KEY,
    service    TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX gate_overrides_by_service ON gate_overrides (service, expires_at);

-- The audit trail of decisions people take against a policy (overrides, kill switches).
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    subject TEXT    NOT NULL,
    details TEXT    NOT NULL -- a JSON object
);
CREATE INDEX audit_by_subject ON audit (subject, at);

-- Incidents: the human process around alerts. Each status move records when and who; the
-- timeline keeps what people and Steward did (declarations, status moves, roles, notes,
-- runbook runs); alerts, their notifications and changes are joined in when it is read.
CREATE TABLE incidents (
    id                INTEGER PRIMARY KEY,
    title             TEXT    NOT NULL,
    severity          TEXT    NOT NULL, -- SEV1 | SEV2 | SEV3 | SEV4
    service           TEXT    NOT NULL,
    customer          TEXT,
    status            TEXT    NOT NULL, -- triggered | acknowledged | mitigated | resolved
    started_at        INTEGER NOT NULL, -- declared, or its first alert opened
    impact_started_at INTEGER,
    acknowledged_at   INTEGER,
    acknowledged_by   TEXT,
    mitigated_at      INTEGER,
    mitigated_by      TEXT,
    resolved_at       INTEGER,
    resolved_by       TEXT,
    created_by        TEXT    NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX incidents_by_service ON incidents (service, status);

CREATE TABLE incident_events (
    id       INTEGER PRIMARY KEY,
    incident INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    summary  TEXT    NOT NULL,
    actor    TEXT    NOT NULL,
    details  TEXT    NOT NULL -- a JSON object
);
CREATE INDEX incident_events_by_incident ON incident_events (incident, at);

CREATE TABLE incident_roles (
    id          INTEGER PRIMARY KEY,
    incident    INTEGER NOT NULL,
    role        TEXT    NOT NULL,
    person      TEXT    NOT NULL,
    assigned_at INTEGER NOT NULL,
    assigned_by TEXT    NOT NULL
);
CREATE UNIQUE INDEX incident_roles_one_each ON incident_roles (incident, role);

-- Action items from postmortems: closing one needs a note of how it was verified.
CREATE TABLE action_items (
    id          INTEGER PRIMARY KEY,
    incident    INTEGER NOT NULL,
    title       TEXT    NOT NULL,
    owner       TEXT    NOT NULL,
    due_at      INTEGER,
    status      TEXT    NOT NULL, -- open | closed
    verified    TEXT,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    closed_at   INTEGER,
    closed_by   TEXT
);
CREATE INDEX action_items_by_incident ON action_items (incident);
CREATE INDEX action_items_open ON action_items (status, due_at);

ALTER TABLE alerts ADD COLUMN incident INTEGER;
CREATE INDEX alerts_by_incident ON alerts (incident);

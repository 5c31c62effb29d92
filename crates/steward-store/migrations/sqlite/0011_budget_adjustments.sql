-- Budget adjustments made through the API (the configuration declares others): time that
-- counts as neither good nor bad for the SLOs they name. Who added, changed and removed each
-- is in the audit trail.
CREATE TABLE budget_adjustments (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL,
    service     TEXT    NOT NULL,
    indicator   TEXT,             -- an SLI or SLO of the service; NULL: all of its SLOs
    start_at    INTEGER NOT NULL,
    duration    INTEGER NOT NULL,
    rrule       TEXT,
    time_zone   TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_by  TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- SLI samples, aggregated: exact good/total counts per SLO per 5-second bucket.
CREATE TABLE sli_buckets (
    slo    TEXT    NOT NULL,
    bucket INTEGER NOT NULL, -- unix seconds at the bucket's start
    good   INTEGER NOT NULL,
    total  INTEGER NOT NULL,
    PRIMARY KEY (slo, bucket)
) WITHOUT ROWID;

-- The current state of each multi-window burn-rate condition.
CREATE TABLE slo_alert_state (
    slo          TEXT    NOT NULL,
    long_window  TEXT    NOT NULL,
    short_window TEXT    NOT NULL,
    severity     TEXT    NOT NULL,
    firing       INTEGER NOT NULL,
    since        INTEGER,          -- when it started firing, unix seconds
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (slo, long_window, short_window)
);

-- Every start and stop of a condition, for timelines.
CREATE TABLE slo_alert_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    slo          TEXT    NOT NULL,
    long_window  TEXT    NOT NULL,
    short_window TEXT    NOT NULL,
    severity     TEXT    NOT NULL,
    firing       INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    long_burn    REAL    NOT NULL,
    short_burn   REAL    NOT NULL,
    factor       REAL    NOT NULL
);
CREATE INDEX slo_alert_events_by_slo ON slo_alert_events (slo, at);

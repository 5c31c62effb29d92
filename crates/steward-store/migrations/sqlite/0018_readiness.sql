-- Evidence that a control of a service's responsibility map is done (a restore drill, an
-- access review, a patch report): what, where it is, when the work was done, who recorded it.
CREATE TABLE evidence (
    id          INTEGER PRIMARY KEY,
    service     TEXT    NOT NULL,
    customer    TEXT,
    control     TEXT    NOT NULL,
    link        TEXT    NOT NULL,
    note        TEXT    NOT NULL,
    done_at     INTEGER NOT NULL,
    recorded_by TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX evidence_by_control ON evidence (service, control, done_at);

-- Each service's readiness once a day (the day in UTC, YYYY-MM-DD), for the trend.
CREATE TABLE readiness_days (
    service TEXT    NOT NULL,
    day     TEXT    NOT NULL,
    level   TEXT    NOT NULL,
    score   INTEGER NOT NULL,
    failing TEXT    NOT NULL, -- the failing checks' names, separated by spaces
    PRIMARY KEY (service, day)
);

-- Alert noise reads the pages of the last 30 days.
CREATE INDEX alerts_by_opened ON alerts (opened_at);

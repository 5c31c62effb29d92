-- Changes to services (deploys, config, flags) as CI reports them: for the deploy gate's
-- record, incident timelines and delivery metrics.
CREATE TABLE changes (
    id         INTEGER PRIMARY KEY,
    service    TEXT    NOT NULL,
    customer   TEXT,
    kind       TEXT    NOT NULL, -- deploy | config | flag
    version    TEXT,
    status     TEXT    NOT NULL, -- started | succeeded | failed
    link       TEXT,
    labels     TEXT    NOT NULL, -- a JSON object of strings
    at         INTEGER NOT NULL,
    commit_at  INTEGER,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX changes_by_service ON changes (service, at);

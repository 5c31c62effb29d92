-- SLI samples, aggregated: exact good/total counts per SLO per 5-second bucket.
CREATE TABLE sli_buckets (
    slo    TEXT   NOT NULL,
    bucket BIGINT NOT NULL, -- unix seconds at the bucket's start
    good   BIGINT NOT NULL,
    total  BIGINT NOT NULL,
    PRIMARY KEY (slo, bucket)
);

-- The current state of each multi-window burn-rate condition.
CREATE TABLE slo_alert_state (
    slo          TEXT    NOT NULL,
    long_window  TEXT    NOT NULL,
    short_window TEXT    NOT NULL,
    severity     TEXT    NOT NULL,
    firing       BOOLEAN NOT NULL,
    since        BIGINT,
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (slo, long_window, short_window)
);

-- Every start and stop of a condition, for timelines.
CREATE TABLE slo_alert_events (
    id           BIGSERIAL PRIMARY KEY,
    slo          TEXT             NOT NULL,
    long_window  TEXT             NOT NULL,
    short_window TEXT             NOT NULL,
    severity     TEXT             NOT NULL,
    firing       BOOLEAN          NOT NULL,
    at           BIGINT           NOT NULL,
    long_burn    DOUBLE PRECISION NOT NULL,
    short_burn   DOUBLE PRECISION NOT NULL,
    factor       DOUBLE PRECISION NOT NULL
);
CREATE INDEX slo_alert_events_by_slo ON slo_alert_events (slo, at);

-- Samples stored once per series (the name samples are sent to, or an objective's name for
-- counts judged per objective), keyed by integer ids, rolled up as they age.
CREATE TABLE series (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    -- Rows before this hold judged time-slice units, not raw events.
    units_through INTEGER NOT NULL DEFAULT -9223372036854775808
);

CREATE TABLE series_rows (
    series INTEGER NOT NULL,
    bucket INTEGER NOT NULL, -- unix seconds at the row's start (5 s, 1 min, 10 min or 1 h)
    good   INTEGER NOT NULL,
    total  INTEGER NOT NULL,
    PRIMARY KEY (series, bucket),
    -- SQLite turns an integer that overflows into a REAL: refuse it instead.
    CHECK (typeof(good) = 'integer' AND typeof(total) = 'integer' AND good >= 0 AND total >= good)
) WITHOUT ROWID;

INSERT INTO series (name) SELECT DISTINCT slo FROM sli_buckets ORDER BY slo;
INSERT INTO series_rows (series, bucket, good, total)
    SELECT s.id, b.bucket, CAST(b.good AS INTEGER), CAST(b.total AS INTEGER)
    FROM sli_buckets b JOIN series s ON s.name = b.slo;
DROP TABLE sli_buckets;

-- Small facts about the store itself, such as when rows were last rolled up.
CREATE TABLE steward_meta (
    key   TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);

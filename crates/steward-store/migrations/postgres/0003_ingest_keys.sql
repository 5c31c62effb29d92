-- Idempotency keys of stored sample batches: a retry with the same key gets the first answer
-- and stores nothing. Kept for 24 hours.
CREATE TABLE ingest_keys (
    key       TEXT   PRIMARY KEY,
    body_hash BIGINT NOT NULL, -- FNV-1a of the request body, to refuse a key reused for another batch
    accepted  BIGINT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX ingest_keys_by_time ON ingest_keys (at);

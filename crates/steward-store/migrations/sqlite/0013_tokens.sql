-- API tokens. Only a SHA-256 of each is kept: the token itself is shown once, when made.
-- A user's token acts as its user; a sender's posts samples for its services only.
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    hash         TEXT   NOT NULL UNIQUE,
    kind         TEXT   NOT NULL, -- user | sender
    principal    TEXT   NOT NULL, -- the user's name, or the sender's label
    name         TEXT   NOT NULL,
    services     TEXT   NOT NULL DEFAULT '', -- a sender's services, comma separated
    created_at   BIGINT NOT NULL,
    created_by   TEXT   NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX tokens_by_principal ON tokens (principal);

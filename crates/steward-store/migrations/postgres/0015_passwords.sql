-- Console passwords: an argon2id hash (PHC string) per user; the password itself is never kept.
-- Sessions and one-time login links are rows of `tokens` (kinds `session` and `login`).
CREATE TABLE passwords (
    principal TEXT   NOT NULL PRIMARY KEY,
    hash      TEXT   NOT NULL,
    set_at    BIGINT NOT NULL
);

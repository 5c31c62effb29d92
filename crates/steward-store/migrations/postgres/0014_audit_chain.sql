-- The audit trail is a hash chain: each entry carries the hash of the one before (`prev`)
-- and its own (`hash`, SHA-256 of its fields and `prev`), so an entry changed or removed
-- with a database client breaks the chain at that place. Entries from before this version
-- have no hash; `steward audit verify` counts them apart.
ALTER TABLE audit ADD COLUMN prev TEXT;
ALTER TABLE audit ADD COLUMN hash TEXT;

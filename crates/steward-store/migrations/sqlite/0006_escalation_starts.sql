-- When an escalation (re)started: part of its notifications' idempotency keys, so an alert
-- that escalates again (its silence ended) notifies again rather than colliding with the
-- keys of its first escalation.
ALTER TABLE escalations ADD COLUMN started_at INTEGER NOT NULL DEFAULT 0;

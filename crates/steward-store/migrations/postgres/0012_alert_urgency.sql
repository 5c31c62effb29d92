-- What Steward does with an alert (`page` someone or record a `ticket`), kept beside the
-- source's own severity word, from the one mapping in steward_model::Severity::of.
ALTER TABLE alerts ADD COLUMN urgency TEXT NOT NULL DEFAULT 'page';
UPDATE alerts SET urgency = 'ticket'
 WHERE lower(trim(severity)) IN ('warning', 'warn', 'info', 'informational', 'notice', 'low', 'debug', 'ticket', 'none');
CREATE INDEX alerts_open_pages ON alerts (service, urgency) WHERE status <> 'resolved';
-- A ticket neither escalates nor is held back: what an open one had (as a `warning`, it used
-- to page) stops here.
DELETE FROM escalations
 WHERE alert IN (SELECT id FROM alerts WHERE urgency = 'ticket' AND status <> 'resolved');

-- Suppressions are stored as values (`silence N`, `maintenance W`, `rule N R`,
-- `dependency N S D`), no longer as sentences. Silences and windows carry over; an open
-- alert inhibited under the old wording is judged again by the worker within seconds.
UPDATE alerts SET suppressed = 'silence ' || substr(suppressed, 21)
 WHERE suppressed LIKE 'silenced by silence %';
UPDATE alerts SET suppressed = 'maintenance ' || substr(suppressed, 23)
 WHERE suppressed LIKE 'in maintenance window %';
UPDATE alerts SET suppressed = 'rule 0 carried-over'
 WHERE suppressed LIKE 'inhibited by %';
UPDATE alerts SET suppressed = NULL WHERE urgency = 'ticket';

-- Where a group stands, asked for every notification queued: its last deliveries, the
-- notification waiting to leave, and the delivery under way. One index seek each, however
-- many notifications a storm has queued.
CREATE INDEX outbox_group_deliveries ON outbox (destination, group_key, status, delivered_at);
CREATE INDEX outbox_group_waiting ON outbox (destination, group_key, next_attempt_at)
 WHERE status = 'pending' AND batch IS NULL;
CREATE INDEX outbox_group_in_flight ON outbox (destination, group_key, next_attempt_at)
 WHERE status = 'pending' AND batch IS NOT NULL;

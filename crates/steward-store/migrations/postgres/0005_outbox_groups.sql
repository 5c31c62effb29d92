-- Notifications of one group (destination and group key) are sent together: the first due
-- message leads the batch, and every pending message of its group joins it.
ALTER TABLE outbox ADD COLUMN group_key TEXT;
ALTER TABLE outbox ADD COLUMN batch BIGINT;
CREATE INDEX outbox_groups ON outbox (destination, group_key, status);
-- Open alerts by service: what dependency inhibition asks for.
CREATE INDEX alerts_open_by_service ON alerts (service, status);
-- Alerts that resolve unless sent again (the Alertmanager API's endsAt).
ALTER TABLE alerts ADD COLUMN expires_at BIGINT;
CREATE INDEX alerts_expiring ON alerts (expires_at) WHERE expires_at IS NOT NULL;

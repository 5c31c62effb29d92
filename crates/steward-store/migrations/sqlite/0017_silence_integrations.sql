-- A silence made through the Alertmanager v2 API with an integration's key belongs to that
-- integration: it silences that integration's alerts only, and only that key sees it.
ALTER TABLE silences ADD COLUMN integration TEXT;

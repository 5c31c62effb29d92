-- A session started through single sign-on carries the role its groups gave (NULL: the
-- User's own role).
ALTER TABLE tokens ADD COLUMN role TEXT;

-- The scheduled purge deletes rows by expiry, in chunks; without these indexes every chunk
-- scans its table whole.
CREATE INDEX IF NOT EXISTS throttle_expires_at ON throttle (expires_at);
CREATE INDEX IF NOT EXISTS refresh_spent_expires_at ON refresh_spent (expires_at);
CREATE INDEX IF NOT EXISTS revoked_families_expires_at ON revoked_families (expires_at);

-- Two-factor sign-in: a TOTP secret per user (sealed with a key derived from a secret setting),
-- single-use backup codes (as keyed hashes), and the short-lived challenges between a password
-- check and its second factor. users.mfa_enabled lets a login see, in the row it already reads,
-- whether a second factor is due.
ALTER TABLE users ADD COLUMN mfa_enabled INTEGER NOT NULL DEFAULT 0;

CREATE TABLE mfa_totp (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     TEXT    NOT NULL,                 -- sealed; never the secret itself
    enabled    INTEGER NOT NULL DEFAULT 0,       -- 0 until activate/confirm
    last_step  INTEGER NOT NULL DEFAULT 0,       -- newest time step used: older codes are dead
    enabled_by TEXT,                             -- random mark of the confirming request
    created    INTEGER NOT NULL
);

CREATE TABLE mfa_backup_codes (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT    NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE mfa_challenges (
    id         TEXT    PRIMARY KEY,              -- SHA-256 of the ephemeral token's random part
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL,                 -- 'jwt' or 'token': what the sign-in answers
    binding    TEXT    NOT NULL,                 -- digest of the password hash checked
    failures   INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL
);
CREATE INDEX mfa_challenges_expiry ON mfa_challenges (expires_at);
-- The foreign key's cascade (and turning a factor off) finds a user's challenges by it.
CREATE INDEX mfa_challenges_user ON mfa_challenges (user_id);

-- Passkeys (WebAuthn): the credentials of each user, several per user, and the short-lived,
-- single-use challenges of the ceremonies (djoser keeps both in one CredentialOptions row, one
-- per user).
CREATE TABLE webauthn_credentials (
    id            INTEGER PRIMARY KEY,             -- the id of webauthn/credentials/{id}/
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT    NOT NULL UNIQUE,         -- base64url, as the browser names it
    public_key    TEXT    NOT NULL,                -- the COSE key, base64url
    sign_count    INTEGER NOT NULL DEFAULT 0,      -- never moves backwards
    ukey          TEXT    NOT NULL,                -- the user handle (djoser's ukey)
    name          TEXT    NOT NULL DEFAULT '',
    created       INTEGER NOT NULL,
    last_used     INTEGER
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

CREATE TABLE webauthn_challenges (
    challenge    TEXT    PRIMARY KEY,              -- as issued; the client data echoes it
    purpose      TEXT    NOT NULL,                 -- 'signup', 'login' or 'add'
    ukey         TEXT,                             -- signup: the user handle in the URL
    username     TEXT,                             -- signup: the name asked for
    display_name TEXT,
    user_id      INTEGER,                          -- login (unless discoverable) and add
    expires_at   INTEGER NOT NULL
);
CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges (expires_at);
CREATE INDEX webauthn_challenges_ukey ON webauthn_challenges (ukey);

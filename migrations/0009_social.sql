-- Social sign-in (o/{provider}/, docs/social.md).
-- social_states: one row per sign-in begun, keyed by the SHA-256 of the `state` sent to the
-- provider; it keeps what djoser keeps in the session cookie (redirect_uri), plus the PKCE
-- verifier and the OpenID Connect nonce. A callback spends its row with one conditional DELETE,
-- so two callbacks with the same state cannot both win.
CREATE TABLE social_states (
    id           TEXT    PRIMARY KEY,
    provider     TEXT    NOT NULL,
    redirect_uri TEXT    NOT NULL,
    verifier     TEXT    NOT NULL,
    nonce        TEXT    NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX social_states_expiry ON social_states (expires_at);

-- social_accounts: which provider identity (the ID token's `sub`, GitHub's user id) signs in
-- as which user. One identity, one user; a user may have several identities.
CREATE TABLE social_accounts (
    provider   TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT    NOT NULL DEFAULT '',
    created    INTEGER NOT NULL,
    last_login INTEGER,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX social_accounts_user ON social_accounts (user_id);

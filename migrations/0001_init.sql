-- Users as djoser's default auth.User keeps them, plus the columns this service needs.
CREATE TABLE users (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    username           TEXT    NOT NULL UNIQUE,            -- case-sensitive, NFKC
    email              TEXT    NOT NULL DEFAULT '',
    email_key          TEXT    NOT NULL DEFAULT '',        -- lower-cased e-mail, unique when set
    password           TEXT    NOT NULL,                   -- argon2id PHC or Django pbkdf2_sha256
    is_active          INTEGER NOT NULL DEFAULT 0,
    is_staff           INTEGER NOT NULL DEFAULT 0,
    first_name         TEXT    NOT NULL DEFAULT '',
    last_name          TEXT    NOT NULL DEFAULT '',
    last_login         INTEGER,                            -- unix seconds
    date_joined        INTEGER NOT NULL,
    tokens_valid_after INTEGER NOT NULL DEFAULT 0          -- tokens issued earlier are refused
);
CREATE UNIQUE INDEX users_email_key ON users (email_key) WHERE email_key <> '';

-- DRF authtoken: at most one key per user.
CREATE TABLE auth_tokens (
    key     TEXT    PRIMARY KEY,
    user_id INTEGER NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created INTEGER NOT NULL
);

-- The single-use arbiter of refresh tokens: a row exists once a jti was rotated or blacklisted.
CREATE TABLE refresh_spent (
    jti        TEXT    PRIMARY KEY,
    family     TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    spent_at   INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Families (all tokens descended from one login) revoked by reuse detection or logout.
CREATE TABLE revoked_families (
    family     TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    revoked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Fixed-window throttle counters.
CREATE TABLE throttle (
    key          TEXT    PRIMARY KEY,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);

-- The security event log: append-only, read newest first per user, purged after
-- EVENTS_RETENTION_DAYS.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,                 -- unix seconds
    user_id    INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    session    TEXT,                             -- the token family, when there is one
    ip         TEXT    NOT NULL,                 -- coarsened to /24 or /48
    user_agent TEXT    NOT NULL,
    country    TEXT
);
CREATE INDEX events_user ON events (user_id, id);
CREATE INDEX events_at ON events (at);

-- Keeps "waiting for the activation link" apart from "disabled by an operator" (both are
-- is_active = 0), and holds an e-mail change until its confirmation link is used.
ALTER TABLE users ADD COLUMN activation_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN pending_email TEXT;
-- Accounts that registered and never logged in are the ones still waiting for their link.
UPDATE users SET activation_pending = 1 WHERE is_active = 0 AND last_login IS NULL;

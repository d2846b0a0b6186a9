-- The operator's declared user fields (USER_EXTRA_FIELDS), one JSON object per user; keys that
-- are absent read as empty. first_name and last_name stay the columns they always were.
ALTER TABLE users ADD COLUMN extra_fields TEXT NOT NULL DEFAULT '{}';

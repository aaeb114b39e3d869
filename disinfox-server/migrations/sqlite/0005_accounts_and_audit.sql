-- Self-service accounts: a registration waiting for an administrator's approval is a user
-- with pending = 1; it cannot sign in, and no key or session of it works, until approved.
ALTER TABLE users ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;

-- The audit log (src/audit.rs): who did what, from where. Never a secret: no password, key,
-- token or hash. `actor` is the acting user's e-mail (for sign-ins, the e-mail tried, if it
-- looks like one); `actor_id` is kept without a foreign key so the log outlives the account.
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,               -- RFC 3339, UTC, microseconds
    kind     TEXT NOT NULL,               -- sign-in, sign-in-failed, key-created, ...
    actor_id INTEGER,
    actor    TEXT NOT NULL DEFAULT '',
    address  TEXT NOT NULL DEFAULT '',    -- the client's address
    object   TEXT NOT NULL DEFAULT '',    -- what was acted on: a user, a key, an incident
    detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_kind ON audit_log (kind, at);
CREATE INDEX audit_log_actor ON audit_log (actor COLLATE NOCASE, at);

-- What several server processes on one database share (src/db/replicas.rs). SQLite is one
-- process, which keeps its limits in memory; the tables exist on both backends so the same
-- methods work on both (and are tested on SQLite too).

-- Token buckets of the rate limits (per user across keys, sign-in attempts and
-- registrations per address, anonymous page views): `tokens` left at `updated_ms` (Unix
-- milliseconds); refilled on each take from the time passed. A bucket untouched for an hour
-- is full again and is pruned.
CREATE TABLE rate_buckets (
    name       TEXT NOT NULL,               -- the limit: user, sign-in, registration, view
    key        TEXT NOT NULL,               -- the user id or client address (bucket)
    tokens     REAL NOT NULL,
    updated_ms INTEGER NOT NULL,
    granted    INTEGER NOT NULL DEFAULT 1,  -- whether the last take got a token
    PRIMARY KEY (name, key)
);
CREATE INDEX rate_buckets_updated ON rate_buckets (updated_ms);

-- Failed sign-ins per (client address, e-mail address) pair and the lock they led to
-- (src/auth/throttle.rs); a success deletes the row, an hour without failures forgets it.
CREATE TABLE sign_in_failures (
    address         TEXT NOT NULL,
    email           TEXT NOT NULL,
    count           INTEGER NOT NULL,
    last_ms         INTEGER NOT NULL,
    locked_until_ms INTEGER,
    PRIMARY KEY (address, email)
);
CREATE INDEX sign_in_failures_last ON sign_in_failures (last_ms);

-- The server processes alive: each writes its heartbeat every few seconds. A job is owned
-- by the process running it (the one that received the upload); a job whose owner has not
-- beaten for the lease is interrupted, and any process fails it.
CREATE TABLE server_instances (
    id           TEXT PRIMARY KEY,          -- a random UUID per process start
    started_ms   INTEGER NOT NULL,
    heartbeat_ms INTEGER NOT NULL
);
ALTER TABLE import_jobs ADD COLUMN owner TEXT;

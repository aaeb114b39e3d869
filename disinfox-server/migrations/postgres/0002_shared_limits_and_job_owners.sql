-- What several server processes on one database share (src/db/replicas.rs and
-- src/db/postgres/replicas.rs): the same tables as migrations/sqlite/0010.

-- Token buckets of the rate limits (per user across keys, sign-in attempts and
-- registrations per address, anonymous page views): `tokens` left at `updated_ms` (Unix
-- milliseconds); refilled on each take from the time passed. A bucket untouched for an hour
-- is full again and is pruned.
CREATE TABLE rate_buckets (
    name       TEXT NOT NULL,
    key        TEXT NOT NULL,
    tokens     DOUBLE PRECISION NOT NULL,
    updated_ms BIGINT NOT NULL,
    granted    BOOLEAN NOT NULL DEFAULT TRUE,
    PRIMARY KEY (name, key)
);
CREATE INDEX rate_buckets_updated ON rate_buckets (updated_ms);

-- Failed sign-ins per (client address, e-mail address) pair and the lock they led to.
CREATE TABLE sign_in_failures (
    address         TEXT NOT NULL,
    email           TEXT NOT NULL,
    count           INTEGER NOT NULL,
    last_ms         BIGINT NOT NULL,
    locked_until_ms BIGINT,
    PRIMARY KEY (address, email)
);
CREATE INDEX sign_in_failures_last ON sign_in_failures (last_ms);

-- The server processes alive and the jobs they own (see migrations/sqlite/0010).
CREATE TABLE server_instances (
    id           TEXT PRIMARY KEY,
    started_ms   BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL
);
ALTER TABLE import_jobs ADD COLUMN owner TEXT;

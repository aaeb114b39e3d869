-- Import jobs (src/jobs.rs). An upload becomes a job that runs in the background; each
-- incident of the file is applied in its own transaction, which also writes its row in
-- import_job_items and the job's counters: whatever happens to the process, a job's report
-- says exactly what is in the database. A start marks the jobs a stopped process left
-- unfinished as failed.
CREATE TABLE import_jobs (
    id          TEXT PRIMARY KEY,             -- a random UUID, in the job's URL
    user_id     INTEGER REFERENCES users (id) ON DELETE CASCADE,
    file_name   TEXT NOT NULL,
    format      TEXT NOT NULL CHECK (format IN ('stix', 'csv')),
    size        INTEGER NOT NULL,             -- bytes uploaded
    state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    total       INTEGER,                      -- incidents in the file, once it is read
    done        INTEGER NOT NULL DEFAULT 0,   -- rows in import_job_items
    created     INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    unchanged   INTEGER NOT NULL DEFAULT 0,
    rejected    INTEGER NOT NULL DEFAULT 0,
    warnings    TEXT NOT NULL DEFAULT '[]',   -- about the whole file (JSON list of strings)
    error       TEXT,                         -- why a failed job failed
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT
);
CREATE INDEX import_jobs_user ON import_jobs (user_id);
CREATE INDEX import_jobs_state ON import_jobs (state);

-- What a job did with each incident of its file, in file order.
CREATE TABLE import_job_items (
    job_id      TEXT NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    n           INTEGER NOT NULL,             -- 1 to total
    ref         TEXT NOT NULL,                -- CSV rows or STIX id
    name        TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('created', 'updated', 'unchanged', 'rejected')),
    incident_id TEXT,
    change_seq  INTEGER,                      -- the change it wrote (created, updated)
    errors      TEXT NOT NULL DEFAULT '[]',   -- why it was rejected
    warnings    TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (job_id, n)
);

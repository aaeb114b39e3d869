-- Users, roles and API keys.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'reader')),
    created_at    TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    prefix       TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- Incidents: one row per incident, its current version. `change_seq` is the position of the
-- incident's latest change in the change log; `changed_at` is the server time of that change,
-- strictly increasing with `change_seq`.
CREATE TABLE incidents (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created     TEXT NOT NULL,
    modified    TEXT NOT NULL,
    first_seen  TEXT,
    last_seen   TEXT,
    data        TEXT NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0,
    change_seq  INTEGER NOT NULL UNIQUE,
    changed_at  TEXT NOT NULL,
    created_by  INTEGER REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX incidents_first_seen ON incidents (first_seen);
CREATE INDEX incidents_created ON incidents (created);

-- The change log: every create, update and delete, in order.
CREATE TABLE changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    user_id     INTEGER,
    at          TEXT NOT NULL
);

-- Facets, for filters, counts and correlation.
CREATE TABLE incident_techniques (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    technique   TEXT NOT NULL,
    tactic      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (incident_id, technique)
);
CREATE INDEX incident_techniques_t ON incident_techniques (technique);
CREATE INDEX incident_techniques_tactic ON incident_techniques (tactic);

CREATE TABLE incident_actors (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    actor       TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (incident_id, actor)
);
CREATE INDEX incident_actors_a ON incident_actors (actor);

CREATE TABLE incident_countries (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    country     TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('target', 'origin')),
    PRIMARY KEY (incident_id, country, role)
);
CREATE INDEX incident_countries_c ON incident_countries (country, role);

CREATE TABLE incident_channels (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    channel     TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (incident_id, channel)
);
CREATE INDEX incident_channels_c ON incident_channels (channel);

-- Full-text search over names and descriptions.
CREATE VIRTUAL TABLE incidents_fts USING fts5 (
    name, description, content = 'incidents', content_rowid = 'rowid', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER incidents_ai AFTER INSERT ON incidents BEGIN
    INSERT INTO incidents_fts (rowid, name, description) VALUES (new.rowid, new.name, new.description);
END;
CREATE TRIGGER incidents_ad AFTER DELETE ON incidents BEGIN
    INSERT INTO incidents_fts (incidents_fts, rowid, name, description) VALUES ('delete', old.rowid, old.name, old.description);
END;
CREATE TRIGGER incidents_au AFTER UPDATE OF name, description ON incidents BEGIN
    INSERT INTO incidents_fts (incidents_fts, rowid, name, description) VALUES ('delete', old.rowid, old.name, old.description);
    INSERT INTO incidents_fts (rowid, name, description) VALUES (new.rowid, new.name, new.description);
END;

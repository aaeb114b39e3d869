-- The TAXII collection (see src/db/collection.rs). Incidents and their relationships sit at
-- the change-log position of their latest change; the objects they share (the author and its
-- markings, DISARM, techniques, actors, countries) sit where they entered the collection, which
-- never moves while an incident still refers to them, so walking the collection in position
-- order returns every object once.
CREATE TABLE collection_entries (
    key   TEXT PRIMARY KEY,  -- base, disarm, technique:T0002, actor:<lower-case name>, country:UA
    seq   INTEGER NOT NULL,  -- the change that brought the object into the collection
    at    TEXT NOT NULL,     -- that change's time: the object's TAXII date_added
    value TEXT NOT NULL DEFAULT ''  -- what the object is built from (the actor's name as written)
);
CREATE INDEX collection_entries_seq ON collection_entries (seq);

-- The shared objects each live incident refers to (none for deleted incidents).
CREATE TABLE collection_refs (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    PRIMARY KEY (incident_id, key)
);
CREATE INDEX collection_refs_key ON collection_refs (key);

-- Looking up the change at or before a time (newer_than, added_after) searches this index
-- instead of scanning the change log.
CREATE INDEX changes_at ON changes (at);

-- Where the TAXII collection holds an object whose id cannot be read back to its source
-- (see src/db/collection.rs): each relationship of a live incident, and the attack-pattern,
-- threat-actor or location of each shared entry, under both OpenCTI id rules. Asking for one
-- object by id is then one primary-key search, never a walk of the collection. Written in
-- the transaction of every incident write, with the collection tables.
CREATE TABLE collection_object_ids (
    object_id   TEXT PRIMARY KEY,
    incident_id TEXT REFERENCES incidents (id) ON DELETE CASCADE,  -- a relationship's incident
    key         TEXT,                                              -- a shared entry's key
    CHECK ((incident_id IS NULL) <> (key IS NULL))
);
CREATE INDEX collection_object_ids_incident ON collection_object_ids (incident_id);
CREATE INDEX collection_object_ids_key ON collection_object_ids (key);

-- One-off tasks the server runs at start (then deletes): filling the index of a database
-- written before it existed.
CREATE TABLE maintenance (task TEXT PRIMARY KEY);
INSERT INTO maintenance (task) VALUES ('index collection object ids');

-- Stored STIX objects, second format (src/db/stix.rs): each incident keeps its own objects
-- (incident, relationships, note) joined by commas, and the ids of the shared objects it
-- refers to (techniques, actors, countries, channels, DISARM identity and marking), with the
-- change of the incident they were built at; each
-- shared object is stored once per flavour in stix_shared, whichever incidents refer to it.
-- The old rows are dropped and the rules forgotten: the server builds every incident's
-- objects again at its next start.
DROP TABLE incident_stix;
CREATE TABLE incident_stix (
    incident_id TEXT COLLATE "C" NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    flavor      TEXT COLLATE "C" NOT NULL CHECK (flavor IN ('standard', 'opencti')),
    change_seq  BIGINT NOT NULL,
    refs        TEXT NOT NULL,
    own         TEXT NOT NULL,
    PRIMARY KEY (incident_id, flavor)
);
CREATE TABLE stix_shared (
    flavor TEXT COLLATE "C" NOT NULL CHECK (flavor IN ('standard', 'opencti')),
    id     TEXT COLLATE "C" NOT NULL,
    json   TEXT NOT NULL,
    PRIMARY KEY (flavor, id)
);
DELETE FROM stix_rules;

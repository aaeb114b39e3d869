-- Each incident's STIX objects, stored as canonical JSON when the incident is written, so
-- that answers (bundle endpoint pages, the export, TAXII) are assembled from stored text
-- instead of built again (src/db/stix.rs). One row per incident and flavour (`standard`,
-- `opencti`), under the server's OpenCTI id rules: every object the builder adds for the
-- incident except the four every bundle starts with (author, TLP marking, project identity,
-- extension-definition), in the builder's order, one compact JSON object per line, with the
-- ids one per line in the same order.
CREATE TABLE incident_stix (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    flavor      TEXT NOT NULL CHECK (flavor IN ('standard', 'opencti')),
    ids         TEXT NOT NULL,
    objects     TEXT NOT NULL,
    PRIMARY KEY (incident_id, flavor)
);

-- The rules the stored objects were built with (a digest of the builder's options and of
-- its output for a fixed sample): when the server starts with other rules (a changed
-- setting, a new builder), every incident's objects are built again.
CREATE TABLE stix_rules (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version TEXT NOT NULL
);

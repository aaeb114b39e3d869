-- Looking incidents up by name (the identity of a row in the DISINFOX CSV format).
CREATE INDEX incidents_name ON incidents (name COLLATE NOCASE);

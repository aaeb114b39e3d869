-- Watchlists: the incidents a user follows (the star on incident pages and lists). `seen_seq`
-- is the change-log position of the incident's latest change when the user last looked (or
-- starred it): changes after it are "what changed since you looked". The incident is never
-- deleted (a deletion publishes it revoked), so the row stays and shows the deletion.
CREATE TABLE watchlist (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    added_at    TEXT NOT NULL,
    seen_seq    INTEGER NOT NULL,
    seen_at     TEXT NOT NULL,
    PRIMARY KEY (user_id, incident_id)
);

-- "My work" and "what changed": the change log already records the user of every create,
-- update and delete (`changes.user_id`); these indexes find a user's changes and an
-- incident's changes without a scan of the log.
CREATE INDEX changes_user ON changes (user_id, seq);
CREATE INDEX changes_incident ON changes (incident_id, seq);

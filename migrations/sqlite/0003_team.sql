-- Schema version 3: what team projects need (the same tables on both backends).
-- Idempotent decisions: a client-chosen id (an app's offline outbox resends a decision whose
-- acknowledgement it never saw; the second copy is recognised and not recorded again).
ALTER TABLE decisions ADD COLUMN client_id TEXT;
CREATE UNIQUE INDEX decisions_client_id ON decisions(client_id) WHERE client_id IS NOT NULL;
CREATE INDEX decisions_annotator ON decisions(annotator, id);

-- Items leased to an annotator: nobody else is shown a leased item until the lease expires
-- (expires_ms: milliseconds since the Unix epoch, by the database's clock).
CREATE TABLE leases (
    item_id      INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    label_set_id INTEGER NOT NULL REFERENCES label_sets(id),
    annotator    TEXT NOT NULL,
    expires_ms   INTEGER NOT NULL
);
CREATE INDEX leases_annotator ON leases(annotator, expires_ms);

-- File bytes of items (team projects keep them in the database, deduplicated by content hash)
-- and model weights (checksummed), so every workstation sees the same files.
CREATE TABLE item_files (
    content_hash TEXT PRIMARY KEY,
    bytes        BLOB NOT NULL
);
CREATE TABLE model_files (
    model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
    sha256   TEXT NOT NULL,
    bytes    BLOB NOT NULL
);

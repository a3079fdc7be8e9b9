-- Schema version 5: suspect labels (the same tables on both backends).
--
-- A run of the finder (`yuxuan suspects`, Insights) over the labels of one set: its options
-- and summary (estimated noise per class pair, annotator quality) as JSON, and the labels it
-- found suspect, ranked. A suspect stays in the review queue while its current label is still
-- the one that was checked (`decision_id`): a review, a correction or an undo takes it out.
CREATE TABLE suspect_runs (
    id           INTEGER PRIMARY KEY,
    label_set_id INTEGER NOT NULL REFERENCES label_sets(id),
    params_json  TEXT NOT NULL,
    summary_json TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE TABLE suspects (
    run_id          INTEGER NOT NULL REFERENCES suspect_runs(id) ON DELETE CASCADE,
    item_id         INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    rank            INTEGER NOT NULL,
    given           TEXT NOT NULL,
    suggested       TEXT NOT NULL,
    score           REAL NOT NULL,
    suggested_score REAL NOT NULL,
    decision_id     INTEGER NOT NULL,
    PRIMARY KEY (run_id, item_id)
);
CREATE INDEX suspects_item ON suspects(item_id);

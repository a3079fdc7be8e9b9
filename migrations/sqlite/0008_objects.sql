-- Schema version 8: objects (boxes). A project may be of kind 'objects': its images get boxes
-- pre-labelled by a detector (`box_predictions`) and decided box by box (`box_decisions`,
-- append-only: undo appends a row that names the decision it cancels); the current boxes of an
-- image (`item_boxes`) follow every box decision by trigger, as `item_labels` follows
-- `decisions`. Geometry is in image pixels (top-left x, y, width, height; EXIF applied).

-- SQLite cannot alter a CHECK: the one-row project table is copied out and made again (no
-- RENAME, so the views and triggers that read it are not re-checked half-way).
CREATE TABLE project_v7_copy AS SELECT * FROM project;
DROP TABLE project;
CREATE TABLE project (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('image', 'form', 'objects')),
    created_at    TEXT NOT NULL,
    settings_json TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO project (id, name, kind, created_at, settings_json)
SELECT id, name, kind, created_at, settings_json FROM project_v7_copy;
DROP TABLE project_v7_copy;

-- The boxes a model proposed for an image (model_id NULL: the project's default detector,
-- named in `detector`), image pixels.
CREATE TABLE box_predictions (
    id           INTEGER PRIMARY KEY,
    item_id      INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    label_set_id INTEGER NOT NULL REFERENCES label_sets(id),
    model_id     INTEGER REFERENCES models(id),
    detector     TEXT NOT NULL,
    label        TEXT NOT NULL,
    score        REAL NOT NULL,
    x            REAL NOT NULL,
    y            REAL NOT NULL,
    w            REAL NOT NULL,
    h            REAL NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX box_predictions_item ON box_predictions(item_id, label_set_id, id);

-- Every action on a box: accept (kept as shown), relabel, adjust (new geometry), delete,
-- draw (a new box), undo (cancels `supersedes`). box_uid names the box within its image:
-- 'p<box_predictions.id>' for a proposed box, a client-made id for a drawn one.
CREATE TABLE box_decisions (
    id            INTEGER PRIMARY KEY,
    item_id       INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    label_set_id  INTEGER NOT NULL REFERENCES label_sets(id),
    box_uid       TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('accept', 'relabel', 'adjust', 'delete', 'draw', 'undo')),
    label         TEXT,
    x             REAL,
    y             REAL,
    w             REAL,
    h             REAL,
    score         REAL,
    annotator     TEXT NOT NULL,
    ms_spent      INTEGER NOT NULL DEFAULT 0,
    decided_at    TEXT NOT NULL,
    supersedes    INTEGER REFERENCES box_decisions(id),
    client_id     TEXT UNIQUE,
    CHECK (action IN ('delete', 'undo') OR (label IS NOT NULL AND x IS NOT NULL AND y IS NOT NULL
                                            AND w > 0 AND h > 0))
);
CREATE INDEX box_decisions_item ON box_decisions(item_id, label_set_id, box_uid, id);
CREATE INDEX box_decisions_supersedes ON box_decisions(supersedes) WHERE supersedes IS NOT NULL;
CREATE TRIGGER box_decisions_no_update BEFORE UPDATE ON box_decisions
BEGIN
    SELECT RAISE(ABORT, 'box decisions are append-only: record a new decision (an undo appends one)');
END;
CREATE TRIGGER box_decisions_no_delete BEFORE DELETE ON box_decisions
WHEN EXISTS (SELECT 1 FROM items WHERE id = OLD.item_id)
BEGIN
    SELECT RAISE(ABORT, 'box decisions are append-only: record a new decision (an undo appends one)');
END;

-- The current boxes of each image: per box, its newest decision that no undo cancelled,
-- unless that is a delete.
CREATE TABLE item_boxes (
    item_id      INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    label_set_id INTEGER NOT NULL REFERENCES label_sets(id),
    box_uid      TEXT NOT NULL,
    label        TEXT NOT NULL,
    x            REAL NOT NULL,
    y            REAL NOT NULL,
    w            REAL NOT NULL,
    h            REAL NOT NULL,
    decision_id  INTEGER NOT NULL REFERENCES box_decisions(id),
    PRIMARY KEY (item_id, label_set_id, box_uid)
) WITHOUT ROWID;
CREATE INDEX item_boxes_label ON item_boxes(label_set_id, label);

CREATE TRIGGER box_decisions_refresh AFTER INSERT ON box_decisions
BEGIN
    DELETE FROM item_boxes
    WHERE item_id = NEW.item_id AND label_set_id = NEW.label_set_id AND box_uid = NEW.box_uid;
    INSERT INTO item_boxes (item_id, label_set_id, box_uid, label, x, y, w, h, decision_id)
    SELECT d.item_id, d.label_set_id, d.box_uid, d.label, d.x, d.y, d.w, d.h, d.id
    FROM (SELECT * FROM box_decisions b
          WHERE b.item_id = NEW.item_id AND b.label_set_id = NEW.label_set_id
            AND b.box_uid = NEW.box_uid AND b.action <> 'undo'
            AND NOT EXISTS (SELECT 1 FROM box_decisions u WHERE u.supersedes = b.id AND u.action = 'undo')
          ORDER BY b.id DESC LIMIT 1) d
    WHERE d.action <> 'delete';
END;

-- Schema version 4: team quality control (the same tables on both backends).
--
-- Decisions gain two actions: 'review' (a lead's final label: it wins over every annotator's)
-- and 'flag' (an annotator is not sure: the item goes to the review queue). SQLite cannot
-- change a CHECK constraint in place, so the table is rebuilt (the migration runs with
-- foreign keys off and checks them before it commits).
CREATE TABLE decisions_v4 (
    id            INTEGER PRIMARY KEY,
    item_id       INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    label_set_id  INTEGER NOT NULL REFERENCES label_sets(id),
    label         TEXT,
    annotator     TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('accept', 'correct', 'reject', 'skip', 'undo', 'review', 'flag')),
    ms_spent      INTEGER NOT NULL DEFAULT 0,
    decided_at    TEXT NOT NULL,
    prediction_id INTEGER REFERENCES predictions(id) ON DELETE SET NULL,
    supersedes    INTEGER REFERENCES decisions(id),
    client_id     TEXT
);
INSERT INTO decisions_v4 (id, item_id, label_set_id, label, annotator, action, ms_spent, decided_at, prediction_id, supersedes, client_id)
    SELECT id, item_id, label_set_id, label, annotator, action, ms_spent, decided_at, prediction_id, supersedes, client_id FROM decisions;
DROP TABLE decisions;
ALTER TABLE decisions_v4 RENAME TO decisions;
CREATE INDEX decisions_item ON decisions(item_id, label_set_id, id);
CREATE INDEX decisions_time ON decisions(decided_at);
CREATE UNIQUE INDEX decisions_client_id ON decisions(client_id) WHERE client_id IS NOT NULL;
CREATE INDEX decisions_annotator ON decisions(annotator, id);
CREATE INDEX decisions_supersedes ON decisions(supersedes) WHERE supersedes IS NOT NULL;

-- Decisions are append-only for everyone (undo appends an 'undo' row). Deleting an item
-- still takes its history with it; a deleted prediction still unlinks.
CREATE TRIGGER decisions_no_update
BEFORE UPDATE OF id, item_id, label_set_id, label, annotator, action, ms_spent, decided_at, supersedes, client_id ON decisions
BEGIN
    SELECT RAISE(ABORT, 'decisions are append-only: record a new decision (an undo appends one)');
END;
CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
WHEN EXISTS (SELECT 1 FROM items WHERE id = OLD.item_id)
BEGIN
    SELECT RAISE(ABORT, 'decisions are append-only: record a new decision (an undo appends one)');
END;

-- Who answered what: a claim per item and annotator (accept, correct or flag; an undo that
-- leaves the annotator without an answer removes it). They are not given the item again.
CREATE TABLE claims (
    item_id      INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    label_set_id INTEGER NOT NULL REFERENCES label_sets(id),
    annotator    TEXT NOT NULL,
    PRIMARY KEY (item_id, annotator)
);
CREATE INDEX claims_annotator ON claims(annotator, label_set_id);
-- A lease row now also counts the item's answers; a lease given back or answered has
-- expires_ms 0. Version 3's permanent claims (expires_ms = i64::MAX) become claims.
ALTER TABLE leases ADD COLUMN answers INTEGER NOT NULL DEFAULT 0;
INSERT INTO claims (item_id, label_set_id, annotator)
    SELECT item_id, label_set_id, annotator FROM leases WHERE expires_ms = 9223372036854775807;
UPDATE leases SET answers = 1, expires_ms = 0 WHERE expires_ms = 9223372036854775807;
-- Items labelled before leases existed (or without one) count as answered by their labeller.
INSERT INTO claims (item_id, label_set_id, annotator)
    SELECT l.item_id, l.label_set_id, d.annotator FROM item_labels l JOIN decisions d ON d.id = l.decision_id
    WHERE NOT EXISTS (SELECT 1 FROM leases x WHERE x.item_id = l.item_id)
    ON CONFLICT DO NOTHING;
INSERT INTO leases (item_id, label_set_id, annotator, expires_ms, answers)
    SELECT l.item_id, l.label_set_id, d.annotator, 0, 1 FROM item_labels l JOIN decisions d ON d.id = l.decision_id
    WHERE NOT EXISTS (SELECT 1 FROM leases x WHERE x.item_id = l.item_id);

-- Gold items: the lead's known answers (annotators of a team project cannot read this table).
CREATE TABLE gold (
    item_id      INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    label_set_id INTEGER NOT NULL REFERENCES label_sets(id),
    label        TEXT NOT NULL,
    added_by     TEXT NOT NULL,
    added_at     TEXT NOT NULL,
    PRIMARY KEY (item_id, label_set_id)
);

-- How many annotators each item needs: the project setting overlap_fraction × overlap_annotators
-- picks a fixed, evenly spread share of the items by a hash of their id (new items included).
CREATE VIEW item_need AS
SELECT i.id AS item_id,
       CASE WHEN ((i.id * 2654435761) % 4294967296)
                 < (SELECT COALESCE(json_extract(p.settings_json, '$.overlap_fraction'), 0)
                    FROM project p WHERE p.id = 1) * 4294967296
            THEN (SELECT MAX(COALESCE(json_extract(p.settings_json, '$.overlap_annotators'), 1), 1)
                  FROM project p WHERE p.id = 1)
            ELSE 1 END AS need
FROM items i;

-- Each annotator's current annotation of an item: their newest accept, correct or flag that no
-- undo cancelled (a flag has no label).
CREATE VIEW annotations AS
SELECT d.id, d.item_id, d.label_set_id, d.annotator, d.label, d.action, d.decided_at
FROM decisions d
WHERE d.action IN ('accept', 'correct', 'flag')
  AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.supersedes = d.id AND u.action = 'undo')
  AND NOT EXISTS (
      SELECT 1 FROM decisions n
      WHERE n.item_id = d.item_id AND n.label_set_id = d.label_set_id AND n.annotator = d.annotator
        AND n.id > d.id AND n.action IN ('accept', 'correct', 'flag')
        AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.supersedes = n.id AND u.action = 'undo'));

-- The leads' final decisions that no undo cancelled.
CREATE VIEW reviews AS
SELECT d.id, d.item_id, d.label_set_id, d.annotator, d.label, d.decided_at
FROM decisions d
WHERE d.action = 'review' AND d.label IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.supersedes = d.id AND u.action = 'undo');

-- The current label of an item (item_labels) follows every decision, on the server's side:
-- the newest review; else, for an item one annotator labels, the newest accept or correct;
-- else (an overlap item) the label a strict majority of its annotators gave, once it has all
-- of them. A tie, or an item still waiting for annotators, has no current label.
CREATE TRIGGER decisions_refresh_label AFTER INSERT ON decisions
WHEN NEW.action NOT IN ('skip', 'reject')
BEGIN
    DELETE FROM item_labels WHERE item_id = NEW.item_id AND label_set_id = NEW.label_set_id;
    INSERT INTO item_labels (item_id, label_set_id, label, decision_id)
    SELECT NEW.item_id, NEW.label_set_id, c.label, c.id FROM (
        SELECT 0 AS pri, r.id AS id, r.label AS label FROM reviews r
        WHERE r.item_id = NEW.item_id AND r.label_set_id = NEW.label_set_id
        UNION ALL
        SELECT 1, d.id, d.label FROM decisions d
        WHERE d.item_id = NEW.item_id AND d.label_set_id = NEW.label_set_id
          AND d.action IN ('accept', 'correct') AND d.label IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.supersedes = d.id AND u.action = 'undo')
          AND (SELECT need FROM item_need WHERE item_id = NEW.item_id) = 1
        UNION ALL
        SELECT 2, MAX(a.id), a.label FROM annotations a
        WHERE a.item_id = NEW.item_id AND a.label_set_id = NEW.label_set_id AND a.label IS NOT NULL
        GROUP BY a.label
        HAVING (SELECT need FROM item_need WHERE item_id = NEW.item_id) > 1
           AND COUNT(*) * 2 > (SELECT COUNT(*) FROM annotations b
                               WHERE b.item_id = NEW.item_id AND b.label_set_id = NEW.label_set_id)
           AND (SELECT COUNT(*) FROM annotations b
                WHERE b.item_id = NEW.item_id AND b.label_set_id = NEW.label_set_id)
               >= (SELECT need FROM item_need WHERE item_id = NEW.item_id)
    ) c
    ORDER BY c.pri, c.id DESC
    LIMIT 1;
END;

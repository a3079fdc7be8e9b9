-- Schema version 4: team quality control (the same tables on both backends).
--
-- Decisions gain two actions: 'review' (a lead's final label: it wins over every annotator's)
-- and 'flag' (an annotator is not sure: the item goes to the review queue).
ALTER TABLE decisions DROP CONSTRAINT decisions_action_check;
ALTER TABLE decisions ADD CONSTRAINT decisions_action_check
    CHECK (action IN ('accept', 'correct', 'reject', 'skip', 'undo', 'review', 'flag'));
CREATE INDEX decisions_supersedes ON decisions(supersedes) WHERE supersedes IS NOT NULL;

-- Decisions are append-only for everyone, the project owner included (undo appends an 'undo'
-- row). Deleting an item still takes its history with it; a deleted prediction still unlinks.
CREATE FUNCTION yuxuan_decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM items WHERE id = OLD.item_id) THEN
            RAISE EXCEPTION 'decisions are append-only: record a new decision (an undo appends one)'
                USING ERRCODE = '42501';
        END IF;
        RETURN OLD;
    END IF;
    IF (NEW.id, NEW.item_id, NEW.label_set_id, NEW.label, NEW.annotator, NEW.action, NEW.ms_spent,
        NEW.decided_at, NEW.supersedes, NEW.client_id)
       IS DISTINCT FROM (OLD.id, OLD.item_id, OLD.label_set_id, OLD.label, OLD.annotator, OLD.action,
        OLD.ms_spent, OLD.decided_at, OLD.supersedes, OLD.client_id) THEN
        RAISE EXCEPTION 'decisions are append-only: record a new decision (an undo appends one)'
            USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions
    FOR EACH ROW EXECUTE FUNCTION yuxuan_decisions_append_only();

-- Who answered what: a claim per item and annotator (accept, correct or flag; an undo that
-- leaves the annotator without an answer removes it). They are not given the item again.
CREATE TABLE claims (
    item_id      BIGINT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    label_set_id BIGINT NOT NULL REFERENCES label_sets(id),
    annotator    TEXT NOT NULL,
    PRIMARY KEY (item_id, annotator)
);
CREATE INDEX claims_annotator ON claims(annotator, label_set_id);
-- A lease row now also counts the item's answers; a lease given back or answered has
-- expires_ms 0. Version 3's permanent claims (expires_ms = i64::MAX) become claims.
ALTER TABLE leases ADD COLUMN answers BIGINT NOT NULL DEFAULT 0;
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

-- Gold items: the lead's known answers (annotators cannot read this table).
CREATE TABLE gold (
    item_id      BIGINT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    label_set_id BIGINT NOT NULL REFERENCES label_sets(id),
    label        TEXT NOT NULL,
    added_by     TEXT NOT NULL,
    added_at     TEXT NOT NULL,
    PRIMARY KEY (item_id, label_set_id)
);

-- Whether an item is gold, and the gold items an annotator has not decided yet: ids only,
-- never the answers (annotators call these; the table itself is closed to them).
CREATE FUNCTION yuxuan_is_gold(bigint, bigint) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    AS 'SELECT EXISTS (SELECT 1 FROM gold WHERE item_id = $1 AND label_set_id = $2)';
CREATE FUNCTION yuxuan_gold_items(bigint) RETURNS SETOF bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    AS 'SELECT item_id FROM gold WHERE label_set_id = $1';
CREATE FUNCTION yuxuan_gold_open(bigint, text) RETURNS SETOF bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    AS 'SELECT g.item_id FROM gold g WHERE g.label_set_id = $1
          AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.item_id = g.item_id AND c.annotator = $2)
        ORDER BY g.item_id';

-- How many annotators each item needs: the project setting overlap_fraction × overlap_annotators
-- picks a fixed, evenly spread share of the items by a hash of their id (new items included).
CREATE VIEW item_need AS
SELECT i.id AS item_id,
       CASE WHEN ((i.id * 2654435761) % 4294967296)
                 < (SELECT COALESCE((p.settings_json::jsonb ->> 'overlap_fraction')::float8, 0)
                    FROM project p WHERE p.id = 1) * 4294967296
            THEN (SELECT GREATEST(COALESCE((p.settings_json::jsonb ->> 'overlap_annotators')::bigint, 1), 1)
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

-- The current label of an item (item_labels) follows every decision, on the server's side
-- (annotators cannot write item_labels; this function runs with the owner's rights): the
-- newest review; else, for an item one annotator labels, the newest accept or correct; else
-- (an overlap item) the label a strict majority of its annotators gave, once it has all of
-- them. A tie, or an item still waiting for annotators, has no current label.
CREATE FUNCTION yuxuan_refresh_label() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    n bigint;
BEGIN
    SELECT need INTO n FROM item_need WHERE item_id = NEW.item_id;
    -- The common case first: an item one annotator labels, a new accept or correct, no review:
    -- the decision is the label (one statement, as before there were reviews).
    IF n = 1 AND NEW.action IN ('accept', 'correct') AND NEW.label IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM reviews r
                       WHERE r.item_id = NEW.item_id AND r.label_set_id = NEW.label_set_id) THEN
        INSERT INTO item_labels (item_id, label_set_id, label, decision_id)
        VALUES (NEW.item_id, NEW.label_set_id, NEW.label, NEW.id)
        ON CONFLICT (item_id, label_set_id)
        DO UPDATE SET label = excluded.label, decision_id = excluded.decision_id;
        RETURN NULL;
    END IF;
    DELETE FROM item_labels WHERE item_id = NEW.item_id AND label_set_id = NEW.label_set_id;
    IF n = 1 THEN
        INSERT INTO item_labels (item_id, label_set_id, label, decision_id)
        SELECT NEW.item_id, NEW.label_set_id, c.label, c.id FROM (
            SELECT 0 AS pri, r.id AS id, r.label AS label FROM reviews r
            WHERE r.item_id = NEW.item_id AND r.label_set_id = NEW.label_set_id
            UNION ALL
            SELECT 1, d.id, d.label FROM decisions d
            WHERE d.item_id = NEW.item_id AND d.label_set_id = NEW.label_set_id
              AND d.action IN ('accept', 'correct') AND d.label IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.supersedes = d.id AND u.action = 'undo')
        ) c
        ORDER BY c.pri, c.id DESC
        LIMIT 1;
    ELSE
        INSERT INTO item_labels (item_id, label_set_id, label, decision_id)
        SELECT NEW.item_id, NEW.label_set_id, c.label, c.id FROM (
            SELECT 0 AS pri, r.id AS id, r.label AS label FROM reviews r
            WHERE r.item_id = NEW.item_id AND r.label_set_id = NEW.label_set_id
            UNION ALL
            SELECT 2, MAX(a.id), a.label FROM annotations a
            WHERE a.item_id = NEW.item_id AND a.label_set_id = NEW.label_set_id AND a.label IS NOT NULL
            GROUP BY a.label
            HAVING COUNT(*) * 2 > (SELECT COUNT(*) FROM annotations b
                                   WHERE b.item_id = NEW.item_id AND b.label_set_id = NEW.label_set_id)
               AND (SELECT COUNT(*) FROM annotations b
                    WHERE b.item_id = NEW.item_id AND b.label_set_id = NEW.label_set_id) >= n
        ) c
        ORDER BY c.pri, c.id DESC
        LIMIT 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER decisions_refresh_label AFTER INSERT ON decisions
    FOR EACH ROW WHEN (NEW.action NOT IN ('skip', 'reject'))
    EXECUTE FUNCTION yuxuan_refresh_label();

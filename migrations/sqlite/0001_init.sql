-- yuxuan project schema, version 1.
-- One project = one SQLite file. Decisions are history: rows are appended, never updated or
-- deleted; undo appends a row that supersedes an earlier one.

CREATE TABLE project (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('image', 'form')),
    created_at    TEXT NOT NULL,
    settings_json TEXT NOT NULL DEFAULT '{}'
);

-- A label set applies to one kind of item: 'class' (images), 'field_type' (form fields),
-- 'industry' (pages).
CREATE TABLE label_sets (
    id     INTEGER PRIMARY KEY,
    name   TEXT NOT NULL UNIQUE,
    target TEXT NOT NULL CHECK (target IN ('image', 'page', 'field'))
);

CREATE TABLE labels (
    id           INTEGER PRIMARY KEY,
    label_set_id INTEGER NOT NULL REFERENCES label_sets(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    display_name TEXT,
    position     INTEGER NOT NULL,
    hotkey       TEXT,
    color        TEXT,
    parent_id    INTEGER REFERENCES labels(id) ON DELETE SET NULL,
    UNIQUE (label_set_id, name)
);

-- Images, H5 pages and their form fields. A field's parent is its page; forms group fields.
CREATE TABLE items (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('image', 'page', 'field')),
    parent_id    INTEGER REFERENCES items(id) ON DELETE CASCADE,
    form_id      INTEGER REFERENCES forms(id) ON DELETE CASCADE,
    source_path  TEXT NOT NULL,
    content_hash TEXT,
    size_bytes   INTEGER,
    width        INTEGER,
    height       INTEGER,
    position     INTEGER NOT NULL DEFAULT 0,
    meta_json    TEXT NOT NULL DEFAULT '{}',
    error        TEXT,
    added_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX items_dedup ON items(kind, content_hash)
    WHERE content_hash IS NOT NULL AND kind IN ('image', 'page');
CREATE INDEX items_parent ON items(parent_id, position);
CREATE INDEX items_kind ON items(kind, id);

CREATE TABLE forms (
    id        INTEGER PRIMARY KEY,
    page_id   INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    container TEXT NOT NULL,
    meta_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX forms_page ON forms(page_id, position);

-- The page HTML (decoded to UTF-8), kept so the GUI can show a field in context.
CREATE TABLE page_html (
    item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    charset TEXT NOT NULL,
    html    TEXT NOT NULL
);

CREATE TABLE training_runs (
    id           INTEGER PRIMARY KEY,
    label_set_id INTEGER NOT NULL REFERENCES label_sets(id),
    params_json  TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    progress     REAL NOT NULL DEFAULT 0,
    log          TEXT NOT NULL DEFAULT '',
    error        TEXT,
    metrics_json TEXT,
    started_at   TEXT NOT NULL,
    finished_at  TEXT
);

CREATE TABLE models (
    id              INTEGER PRIMARY KEY,
    label_set_id    INTEGER NOT NULL REFERENCES label_sets(id),
    version         INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    parent_id       INTEGER REFERENCES models(id),
    training_run_id INTEGER REFERENCES training_runs(id),
    labels_json     TEXT NOT NULL,
    spec_json       TEXT NOT NULL DEFAULT '{}',
    metrics_json    TEXT,
    weights_path    TEXT,
    weights_sha256  TEXT,
    active          INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    created_at      TEXT NOT NULL,
    UNIQUE (label_set_id, version)
);
CREATE UNIQUE INDEX models_one_active ON models(label_set_id) WHERE active = 1;

-- top_json: [[label, score], ...] best first (top-5).
CREATE TABLE predictions (
    id           INTEGER PRIMARY KEY,
    item_id      INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    label_set_id INTEGER NOT NULL REFERENCES label_sets(id),
    model_id     INTEGER REFERENCES models(id),
    label        TEXT NOT NULL,
    score        REAL NOT NULL,
    margin       REAL NOT NULL,
    top_json     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    UNIQUE (item_id, label_set_id, model_id)
);
CREATE INDEX predictions_by_model ON predictions(label_set_id, model_id, margin);

-- History of human decisions. action: accept | correct | reject | skip | undo.
-- An 'undo' row names in supersedes the decision it cancels; redo appends a fresh copy.
CREATE TABLE decisions (
    id            INTEGER PRIMARY KEY,
    item_id       INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    label_set_id  INTEGER NOT NULL REFERENCES label_sets(id),
    label         TEXT,
    annotator     TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('accept', 'correct', 'reject', 'skip', 'undo')),
    ms_spent      INTEGER NOT NULL DEFAULT 0,
    decided_at    TEXT NOT NULL,
    prediction_id INTEGER REFERENCES predictions(id) ON DELETE SET NULL,
    supersedes    INTEGER REFERENCES decisions(id)
);
CREATE INDEX decisions_item ON decisions(item_id, label_set_id, id);
CREATE INDEX decisions_time ON decisions(decided_at);

-- The current human label of each item per label set (maintained in the same transaction as
-- the decision that changes it; derivable from `decisions`, kept for fast queues).
CREATE TABLE item_labels (
    item_id      INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    label_set_id INTEGER NOT NULL REFERENCES label_sets(id),
    label        TEXT NOT NULL,
    decision_id  INTEGER NOT NULL REFERENCES decisions(id),
    PRIMARY KEY (item_id, label_set_id)
) WITHOUT ROWID;
CREATE INDEX item_labels_label ON item_labels(label_set_id, label);

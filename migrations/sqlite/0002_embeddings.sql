-- Schema version 2: cached embeddings (penultimate-layer features) per item and backbone,
-- reused by training and by near-duplicate search.
CREATE TABLE embeddings (
    item_id  INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    backbone TEXT NOT NULL,
    dim      INTEGER NOT NULL,
    vector   BLOB NOT NULL,
    PRIMARY KEY (item_id, backbone)
) WITHOUT ROWID;
CREATE INDEX predictions_item ON predictions(item_id, label_set_id);

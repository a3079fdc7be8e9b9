-- Schema version 2: cached embeddings per item and backbone.
CREATE TABLE embeddings (
    item_id  BIGINT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    backbone TEXT NOT NULL,
    dim      BIGINT NOT NULL,
    vector   BYTEA NOT NULL,
    PRIMARY KEY (item_id, backbone)
);
CREATE INDEX predictions_item ON predictions(item_id, label_set_id);

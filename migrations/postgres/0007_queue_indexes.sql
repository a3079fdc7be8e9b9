-- Schema version 6: indexes that let a queue of a million items be built from index scans
-- (`Store::queue_fast`): the active model's predictions in margin and in score order with the
-- item id (and the other order's value) in the index, and the few items with an error.
CREATE INDEX predictions_queue_margin ON predictions(label_set_id, model_id, margin, item_id, score);
CREATE INDEX predictions_queue_score ON predictions(label_set_id, model_id, score DESC, item_id, margin);
CREATE INDEX items_errors ON items(kind, id) WHERE error IS NOT NULL;

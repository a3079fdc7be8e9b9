//! Items (images, pages, fields): insertion with content-hash deduplication, lookups, counts.

use rusqlite::{params, OptionalExtension, Row};

use super::{now, Result, Store};
use crate::domain::{Item, ItemKind, NewItem};

pub(crate) const ITEM_COLS: &str =
    "id, kind, parent_id, form_id, source_path, content_hash, size_bytes, width, height, \
                                    position, meta_json, error, added_at";

pub(crate) fn row_to_item(r: &Row<'_>) -> rusqlite::Result<Item> {
    let kind: String = r.get(1)?;
    let meta: String = r.get(10)?;
    Ok(Item {
        id: r.get(0)?,
        kind: ItemKind::parse(&kind).unwrap_or(ItemKind::Image),
        parent_id: r.get(2)?,
        form_id: r.get(3)?,
        source_path: r.get(4)?,
        content_hash: r.get(5)?,
        size_bytes: r.get(6)?,
        width: r.get(7)?,
        height: r.get(8)?,
        position: r.get(9)?,
        meta: serde_json::from_str(&meta).unwrap_or(serde_json::Value::Null),
        error: r.get(11)?,
        added_at: r.get(12)?,
    })
}

/// What happened to one item on insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New(i64),
    /// Same content already in the project (id of the existing item).
    Duplicate(i64),
}

impl Inserted {
    pub fn id(self) -> i64 {
        match self {
            Inserted::New(id) | Inserted::Duplicate(id) => id,
        }
    }
}

pub(crate) fn insert_item_tx(
    tx: &rusqlite::Transaction<'_>,
    it: &NewItem,
    added_at: &str,
) -> Result<Inserted> {
    if let (Some(hash), ItemKind::Image | ItemKind::Page) = (&it.content_hash, it.kind) {
        let existing: Option<i64> = tx
            .query_row(
                // The literal IN lets SQLite prove the partial index `items_dedup` applies
                // (without it every insert scans all items of the kind: quadratic imports).
                "SELECT id FROM items WHERE kind = ?1 AND content_hash = ?2 AND kind IN ('image', 'page')",
                params![it.kind.as_str(), hash],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = existing {
            return Ok(Inserted::Duplicate(id));
        }
    }
    tx.execute(
        "INSERT INTO items (kind, parent_id, form_id, source_path, content_hash, size_bytes, width, height, position, meta_json, error, added_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            it.kind.as_str(),
            it.parent_id,
            it.form_id,
            it.source_path,
            it.content_hash,
            it.size_bytes,
            it.width,
            it.height,
            it.position,
            it.meta.to_string(),
            it.error,
            added_at
        ],
    )?;
    Ok(Inserted::New(tx.last_insert_rowid()))
}

/// Counts for `yuxuan stats` and the progress bar.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ItemCounts {
    pub total: i64,
    pub with_error: i64,
    pub labeled: i64,
    pub predicted: i64,
}

impl Store {
    /// Insert items in one transaction; items whose content hash is already present (same
    /// kind) are not inserted again.
    pub fn insert_items(&mut self, items: &[NewItem]) -> Result<Vec<Inserted>> {
        let t = now();
        self.write(|tx| items.iter().map(|it| insert_item_tx(tx, it, &t)).collect())
    }

    pub fn item(&self, id: i64) -> Result<Option<Item>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {ITEM_COLS} FROM items WHERE id = ?1"),
                [id],
                row_to_item,
            )
            .optional()?)
    }

    /// Items of a kind, in insertion (file) order.
    pub fn items_of_kind(&self, kind: ItemKind) -> Result<Vec<Item>> {
        let mut st = self.conn().prepare_cached(&format!(
            "SELECT {ITEM_COLS} FROM items WHERE kind = ?1 ORDER BY id"
        ))?;
        let rows = st.query_map([kind.as_str()], row_to_item)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Children of an item (a page's fields), in page order.
    pub fn children(&self, parent_id: i64) -> Result<Vec<Item>> {
        let mut st = self.conn().prepare_cached(&format!(
            "SELECT {ITEM_COLS} FROM items WHERE parent_id = ?1 ORDER BY position, id"
        ))?;
        let rows = st.query_map([parent_id], row_to_item)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Items that could not be read, with the reason.
    pub fn items_with_errors(&self) -> Result<Vec<Item>> {
        let mut st = self.conn().prepare_cached(&format!(
            "SELECT {ITEM_COLS} FROM items WHERE error IS NOT NULL ORDER BY id"
        ))?;
        let rows = st.query_map([], row_to_item)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Record (or clear) an item's error.
    pub fn set_item_error(&self, id: i64, error: Option<&str>) -> Result<()> {
        self.conn().execute(
            "UPDATE items SET error = ?2 WHERE id = ?1",
            params![id, error],
        )?;
        Ok(())
    }

    /// Replace an item's metadata JSON.
    pub fn set_item_meta(&self, id: i64, meta: &serde_json::Value) -> Result<()> {
        self.conn().execute(
            "UPDATE items SET meta_json = ?2 WHERE id = ?1",
            params![id, meta.to_string()],
        )?;
        Ok(())
    }

    /// Counts of items of a kind: total, with an error, human-labelled in `set`, predicted in `set`.
    pub fn item_counts(&self, kind: ItemKind, set: &str) -> Result<ItemCounts> {
        let set_id = self.label_set_id(set)?;
        Ok(self.conn().query_row(
            "SELECT COUNT(*),
                    COUNT(error),
                    (SELECT COUNT(*) FROM item_labels l JOIN items i ON i.id = l.item_id WHERE i.kind = ?1 AND l.label_set_id = ?2),
                    (SELECT COUNT(DISTINCT p.item_id) FROM predictions p JOIN items i ON i.id = p.item_id WHERE i.kind = ?1 AND p.label_set_id = ?2)
             FROM items WHERE kind = ?1",
            params![kind.as_str(), set_id],
            |r| Ok(ItemCounts { total: r.get(0)?, with_error: r.get(1)?, labeled: r.get(2)?, predicted: r.get(3)? }),
        )?)
    }
}

//! Items (images, pages, fields): insertion with content-hash deduplication, lookups, counts.

use super::db::{Exec, Row, Tx};
use super::{now, Result, Store};
use crate::domain::{Item, ItemKind, NewItem};

pub(crate) const ITEM_COLS: &str =
    "id, kind, parent_id, form_id, source_path, content_hash, size_bytes, width, height, \
                                    position, meta_json, error, added_at";

pub(crate) fn row_to_item(r: &Row) -> Result<Item> {
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

pub(crate) fn insert_item_tx(tx: &Tx<'_>, it: &NewItem, added_at: &str) -> Result<Inserted> {
    if let (Some(hash), ItemKind::Image | ItemKind::Page) = (&it.content_hash, it.kind) {
        let existing: Option<i64> = tx.query_opt(
                // The literal IN lets SQLite prove the partial index `items_dedup` applies
                // (without it every insert scans all items of the kind: quadratic imports).
                "SELECT id FROM items WHERE kind = ?1 AND content_hash = ?2 AND kind IN ('image', 'page')",
            &[&it.kind.as_str(), hash],
            |r| r.get(0),
        )?;
        if let Some(id) = existing {
            return Ok(Inserted::Duplicate(id));
        }
    }
    let id = tx.one(
        "INSERT INTO items (kind, parent_id, form_id, source_path, content_hash, size_bytes, width, height, position, meta_json, error, added_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
        &[
            &it.kind.as_str(),
            &it.parent_id,
            &it.form_id,
            &it.source_path,
            &it.content_hash,
            &it.size_bytes,
            &it.width,
            &it.height,
            &it.position,
            &it.meta.to_string(),
            &it.error,
            &added_at,
        ],
    )?;
    Ok(Inserted::New(id))
}

/// Team projects keep the bytes of a new image or page (read from its source file) in the
/// database, in the transaction that adds the item. A file that cannot be read is left out:
/// the item then carries its read error from the import.
pub(crate) fn store_item_bytes_tx(
    tx: &Tx<'_>,
    store_base: &std::path::Path,
    it: &NewItem,
) -> Result<()> {
    let (Some(hash), ItemKind::Image | ItemKind::Page) = (&it.content_hash, it.kind) else {
        return Ok(());
    };
    let have: bool = tx.one(
        "SELECT EXISTS(SELECT 1 FROM item_files WHERE content_hash = ?1)",
        &[hash],
    )?;
    if have {
        return Ok(());
    }
    let p = std::path::Path::new(&it.source_path);
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        store_base.join(p)
    };
    if let Ok(bytes) = std::fs::read(&p) {
        tx.execute(
            "INSERT INTO item_files (content_hash, bytes) VALUES (?1, ?2) ON CONFLICT (content_hash) DO NOTHING",
            &[hash, &bytes],
        )?;
    }
    Ok(())
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
        let keep = self.keeps_file_bytes()?;
        let base = std::env::current_dir().unwrap_or_default();
        self.write(|tx| {
            items
                .iter()
                .map(|it| {
                    let r = insert_item_tx(tx, it, &t)?;
                    if keep && matches!(r, Inserted::New(_)) {
                        store_item_bytes_tx(tx, &base, it)?;
                    }
                    Ok(r)
                })
                .collect()
        })
    }

    pub fn item(&self, id: i64) -> Result<Option<Item>> {
        self.db().query_opt(
            &format!("SELECT {ITEM_COLS} FROM items WHERE id = ?1"),
            &[&id],
            row_to_item,
        )
    }

    /// Items of a kind, in insertion (file) order.
    pub fn items_of_kind(&self, kind: ItemKind) -> Result<Vec<Item>> {
        self.db().query(
            &format!("SELECT {ITEM_COLS} FROM items WHERE kind = ?1 ORDER BY id"),
            &[&kind.as_str()],
            row_to_item,
        )
    }

    /// Children of an item (a page's fields), in page order.
    pub fn children(&self, parent_id: i64) -> Result<Vec<Item>> {
        self.db().query(
            &format!("SELECT {ITEM_COLS} FROM items WHERE parent_id = ?1 ORDER BY position, id"),
            &[&parent_id],
            row_to_item,
        )
    }

    /// Items that could not be read, with the reason.
    pub fn items_with_errors(&self) -> Result<Vec<Item>> {
        self.db().query(
            &format!("SELECT {ITEM_COLS} FROM items WHERE error IS NOT NULL ORDER BY id"),
            &[],
            row_to_item,
        )
    }

    /// Record (or clear) an item's error.
    pub fn set_item_error(&self, id: i64, error: Option<&str>) -> Result<()> {
        self.db()
            .execute("UPDATE items SET error = ?2 WHERE id = ?1", &[&id, &error])?;
        Ok(())
    }

    /// Replace an item's metadata JSON.
    pub fn set_item_meta(&self, id: i64, meta: &serde_json::Value) -> Result<()> {
        self.db().execute(
            "UPDATE items SET meta_json = ?2 WHERE id = ?1",
            &[&id, &meta.to_string()],
        )?;
        Ok(())
    }

    /// Counts of items of a kind: total, with an error, human-labelled in `set`, predicted in `set`.
    pub fn item_counts(&self, kind: ItemKind, set: &str) -> Result<ItemCounts> {
        let set_id = self.label_set_id(set)?;
        self.db().query_row(
            "SELECT COUNT(*),
                    COUNT(error),
                    (SELECT COUNT(*) FROM item_labels l JOIN items i ON i.id = l.item_id WHERE i.kind = ?1 AND l.label_set_id = ?2),
                    (SELECT COUNT(DISTINCT p.item_id) FROM predictions p JOIN items i ON i.id = p.item_id WHERE i.kind = ?1 AND p.label_set_id = ?2)
             FROM items WHERE kind = ?1",
            &[&kind.as_str(), &set_id],
            |r| Ok(ItemCounts { total: r.get(0)?, with_error: r.get(1)?, labeled: r.get(2)?, predicted: r.get(3)? }),
        )
    }
}

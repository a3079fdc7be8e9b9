//! Streaming reads for dataset exports and the lookups label imports need.
//!
//! An export walks every item of a kind once, in id order, with its current human label, the
//! decision that set it (annotator, time, action, ms spent), the prediction shown at that
//! decision (model version, score), and the best current prediction (for
//! `--include-predictions`). Rows are handed to a callback one at a time, so memory stays
//! constant however large a project file is (team projects read the rows of the query first:
//! PostgreSQL cannot run the callback's own queries while it streams).

use super::db::{Exec, Row};
use super::{Result, Store, StoreError};
use crate::domain::ItemKind;

/// What to read for an export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportQuery {
    /// Kind of the items to walk (`image`, `page` or `field`).
    pub kind: ItemKind,
    /// Label set whose labels are exported.
    pub set: String,
    /// Also read the parent item's current label in this set (fields: the page's industry).
    pub parent_set: Option<String>,
    /// Only the children of this item (a page's fields), in page order.
    pub parent: Option<i64>,
}

/// One item as an export sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExportRow {
    pub item_id: i64,
    pub source_path: String,
    pub content_hash: Option<String>,
    pub parent_id: Option<i64>,
    pub position: i64,
    /// The item's metadata JSON as stored (fields: a `domain::FieldRecord`).
    pub meta_json: String,
    pub error: Option<String>,
    /// Current human label.
    pub label: Option<String>,
    /// The decision that set the current label.
    pub annotator: Option<String>,
    pub decided_at: Option<String>,
    pub action: Option<String>,
    pub ms_spent: Option<i64>,
    /// The prediction that was on screen when the label was decided.
    pub shown_label: Option<String>,
    pub shown_score: Option<f64>,
    pub shown_model_version: Option<i64>,
    /// The newest prediction of the active model (else of any model).
    pub pred_label: Option<String>,
    pub pred_score: Option<f64>,
    pub pred_model_version: Option<i64>,
    /// Parent item (fields: the page).
    pub parent_path: Option<String>,
    /// Parent's current human label in `parent_set`.
    pub parent_label: Option<String>,
}

fn row_to_export(r: &Row) -> Result<ExportRow> {
    Ok(ExportRow {
        item_id: r.get(0)?,
        source_path: r.get(1)?,
        content_hash: r.get(2)?,
        parent_id: r.get(3)?,
        position: r.get(4)?,
        meta_json: r.get(5)?,
        error: r.get(6)?,
        label: r.get(7)?,
        annotator: r.get(8)?,
        decided_at: r.get(9)?,
        action: r.get(10)?,
        ms_spent: r.get(11)?,
        shown_label: r.get(12)?,
        shown_score: r.get(13)?,
        shown_model_version: r.get(14)?,
        pred_label: r.get(15)?,
        pred_score: r.get(16)?,
        pred_model_version: r.get(17)?,
        parent_path: r.get(18)?,
        parent_label: r.get(19)?,
    })
}

const EXPORT_SQL: &str = "
SELECT i.id, i.source_path, i.content_hash, i.parent_id, i.position, i.meta_json, i.error,
       l.label, d.annotator, d.decided_at, d.action, d.ms_spent,
       sp.label, sp.score, sm.version,
       bp.label, bp.score, bm.version,
       pg.source_path, pl.label
FROM items i
LEFT JOIN item_labels l ON l.item_id = i.id AND l.label_set_id = ?2
LEFT JOIN decisions d ON d.id = l.decision_id
LEFT JOIN predictions sp ON sp.id = d.prediction_id
LEFT JOIN models sm ON sm.id = sp.model_id
LEFT JOIN predictions bp ON bp.id = (
    SELECT p.id FROM predictions p
    WHERE p.item_id = i.id AND p.label_set_id = ?2
    ORDER BY (p.model_id IS NOT DISTINCT FROM CAST(?3 AS BIGINT) AND CAST(?3 AS BIGINT) IS NOT NULL) DESC, p.id DESC LIMIT 1)
LEFT JOIN models bm ON bm.id = bp.model_id
LEFT JOIN items pg ON pg.id = i.parent_id
LEFT JOIN item_labels pl ON pl.item_id = i.parent_id AND pl.label_set_id = ?4
WHERE i.kind = ?1 AND (CAST(?5 AS BIGINT) IS NULL OR i.parent_id = CAST(?5 AS BIGINT))
ORDER BY ";

/// Stream the rows of `sql` through `read` into the caller's `f`, which may stop the walk with
/// an error of its own.
fn walk<T, E: From<StoreError>>(
    store: &Store,
    sql: &str,
    params: super::db::Params<'_>,
    read: impl Fn(&Row) -> Result<T>,
    mut f: impl FnMut(T) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let mut stopped: Option<E> = None;
    let walked = store
        .db()
        .for_each_row(sql, params, &mut |r| match f(read(r)?) {
            Ok(()) => Ok(()),
            Err(e) => {
                stopped = Some(e);
                Err(StoreError::NothingTo("continue"))
            }
        });
    match (stopped, walked) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(e.into()),
        (None, Ok(())) => Ok(()),
    }
}

impl Store {
    /// Walk the items of an export, one row at a time, in id order (a parent's children: in
    /// page order). `f` may stop the walk by returning an error.
    pub fn for_each_export_row<E>(
        &self,
        q: &ExportQuery,
        f: impl FnMut(ExportRow) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E>
    where
        E: From<StoreError>,
    {
        let set_id = self.label_set_id(&q.set)?;
        let parent_set_id = match &q.parent_set {
            Some(s) => Some(self.label_set_id(s)?),
            None => None,
        };
        let active: Option<i64> = self.db().query_opt(
            "SELECT id FROM models WHERE label_set_id = ?1 AND active = 1",
            &[&set_id],
            |r| r.get(0),
        )?;
        let order = if q.parent.is_some() {
            "i.position, i.id"
        } else {
            "i.id"
        };
        walk(
            self,
            &format!("{EXPORT_SQL}{order}"),
            &[
                &q.kind.as_str(),
                &set_id,
                &active,
                &parent_set_id,
                &q.parent,
            ],
            row_to_export,
            f,
        )
    }

    /// Number of items of a kind (the total of an export's progress bar).
    pub fn count_items(&self, kind: ItemKind) -> Result<u64> {
        let n: i64 = self.db().one(
            "SELECT COUNT(*) FROM items WHERE kind = ?1",
            &[&kind.as_str()],
        )?;
        Ok(n as u64)
    }

    /// Current human labels of a set with the item ids (for stratified splits): (item id, label).
    /// Streams like [`Store::for_each_export_row`].
    pub fn for_each_current_label<E>(
        &self,
        kind: ItemKind,
        set: &str,
        mut f: impl FnMut(i64, String) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E>
    where
        E: From<StoreError>,
    {
        let set_id = self.label_set_id(set)?;
        walk(
            self,
            "SELECT l.item_id, l.label FROM item_labels l JOIN items i ON i.id = l.item_id
             WHERE l.label_set_id = ?1 AND i.kind = ?2 ORDER BY l.item_id",
            &[&set_id, &kind.as_str()],
            |r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?)),
            |(id, label)| f(id, label),
        )
    }

    /// (id, source_path) of every item of a kind, by id (imports index them once instead of
    /// looking each row up: `source_path` has no index).
    pub fn item_paths(&self, kind: ItemKind) -> Result<Vec<(i64, String)>> {
        self.db().query(
            "SELECT id, source_path FROM items WHERE kind = ?1 ORDER BY id",
            &[&kind.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Items of a kind whose `source_path` is exactly `path` (oldest first).
    pub fn item_ids_by_path(&self, kind: ItemKind, path: &str) -> Result<Vec<i64>> {
        self.db().column(
            "SELECT id FROM items WHERE kind = ?1 AND source_path = ?2 ORDER BY id",
            &[&kind.as_str(), &path],
        )
    }

    /// The item of a kind with this content hash (blake3 hex of the file bytes).
    pub fn item_id_by_hash(&self, kind: ItemKind, hash: &str) -> Result<Option<i64>> {
        self.db().query_opt(
            "SELECT id FROM items WHERE kind = ?1 AND content_hash = ?2 AND kind IN ('image', 'page')
             UNION ALL
             SELECT id FROM items WHERE kind = ?1 AND content_hash = ?2 AND kind NOT IN ('image', 'page')
             LIMIT 1",
            &[&kind.as_str(), &hash],
            |r| r.get(0),
        )
    }

    /// Items of a kind whose `source_path` ends with `/name` or equals `name` (file-name
    /// matching for imports from other tools that only kept the base name).
    pub fn item_ids_by_file_name(&self, kind: ItemKind, name: &str) -> Result<Vec<i64>> {
        let sql = "SELECT id, source_path FROM items WHERE kind = ?1 AND (source_path = ?2 OR lower(source_path) LIKE lower(?3) ESCAPE '\\')
             ORDER BY id";
        let escaped: String = name
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let rows = self.db().query(
            sql,
            &[&kind.as_str(), &name, &format!("%/{escaped}")],
            |r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?)),
        )?;
        let suffix = format!("/{name}");
        let mut out = Vec::new();
        for (id, path) in rows {
            // LIKE ignores ASCII case; keep exact matches only.
            if path == name || path.ends_with(&suffix) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// The model id of a label set's model with this version, if any.
    pub fn model_id_by_version(&self, set: &str, version: i64) -> Result<Option<i64>> {
        let set_id = self.label_set_id(set)?;
        self.db().query_opt(
            "SELECT id FROM models WHERE label_set_id = ?1 AND version = ?2",
            &[&set_id, &version],
            |r| r.get(0),
        )
    }
}

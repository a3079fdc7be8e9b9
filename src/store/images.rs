//! Queries of the image pipeline: which image items still need an embedding, embeddings of a
//! list of items in one go, the image items a model pre-labels.

use super::db::Exec;
use super::{Result, Store, StoreError};

impl Store {
    /// (id, local path) rows with each path made readable on this machine (team projects:
    /// the cached copy of the stored bytes).
    fn localize(&self, rows: Vec<(i64, String, Option<String>)>) -> Result<Vec<(i64, String)>> {
        let keep = self.keeps_file_bytes()?;
        rows.into_iter()
            .map(|(id, src, hash)| {
                let p = self.local_file_with(keep, &src, hash.as_deref())?;
                Ok((id, p.to_string_lossy().into_owned()))
            })
            .collect()
    }

    /// Image items without an error and without an embedding of `backbone`: (id, local
    /// path), in item order.
    pub fn images_missing_embedding(&self, backbone: &str) -> Result<Vec<(i64, String)>> {
        let rows = self.db().query(
            "SELECT i.id, i.source_path, i.content_hash FROM items i
             WHERE i.kind = 'image' AND i.error IS NULL
               AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.item_id = i.id AND e.backbone = ?1)
             ORDER BY i.id",
            &[&backbone],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        self.localize(rows)
    }

    /// Image items without an error: (id, local path), in item order.
    pub fn usable_images(&self) -> Result<Vec<(i64, String)>> {
        let rows = self.db().query(
            "SELECT id, source_path, content_hash FROM items WHERE kind = 'image' AND error IS NULL ORDER BY id",
            &[],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        self.localize(rows)
    }

    /// Local paths of items' files, in the order asked (None for unknown ids).
    pub fn source_paths(&self, ids: &[i64]) -> Result<Vec<Option<String>>> {
        let keep = self.keeps_file_bytes()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row: Option<(String, Option<String>)> = self.db().query_opt(
                "SELECT source_path, content_hash FROM items WHERE id = ?1",
                &[id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            out.push(match row {
                Some((src, hash)) => Some(
                    self.local_file_with(keep, &src, hash.as_deref())?
                        .to_string_lossy()
                        .into_owned(),
                ),
                None => None,
            });
        }
        Ok(out)
    }

    /// Embeddings of `ids` for `backbone`, in the order asked (None where missing).
    pub fn embeddings_for(&self, backbone: &str, ids: &[i64]) -> Result<Vec<Option<Vec<f32>>>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let b: Option<Vec<u8>> = self.db().query_opt(
                "SELECT vector FROM embeddings WHERE item_id = ?1 AND backbone = ?2",
                &[id, &backbone],
                |r| r.get(0),
            )?;
            out.push(b.map(|b| {
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            }));
        }
        Ok(out)
    }

    /// Number of embeddings stored for `backbone`.
    pub fn embedding_count(&self, backbone: &str) -> Result<i64> {
        self.db().one(
            "SELECT COUNT(*) FROM embeddings WHERE backbone = ?1",
            &[&backbone],
        )
    }
}

impl Store {
    /// Write a consistent copy of the whole project to `dest` (`VACUUM INTO`), e.g. for the
    /// simulator, which must not touch the real project.
    pub fn copy_to(&self, dest: &std::path::Path) -> Result<()> {
        match self.db() {
            super::Db::Sqlite(c) => {
                c.execute("VACUUM INTO ?1", [dest.to_string_lossy()])?;
                Ok(())
            }
            super::Db::Pg(_) | super::Db::Closed => Err(StoreError::Invalid(
                "copy a team project with `yuxuan pull URL FILE`".into(),
            )),
        }
    }
}

//! Queries of the image pipeline: which image items still need an embedding, embeddings of a
//! list of items in one go, the image items a model pre-labels.

use rusqlite::params;

use super::{Result, Store};

impl Store {
    /// Image items without an error and without an embedding of `backbone`: (id, source path),
    /// in item order.
    pub fn images_missing_embedding(&self, backbone: &str) -> Result<Vec<(i64, String)>> {
        let mut st = self.conn().prepare_cached(
            "SELECT i.id, i.source_path FROM items i
             WHERE i.kind = 'image' AND i.error IS NULL
               AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.item_id = i.id AND e.backbone = ?1)
             ORDER BY i.id",
        )?;
        let rows = st.query_map([backbone], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Image items without an error: (id, source path), in item order.
    pub fn usable_images(&self) -> Result<Vec<(i64, String)>> {
        let mut st = self.conn().prepare_cached(
            "SELECT id, source_path FROM items WHERE kind = 'image' AND error IS NULL ORDER BY id",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Source paths of items, in the order asked (None for unknown ids).
    pub fn source_paths(&self, ids: &[i64]) -> Result<Vec<Option<String>>> {
        let mut st = self
            .conn()
            .prepare_cached("SELECT source_path FROM items WHERE id = ?1")?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut rows = st.query(params![id])?;
            out.push(match rows.next()? {
                Some(r) => Some(r.get(0)?),
                None => None,
            });
        }
        Ok(out)
    }

    /// Embeddings of `ids` for `backbone`, in the order asked (None where missing).
    pub fn embeddings_for(&self, backbone: &str, ids: &[i64]) -> Result<Vec<Option<Vec<f32>>>> {
        let mut st = self
            .conn()
            .prepare_cached("SELECT vector FROM embeddings WHERE item_id = ?1 AND backbone = ?2")?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut rows = st.query(params![id, backbone])?;
            out.push(match rows.next()? {
                Some(r) => {
                    let b: Vec<u8> = r.get(0)?;
                    Some(
                        b.chunks_exact(4)
                            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect(),
                    )
                }
                None => None,
            });
        }
        Ok(out)
    }

    /// Number of embeddings stored for `backbone`.
    pub fn embedding_count(&self, backbone: &str) -> Result<i64> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM embeddings WHERE backbone = ?1",
            [backbone],
            |r| r.get(0),
        )?)
    }
}

impl Store {
    /// Write a consistent copy of the whole project to `dest` (`VACUUM INTO`), e.g. for the
    /// simulator, which must not touch the real project.
    pub fn copy_to(&self, dest: &std::path::Path) -> Result<()> {
        self.conn()
            .execute("VACUUM INTO ?1", [dest.to_string_lossy()])?;
        Ok(())
    }
}

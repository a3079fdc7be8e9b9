//! Cached embeddings (f32 vectors, little-endian) per item and backbone.

use rusqlite::{params, OptionalExtension};

use super::{Result, Store, StoreError};

fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_blob(b: &[u8]) -> Result<Vec<f32>> {
    if b.len() % 4 != 0 {
        return Err(StoreError::Invalid(
            "embedding blob length is not a multiple of 4".into(),
        ));
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

impl Store {
    /// Store embeddings for items (one transaction).
    pub fn put_embeddings(&mut self, backbone: &str, rows: &[(i64, Vec<f32>)]) -> Result<()> {
        self.write(|tx| {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO embeddings (item_id, backbone, dim, vector) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (id, v) in rows {
                st.execute(params![id, backbone, v.len() as i64, to_blob(v)])?;
            }
            Ok(())
        })
    }

    pub fn embedding(&self, item_id: i64, backbone: &str) -> Result<Option<Vec<f32>>> {
        let b: Option<Vec<u8>> = self
            .conn()
            .query_row(
                "SELECT vector FROM embeddings WHERE item_id = ?1 AND backbone = ?2",
                params![item_id, backbone],
                |r| r.get(0),
            )
            .optional()?;
        b.map(|b| from_blob(&b)).transpose()
    }

    /// All embeddings of a backbone: (item id, vector), by item id.
    pub fn embeddings(&self, backbone: &str) -> Result<Vec<(i64, Vec<f32>)>> {
        let mut st = self.conn().prepare_cached(
            "SELECT item_id, vector FROM embeddings WHERE backbone = ?1 ORDER BY item_id",
        )?;
        let rows = st.query_map([backbone], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, b) = row?;
            out.push((id, from_blob(&b)?));
        }
        Ok(out)
    }

    /// Item ids that have an embedding for `backbone`.
    pub fn embedded_item_ids(&self, backbone: &str) -> Result<std::collections::HashSet<i64>> {
        let mut st = self
            .conn()
            .prepare_cached("SELECT item_id FROM embeddings WHERE backbone = ?1")?;
        let rows = st.query_map([backbone], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

//! Cached embeddings (f32 vectors, little-endian) per item and backbone.

use super::db::Exec;
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
            for (id, v) in rows {
                tx.execute(
                    "INSERT INTO embeddings (item_id, backbone, dim, vector) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (item_id, backbone) DO UPDATE SET dim = excluded.dim, vector = excluded.vector",
                    &[id, &backbone, &(v.len() as i64), &to_blob(v)],
                )?;
            }
            Ok(())
        })
    }

    pub fn embedding(&self, item_id: i64, backbone: &str) -> Result<Option<Vec<f32>>> {
        let b: Option<Vec<u8>> = self.db().query_opt(
            "SELECT vector FROM embeddings WHERE item_id = ?1 AND backbone = ?2",
            &[&item_id, &backbone],
            |r| r.get(0),
        )?;
        b.map(|b| from_blob(&b)).transpose()
    }

    /// All embeddings of a backbone: (item id, vector), by item id.
    pub fn embeddings(&self, backbone: &str) -> Result<Vec<(i64, Vec<f32>)>> {
        self.db().query(
            "SELECT item_id, vector FROM embeddings WHERE backbone = ?1 ORDER BY item_id",
            &[&backbone],
            |r| Ok((r.get::<i64>(0)?, from_blob(&r.get::<Vec<u8>>(1)?)?)),
        )
    }

    /// Item ids that have an embedding for `backbone`.
    pub fn embedded_item_ids(&self, backbone: &str) -> Result<std::collections::HashSet<i64>> {
        Ok(self
            .db()
            .column::<i64>(
                "SELECT item_id FROM embeddings WHERE backbone = ?1",
                &[&backbone],
            )?
            .into_iter()
            .collect())
    }
}

//! Model versions: registration, activation (one active per label set), history.

use super::db::{Exec, Row};
use super::{now, Result, Store, StoreError};
use crate::domain::ModelInfo;

/// A model version to register.
#[derive(Debug, Clone, PartialEq)]
pub struct NewModel {
    pub label_set: String,
    pub kind: String,
    pub parent_id: Option<i64>,
    pub training_run_id: Option<i64>,
    pub labels: Vec<String>,
    pub spec: serde_json::Value,
    pub metrics: Option<serde_json::Value>,
    pub weights_path: Option<String>,
    pub weights_sha256: Option<String>,
}

const COLS: &str =
    "m.id, s.name, m.version, m.kind, m.parent_id, m.training_run_id, m.labels_json, m.spec_json, \
                    m.metrics_json, m.weights_path, m.weights_sha256, m.active, m.created_at";

fn row_to_model(r: &Row) -> Result<ModelInfo> {
    let labels: String = r.get(6)?;
    let spec: String = r.get(7)?;
    let metrics: Option<String> = r.get(8)?;
    Ok(ModelInfo {
        id: r.get(0)?,
        label_set: r.get(1)?,
        version: r.get(2)?,
        kind: r.get(3)?,
        parent_id: r.get(4)?,
        training_run_id: r.get(5)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        spec: serde_json::from_str(&spec).unwrap_or(serde_json::Value::Null),
        metrics: metrics.and_then(|m| serde_json::from_str(&m).ok()),
        weights_path: r.get(9)?,
        weights_sha256: r.get(10)?,
        active: r.get::<i64>(11)? == 1,
        created_at: r.get(12)?,
    })
}

impl Store {
    /// Register a model version whose weights are `file` (inactive): the version records the
    /// file's path relative to the project and its checksum (`weights_path`/`weights_sha256`
    /// of `m` are set here). The one way a model file becomes a version.
    pub fn register_model_file(
        &mut self,
        file: &std::path::Path,
        mut m: NewModel,
    ) -> Result<ModelInfo> {
        let sha = crate::assets::file_checksum(file).map_err(|source| StoreError::Io {
            path: file.to_path_buf(),
            source,
        })?;
        m.weights_path = Some(self.relative_path(file));
        m.weights_sha256 = Some(sha);
        self.add_model(&m)
    }

    /// Register a model version (inactive). Versions count up per label set.
    pub fn add_model(&mut self, m: &NewModel) -> Result<ModelInfo> {
        let set_id = self.label_set_id(&m.label_set)?;
        // Team projects keep the weights in the database, so every workstation can load them.
        let weights: Option<(String, Vec<u8>)> = match (&m.weights_path, self.is_team()) {
            (Some(rel), true) => {
                let p = self.resolve_source(rel);
                let bytes = std::fs::read(&p).map_err(|source| StoreError::Io {
                    path: p.clone(),
                    source,
                })?;
                Some((blake3::hash(&bytes).to_hex().to_string(), bytes))
            }
            _ => None,
        };
        if let (Some((sum, _)), Some(want)) = (&weights, &m.weights_sha256) {
            if sum != want {
                return Err(StoreError::Invalid(format!(
                    "weights file {} changed while it was registered (checksum {sum}, expected {want})",
                    m.weights_path.as_deref().unwrap_or("")
                )));
            }
        }
        let id = self.write(|tx| {
            // Versions count up per label set; the lock keeps two trainers from taking the same.
            if tx.backend() == super::Backend::Postgres {
                tx.execute("LOCK TABLE models IN SHARE ROW EXCLUSIVE MODE", &[])?;
            }
            let version: i64 = tx.one(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM models WHERE label_set_id = ?1",
                &[&set_id],
            )?;
            let id: i64 = tx.one(
                "INSERT INTO models (label_set_id, version, kind, parent_id, training_run_id, labels_json, spec_json,
                                     metrics_json, weights_path, weights_sha256, active, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11) RETURNING id",
                &[
                    &set_id,
                    &version,
                    &m.kind,
                    &m.parent_id,
                    &m.training_run_id,
                    &serde_json::to_string(&m.labels).expect("serializable"),
                    &m.spec.to_string(),
                    &m.metrics.as_ref().map(|x| x.to_string()),
                    &m.weights_path,
                    &m.weights_sha256,
                    &now(),
                ],
            )?;
            if let Some((sum, bytes)) = &weights {
                tx.execute(
                    "INSERT INTO model_files (model_id, sha256, bytes) VALUES (?1, ?2, ?3)",
                    &[&id, sum, bytes],
                )?;
            }
            Ok(id)
        })?;
        self.model(id)?
            .ok_or(StoreError::Invalid("model vanished".into()))
    }

    pub fn model(&self, id: i64) -> Result<Option<ModelInfo>> {
        self.db().query_opt(
            &format!("SELECT {COLS} FROM models m JOIN label_sets s ON s.id = m.label_set_id WHERE m.id = ?1"),
            &[&id],
            row_to_model,
        )
    }

    /// The active model of a label set.
    pub fn active_model(&self, set: &str) -> Result<Option<ModelInfo>> {
        self.db().query_opt(
            &format!(
                "SELECT {COLS} FROM models m JOIN label_sets s ON s.id = m.label_set_id WHERE s.name = ?1 AND m.active = 1"
            ),
            &[&set],
            row_to_model,
        )
    }

    /// All model versions of a set, oldest first.
    pub fn models(&self, set: &str) -> Result<Vec<ModelInfo>> {
        self.db().query(
            &format!("SELECT {COLS} FROM models m JOIN label_sets s ON s.id = m.label_set_id WHERE s.name = ?1 ORDER BY m.version"),
            &[&set],
            row_to_model,
        )
    }

    /// Make `model_id` the active model of its label set (atomically deactivating the other).
    pub fn activate_model(&mut self, model_id: i64) -> Result<()> {
        self.write(|tx| {
            let set_id: i64 = tx
                .query_opt(
                    "SELECT label_set_id FROM models WHERE id = ?1",
                    &[&model_id],
                    |r| r.get(0),
                )?
                .ok_or_else(|| StoreError::Invalid(format!("no model with id {model_id}")))?;
            tx.execute(
                "UPDATE models SET active = 0 WHERE label_set_id = ?1 AND active = 1",
                &[&set_id],
            )?;
            tx.execute("UPDATE models SET active = 1 WHERE id = ?1", &[&model_id])?;
            Ok(())
        })
    }

    /// Update the stored metrics of a model (e.g. the active model re-evaluated on a hold-out).
    pub fn set_model_metrics(&self, model_id: i64, metrics: &serde_json::Value) -> Result<()> {
        self.db().execute(
            "UPDATE models SET metrics_json = ?2 WHERE id = ?1",
            &[&model_id, &metrics.to_string()],
        )?;
        Ok(())
    }
}

//! Model versions: registration, activation (one active per label set), history.

use rusqlite::{params, OptionalExtension, Row};

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

fn row_to_model(r: &Row<'_>) -> rusqlite::Result<ModelInfo> {
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
        active: r.get::<_, i64>(11)? == 1,
        created_at: r.get(12)?,
    })
}

impl Store {
    /// Register a model version (inactive). Versions count up per label set.
    pub fn add_model(&mut self, m: &NewModel) -> Result<ModelInfo> {
        let set_id = self.label_set_id(&m.label_set)?;
        let id = self.write(|tx| {
            let version: i64 = tx.query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM models WHERE label_set_id = ?1",
                [set_id],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO models (label_set_id, version, kind, parent_id, training_run_id, labels_json, spec_json,
                                     metrics_json, weights_path, weights_sha256, active, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11)",
                params![
                    set_id,
                    version,
                    m.kind,
                    m.parent_id,
                    m.training_run_id,
                    serde_json::to_string(&m.labels).expect("serializable"),
                    m.spec.to_string(),
                    m.metrics.as_ref().map(|x| x.to_string()),
                    m.weights_path,
                    m.weights_sha256,
                    now()
                ],
            )?;
            Ok(tx.last_insert_rowid())
        })?;
        self.model(id)?
            .ok_or(StoreError::Invalid("model vanished".into()))
    }

    pub fn model(&self, id: i64) -> Result<Option<ModelInfo>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLS} FROM models m JOIN label_sets s ON s.id = m.label_set_id WHERE m.id = ?1"),
                [id],
                row_to_model,
            )
            .optional()?)
    }

    /// The active model of a label set.
    pub fn active_model(&self, set: &str) -> Result<Option<ModelInfo>> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT {COLS} FROM models m JOIN label_sets s ON s.id = m.label_set_id WHERE s.name = ?1 AND m.active = 1"
                ),
                [set],
                row_to_model,
            )
            .optional()?)
    }

    /// All model versions of a set, oldest first.
    pub fn models(&self, set: &str) -> Result<Vec<ModelInfo>> {
        let mut st = self.conn().prepare_cached(&format!(
            "SELECT {COLS} FROM models m JOIN label_sets s ON s.id = m.label_set_id WHERE s.name = ?1 ORDER BY m.version"
        ))?;
        let rows = st.query_map([set], row_to_model)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Make `model_id` the active model of its label set (atomically deactivating the other).
    pub fn activate_model(&mut self, model_id: i64) -> Result<()> {
        self.write(|tx| {
            let set_id: i64 = tx
                .query_row(
                    "SELECT label_set_id FROM models WHERE id = ?1",
                    [model_id],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| StoreError::Invalid(format!("no model with id {model_id}")))?;
            tx.execute(
                "UPDATE models SET active = 0 WHERE label_set_id = ?1 AND active = 1",
                [set_id],
            )?;
            tx.execute("UPDATE models SET active = 1 WHERE id = ?1", [model_id])?;
            Ok(())
        })
    }

    /// Update the stored metrics of a model (e.g. the active model re-evaluated on a hold-out).
    pub fn set_model_metrics(&self, model_id: i64, metrics: &serde_json::Value) -> Result<()> {
        self.conn().execute(
            "UPDATE models SET metrics_json = ?2 WHERE id = ?1",
            params![model_id, metrics.to_string()],
        )?;
        Ok(())
    }
}

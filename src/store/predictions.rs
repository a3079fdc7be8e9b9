//! Model predictions: top-k labels with scores per item and model version.

use super::db::{Exec, Row};
use super::{now, Result, Store};
use crate::domain::Prediction;

/// A prediction to store: top-k (label, score), best first.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPrediction {
    pub item_id: i64,
    pub top: Vec<(String, f64)>,
}

fn row_to_prediction(r: &Row) -> Result<Prediction> {
    let top: String = r.get(6)?;
    Ok(Prediction {
        id: r.get(0)?,
        item_id: r.get(1)?,
        model_id: r.get(2)?,
        label: r.get(3)?,
        score: r.get(4)?,
        margin: r.get(5)?,
        top: serde_json::from_str(&top).unwrap_or_default(),
        created_at: r.get(7)?,
    })
}

impl Store {
    /// Store predictions of one model (replacing that model's earlier predictions for the same
    /// items), in one transaction.
    pub fn put_predictions(
        &mut self,
        set: &str,
        model_id: Option<i64>,
        preds: &[NewPrediction],
    ) -> Result<usize> {
        let set_id = self.label_set_id(set)?;
        let t = now();
        self.write(|tx| {
            let del = "DELETE FROM predictions WHERE item_id = ?1 AND label_set_id = ?2 AND model_id IS NOT DISTINCT FROM ?3";
            let ins = "INSERT INTO predictions (item_id, label_set_id, model_id, label, score, margin, top_json, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
            let mut n = 0;
            for p in preds {
                let Some((label, score)) = p.top.first() else { continue };
                let second = p.top.get(1).map(|x| x.1).unwrap_or(0.0);
                tx.execute(del, &[&p.item_id, &set_id, &model_id])?;
                tx.execute(
                    ins,
                    &[
                        &p.item_id,
                        &set_id,
                        &model_id,
                        label,
                        score,
                        &(score - second),
                        &serde_json::to_string(&p.top).expect("serializable"),
                        &t,
                    ],
                )?;
                n += 1;
            }
            Ok(n)
        })
    }

    /// The newest prediction for an item in a set: from the given model, or else from any.
    pub fn prediction(
        &self,
        item_id: i64,
        set: &str,
        model_id: Option<i64>,
    ) -> Result<Option<Prediction>> {
        let set_id = self.label_set_id(set)?;
        let sql = "SELECT id, item_id, model_id, label, score, margin, top_json, created_at FROM predictions
                   WHERE item_id = ?1 AND label_set_id = ?2 AND (CAST(?3 AS BIGINT) IS NULL OR model_id IS NOT DISTINCT FROM CAST(?3 AS BIGINT))
                   ORDER BY id DESC LIMIT 1";
        self.db()
            .query_opt(sql, &[&item_id, &set_id, &model_id], row_to_prediction)
    }

    /// Item ids that already have a prediction from `model_id`.
    pub fn predicted_item_ids(
        &self,
        set: &str,
        model_id: Option<i64>,
    ) -> Result<std::collections::HashSet<i64>> {
        let set_id = self.label_set_id(set)?;
        Ok(self
            .db()
            .column::<i64>(
                "SELECT item_id FROM predictions WHERE label_set_id = ?1 AND model_id IS NOT DISTINCT FROM ?2",
                &[&set_id, &model_id],
            )?
            .into_iter()
            .collect())
    }

    /// All predictions of one model in a set.
    pub fn predictions_of_model(
        &self,
        set: &str,
        model_id: Option<i64>,
    ) -> Result<Vec<Prediction>> {
        let set_id = self.label_set_id(set)?;
        self.db().query(
            "SELECT id, item_id, model_id, label, score, margin, top_json, created_at FROM predictions
             WHERE label_set_id = ?1 AND model_id IS NOT DISTINCT FROM ?2 ORDER BY item_id",
            &[&set_id, &model_id],
            row_to_prediction,
        )
    }
}

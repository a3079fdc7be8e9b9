//! Training runs: parameters, status, progress, log and error, as the lead sees them.

use super::db::{Exec, Row};
use super::{now, Result, Store};
use crate::domain::{RunStatus, TrainingRun};

fn row_to_run(r: &Row) -> Result<TrainingRun> {
    let params: String = r.get(2)?;
    let status: String = r.get(3)?;
    let metrics: Option<String> = r.get(7)?;
    Ok(TrainingRun {
        id: r.get(0)?,
        label_set: r.get(1)?,
        params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
        progress: r.get(4)?,
        log: r.get(5)?,
        error: r.get(6)?,
        metrics: metrics.and_then(|m| serde_json::from_str(&m).ok()),
        started_at: r.get(8)?,
        finished_at: r.get(9)?,
    })
}

const COLS: &str = "t.id, s.name, t.params_json, t.status, t.progress, t.log, t.error, t.metrics_json, t.started_at, t.finished_at";

impl Store {
    /// Start a run (status running).
    pub fn start_training_run(&self, set: &str, params_json: &serde_json::Value) -> Result<i64> {
        let set_id = self.label_set_id(set)?;
        self.db().one(
            "INSERT INTO training_runs (label_set_id, params_json, status, started_at) VALUES (?1, ?2, 'running', ?3) RETURNING id",
            &[&set_id, &params_json.to_string(), &now()],
        )
    }

    /// Progress (0..1) plus one log line.
    pub fn training_progress(&self, run_id: i64, progress: f64, log_line: &str) -> Result<()> {
        self.db().execute(
            "UPDATE training_runs SET progress = ?2, log = log || ?3 WHERE id = ?1",
            &[&run_id, &progress, &format!("{log_line}\n")],
        )?;
        Ok(())
    }

    /// Close a run.
    pub fn finish_training_run(
        &self,
        run_id: i64,
        status: RunStatus,
        metrics: Option<&serde_json::Value>,
        error: Option<&str>,
    ) -> Result<()> {
        self.db().execute(
            "UPDATE training_runs SET status = ?2, metrics_json = ?3, error = ?4, finished_at = ?5,
                    progress = CASE WHEN ?2 = 'succeeded' THEN 1.0 ELSE progress END
             WHERE id = ?1",
            &[
                &run_id,
                &status.as_str(),
                &metrics.map(|m| m.to_string()),
                &error,
                &now(),
            ],
        )?;
        Ok(())
    }

    pub fn training_run(&self, id: i64) -> Result<Option<TrainingRun>> {
        self.db().query_opt(
            &format!("SELECT {COLS} FROM training_runs t JOIN label_sets s ON s.id = t.label_set_id WHERE t.id = ?1"),
            &[&id],
            row_to_run,
        )
    }

    pub fn training_runs(&self) -> Result<Vec<TrainingRun>> {
        self.db().query(
            &format!("SELECT {COLS} FROM training_runs t JOIN label_sets s ON s.id = t.label_set_id ORDER BY t.id"),
            &[],
            row_to_run,
        )
    }

    /// Marks every 'running' run failed, whoever owns it. Only for a caller that knows no other
    /// process trains this project; `Store::open` does the safe version
    /// (`recover_interrupted_runs`, which checks the owning process).
    pub fn fail_stale_training_runs(&self) -> Result<usize> {
        Ok(self.db().execute(
            "UPDATE training_runs SET status = 'failed', error = 'interrupted (the process ended during training)',
                    finished_at = ?1 WHERE status = 'running'",
            &[&now()],
        )? as usize)
    }
}

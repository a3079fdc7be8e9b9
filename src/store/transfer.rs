//! Push and pull: copy a whole project between backends (a local file into a team project,
//! a team project into a local snapshot). Everything travels with its ids: items with their
//! file bytes, labels, the whole decision history, predictions, training runs, models with
//! their weights, embeddings, crawls with their frontiers. The destination is written in one
//! transaction under a staging name (a `.incoming-PID` file, a `--incoming-PID` schema) and
//! renamed into place at the end, so an interrupted copy leaves nothing half-made under the
//! project's name.

use std::path::Path;

use super::db::{Exec, Row, ToValue, Tx, Value};
use super::{Result, Store, StoreError};
use crate::jobs::JobCtx;

/// Tables in an order that satisfies their foreign keys, with their columns. Two references
/// that can point forward (`items.form_id`, `labels.parent_id`) are filled in afterwards.
const TABLES: &[(&str, &str, &str)] = &[
    ("project", "id, name, kind, created_at, settings_json", "id"),
    ("label_sets", "id, name, target", "id"),
    (
        "labels",
        "id, label_set_id, name, display_name, position, hotkey, color, NULL",
        "id",
    ),
    (
        "items",
        "id, kind, parent_id, NULL, source_path, content_hash, size_bytes, width, height, position, meta_json, error, added_at",
        "id",
    ),
    ("forms", "id, page_id, position, container, meta_json", "id"),
    ("page_html", "item_id, charset, html", "item_id"),
    (
        "training_runs",
        "id, label_set_id, params_json, status, progress, log, error, metrics_json, started_at, finished_at",
        "id",
    ),
    (
        "models",
        "id, label_set_id, version, kind, parent_id, training_run_id, labels_json, spec_json, metrics_json, weights_path, weights_sha256, active, created_at",
        "id",
    ),
    (
        "predictions",
        "id, item_id, label_set_id, model_id, label, score, margin, top_json, created_at",
        "id",
    ),
    (
        "decisions",
        "id, item_id, label_set_id, label, annotator, action, ms_spent, decided_at, prediction_id, supersedes, client_id",
        "id",
    ),
    (
        "item_labels",
        "item_id, label_set_id, label, decision_id",
        "item_id, label_set_id",
    ),
    (
        "gold",
        "item_id, label_set_id, label, added_by, added_at",
        "item_id, label_set_id",
    ),
    (
        "leases",
        "item_id, label_set_id, annotator, expires_ms, answers",
        "item_id",
    ),
    (
        "claims",
        "item_id, label_set_id, annotator",
        "item_id, annotator",
    ),
    ("embeddings", "item_id, backbone, dim, vector", "item_id, backbone"),
    (
        "suspect_runs",
        "id, label_set_id, params_json, summary_json, created_at",
        "id",
    ),
    (
        "suspects",
        "run_id, item_id, rank, given, suggested, score, suggested_score, decision_id",
        "run_id, item_id",
    ),
    (
        "crawls",
        "id, seeds_json, params_json, status, summary_json, started_at, finished_at",
        "id",
    ),
    (
        "crawl_frontier",
        "crawl_id, seq, url, depth, status, final_url, http_status, error, item_id, content_hash, links_json, fetched_at",
        "crawl_id, seq",
    ),
];

/// The destination column names of a table (the source list with NULL placeholders named).
fn dest_columns(table: &str, cols: &str) -> String {
    match table {
        "labels" => cols.replace("NULL", "parent_id"),
        "items" => cols.replace("NULL", "form_id"),
        _ => cols.to_string(),
    }
}

/// Identity columns whose sequence must continue after the copied ids (PostgreSQL).
const IDENTITY_TABLES: &[&str] = &[
    "label_sets",
    "labels",
    "items",
    "forms",
    "training_runs",
    "models",
    "predictions",
    "decisions",
    "suspect_runs",
    "crawls",
];

/// What a push or pull copied.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TransferReport {
    pub items: i64,
    pub decisions: i64,
    pub models: i64,
    pub predictions: i64,
    pub embeddings: i64,
    /// Distinct item files stored with the copy.
    pub files: i64,
    /// Items whose file could not be read on this machine (kept as paths only).
    pub missing_files: Vec<String>,
    pub weights: i64,
}

/// How files travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// Store each item's bytes in the destination (team projects: the default).
    Bytes,
    /// Store only the paths (a team with a shared mount).
    ReferencePaths,
}

fn insert_sql(table: &str, cols: &str) -> String {
    let n = cols.split(',').count();
    let ph: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
    // The destination's trigger already derived each current label from the copied history;
    // the source's row is the one that counts.
    let upsert = match table {
        "item_labels" => " ON CONFLICT (item_id, label_set_id) DO UPDATE SET label = excluded.label, decision_id = excluded.decision_id",
        _ => "",
    };
    format!(
        "INSERT INTO {table} ({}) VALUES ({}){upsert}",
        dest_columns(table, cols),
        ph.join(", ")
    )
}

fn params(r: &Row) -> Vec<&dyn ToValue> {
    r.0.iter().map(|v| v as &dyn ToValue).collect()
}

fn count(src: &Store, table: &str) -> Result<i64> {
    src.db().one(&format!("SELECT COUNT(*) FROM {table}"), &[])
}

/// Copy every row of `src` into the empty destination transaction.
fn copy_rows(
    src: &Store,
    tx: &Tx<'_>,
    mode: FileMode,
    models_rel: &dyn Fn(&str) -> String,
    ctx: &JobCtx,
    report: &mut TransferReport,
) -> Result<()> {
    let total: i64 = TABLES
        .iter()
        .map(|(t, _, _)| count(src, t).unwrap_or(0))
        .sum();
    ctx.set_total(total.max(1) as u64);
    for (table, cols, order) in TABLES {
        ctx.set_message(format!("copying {table}"));
        let ins = insert_sql(table, cols);
        let mut n = 0i64;
        src.db().for_each_row(
            &format!("SELECT {cols} FROM {table} ORDER BY {order}"),
            &[],
            &mut |r| {
                if *table == "models" {
                    // Weight files live in the destination's own models folder.
                    let mut r = r.clone();
                    if let Value::Text(p) = &r.0[9] {
                        r.0[9] = Value::Text(models_rel(p));
                    }
                    tx.execute(&ins, &params(&r))?;
                } else {
                    tx.execute(&ins, &params(r))?;
                }
                n += 1;
                if n % 500 == 0 {
                    ctx.inc(500);
                    ctx.check()
                        .map_err(|_| StoreError::NothingTo("continue: cancelled"))?;
                }
                Ok(())
            },
        )?;
        ctx.inc((n % 500) as u64);
        match *table {
            "items" => report.items = n,
            "decisions" => report.decisions = n,
            "models" => report.models = n,
            "predictions" => report.predictions = n,
            "embeddings" => report.embeddings = n,
            _ => {}
        }
    }
    // The forward references.
    for (id, parent) in src.db().query(
        "SELECT id, parent_id FROM labels WHERE parent_id IS NOT NULL",
        &[],
        |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)),
    )? {
        tx.execute(
            "UPDATE labels SET parent_id = ?2 WHERE id = ?1",
            &[&id, &parent],
        )?;
    }
    for (id, form) in src.db().query(
        "SELECT id, form_id FROM items WHERE form_id IS NOT NULL",
        &[],
        |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)),
    )? {
        tx.execute("UPDATE items SET form_id = ?2 WHERE id = ?1", &[&id, &form])?;
    }
    // File bytes: stored ones travel as they are; others are read from this machine.
    if mode == FileMode::Bytes {
        ctx.set_message("copying files");
        let mut seen = std::collections::HashSet::new();
        let rows: Vec<(String, Option<String>)> = src.db().query(
            "SELECT source_path, content_hash FROM items WHERE kind IN ('image', 'page') AND content_hash IS NOT NULL ORDER BY id",
            &[],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        for (source, hash) in rows {
            let Some(hash) = hash else { continue };
            if !seen.insert(hash.clone()) {
                continue;
            }
            let bytes = match src.item_file(&hash)? {
                Some(b) => Some(b),
                None => std::fs::read(src.resolve_source(&source)).ok(),
            };
            match bytes {
                Some(b) => {
                    tx.execute(
                        "INSERT INTO item_files (content_hash, bytes) VALUES (?1, ?2) ON CONFLICT (content_hash) DO NOTHING",
                        &[&hash, &b],
                    )?;
                    report.files += 1;
                }
                None => report.missing_files.push(source),
            }
            ctx.check()
                .map_err(|_| StoreError::NothingTo("continue: cancelled"))?;
        }
    }
    // Weights: stored ones as they are, else the registered file.
    ctx.set_message("copying model weights");
    for m in src.db().query(
        "SELECT id FROM models WHERE weights_path IS NOT NULL ORDER BY id",
        &[],
        |r| r.get::<i64>(0),
    )? {
        let Some(model) = src.model(m)? else { continue };
        let bytes = match src.model_file(m)? {
            Some((_, b)) => Some(b),
            None => src
                .model_weights_file(&model)?
                .and_then(|p| std::fs::read(p).ok()),
        };
        if let Some(b) = bytes {
            let sum = blake3::hash(&b).to_hex().to_string();
            tx.execute(
                "INSERT INTO model_files (model_id, sha256, bytes) VALUES (?1, ?2, ?3)",
                &[&m, &sum, &b],
            )?;
            report.weights += 1;
        }
    }
    if tx.backend() == super::Backend::Postgres {
        for t in IDENTITY_TABLES {
            tx.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{t}', 'id'), COALESCE((SELECT MAX(id) FROM {t}), 0) + 1, false)"
                ),
                &[],
            )?;
        }
    }
    Ok(())
}

fn file_name_of(p: &str) -> String {
    Path::new(p)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.to_string())
}

impl Store {
    /// Copy this project into a new project at `dest` (a team URL or a file that does not
    /// exist yet). The source is read in one consistent snapshot where the backend allows.
    pub fn copy_into(&self, dest: &Path, mode: FileMode, ctx: &JobCtx) -> Result<TransferReport> {
        let target = super::Location::parse(dest)?;
        // The copy is written under a staging name and moved into place when complete, so an
        // interrupted push or pull (Ctrl-C, a lost connection) leaves no half-made project.
        let staging: std::path::PathBuf = match &target {
            super::Location::File(p) => {
                if p.exists() {
                    return Err(StoreError::AlreadyExists(p.clone()));
                }
                let mut name = p.file_name().map(|s| s.to_os_string()).unwrap_or_default();
                name.push(format!(".incoming-{}", std::process::id()));
                p.with_file_name(name)
            }
            super::Location::Team(u) => {
                if super::team::project_exists(u)? {
                    return Err(StoreError::TeamProjectExists(u.display()));
                }
                std::path::PathBuf::from(u.staging().raw)
            }
        };
        let mut out = Store::create_empty(&staging)?;
        let r = (|| -> Result<TransferReport> {
            let dest_models = target.models_dir();
            let dest_base = target.base_dir();
            let rel = move |p: &str| -> String {
                let f = dest_models.join(file_name_of(p));
                f.strip_prefix(&dest_base)
                    .unwrap_or(&f)
                    .to_string_lossy()
                    .into_owned()
            };
            let mut report = TransferReport::default();
            out.write(|tx| copy_rows(self, tx, mode, &rel, ctx, &mut report))?;
            let by_reference = mode == FileMode::ReferencePaths;
            if by_reference || out.is_team() {
                out.set_setting(
                    super::files::REFERENCE_PATHS,
                    serde_json::Value::Bool(by_reference),
                )?;
            }
            // A local copy gets its weight files on disk, next to it.
            if let super::Location::File(_) = &target {
                let ids: Vec<i64> = out
                    .db()
                    .column("SELECT id FROM models WHERE weights_path IS NOT NULL", &[])?;
                for id in ids {
                    let Some(m) = out.model(id)? else { continue };
                    if let (Some(p), Some((_, bytes))) = (&m.weights_path, out.model_file(id)?) {
                        let file = target.resolve_source(p);
                        super::files::write_atomic(&file, &bytes)?;
                    }
                }
            }
            Ok(report)
        })();
        let report = match r {
            Ok(r) => r,
            Err(e) => {
                drop(out);
                Store::discard(&staging);
                return Err(e);
            }
        };
        // Into place.
        match &target {
            super::Location::File(p) => {
                drop(out);
                if p.exists() {
                    Store::discard(&staging);
                    return Err(StoreError::AlreadyExists(p.clone()));
                }
                std::fs::rename(&staging, p).map_err(|source| StoreError::Io {
                    path: p.clone(),
                    source,
                })?;
            }
            super::Location::Team(u) => {
                let moved = out.db().execute(
                    &format!(
                        "ALTER SCHEMA {} RENAME TO {}",
                        super::team::quote_ident(&u.staging().schema()),
                        super::team::quote_ident(&u.schema())
                    ),
                    &[],
                );
                let moved = moved.and_then(|_| super::team::pin_functions(out.db(), &u.schema()));
                drop(out);
                if let Err(e) = moved {
                    Store::discard(&staging);
                    return Err(match super::team::project_exists(u) {
                        Ok(true) => StoreError::TeamProjectExists(u.display()),
                        _ => e,
                    });
                }
            }
        }
        Ok(report)
    }

    /// A project with the schema but no rows (the target of a copy).
    fn create_empty(path: &Path) -> Result<Store> {
        match super::Location::parse(path)? {
            super::Location::Team(url) => super::team::create_empty(url, path),
            super::Location::File(_) => Store::new_file(path),
        }
    }

    /// Remove a half-made copy.
    fn discard(path: &Path) {
        match super::Location::parse(path) {
            Ok(super::Location::Team(url)) => {
                let _ = super::team::drop_project(&url);
            }
            Ok(super::Location::File(p)) => {
                let _ = std::fs::remove_file(&p);
                for ext in ["-wal", "-shm"] {
                    let mut s = p.clone().into_os_string();
                    s.push(ext);
                    let _ = std::fs::remove_file(s);
                }
            }
            Err(_) => {}
        }
    }
}

//! CSV (`labels.csv`) and JSONL (`labels.jsonl`) exports of image projects: one record per
//! labeled item with its current label and where it came from.
//!
//! Columns / keys, in order: `path`, `label`, `source` (`human` | `machine`), `annotator`,
//! `decided_at`, `action`, `ms_spent`, `model_version`, `score`, `predicted_label`, `item_id`,
//! `content_hash`. For a human label, the model columns describe the prediction that was
//! shown when the label was decided (empty when none was); for a machine label, the
//! prediction that supplied it. CSV is RFC 4180 (UTF-8, quoted when needed, `\n` line ends).

use std::path::Path;

use serde::Serialize;

use super::atomic::AtomicDir;
use super::{chosen_label, tick, ExportRequest, ExportSummary, LabelSource, Result};
use crate::domain::ItemKind;
use crate::jobs::JobCtx;
use crate::store::exchange::{ExportQuery, ExportRow};
use crate::store::Store;

/// The file names these formats write.
pub const CSV_FILE: &str = "labels.csv";
pub const JSONL_FILE: &str = "labels.jsonl";

/// The CSV header.
pub const COLUMNS: [&str; 12] = [
    "path",
    "label",
    "source",
    "annotator",
    "decided_at",
    "action",
    "ms_spent",
    "model_version",
    "score",
    "predicted_label",
    "item_id",
    "content_hash",
];

/// One exported record (the JSONL object; the CSV row in the same order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelRecord<'a> {
    pub path: &'a str,
    pub label: &'a str,
    pub source: LabelSource,
    pub annotator: Option<&'a str>,
    pub decided_at: Option<&'a str>,
    pub action: Option<&'a str>,
    pub ms_spent: Option<i64>,
    pub model_version: Option<i64>,
    pub score: Option<f64>,
    pub predicted_label: Option<&'a str>,
    pub item_id: i64,
    pub content_hash: Option<&'a str>,
}

impl<'a> LabelRecord<'a> {
    /// The record of a row, or `None` when the row has no exported label.
    pub fn of(row: &'a ExportRow, req: &ExportRequest) -> Option<LabelRecord<'a>> {
        let (label, source) = chosen_label(row, req)?;
        let (model_version, score, predicted_label) = match source {
            LabelSource::Human => (
                row.shown_model_version,
                row.shown_score,
                row.shown_label.as_deref(),
            ),
            LabelSource::Machine => (
                row.pred_model_version,
                row.pred_score,
                row.pred_label.as_deref(),
            ),
        };
        let human = source == LabelSource::Human;
        Some(LabelRecord {
            path: &row.source_path,
            label,
            source,
            annotator: row.annotator.as_deref().filter(|_| human),
            decided_at: row.decided_at.as_deref().filter(|_| human),
            action: row.action.as_deref().filter(|_| human),
            ms_spent: row.ms_spent.filter(|_| human),
            model_version,
            score,
            predicted_label,
            item_id: row.item_id,
            content_hash: row.content_hash.as_deref(),
        })
    }

    fn csv_fields(&self) -> [String; 12] {
        fn o<T: ToString>(x: Option<T>) -> String {
            x.map(|v| v.to_string()).unwrap_or_default()
        }
        [
            self.path.to_string(),
            self.label.to_string(),
            self.source.as_str().to_string(),
            o(self.annotator),
            o(self.decided_at),
            o(self.action),
            o(self.ms_spent),
            o(self.model_version),
            o(self.score),
            o(self.predicted_label),
            self.item_id.to_string(),
            o(self.content_hash),
        ]
    }
}

/// Walk the image rows of an export, counting them in `summary`, calling `f` on each record.
pub(crate) fn for_each_record(
    store: &Store,
    req: &ExportRequest,
    ctx: &JobCtx,
    summary: &mut ExportSummary,
    mut f: impl FnMut(&ExportRow, &LabelRecord<'_>) -> Result<()>,
) -> Result<()> {
    ctx.set_total(store.count_items(ItemKind::Image)?);
    let q = ExportQuery {
        kind: ItemKind::Image,
        set: crate::domain::sets::CLASS.into(),
        parent_set: None,
        parent: None,
    };
    let mut n = 0u64;
    store.for_each_export_row(&q, |row| -> Result<()> {
        tick(ctx, &mut n)?;
        summary.items += 1;
        if row.error.is_some() {
            summary.with_errors += 1;
            return Ok(());
        }
        match LabelRecord::of(&row, req) {
            None => summary.unlabeled += 1,
            Some(rec) => {
                match rec.source {
                    LabelSource::Human => summary.human += 1,
                    LabelSource::Machine => summary.machine += 1,
                }
                f(&row, &rec)?;
            }
        }
        Ok(())
    })?;
    ctx.set_done(n);
    Ok(())
}

pub(crate) fn export_csv(
    store: &Store,
    req: &ExportRequest,
    dir: &AtomicDir,
    ctx: &JobCtx,
    summary: &mut ExportSummary,
) -> Result<serde_json::Value> {
    let mut sink = dir.create_file(Path::new(CSV_FILE))?;
    let path = sink.path().to_path_buf();
    let csv_err = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(io) => super::ExchangeError::io(&path, io),
        other => super::ExchangeError::Parse {
            path: path.clone(),
            message: format!("{other:?}"),
        },
    };
    {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(sink.writer());
        w.write_record(COLUMNS).map_err(csv_err)?;
        for_each_record(store, req, ctx, summary, |_, rec| {
            w.write_record(rec.csv_fields()).map_err(csv_err)
        })?;
        w.flush().map_err(|e| super::ExchangeError::io(&path, e))?;
    }
    sink.finish()?;
    Ok(serde_json::json!({ "files": [CSV_FILE], "columns": COLUMNS }))
}

pub(crate) fn export_jsonl(
    store: &Store,
    req: &ExportRequest,
    dir: &AtomicDir,
    ctx: &JobCtx,
    summary: &mut ExportSummary,
) -> Result<serde_json::Value> {
    let mut sink = dir.create_file(Path::new(JSONL_FILE))?;
    let mut line = Vec::with_capacity(512);
    for_each_record(store, req, ctx, summary, |_, rec| {
        line.clear();
        serde_json::to_writer(&mut line, rec).expect("records serialize");
        line.push(b'\n');
        sink.write_all(&line)
    })?;
    sink.finish()?;
    Ok(serde_json::json!({ "files": [JSONL_FILE] }))
}

/// The long-format file of every annotator's answer (`--all-annotators`).
pub const ANNOTATIONS_FILE: &str = "annotations.csv";
/// Its header: one row per item and annotator (crowd-kit's `task`, `worker`, `label` are
/// `item_id`, `annotator`, `label`); `final_label` is the exported label.
pub const ANNOTATION_COLUMNS: [&str; 6] = [
    "item_id",
    "path",
    "annotator",
    "label",
    "flagged",
    "final_label",
];

/// Write `annotations.csv`: each annotator's current answer on each item of the project's
/// main label set, with the item's final label. Returns the number of rows.
pub(crate) fn export_annotations(
    store: &Store,
    kind: crate::domain::TaskKind,
    dir: &AtomicDir,
) -> Result<usize> {
    let set = crate::review::main_label_set(kind);
    let answers = store.annotations(set)?;
    let finals: std::collections::HashMap<i64, String> =
        store.current_labels(set)?.into_iter().collect();
    let item_kind = kind.spec().labelled_item;
    // The recorded source paths (as in labels.csv), not this machine's cached copies.
    let paths: std::collections::HashMap<i64, String> = store
        .items_of_kind(item_kind)?
        .into_iter()
        .map(|it| (it.id, it.source_path))
        .collect();
    let mut sink = dir.create_file(Path::new(ANNOTATIONS_FILE))?;
    let path = sink.path().to_path_buf();
    let csv_err = |e: csv::Error| super::ExchangeError::Parse {
        path: path.clone(),
        message: e.to_string(),
    };
    {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(sink.writer());
        w.write_record(ANNOTATION_COLUMNS).map_err(csv_err)?;
        for a in &answers {
            w.write_record([
                a.item_id.to_string(),
                paths.get(&a.item_id).cloned().unwrap_or_default(),
                a.annotator.clone(),
                a.label.clone().unwrap_or_default(),
                if a.flagged { "1" } else { "0" }.to_string(),
                finals.get(&a.item_id).cloned().unwrap_or_default(),
            ])
            .map_err(csv_err)?;
        }
        w.flush().map_err(|e| super::ExchangeError::io(&path, e))?;
    }
    sink.finish()?;
    Ok(answers.len())
}

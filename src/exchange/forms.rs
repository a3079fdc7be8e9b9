//! Exports of H5 form projects.
//!
//! - `fields.jsonl` ([`export_fields`]): one labeled field per line — what a text
//!   classification trainer consumes: the page, the form index, the field's attributes and
//!   context texts (`field`, a [`FieldRecord`]), `text` (the field's texts joined), the
//!   `label` with its `source` and provenance, and the page's `industry`.
//! - `pages/<id>_<name>.json` ([`export_pages`]): one JSON per page — the crawled-page view:
//!   the page with its industry and all its fields in page order (a field without an exported
//!   label has `"label": null`).
//! - `presets/<industry>.json` + `presets.json` ([`export_presets`]): the industry presets of
//!   [`crate::presets`] (learned from the confirmed pages, or the built-in seed) for every
//!   industry of the project, at [`crate::presets::DEFAULT_MIN_FREQUENCY`].

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::atomic::AtomicDir;
use super::safe_name::{safe_component, NameAllocator};
use super::{chosen_label, tick, ExportRequest, ExportSummary, LabelSource, Result};
use crate::domain::{sets, FieldRecord, ItemKind};
use crate::jobs::JobCtx;
use crate::store::exchange::{ExportQuery, ExportRow};
use crate::store::Store;

pub const FIELDS_FILE: &str = "fields.jsonl";
pub const PAGES_DIR: &str = "pages";
pub const PRESETS_DIR: &str = "presets";
pub const PRESETS_FILE: &str = "presets.json";

/// The JSON of one field row; `label` is null when it has no exported label.
fn field_json(row: &ExportRow, req: &ExportRequest) -> (Value, Option<LabelSource>) {
    let rec: FieldRecord = serde_json::from_str(&row.meta_json).unwrap_or_default();
    let chosen = chosen_label(row, req);
    let source = chosen.map(|c| c.1);
    let human = source == Some(LabelSource::Human);
    let (model_version, score) = match source {
        Some(LabelSource::Machine) => (row.pred_model_version, row.pred_score),
        _ => (row.shown_model_version, row.shown_score),
    };
    let texts: Vec<&str> = rec.texts();
    let v = json!({
        "field_id": row.item_id,
        "page": row.parent_path,
        "page_id": row.parent_id,
        "form": rec.form_index,
        "position": row.position,
        "caption": rec.caption(),
        "text": texts.join(" | "),
        "texts": texts,
        "field": rec,
        "label": chosen.map(|c| c.0),
        "source": source.map(|s| s.as_str()),
        "annotator": row.annotator.as_deref().filter(|_| human),
        "decided_at": row.decided_at.as_deref().filter(|_| human),
        "action": row.action.as_deref().filter(|_| human),
        "ms_spent": row.ms_spent.filter(|_| human),
        "model_version": model_version,
        "score": score,
        "industry": row.parent_label,
    });
    (v, source)
}

fn count(summary: &mut ExportSummary, source: Option<LabelSource>) {
    match source {
        Some(LabelSource::Human) => summary.human += 1,
        Some(LabelSource::Machine) => summary.machine += 1,
        None => summary.unlabeled += 1,
    }
}

pub(crate) fn export_fields(
    store: &Store,
    req: &ExportRequest,
    dir: &AtomicDir,
    ctx: &JobCtx,
    summary: &mut ExportSummary,
) -> Result<Value> {
    ctx.set_total(store.count_items(ItemKind::Field)?);
    let mut out = dir.create_file(Path::new(FIELDS_FILE))?;
    let q = ExportQuery {
        kind: ItemKind::Field,
        set: sets::FIELD_TYPE.into(),
        parent_set: Some(sets::INDUSTRY.into()),
        parent: None,
    };
    let mut n = 0u64;
    let mut line = Vec::with_capacity(1024);
    store.for_each_export_row(&q, |row| -> Result<()> {
        tick(ctx, &mut n)?;
        summary.items += 1;
        if row.error.is_some() {
            summary.with_errors += 1;
            return Ok(());
        }
        let (v, source) = field_json(&row, req);
        count(summary, source);
        if source.is_none() {
            return Ok(());
        }
        line.clear();
        serde_json::to_writer(&mut line, &v).expect("serializes");
        line.push(b'\n');
        out.write_all(&line)
    })?;
    ctx.set_done(n);
    out.finish()?;
    Ok(json!({ "files": [FIELDS_FILE] }))
}

pub(crate) fn export_pages(
    store: &Store,
    req: &ExportRequest,
    dir: &AtomicDir,
    ctx: &JobCtx,
    summary: &mut ExportSummary,
) -> Result<Value> {
    ctx.set_total(store.count_items(ItemKind::Page)?);
    let pages = ExportQuery {
        kind: ItemKind::Page,
        set: sets::INDUSTRY.into(),
        parent_set: None,
        parent: None,
    };
    let mut names = NameAllocator::new();
    let mut n = 0u64;
    let mut pages_written = 0u64;
    store.for_each_export_row(&pages, |page| -> Result<()> {
        tick(ctx, &mut n)?;
        let industry = chosen_label(&page, req);
        let human = matches!(industry, Some((_, LabelSource::Human)));
        let mut fields = Vec::new();
        let q = ExportQuery {
            kind: ItemKind::Field,
            set: sets::FIELD_TYPE.into(),
            parent_set: Some(sets::INDUSTRY.into()),
            parent: Some(page.item_id),
        };
        store.for_each_export_row(&q, |row| -> Result<()> {
            summary.items += 1;
            if row.error.is_some() {
                summary.with_errors += 1;
                return Ok(());
            }
            let (mut v, source) = field_json(&row, req);
            match source {
                Some(_) => count(summary, source),
                None => summary.without_label += 1,
            }
            if let Some(o) = v.as_object_mut() {
                // Page-level keys are on the page object.
                o.remove("page");
                o.remove("page_id");
                o.remove("industry");
            }
            fields.push(v);
            Ok(())
        })?;
        let doc = json!({
            "page": page.source_path,
            "page_id": page.item_id,
            "content_hash": page.content_hash,
            "error": page.error,
            "industry": industry.map(|c| c.0),
            "industry_source": industry.map(|c| c.1.as_str()),
            "industry_annotator": page.annotator.as_deref().filter(|_| human),
            "industry_decided_at": page.decided_at.as_deref().filter(|_| human),
            "industry_model_version": match industry { Some((_, LabelSource::Machine)) => page.pred_model_version, _ => page.shown_model_version },
            "industry_score": match industry { Some((_, LabelSource::Machine)) => page.pred_score, _ => page.shown_score },
            "fields": fields,
        });
        let stem = page.source_path.rsplit(['/', '\\']).next().unwrap_or("");
        let stem = stem.rsplit_once('.').map(|(s, _)| s).unwrap_or(stem);
        let name = names.unique(&format!("{:06}_{}.json", page.item_id, safe_component(stem)));
        let mut f = dir.create_file(&PathBuf::from(PAGES_DIR).join(name))?;
        f.write_all(serde_json::to_string_pretty(&doc).expect("serializes").as_bytes())?;
        f.write_all(b"\n")?;
        f.close()?;
        pages_written += 1;
        Ok(())
    })?;
    ctx.set_done(n);
    Ok(json!({ "files": [PAGES_DIR], "pages": pages_written }))
}

pub(crate) fn export_presets(
    store: &Store,
    dir: &AtomicDir,
    ctx: &JobCtx,
    summary: &mut ExportSummary,
) -> Result<Value> {
    let industries = store.labels(sets::INDUSTRY)?;
    ctx.set_total(industries.len() as u64);
    let mut names = NameAllocator::new();
    let mut all = Vec::new();
    for (i, l) in industries.iter().enumerate() {
        ctx.check()?;
        let p = crate::presets::preset_for_industry(
            store,
            &l.name,
            crate::presets::DEFAULT_MIN_FREQUENCY,
        )
        .map_err(|e| super::ExchangeError::Preset(format!("{}: {e:#}", l.name)))?;
        let name = names.unique(&format!("{}.json", safe_component(&l.name)));
        let mut f = dir.create_file(&PathBuf::from(PRESETS_DIR).join(name))?;
        f.write_all(p.to_json().as_bytes())?;
        f.write_all(b"\n")?;
        f.close()?;
        summary.items += 1;
        if p.source == "seed" {
            summary.without_label += 1;
        } else {
            summary.human += 1;
        }
        all.push(p);
        ctx.set_done(i as u64 + 1);
    }
    let mut f = dir.create_file(Path::new(PRESETS_FILE))?;
    f.write_all(
        serde_json::to_string_pretty(&all)
            .expect("presets serialize")
            .as_bytes(),
    )?;
    f.write_all(b"\n")?;
    f.finish()?;
    Ok(json!({ "files": [PRESETS_FILE, PRESETS_DIR], "format": crate::presets::FORMAT }))
}

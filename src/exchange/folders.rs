//! Folder exports of image projects.
//!
//! - ImageFolder: `out/<label>/<file>`, or `out/{train,val,test}/<label>/<file>` with a split —
//!   the layout torchvision's `ImageFolder` and Ultralytics' classification trainer read.
//! - Hugging Face `imagefolder`: `out/<split>/<file>` plus `out/<split>/metadata.jsonl` with
//!   `file_name`, `label` (the label's real name) and the record's provenance; without a
//!   split everything goes to `train/`.
//!
//! Class folders get safe, unique names ([`super::safe_name`]); the manifest's `classes` maps
//! each folder back to its label. Files keep their (safe) base name; two files with the same
//! name in one folder become `name.png`, `name~2.png`. Files are copied or hard-linked.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::atomic::{AtomicDir, Sink};
use super::safe_name::{safe_file_name, NameAllocator};
use super::split::{SplitPlanner, SPLIT_NAMES};
use super::tabular::{for_each_record, LabelRecord};
use super::{chosen_label, ExchangeError, ExportRequest, ExportSummary, LinkMode, Result};
use crate::domain::{sets, ItemKind};
use crate::jobs::JobCtx;
use crate::store::exchange::ExportQuery;
use crate::store::Store;

/// Split of each item, when the request asks for one (first pass over the rows).
fn plan_split(
    store: &Store,
    req: &ExportRequest,
    ctx: &JobCtx,
) -> Result<Option<HashMap<i64, u8>>> {
    let Some(f) = req.split else { return Ok(None) };
    ctx.set_message("drawing the split");
    let mut planner = SplitPlanner::default();
    let q = ExportQuery {
        kind: ItemKind::Image,
        set: sets::CLASS.into(),
        parent_set: None,
        parent: None,
    };
    store.for_each_export_row(&q, |row| -> Result<()> {
        if row.error.is_none() {
            if let Some((label, _)) = chosen_label(&row, req) {
                planner.add(row.item_id, label);
            }
        }
        Ok(())
    })?;
    ctx.check()?;
    Ok(Some(planner.assign(f, req.seed)))
}

/// Places files into folders: safe unique names, copy or hard link.
struct Placer<'a> {
    root: &'a Path,
    store: &'a Store,
    /// Team projects: files come from the database (read once per export).
    keeps_bytes: bool,
    link: LinkMode,
    class_names: NameAllocator,
    classes: BTreeMap<String, String>,
    files: HashMap<PathBuf, NameAllocator>,
    copied: u64,
    linked: u64,
}

impl<'a> Placer<'a> {
    fn new(root: &'a Path, link: LinkMode, store: &'a Store) -> Result<Placer<'a>> {
        let mut p = Placer {
            root,
            store,
            keeps_bytes: store.keeps_file_bytes()?,
            link,
            class_names: NameAllocator::new(),
            classes: BTreeMap::new(),
            files: HashMap::new(),
            copied: 0,
            linked: 0,
        };
        // Hand out class folder names in label-set order, so they do not depend on the data.
        for l in store.labels(sets::CLASS)? {
            p.class_names.label_dir(&l.name);
        }
        Ok(p)
    }

    /// Folder name of a class (recorded for the manifest).
    fn class_dir(&mut self, label: &str) -> String {
        let d = self.class_names.label_dir(label);
        self.classes
            .entry(d.clone())
            .or_insert_with(|| label.to_string());
        d
    }

    /// Put the item's file into `rel_dir`; returns its path relative to `rel_dir`'s root.
    fn place(
        &mut self,
        rel_dir: &Path,
        item: i64,
        source: &str,
        hash: Option<&str>,
    ) -> Result<String> {
        let names = self.files.entry(rel_dir.to_path_buf()).or_default();
        let name = names.unique(&safe_file_name(source));
        let dir = self.root.join(rel_dir);
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| ExchangeError::io(&dir, e))?;
        }
        let dst = dir.join(&name);
        // Team projects: the stored bytes, fetched into the local cache once.
        let local = self.store.local_file_with(self.keeps_bytes, source, hash)?;
        let src = local.as_path();
        let missing = |e: std::io::Error| ExchangeError::MissingSource {
            item,
            path: src.to_path_buf(),
            source: e,
        };
        match self.link {
            LinkMode::Hard => match std::fs::hard_link(src, &dst) {
                Ok(()) => self.linked += 1,
                Err(e) if !src.exists() => return Err(missing(e)),
                Err(_) => {
                    // Another file system (EXDEV) or no link support: copy instead.
                    std::fs::copy(src, &dst).map_err(missing)?;
                    self.copied += 1;
                }
            },
            LinkMode::Copy => {
                std::fs::copy(src, &dst).map_err(|e| {
                    if src.exists() {
                        ExchangeError::io(&dst, e)
                    } else {
                        missing(e)
                    }
                })?;
                self.copied += 1;
            }
        }
        Ok(name)
    }
}

fn split_counts(split: &Option<HashMap<i64, u8>>, counts: &[u64; 3], summary: &mut ExportSummary) {
    if split.is_some() {
        summary.per_split = SPLIT_NAMES
            .iter()
            .zip(counts)
            .map(|(s, n)| (s.to_string(), *n))
            .collect();
    }
}

pub(crate) fn export_imagefolder(
    store: &Store,
    req: &ExportRequest,
    dir: &AtomicDir,
    ctx: &JobCtx,
    summary: &mut ExportSummary,
) -> Result<serde_json::Value> {
    let split = plan_split(store, req, ctx)?;
    let mut placer = Placer::new(dir.path(), req.link, store)?;
    let mut per_split = [0u64; 3];
    ctx.set_message("copying files");
    for_each_record(store, req, ctx, summary, |row, rec| -> Result<()> {
        let class = placer.class_dir(rec.label);
        let rel = match &split {
            Some(s) => {
                let k = s.get(&row.item_id).copied().unwrap_or(0) as usize;
                per_split[k] += 1;
                Path::new(SPLIT_NAMES[k]).join(&class)
            }
            None => PathBuf::from(&class),
        };
        placer.place(&rel, row.item_id, rec.path, row.content_hash.as_deref())?;
        Ok(())
    })?;
    split_counts(&split, &per_split, summary);
    (summary.files_copied, summary.files_linked) = (placer.copied, placer.linked);
    Ok(
        serde_json::json!({ "layout": if split.is_some() { "split/class/file" } else { "class/file" }, "classes": placer.classes }),
    )
}

/// The `metadata.jsonl` object of an HF imagefolder row.
#[derive(serde::Serialize)]
struct HfMeta<'a> {
    file_name: &'a str,
    #[serde(flatten)]
    rec: &'a LabelRecord<'a>,
}

pub(crate) fn export_hf(
    store: &Store,
    req: &ExportRequest,
    dir: &AtomicDir,
    ctx: &JobCtx,
    summary: &mut ExportSummary,
) -> Result<serde_json::Value> {
    let split = plan_split(store, req, ctx)?;
    let mut placer = Placer::new(dir.path(), req.link, store)?;
    let mut per_split = [0u64; 3];
    let mut sinks: [Option<Sink>; 3] = [None, None, None];
    let mut line = Vec::with_capacity(512);
    ctx.set_message("copying files");
    for_each_record(store, req, ctx, summary, |row, rec| -> Result<()> {
        let k = split
            .as_ref()
            .and_then(|s| s.get(&row.item_id).copied())
            .unwrap_or(0) as usize;
        per_split[k] += 1;
        let rel = Path::new(SPLIT_NAMES[k]);
        let file_name = placer.place(rel, row.item_id, rec.path, row.content_hash.as_deref())?;
        if sinks[k].is_none() {
            sinks[k] = Some(dir.create_file(&rel.join("metadata.jsonl"))?);
        }
        line.clear();
        serde_json::to_writer(
            &mut line,
            &HfMeta {
                file_name: &file_name,
                rec,
            },
        )
        .expect("serializes");
        line.push(b'\n');
        sinks[k].as_mut().expect("opened above").write_all(&line)
    })?;
    for s in sinks.into_iter().flatten() {
        s.finish()?;
    }
    split_counts(&split, &per_split, summary);
    (summary.files_copied, summary.files_linked) = (placer.copied, placer.linked);
    Ok(serde_json::json!({ "layout": "split/file + split/metadata.jsonl" }))
}

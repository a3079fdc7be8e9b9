//! Dataset export and label import in the formats other tools read.
//!
//! One implementation serves the CLI (`yuxuan export`, `yuxuan import-labels`) and the GUI's
//! export dialog: [`export`] and [`import_labels`], both driven by a [`JobCtx`] for progress
//! and cancellation.
//!
//! Every export:
//! - streams the project's items from the store one row at a time (constant memory; only a
//!   train/val/test split keeps one id per labeled item to draw the split, and folder exports
//!   keep the file names handed out per folder to resolve collisions);
//! - writes into a temp folder next to `--out` and renames it into place at the end
//!   ([`atomic::AtomicDir`]), so a failed or cancelled export leaves nothing behind;
//! - exports human labels only, unless `include_predictions`, which adds the best current
//!   prediction (active model first) of items without a human label when its score is at
//!   least `min_score`, marked `"source": "machine"`;
//! - turns label names into file names with [`safe_name`] (never escaping the folder, never
//!   colliding, 中文 kept readable).
//!
//! Formats, one module each: [`tabular`] (CSV, JSONL), [`folders`] (ImageFolder, Hugging Face
//! imagefolder), [`label_studio`] (tasks JSON, both directions), [`forms`] (fields JSONL, one
//! JSON per page), and [`import`] (labels from ImageFolder, CSV, Label Studio into a project).

pub mod atomic;
pub mod boxes;
pub mod folders;
pub mod forms;
pub mod import;
pub mod label_studio;
pub mod objects;
pub mod safe_name;
pub mod split;
pub mod tabular;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::domain::TaskKind;
use crate::jobs::{Cancelled, JobCtx};
use crate::store::exchange::ExportRow;
use crate::store::{Store, StoreError};

pub use import::{import_labels, ImportFormat, LabelImportRequest, LabelImportSummary, RowProblem};

/// Name of the manifest every export writes at its root.
pub const MANIFEST: &str = "yuxuan-export.json";

/// Errors of exports and imports, with what the user can do about them.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("export cancelled; nothing was written")]
    Cancelled(#[from] Cancelled),
    #[error("I/O error on {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{0} already exists and is not empty; choose another output folder or replace it (--force)"
    )]
    Exists(PathBuf),
    #[error("cannot write to {0}: {1}")]
    BadOutput(PathBuf, String),
    #[error("format {format} is for {wants} projects; this is a {kind} project")]
    WrongKind {
        format: &'static str,
        wants: &'static str,
        kind: &'static str,
    },
    #[error("invalid split {0:?}: give 2 or 3 non-negative fractions like 0.8,0.1,0.1")]
    BadSplit(String),
    #[error("unknown format {0:?}; known: {1}")]
    UnknownFormat(String, &'static str),
    #[error("cannot read {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("industry presets: {0}")]
    Preset(String),
    #[error("source file of item {item} cannot be read: {path}")]
    MissingSource {
        item: i64,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ExchangeError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> ExchangeError {
        ExchangeError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = ExchangeError> = std::result::Result<T, E>;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// Images: `out/[split/]<label>/<file>` (torchvision ImageFolder, Ultralytics classify).
    ImageFolder,
    /// Images: Hugging Face `imagefolder` with `metadata.jsonl` per split.
    HfImageFolder,
    /// Images: one CSV row per labeled item (`labels.csv`).
    Csv,
    /// Images: one JSON object per line per labeled item (`labels.jsonl`).
    Jsonl,
    /// Images: Label Studio tasks (`tasks.json`) with `label_config.xml`.
    LabelStudio,
    /// Forms: one labeled field per line with its page, form, attributes, texts and the
    /// page's industry (`fields.jsonl`).
    FormFields,
    /// Forms: one JSON per page with its fields in page order (`pages/*.json`).
    FormPages,
    /// Objects: COCO JSON (`annotations/instances_<split>.json`, images under `images/`).
    Coco,
    /// Objects: YOLO (`data.yaml`, `images/<split>/`, `labels/<split>/*.txt`).
    Yolo,
    /// Objects: Pascal VOC (`Annotations/*.xml`, `JPEGImages/`, `ImageSets/Main/`).
    Voc,
    /// Objects: labelme (one JSON beside each image).
    Labelme,
    /// Forms: the industry presets (`presets::Preset` JSON, one file per industry of the
    /// project, learned from its confirmed pages) in `presets/`, and all of them in
    /// `presets.json`.
    IndustryPresets,
}

impl ExportFormat {
    pub const ALL: &'static [ExportFormat] = &[
        ExportFormat::ImageFolder,
        ExportFormat::HfImageFolder,
        ExportFormat::Csv,
        ExportFormat::Jsonl,
        ExportFormat::LabelStudio,
        ExportFormat::FormFields,
        ExportFormat::FormPages,
        ExportFormat::IndustryPresets,
        ExportFormat::Coco,
        ExportFormat::Yolo,
        ExportFormat::Voc,
        ExportFormat::Labelme,
    ];
    const NAMES: &'static str = "imagefolder, hf-imagefolder, csv, jsonl, label-studio, form-fields, form-pages, presets, coco, yolo, voc, labelme";

    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::ImageFolder => "imagefolder",
            ExportFormat::HfImageFolder => "hf-imagefolder",
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::LabelStudio => "label-studio",
            ExportFormat::FormFields => "form-fields",
            ExportFormat::FormPages => "form-pages",
            ExportFormat::IndustryPresets => "presets",
            ExportFormat::Coco => "coco",
            ExportFormat::Yolo => "yolo",
            ExportFormat::Voc => "voc",
            ExportFormat::Labelme => "labelme",
        }
    }

    pub fn parse(s: &str) -> Result<ExportFormat> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        Ok(match norm.as_str() {
            "imagefolder" | "image-folder" => ExportFormat::ImageFolder,
            "hf-imagefolder" | "hf" | "huggingface" => ExportFormat::HfImageFolder,
            "csv" => ExportFormat::Csv,
            "jsonl" => ExportFormat::Jsonl,
            "label-studio" | "labelstudio" | "ls" => ExportFormat::LabelStudio,
            "form-fields" | "fields-jsonl" | "fields" => ExportFormat::FormFields,
            "form-pages" | "pages-json" | "pages" => ExportFormat::FormPages,
            "presets" | "industry-presets" => ExportFormat::IndustryPresets,
            "coco" => ExportFormat::Coco,
            "yolo" | "ultralytics" => ExportFormat::Yolo,
            "voc" | "pascal-voc" => ExportFormat::Voc,
            "labelme" => ExportFormat::Labelme,
            _ => return Err(ExchangeError::UnknownFormat(s.to_string(), Self::NAMES)),
        })
    }

    /// The formats a project of `kind` can be exported to (for the export dialog).
    pub fn for_kind(kind: TaskKind) -> Vec<ExportFormat> {
        Self::ALL
            .iter()
            .copied()
            .filter(|f| f.kinds().contains(&kind))
            .collect()
    }

    /// The box format of an object export.
    pub fn box_format(self) -> Option<boxes::BoxFormat> {
        Some(match self {
            ExportFormat::Coco => boxes::BoxFormat::Coco,
            ExportFormat::Yolo => boxes::BoxFormat::Yolo,
            ExportFormat::Voc => boxes::BoxFormat::Voc,
            ExportFormat::Labelme => boxes::BoxFormat::Labelme,
            ExportFormat::LabelStudio => boxes::BoxFormat::LabelStudio,
            _ => return None,
        })
    }

    /// One line saying what the format is (for the export dialog).
    pub fn description(self) -> &'static str {
        match self {
            ExportFormat::ImageFolder => {
                "ImageFolder: one folder per class (torchvision, Ultralytics)"
            }
            ExportFormat::HfImageFolder => "Hugging Face imagefolder with metadata.jsonl",
            ExportFormat::Csv => "CSV: one row per labeled image",
            ExportFormat::Jsonl => "JSONL: one object per labeled image",
            ExportFormat::LabelStudio => "Label Studio tasks JSON with annotations and predictions",
            ExportFormat::FormFields => {
                "JSONL: one labeled form field per line (text classification)"
            }
            ExportFormat::FormPages => "One JSON per page with its fields in order",
            ExportFormat::IndustryPresets => "Industry presets JSON (field lists per industry)",
            ExportFormat::Coco => "COCO JSON: instances per split, boxes [x, y, w, h] (pycocotools, Detectron2, MMDetection)",
            ExportFormat::Yolo => "YOLO: data.yaml with images/ and labels/ per split (Ultralytics)",
            ExportFormat::Voc => "Pascal VOC XML per image with ImageSets (TF Object Detection, many tools)",
            ExportFormat::Labelme => "labelme JSON beside each image (rectangles)",
        }
    }

    /// The project kinds this format is for.
    pub fn kinds(self) -> &'static [TaskKind] {
        match self {
            ExportFormat::FormFields | ExportFormat::FormPages | ExportFormat::IndustryPresets => {
                &[TaskKind::Form]
            }
            ExportFormat::Coco | ExportFormat::Yolo | ExportFormat::Voc | ExportFormat::Labelme => {
                &[TaskKind::Objects]
            }
            ExportFormat::LabelStudio => &[TaskKind::Image, TaskKind::Objects],
            _ => &[TaskKind::Image],
        }
    }
}

/// How files get into a folder export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkMode {
    /// Copy the bytes (the export stands alone).
    #[default]
    Copy,
    /// Hard-link (no extra space; falls back to a copy across file systems).
    Hard,
}

impl LinkMode {
    pub fn parse(s: &str) -> Option<LinkMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "copy" => Some(LinkMode::Copy),
            "hard" | "hardlink" | "link" => Some(LinkMode::Hard),
            _ => None,
        }
    }
}

/// What to export, where.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRequest {
    pub format: ExportFormat,
    /// Output folder (created atomically).
    pub out: PathBuf,
    /// Add machine labels (marked as such) for items without a human label.
    pub include_predictions: bool,
    /// Lowest score of a machine label that is exported.
    pub min_score: f64,
    /// Train/val/test fractions (folder formats), drawn per class with `seed`.
    pub split: Option<split::SplitFractions>,
    pub seed: u64,
    pub link: LinkMode,
    /// Replace an existing non-empty output folder (at the end, atomically).
    pub overwrite: bool,
    /// Also write every annotator's current answer per item (`annotations.csv`, long format:
    /// one row per item and annotator), for people who model label noise.
    pub all_annotators: bool,
    /// Label Studio: the `LOCAL_FILES_DOCUMENT_ROOT` the task URLs are relative to (default
    /// `/`). Every exported image must be under it.
    pub ls_document_root: Option<PathBuf>,
}

impl ExportRequest {
    pub fn new(format: ExportFormat, out: impl Into<PathBuf>) -> ExportRequest {
        ExportRequest {
            format,
            out: out.into(),
            include_predictions: false,
            min_score: 0.0,
            split: None,
            seed: 0,
            link: LinkMode::Copy,
            overwrite: false,
            all_annotators: false,
            ls_document_root: None,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExportSummary {
    pub format: String,
    pub out: PathBuf,
    /// Items looked at.
    pub items: u64,
    /// Records written with a human label.
    pub human: u64,
    /// Records written with a machine label.
    pub machine: u64,
    /// Items left out: no label (or a machine label below `min_score`).
    pub unlabeled: u64,
    /// Items left out because they could not be read at import.
    pub with_errors: u64,
    /// Records that went without a label (Label Studio tasks to label, page fields).
    pub without_label: u64,
    /// Image files copied / hard-linked.
    pub files_copied: u64,
    pub files_linked: u64,
    /// Records per split (train, val, test), when split.
    pub per_split: Vec<(String, u64)>,
    /// Records that carry the model's prediction next to (or instead of) the human label
    /// (Label Studio tasks' `predictions`).
    pub with_prediction: u64,
    /// What to do next with the export (Label Studio: how to serve its images), one line each.
    pub next_steps: Vec<String>,
    #[serde(skip)]
    pub elapsed: Duration,
}

impl std::fmt::Display for ExportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} export to {}: {} items, {} human labels, {} machine labels, {} unlabeled left out, {} with errors left out",
            self.format,
            self.out.display(),
            self.items,
            self.human,
            self.machine,
            self.unlabeled,
            self.with_errors
        )?;
        if self.without_label > 0 {
            write!(f, ", {} records without a label", self.without_label)?;
        }
        if self.with_prediction > 0 {
            write!(
                f,
                ", {} carry the model's prediction (model version, score)",
                self.with_prediction
            )?;
        }
        if self.files_copied + self.files_linked > 0 {
            write!(
                f,
                ", {} files copied, {} hard-linked",
                self.files_copied, self.files_linked
            )?;
        }
        for (s, n) in &self.per_split {
            write!(f, ", {s}: {n}")?;
        }
        write!(f, " ({:.2} s)", self.elapsed.as_secs_f64())
    }
}

/// Where an exported label came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelSource {
    Human,
    Machine,
}

impl LabelSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LabelSource::Human => "human",
            LabelSource::Machine => "machine",
        }
    }
}

/// The label an export writes for a row, if any: the human label, else (with
/// `include_predictions`) the best prediction when its score reaches `min_score`.
pub fn chosen_label<'a>(row: &'a ExportRow, req: &ExportRequest) -> Option<(&'a str, LabelSource)> {
    if let Some(l) = &row.label {
        return Some((l, LabelSource::Human));
    }
    if req.include_predictions {
        if let (Some(l), Some(s)) = (&row.pred_label, row.pred_score) {
            if s >= req.min_score {
                return Some((l, LabelSource::Machine));
            }
        }
    }
    None
}

/// Export a project. The output folder appears complete or not at all.
pub fn export(store: &Store, req: &ExportRequest, ctx: &JobCtx) -> Result<ExportSummary> {
    let started = std::time::Instant::now();
    let kind = store.project()?.kind;
    if !req.format.kinds().contains(&kind) {
        return Err(ExchangeError::WrongKind {
            format: req.format.as_str(),
            wants: req.format.kinds()[0].as_str(),
            kind: kind.as_str(),
        });
    }
    if !(req.min_score.is_finite()) {
        return Err(ExchangeError::BadOutput(
            req.out.clone(),
            "min score must be a number".into(),
        ));
    }
    let dir = atomic::AtomicDir::create(&req.out, req.overwrite)?;
    ctx.set_message(format!("exporting {}", req.format.as_str()));
    let mut summary = ExportSummary {
        format: req.format.as_str().to_string(),
        ..Default::default()
    };
    let manifest_extra = match (req.format.box_format(), kind) {
        (Some(f), TaskKind::Objects) => objects::export(store, req, f, &dir, ctx, &mut summary)?,
        _ => match req.format {
            ExportFormat::Csv => tabular::export_csv(store, req, &dir, ctx, &mut summary)?,
            ExportFormat::Jsonl => tabular::export_jsonl(store, req, &dir, ctx, &mut summary)?,
            ExportFormat::ImageFolder => {
                folders::export_imagefolder(store, req, &dir, ctx, &mut summary)?
            }
            ExportFormat::HfImageFolder => folders::export_hf(store, req, &dir, ctx, &mut summary)?,
            ExportFormat::LabelStudio => label_studio::export(store, req, &dir, ctx, &mut summary)?,
            ExportFormat::FormFields => forms::export_fields(store, req, &dir, ctx, &mut summary)?,
            ExportFormat::FormPages => forms::export_pages(store, req, &dir, ctx, &mut summary)?,
            ExportFormat::IndustryPresets => forms::export_presets(store, &dir, ctx, &mut summary)?,
            ExportFormat::Coco | ExportFormat::Yolo | ExportFormat::Voc | ExportFormat::Labelme => {
                unreachable!("box formats are for object projects (checked above)")
            }
        },
    };
    ctx.check()?;
    let manifest_extra = if req.all_annotators {
        let n = tabular::export_annotations(store, kind, &dir)?;
        let mut m = manifest_extra;
        m["annotations"] = serde_json::json!({
            "file": tabular::ANNOTATIONS_FILE,
            "rows": n,
            "columns": tabular::ANNOTATION_COLUMNS,
        });
        m
    } else {
        manifest_extra
    };
    write_manifest(store, req, &dir, &summary, manifest_extra)?;
    summary.out = dir.commit()?;
    summary.elapsed = started.elapsed();
    ctx.set_message("done");
    Ok(summary)
}

fn write_manifest(
    store: &Store,
    req: &ExportRequest,
    dir: &atomic::AtomicDir,
    summary: &ExportSummary,
    extra: serde_json::Value,
) -> Result<()> {
    let p = store.project()?;
    let mut m = serde_json::json!({
        "yuxuan_export": 1,
        "format": req.format.as_str(),
        "project": p.name,
        "project_kind": p.kind.as_str(),
        "exported_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "include_predictions": req.include_predictions,
        "min_score": req.min_score,
        "split": req.split.map(|s| s.0.to_vec()),
        "seed": req.seed,
        "summary": summary,
    });
    if let (Some(obj), serde_json::Value::Object(extra)) = (m.as_object_mut(), extra) {
        obj.extend(extra);
    }
    let mut f = dir.create_file(Path::new(MANIFEST))?;
    f.write_all(serde_json::to_string_pretty(&m).expect("json").as_bytes())?;
    f.write_all(b"\n")?;
    f.finish()
}

/// Report progress every this many rows (and check for cancellation).
pub(crate) const PROGRESS_EVERY: u64 = 512;

/// Count one row for the progress bar; check for cancellation every [`PROGRESS_EVERY`] rows.
pub(crate) fn tick(ctx: &JobCtx, n: &mut u64) -> Result<()> {
    *n += 1;
    if *n % PROGRESS_EVERY == 0 {
        ctx.set_done(*n);
        ctx.check()?;
    }
    Ok(())
}

//! Import of labels and predictions made elsewhere into an existing image project.
//!
//! Sources: a CSV (`path,label`, with or without a header; this crate's own `labels.csv`
//! too, whose `source=machine` rows come back as predictions), an ImageFolder tree
//! (`root/<label>/…` or `root/{train,val,test}/<label>/…`, class folders mapped back to their
//! labels through the export manifest when there is one), a Hugging Face imagefolder
//! (`metadata.jsonl` / `metadata.csv` in the root or per split: `file_name` + `label`), and
//! Label Studio tasks JSON (annotations become decisions, predictions become predictions).
//!
//! Rows are matched to the project's items by exact `source_path`, then by content hash
//! (blake3 of the file's bytes, so copied files find their originals), then by a unique file
//! name. Labels not in the label set are added, or refused with [`UnknownLabels::Refuse`].
//! A row that cannot be used (malformed, no matching item, refused label) is reported with
//! its line number (CSV), task number (Label Studio) or path (folders) and skipped; the rest
//! is imported. A label equal to the item's current label is left alone, so importing the
//! same file twice changes nothing. Decisions are recorded as `correct` by the file's
//! annotator (Label Studio's `completed_by`) or the request's annotator.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::label_studio::{self, ImageRef};
use super::{tick, ExchangeError, Result, MANIFEST};
use crate::domain::{sets, Action, ItemKind, NewDecision, NewLabel, TaskKind};
pub use crate::ingest::images::UnknownLabels;
use crate::jobs::JobCtx;
use crate::store::predictions::NewPrediction;
use crate::store::Store;

/// Extensions of image files an ImageFolder walk picks up (torchvision's IMG_EXTENSIONS).
pub const IMG_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "ppm", "bmp", "pgm", "tif", "tiff", "webp",
];

/// Where labels come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportFormat {
    Csv,
    ImageFolder,
    /// Hugging Face `imagefolder` with `metadata.jsonl` / `metadata.csv` (root or per split).
    HfImageFolder,
    LabelStudio,
}

impl ImportFormat {
    pub fn parse(s: &str) -> Result<ImportFormat> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "csv" => Ok(ImportFormat::Csv),
            "imagefolder" | "image-folder" | "folder" => Ok(ImportFormat::ImageFolder),
            "hf-imagefolder" | "hf" | "huggingface" => Ok(ImportFormat::HfImageFolder),
            "label-studio" | "labelstudio" | "ls" => Ok(ImportFormat::LabelStudio),
            _ => Err(ExchangeError::UnknownFormat(
                s.to_string(),
                "csv, imagefolder, hf-imagefolder, label-studio",
            )),
        }
    }

    /// Guess from the path: a folder with `metadata.jsonl`/`.csv` (itself or in a split
    /// folder) is a Hugging Face imagefolder, another folder an ImageFolder, `.json` Label
    /// Studio, else CSV.
    pub fn detect(path: &Path) -> ImportFormat {
        if path.is_dir() {
            if hf_metadata_files(path).is_empty() {
                ImportFormat::ImageFolder
            } else {
                ImportFormat::HfImageFolder
            }
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            ImportFormat::LabelStudio
        } else {
            ImportFormat::Csv
        }
    }
}

/// What to import.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelImportRequest {
    pub format: ImportFormat,
    pub path: PathBuf,
    pub unknown_labels: UnknownLabels,
    /// Annotator of decisions whose source names none.
    pub annotator: String,
}

impl LabelImportRequest {
    pub fn new(format: ImportFormat, path: impl Into<PathBuf>) -> LabelImportRequest {
        LabelImportRequest {
            format,
            path: path.into(),
            unknown_labels: UnknownLabels::Add,
            annotator: "import".into(),
        }
    }
}

/// A row that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowProblem {
    /// Line (CSV) or task number (Label Studio); `None` for files of a folder.
    pub line: Option<usize>,
    /// `line 5`, `task 3`, or the file's path.
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabelImportSummary {
    /// Rows / files / tasks read.
    pub rows: usize,
    /// Decisions recorded.
    pub decisions: usize,
    /// Predictions stored.
    pub predictions: usize,
    /// Rows whose label the item already had.
    pub unchanged: usize,
    /// Labels added to the label set.
    pub labels_added: Vec<String>,
    /// Rows skipped, with line numbers.
    pub problems: Vec<RowProblem>,
}

impl std::fmt::Display for LabelImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rows: {} decisions, {} predictions, {} unchanged, {} skipped",
            self.rows,
            self.decisions,
            self.predictions,
            self.unchanged,
            self.problems.len()
        )?;
        if !self.labels_added.is_empty() {
            write!(f, ", labels added: {}", self.labels_added.join(", "))?;
        }
        Ok(())
    }
}

/// What one usable row says.
#[derive(Debug, Clone, PartialEq)]
enum Payload {
    Decision {
        annotator: String,
        ms: i64,
        /// When it was decided in the other tool (RFC 3339), if it says.
        at: Option<String>,
        /// A stable id of the other tool's annotation: importing the same file again records
        /// nothing twice.
        source_id: Option<String>,
    },
    Prediction {
        model_version: Option<String>,
        score: Option<f64>,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    line: Option<usize>,
    location: String,
    item_id: i64,
    label: String,
    payload: Payload,
}

/// Finds the item a row means. Paths and file names of the project's images are indexed
/// once (one entry per item), content hashes are looked up through the store's index.
struct Matcher<'a> {
    store: &'a Store,
    by_path: HashMap<String, i64>,
    by_name: HashMap<String, Vec<i64>>,
}

impl<'a> Matcher<'a> {
    fn new(store: &'a Store) -> Result<Matcher<'a>> {
        let mut by_path = HashMap::new();
        let mut by_name: HashMap<String, Vec<i64>> = HashMap::new();
        for (id, path) in store.item_paths(ItemKind::Image)? {
            let name = path.rsplit(['/', '\\']).next().unwrap_or("").to_string();
            by_name.entry(name).or_default().push(id);
            by_path.entry(path).or_insert(id);
        }
        Ok(Matcher {
            store,
            by_path,
            by_name,
        })
    }

    /// The item with exactly this source path.
    fn exact(&self, path: &str) -> Option<i64> {
        self.by_path.get(path).copied()
    }

    /// By exact path, by content hash of the file, by unique file name.
    fn by_path(&self, path: &Path) -> Result<std::result::Result<i64, String>> {
        if let Some(id) = self.exact(&path.to_string_lossy()) {
            return Ok(Ok(id));
        }
        if let Ok(canon) = path.canonicalize() {
            if let Some(id) = self.exact(&canon.to_string_lossy()) {
                return Ok(Ok(id));
            }
        }
        if let Ok(bytes) = std::fs::read(path) {
            let hash = blake3::hash(&bytes).to_hex().to_string();
            if let Some(id) = self.store.item_id_by_hash(ItemKind::Image, &hash)? {
                return Ok(Ok(id));
            }
        }
        match path.file_name() {
            Some(n) => self.by_file_name(&n.to_string_lossy()),
            None => Ok(Err(format!("no item matches {}", path.display()))),
        }
    }

    fn by_file_name(&self, name: &str) -> Result<std::result::Result<i64, String>> {
        let ids = self.by_name.get(name).map(|v| v.as_slice()).unwrap_or(&[]);
        Ok(match ids.len() {
            1 => Ok(ids[0]),
            0 => Err(format!("no item in the project matches {name:?}")),
            n => Err(format!(
                "{n} items are named {name:?}; cannot tell which one is meant"
            )),
        })
    }
}

/// Import labels (and predictions) into an image project.
pub fn import_labels(
    store: &mut Store,
    req: &LabelImportRequest,
    ctx: &JobCtx,
) -> Result<LabelImportSummary> {
    let kind = store.project()?.kind;
    if kind != TaskKind::Image {
        return Err(ExchangeError::WrongKind {
            format: "label import",
            wants: "image",
            kind: kind.as_str(),
        });
    }
    let mut summary = LabelImportSummary::default();
    ctx.set_message(format!("reading {}", req.path.display()));
    let entries = {
        let m = Matcher::new(store)?;
        match req.format {
            ImportFormat::Csv => read_csv(&m, req, ctx, &mut summary)?,
            ImportFormat::ImageFolder => read_folder(&m, req, ctx, &mut summary)?,
            ImportFormat::HfImageFolder => read_hf(&m, req, ctx, &mut summary)?,
            ImportFormat::LabelStudio => read_label_studio(&m, req, ctx, &mut summary)?,
        }
    };
    ctx.check()?;
    apply(store, req, entries, ctx, &mut summary)?;
    Ok(summary)
}

fn problem(
    summary: &mut LabelImportSummary,
    line: Option<usize>,
    location: String,
    message: impl Into<String>,
) {
    summary.problems.push(RowProblem {
        line,
        location,
        message: message.into(),
    });
}

const PATH_COLS: &[&str] = &[
    "path",
    "file",
    "filename",
    "file_name",
    "filepath",
    "image",
    "source_path",
];
const LABEL_COLS: &[&str] = &["label", "class", "category", "class_name"];

fn read_csv(
    m: &Matcher<'_>,
    req: &LabelImportRequest,
    ctx: &JobCtx,
    summary: &mut LabelImportSummary,
) -> Result<Vec<Entry>> {
    read_csv_file(m, req, &req.path, "", ctx, summary)
}

/// Rows of the CSV at `path` (paths relative to its folder); problems located as
/// `{loc_prefix}line N`.
fn read_csv_file(
    m: &Matcher<'_>,
    req: &LabelImportRequest,
    path: &Path,
    loc_prefix: &str,
    ctx: &JobCtx,
    summary: &mut LabelImportSummary,
) -> Result<Vec<Entry>> {
    let file = std::fs::File::open(path).map_err(|e| ExchangeError::io(path, e))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::BufReader::new(file));
    let mut cols: Option<HashMap<String, usize>> = None;
    let mut first = true;
    let mut entries = Vec::new();
    let mut n = 0u64;
    let mut rec = csv::StringRecord::new();
    loop {
        let line_hint = rdr.position().line() as usize;
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(line_hint);
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(ExchangeError::Parse {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    });
                }
                summary.rows += 1;
                problem(
                    summary,
                    Some(line),
                    format!("{loc_prefix}line {line}"),
                    format!("malformed CSV: {e}"),
                );
                continue;
            }
        }
        tick(ctx, &mut n)?;
        let line = rec
            .position()
            .map(|p| p.line() as usize)
            .unwrap_or(line_hint);
        if first {
            first = false;
            let names: Vec<String> = rec
                .iter()
                .map(|c| c.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
                .collect();
            let has = |set: &[&str]| names.iter().any(|n| set.contains(&n.as_str()));
            if has(PATH_COLS) && has(LABEL_COLS) {
                cols = Some(
                    names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (n.clone(), i))
                        .collect(),
                );
                continue;
            }
        }
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        summary.rows += 1;
        let get = |names: &[&str]| -> Option<String> {
            match &cols {
                Some(c) => names
                    .iter()
                    .find_map(|n| c.get(*n))
                    .and_then(|&i| rec.get(i))
                    .map(|s| s.trim().to_string()),
                None => None,
            }
        };
        let loc = format!("{loc_prefix}line {line}");
        let (path, label) = match &cols {
            Some(_) => (get(PATH_COLS), get(LABEL_COLS)),
            None => {
                if rec.len() != 2 {
                    problem(
                        summary,
                        Some(line),
                        loc,
                        format!("expected 2 columns (path,label), found {}", rec.len()),
                    );
                    continue;
                }
                (
                    rec.get(0).map(|s| s.trim().to_string()),
                    rec.get(1).map(|s| s.trim().to_string()),
                )
            }
        };
        let row = Row {
            line,
            loc,
            path,
            label,
            get: &get,
        };
        if let Some(e) = row_entry(m, req, &base, row, summary)? {
            entries.push(e);
        }
    }
    Ok(entries)
}

/// One table row (CSV line or `metadata.jsonl` object): where it is, its path and label, and
/// how to read its other columns (`source`, `score`, `model_version`, `ms_spent`,
/// `annotator`).
struct Row<'r> {
    line: usize,
    loc: String,
    path: Option<String>,
    label: Option<String>,
    get: &'r dyn Fn(&[&str]) -> Option<String>,
}

/// The entry a row makes (a decision, or a prediction for `source=machine`), or `None` with
/// the reason recorded in `summary`. Relative paths are relative to `base`.
fn row_entry(
    m: &Matcher<'_>,
    req: &LabelImportRequest,
    base: &Path,
    row: Row<'_>,
    summary: &mut LabelImportSummary,
) -> Result<Option<Entry>> {
    let Row {
        line,
        loc,
        path,
        label,
        get,
    } = row;
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        problem(summary, Some(line), loc, "empty path");
        return Ok(None);
    };
    let Some(label) = label.filter(|l| !l.is_empty()) else {
        problem(summary, Some(line), loc, "empty label");
        return Ok(None);
    };
    let machine = get(&["source"]).is_some_and(|s| s.eq_ignore_ascii_case("machine"));
    let payload = if machine {
        let score = match get(&["score"]).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => match s.parse::<f64>() {
                Ok(x) if x.is_finite() => Some(x),
                _ => {
                    problem(
                        summary,
                        Some(line),
                        loc,
                        format!("score {s:?} is not a number"),
                    );
                    return Ok(None);
                }
            },
        };
        Payload::Prediction {
            model_version: get(&["model_version"]).filter(|s| !s.is_empty()),
            score,
        }
    } else {
        let ms = match get(&["ms_spent"]).filter(|s| !s.is_empty()) {
            None => 0,
            Some(s) => match s.parse::<i64>() {
                Ok(x) => x.max(0),
                Err(_) => {
                    problem(
                        summary,
                        Some(line),
                        loc,
                        format!("ms_spent {s:?} is not a whole number"),
                    );
                    return Ok(None);
                }
            },
        };
        let annotator = get(&["annotator"])
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| req.annotator.clone());
        // A yuxuan CSV export's `decided_at` keeps the history's times on a round trip.
        let at = get(&["decided_at"]).filter(|s| !s.is_empty());
        Payload::Decision {
            annotator,
            ms,
            at,
            source_id: None,
        }
    };
    let p = Path::new(&path);
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    let matched = match m.by_path(&full)? {
        Ok(id) => Ok(id),
        // A relative path may be relative to the project's import root rather than the CSV.
        Err(e) if !p.is_absolute() => m.exact(&path).ok_or(e),
        Err(e) => Err(e),
    };
    Ok(match matched {
        Ok(item_id) => Some(Entry {
            line: Some(line),
            location: loc,
            item_id,
            label,
            payload,
        }),
        Err(msg) => {
            problem(summary, Some(line), loc, msg);
            None
        }
    })
}

/// `metadata.jsonl` / `metadata.csv` files of a Hugging Face imagefolder: in `root` and in
/// its immediate sub-folders (splits), sorted.
fn hf_metadata_files(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.to_path_buf()];
    dirs.extend(sorted_dirs(root).unwrap_or_default());
    dirs.iter()
        .flat_map(|d| ["metadata.jsonl", "metadata.csv"].map(|n| d.join(n)))
        .filter(|p| p.is_file())
        .collect()
}

/// A Hugging Face imagefolder: every row of every metadata file, `file_name` relative to the
/// metadata's folder, the label from `label` (or `class`, `category`); yuxuan's own export
/// comes back whole (`source=machine` rows as predictions).
fn read_hf(
    m: &Matcher<'_>,
    req: &LabelImportRequest,
    ctx: &JobCtx,
    summary: &mut LabelImportSummary,
) -> Result<Vec<Entry>> {
    let files = hf_metadata_files(&req.path);
    if files.is_empty() {
        return Err(ExchangeError::Parse {
            path: req.path.clone(),
            message: "no metadata.jsonl or metadata.csv here or in a split folder".into(),
        });
    }
    let mut entries = Vec::new();
    let mut n = 0u64;
    for file in files {
        let rel = file
            .strip_prefix(&req.path)
            .unwrap_or(&file)
            .display()
            .to_string();
        if file.extension().is_some_and(|e| e == "csv") {
            entries.extend(read_csv_file(
                m,
                req,
                &file,
                &format!("{rel} "),
                ctx,
                summary,
            )?);
            continue;
        }
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let text = std::fs::read_to_string(&file).map_err(|e| ExchangeError::io(&file, e))?;
        for (i, raw) in text.lines().enumerate() {
            tick(ctx, &mut n)?;
            if raw.trim().is_empty() {
                continue;
            }
            let line = i + 1;
            summary.rows += 1;
            let loc = format!("{rel} line {line}");
            let obj = match serde_json::from_str::<serde_json::Value>(raw) {
                Ok(serde_json::Value::Object(o)) => o,
                Ok(_) => {
                    problem(summary, Some(line), loc, "not a JSON object");
                    continue;
                }
                Err(e) => {
                    problem(summary, Some(line), loc, format!("malformed JSON: {e}"));
                    continue;
                }
            };
            let get = |names: &[&str]| -> Option<String> {
                names.iter().find_map(|n| match obj.get(*n)? {
                    serde_json::Value::String(s) => Some(s.trim().to_string()),
                    serde_json::Value::Number(x) => Some(x.to_string()),
                    serde_json::Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                })
            };
            let row = Row {
                line,
                loc,
                path: get(PATH_COLS),
                label: get(LABEL_COLS),
                get: &get,
            };
            if let Some(e) = row_entry(m, req, &base, row, summary)? {
                entries.push(e);
            }
        }
    }
    Ok(entries)
}

/// Class folder → label, from the export manifest when the folder is a yuxuan export.
fn manifest_classes(root: &Path) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(root.join(MANIFEST)) else {
        return HashMap::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return HashMap::new();
    };
    v.get("classes")
        .and_then(|c| c.as_object())
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn sorted_dirs(p: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| ExchangeError::io(p, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    v.sort();
    Ok(v)
}

fn walk_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ExchangeError::io(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk_files(&p, out)?;
        } else if p.extension().is_some_and(|e| {
            IMG_EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
        }) {
            out.push(p);
        }
    }
    Ok(())
}

fn read_folder(
    m: &Matcher<'_>,
    req: &LabelImportRequest,
    ctx: &JobCtx,
    summary: &mut LabelImportSummary,
) -> Result<Vec<Entry>> {
    let root = &req.path;
    let classes = manifest_classes(root);
    let top = sorted_dirs(root)?;
    const SPLITS: &[&str] = &["train", "val", "valid", "validation", "test"];
    let is_split = |p: &PathBuf| {
        p.file_name()
            .is_some_and(|n| SPLITS.contains(&n.to_string_lossy().to_ascii_lowercase().as_str()))
    };
    let class_dirs: Vec<PathBuf> = if !top.is_empty() && top.iter().all(is_split) {
        let mut v = Vec::new();
        for s in &top {
            v.extend(sorted_dirs(s)?);
        }
        v
    } else {
        top
    };
    let mut entries = Vec::new();
    let mut n = 0u64;
    for dir in class_dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let label = classes.get(&name).cloned().unwrap_or(name);
        let mut files = Vec::new();
        walk_files(&dir, &mut files)?;
        for f in files {
            tick(ctx, &mut n)?;
            summary.rows += 1;
            let loc = f.display().to_string();
            match m.by_path(&f)? {
                Ok(item_id) => entries.push(Entry {
                    line: None,
                    location: loc,
                    item_id,
                    label: label.clone(),
                    payload: Payload::Decision {
                        annotator: req.annotator.clone(),
                        ms: 0,
                        at: None,
                        source_id: None,
                    },
                }),
                Err(msg) => problem(summary, None, loc, msg),
            }
        }
    }
    Ok(entries)
}

/// Client ids of decisions imported from Label Studio: `label-studio:TASK:ANNOTATION`.
const LS_CLIENT_PREFIX: &str = "label-studio:";

fn read_label_studio(
    m: &Matcher<'_>,
    req: &LabelImportRequest,
    ctx: &JobCtx,
    summary: &mut LabelImportSummary,
) -> Result<Vec<Entry>> {
    let label_studio::ParsedTasks {
        tasks,
        problems: bad,
    } = label_studio::parse_tasks(&req.path)?;
    summary.rows += bad.len();
    for (i, msg) in bad {
        problem(summary, Some(i), format!("task {i}"), msg);
    }
    let mut entries = Vec::new();
    let mut n = 0u64;
    for t in tasks {
        tick(ctx, &mut n)?;
        summary.rows += 1;
        let loc = format!("task {}", t.index);
        let matched = match &t.image {
            ImageRef::Path(p) => m.by_path(p)?,
            ImageRef::FileName(name) => m.by_file_name(name)?,
        };
        let item_id = match matched {
            Ok(id) => id,
            Err(msg) => {
                problem(summary, Some(t.index), loc, msg);
                continue;
            }
        };
        if t.annotation.is_none() {
            // Deleted (or never made) there: a label imported from Label Studio before stays
            // here, and the user is told.
            if let Some(cid) = m.store.current_label_client_id(item_id, sets::CLASS)? {
                if cid.starts_with(LS_CLIENT_PREFIX) {
                    problem(
                        summary,
                        Some(t.index),
                        loc.clone(),
                        "its annotation is gone from Label Studio (deleted?); the label imported from it earlier is kept here (undo it in yuxuan if it should go)",
                    );
                }
            }
        }
        if t.annotation.is_none() && t.predictions.is_empty() {
            continue;
        }
        if let Some(a) = t.annotation {
            let source_id = match (t.task_id, a.id) {
                (Some(task), Some(ann)) => Some(format!("{LS_CLIENT_PREFIX}{task}:{ann}")),
                _ => None,
            };
            entries.push(Entry {
                line: Some(t.index),
                location: loc.clone(),
                item_id,
                label: a.label,
                payload: Payload::Decision {
                    annotator: a.annotator,
                    ms: a.ms,
                    at: a.at,
                    source_id,
                },
            });
        }
        for (model_version, label, score) in t.predictions {
            entries.push(Entry {
                line: Some(t.index),
                location: loc.clone(),
                item_id,
                label,
                payload: Payload::Prediction {
                    model_version,
                    score,
                },
            });
        }
    }
    Ok(entries)
}

/// A time as the store writes them (UTC, milliseconds), or None when it is not RFC 3339.
fn normalize_time(s: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        })
}

/// Record what the entries say: labels first (added or refused), then decisions, then
/// predictions grouped by model.
fn apply(
    store: &mut Store,
    req: &LabelImportRequest,
    entries: Vec<Entry>,
    ctx: &JobCtx,
    summary: &mut LabelImportSummary,
) -> Result<()> {
    let set = sets::CLASS;
    let known: HashSet<String> = store.labels(set)?.into_iter().map(|l| l.name).collect();
    let mut new_labels: Vec<String> = Vec::new();
    let mut usable = Vec::with_capacity(entries.len());
    for e in entries {
        let label = e.label.trim().to_string();
        if known.contains(&label) {
            usable.push(Entry { label, ..e });
            continue;
        }
        match req.unknown_labels {
            UnknownLabels::Refuse => problem(
                summary,
                e.line,
                e.location.clone(),
                format!("label {label:?} is not in the label set (refused)"),
            ),
            UnknownLabels::Add => {
                if !new_labels.contains(&label) {
                    new_labels.push(label.clone());
                }
                usable.push(Entry { label, ..e });
            }
        }
    }
    if !new_labels.is_empty() {
        store.add_labels(
            set,
            &new_labels.iter().map(NewLabel::named).collect::<Vec<_>>(),
        )?;
        summary.labels_added = new_labels;
    }
    ctx.set_message("recording");
    ctx.set_total(usable.len() as u64);
    ctx.set_done(0);

    // Decisions: the last row for an item wins; unchanged labels are left alone.
    let mut last_decision: BTreeMap<i64, usize> = BTreeMap::new();
    for (i, e) in usable.iter().enumerate() {
        if matches!(e.payload, Payload::Decision { .. }) {
            last_decision.insert(e.item_id, i);
        }
    }
    let mut batch = Vec::new();
    let mut times = Vec::new();
    let mut ids = Vec::new();
    for (&item_id, &i) in &last_decision {
        let e = &usable[i];
        let Payload::Decision {
            annotator,
            ms,
            at,
            source_id,
        } = &e.payload
        else {
            continue;
        };
        if store.current_label(item_id, set)?.as_deref() == Some(e.label.as_str()) {
            summary.unchanged += 1;
            continue;
        }
        if let Some(cid) = source_id {
            if store.decision_by_client_id(cid)?.is_some() {
                summary.unchanged += 1;
                continue;
            }
        }
        let when = match at.as_deref().map(normalize_time) {
            Some(Some(t)) => Some(t),
            Some(None) => {
                problem(
                    summary,
                    e.line,
                    e.location.clone(),
                    format!(
                        "time {:?} is not RFC 3339; recorded with the import time",
                        at.as_deref().unwrap_or("")
                    ),
                );
                None
            }
            None => None,
        };
        batch.push(NewDecision {
            item_id,
            label_set: set.into(),
            label: Some(e.label.clone()),
            annotator: annotator.clone(),
            action: Action::Correct,
            ms_spent: *ms,
            prediction_id: None,
        });
        times.push(when);
        ids.push(source_id.clone());
    }
    ctx.check()?;
    // One transaction: all decisions of the file or none, each with the other tool's time.
    summary.decisions += store.record_imported_decisions(&batch, &times, &ids)?.len();
    ctx.set_done(batch.len() as u64);

    // Predictions, per model version.
    let mut by_model: BTreeMap<Option<i64>, Vec<NewPrediction>> = BTreeMap::new();
    for e in &usable {
        let Payload::Prediction {
            model_version,
            score,
        } = &e.payload
        else {
            continue;
        };
        let model_id = match model_version {
            Some(v) => match v.trim().trim_start_matches(['v', 'V']).parse::<i64>() {
                Ok(n) => store.model_id_by_version(set, n)?,
                Err(_) => None,
            },
            None => None,
        };
        by_model.entry(model_id).or_default().push(NewPrediction {
            item_id: e.item_id,
            top: vec![(e.label.clone(), score.unwrap_or(1.0))],
        });
    }
    for (model_id, preds) in by_model {
        ctx.check()?;
        summary.predictions += store.put_predictions(set, model_id, &preds)?;
    }
    ctx.set_done(usable.len() as u64);
    Ok(())
}

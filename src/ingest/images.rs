//! Image import (issue 3): recursive walk, decode on all cores, content-hash dedup, EXIF
//! orientation, per-file errors, ImageFolder / CSV labels.
//!
//! Every file with an image extension becomes an item. A file that cannot be used (zero bytes,
//! truncated, not an image, larger than the pixel limit, unreadable) becomes an item with the
//! reason in `error`, so it is counted and listed by `yuxuan stats`; it never stops the import.
//! Good files are deduplicated by the blake3 hash of their bytes. Labels that come with the
//! files (sub-folder names, or a CSV `path,label`) become decisions of annotator `import`
//! with action `correct`.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use super::jpeg::scale_divisor as jpeg_scale_divisor;
use super::ImportSummary;
use crate::domain::{sets, Action, ItemKind, NewDecision, NewItem, NewLabel};
use crate::jobs::JobCtx;
use crate::store::items::Inserted;
use crate::store::Store;

/// File extensions imported (lower case).
pub const EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"];

/// Default pixel limit: larger images are refused as decompression bombs.
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

/// The annotator name of labels that came with imported files.
pub const IMPORT_ANNOTATOR: &str = "import";

/// Options of an image import.
#[derive(Debug, Clone, Default)]
pub struct ImageImportOptions {
    /// Treat sub-folder names as labels (ImageFolder layout).
    pub folder_labels: bool,
    /// A CSV `path,label` whose labels come in as decisions.
    pub labels_csv: Option<PathBuf>,
    /// What to do with a label that is not in the project's label set.
    pub unknown_labels: UnknownLabels,
    /// Images with more pixels than this are refused (decompression bombs); 0 = default
    /// ([`DEFAULT_MAX_PIXELS`]).
    pub max_pixels: u64,
}

/// Policy for labels that come with imported files but are not in the label set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnknownLabels {
    /// Add them to the label set (at the end).
    #[default]
    Add,
    /// Refuse them: the file is imported unlabeled and the row is reported.
    Refuse,
}

/// What reading one file gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub hash: String,
    pub size_bytes: u64,
    /// Size after EXIF orientation.
    pub width: u32,
    pub height: u32,
    pub format: String,
    /// EXIF orientation that was applied (1 = none).
    pub orientation: u8,
}

/// Why a file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageFileError {
    #[error("cannot read the file: {0}")]
    Unreadable(String),
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("not a supported image (format not recognised)")]
    NotAnImage,
    #[error("image of {width}x{height} exceeds the pixel limit of {limit} (decompression bomb?)")]
    TooLarge { width: u32, height: u32, limit: u64 },
    #[error("cannot decode the image (truncated or corrupt): {0}")]
    Corrupt(String),
}

fn orientation_code(o: image::metadata::Orientation) -> u8 {
    use image::metadata::Orientation::*;
    match o {
        NoTransforms => 1,
        FlipHorizontal => 2,
        Rotate180 => 3,
        FlipVertical => 4,
        Rotate90FlipH => 5,
        Rotate90 => 6,
        Rotate270FlipH => 7,
        Rotate270 => 8,
    }
}

/// Decode image bytes fully (first frame of a GIF), refusing more than `max_pixels`, and
/// apply the EXIF orientation. Returns the image and the orientation code applied.
pub fn decode_bytes(
    bytes: &[u8],
    max_pixels: u64,
) -> Result<(image::DynamicImage, u8), ImageFileError> {
    use image::ImageDecoder;
    if bytes.is_empty() {
        return Err(ImageFileError::Empty);
    }
    let max_pixels = if max_pixels == 0 {
        DEFAULT_MAX_PIXELS
    } else {
        max_pixels
    };
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageFileError::Unreadable(e.to_string()))?;
    if reader.format().is_none() {
        return Err(ImageFileError::NotAnImage);
    }
    let mut reader = reader;
    let mut limits = image::Limits::default();
    // Room for the decoded RGBA buffer of an image at the limit, plus the decoder's own.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).max(64 << 20));
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| ImageFileError::Corrupt(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    if w as u64 * h as u64 > max_pixels {
        return Err(ImageFileError::TooLarge {
            width: w,
            height: h,
            limit: max_pixels,
        });
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(_) => ImageFileError::TooLarge {
            width: w,
            height: h,
            limit: max_pixels,
        },
        e => ImageFileError::Corrupt(e.to_string()),
    })?;
    img.apply_orientation(orientation);
    Ok((img, orientation_code(orientation)))
}

/// Read and decode a file (first frame of a GIF), with EXIF orientation applied.
pub fn decode_file(path: &Path, max_pixels: u64) -> Result<image::DynamicImage, ImageFileError> {
    let bytes = std::fs::read(path).map_err(|e| ImageFileError::Unreadable(e.to_string()))?;
    decode_bytes(&bytes, max_pixels).map(|(img, _)| img)
}

/// [`decode_file`] for a consumer that needs `min_side` pixels on each side, e.g. a model's
/// 224 px input: a JPEG is decoded at 1/2, 1/4 or 1/8 scale in the DCT domain (a 12-MP photo
/// decodes in a fraction of the time and memory) when both sides stay at least `min_side`;
/// other formats, and JPEGs the scaled decoder cannot read (CMYK, 16-bit), decode fully.
pub fn decode_file_for_size(
    path: &Path,
    min_side: u32,
    max_pixels: u64,
) -> Result<image::DynamicImage, ImageFileError> {
    let bytes = std::fs::read(path).map_err(|e| ImageFileError::Unreadable(e.to_string()))?;
    if image::guess_format(&bytes).ok() == Some(image::ImageFormat::Jpeg) {
        let limit = if max_pixels == 0 {
            DEFAULT_MAX_PIXELS
        } else {
            max_pixels
        };
        if let Some(img) = super::jpeg::decode_scaled(&bytes, min_side, limit)? {
            return Ok(img);
        }
    }
    decode_bytes(&bytes, max_pixels).map(|(img, _)| img)
}

/// Hash and fully decode one file.
pub fn probe_file(
    path: &Path,
    max_pixels: u64,
) -> (Option<String>, u64, Result<Probe, ImageFileError>) {
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes));
    if let Err(e) = read {
        return (None, 0, Err(ImageFileError::Unreadable(e.to_string())));
    }
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let size = bytes.len() as u64;
    let format = image::guess_format(&bytes)
        .map(|f| format!("{f:?}").to_lowercase())
        .unwrap_or_default();
    let res = decode_bytes(&bytes, max_pixels).map(|(img, orientation)| Probe {
        hash: hash.clone(),
        size_bytes: size,
        width: img.width(),
        height: img.height(),
        format,
        orientation,
    });
    (Some(hash), size, res)
}

/// Whether a path has an image extension.
pub fn is_image_path(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

/// One file found by the walk, with the root it was found under.
#[derive(Debug, Clone)]
struct Found {
    path: PathBuf,
    root: PathBuf,
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<Found>, problems: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("{}: cannot list folder: {e}", dir.display()));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let Ok(meta) = std::fs::metadata(&p) else {
            if is_image_path(&p) {
                out.push(Found {
                    path: p,
                    root: root.to_path_buf(),
                });
            }
            continue;
        };
        if meta.is_dir() {
            // Symlinked folders are followed once; a loop stops at the depth limit of the OS.
            if std::fs::symlink_metadata(&p)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false)
            {
                continue;
            }
            walk(root, &p, out, problems);
        } else if is_image_path(&p) {
            out.push(Found {
                path: p,
                root: root.to_path_buf(),
            });
        }
    }
}

/// An absolute path with its folders resolved (`..`, symlinked folders) but the file name
/// kept as given, so a symlinked file keeps its own name (as the folder walk sees it).
fn absolute(p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    match (joined.parent(), joined.file_name()) {
        (Some(parent), Some(name)) => std::fs::canonicalize(parent)
            .map(|d| d.join(name))
            .unwrap_or_else(|_| joined.clone()),
        _ => std::fs::canonicalize(&joined).unwrap_or(joined),
    }
}

/// Labels of a CSV `path,label` (paths relative to the CSV's folder or absolute). Returns
/// (absolute path -> label) and the problems (malformed rows with their line numbers).
pub fn read_labels_csv(csv_path: &Path) -> anyhow::Result<(HashMap<PathBuf, String>, Vec<String>)> {
    let base = absolute(csv_path)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(csv_path)
        .map_err(|e| anyhow::anyhow!("cannot read labels CSV {}: {e}", csv_path.display()))?;
    let mut map = HashMap::new();
    let mut problems = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 1;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!(
                    "{}:{line}: malformed row skipped: {e}",
                    csv_path.display()
                ));
                continue;
            }
        };
        if line == 1
            && rec.len() == 2
            && rec[0].eq_ignore_ascii_case("path")
            && rec[1].eq_ignore_ascii_case("label")
        {
            continue;
        }
        if rec.len() != 2 || rec[0].is_empty() || rec[1].is_empty() {
            problems.push(format!(
                "{}:{line}: malformed row skipped (expected `path,label`, got {} field(s))",
                csv_path.display(),
                rec.len()
            ));
            continue;
        }
        let p = Path::new(&rec[0]);
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        };
        map.insert(absolute(&abs), rec[1].to_string());
    }
    Ok((map, problems))
}

/// Import images from files and folders.
pub fn import_paths(
    store: &mut Store,
    paths: &[PathBuf],
    opts: &ImageImportOptions,
    ctx: &JobCtx,
) -> anyhow::Result<ImportSummary> {
    let mut summary = ImportSummary::default();
    let mut found = Vec::new();
    for p in paths {
        let abs = absolute(p);
        match std::fs::metadata(&abs) {
            Ok(m) if m.is_dir() => {
                let root = std::fs::canonicalize(&abs).unwrap_or(abs);
                walk(&root, &root, &mut found, &mut summary.problems)
            }
            Ok(_) => found.push(Found {
                root: abs.parent().map(Path::to_path_buf).unwrap_or_default(),
                path: abs,
            }),
            Err(e) => summary.problems.push(format!("{}: {e}", p.display())),
        }
    }
    let (csv_labels, csv_problems) = match &opts.labels_csv {
        Some(c) => read_labels_csv(c)?,
        None => (HashMap::new(), Vec::new()),
    };
    summary.problems.extend(csv_problems);
    // Folder and CSV labels are image classes: only a project with a class set takes them.
    let has_classes = store.label_sets()?.iter().any(|(s, _)| s == sets::CLASS);
    if !has_classes && (opts.folder_labels || opts.labels_csv.is_some()) {
        anyhow::bail!(
            "folder and CSV labels are classes of whole images; this project has no class set \
             (import its boxes with `yuxuan import-labels` instead)"
        );
    }
    let mut label_names: Vec<String> = if has_classes {
        store
            .labels(sets::CLASS)?
            .into_iter()
            .map(|l| l.name)
            .collect()
    } else {
        Vec::new()
    };
    let mut next_position: i64 = store.items_of_kind(ItemKind::Image)?.len() as i64;

    ctx.set_total(found.len() as u64);
    ctx.set_done(0);
    let mut matched_csv = 0usize;
    // Chunks keep memory bounded (decoded images are dropped right after probing) and let the
    // progress bar and cancel react while rayon decodes a chunk on all cores.
    for chunk in found.chunks(256) {
        ctx.check()?;
        let probes: Vec<(Option<String>, u64, Result<Probe, ImageFileError>)> = chunk
            .par_iter()
            .map(|f| probe_file(&f.path, opts.max_pixels))
            .collect();
        let mut new_items = Vec::with_capacity(chunk.len());
        for (f, (hash, size, res)) in chunk.iter().zip(&probes) {
            let mut it = NewItem::new(ItemKind::Image, f.path.to_string_lossy().into_owned());
            it.position = next_position;
            next_position += 1;
            match res {
                Ok(p) => {
                    it.content_hash = Some(p.hash.clone());
                    it.size_bytes = Some(p.size_bytes as i64);
                    it.width = Some(p.width as i64);
                    it.height = Some(p.height as i64);
                    it.meta =
                        serde_json::json!({ "format": p.format, "orientation": p.orientation });
                }
                Err(e) => {
                    // One error item per path and content: re-importing the same bad file
                    // does not add it twice, two different bad files are both recorded.
                    let key = blake3::hash(
                        format!(
                            "{}\0{}",
                            f.path.to_string_lossy(),
                            hash.as_deref().unwrap_or("unreadable")
                        )
                        .as_bytes(),
                    );
                    it.content_hash = Some(format!("error:{}", key.to_hex()));
                    it.size_bytes = Some(*size as i64);
                    it.error = Some(e.to_string());
                }
            }
            new_items.push(it);
        }
        let inserted = store.insert_items(&new_items)?;
        // Labels that came with the files.
        let mut decisions = Vec::new();
        let mut labelled_now = std::collections::HashSet::new();
        for ((f, it), ins) in chunk.iter().zip(&new_items).zip(&inserted) {
            summary.seen += 1;
            match ins {
                Inserted::New(_) if it.error.is_some() => summary.errors += 1,
                Inserted::New(_) => summary.added += 1,
                Inserted::Duplicate(_) => summary.duplicates += 1,
            }
            if it.error.is_some() {
                continue;
            }
            let label = if let Some(l) = csv_labels.get(&f.path) {
                matched_csv += 1;
                Some(l.clone())
            } else if opts.folder_labels {
                f.path
                    .parent()
                    .filter(|parent| *parent != f.root)
                    .and_then(|parent| parent.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
            } else {
                None
            };
            let Some(label) = label else { continue };
            if !label_names.contains(&label) {
                match opts.unknown_labels {
                    UnknownLabels::Add => {
                        store.add_labels(sets::CLASS, &[NewLabel::named(label.clone())])?;
                        label_names.push(label.clone());
                    }
                    UnknownLabels::Refuse => {
                        summary.problems.push(format!(
                            "{}: label {label:?} is not in the project's labels; imported unlabeled",
                            f.path.display()
                        ));
                        continue;
                    }
                }
            }
            // A duplicate keeps its existing human label (or the one its first copy brought).
            if !labelled_now.insert(ins.id()) {
                continue;
            }
            if let Inserted::Duplicate(id) = ins {
                if store.current_label(*id, sets::CLASS)?.is_some() {
                    continue;
                }
            }
            decisions.push(NewDecision {
                item_id: ins.id(),
                label_set: sets::CLASS.to_string(),
                label: Some(label),
                annotator: IMPORT_ANNOTATOR.to_string(),
                action: Action::Correct,
                ms_spent: 0,
                prediction_id: None,
            });
        }
        summary.labels_imported += store.record_decisions(&decisions)?.len();
        ctx.inc(chunk.len() as u64);
    }
    if csv_labels.len() > matched_csv {
        summary.problems.push(format!(
            "{} CSV row(s) name files that were not among the imported paths",
            csv_labels.len() - matched_csv
        ));
    }
    ctx.set_message(summary.to_string());
    Ok(summary)
}

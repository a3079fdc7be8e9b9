//! Object boxes in the formats other tools read and write: COCO, YOLO, Pascal VOC, labelme and
//! Label Studio, through one format-neutral model.
//!
//! A [`BoxDataset`] is a list of labels and of images, each image a file (relative to the
//! dataset's root, `/`-separated), its size as shown (EXIF orientation applied), an optional
//! train/val/test [`Split`] and its [`LabeledBox`]es: a label, a [`BBox`] in image pixels (top-left
//! corner and size) and a score for machine predictions (`None` for human boxes).
//!
//! - [`BoxFormat::detect`] tells the format of a file or folder by its shape,
//!   [`BoxFormat::read`] (or [`read`], which detects first) reads it.
//! - [`write`] writes the annotation files of a dataset in the standard layout of a format;
//!   it copies no image: the caller puts each image at [`image_dest`] under the output folder
//!   (YOLO reads image sizes from the image files, and every format's readers resolve images
//!   there).
//!
//! Conventions, one module per format:
//! - [`coco`]: `bbox` = `[x, y, w, h]` in pixels, categories by id; scored boxes go to a
//!   separate results list (`annotations/predictions_<split>.json`), as COCO's evaluation reads
//!   detections.
//! - [`yolo`]: `class cx cy w h` normalised to 0–1, `data.yaml` naming the classes; scored boxes
//!   go to `predictions/<split>/<stem>.txt` with the score as a sixth column (what
//!   `ultralytics predict save_conf=True` writes), so that `labels/` stays trainable.
//! - [`voc`]: 1-based inclusive integer corners (`xmin = x + 1`, `xmax = x + w`, rounded to whole
//!   pixels on write: a round trip moves each edge by at most half a pixel).
//! - [`labelme`]: `rectangle` shapes of two corner points, one JSON per image beside it.
//! - [`label_studio`]: `rectanglelabels` with x, y, width, height in percent of
//!   `original_width`/`original_height`; human boxes in `annotations`, scored boxes in
//!   `predictions`.
//!
//! Every box read is checked against its image: a NaN or infinite coordinate, a negative or zero
//! size, or a box more than [`OUTSIDE_SLACK_PX`] px plus [`OUTSIDE_SLACK_FRACTION`] of the image
//! side outside the image is an error naming the file (and line); a box outside by less (a
//! rounding or a corner dragged past the edge) is clipped to the image. Writers apply the same
//! check.

pub mod coco;
pub mod label_studio;
pub mod labelme;
pub mod voc;
pub mod yolo;

use std::collections::HashSet;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::BBox;

/// A box may stick out of its image by this many pixels (plus [`OUTSIDE_SLACK_FRACTION`] of the
/// image side) and is then clipped; further out it is an error.
pub const OUTSIDE_SLACK_PX: f64 = 2.0;
/// See [`OUTSIDE_SLACK_PX`].
pub const OUTSIDE_SLACK_FRACTION: f64 = 0.02;

/// Image file extensions the readers look for (those ultralytics accepts), lowercase.
pub const IMAGE_EXTENSIONS: [&str; 11] = [
    "jpg", "jpeg", "png", "bmp", "webp", "tif", "tiff", "dng", "mpo", "pfm", "heic",
];

/// Errors of reading and writing box datasets: the file and, where there is one, the line.
#[derive(Debug, thiserror::Error)]
pub enum BoxFormatError {
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Something in a file is wrong (a malformed line, a missing reference, a bad box).
    #[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error(
        "{}: not a box dataset: expected a COCO, labelme or Label Studio .json, a YOLO folder \
         (data.yaml, labels/ or a classes file) or data.yaml, or Pascal VOC .xml files",
        .0.display()
    )]
    Undetected(PathBuf),
    /// The dataset cannot be written in this format as it is.
    #[error("cannot write {format}: {message}")]
    Write { format: BoxFormat, message: String },
}

impl BoxFormatError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        BoxFormatError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn invalid(file: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        BoxFormatError::Invalid {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

pub type Result<T, E = BoxFormatError> = std::result::Result<T, E>;

/// Train, validation or test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }

    /// `train`, `val` or `test`, and the usual other spellings (`training`, `valid`,
    /// `validation`, `testing`), case-insensitive, with trailing digits (`train2017`).
    pub fn parse(s: &str) -> Option<Split> {
        let t = s
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_ascii_lowercase();
        match t.as_str() {
            "train" | "training" => Some(Split::Train),
            "val" | "valid" | "validation" => Some(Split::Val),
            "test" | "testing" => Some(Split::Test),
            _ => None,
        }
    }

    /// The split a file name names: `instances_val2017.json`, `train_list.txt`, `test.json`.
    pub fn from_file_stem(stem: &str) -> Option<Split> {
        stem.split(|c: char| !c.is_ascii_alphanumeric())
            .find_map(Split::parse)
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One box: its label, where it is, and the model's score for a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabeledBox {
    pub label: String,
    pub bbox: BBox,
    /// `None` for a human box, the confidence for a machine prediction.
    pub score: Option<f64>,
}

impl LabeledBox {
    pub fn new(label: impl Into<String>, bbox: BBox) -> Self {
        LabeledBox {
            label: label.into(),
            bbox,
            score: None,
        }
    }
    pub fn predicted(label: impl Into<String>, bbox: BBox, score: f64) -> Self {
        LabeledBox {
            label: label.into(),
            bbox,
            score: Some(score),
        }
    }
}

/// One image and its boxes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageBoxes {
    /// Path of the image relative to the dataset root, `/`-separated (absolute only when a
    /// format pointed outside its folder).
    pub file: String,
    /// Size as shown (EXIF orientation applied). 0 only when unknown, which only a Label Studio
    /// task without boxes and without a readable image can leave.
    pub width: u32,
    pub height: u32,
    pub boxes: Vec<LabeledBox>,
    pub split: Option<Split>,
}

impl ImageBoxes {
    pub fn new(file: impl Into<String>, width: u32, height: u32) -> Self {
        ImageBoxes {
            file: file.into(),
            width,
            height,
            boxes: Vec::new(),
            split: None,
        }
    }
    /// The last path component of [`file`](Self::file).
    pub fn file_name(&self) -> &str {
        file_name(&self.file)
    }
    /// [`file_name`](Self::file_name) without its extension.
    pub fn stem(&self) -> &str {
        stem(self.file_name())
    }
}

/// Labels and images with boxes, in no particular format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BoxDataset {
    /// Label names in order (class ids of YOLO, category order of COCO). Readers list every
    /// label a box uses.
    pub labels: Vec<String>,
    pub images: Vec<ImageBoxes>,
}

impl BoxDataset {
    /// Number of boxes (human and predicted).
    pub fn box_count(&self) -> usize {
        self.images.iter().map(|i| i.boxes.len()).sum()
    }
    /// Whether any image has a split.
    pub fn has_splits(&self) -> bool {
        self.images.iter().any(|i| i.split.is_some())
    }
    /// [`labels`](Self::labels) followed by any label a box uses that is not listed, in order
    /// of first use.
    pub fn all_labels(&self) -> Vec<String> {
        let mut out = self.labels.clone();
        let mut seen: HashSet<String> = out.iter().cloned().collect();
        for b in self.images.iter().flat_map(|i| &i.boxes) {
            if seen.insert(b.label.clone()) {
                out.push(b.label.clone());
            }
        }
        out
    }
    /// Add to `labels` any label a box uses that is not listed.
    pub fn complete_labels(&mut self) {
        self.labels = self.all_labels();
    }
}

/// The formats boxes are read from and written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BoxFormat {
    Coco,
    Yolo,
    Voc,
    Labelme,
    LabelStudio,
}

impl fmt::Display for BoxFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl BoxFormat {
    pub const ALL: [BoxFormat; 5] = [
        BoxFormat::Coco,
        BoxFormat::Yolo,
        BoxFormat::Voc,
        BoxFormat::Labelme,
        BoxFormat::LabelStudio,
    ];

    /// `coco`, `yolo`, `voc`, `labelme`, `label-studio`.
    pub fn name(self) -> &'static str {
        match self {
            BoxFormat::Coco => "coco",
            BoxFormat::Yolo => "yolo",
            BoxFormat::Voc => "voc",
            BoxFormat::Labelme => "labelme",
            BoxFormat::LabelStudio => "label-studio",
        }
    }

    /// The inverse of [`name`](Self::name) (also `pascal-voc`, `label_studio`, `labelstudio`).
    pub fn parse(s: &str) -> Option<BoxFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "coco" => Some(BoxFormat::Coco),
            "yolo" | "ultralytics" => Some(BoxFormat::Yolo),
            "voc" | "pascal-voc" | "pascal_voc" => Some(BoxFormat::Voc),
            "labelme" => Some(BoxFormat::Labelme),
            "label-studio" | "label_studio" | "labelstudio" => Some(BoxFormat::LabelStudio),
            _ => None,
        }
    }

    /// The format of a file or folder, by its shape:
    /// - a `.json`: COCO (an object with `images` and `annotations`), labelme (an object with
    ///   `shapes`) or Label Studio (a list of tasks with `data`);
    /// - a `.yaml`/`.yml` with `names`: YOLO's `data.yaml`; a `.xml` whose root is
    ///   `<annotation>`: Pascal VOC;
    /// - a folder: YOLO with a `data.yaml`, a `labels/` folder or a classes file (`classes.txt`,
    ///   `*.names`) beside `.txt` labels; VOC with `Annotations/*.xml` or `.xml` files; COCO with
    ///   `annotations/*.json` or a COCO `.json`; else by its `.json` files (labelme, also in
    ///   sub-folders, or Label Studio).
    pub fn detect(path: &Path) -> Option<BoxFormat> {
        if path.is_file() {
            return detect_file(path);
        }
        if !path.is_dir() {
            return None;
        }
        if yolo::find_data_yaml(path).is_some() {
            return Some(BoxFormat::Yolo);
        }
        let ann = path.join("annotations");
        if ann.is_dir()
            && list_files(&ann, &["json"])
                .iter()
                .any(|f| json_kind(f) == Some(BoxFormat::Coco))
        {
            return Some(BoxFormat::Coco);
        }
        let voc_ann = path.join("Annotations");
        if voc_ann.is_dir() {
            if !list_files(&voc_ann, &["xml"]).is_empty() {
                return Some(BoxFormat::Voc);
            }
            if !list_files(&voc_ann, &["txt"]).is_empty() {
                return Some(BoxFormat::Yolo);
            }
        }
        if path.join("labels").is_dir() {
            return Some(BoxFormat::Yolo);
        }
        let jsons = list_files(path, &["json"]);
        let kinds: Vec<BoxFormat> = jsons.iter().filter_map(|f| json_kind(f)).collect();
        if kinds.contains(&BoxFormat::Coco) {
            return Some(BoxFormat::Coco);
        }
        if kinds.contains(&BoxFormat::LabelStudio) {
            return Some(BoxFormat::LabelStudio);
        }
        if kinds.contains(&BoxFormat::Labelme) {
            return Some(BoxFormat::Labelme);
        }
        if list_files(path, &["xml"])
            .iter()
            .any(|f| voc::looks_like_voc(f))
        {
            return Some(BoxFormat::Voc);
        }
        if yolo::find_classes_file(path).is_some() {
            return Some(BoxFormat::Yolo);
        }
        // labelme folders split into train/val/test sub-folders.
        let nested = walk_files(path, &["json"]);
        if nested
            .iter()
            .take(50)
            .any(|f| json_kind(f) == Some(BoxFormat::Labelme))
        {
            return Some(BoxFormat::Labelme);
        }
        None
    }

    /// Read a dataset in this format from a file or folder (see each module for what it
    /// accepts).
    pub fn read(self, path: &Path) -> Result<BoxDataset> {
        if !path.exists() {
            return Err(BoxFormatError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            ));
        }
        let mut ds = match self {
            BoxFormat::Coco => coco::read(path)?,
            BoxFormat::Yolo => yolo::read(path)?,
            BoxFormat::Voc => voc::read(path)?,
            BoxFormat::Labelme => labelme::read(path)?,
            BoxFormat::LabelStudio => label_studio::read(path)?,
        };
        ds.complete_labels();
        Ok(ds)
    }
}

fn detect_file(path: &Path) -> Option<BoxFormat> {
    match extension(path).as_str() {
        "json" => json_kind(path),
        "yaml" | "yml" => yolo::is_data_yaml(path).then_some(BoxFormat::Yolo),
        "xml" => voc::looks_like_voc(path).then_some(BoxFormat::Voc),
        _ => None,
    }
}

/// Which format a JSON file is, by its shape (`None`: not one of ours, or not JSON).
fn json_kind(path: &Path) -> Option<BoxFormat> {
    let text = std::fs::read(path).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    match &v {
        serde_json::Value::Object(o) => {
            if o.contains_key("images") && o.contains_key("annotations") {
                Some(BoxFormat::Coco)
            } else if o.contains_key("shapes") {
                Some(BoxFormat::Labelme)
            } else if o.contains_key("data")
                && (o.contains_key("annotations") || o.contains_key("predictions"))
            {
                Some(BoxFormat::LabelStudio)
            } else {
                None
            }
        }
        serde_json::Value::Array(a) => {
            let first = a.first()?.as_object()?;
            first.contains_key("data").then_some(BoxFormat::LabelStudio)
        }
        _ => None,
    }
}

/// Detect the format of `path` and read it.
pub fn read(path: &Path) -> Result<BoxDataset> {
    match BoxFormat::detect(path) {
        Some(f) => f.read(path),
        None if !path.exists() => Err(BoxFormatError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        )),
        None => Err(BoxFormatError::Undetected(path.to_path_buf())),
    }
}

/// Options of [`write`].
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Label Studio: the local-files document root the written `data.image` URLs are relative
    /// to (Label Studio's `LOCAL_FILES_DOCUMENT_ROOT`); `None` = `/` (absolute paths).
    pub label_studio_document_root: Option<PathBuf>,
}

/// What [`write`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenSummary {
    pub format: BoxFormat,
    /// Annotation files written, relative to the output folder, `/`-separated, sorted.
    pub files: Vec<String>,
    pub images: usize,
    /// Human boxes written.
    pub boxes: usize,
    /// Scored (predicted) boxes written.
    pub predictions: usize,
    /// Boxes that stuck out of their image a little and were clipped.
    pub clipped: usize,
}

/// Write the annotation files of `ds` in `format` under `out_dir` (created if missing; files of
/// the same names are replaced). Images are not copied: put each at
/// `out_dir.join(image_dest(format, image))`.
///
/// Fails before writing anything when two images would land on the same file, or a box is not
/// a box (NaN, negative size, far outside its image).
pub fn write(
    ds: &BoxDataset,
    format: BoxFormat,
    out_dir: &Path,
    opts: &WriteOptions,
) -> Result<WrittenSummary> {
    let mut dests = HashSet::new();
    for img in &ds.images {
        let d = image_dest(format, img);
        if !dests.insert(d.clone()) {
            return Err(BoxFormatError::Write {
                format,
                message: format!(
                    "two images would both be written to {} ({}); give them distinct file names",
                    slash(&d),
                    img.file
                ),
            });
        }
    }
    let (checked, clipped) = checked_for_write(ds, format)?;
    std::fs::create_dir_all(out_dir).map_err(|e| BoxFormatError::io(out_dir, e))?;
    let mut files = match format {
        BoxFormat::Coco => coco::write(&checked, out_dir)?,
        BoxFormat::Yolo => yolo::write(&checked, out_dir)?,
        BoxFormat::Voc => voc::write(&checked, out_dir)?,
        BoxFormat::Labelme => labelme::write(&checked, out_dir)?,
        BoxFormat::LabelStudio => label_studio::write(&checked, out_dir, opts)?,
    };
    files.sort();
    let predictions = checked
        .images
        .iter()
        .flat_map(|i| &i.boxes)
        .filter(|b| b.score.is_some())
        .count();
    Ok(WrittenSummary {
        format,
        files,
        images: checked.images.len(),
        boxes: checked.box_count() - predictions,
        predictions,
        clipped,
    })
}

/// The dataset with complete labels and every box checked and clipped; the number clipped.
fn checked_for_write(ds: &BoxDataset, format: BoxFormat) -> Result<(BoxDataset, usize)> {
    let mut out = ds.clone();
    out.complete_labels();
    let mut clipped = 0;
    for img in &mut out.images {
        if !img.boxes.is_empty() && (img.width == 0 || img.height == 0) {
            return Err(BoxFormatError::Write {
                format,
                message: format!("{}: image size unknown (0) but it has boxes", img.file),
            });
        }
        for (i, b) in img.boxes.iter_mut().enumerate() {
            let fitted =
                fit_box(b.bbox, img.width, img.height).map_err(|m| BoxFormatError::Write {
                    format,
                    message: format!("{}: box {} ({}): {m}", img.file, i + 1, b.label),
                })?;
            if fitted != b.bbox {
                clipped += 1;
                b.bbox = fitted;
            }
            if let Some(s) = b.score {
                if !s.is_finite() {
                    return Err(BoxFormatError::Write {
                        format,
                        message: format!("{}: box {} has a score of {s}", img.file, i + 1),
                    });
                }
            }
        }
    }
    Ok((out, clipped))
}

/// Where `format` expects the image of `image`, relative to the output folder:
/// - COCO: `images/<split>/<name>` (`images/<name>` without a split);
/// - YOLO: `images/<split>/<name>` (`images/<name>` without a split), labels mirror it;
/// - VOC: `JPEGImages/<name>`;
/// - labelme: `<split>/<name>` (`<name>` without a split), its JSON beside it;
/// - Label Studio: `images/<name>`.
///
/// `<name>` is the file name of [`ImageBoxes::file`], so names must be unique within a split
/// (VOC, Label Studio: within the dataset); [`write`] refuses otherwise.
pub fn image_dest(format: BoxFormat, image: &ImageBoxes) -> PathBuf {
    let name = image.file_name();
    let split = image.split.map(Split::as_str);
    match (format, split) {
        (BoxFormat::Coco | BoxFormat::Yolo, Some(s)) => Path::new("images").join(s).join(name),
        (BoxFormat::Coco | BoxFormat::Yolo | BoxFormat::LabelStudio, _) => {
            Path::new("images").join(name)
        }
        (BoxFormat::Voc, _) => Path::new("JPEGImages").join(name),
        (BoxFormat::Labelme, Some(s)) => Path::new(s).join(name),
        (BoxFormat::Labelme, None) => PathBuf::from(name),
    }
}

/// Check a box read from (or written to) an image of `width` x `height` (0 = unknown: then only
/// the numbers are checked). Returns the box clipped to the image, or why it is no box.
pub fn fit_box(b: BBox, width: u32, height: u32) -> Result<BBox, String> {
    if ![b.x, b.y, b.w, b.h].iter().all(|v| v.is_finite()) {
        return Err(format!(
            "box [{}, {}, {}, {}] has a coordinate that is not a number",
            b.x, b.y, b.w, b.h
        ));
    }
    if b.w < 0.0 || b.h < 0.0 {
        return Err(format!(
            "box [{}, {}, {}, {}] has a negative width or height",
            b.x, b.y, b.w, b.h
        ));
    }
    if width == 0 || height == 0 {
        if b.w == 0.0 || b.h == 0.0 {
            return Err(format!("box [{}, {}, {}, {}] is empty", b.x, b.y, b.w, b.h));
        }
        return Ok(b);
    }
    let (wf, hf) = (width as f64, height as f64);
    let sx = OUTSIDE_SLACK_PX + OUTSIDE_SLACK_FRACTION * wf;
    let sy = OUTSIDE_SLACK_PX + OUTSIDE_SLACK_FRACTION * hf;
    if b.x < -sx || b.y < -sy || b.x2() > wf + sx || b.y2() > hf + sy {
        return Err(format!(
            "box [x {}, y {}, w {}, h {}] lies outside the {width}x{height} image",
            round3(b.x),
            round3(b.y),
            round3(b.w),
            round3(b.h)
        ));
    }
    let c = if b.x < 0.0 || b.y < 0.0 || b.x2() > wf || b.y2() > hf {
        b.clipped(wf, hf)
    } else {
        b
    };
    if !c.is_valid() {
        return Err(format!(
            "box [x {}, y {}, w {}, h {}] is empty inside the {width}x{height} image",
            round3(b.x),
            round3(b.y),
            round3(b.w),
            round3(b.h)
        ));
    }
    Ok(c)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The size of an image as shown: its header's size, width and height swapped when its EXIF
/// orientation turns it by 90 degrees. Only the header is read.
pub fn image_size(path: &Path) -> Result<(u32, u32)> {
    use image::metadata::Orientation;
    use image::ImageDecoder;
    let bad = |e: image::ImageError| {
        BoxFormatError::invalid(path, None, format!("cannot read the image header: {e}"))
    };
    let reader = image::ImageReader::open(path)
        .map_err(|e| BoxFormatError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| BoxFormatError::io(path, e))?;
    let mut dec = reader.into_decoder().map_err(bad)?;
    let (w, h) = dec.dimensions();
    let turned = matches!(
        dec.orientation().unwrap_or(Orientation::NoTransforms),
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    Ok(if turned { (h, w) } else { (w, h) })
}

/// Check the size a file gives for an image against the image itself (either orientation: a
/// tool may have written the stored size of an EXIF-rotated photo).
pub(crate) fn check_size(file: &Path, what: &str, (w, h): (u32, u32), image: &Path) -> Result<()> {
    let (iw, ih) = image_size(image)?;
    if (w, h) != (iw, ih) && (w, h) != (ih, iw) {
        return Err(BoxFormatError::invalid(
            file,
            None,
            format!(
                "{what} says {w}x{h} but the image {} is {iw}x{ih}",
                image.display()
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- path helpers

/// The last `/`-separated component.
pub(crate) fn file_name(file: &str) -> &str {
    file.rsplit(['/', '\\']).next().unwrap_or(file)
}

/// A file name without its last extension.
pub(crate) fn stem(name: &str) -> &str {
    match name.rfind('.') {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    }
}

/// Lowercase extension of a path ("" when none).
pub(crate) fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

pub(crate) fn is_image(path: &Path) -> bool {
    IMAGE_EXTENSIONS.contains(&extension(path).as_str())
}

/// A path as a `/`-separated string.
pub(crate) fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
        .replacen("//", "/", 1)
}

/// Remove `.` and resolve `..` lexically.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `path` relative to `root`, `/`-separated; the whole path when it is not under `root`.
pub(crate) fn relative_to(root: &Path, path: &Path) -> String {
    let p = normalize(path);
    let r = normalize(root);
    match p.strip_prefix(&r) {
        Ok(rel) => slash(rel),
        Err(_) => slash(&p),
    }
}

/// Files directly in `dir` with one of `exts` (lowercase), sorted by name.
pub(crate) fn list_files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && exts.contains(&extension(p).as_str()))
        .collect();
    out.sort();
    out
}

/// Files under `dir` (recursively, hidden folders skipped) with one of `exts`, sorted.
pub(crate) fn walk_files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            let hidden = e.file_name().to_string_lossy().starts_with('.');
            if p.is_dir() {
                if !hidden {
                    stack.push(p);
                }
            } else if exts.contains(&extension(&p).as_str()) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Write `bytes` to `dir/rel` (parents created); returns `rel`.
pub(crate) fn write_file(dir: &Path, rel: &str, bytes: &[u8]) -> Result<String> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| BoxFormatError::io(parent, e))?;
    }
    std::fs::write(&path, bytes).map_err(|e| BoxFormatError::io(&path, e))?;
    Ok(rel.to_string())
}

pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| BoxFormatError::io(path, e))?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    String::from_utf8(bytes.to_vec())
        .map_err(|_| BoxFormatError::invalid(path, None, "not UTF-8 text"))
}

pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = read_text(path)?;
    serde_json::from_str(&text)
        .map_err(|e| BoxFormatError::invalid(path, Some(e.line()), format!("not valid JSON: {e}")))
}

pub(crate) fn to_json_bytes(v: &serde_json::Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("a JSON value serializes");
    b.push(b'\n');
    b
}

/// Read a plain label list (`labels.txt`, `classes.txt`, `*.names`): one per line, blank lines
/// and labelme's `__ignore__` / `_background_` markers skipped.
pub(crate) fn read_label_list(path: &Path) -> Result<Vec<String>> {
    Ok(read_text(path)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "__ignore__" && *l != "_background_")
        .map(str::to_string)
        .collect())
}

pub(crate) fn label_list_text(labels: &[String]) -> String {
    let mut s = String::new();
    for l in labels {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// Push `label` onto `labels` unless it is there.
pub(crate) fn note_label(labels: &mut Vec<String>, label: &str) {
    if !labels.iter().any(|l| l == label) {
        labels.push(label.to_string());
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    /// Write a `w` x `h` PNG at `path` (parents created).
    pub fn png(path: &Path, w: u32, h: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::RgbImage::new(w, h).save(path).unwrap();
    }

    /// A small dataset exercising splits, several labels (one unused, one with a space and
    /// CJK), boxes touching the edges, predictions and an image without boxes.
    pub fn sample() -> BoxDataset {
        let mut a = ImageBoxes::new("a.png", 64, 48);
        a.split = Some(Split::Train);
        a.boxes = vec![
            LabeledBox::new("cat", BBox::new(0.0, 0.0, 10.0, 12.0)),
            LabeledBox::new("red car 汽车", BBox::new(20.5, 10.25, 43.5, 37.75)),
            LabeledBox::predicted("cat", BBox::new(30.0, 5.0, 8.0, 9.0), 0.75),
        ];
        let mut b = ImageBoxes::new("sub/b.png", 32, 40);
        b.split = Some(Split::Val);
        b.boxes = vec![LabeledBox::new("dog", BBox::new(1.0, 2.0, 3.0, 4.0))];
        let mut c = ImageBoxes::new("c.png", 16, 16);
        c.split = Some(Split::Test);
        BoxDataset {
            labels: vec![
                "cat".into(),
                "dog".into(),
                "red car 汽车".into(),
                "unused".into(),
            ],
            images: vec![a, b, c],
        }
    }

    /// Put a PNG of the right size at every image's destination.
    pub fn place_images(ds: &BoxDataset, format: BoxFormat, out: &Path) {
        for img in &ds.images {
            png(&out.join(image_dest(format, img)), img.width, img.height);
        }
    }

    /// Same images (matched by file name), sizes, splits (where `splits`) and boxes, each
    /// coordinate within `tol` pixels.
    pub fn assert_same(a: &BoxDataset, b: &BoxDataset, tol: f64, splits: bool) {
        assert_eq!(a.images.len(), b.images.len(), "image count");
        for ia in &a.images {
            let ib = b
                .images
                .iter()
                .find(|i| i.file_name() == ia.file_name())
                .unwrap_or_else(|| panic!("{} missing after the round trip", ia.file));
            assert_eq!((ia.width, ia.height), (ib.width, ib.height), "{}", ia.file);
            if splits {
                assert_eq!(ia.split, ib.split, "split of {}", ia.file);
            }
            // Human boxes then predictions, each in file order (every format keeps it).
            let order = |v: &[LabeledBox]| -> Vec<LabeledBox> {
                let (h, p): (Vec<_>, Vec<_>) = v.iter().cloned().partition(|b| b.score.is_none());
                h.into_iter().chain(p).collect()
            };
            let (ba, bb) = (order(&ia.boxes), order(&ib.boxes));
            assert_eq!(ba.len(), bb.len(), "boxes of {}", ia.file);
            for (x, y) in ba.iter().zip(&bb) {
                assert_eq!(x.label, y.label, "{}", ia.file);
                for (u, v) in [
                    (x.bbox.x, y.bbox.x),
                    (x.bbox.y, y.bbox.y),
                    (x.bbox.x2(), y.bbox.x2()),
                    (x.bbox.y2(), y.bbox.y2()),
                ] {
                    assert!((u - v).abs() <= tol, "{}: {:?} vs {:?}", ia.file, x, y);
                }
                match (x.score, y.score) {
                    (None, None) => {}
                    (Some(s), Some(t)) => assert!((s - t).abs() < 1e-9, "{s} vs {t}"),
                    other => panic!("{}: scores {other:?}", ia.file),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn splits_parse_from_names() {
        assert_eq!(Split::from_file_stem("instances_val2017"), Some(Split::Val));
        assert_eq!(Split::from_file_stem("train_list"), Some(Split::Train));
        assert_eq!(Split::from_file_stem("test"), Some(Split::Test));
        assert_eq!(Split::from_file_stem("annotations"), None);
        assert_eq!(Split::parse("Validation"), Some(Split::Val));
    }

    #[test]
    fn boxes_slightly_outside_are_clipped_far_outside_rejected() {
        let b = fit_box(BBox::new(-1.0, 0.0, 11.0, 10.0), 100, 100).unwrap();
        assert_eq!(b, BBox::new(0.0, 0.0, 10.0, 10.0));
        let e = fit_box(BBox::new(-20.0, 0.0, 30.0, 10.0), 100, 100).unwrap_err();
        assert!(e.contains("outside the 100x100 image"), "{e}");
        let e = fit_box(BBox::new(f64::NAN, 0.0, 3.0, 10.0), 100, 100).unwrap_err();
        assert!(e.contains("not a number"), "{e}");
        let e = fit_box(BBox::new(5.0, 0.0, -3.0, 10.0), 100, 100).unwrap_err();
        assert!(e.contains("negative"), "{e}");
        let e = fit_box(BBox::new(5.0, 0.0, 0.0, 10.0), 100, 100).unwrap_err();
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn every_format_round_trips_and_is_detected() {
        let ds = sample();
        for format in BoxFormat::ALL {
            let dir = tempfile::tempdir().unwrap();
            let sum = write(&ds, format, dir.path(), &WriteOptions::default()).unwrap();
            assert_eq!(sum.images, 3);
            assert_eq!(sum.boxes, 3, "{format}");
            assert_eq!(sum.predictions, 1, "{format}");
            place_images(&ds, format, dir.path());
            assert_eq!(BoxFormat::detect(dir.path()), Some(format), "{format}");
            let back = read(dir.path()).unwrap_or_else(|e| panic!("{format}: {e}"));
            let tol = match format {
                BoxFormat::Voc => 0.5 + 1e-9,
                BoxFormat::Yolo => 1e-6 * 64.0,
                _ => 1e-9,
            };
            assert_same(&ds, &back, tol, true);
            assert_eq!(back.labels, ds.labels, "{format}");
        }
    }

    #[test]
    fn write_refuses_colliding_names_and_bad_boxes() {
        let mut ds = sample();
        ds.images[1].file = "other/a.png".into();
        ds.images[1].split = Some(Split::Train);
        let dir = tempfile::tempdir().unwrap();
        let e = write(&ds, BoxFormat::Yolo, dir.path(), &WriteOptions::default()).unwrap_err();
        assert!(e.to_string().contains("images/train/a.png"), "{e}");
        let mut ds = sample();
        ds.images[0].boxes[0].bbox.w = f64::NAN;
        let e = write(&ds, BoxFormat::Coco, dir.path(), &WriteOptions::default()).unwrap_err();
        assert!(e.to_string().contains("a.png: box 1 (cat)"), "{e}");
    }

    #[test]
    fn image_size_applies_exif_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let mut jpg = Vec::new();
        image::RgbImage::new(30, 20)
            .write_to(
                &mut std::io::Cursor::new(&mut jpg),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        // An APP1 Exif segment right after SOI: little-endian TIFF, one IFD entry,
        // Orientation (0x0112) = 6 (rotate 90 degrees clockwise).
        let mut tiff = b"II*\x00\x08\x00\x00\x00\x01\x00".to_vec();
        tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]);
        let mut app1 = b"Exif\x00\x00".to_vec();
        app1.extend_from_slice(&tiff);
        let len = (app1.len() + 2) as u16;
        let mut out = jpg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpg[2..]);
        let p = dir.path().join("turned.jpg");
        std::fs::write(&p, out).unwrap();
        assert_eq!(image_size(&p).unwrap(), (20, 30));
        png(&dir.path().join("plain.png"), 30, 20);
        assert_eq!(image_size(&dir.path().join("plain.png")).unwrap(), (30, 20));
    }

    #[test]
    fn undetectable_paths_say_so() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
        let e = read(dir.path()).unwrap_err();
        assert!(e.to_string().contains("not a box dataset"), "{e}");
    }
}

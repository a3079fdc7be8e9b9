//! YOLO (ultralytics and darknet) text labels.
//!
//! A label file has one line per box, `class x_center y_center width height`, normalised to
//! 0–1 by the image's size; a sixth number is a score (ultralytics `save_conf`), more numbers a
//! polygon (`class x1 y1 x2 y2 ...`, YOLO segmentation) read as its bounding box. The image for
//! a label file and back are found the way ultralytics does: the last `/images/` of the path
//! swapped for `/labels/` and the extension for `.txt` (a label beside its image when the path
//! has no `images` folder; any image extension, either case, the other way).
//!
//! Reads a folder (or its `data.yaml`):
//! - `data.yaml` (any `.yaml` with `names`): `names` a list or a `{0: name}` map; `train`,
//!   `val`, `test` each a folder, a list file of image paths or a list of those, relative to
//!   `path` (absolute, or relative to the YAML's folder; the YAML's folder when missing or not
//!   found);
//! - without one (darknet, PaddleLabel): class names from `classes.txt`, `classes.names`,
//!   `obj.names` or any `*.names`, images from `{train,val,test}.txt` / `*_list.txt` lists whose
//!   lines may name the label file after the image (`JPEGImages/1.jpg Annotations/1.txt`);
//! - in both cases also every image under `images/` and every label file under `labels/`.
//!
//! An image's split is the folder after its `images/` (`images/val/x.jpg`), else the one
//! `data.yaml` key or list naming it. Image sizes come from the image headers
//! ([`super::image_size`]), so the images must be there. A missing label file is an image
//! without boxes, as in ultralytics.
//!
//! Writes `data.yaml` (no `path`: ultralytics reads the splits next to the YAML, wherever the
//! folder is moved; `train`, `val` and `test` when
//! present; `names` as a list; ultralytics needs `train` and `val`, so a missing one names
//! another split's folder, or `images` without splits) and `labels/<split>/<stem>.txt` for every
//! image (empty without boxes) with 6-decimal floats. Scored boxes go to
//! `predictions/<split>/<stem>.txt` with the score as a sixth column.
//! ultralytics' own dataset code (`check_det_dataset`, then `YOLODataset`, which runs
//! `verify_image_label` on every file) reads a written folder in tests/objects.rs
//! (`scripts/check_yolo_export.py`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    extension, fit_box, image_size, is_image, list_files, normalize, read_label_list, read_text,
    relative_to, slash, walk_files, write_file, BoxDataset, BoxFormatError, ImageBoxes, LabeledBox,
    Result, Split, IMAGE_EXTENSIONS,
};
use crate::domain::BBox;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn entries(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Names {
    List(Vec<String>),
    Map(BTreeMap<i64, String>),
}

#[derive(Debug, Deserialize)]
struct DataYaml {
    path: Option<String>,
    train: Option<OneOrMany>,
    val: Option<OneOrMany>,
    test: Option<OneOrMany>,
    names: Option<Names>,
}

#[derive(Debug, Serialize)]
struct DataYamlOut {
    train: String,
    val: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    test: Option<String>,
    names: Vec<String>,
}

fn parse_yaml(path: &Path) -> Result<DataYaml> {
    let text = read_text(path)?;
    serde_saphyr::from_str::<DataYaml>(&text)
        .map_err(|e| BoxFormatError::invalid(path, None, format!("not a YOLO data.yaml: {e}")))
}

/// Whether `path` is a YAML file with `names` (a YOLO dataset description).
pub(crate) fn is_data_yaml(path: &Path) -> bool {
    parse_yaml(path).is_ok_and(|y| y.names.is_some())
}

/// `data.yaml` (or `data.yml`, or another YAML with `names`) directly in `dir`.
pub(crate) fn find_data_yaml(dir: &Path) -> Option<PathBuf> {
    for n in ["data.yaml", "data.yml"] {
        let p = dir.join(n);
        if p.is_file() && is_data_yaml(&p) {
            return Some(p);
        }
    }
    list_files(dir, &["yaml", "yml"])
        .into_iter()
        .find(|p| is_data_yaml(p))
}

/// A darknet-style class list directly in `dir`.
pub(crate) fn find_classes_file(dir: &Path) -> Option<PathBuf> {
    for n in ["classes.txt", "classes.names", "obj.names"] {
        let p = dir.join(n);
        if p.is_file() {
            return Some(p);
        }
    }
    list_files(dir, &["names"]).into_iter().next()
}

/// The class names of a `names:` entry.
fn names_list(yaml: &Path, names: &Names) -> Result<Vec<String>> {
    match names {
        Names::List(v) => Ok(v.clone()),
        Names::Map(m) => {
            for (i, k) in m.keys().enumerate() {
                if *k != i as i64 {
                    return Err(BoxFormatError::invalid(
                        yaml,
                        None,
                        format!(
                            "`names` must number the classes 0 to {} without gaps; class {i} is missing",
                            m.len() - 1
                        ),
                    ));
                }
            }
            Ok(m.values().cloned().collect())
        }
    }
}

/// One image to read: its path, the label file a list named for it, and the split key(s) that
/// named it.
struct Entry {
    image: PathBuf,
    label: Option<PathBuf>,
    keys: Vec<Split>,
}

struct Entries {
    list: Vec<Entry>,
    index: HashMap<PathBuf, usize>,
}

impl Entries {
    fn add(&mut self, image: PathBuf, label: Option<PathBuf>, key: Option<Split>) {
        let image = normalize(&image);
        let i = match self.index.get(&image) {
            Some(&i) => i,
            None => {
                self.index.insert(image.clone(), self.list.len());
                self.list.push(Entry {
                    image,
                    label: None,
                    keys: Vec::new(),
                });
                self.list.len() - 1
            }
        };
        let e = &mut self.list[i];
        if label.is_some() {
            e.label = label;
        }
        if let Some(k) = key {
            if !e.keys.contains(&k) {
                e.keys.push(k);
            }
        }
    }
}

/// Swap the last `/from/` folder of `path` for `/to/`.
fn swap_dir(path: &Path, from: &str, to: &str) -> Option<PathBuf> {
    let s = path.to_string_lossy().replace('\\', "/");
    let i = s.rfind(&format!("/{from}/"))?;
    Some(PathBuf::from(format!(
        "{}/{to}/{}",
        &s[..i],
        &s[i + from.len() + 2..]
    )))
}

/// Where ultralytics looks for the labels of `image`.
pub fn label_path(image: &Path) -> PathBuf {
    swap_dir(image, "images", "labels")
        .unwrap_or_else(|| image.to_path_buf())
        .with_extension("txt")
}

fn predictions_path(image: &Path) -> Option<PathBuf> {
    Some(swap_dir(image, "images", "predictions")?.with_extension("txt"))
}

/// The image of a label file under `labels/`, if there is one.
fn image_for_label(label: &Path) -> Option<PathBuf> {
    let base = swap_dir(label, "labels", "images")?;
    for ext in IMAGE_EXTENSIONS {
        for e in [ext.to_string(), ext.to_ascii_uppercase()] {
            let p = base.with_extension(&e);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// The split named by the folder right after the last `images` folder.
fn split_of_dir(rel: &str) -> Option<Split> {
    let parts: Vec<&str> = rel.split('/').collect();
    let i = parts.iter().rposition(|p| *p == "images")?;
    if i + 2 > parts.len() - 1 {
        return None;
    }
    Split::parse(parts[i + 1])
}

/// Read the image paths (and label paths) of a list file.
fn read_list(list: &Path, root: &Path, key: Option<Split>, out: &mut Entries) -> Result<()> {
    let dir = list.parent().unwrap_or(Path::new("."));
    for line in read_text(list)?.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (img, label) = match line.rsplit_once(char::is_whitespace) {
            Some((a, b)) if extension(Path::new(b)) == "txt" => (a.trim(), Some(b)),
            _ => (line, None),
        };
        let resolve = |p: &str| -> PathBuf {
            let pp = Path::new(p);
            if pp.is_absolute() {
                pp.to_path_buf()
            } else if let Some(rest) = p.strip_prefix("./") {
                dir.join(rest)
            } else if root.join(pp).exists() || !dir.join(pp).exists() {
                root.join(pp)
            } else {
                dir.join(pp)
            }
        };
        out.add(resolve(img), label.map(resolve), key);
    }
    Ok(())
}

/// Read a YOLO folder or `data.yaml` (see the module docs).
pub fn read(path: &Path) -> Result<BoxDataset> {
    let yaml_path = if path.is_file() {
        Some(path.to_path_buf())
    } else {
        find_data_yaml(path)
    };
    let yaml = yaml_path.as_deref().map(parse_yaml).transpose()?;
    let root = match (&yaml_path, &yaml) {
        (Some(yp), Some(y)) => {
            let ydir = yp.parent().unwrap_or(Path::new(".")).to_path_buf();
            match y.path.as_deref().map(Path::new) {
                Some(p) if p.is_absolute() && p.is_dir() => p.to_path_buf(),
                Some(p) if !p.is_absolute() && ydir.join(p).is_dir() => ydir.join(p),
                _ => ydir,
            }
        }
        _ => path.to_path_buf(),
    };

    // Class names.
    let (mut labels, names_file, fixed) = match (&yaml, &yaml_path) {
        (Some(y), Some(yp)) => match &y.names {
            Some(n) => (names_list(yp, n)?, Some(yp.clone()), true),
            None => (Vec::new(), None, false),
        },
        _ => match find_classes_file(&root) {
            Some(f) => (read_label_list(&f)?, Some(f), true),
            None => (Vec::new(), None, false),
        },
    };

    let mut entries = Entries {
        list: Vec::new(),
        index: HashMap::new(),
    };
    if let (Some(y), Some(yp)) = (&yaml, &yaml_path) {
        for (split, v) in [
            (Split::Train, &y.train),
            (Split::Val, &y.val),
            (Split::Test, &y.test),
        ] {
            for e in v.iter().flat_map(|v| v.entries()) {
                let p = if Path::new(&e).is_absolute() {
                    PathBuf::from(&e)
                } else {
                    root.join(&e)
                };
                if p.is_dir() {
                    for img in walk_files(&p, &IMAGE_EXTENSIONS) {
                        entries.add(img, None, Some(split));
                    }
                } else if p.is_file() && extension(&p) == "txt" {
                    read_list(&p, &root, Some(split), &mut entries)?;
                } else if p.is_file() && is_image(&p) {
                    entries.add(p, None, Some(split));
                } else {
                    return Err(BoxFormatError::invalid(
                        yp,
                        None,
                        format!("`{split}: {e}` names {}, which does not exist", p.display()),
                    ));
                }
            }
        }
    } else {
        for list in list_files(&root, &["txt"]) {
            let stem = list.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let key = match Split::parse(stem) {
                Some(s) => Some(s),
                None => match stem.strip_suffix("_list") {
                    Some(s) => Split::parse(s),
                    None => continue,
                },
            };
            read_list(&list, &root, key, &mut entries)?;
        }
    }
    for img in walk_files(&root.join("images"), &IMAGE_EXTENSIONS) {
        entries.add(img, None, None);
    }
    for label in walk_files(&root.join("labels"), &["txt"]) {
        match image_for_label(&label) {
            Some(img) => entries.add(img, Some(label), None),
            None => {
                return Err(BoxFormatError::invalid(
                    &label,
                    None,
                    "no image for this label file (looked in the matching images/ folder for \
                     any image extension)",
                ))
            }
        }
    }
    if entries.list.is_empty() {
        return Err(BoxFormatError::invalid(
            path,
            None,
            "no YOLO images found (no data.yaml splits, list files, images/ or labels/)",
        ));
    }

    let mut ds = BoxDataset::default();
    for e in entries.list {
        if !e.image.is_file() {
            let named_by = e.label.as_deref().unwrap_or(&e.image);
            return Err(BoxFormatError::invalid(
                named_by,
                None,
                format!("image {} not found", e.image.display()),
            ));
        }
        let (w, h) = image_size(&e.image)?;
        let file = relative_to(&root, &e.image);
        let mut img = ImageBoxes::new(file.clone(), w, h);
        img.split = split_of_dir(&file).or(match e.keys.as_slice() {
            [one] => Some(*one),
            _ => None,
        });
        let label = e.label.unwrap_or_else(|| label_path(&e.image));
        if label.is_file() {
            let ctx = Ctx {
                labels: &mut labels,
                fixed,
                names_file: names_file.as_deref(),
            };
            img.boxes = parse_labels(&label, w, h, ctx, false)?;
        }
        if let Some(pred) = predictions_path(&e.image).filter(|p| p.is_file()) {
            let ctx = Ctx {
                labels: &mut labels,
                fixed,
                names_file: names_file.as_deref(),
            };
            img.boxes.extend(parse_labels(&pred, w, h, ctx, true)?);
        }
        ds.images.push(img);
    }
    ds.labels = labels;
    Ok(ds)
}

struct Ctx<'a> {
    labels: &'a mut Vec<String>,
    /// The class list came from a file: ids past it are errors.
    fixed: bool,
    names_file: Option<&'a Path>,
}

/// Parse one label file of an image of `w` x `h`.
fn parse_labels(
    file: &Path,
    w: u32,
    h: u32,
    ctx: Ctx<'_>,
    predictions: bool,
) -> Result<Vec<LabeledBox>> {
    let mut out = Vec::new();
    for (n, line) in read_text(file)?.lines().enumerate() {
        let bad = |m: String| BoxFormatError::invalid(file, Some(n + 1), m);
        let toks: Vec<&str> = line.split_whitespace().collect();
        if toks.is_empty() {
            continue;
        }
        let nums: Vec<f64> = toks
            .iter()
            .map(|t| {
                t.parse::<f64>()
                    .map_err(|_| bad(format!("`{t}` is not a number")))
            })
            .collect::<Result<_>>()?;
        let (coords, score) = match nums.len() {
            5 => (&nums[1..5], None),
            6 => (&nums[1..5], Some(nums[5])),
            k if k >= 7 && (k - 1) % 2 == 0 => (&nums[1..], None),
            k => {
                return Err(bad(format!(
                    "expected 5 numbers (class x_center y_center width height), 6 with a score, \
                     or a polygon; found {k}"
                )))
            }
        };
        if predictions && score.is_none() {
            return Err(bad("a prediction needs a score as its sixth number".into()));
        }
        let c = nums[0];
        if c < 0.0 || c.fract() != 0.0 || !c.is_finite() {
            return Err(bad(format!(
                "class id {} is not a whole number >= 0",
                toks[0]
            )));
        }
        let c = c as usize;
        if c >= ctx.labels.len() {
            if ctx.fixed {
                let from = ctx
                    .names_file
                    .map(|p| format!("{} names", p.display()))
                    .unwrap_or_else(|| "the class list names".into());
                return Err(bad(format!(
                    "class id {c} is out of range: {from} {} classes (0-{})",
                    ctx.labels.len(),
                    ctx.labels.len().saturating_sub(1)
                )));
            }
            for i in ctx.labels.len()..=c {
                ctx.labels.push(i.to_string());
            }
        }
        let (wf, hf) = (w as f64, h as f64);
        let bbox = if coords.len() == 4 {
            let [cx, cy, bw, bh] = [coords[0], coords[1], coords[2], coords[3]];
            BBox::new((cx - bw / 2.0) * wf, (cy - bh / 2.0) * hf, bw * wf, bh * hf)
        } else {
            let xs = coords.iter().step_by(2);
            let ys = coords.iter().skip(1).step_by(2);
            let (x1, x2) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            });
            let (y1, y2) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            });
            BBox::new(x1 * wf, y1 * hf, (x2 - x1) * wf, (y2 - y1) * hf)
        };
        let bbox = fit_box(bbox, w, h).map_err(bad)?;
        if let Some(s) = score {
            if !s.is_finite() {
                return Err(bad(format!("score {s} is not a number")));
            }
        }
        out.push(LabeledBox {
            label: ctx.labels[c].clone(),
            bbox,
            score,
        });
    }
    Ok(out)
}

fn line(class: usize, b: &BBox, w: u32, h: u32, score: Option<f64>) -> String {
    let (wf, hf) = (w as f64, h as f64);
    let cx = (b.x + b.w / 2.0) / wf;
    let cy = (b.y + b.h / 2.0) / hf;
    let mut s = format!("{class} {cx:.6} {cy:.6} {:.6} {:.6}", b.w / wf, b.h / hf);
    if let Some(score) = score {
        s.push_str(&format!(" {score}"));
    }
    s.push('\n');
    s
}

/// Write `data.yaml`, `labels/` and `predictions/`; returns the files written.
pub(crate) fn write(ds: &BoxDataset, out: &Path) -> Result<Vec<String>> {
    let class: HashMap<&str, usize> = ds
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let mut written = Vec::new();
    for img in &ds.images {
        let dest = super::image_dest(super::BoxFormat::Yolo, img);
        let label = slash(&label_path(&Path::new("/").join(&dest)));
        let label = label.trim_start_matches('/');
        let mut text = String::new();
        let mut preds = String::new();
        for b in &img.boxes {
            let l = line(
                class[b.label.as_str()],
                &b.bbox,
                img.width,
                img.height,
                b.score,
            );
            match b.score {
                None => text.push_str(&l),
                Some(_) => preds.push_str(&l),
            }
        }
        written.push(write_file(out, label, text.as_bytes())?);
        if !preds.is_empty() {
            let p = predictions_path(&Path::new("/").join(&dest)).expect("under images/");
            let p = slash(&p);
            written.push(write_file(
                out,
                p.trim_start_matches('/'),
                preds.as_bytes(),
            )?);
        }
    }
    let present: Vec<Split> = Split::ALL
        .into_iter()
        .filter(|s| ds.images.iter().any(|i| i.split == Some(*s)))
        .collect();
    let dir_of = |s: Split| -> String {
        if present.contains(&s) {
            format!("images/{s}")
        } else if let Some(first) = present.first() {
            format!("images/{first}")
        } else {
            "images".to_string()
        }
    };
    // No `path`: ultralytics then resolves the splits from the YAML's own folder, so the
    // dataset still works after it is moved (exports are written in a temp folder and renamed).
    let doc = DataYamlOut {
        train: dir_of(Split::Train),
        val: dir_of(Split::Val),
        test: present.contains(&Split::Test).then(|| "images/test".into()),
        names: ds.labels.clone(),
    };
    let yaml = serde_saphyr::to_string(&doc).map_err(|e| BoxFormatError::Write {
        format: super::BoxFormat::Yolo,
        message: format!("data.yaml: {e}"),
    })?;
    written.push(write_file(out, "data.yaml", yaml.as_bytes())?);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    fn setup(yaml: &str, label: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data.yaml"), yaml).unwrap();
        png(&dir.path().join("images/train/a.png"), 200, 100);
        png(&dir.path().join("images/val/b.PNG"), 10, 10);
        std::fs::create_dir_all(dir.path().join("labels/train")).unwrap();
        std::fs::write(dir.path().join("labels/train/a.txt"), label).unwrap();
        dir
    }

    #[test]
    fn reads_names_as_a_map_and_normalised_boxes() {
        let dir = setup(
            "path: ../nowhere\ntrain: images/train\nval: images/val\ntest: # none\nnames:\n  0: person\n  1: 'traffic light'\ndownload: |\n  print('hi')\n",
            "1 0.5 0.5 0.2 0.4\n\n0 0.1 0.1 0.2 0.2 0.9\n",
        );
        assert_eq!(BoxFormat::detect(dir.path()), Some(BoxFormat::Yolo));
        assert_eq!(
            BoxFormat::detect(&dir.path().join("data.yaml")),
            Some(BoxFormat::Yolo)
        );
        let ds = read(dir.path()).unwrap();
        assert_eq!(ds.labels, ["person", "traffic light"]);
        let a = ds
            .images
            .iter()
            .find(|i| i.file == "images/train/a.png")
            .unwrap();
        assert_eq!(a.split, Some(Split::Train));
        assert_eq!((a.width, a.height), (200, 100));
        assert_eq!(a.boxes[0].label, "traffic light");
        assert_eq!(a.boxes[0].bbox, BBox::new(80.0, 30.0, 40.0, 40.0));
        assert_eq!(a.boxes[1].score, Some(0.9));
        let b = ds
            .images
            .iter()
            .find(|i| i.file == "images/val/b.PNG")
            .unwrap();
        assert!(b.boxes.is_empty());
        assert_eq!(b.split, Some(Split::Val));
        // names as a list, from the yaml file itself.
        std::fs::write(dir.path().join("data.yaml"), "names: [person, light]\n").unwrap();
        let ds = read(&dir.path().join("data.yaml")).unwrap();
        assert_eq!(ds.labels, ["person", "light"]);
        assert_eq!(ds.images.len(), 2);
    }

    #[test]
    fn bad_lines_are_named_with_file_and_line() {
        let dir = setup("names: [a, b]\n", "0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2\n");
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("a.txt:2: expected 5 numbers"), "{e}");
        assert!(e.contains("found 4"), "{e}");
        let dir = setup("names: [a, b]\n", "2 0.5 0.5 0.2 0.2\n");
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("a.txt:1: class id 2 is out of range")
                && e.contains("names 2 classes (0-1)"),
            "{e}"
        );
        let dir = setup("names: [a, b]\n", "0 0.5 0.5 nan 0.2\n");
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("a.txt:1: box") && e.contains("not a number"),
            "{e}"
        );
        let dir = setup("names: [a, b]\n", "0 1.5 0.5 0.2 0.2\n");
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("outside the 200x100 image"), "{e}");
        let dir = setup("names: {0: a, 2: b}\n", "");
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("class 1 is missing"), "{e}");
    }

    #[test]
    fn label_files_without_images_and_darknet_lists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("labels")).unwrap();
        std::fs::write(dir.path().join("labels/x.txt"), "0 0.5 0.5 0.2 0.2\n").unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("x.txt: no image for this label file"), "{e}");
        // PaddleLabel / darknet: classes file and "image label" lists.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("classes.names"), "梨\n苹果\n").unwrap();
        std::fs::write(
            d.join("train_list.txt"),
            "JPEGImages/1.jpeg Annotations/1.txt\n",
        )
        .unwrap();
        std::fs::create_dir_all(d.join("Annotations")).unwrap();
        std::fs::write(d.join("Annotations/1.txt"), "1 0.5 0.5 0.5 0.5\n").unwrap();
        png(&d.join("JPEGImages/1.jpeg"), 40, 20);
        assert_eq!(BoxFormat::detect(d), Some(BoxFormat::Yolo));
        let ds = read(d).unwrap();
        assert_eq!(ds.images[0].file, "JPEGImages/1.jpeg");
        assert_eq!(ds.images[0].split, Some(Split::Train));
        assert_eq!(ds.images[0].boxes[0].label, "苹果");
        assert_eq!(ds.images[0].boxes[0].bbox, BBox::new(10.0, 5.0, 20.0, 10.0));
    }

    #[test]
    fn writes_data_yaml_and_label_files() {
        let ds = sample();
        let dir = tempfile::tempdir().unwrap();
        let sum = write(&ds, BoxFormat::Yolo, dir.path(), &WriteOptions::default()).unwrap();
        assert_eq!(
            sum.files,
            [
                "data.yaml",
                "labels/test/c.txt",
                "labels/train/a.txt",
                "labels/val/b.txt",
                "predictions/train/a.txt"
            ]
        );
        let yaml = std::fs::read_to_string(dir.path().join("data.yaml")).unwrap();
        assert!(yaml.contains("train: images/train\n"), "{yaml}");
        assert!(yaml.contains("test: images/test\n"), "{yaml}");
        assert!(yaml.contains("names:\n"), "{yaml}");
        let a = std::fs::read_to_string(dir.path().join("labels/train/a.txt")).unwrap();
        assert_eq!(
            a.lines().next().unwrap(),
            "0 0.078125 0.125000 0.156250 0.250000"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("labels/test/c.txt")).unwrap(),
            ""
        );
        let p = std::fs::read_to_string(dir.path().join("predictions/train/a.txt")).unwrap();
        assert!(p.trim_end().ends_with(" 0.75"), "{p}");
    }
}

//! labelme JSON: one file per image, beside it.
//!
//! A box is a shape with `"shape_type": "rectangle"` and two corner points (any two opposite
//! corners; four points, as X-AnyLabeling writes, are read as their bounding box). Other shapes
//! (polygons, points, lines) are not boxes and are skipped. A shape's `score` (X-AnyLabeling)
//! makes it a prediction. The image is `imagePath`, relative to the JSON; its size is
//! `imageWidth` x `imageHeight`, or the image header when those are missing.
//!
//! Reads one `.json` or a folder of them (sub-folders too; a first folder named `train`, `val`
//! or `test` is the split). Labels come in the order of `labels.txt` beside them when there is
//! one (labelme's `--labels` file; `__ignore__` and `_background_` skipped), then as met.
//!
//! Writes `<split>/<stem>.json` (`<stem>.json` without a split) beside where the image goes
//! ([`super::image_dest`]), with `imagePath` the image's file name and `imageData: null`, and
//! `labels.txt`.

use std::path::Path;

use serde_json::{json, Value};

use super::{
    fit_box, image_size, label_list_text, note_label, read_json, read_label_list, relative_to,
    to_json_bytes, walk_files, write_file, BoxDataset, BoxFormatError, ImageBoxes, LabeledBox,
    Result, Split,
};
use crate::domain::BBox;

/// labelme's file format version written.
pub const VERSION: &str = "5.5.0";

/// Read labelme files (see the module docs).
pub fn read(path: &Path) -> Result<BoxDataset> {
    let (files, root) = if path.is_file() {
        (
            vec![path.to_path_buf()],
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        )
    } else {
        let files: Vec<_> = walk_files(path, &["json"])
            .into_iter()
            .filter(|f| {
                std::fs::read(f)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .is_some_and(|v| v.get("shapes").is_some())
            })
            .collect();
        if files.is_empty() {
            return Err(BoxFormatError::invalid(path, None, "no labelme .json here"));
        }
        (files, path.to_path_buf())
    };
    let mut ds = BoxDataset::default();
    let labels_file = root.join("labels.txt");
    if labels_file.is_file() {
        ds.labels = read_label_list(&labels_file)?;
    }
    for f in files {
        let img = read_one(&f, &root, &mut ds.labels)?;
        ds.images.push(img);
    }
    Ok(ds)
}

fn read_one(file: &Path, root: &Path, labels: &mut Vec<String>) -> Result<ImageBoxes> {
    let v = read_json(file)?;
    let bad = |m: String| BoxFormatError::invalid(file, None, m);
    let image_path = v
        .get("imagePath")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("`imagePath` is missing".into()))?
        .replace('\\', "/");
    let json_dir = file.parent().unwrap_or(Path::new("."));
    let image = json_dir.join(&image_path);
    let dim = |k: &str| {
        v.get(k)
            .and_then(Value::as_f64)
            .filter(|d| *d >= 1.0 && *d <= u32::MAX as f64)
            .map(|d| d.round() as u32)
    };
    let (w, h) = match (dim("imageWidth"), dim("imageHeight")) {
        (Some(w), Some(h)) => {
            if image.is_file() {
                super::check_size(file, "`imageWidth`/`imageHeight`", (w, h), &image)?;
            }
            (w, h)
        }
        _ if image.is_file() => image_size(&image)?,
        _ => {
            return Err(bad(format!(
                "`imageWidth`/`imageHeight` are missing and the image {image_path} is not there"
            )))
        }
    };
    let rel = relative_to(root, &image);
    let mut img = ImageBoxes::new(rel.clone(), w, h);
    img.split = match rel.split_once('/') {
        Some((first, _)) => Split::parse(first),
        None => None,
    };
    let shapes = v
        .get("shapes")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("`shapes` must be a list".into()))?;
    for (i, s) in shapes.iter().enumerate() {
        let kind = s
            .get("shape_type")
            .and_then(Value::as_str)
            .unwrap_or("polygon");
        if kind != "rectangle" {
            continue;
        }
        let label = s
            .get("label")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("shape {} has no label", i + 1)))?;
        let pts: Option<Vec<(f64, f64)>> = s
            .get("points")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|p| {
                        let p = p.as_array()?;
                        match p.as_slice() {
                            [x, y] => Some((x.as_f64()?, y.as_f64()?)),
                            _ => None,
                        }
                    })
                    .collect()
            })
            .unwrap_or(None);
        let pts = match pts {
            Some(p) if p.len() >= 2 => p,
            _ => {
                return Err(bad(format!(
                    "shape {} ({label}): a rectangle needs two corner points [[x1, y1], [x2, y2]]",
                    i + 1
                )))
            }
        };
        let (mut x1, mut y1, mut x2, mut y2) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for (x, y) in &pts {
            x1 = x1.min(*x);
            y1 = y1.min(*y);
            x2 = x2.max(*x);
            y2 = y2.max(*y);
        }
        let bbox = fit_box(BBox::new(x1, y1, x2 - x1, y2 - y1), w, h)
            .map_err(|m| bad(format!("shape {} ({label}): {m}", i + 1)))?;
        note_label(labels, label);
        img.boxes.push(LabeledBox {
            label: label.to_string(),
            bbox,
            score: s.get("score").and_then(Value::as_f64),
        });
    }
    Ok(img)
}

/// Write one JSON per image and `labels.txt`; returns the files written.
pub(crate) fn write(ds: &BoxDataset, out: &Path) -> Result<Vec<String>> {
    let mut written = Vec::new();
    for img in &ds.images {
        let dest = super::image_dest(super::BoxFormat::Labelme, img);
        let json_rel = super::slash(&dest.with_extension("json"));
        let shapes: Vec<Value> = img
            .boxes
            .iter()
            .map(|b| {
                let mut s = json!({
                    "label": b.label,
                    "points": [[b.bbox.x, b.bbox.y], [b.bbox.x2(), b.bbox.y2()]],
                    "group_id": null,
                    "description": "",
                    "shape_type": "rectangle",
                    "flags": {},
                });
                if let Some(score) = b.score {
                    s["score"] = json!(score);
                }
                s
            })
            .collect();
        let doc = json!({
            "version": VERSION,
            "flags": {},
            "shapes": shapes,
            "imagePath": img.file_name(),
            "imageData": null,
            "imageHeight": img.height,
            "imageWidth": img.width,
        });
        written.push(write_file(out, &json_rel, &to_json_bytes(&doc))?);
    }
    written.push(write_file(
        out,
        "labels.txt",
        label_list_text(&ds.labels).as_bytes(),
    )?);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    const DOC: &str = r#"{"version": "4.0.0", "flags": {}, "imagePath": "../img/p.jpg",
      "imageData": null, "imageHeight": 100, "imageWidth": 200,
      "shapes": [
        {"label": "person", "points": [[120, 80], [20.5, 10]], "shape_type": "rectangle", "group_id": null, "flags": {}},
        {"label": "dog", "points": [[1, 1], [5, 1], [5, 5]], "shape_type": "polygon", "flags": {}},
        {"label": "car", "points": [[0, 0], [10, 0], [10, 10], [0, 10]], "shape_type": "rectangle", "score": 0.5}
      ]}"#;

    #[test]
    fn reads_rectangles_from_any_two_corners() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ann")).unwrap();
        let f = dir.path().join("ann/p.json");
        std::fs::write(&f, DOC).unwrap();
        assert_eq!(BoxFormat::detect(&f), Some(BoxFormat::Labelme));
        assert_eq!(BoxFormat::detect(dir.path()), Some(BoxFormat::Labelme));
        let ds = read(dir.path()).unwrap();
        assert_eq!(ds.labels, ["person", "car"]);
        let p = &ds.images[0];
        assert_eq!(p.file, "img/p.jpg");
        assert_eq!((p.width, p.height), (200, 100));
        assert_eq!(p.boxes.len(), 2);
        assert_eq!(p.boxes[0].bbox, BBox::new(20.5, 10.0, 99.5, 70.0));
        assert_eq!(p.boxes[1].bbox, BBox::new(0.0, 0.0, 10.0, 10.0));
        assert_eq!(p.boxes[1].score, Some(0.5));
    }

    #[test]
    fn bad_rectangles_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.json");
        std::fs::write(&f, DOC.replace("[[120, 80], [20.5, 10]]", "[[120, 80]]")).unwrap();
        let e = read(&f).unwrap_err().to_string();
        assert!(
            e.contains("p.json: shape 1 (person): a rectangle needs two corner points"),
            "{e}"
        );
        std::fs::write(
            &f,
            DOC.replace("[[120, 80], [20.5, 10]]", "[[120, 80], [400, 10]]"),
        )
        .unwrap();
        let e = read(&f).unwrap_err().to_string();
        assert!(
            e.contains("p.json: shape 1 (person): box") && e.contains("outside the 200x100 image"),
            "{e}"
        );
    }

    #[test]
    fn writes_one_json_beside_each_image() {
        let ds = sample();
        let dir = tempfile::tempdir().unwrap();
        let sum = write(
            &ds,
            BoxFormat::Labelme,
            dir.path(),
            &WriteOptions::default(),
        )
        .unwrap();
        assert_eq!(
            sum.files,
            ["labels.txt", "test/c.json", "train/a.json", "val/b.json"]
        );
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("val/b.json")).unwrap()).unwrap();
        assert_eq!(v["imagePath"], "b.png");
        assert_eq!(v["imageData"], serde_json::Value::Null);
        assert_eq!(
            v["shapes"][0]["points"],
            serde_json::json!([[1.0, 2.0], [4.0, 6.0]])
        );
        assert_eq!(v["shapes"][0]["shape_type"], "rectangle");
    }
}

//! Label Studio tasks JSON with `rectanglelabels`.
//!
//! A box is a result `{"type": "rectanglelabels", "original_width": W, "original_height": H,
//! "value": {"x", "y", "width", "height", "rotation", "rectanglelabels": [label]}}` with x, y,
//! width and height in percent of the image. A rotated rectangle (rotation about its top-left
//! corner, degrees clockwise) is read as its axis-aligned bounding box.
//!
//! Reading takes a tasks `.json` (a list of tasks, or one task) or a folder of them. Per task:
//! the human boxes of one annotation (the `ground_truth` one, else the first not cancelled;
//! legacy `completions` too) and the boxes of every prediction, scored by the result's `score`,
//! else the prediction's, else 1. The image is `data.image` (else the first string in `data`):
//! a local-files URL or path becomes a path relative to the tasks file's folder when it is under
//! it; uploads and other URLs give their file name. The size is the results'
//! `original_width`/`original_height`, else `meta.width`/`meta.height`, else the image header,
//! else 0 (unknown; only for a task without boxes). `meta.split` is the split. Labels come in
//! the order of `label_config.xml` beside the tasks when there is one, then as met.
//!
//! Writes `tasks.json` (human boxes as one annotation, scored boxes as one prediction with
//! per-result scores; `data.image` a local-files URL of where the image goes, relative to
//! [`super::WriteOptions::label_studio_document_root`]; `meta` with width, height and split)
//! and `label_config.xml` (an `<Image>` with `<RectangleLabels>` of the labels).

use std::path::Path;

use quick_xml::escape::escape;
use serde_json::{json, Value};

use super::voc::parse_xml;
use super::{
    fit_box, image_size, list_files, normalize, note_label, read_json, read_text, relative_to,
    to_json_bytes, write_file, BoxDataset, BoxFormat, BoxFormatError, ImageBoxes, LabeledBox,
    Result, Split, WriteOptions,
};
use crate::domain::BBox;
use crate::exchange::label_studio::{encode_path, image_ref, ImageRef, LOCAL_FILES};

pub const TASKS_FILE: &str = "tasks.json";
pub const CONFIG_FILE: &str = "label_config.xml";

/// Read Label Studio tasks (see the module docs).
pub fn read(path: &Path) -> Result<BoxDataset> {
    let (files, root) = if path.is_file() {
        (
            vec![path.to_path_buf()],
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        )
    } else {
        let files: Vec<_> = list_files(path, &["json"])
            .into_iter()
            .filter(|f| super::json_kind(f) == Some(BoxFormat::LabelStudio))
            .collect();
        if files.is_empty() {
            return Err(BoxFormatError::invalid(
                path,
                None,
                "no Label Studio tasks .json here",
            ));
        }
        (files, path.to_path_buf())
    };
    let mut ds = BoxDataset::default();
    let config = root.join(CONFIG_FILE);
    if config.is_file() {
        ds.labels = config_labels(&config)?;
    }
    for f in &files {
        let v = read_json(f)?;
        let tasks = match v {
            Value::Array(a) => a,
            Value::Object(_) => vec![v],
            _ => {
                return Err(BoxFormatError::invalid(
                    f,
                    None,
                    "a tasks file must be a list of tasks",
                ))
            }
        };
        for (i, t) in tasks.iter().enumerate() {
            let img = read_task(t, f, i + 1, &root, &mut ds.labels)?;
            ds.images.push(img);
        }
    }
    Ok(ds)
}

/// The `<Label value>`s of the `<RectangleLabels>` of a labeling config, in order.
pub fn config_labels(path: &Path) -> Result<Vec<String>> {
    let doc = parse_xml(&read_text(path)?).map_err(|m| BoxFormatError::invalid(path, None, m))?;
    let mut groups = Vec::new();
    doc.descendants("RectangleLabels", &mut groups);
    let mut out = Vec::new();
    for g in groups {
        let mut labels = Vec::new();
        g.descendants("Label", &mut labels);
        for l in labels {
            if let Some(v) = l.attr("value") {
                note_label(&mut out, v);
            }
        }
    }
    Ok(out)
}

fn image_file(data: &Value, root: &Path) -> Option<String> {
    let s = data.get("image").and_then(Value::as_str).or_else(|| {
        data.as_object()?
            .values()
            .find_map(|v| v.as_str().filter(|s| !s.is_empty()))
    })?;
    Some(match image_ref(s) {
        ImageRef::Path(p) => {
            let p = normalize(&p);
            let under = normalize(root);
            if p.starts_with(&under) {
                relative_to(root, &p)
            } else {
                let rel = p.strip_prefix("/").unwrap_or(&p);
                if root.join(rel).is_file() {
                    super::slash(rel)
                } else {
                    super::slash(&p)
                }
            }
        }
        ImageRef::FileName(n) => n,
    })
}

struct Rect {
    label: String,
    bbox: BBox,
    score: Option<f64>,
    size: Option<(u32, u32)>,
}

fn rects(results: &Value, bad: &dyn Fn(String) -> BoxFormatError, what: &str) -> Result<Vec<Rect>> {
    let Some(arr) = results.as_array() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (k, r) in arr.iter().enumerate() {
        let Some(v) = r.get("value") else { continue };
        let Some(labels) = v.get("rectanglelabels") else {
            continue;
        };
        let ctx = format!("{what} result {}", k + 1);
        let label = labels
            .as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("{ctx}: `rectanglelabels` names no label")))?;
        let n = |key: &str| {
            v.get(key)
                .and_then(Value::as_f64)
                .ok_or_else(|| bad(format!("{ctx} ({label}): `value.{key}` must be a number")))
        };
        let (x, y, w, h) = (n("x")?, n("y")?, n("width")?, n("height")?);
        let rotation = v.get("rotation").and_then(Value::as_f64).unwrap_or(0.0);
        let dim = |key: &str| {
            r.get(key)
                .and_then(Value::as_f64)
                .filter(|d| *d >= 1.0 && *d <= u32::MAX as f64)
                .map(|d| d.round() as u32)
        };
        let size = dim("original_width").zip(dim("original_height"));
        // Percent box, rotated about its top-left corner when rotation != 0 (in percent units
        // of each axis, scaled back to pixels by the caller).
        let bbox = if rotation.abs() > 1e-9 {
            let (sx, sy) = size
                .map(|(a, b)| (a as f64, b as f64))
                .unwrap_or((1.0, 1.0));
            let (px, py, pw, ph) = (x * sx, y * sy, w * sx, h * sy);
            let (s, c) = rotation.to_radians().sin_cos();
            let corners = [(0.0, 0.0), (pw, 0.0), (pw, ph), (0.0, ph)]
                .map(|(dx, dy)| (px + dx * c - dy * s, py + dx * s + dy * c));
            let x1 = corners.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
            let x2 = corners
                .iter()
                .map(|p| p.0)
                .fold(f64::NEG_INFINITY, f64::max);
            let y1 = corners.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
            let y2 = corners
                .iter()
                .map(|p| p.1)
                .fold(f64::NEG_INFINITY, f64::max);
            BBox::new(x1 / sx, y1 / sy, (x2 - x1) / sx, (y2 - y1) / sy)
        } else {
            BBox::new(x, y, w, h)
        };
        out.push(Rect {
            label: label.to_string(),
            bbox,
            score: r.get("score").and_then(Value::as_f64),
            size,
        });
    }
    Ok(out)
}

fn read_task(
    t: &Value,
    file: &Path,
    n: usize,
    root: &Path,
    labels: &mut Vec<String>,
) -> Result<ImageBoxes> {
    let bad = |m: String| BoxFormatError::invalid(file, None, format!("task {n}: {m}"));
    let data = t.get("data").ok_or_else(|| bad("no `data`".into()))?;
    let rel = image_file(data, root).ok_or_else(|| bad("`data` names no image".into()))?;

    let anns = t
        .get("annotations")
        .or_else(|| t.get("completions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let live: Vec<&Value> = anns
        .iter()
        .filter(|a| {
            !a.get("was_cancelled")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
        .collect();
    let chosen = live
        .iter()
        .find(|a| {
            a.get("ground_truth")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
        .or(live.first());
    let mut found: Vec<Rect> = match chosen {
        Some(a) => rects(&a["result"], &bad, "annotation")?,
        None => Vec::new(),
    };
    for (pi, p) in t
        .get("predictions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let pscore = p.get("score").and_then(Value::as_f64);
        for mut r in rects(&p["result"], &bad, &format!("prediction {}", pi + 1))? {
            r.score = Some(r.score.or(pscore).unwrap_or(1.0));
            found.push(r);
        }
    }

    let meta = t.get("meta");
    let meta_dim = |k: &str| {
        meta.and_then(|m| m.get(k))
            .and_then(Value::as_f64)
            .filter(|d| *d >= 1.0 && *d <= u32::MAX as f64)
            .map(|d| d.round() as u32)
    };
    let image_path = root.join(&rel);
    let (w, h) = match found.iter().find_map(|r| r.size) {
        Some(s) => s,
        None => match meta_dim("width").zip(meta_dim("height")) {
            Some(s) => s,
            None if image_path.is_file() => image_size(&image_path)?,
            None if found.is_empty() => (0, 0),
            None => {
                return Err(bad(
                    "boxes without `original_width`/`original_height` and no image to measure"
                        .into(),
                ))
            }
        },
    };
    let mut img = ImageBoxes::new(rel, w, h);
    img.split = meta
        .and_then(|m| m.get("split"))
        .and_then(Value::as_str)
        .and_then(Split::parse);
    for r in found {
        let (ow, oh) = r.size.unwrap_or((w, h));
        let px = BBox::new(
            r.bbox.x / 100.0 * ow as f64,
            r.bbox.y / 100.0 * oh as f64,
            r.bbox.w / 100.0 * ow as f64,
            r.bbox.h / 100.0 * oh as f64,
        );
        let bbox = fit_box(px, ow, oh)
            .map_err(|m| bad(format!("box ({}) of {}: {m}", r.label, img.file)))?;
        note_label(labels, &r.label);
        img.boxes.push(LabeledBox {
            label: r.label,
            bbox,
            score: r.score,
        });
    }
    Ok(img)
}

/// A labeling config with `<RectangleLabels>` of `labels`.
pub fn label_config(labels: &[String]) -> String {
    let mut s = String::from(
        "<View>\n  <Image name=\"image\" value=\"$image\"/>\n  <RectangleLabels name=\"label\" toName=\"image\">\n",
    );
    for l in labels {
        s.push_str(&format!("    <Label value=\"{}\"/>\n", escape(l.as_str())));
    }
    s.push_str("  </RectangleLabels>\n</View>\n");
    s
}

fn result(task: usize, k: usize, img: &ImageBoxes, b: &LabeledBox) -> Value {
    let (w, h) = (img.width as f64, img.height as f64);
    let mut r = json!({
        "id": format!("t{task}b{k}"),
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": img.width,
        "original_height": img.height,
        "image_rotation": 0,
        "value": {
            "x": b.bbox.x / w * 100.0,
            "y": b.bbox.y / h * 100.0,
            "width": b.bbox.w / w * 100.0,
            "height": b.bbox.h / h * 100.0,
            "rotation": 0,
            "rectanglelabels": [b.label],
        },
    });
    if let Some(s) = b.score {
        r["score"] = json!(s);
    }
    r
}

/// Write `tasks.json` and `label_config.xml`; returns the files written.
pub(crate) fn write(ds: &BoxDataset, out: &Path, opts: &WriteOptions) -> Result<Vec<String>> {
    let abs = std::fs::canonicalize(out).map_err(|e| BoxFormatError::io(out, e))?;
    let doc_root = opts
        .label_studio_document_root
        .clone()
        .unwrap_or_else(|| "/".into());
    let doc_root = std::fs::canonicalize(&doc_root).unwrap_or(doc_root);
    let mut tasks = Vec::new();
    for (i, img) in ds.images.iter().enumerate() {
        let dest = abs.join(super::image_dest(BoxFormat::LabelStudio, img));
        let rel = dest
            .strip_prefix(&doc_root)
            .map_err(|_| BoxFormatError::Write {
                format: BoxFormat::LabelStudio,
                message: format!(
                    "the output folder {} is not under the document root {}",
                    abs.display(),
                    doc_root.display()
                ),
            })?;
        let mut task = json!({
            "data": {"image": format!("{LOCAL_FILES}{}", encode_path(&super::slash(rel)))},
            "meta": {"width": img.width, "height": img.height},
        });
        if let Some(s) = img.split {
            task["meta"]["split"] = json!(s.as_str());
        }
        let human: Vec<Value> = img
            .boxes
            .iter()
            .enumerate()
            .filter(|(_, b)| b.score.is_none())
            .map(|(k, b)| result(i + 1, k + 1, img, b))
            .collect();
        let scored: Vec<&LabeledBox> = img.boxes.iter().filter(|b| b.score.is_some()).collect();
        if !human.is_empty() {
            task["annotations"] =
                json!([{"result": human, "was_cancelled": false, "ground_truth": false}]);
        }
        if !scored.is_empty() {
            let results: Vec<Value> = img
                .boxes
                .iter()
                .enumerate()
                .filter(|(_, b)| b.score.is_some())
                .map(|(k, b)| result(i + 1, k + 1, img, b))
                .collect();
            let mean = scored.iter().filter_map(|b| b.score).sum::<f64>() / scored.len() as f64;
            task["predictions"] =
                json!([{"model_version": "yuxuan", "score": mean, "result": results}]);
        }
        tasks.push(task);
    }
    Ok(vec![
        write_file(out, TASKS_FILE, &to_json_bytes(&Value::Array(tasks)))?,
        write_file(out, CONFIG_FILE, label_config(&ds.labels).as_bytes())?,
    ])
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    const TASKS: &str = r#"[{
      "id": 1,
      "data": {"image": "/data/upload/3/1a2b3c4d-street.jpg"},
      "annotations": [
        {"was_cancelled": true, "result": []},
        {"result": [{"type": "rectanglelabels", "from_name": "label", "to_name": "image",
          "original_width": 200, "original_height": 100,
          "value": {"x": 10, "y": 20, "width": 50, "height": 30, "rotation": 0, "rectanglelabels": ["car"]}}]}
      ],
      "predictions": [{"model_version": "m", "score": 0.4, "result": [
        {"type": "rectanglelabels", "original_width": 200, "original_height": 100, "score": 0.9,
         "value": {"x": 0, "y": 0, "width": 10, "height": 10, "rectanglelabels": ["person"]}},
        {"type": "rectanglelabels", "original_width": 200, "original_height": 100,
         "value": {"x": 50, "y": 50, "width": 10, "height": 10, "rotation": 90, "rectanglelabels": ["car"]}}
      ]}]
    }, {"data": {"image": "/data/upload/3/99999999-empty.jpg"}}]"#;

    #[test]
    fn reads_percent_boxes_and_predictions() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("export.json");
        std::fs::write(&f, TASKS).unwrap();
        assert_eq!(BoxFormat::detect(&f), Some(BoxFormat::LabelStudio));
        let ds = read(dir.path()).unwrap();
        assert_eq!(ds.labels, ["car", "person"]);
        let s = &ds.images[0];
        assert_eq!(s.file, "street.jpg");
        assert_eq!((s.width, s.height), (200, 100));
        assert_eq!(s.boxes[0].bbox, BBox::new(20.0, 20.0, 100.0, 30.0));
        assert_eq!(s.boxes[0].score, None);
        assert_eq!(s.boxes[1].bbox, BBox::new(0.0, 0.0, 20.0, 10.0));
        assert_eq!(s.boxes[1].score, Some(0.9));
        // Rotated 90 degrees clockwise about (100, 50): spans x 90..100, y 50..70.
        let r = s.boxes[2].bbox;
        assert!(
            (r.x - 90.0).abs() < 1e-9 && (r.y - 50.0).abs() < 1e-9,
            "{r:?}"
        );
        assert!(
            (r.w - 10.0).abs() < 1e-9 && (r.h - 20.0).abs() < 1e-9,
            "{r:?}"
        );
        assert_eq!(s.boxes[2].score, Some(0.4));
        let e = &ds.images[1];
        assert_eq!(
            (e.file.as_str(), e.width, e.boxes.len()),
            ("empty.jpg", 0, 0)
        );
    }

    #[test]
    fn bad_results_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("export.json");
        std::fs::write(&f, TASKS.replace("\"x\": 10,", "\"x\": \"ten\",")).unwrap();
        let e = read(&f).unwrap_err().to_string();
        assert!(
            e.contains(
                "export.json: task 1: annotation result 1 (car): `value.x` must be a number"
            ),
            "{e}"
        );
        std::fs::write(&f, TASKS.replace("\"x\": 10,", "\"x\": 90,")).unwrap();
        let e = read(&f).unwrap_err().to_string();
        assert!(
            e.contains("task 1: box (car) of street.jpg")
                && e.contains("outside the 200x100 image"),
            "{e}"
        );
    }

    #[test]
    fn writes_tasks_and_config() {
        let ds = sample();
        let dir = tempfile::tempdir().unwrap();
        let opts = WriteOptions {
            label_studio_document_root: Some(dir.path().to_path_buf()),
        };
        let sum = write(&ds, BoxFormat::LabelStudio, dir.path(), &opts).unwrap();
        assert_eq!(sum.files, ["label_config.xml", "tasks.json"]);
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("tasks.json")).unwrap()).unwrap();
        assert_eq!(v[0]["data"]["image"], "/data/local-files/?d=images/a.png");
        let r = &v[0]["annotations"][0]["result"][0];
        assert_eq!(r["original_width"], 64);
        assert_eq!(r["value"]["width"], 10.0 / 64.0 * 100.0);
        assert_eq!(r["value"]["rectanglelabels"][0], "cat");
        assert_eq!(v[0]["predictions"][0]["result"][0]["score"], 0.75);
        assert!(v[2].get("annotations").is_none());
        let cfg = std::fs::read_to_string(dir.path().join("label_config.xml")).unwrap();
        assert!(cfg.contains("<Label value=\"red car 汽车\"/>"), "{cfg}");
        place_images(&ds, BoxFormat::LabelStudio, dir.path());
        let back = read(dir.path()).unwrap();
        assert_eq!(back.images[0].file, "images/a.png");
        assert_same(&ds, &back, 1e-9, true);
    }
}

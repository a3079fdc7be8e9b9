//! COCO object detection JSON.
//!
//! Reads one file (`instances_val2017.json`, `annotations.json`, `train.json`) or a folder: every
//! COCO file in `annotations/` and in the folder itself, the split of each from its name
//! (`instances_train2017.json`, `val.json`). `bbox` is `[x, y, w, h]` in pixels; categories are
//! matched by id and listed in the file's order. A result list beside an instances file
//! (`predictions_val.json` for `instances_val.json`: `[{image_id, category_id, bbox, score}]`)
//! adds scored boxes; a `score` on an annotation makes it scored too. Crowd annotations are read
//! as boxes like the others. An image's `file` is its `file_name` as found under the root (the
//! folder above `annotations/`, else the JSON's folder), trying `images/<split>/`, `images/` and
//! `<split>/` before keeping `file_name` as written.
//!
//! Writes `annotations/instances_{train,val,test}.json` (one per split present; images without
//! a split in `annotations/instances.json`, which is the only file without splits): image and
//! annotation ids from 1, categories from the labels in order (ids from 1, `supercategory`
//! `"none"`), `area` = w·h, `iscrowd: 0`, `file_name` the image's file name (under
//! `images/<split>/`, see [`super::image_dest`]). Scored boxes go to
//! `annotations/predictions_<split>.json` (`predictions.json`) as COCO results.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{
    fit_box, json_kind, list_files, normalize, note_label, read_json, relative_to, to_json_bytes,
    write_file, BoxDataset, BoxFormat, BoxFormatError, ImageBoxes, LabeledBox, Result, Split,
};
use crate::domain::BBox;

/// Read a COCO file or folder (see the module docs).
pub fn read(path: &Path) -> Result<BoxDataset> {
    let (files, root) = if path.is_file() {
        let parent = path.parent().unwrap_or(Path::new("."));
        let root = if parent.file_name().is_some_and(|n| n == "annotations") {
            parent.parent().unwrap_or(parent)
        } else {
            parent
        };
        (vec![path.to_path_buf()], root.to_path_buf())
    } else {
        let mut files = list_files(&path.join("annotations"), &["json"]);
        files.extend(list_files(path, &["json"]));
        files.retain(|f| json_kind(f) == Some(BoxFormat::Coco));
        if files.is_empty() {
            return Err(BoxFormatError::invalid(
                path,
                None,
                "no COCO .json (with images and annotations) here or in annotations/",
            ));
        }
        (files, path.to_path_buf())
    };
    let mut ds = BoxDataset::default();
    for f in &files {
        read_file(f, &root, &mut ds)?;
    }
    Ok(ds)
}

fn id_key(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn bbox_of(v: Option<&Value>) -> Option<BBox> {
    let a = v?.as_array()?;
    if a.len() != 4 {
        return None;
    }
    let n: Vec<f64> = a.iter().filter_map(Value::as_f64).collect();
    (n.len() == 4).then(|| BBox::new(n[0], n[1], n[2], n[3]))
}

fn read_file(file: &Path, root: &Path, ds: &mut BoxDataset) -> Result<()> {
    let v = read_json(file)?;
    let bad = |m: String| BoxFormatError::invalid(file, None, m);
    let split = file
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(Split::from_file_stem);
    let list = |key: &str| -> Result<Vec<Value>> {
        match v.get(key) {
            Some(Value::Array(a)) => Ok(a.clone()),
            None | Some(Value::Null) if key == "categories" => Ok(Vec::new()),
            _ => Err(bad(format!("`{key}` must be a list"))),
        }
    };
    let json_dir = file.parent().unwrap_or(Path::new("."));

    let mut cats: HashMap<String, String> = HashMap::new();
    for (i, c) in list("categories")?.iter().enumerate() {
        let id = id_key(c.get("id")).ok_or_else(|| bad(format!("category {} has no id", i + 1)))?;
        let name = c
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("category {id} has no name")))?;
        note_label(&mut ds.labels, name);
        cats.insert(id, name.to_string());
    }

    let mut by_id: HashMap<String, usize> = HashMap::new();
    for (i, im) in list("images")?.iter().enumerate() {
        let id = id_key(im.get("id")).ok_or_else(|| bad(format!("image {} has no id", i + 1)))?;
        let name = im
            .get("file_name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("image {id} has no file_name")))?;
        let dim = |k: &str| {
            im.get(k)
                .and_then(Value::as_f64)
                .filter(|d| *d >= 1.0 && d.fract() == 0.0 && *d <= u32::MAX as f64)
                .map(|d| d as u32)
                .ok_or_else(|| {
                    bad(format!(
                        "image {id} ({name}): `{k}` must be a positive whole number"
                    ))
                })
        };
        let mut img = ImageBoxes::new(
            resolve_image(root, json_dir, name, split),
            dim("width")?,
            dim("height")?,
        );
        img.split = split;
        if by_id.insert(id.clone(), ds.images.len()).is_some() {
            return Err(bad(format!("image id {id} appears twice")));
        }
        ds.images.push(img);
    }

    let mut add = |a: &Value, what: &str, score: Option<f64>| -> Result<()> {
        let aid = id_key(a.get("id")).unwrap_or_else(|| "?".into());
        let img_id = id_key(a.get("image_id"))
            .ok_or_else(|| bad(format!("{what} {aid} has no image_id")))?;
        let idx = *by_id.get(&img_id).ok_or_else(|| {
            bad(format!(
                "{what} {aid} names image {img_id}, which is not among the images"
            ))
        })?;
        let cat = id_key(a.get("category_id"))
            .ok_or_else(|| bad(format!("{what} {aid} has no category_id")))?;
        let label = cats.get(&cat).ok_or_else(|| {
            bad(format!(
                "{what} {aid} names category {cat}, which is not among the categories"
            ))
        })?;
        let bbox = bbox_of(a.get("bbox")).ok_or_else(|| {
            bad(format!(
                "{what} {aid}: `bbox` must be [x, y, width, height]"
            ))
        })?;
        let img = &mut ds.images[idx];
        let bbox = fit_box(bbox, img.width, img.height)
            .map_err(|m| bad(format!("{what} {aid} of {}: {m}", img.file)))?;
        let score = score.or_else(|| a.get("score").and_then(Value::as_f64));
        img.boxes.push(LabeledBox {
            label: label.clone(),
            bbox,
            score,
        });
        Ok(())
    };
    for a in list("annotations")?.iter() {
        add(a, "annotation", None)?;
    }
    if let Some(pred) = predictions_file(file) {
        let pv = read_json(&pred)?;
        let arr = pv.as_array().ok_or_else(|| {
            BoxFormatError::invalid(&pred, None, "a COCO results file must be a list")
        })?;
        for (i, a) in arr.iter().enumerate() {
            let s = a.get("score").and_then(Value::as_f64).ok_or_else(|| {
                BoxFormatError::invalid(&pred, None, format!("result {} has no score", i + 1))
            })?;
            add(a, "result", Some(s)).map_err(|e| match e {
                BoxFormatError::Invalid { message, .. } => {
                    BoxFormatError::invalid(&pred, None, message)
                }
                e => e,
            })?;
        }
    }
    Ok(())
}

/// `predictions_val.json` beside `instances_val.json`, if there is one.
fn predictions_file(instances: &Path) -> Option<PathBuf> {
    let name = instances.file_name()?.to_str()?;
    if !name.contains("instances") {
        return None;
    }
    let p = instances.with_file_name(name.replacen("instances", "predictions", 1));
    p.is_file().then_some(p)
}

fn resolve_image(root: &Path, json_dir: &Path, name: &str, split: Option<Split>) -> String {
    let rel = Path::new(name);
    if rel.is_absolute() {
        return name.to_string();
    }
    let mut tries: Vec<PathBuf> = vec![root.join(rel), json_dir.join(rel)];
    if let Some(s) = split {
        tries.push(root.join("images").join(s.as_str()).join(rel));
    }
    tries.push(root.join("images").join(rel));
    if let Some(s) = split {
        tries.push(root.join(s.as_str()).join(rel));
    }
    for t in tries {
        if t.is_file() {
            return relative_to(root, &t);
        }
    }
    super::slash(&normalize(rel))
}

/// Write the instances (and predictions) files; returns the files written.
pub(crate) fn write(ds: &BoxDataset, out: &Path) -> Result<Vec<String>> {
    let mut groups: Vec<(Option<Split>, Vec<&ImageBoxes>)> = Vec::new();
    for s in Split::ALL.map(Some).into_iter().chain([None]) {
        let imgs: Vec<&ImageBoxes> = ds.images.iter().filter(|i| i.split == s).collect();
        if !imgs.is_empty() {
            groups.push((s, imgs));
        }
    }
    if groups.is_empty() {
        groups.push((None, Vec::new()));
    }
    let cat_id: HashMap<&str, usize> = ds
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i + 1))
        .collect();
    let categories: Vec<Value> = ds
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| json!({"id": i + 1, "name": l, "supercategory": "none"}))
        .collect();
    let mut written = Vec::new();
    for (split, imgs) in groups {
        let suffix = split.map(|s| format!("_{s}")).unwrap_or_default();
        let mut images = Vec::new();
        let mut anns = Vec::new();
        let mut preds = Vec::new();
        for (i, img) in imgs.iter().enumerate() {
            let image_id = i + 1;
            images.push(json!({
                "id": image_id,
                "file_name": img.file_name(),
                "width": img.width,
                "height": img.height,
            }));
            for b in &img.boxes {
                let bb = [b.bbox.x, b.bbox.y, b.bbox.w, b.bbox.h];
                let category_id = cat_id[b.label.as_str()];
                match b.score {
                    None => anns.push(json!({
                        "id": anns.len() + 1,
                        "image_id": image_id,
                        "category_id": category_id,
                        "bbox": bb,
                        "area": b.bbox.area(),
                        "iscrowd": 0,
                    })),
                    Some(score) => preds.push(json!({
                        "image_id": image_id,
                        "category_id": category_id,
                        "bbox": bb,
                        "score": score,
                    })),
                }
            }
        }
        let doc = json!({
            "info": {"description": "object boxes exported by yuxuan", "version": "1.0"},
            "licenses": [],
            "images": images,
            "annotations": anns,
            "categories": categories,
        });
        written.push(write_file(
            out,
            &format!("annotations/instances{suffix}.json"),
            &to_json_bytes(&doc),
        )?);
        if !preds.is_empty() {
            written.push(write_file(
                out,
                &format!("annotations/predictions{suffix}.json"),
                &to_json_bytes(&Value::Array(preds)),
            )?);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    const DOC: &str = r#"{
      "images": [{"id": 7, "file_name": "x.jpg", "width": 100, "height": 50},
                 {"id": 8, "file_name": "y.jpg", "width": 10, "height": 10}],
      "categories": [{"id": 3, "name": "car"}, {"id": 1, "name": "person"}],
      "annotations": [
        {"id": 1, "image_id": 7, "category_id": 1, "bbox": [10, 5, 20, 30], "area": 600, "iscrowd": 0},
        {"id": 2, "image_id": 7, "category_id": 3, "bbox": [90, 40, 11, 10.5], "iscrowd": 0}
      ]}"#;

    #[test]
    fn reads_categories_by_id_and_clips_slightly_outside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("annotations")).unwrap();
        let f = dir.path().join("annotations/instances_val2017.json");
        std::fs::write(&f, DOC).unwrap();
        png(&dir.path().join("images/val/x.jpg"), 4, 4);
        assert_eq!(BoxFormat::detect(dir.path()), Some(BoxFormat::Coco));
        assert_eq!(BoxFormat::detect(&f), Some(BoxFormat::Coco));
        let ds = read(dir.path()).unwrap();
        assert_eq!(ds.labels, ["car", "person"]);
        assert_eq!(ds.images.len(), 2);
        let x = &ds.images[0];
        assert_eq!(x.file, "images/val/x.jpg");
        assert_eq!(ds.images[1].file, "y.jpg");
        assert_eq!(x.split, Some(Split::Val));
        assert_eq!(x.boxes[0].label, "person");
        assert_eq!(x.boxes[0].bbox, BBox::new(10.0, 5.0, 20.0, 30.0));
        assert_eq!(x.boxes[1].label, "car");
        assert_eq!(x.boxes[1].bbox, BBox::new(90.0, 40.0, 10.0, 10.0));
    }

    #[test]
    fn a_missing_image_or_category_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.json");
        std::fs::write(
            &f,
            DOC.replace(
                "\"image_id\": 7, \"category_id\": 3",
                "\"image_id\": 9, \"category_id\": 3",
            ),
        )
        .unwrap();
        let e = read(&f).unwrap_err().to_string();
        assert!(
            e.contains("bad.json")
                && e.contains("annotation 2 names image 9, which is not among the images"),
            "{e}"
        );
        std::fs::write(&f, DOC.replace("\"category_id\": 3", "\"category_id\": 4")).unwrap();
        let e = read(&f).unwrap_err().to_string();
        assert!(
            e.contains("annotation 2 names category 4, which is not among the categories"),
            "{e}"
        );
        std::fs::write(&f, DOC.replace("[90, 40, 11, 10.5]", "[-30, 0, 40, 10]")).unwrap();
        let e = read(&f).unwrap_err().to_string();
        assert!(
            e.contains("annotation 2 of x.jpg: box") && e.contains("outside the 100x50 image"),
            "{e}"
        );
    }

    #[test]
    fn writes_the_standard_layout() {
        let ds = sample();
        let dir = tempfile::tempdir().unwrap();
        let sum = write(&ds, BoxFormat::Coco, dir.path(), &WriteOptions::default()).unwrap();
        assert_eq!(
            sum.files,
            [
                "annotations/instances_test.json",
                "annotations/instances_train.json",
                "annotations/instances_val.json",
                "annotations/predictions_train.json"
            ]
        );
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("annotations/instances_train.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            v["categories"][0],
            serde_json::json!({"id": 1, "name": "cat", "supercategory": "none"})
        );
        assert_eq!(
            v["annotations"][1]["bbox"],
            serde_json::json!([20.5, 10.25, 43.5, 37.75])
        );
        assert_eq!(v["annotations"][1]["category_id"], 3);
        assert_eq!(v["annotations"][1]["iscrowd"], 0);
        assert_eq!(v["annotations"][0]["area"], 120.0);
        assert_eq!(v["images"][0]["id"], 1);
        let p: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("annotations/predictions_train.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(p[0]["score"], 0.75);
        // Without splits: one file.
        let mut flat = sample();
        for i in &mut flat.images {
            i.split = None;
            i.boxes.retain(|b| b.score.is_none());
        }
        let dir = tempfile::tempdir().unwrap();
        let sum = write(&flat, BoxFormat::Coco, dir.path(), &WriteOptions::default()).unwrap();
        assert_eq!(sum.files, ["annotations/instances.json"]);
    }
}

//! Dataset export and label import: round trips, path safety, real readers (the venv's
//! Python: `csv`, `json`, a torchvision-style ImageFolder walk), atomicity on cancel and on
//! failure, CLI.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use yuxuan::domain::{
    sets, Action, FieldRecord, ItemKind, NewDecision, NewItem, NewLabel, TaskKind,
};
use yuxuan::exchange::split::SplitFractions;
use yuxuan::exchange::{
    export, import_labels, ExchangeError, ExportFormat, ExportRequest, ImportFormat,
    LabelImportRequest, LinkMode,
};
use yuxuan::ingest::images::UnknownLabels;
use yuxuan::jobs::JobCtx;
use yuxuan::store::models::NewModel;
use yuxuan::store::predictions::NewPrediction;
use yuxuan::store::Store;

use crate::common;

/// Labels that try every way to break a file name.
const HOSTILE: &[&str] = &[
    "../x",
    "a/b",
    "CON",
    "Cat",
    "cat",
    "中文标签",
    "nul.txt",
    ".hidden",
    "trailing.",
];

fn long_label() -> String {
    "很长的标签名".repeat(30)
}

/// Write a real PNG (distinct content per `seed`).
fn png(path: &Path, seed: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = image::RgbImage::from_fn(8, 8, |x, y| {
        image::Rgb([
            (seed * 37 % 256) as u8,
            (x * 30) as u8,
            (y * 30 + seed) as u8,
        ])
    });
    img.save(path).unwrap();
}

fn hash(path: &Path) -> String {
    blake3::hash(&std::fs::read(path).unwrap())
        .to_hex()
        .to_string()
}

/// An image project whose items are real PNG files under `dir/src` (some sharing a file
/// name in different folders), with `labels` in the label set.
fn project_with_files(dir: &Path, name: &str, labels: &[String], n: usize) -> (Store, Vec<i64>) {
    let mut store =
        Store::create(&dir.join(format!("{name}.yuxuan")), name, TaskKind::Image).unwrap();
    store
        .add_labels(
            sets::CLASS,
            &labels.iter().map(NewLabel::named).collect::<Vec<_>>(),
        )
        .unwrap();
    let items: Vec<NewItem> = (0..n)
        .map(|i| {
            // Same file name in several folders, and names differing only by case.
            let file = match i % 3 {
                0 => format!("p{i}/photo.png"),
                1 => format!("u{i}/Shot.png"),
                _ => format!("l{i}/shot.png"),
            };
            let p = dir.join("src").join(file);
            if !p.exists() {
                png(&p, i as u32);
            }
            let mut it = NewItem::new(ItemKind::Image, p.to_string_lossy().into_owned());
            it.content_hash = Some(hash(&p));
            it
        })
        .collect();
    let ids = store
        .insert_items(&items)
        .unwrap()
        .into_iter()
        .map(|x| x.id())
        .collect();
    (store, ids)
}

/// A second project over the same files, without labels (the target of round trips).
fn fresh_copy(dir: &Path, from: &Store, name: &str) -> Store {
    let mut store =
        Store::create(&dir.join(format!("{name}.yuxuan")), name, TaskKind::Image).unwrap();
    let items: Vec<NewItem> = from
        .items_of_kind(ItemKind::Image)
        .unwrap()
        .into_iter()
        .map(|it| {
            let mut n = NewItem::new(ItemKind::Image, it.source_path);
            n.content_hash = it.content_hash;
            n
        })
        .collect();
    store.insert_items(&items).unwrap();
    store
}

fn decide(store: &mut Store, item_id: i64, label: &str, prediction_id: Option<i64>) {
    store
        .record_decision(&NewDecision {
            item_id,
            label_set: sets::CLASS.into(),
            label: Some(label.into()),
            annotator: "ann".into(),
            action: if prediction_id.is_some() {
                Action::Accept
            } else {
                Action::Correct
            },
            ms_spent: 1500,
            prediction_id,
        })
        .unwrap();
}

/// Labels by source path.
fn labels_by_path(store: &Store) -> BTreeMap<String, String> {
    let paths: BTreeMap<i64, String> = store
        .items_of_kind(ItemKind::Image)
        .unwrap()
        .into_iter()
        .map(|i| (i.id, i.source_path))
        .collect();
    store
        .current_labels(sets::CLASS)
        .unwrap()
        .into_iter()
        .map(|(id, l)| (paths[&id].clone(), l))
        .collect()
}

fn python(script: &str, args: &[&Path]) -> String {
    let py = yuxuan::assets::venv_python();
    let py = if py.exists() {
        py
    } else {
        PathBuf::from("python3")
    };
    let out = Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Everything under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if p.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// No temp folder of an export is left next to `out`.
fn no_leftovers(parent: &Path) {
    let left: Vec<String> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial-"))
        .collect();
    assert!(left.is_empty(), "temp folders left behind: {left:?}");
}

/// A project labelled with the hostile names, an active model with predictions for every
/// item, and human decisions on every other item (with the prediction shown).
fn labelled_project(dir: &Path) -> (Store, Vec<i64>, Vec<String>) {
    let mut labels: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    labels.push(long_label());
    let (mut store, ids) = project_with_files(dir, "main", &labels, 24);
    let model = store
        .add_model(&NewModel {
            label_set: sets::CLASS.into(),
            kind: "test".into(),
            parent_id: None,
            training_run_id: None,
            labels: labels.clone(),
            spec: serde_json::json!({}),
            metrics: None,
            weights_path: None,
            weights_sha256: None,
        })
        .unwrap();
    store.activate_model(model.id).unwrap();
    let preds: Vec<NewPrediction> = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| NewPrediction {
            item_id: id,
            top: vec![(
                labels[(i + 1) % labels.len()].clone(),
                if i % 4 == 1 { 0.95 } else { 0.4 },
            )],
        })
        .collect();
    store
        .put_predictions(sets::CLASS, Some(model.id), &preds)
        .unwrap();
    for (i, &id) in ids.iter().enumerate() {
        if i % 2 == 0 {
            let p = store
                .prediction(id, sets::CLASS, Some(model.id))
                .unwrap()
                .unwrap();
            decide(&mut store, id, &labels[(i / 2) % labels.len()], Some(p.id));
        }
    }
    (store, ids, labels)
}

#[test]
fn csv_and_jsonl_parse_with_python_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ids, _) = labelled_project(dir.path());
    let csv_out = dir.path().join("csv");
    let s = export(
        &store,
        &ExportRequest::new(ExportFormat::Csv, &csv_out),
        &JobCtx::new("t"),
    )
    .unwrap();
    assert_eq!(
        (s.items, s.human, s.machine, s.unlabeled),
        (ids.len() as u64, 12, 0, 12)
    );
    let jsonl_out = dir.path().join("jsonl");
    export(
        &store,
        &ExportRequest::new(ExportFormat::Jsonl, &jsonl_out),
        &JobCtx::new("t"),
    )
    .unwrap();

    // Python's csv and json modules read them; both agree with the store.
    let got = python(
        r#"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/labels.csv", encoding="utf-8", newline="")))
lines = [json.loads(l) for l in open(sys.argv[2] + "/labels.jsonl", encoding="utf-8")]
assert len(rows) == len(lines) == 12, (len(rows), len(lines))
for r, j in zip(rows, lines):
    assert r["path"] == j["path"] and r["label"] == j["label"], (r, j)
    assert r["source"] == j["source"] == "human"
    assert r["annotator"] == "ann" and r["action"] == "accept" and int(r["ms_spent"]) == 1500
    assert int(r["model_version"]) == j["model_version"] == 1 and float(r["score"]) == j["score"]
    assert r["decided_at"].endswith("Z")
print(json.dumps({r["path"]: r["label"] for r in rows}, ensure_ascii=False))
"#,
        &[&csv_out, &jsonl_out],
    );
    let from_python: BTreeMap<String, String> = serde_json::from_str(got.trim()).unwrap();
    assert_eq!(from_python, labels_by_path(&store));

    // Round trip: a fresh project over the same files gets the same labels back.
    let mut fresh = fresh_copy(dir.path(), &store, "fresh");
    let r = import_labels(
        &mut fresh,
        &LabelImportRequest::new(ImportFormat::Csv, csv_out.join("labels.csv")),
        &JobCtx::new("t"),
    )
    .unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.decisions, 12);
    assert_eq!(labels_by_path(&fresh), labels_by_path(&store));
    // Importing again changes nothing.
    let r = import_labels(
        &mut fresh,
        &LabelImportRequest::new(ImportFormat::Csv, csv_out.join("labels.csv")),
        &JobCtx::new("t"),
    )
    .unwrap();
    assert_eq!((r.decisions, r.unchanged), (0, 12));
}

#[test]
fn machine_labels_only_when_asked_marked_and_above_min_score() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = labelled_project(dir.path());
    let out = dir.path().join("with-preds");
    let mut req = ExportRequest::new(ExportFormat::Jsonl, &out);
    req.include_predictions = true;
    req.min_score = 0.9;
    let s = export(&store, &req, &JobCtx::new("t")).unwrap();
    // Odd items have no human label; those with i % 4 == 1 were predicted at 0.95.
    assert_eq!((s.human, s.machine, s.unlabeled), (12, 6, 6));
    let text = std::fs::read_to_string(out.join("labels.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let machine: Vec<&serde_json::Value> =
        rows.iter().filter(|r| r["source"] == "machine").collect();
    assert_eq!(machine.len(), 6);
    for r in machine {
        assert_eq!(r["score"], 0.95);
        assert!(r["annotator"].is_null() && r["decided_at"].is_null());
    }
    // The round trip keeps machine labels as predictions, not decisions.
    let mut fresh = fresh_copy(dir.path(), &store, "fresh");
    let csv_out = dir.path().join("csv-preds");
    let mut req = ExportRequest::new(ExportFormat::Csv, &csv_out);
    req.include_predictions = true;
    req.min_score = 0.9;
    export(&store, &req, &JobCtx::new("t")).unwrap();
    let r = import_labels(
        &mut fresh,
        &LabelImportRequest::new(ImportFormat::Csv, csv_out.join("labels.csv")),
        &JobCtx::new("t"),
    )
    .unwrap();
    assert_eq!((r.decisions, r.predictions), (12, 6), "{:?}", r.problems);
    assert_eq!(labels_by_path(&fresh), labels_by_path(&store));
}

#[test]
fn imagefolder_with_hostile_labels_walks_like_torchvision_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, labels) = labelled_project(dir.path());
    let out = dir.path().join("exports").join("imagefolder");
    let mut req = ExportRequest::new(ExportFormat::ImageFolder, &out);
    req.split = Some(SplitFractions::parse("0.5,0.25,0.25").unwrap());
    req.seed = 42;
    req.link = LinkMode::Hard;
    let s = export(&store, &req, &JobCtx::new("t")).unwrap();
    assert_eq!(s.human, 12);
    assert_eq!(s.files_linked + s.files_copied, 12);
    assert_eq!(s.per_split.iter().map(|x| x.1).sum::<u64>(), 12);

    // Nothing escaped the output folder: the exports folder holds only it.
    assert_eq!(
        tree(&dir.path().join("exports"))
            .iter()
            .filter(|p| !p.starts_with("imagefolder"))
            .count(),
        0
    );
    // Every class folder is one safe component, unique case-insensitively, 中文 readable.
    let mut class_dirs = Vec::new();
    for split in ["train", "val", "test"] {
        if let Ok(rd) = std::fs::read_dir(out.join(split)) {
            for e in rd {
                class_dirs.push(e.unwrap().file_name().to_string_lossy().into_owned());
            }
        }
    }
    for d in &class_dirs {
        assert!(
            !d.starts_with('.') && !d.contains(['/', '\\', ':']) && d.len() <= 255,
            "{d:?}"
        );
        assert!(
            !["CON", "NUL"].contains(&d.split('.').next().unwrap().to_ascii_uppercase().as_str()),
            "{d:?}"
        );
    }
    assert!(class_dirs.iter().any(|d| d == "中文标签"), "{class_dirs:?}");

    // torchvision's ImageFolder walk (find_classes + make_dataset, emulated): sorted class
    // folders, files with IMG_EXTENSIONS, every file an image that opens.
    let got = python(
        r#"
import os, sys, json
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
root = sys.argv[1]
manifest = json.load(open(os.path.join(root, "yuxuan-export.json"), encoding="utf-8"))
out = {}
for split in ("train", "val", "test"):
    d = os.path.join(root, split)
    if not os.path.isdir(d):
        continue
    classes = sorted(e.name for e in os.scandir(d) if e.is_dir())
    class_to_idx = {c: i for i, c in enumerate(classes)}
    for c in classes:
        for r, _, files in sorted(os.walk(os.path.join(d, c), followlinks=True)):
            for f in sorted(files):
                assert f.lower().endswith(IMG_EXTENSIONS), f
                p = os.path.join(r, f)
                assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n", p
                out.setdefault(split, []).append([f, manifest["classes"][c], class_to_idx[c]])
print(json.dumps(out, ensure_ascii=False))
"#,
        &[&out],
    );
    let walked: BTreeMap<String, Vec<(String, String, usize)>> =
        serde_json::from_str(got.trim()).unwrap();
    let total: usize = walked.values().map(|v| v.len()).sum();
    assert_eq!(total, 12);
    let seen: std::collections::BTreeSet<&str> =
        walked.values().flatten().map(|x| x.1.as_str()).collect();
    let human: std::collections::BTreeSet<String> = labels_by_path(&store).into_values().collect();
    assert_eq!(seen, human.iter().map(|s| s.as_str()).collect());
    assert!(
        human.contains(&labels[3]) && human.contains(&labels[5]),
        "Cat and 中文 used: {human:?}"
    );

    // Same seed, same split.
    let out2 = dir.path().join("exports2");
    let mut req2 = req.clone();
    req2.out = out2.clone();
    req2.link = LinkMode::Copy;
    export(&store, &req2, &JobCtx::new("t")).unwrap();
    let strip = |t: Vec<String>| {
        t.into_iter()
            .filter(|p| !p.ends_with("yuxuan-export.json"))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(tree(&out)), strip(tree(&out2)));

    // Round trip through the folder (class folders mapped back by the manifest, files found
    // by content hash).
    let mut fresh = fresh_copy(dir.path(), &store, "fresh");
    let r = import_labels(
        &mut fresh,
        &LabelImportRequest::new(ImportFormat::ImageFolder, &out),
        &JobCtx::new("t"),
    )
    .unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(
        r.labels_added.len(),
        human.len(),
        "fresh project had no labels"
    );
    assert_eq!(labels_by_path(&fresh), labels_by_path(&store));
}

#[test]
fn colliding_file_names_are_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    let labels = vec!["one".to_string()];
    let (mut store, ids) = project_with_files(dir.path(), "p", &labels, 9);
    for &id in &ids {
        decide(&mut store, id, "one", None);
    }
    let out = dir.path().join("if");
    export(
        &store,
        &ExportRequest::new(ExportFormat::ImageFolder, &out),
        &JobCtx::new("t"),
    )
    .unwrap();
    let files: Vec<String> = std::fs::read_dir(out.join("one"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 9, "{files:?}");
    let lower: std::collections::BTreeSet<String> =
        files.iter().map(|f| f.to_lowercase()).collect();
    assert_eq!(lower.len(), 9, "case-insensitively distinct: {files:?}");
    for f in ["photo.png", "photo~2.png", "photo~3.png", "Shot.png"] {
        assert!(files.contains(&f.to_string()), "{f} in {files:?}");
    }
    let shots = files
        .iter()
        .filter(|f| f.to_lowercase().starts_with("shot"))
        .count();
    assert_eq!(shots, 6, "{files:?}");
}

#[test]
fn hf_imagefolder_metadata_points_at_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = labelled_project(dir.path());
    let out = dir.path().join("hf");
    let mut req = ExportRequest::new(ExportFormat::HfImageFolder, &out);
    req.split = Some(SplitFractions::parse("0.75,0.25").unwrap());
    export(&store, &req, &JobCtx::new("t")).unwrap();
    let got = python(
        r#"
import os, sys, json
root = sys.argv[1]
labels = {}
for split in sorted(os.listdir(root)):
    d = os.path.join(root, split)
    if not os.path.isdir(d):
        continue
    assert split in ("train", "val"), split
    rows = [json.loads(l) for l in open(os.path.join(d, "metadata.jsonl"), encoding="utf-8")]
    files = sorted(f for f in os.listdir(d) if f != "metadata.jsonl")
    assert sorted(r["file_name"] for r in rows) == files, (rows, files)
    for r in rows:
        assert r["source"] == "human" and isinstance(r["label"], str)
        labels[r["path"]] = r["label"]
print(json.dumps(labels, ensure_ascii=False))
"#,
        &[&out],
    );
    let labels: BTreeMap<String, String> = serde_json::from_str(got.trim()).unwrap();
    assert_eq!(labels, labels_by_path(&store));

    // Round trip: the folder is recognised as an HF imagefolder and its labels come back.
    assert_eq!(ImportFormat::detect(&out), ImportFormat::HfImageFolder);
    let mut fresh = fresh_copy(dir.path(), &store, "fresh");
    let r = import_labels(
        &mut fresh,
        &LabelImportRequest::new(ImportFormat::HfImageFolder, &out),
        &JobCtx::new("t"),
    )
    .unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.decisions, 12);
    assert_eq!(labels_by_path(&fresh), labels_by_path(&store));
}

#[test]
fn hf_imagefolder_written_by_hand_imports_with_problems_located() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = labelled_project(dir.path());
    // The layout `datasets` reads: train/ with metadata.jsonl, test/ with metadata.csv.
    let hf = dir.path().join("hf");
    let (train, test) = (hf.join("train"), hf.join("test"));
    std::fs::create_dir_all(&train).unwrap();
    std::fs::create_dir_all(&test).unwrap();
    let items = store.items_of_kind(ItemKind::Image).unwrap();
    let copy = |it: &yuxuan::domain::Item, to: &Path| {
        let name = Path::new(&it.source_path).file_name().unwrap().to_owned();
        std::fs::copy(&it.source_path, to.join(&name)).unwrap();
        name.to_string_lossy().into_owned()
    };
    let a = copy(&items[0], &train);
    let b = copy(&items[1], &train);
    let c = copy(&items[2], &test);
    std::fs::write(
        train.join("metadata.jsonl"),
        format!(
            "{{\"file_name\": \"{a}\", \"label\": \"x-ray\"}}\n\
             not json\n\
             {{\"file_name\": \"{b}\", \"label\": \"x-ray\", \"source\": \"machine\", \"score\": 0.8}}\n\
             {{\"file_name\": \"missing.png\", \"label\": \"x-ray\"}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        test.join("metadata.csv"),
        format!("file_name,label\n{c},photo\n"),
    )
    .unwrap();
    let mut fresh = fresh_copy(dir.path(), &store, "fresh");
    let r = import_labels(
        &mut fresh,
        &LabelImportRequest::new(ImportFormat::detect(&hf), &hf),
        &JobCtx::new("t"),
    )
    .unwrap();
    assert_eq!((r.rows, r.decisions, r.predictions), (5, 2, 1), "{r:?}");
    let locs: Vec<&str> = r.problems.iter().map(|p| p.location.as_str()).collect();
    assert_eq!(
        locs,
        vec!["train/metadata.jsonl line 2", "train/metadata.jsonl line 4"],
        "{:?}",
        r.problems
    );
    let got = labels_by_path(&fresh);
    assert_eq!(
        got.get(&items[0].source_path).map(String::as_str),
        Some("x-ray")
    );
    assert_eq!(
        got.get(&items[2].source_path).map(String::as_str),
        Some("photo")
    );
    assert!(
        !got.contains_key(&items[1].source_path),
        "a machine row is a prediction"
    );
}

#[test]
fn label_studio_tasks_have_the_real_shape_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ids, _) = labelled_project(dir.path());
    let out = dir.path().join("ls");
    let mut req = ExportRequest::new(ExportFormat::LabelStudio, &out);
    req.include_predictions = true;
    let s = export(&store, &req, &JobCtx::new("t")).unwrap();
    assert_eq!((s.human, s.machine), (12, 12));
    // The summary says what the file holds: every task carries the model's prediction.
    assert_eq!(s.with_prediction, 24);
    assert!(
        s.to_string().contains("24 carry the model's prediction"),
        "{s}"
    );
    // How to see the images in Label Studio: in the export's README and the summary's steps,
    // with the storage path of the images' common folder.
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    let images = dir.path().join("src");
    assert!(readme.contains("LOCAL_FILES_DOCUMENT_ROOT=/ "), "{readme}");
    assert!(
        readme.contains(&format!("absolute local path {}", images.display())),
        "{readme}"
    );
    assert!(readme.contains("/api/storages/localfiles"), "{readme}");
    assert_eq!(s.next_steps.len(), 4);
    // A document root of one's own: the task URLs are relative to it; a root that is not
    // above the images is refused.
    let mut rooted = ExportRequest::new(ExportFormat::LabelStudio, dir.path().join("ls-rooted"));
    rooted.ls_document_root = Some(dir.path().to_path_buf());
    export(&store, &rooted, &JobCtx::new("t")).unwrap();
    let tasks: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("ls-rooted/tasks.json")).unwrap(),
    )
    .unwrap();
    let url = tasks[0]["data"]["image"].as_str().unwrap();
    let rel = yuxuan::exchange::label_studio::decode_path(
        url.strip_prefix(yuxuan::exchange::label_studio::LOCAL_FILES)
            .unwrap(),
    );
    assert!(
        rel.starts_with("src/") && dir.path().join(&rel).exists(),
        "{rel}"
    );
    let readme = std::fs::read_to_string(dir.path().join("ls-rooted/README.md")).unwrap();
    assert!(
        readme.contains(&format!(
            "LOCAL_FILES_DOCUMENT_ROOT={} ",
            dir.path().display()
        )),
        "{readme}"
    );
    let mut wrong = ExportRequest::new(ExportFormat::LabelStudio, dir.path().join("ls-wrong"));
    wrong.ls_document_root = Some(dir.path().join("elsewhere"));
    let e = export(&store, &wrong, &JobCtx::new("t")).unwrap_err();
    assert!(
        e.to_string()
            .contains("not under the Label Studio document root"),
        "{e}"
    );
    python(
        r#"
import sys, json, xml.etree.ElementTree as ET
tasks = json.load(open(sys.argv[1] + "/tasks.json", encoding="utf-8"))
assert isinstance(tasks, list) and len(tasks) == 24
cfg = ET.parse(sys.argv[1] + "/label_config.xml").getroot()
choices = {c.get("value") for c in cfg.iter("Choice")}
names = {e.get("name") for e in cfg}
for t in tasks:
    assert t["data"]["image"].startswith("/data/local-files/?d=")
    for a in t["annotations"]:
        r = a["result"][0]
        assert r["type"] == "choices" and r["from_name"] in names and r["to_name"] in names
        assert r["value"]["choices"][0] in choices
        assert a["was_cancelled"] is False and a["lead_time"] == 1.5
    for p in t["predictions"]:
        assert p["model_version"] == "v1" and 0 <= p["score"] <= 1
        assert p["result"][0]["value"]["choices"][0] in choices
assert sum(len(t["annotations"]) for t in tasks) == 12
assert sum(len(t["predictions"]) for t in tasks) == 24
"#,
        &[&out],
    );
    // Round trip: annotations come back as decisions, predictions as predictions of v1.
    let mut fresh = fresh_copy(dir.path(), &store, "fresh");
    fresh
        .add_model(&NewModel {
            label_set: sets::CLASS.into(),
            kind: "test".into(),
            parent_id: None,
            training_run_id: None,
            labels: vec![],
            spec: serde_json::json!({}),
            metrics: None,
            weights_path: None,
            weights_sha256: None,
        })
        .unwrap();
    let r = import_labels(
        &mut fresh,
        &LabelImportRequest::new(ImportFormat::LabelStudio, out.join("tasks.json")),
        &JobCtx::new("t"),
    )
    .unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!((r.decisions, r.predictions), (12, 24));
    assert_eq!(labels_by_path(&fresh), labels_by_path(&store));
    let m = fresh.model_id_by_version(sets::CLASS, 1).unwrap();
    for (i, &id) in ids.iter().enumerate() {
        let orig = store.prediction(id, sets::CLASS, None).unwrap().unwrap();
        let back = fresh.prediction(id, sets::CLASS, m).unwrap().unwrap();
        assert_eq!(
            (back.label.as_str(), back.score),
            (orig.label.as_str(), orig.score),
            "item {i}"
        );
        assert_eq!(back.model_id, m);
    }
    let d = fresh.decisions_for_item(ids[0]).unwrap();
    assert_eq!((d[0].annotator.as_str(), d[0].ms_spent), ("ann", 1500));
}

#[test]
fn label_studio_own_export_shapes_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let labels = vec!["cat".to_string(), "dog".to_string()];
    let (mut store, ids) = project_with_files(dir.path(), "p", &labels, 4);
    let items = store.items_of_kind(ItemKind::Image).unwrap();
    let name = |i: usize| {
        Path::new(&items[i].source_path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let tasks = serde_json::json!([
        {"id": 1, "data": {"image": format!("/data/upload/3/1a2b3c4d-{}", name(1))},
         "annotations": [
            {"id": 11, "result": [{"from_name": "choice", "to_name": "image", "type": "choices", "value": {"choices": ["dog"]}}],
             "completed_by": {"email": "li@example.com"}, "lead_time": 2.25, "was_cancelled": false,
             "created_at": "2025-03-04T05:00:00.000000Z", "updated_at": "2025-03-04T13:06:07.123456+08:00"},
            {"result": [{"from_name": "choice", "to_name": "image", "type": "choices", "value": {"choices": ["cat"]}}],
             "completed_by": 7, "was_cancelled": true}]},
        {"id": 2, "data": {"image": items[2].source_path.clone()},
         "annotations": [{"result": [{"type": "choices", "value": {"choices": ["bird"]}}], "completed_by": 3}],
         "predictions": [{"model_version": "resnet-x", "score": 0.7, "result": [{"type": "choices", "value": {"choices": ["cat"]}}]}]},
        {"id": 3, "nodata": true},
        {"id": 4, "data": {"image": "/data/upload/1/deadbeef-not-in-project.png"}}
    ]);
    let f = dir.path().join("ls.json");
    std::fs::write(&f, serde_json::to_string_pretty(&tasks).unwrap()).unwrap();
    let mut req = LabelImportRequest::new(ImportFormat::LabelStudio, &f);
    req.unknown_labels = UnknownLabels::Refuse;
    let r = import_labels(&mut store, &req, &JobCtx::new("t")).unwrap();
    assert_eq!((r.rows, r.decisions, r.predictions), (4, 1, 1), "{r:?}");
    let lines: Vec<Option<usize>> = r.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [Some(3), Some(4), Some(2)], "{:?}", r.problems);
    assert!(r.problems[2].message.contains("bird"), "{:?}", r.problems);
    assert_eq!(
        store.current_label(ids[1], sets::CLASS).unwrap().as_deref(),
        Some("dog")
    );
    let d = store.decisions_for_item(ids[1]).unwrap();
    assert_eq!(
        (d[0].annotator.as_str(), d[0].ms_spent),
        ("li@example.com", 2250)
    );
    // Who and when are Label Studio's: `completed_by`, `updated_at` (in UTC, as the store
    // writes times), not the importing run and its clock.
    assert_eq!(d[0].decided_at, "2025-03-04T05:06:07.123Z");
    // The same file again records nothing twice.
    let again = import_labels(&mut store, &req, &JobCtx::new("t")).unwrap();
    assert_eq!(again.decisions, 0, "{again:?}");
    assert_eq!(store.decisions_for_item(ids[1]).unwrap().len(), 1);
    // The annotation deleted in Label Studio: reported, the label kept.
    let mut gone = tasks.clone();
    gone[0]["annotations"] = serde_json::json!([]);
    std::fs::write(&f, serde_json::to_string_pretty(&gone).unwrap()).unwrap();
    let r = import_labels(&mut store, &req, &JobCtx::new("t")).unwrap();
    assert!(
        r.problems
            .iter()
            .any(|p| p.line == Some(1) && p.message.contains("gone from Label Studio")),
        "{:?}",
        r.problems
    );
    assert_eq!(
        store.current_label(ids[1], sets::CLASS).unwrap().as_deref(),
        Some("dog")
    );
    assert_eq!(
        store
            .prediction(ids[2], sets::CLASS, None)
            .unwrap()
            .unwrap()
            .label,
        "cat"
    );
}

#[test]
fn csv_import_reports_bad_rows_by_line_and_refuses_or_adds_unknown_labels() {
    let dir = tempfile::tempdir().unwrap();
    let labels = vec!["cat".to_string(), "dog".to_string()];
    let (mut store, ids) = project_with_files(dir.path(), "p", &labels, 5);
    let items = store.items_of_kind(ItemKind::Image).unwrap();
    let p = |i: usize| items[i].source_path.clone();
    let csv = format!(
        "path,label,ms_spent\n{},cat,100\n,dog,\n{}\n{},cat,abc\n",
        p(0),
        p(1),
        p(2)
    );
    let f = dir.path().join("labels.csv");
    std::fs::write(&f, &csv).unwrap();
    let r = import_labels(
        &mut store,
        &LabelImportRequest::new(ImportFormat::Csv, &f),
        &JobCtx::new("t"),
    )
    .unwrap();
    assert_eq!(r.decisions, 1);
    let lines: Vec<Option<usize>> = r.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [Some(3), Some(4), Some(5)], "{:?}", r.problems);
    assert_eq!(store.decisions_for_item(ids[0]).unwrap()[0].ms_spent, 100);

    // Headerless `path,label`, a relative path, an unknown label, a file not in the project.
    let rel = Path::new(&p(3))
        .strip_prefix(dir.path())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let csv = format!(
        "{},bird\n{rel},dog\n/nowhere/x.png,cat\n{},cat,extra\n",
        p(4),
        p(0)
    );
    std::fs::write(&f, &csv).unwrap();
    let mut req = LabelImportRequest::new(ImportFormat::Csv, &f);
    req.unknown_labels = UnknownLabels::Refuse;
    let r = import_labels(&mut store, &req, &JobCtx::new("t")).unwrap();
    assert_eq!(r.decisions, 1, "{:?}", r.problems);
    assert_eq!(
        store.current_label(ids[3], sets::CLASS).unwrap().as_deref(),
        Some("dog")
    );
    let mut lines: Vec<Option<usize>> = r.problems.iter().map(|p| p.line).collect();
    lines.sort();
    assert_eq!(lines, [Some(1), Some(3), Some(4)], "{:?}", r.problems);
    assert!(!store.has_label(sets::CLASS, "bird").unwrap());
    req.unknown_labels = UnknownLabels::Add;
    let r = import_labels(&mut store, &req, &JobCtx::new("t")).unwrap();
    assert_eq!(r.labels_added, ["bird"]);
    assert_eq!(
        store.current_label(ids[4], sets::CLASS).unwrap().as_deref(),
        Some("bird")
    );
}

#[test]
fn cancelled_export_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut store) = common::image_project(dir.path(), &["a", "b"], 3000);
    let ids: Vec<i64> = store
        .items_of_kind(ItemKind::Image)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    let ds: Vec<NewDecision> = ids
        .iter()
        .map(|&id| NewDecision {
            item_id: id,
            label_set: "class".into(),
            label: Some("a".into()),
            annotator: "x".into(),
            action: Action::Correct,
            ms_spent: 1,
            prediction_id: None,
        })
        .collect();
    store.record_decisions(&ds).unwrap();
    // Cancel once the export is under way (after 1000 rows).
    let slot: Arc<Mutex<Option<JobCtx>>> = Arc::new(Mutex::new(None));
    let s2 = slot.clone();
    let ctx = JobCtx::new("export").with_observer(move |st| {
        let _ = st;
        if let Some(c) = s2.lock().unwrap().as_ref() {
            if c.snapshot().done >= 1000 {
                c.cancel();
            }
        }
    });
    *slot.lock().unwrap() = Some(ctx.clone());
    for format in [
        ExportFormat::Csv,
        ExportFormat::Jsonl,
        ExportFormat::LabelStudio,
    ] {
        let out = dir.path().join(format!("out-{}", format.as_str()));
        let err = export(&store, &ExportRequest::new(format, &out), &ctx).unwrap_err();
        assert!(matches!(err, ExchangeError::Cancelled(_)), "{err:?}");
        assert!(yuxuan::jobs::is_cancelled_error(&anyhow::Error::new(err)));
        assert!(!out.exists());
        no_leftovers(dir.path());
    }
    slot.lock().unwrap().take();
}

#[test]
fn a_failure_midway_leaves_nothing_and_an_existing_folder_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let labels = vec!["a".to_string()];
    let (mut store, ids) = project_with_files(dir.path(), "p", &labels, 6);
    for &id in &ids {
        decide(&mut store, id, "a", None);
    }
    // The fourth file vanished after import: the copy fails midway.
    let gone = store.item(ids[3]).unwrap().unwrap().source_path;
    std::fs::remove_file(&gone).unwrap();
    let out = dir.path().join("if");
    let err = export(
        &store,
        &ExportRequest::new(ExportFormat::ImageFolder, &out),
        &JobCtx::new("t"),
    )
    .unwrap_err();
    assert!(
        matches!(err, ExchangeError::MissingSource { item, .. } if item == ids[3]),
        "{err:?}"
    );
    assert!(!out.exists());
    no_leftovers(dir.path());

    // An existing, non-empty output folder is refused and untouched; --force replaces it whole.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let err = export(
        &store,
        &ExportRequest::new(ExportFormat::Csv, &out),
        &JobCtx::new("t"),
    )
    .unwrap_err();
    assert!(matches!(err, ExchangeError::Exists(_)), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "mine"
    );
    let mut req = ExportRequest::new(ExportFormat::Csv, &out);
    req.overwrite = true;
    export(&store, &req, &JobCtx::new("t")).unwrap();
    assert!(!out.join("keep.txt").exists() && out.join("labels.csv").exists());
    no_leftovers(dir.path());

    // The output's parent is a file: nothing can be written, nothing is left.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "x").unwrap();
    assert!(export(
        &store,
        &ExportRequest::new(ExportFormat::Csv, blocker.join("out")),
        &JobCtx::new("t")
    )
    .is_err());
    // Wrong kind of format for the project.
    let err = export(
        &store,
        &ExportRequest::new(ExportFormat::FormFields, dir.path().join("f")),
        &JobCtx::new("t"),
    )
    .unwrap_err();
    assert!(matches!(err, ExchangeError::WrongKind { .. }), "{err:?}");
}

/// A form project: two pages with fields (FieldRecord meta), industries and field types.
fn form_project(dir: &Path) -> (Store, Vec<i64>, Vec<Vec<i64>>) {
    let mut store = Store::create(&dir.join("forms.yuxuan"), "forms", TaskKind::Form).unwrap();
    store
        .add_labels(
            sets::FIELD_TYPE,
            &["手机号 phone", "身份证 id", "salary", "name"].map(NewLabel::named),
        )
        .unwrap();
    store
        .add_labels(
            sets::INDUSTRY,
            &["金融 finance", "招聘 hiring"].map(NewLabel::named),
        )
        .unwrap();
    let mut pages = Vec::new();
    let mut fields = Vec::new();
    for (pi, page) in ["/crawl/loan/index.html", "/crawl/jobs/index.html"]
        .iter()
        .enumerate()
    {
        let mut p = NewItem::new(ItemKind::Page, *page);
        p.content_hash = Some(format!("page{pi}"));
        let pid = store.insert_items(&[p]).unwrap()[0].id();
        store.put_page_html(pid, "utf-8", "<form></form>").unwrap();
        let form = store
            .add_form(pid, 0, "form#f", &serde_json::json!({}))
            .unwrap();
        let recs = [
            ("请输入手机号", "tel"),
            ("身份证号码", "text"),
            ("期望薪资", "number"),
        ];
        // Inserted out of page order, to check that pages list fields by position.
        let mut ids = vec![0; 3];
        for (k, &pos) in [2usize, 0, 1].iter().enumerate() {
            let _ = k;
            let rec = FieldRecord {
                tag: "input".into(),
                input_type: Some(recs[pos].1.into()),
                name: Some(format!("f{pos}")),
                placeholder: Some(recs[pos].0.into()),
                form_index: 0,
                position: pos,
                ..Default::default()
            };
            let mut f = NewItem::new(ItemKind::Field, *page);
            f.parent_id = Some(pid);
            f.form_id = Some(form);
            f.position = pos as i64;
            f.meta = serde_json::to_value(&rec).unwrap();
            ids[pos] = store.insert_items(&[f]).unwrap()[0].id();
        }
        pages.push(pid);
        fields.push(ids);
    }
    let d = |item_id, set: &str, label: &str| NewDecision {
        item_id,
        label_set: set.into(),
        label: Some(label.into()),
        annotator: "ann".into(),
        action: Action::Correct,
        ms_spent: 800,
        prediction_id: None,
    };
    store
        .record_decisions(&[
            d(pages[0], sets::INDUSTRY, "金融 finance"),
            d(fields[0][0], sets::FIELD_TYPE, "手机号 phone"),
            d(fields[0][1], sets::FIELD_TYPE, "身份证 id"),
            d(fields[1][2], sets::FIELD_TYPE, "salary"),
        ])
        .unwrap();
    store
        .put_predictions(
            sets::FIELD_TYPE,
            None,
            &[NewPrediction {
                item_id: fields[1][0],
                top: vec![("手机号 phone".into(), 0.9)],
            }],
        )
        .unwrap();
    (store, pages, fields)
}

#[test]
fn form_fields_jsonl_and_page_json() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _pages, fields) = form_project(dir.path());
    let out = dir.path().join("fields");
    let s = export(
        &store,
        &ExportRequest::new(ExportFormat::FormFields, &out),
        &JobCtx::new("t"),
    )
    .unwrap();
    assert_eq!((s.items, s.human, s.machine, s.unlabeled), (6, 3, 0, 3));
    let mut req = ExportRequest::new(ExportFormat::FormFields, dir.path().join("fields-preds"));
    req.include_predictions = true;
    let s = export(&store, &req, &JobCtx::new("t")).unwrap();
    assert_eq!((s.human, s.machine), (3, 1));
    let pages_out = dir.path().join("pages");
    export(
        &store,
        &ExportRequest::new(ExportFormat::FormPages, &pages_out),
        &JobCtx::new("t"),
    )
    .unwrap();
    let got = python(
        r#"
import sys, json, os
rows = [json.loads(l) for l in open(sys.argv[1] + "/fields.jsonl", encoding="utf-8")]
assert [r["label"] for r in rows] == ["手机号 phone", "身份证 id", "salary"], rows
assert rows[0]["industry"] == "金融 finance" and rows[2]["industry"] is None
assert rows[0]["page"] == "/crawl/loan/index.html" and rows[0]["form"] == 0
assert rows[0]["field"]["placeholder"] == "请输入手机号" and rows[0]["field"]["input_type"] == "tel"
assert rows[0]["text"] == "请输入手机号" and rows[0]["source"] == "human" and rows[0]["annotator"] == "ann"
d = sys.argv[2] + "/pages"
pages = [json.load(open(os.path.join(d, f), encoding="utf-8")) for f in sorted(os.listdir(d))]
assert len(pages) == 2
p0, p1 = pages
assert p0["industry"] == "金融 finance" and p1["industry"] is None
assert [f["position"] for f in p0["fields"]] == [0, 1, 2]
assert [f["label"] for f in p0["fields"]] == ["手机号 phone", "身份证 id", None]
assert [f["field"]["placeholder"] for f in p1["fields"]] == ["请输入手机号", "身份证号码", "期望薪资"]
print(len(rows))
"#,
        &[&out, &pages_out],
    );
    assert_eq!(got.trim(), "3");

    // Industry presets: one file per industry of the project and all of them in presets.json.
    let presets_out = dir.path().join("presets");
    let s = export(
        &store,
        &ExportRequest::new(ExportFormat::IndustryPresets, &presets_out),
        &JobCtx::new("t"),
    )
    .unwrap();
    assert_eq!(s.items, 2);
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(presets_out.join("presets.json")).unwrap())
            .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["format"], yuxuan::presets::FORMAT);
    assert_eq!(all[0]["industry"], "金融 finance");
    assert_eq!(
        std::fs::read_dir(presets_out.join("presets"))
            .unwrap()
            .count(),
        2
    );
    assert_eq!(fields.len(), 2);
    // A form format on an image project (and the reverse) is refused.
    let err = export(
        &store,
        &ExportRequest::new(ExportFormat::Csv, dir.path().join("x")),
        &JobCtx::new("t"),
    )
    .unwrap_err();
    assert!(matches!(err, ExchangeError::WrongKind { .. }));
}

#[test]
fn cli_export_and_import_labels() {
    let dir = tempfile::tempdir().unwrap();
    let labels = vec!["猫".to_string(), "dog".to_string()];
    let (mut store, ids) = project_with_files(dir.path(), "p", &labels, 4);
    decide(&mut store, ids[0], "猫", None);
    decide(&mut store, ids[1], "dog", None);
    let project = store.path().to_path_buf();
    drop(store);
    let out = dir.path().join("ds");
    let o = common::run(&[
        "export",
        project.to_str().unwrap(),
        "--format",
        "imagefolder",
        "--out",
        out.to_str().unwrap(),
        "--split",
        "0.5,0.5",
        "--seed",
        "3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("2 human labels"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(out.join("yuxuan-export.json").exists());
    // A second export to the same folder is refused with a clear message.
    let o = common::run(&[
        "export",
        project.to_str().unwrap(),
        "--format",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = common::run(&[
        "export",
        project.to_str().unwrap(),
        "--format",
        "nope",
        "--out",
        "x",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown format"));

    let fresh = fresh_copy(dir.path(), &Store::open(&project).unwrap(), "fresh");
    let fresh_path = fresh.path().to_path_buf();
    drop(fresh);
    let o = common::run(&[
        "import-labels",
        fresh_path.to_str().unwrap(),
        out.to_str().unwrap(),
        "--refuse-unknown",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not in the label set"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = common::run(&[
        "import-labels",
        fresh_path.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("2 decisions"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(
        labels_by_path(&Store::open(&fresh_path).unwrap()),
        labels_by_path(&Store::open(&project).unwrap())
    );
}

/// `cargo test --test integration exchange::bench_export_100k -- --ignored --nocapture`:
/// prints the numbers of `yuxuan::bench::export::run` at 100k items (no timed assertion).
#[test]
#[ignore]
fn bench_export_100k() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::env::var("YUXUAN_BENCH_ITEMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let report = yuxuan::bench::export::run(n, dir.path()).unwrap();
    println!("{report}");
    assert_eq!(report.timings.len(), 4);
    let decided = (n / 10) * 7 + (n % 10).min(7);
    assert_eq!(report.timings[0].rows, decided as u64);
}

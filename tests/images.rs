//! Images (issue 3): import errors and labels, embedding cache, queue strategies,
//! train/activate/rollback, a killed training, TorchScript registration + fine-tune, the
//! simulator's bookkeeping. Real images: emoji PNGs from the cache and files written here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use yuxuan::domain::{sets, Action, ItemKind, NewDecision, NewItem, NewLabel, TaskKind};
use yuxuan::ingest::images::{import_paths, ImageImportOptions, UnknownLabels};
use yuxuan::jobs::JobCtx;
use yuxuan::ml::backbone::{BACKBONE_ID, EMBED_DIM};
use yuxuan::ml::catalog::ImageMode;
use yuxuan::ml::family::Activation;
use yuxuan::ml::project;
use yuxuan::ml::train::TrainConfig;
use yuxuan::queue::{self, Filter, QueueSpec, Strategy};
use yuxuan::store::predictions::NewPrediction;
use yuxuan::store::Store;

use crate::common;

fn new_project(dir: &Path) -> (PathBuf, Store) {
    let path = dir.join("p.yuxuan");
    let store = Store::create(&path, "p", TaskKind::Image).unwrap();
    (path, store)
}

fn write_png(path: &Path, w: u32, h: u32, rgb: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([rgb[0] ^ (x as u8), rgb[1] ^ (y as u8), rgb[2]])
    });
    img.save(path).unwrap();
}

/// A JPEG of `w x h` pixels with EXIF orientation `o` (6 = rotate 90 degrees clockwise).
fn write_jpeg_with_orientation(path: &Path, w: u32, h: u32, o: u16) {
    use image::ImageEncoder;
    let img = image::RgbImage::from_fn(w, h, |x, _| image::Rgb([(x * 4) as u8, 100, 50]));
    let exif = common::exif_orientation(o);
    let mut buf = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90);
    enc.set_exif_metadata(exif).unwrap();
    enc.write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    std::fs::write(path, buf).unwrap();
}

/// A new project with `files` imported and their categories as labels (via a CSV, as a user
/// would); label names are made CSV- and folder-friendly ("Food & Drink" -> "Food_and_Drink").
fn import_labelled_emoji(
    dir: &Path,
    files: &[(PathBuf, String)],
) -> (Store, yuxuan::ingest::ImportSummary) {
    let csv = dir.join("truth.csv");
    let mut w = String::from("path,label\n");
    for (p, c) in files {
        w.push_str(&format!(
            "{},{}\n",
            p.display(),
            c.replace(' ', "_").replace('&', "and")
        ));
    }
    std::fs::write(&csv, w).unwrap();
    let (_, mut store) = new_project(dir);
    let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    let opts = ImageImportOptions {
        labels_csv: Some(csv),
        ..Default::default()
    };
    let s = import_paths(&mut store, &paths, &opts, &JobCtx::new("import")).unwrap();
    (store, s)
}

/// Synthetic embeddings: item i of class c is near a class centre (deterministic noise).
fn cluster_vec(class: usize, i: usize) -> Vec<f32> {
    (0..EMBED_DIM as usize)
        .map(|d| {
            let centre = if d % 3 == class % 3 && (d / 3) % 4 == class / 3 {
                2.0
            } else {
                0.1
            };
            let noise = (((i * 7919 + d * 104729) % 1000) as f32 / 1000.0 - 0.5) * 0.6;
            centre + noise
        })
        .collect()
}

/// A project with `n_per` synthetic items per class, embeddings in clusters; the first
/// `labelled` of each class get a human label. Returns (project path, store, truth).
fn embedded_project(
    dir: &Path,
    classes: &[&str],
    n_per: usize,
    labelled: usize,
) -> (PathBuf, Store, HashMap<i64, String>) {
    embedded_project_at(&dir.join("test.yuxuan"), classes, n_per, labelled)
}

/// The same at a location (a file or a team URL).
fn embedded_project_at(
    path: &Path,
    classes: &[&str],
    n_per: usize,
    labelled: usize,
) -> (PathBuf, Store, HashMap<i64, String>) {
    let path = path.to_path_buf();
    let mut store = common::image_project_at(&path, classes, 0);
    let items: Vec<NewItem> = (0..n_per * classes.len())
        .map(|i| {
            let mut it = NewItem::new(ItemKind::Image, format!("synthetic/{i:05}.png"));
            it.content_hash = Some(format!("h{i}"));
            it
        })
        .collect();
    let ids: Vec<i64> = store
        .insert_items(&items)
        .unwrap()
        .into_iter()
        .map(|x| x.id())
        .collect();
    let mut truth = HashMap::new();
    let mut rows = Vec::new();
    let mut decisions = Vec::new();
    for (k, id) in ids.iter().enumerate() {
        let (c, i) = (k % classes.len(), k / classes.len());
        rows.push((*id, cluster_vec(c, k)));
        truth.insert(*id, classes[c].to_string());
        if i < labelled {
            decisions.push(NewDecision {
                item_id: *id,
                label_set: sets::CLASS.into(),
                label: Some(classes[c].into()),
                annotator: "ann".into(),
                action: Action::Correct,
                ms_spent: 0,
                prediction_id: None,
            });
        }
    }
    store.put_embeddings(BACKBONE_ID, &rows).unwrap();
    store.record_decisions(&decisions).unwrap();
    (path, store, truth)
}

#[test]
fn import_records_bad_files_dedups_applies_exif_and_reads_labels() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_png(&data.join("cat/a.png"), 20, 10, [10, 20, 30]);
    write_png(&data.join("dog/b.png"), 16, 16, [200, 20, 30]);
    std::fs::copy(data.join("cat/a.png"), data.join("dog/copy_of_a.png")).unwrap();
    write_jpeg_with_orientation(&data.join("cat/rotated.jpg"), 40, 20, 6);
    std::fs::write(data.join("empty.png"), b"").unwrap();
    let good = std::fs::read(data.join("dog/b.png")).unwrap();
    std::fs::write(data.join("truncated.png"), &good[..good.len() / 2]).unwrap();
    std::fs::write(data.join("notes.jpg"), b"this is not an image at all").unwrap();
    write_png(&data.join("huge/big.png"), 300, 300, [1, 2, 3]);
    std::fs::write(data.join("readme.txt"), b"ignored: not an image extension").unwrap();
    // GIF: first frame.
    let gif = image::RgbaImage::from_pixel(8, 6, image::Rgba([0, 255, 0, 255]));
    gif.save(data.join("anim.gif")).unwrap();

    let (_, mut store) = new_project(dir.path());
    store
        .add_labels(sets::CLASS, &[NewLabel::named("cat")])
        .unwrap();
    let opts = ImageImportOptions {
        folder_labels: true,
        max_pixels: 50_000,
        ..Default::default()
    };
    let s = import_paths(
        &mut store,
        std::slice::from_ref(&data),
        &opts,
        &JobCtx::new("import"),
    )
    .unwrap();
    assert_eq!(s.seen, 9, "{s:?}");
    assert_eq!(s.duplicates, 1, "{s:?}");
    assert_eq!(s.errors, 4, "{s:?}");
    assert_eq!(s.added, 4, "{s:?}");
    let errors = store.items_with_errors().unwrap();
    let reason = |name: &str| {
        errors
            .iter()
            .find(|i| i.source_path.ends_with(name))
            .and_then(|i| i.error.clone())
            .unwrap_or_default()
    };
    assert!(reason("empty.png").contains("empty"), "{errors:?}");
    assert!(reason("truncated.png").contains("truncated"), "{errors:?}");
    assert!(
        reason("notes.jpg").contains("not a supported image"),
        "{errors:?}"
    );
    assert!(reason("big.png").contains("pixel limit"), "{errors:?}");
    // EXIF orientation 6: 40x20 stored as 20x40.
    let items = store.items_of_kind(ItemKind::Image).unwrap();
    let rotated = items
        .iter()
        .find(|i| i.source_path.ends_with("rotated.jpg"))
        .unwrap();
    assert_eq!((rotated.width, rotated.height), (Some(20), Some(40)));
    assert_eq!(rotated.meta["orientation"], 6);
    // Folder labels: decisions of annotator "import"; "dog" was added to the label set; the
    // duplicate in dog/ keeps cat (its first label); huge/ is an error, so no label.
    let labels = store.current_labels(sets::CLASS).unwrap();
    let label_of = |name: &str| {
        let id = items
            .iter()
            .find(|i| i.source_path.ends_with(name))
            .unwrap()
            .id;
        labels
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, l)| l.clone())
    };
    assert_eq!(label_of("a.png").as_deref(), Some("cat"));
    assert_eq!(label_of("b.png").as_deref(), Some("dog"));
    assert_eq!(label_of("anim.gif"), None);
    let ds = store.all_decisions().unwrap();
    assert!(ds
        .iter()
        .all(|d| d.annotator == "import" && d.action == Action::Correct));
    assert_eq!(s.labels_imported, 3);
    // Re-import: everything is a duplicate, error items are not added twice.
    let again = import_paths(
        &mut store,
        std::slice::from_ref(&data),
        &opts,
        &JobCtx::new("import"),
    )
    .unwrap();
    assert_eq!(
        (again.added, again.errors, again.duplicates),
        (0, 0, 9),
        "{again:?}"
    );
    // `yuxuan stats` shows the errors.
    let out = common::run(&["stats", store.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("items with errors: 4"), "{text}");
    assert!(text.contains("truncated.png"), "{text}");
}

#[test]
fn csv_labels_report_malformed_rows_and_refuse_unknown_labels() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("imgs");
    write_png(&data.join("x.png"), 8, 8, [1, 1, 1]);
    write_png(&data.join("y.png"), 8, 8, [90, 1, 1]);
    write_png(&data.join("z.png"), 8, 8, [1, 90, 1]);
    let csv = dir.path().join("labels.csv");
    std::fs::write(
        &csv,
        "path,label\nimgs/x.png,ok\nimgs/y.png\nimgs/y.png,ok,extra\nimgs/z.png,weird\n",
    )
    .unwrap();
    let (_, mut store) = new_project(dir.path());
    store
        .add_labels(
            sets::CLASS,
            &[NewLabel::named("ok"), NewLabel::named("defect")],
        )
        .unwrap();
    let opts = ImageImportOptions {
        labels_csv: Some(csv),
        unknown_labels: UnknownLabels::Refuse,
        ..Default::default()
    };
    let s = import_paths(&mut store, &[data], &opts, &JobCtx::new("import")).unwrap();
    assert_eq!((s.added, s.labels_imported), (3, 1), "{s:?}");
    assert!(
        s.problems.iter().any(|p| p.contains(":3:")),
        "{:?}",
        s.problems
    );
    assert!(
        s.problems.iter().any(|p| p.contains(":4:")),
        "{:?}",
        s.problems
    );
    assert!(
        s.problems.iter().any(|p| p.contains("weird")),
        "{:?}",
        s.problems
    );
    assert!(!store.has_label(sets::CLASS, "weird").unwrap());
}

#[test]
fn embeddings_are_computed_once_and_reused_and_real_emoji_train_a_head() {
    let dir = tempfile::tempdir().unwrap();
    let files = common::emoji(&["Flags", "Food & Drink", "Smileys & Emotion"], 8);
    assert_eq!(files.len(), 24);
    let (mut store, s) = import_labelled_emoji(dir.path(), &files);
    assert_eq!((s.added, s.labels_imported), (24, 24), "{s:?}");
    let n = project::embed_missing(&mut store, &JobCtx::new("embed")).unwrap();
    assert_eq!(n, 24);
    let first = store.embedding(1, BACKBONE_ID).unwrap().unwrap();
    assert_eq!(first.len(), EMBED_DIM as usize);
    // Second run: nothing to compute, the cached vectors are untouched.
    assert_eq!(
        project::embed_missing(&mut store, &JobCtx::new("embed")).unwrap(),
        0
    );
    assert_eq!(store.embedding(1, BACKBONE_ID).unwrap().unwrap(), first);
    // The head trains on the cached embeddings and separates the three categories.
    let cfg = TrainConfig {
        epochs: 60,
        holdout: 0.25,
        learning_rate: 5e-3,
        ..Default::default()
    };
    let r = project::train(
        &mut store,
        sets::CLASS,
        None,
        &cfg,
        Activation::IfNotWorse,
        &JobCtx::new("train"),
    )
    .unwrap();
    assert!(r.activated && r.model.kind == "image-head");
    assert!(
        r.metrics.accuracy >= 0.66,
        "hold-out accuracy {}",
        r.metrics.accuracy
    );
    let n = project::predicted(&project::prelabel(&mut store, &JobCtx::new("prelabel")).unwrap());
    assert_eq!(n, 24);
    let p = store
        .prediction(1, sets::CLASS, Some(r.model.id))
        .unwrap()
        .unwrap();
    assert_eq!(p.top.len(), 3);
    assert!((p.margin - (p.top[0].1 - p.top[1].1)).abs() < 1e-9);
    // Re-running after no change touches nothing.
    assert_eq!(
        project::predicted(&project::prelabel(&mut store, &JobCtx::new("prelabel")).unwrap()),
        0
    );
}

#[test]
fn each_queue_strategy_and_filter_orders_as_specified() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut store, _) = embedded_project(dir.path(), &["a", "b", "c"], 10, 0);
    let ids: Vec<i64> = store
        .items_of_kind(ItemKind::Image)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    let spec = |strategy, filter| QueueSpec {
        label_set: sets::CLASS.into(),
        strategy,
        filter,
        seed: 7,
        annotator: None,
    };
    // Cold start, no predictions: diverse picks one item of each cluster first.
    let div = queue::build(&store, &spec(Strategy::Diverse, Filter::Unlabeled)).unwrap();
    assert_eq!(div.len(), 30);
    let cls = |id: i64| ((id - ids[0]) as usize) % 3;
    let first3: std::collections::HashSet<usize> = div[..3].iter().map(|&i| cls(i)).collect();
    assert_eq!(first3.len(), 3, "first diverse picks {:?}", &div[..3]);
    assert_eq!(
        queue::build(&store, &spec(Strategy::Uncertain, Filter::Unlabeled)).unwrap(),
        div,
        "cold start falls back to diverse"
    );
    let mut sorted = div.clone();
    sorted.sort();
    assert_eq!(sorted, ids);
    assert_eq!(
        queue::build(&store, &spec(Strategy::FileOrder, Filter::Unlabeled)).unwrap(),
        ids
    );
    let r1 = queue::build(&store, &spec(Strategy::Random, Filter::Unlabeled)).unwrap();
    assert_eq!(
        r1,
        queue::build(&store, &spec(Strategy::Random, Filter::Unlabeled)).unwrap()
    );
    assert_ne!(r1, ids);
    // Predictions with known margins/scores.
    let preds: Vec<NewPrediction> = ids
        .iter()
        .enumerate()
        .map(|(k, &id)| {
            let s = 0.4 + (k as f64 * 0.37) % 0.55;
            let label = ["a", "b", "c"][k % 3].to_string();
            NewPrediction {
                item_id: id,
                top: vec![(label, s), ("c".into(), (1.0 - s) * 0.9)],
            }
        })
        .collect();
    store.put_predictions(sets::CLASS, None, &preds).unwrap();
    let unc = queue::build(&store, &spec(Strategy::Uncertain, Filter::Unlabeled)).unwrap();
    let margin = |id: i64| {
        store
            .prediction(id, sets::CLASS, None)
            .unwrap()
            .unwrap()
            .margin
    };
    assert!(unc.windows(2).all(|w| margin(w[0]) <= margin(w[1])));
    let conf = queue::build(&store, &spec(Strategy::Confident, Filter::Unlabeled)).unwrap();
    let score = |id: i64| {
        store
            .prediction(id, sets::CLASS, None)
            .unwrap()
            .unwrap()
            .score
    };
    assert!(conf.windows(2).all(|w| score(w[0]) >= score(w[1])));
    // Filters.
    let as_b = queue::build(
        &store,
        &spec(Strategy::FileOrder, Filter::PredictedAs("b".into())),
    )
    .unwrap();
    assert_eq!(as_b.len(), 10);
    assert!(as_b.iter().all(|&id| cls(id) == 1));
    // Label two items: one agreeing with the model, one not.
    for (id, l) in [(ids[0], "a"), (ids[1], "c")] {
        store
            .record_decision(&NewDecision {
                item_id: id,
                label_set: sets::CLASS.into(),
                label: Some(l.into()),
                annotator: "ann".into(),
                action: Action::Correct,
                ms_spent: 5,
                prediction_id: None,
            })
            .unwrap();
    }
    assert_eq!(
        queue::build(&store, &spec(Strategy::Uncertain, Filter::Unlabeled))
            .unwrap()
            .len(),
        28
    );
    assert_eq!(
        queue::build(&store, &spec(Strategy::FileOrder, Filter::Disagreements)).unwrap(),
        vec![ids[1]]
    );
    // Diverse with labels: the labelled clusters count as covered.
    let div2 = queue::build(&store, &spec(Strategy::Diverse, Filter::Unlabeled)).unwrap();
    assert_eq!(
        cls(div2[0]),
        2,
        "cluster c has no label yet, so it comes first: {:?}",
        &div2[..3]
    );
    store.set_item_error(ids[5], Some("broken")).unwrap();
    assert_eq!(
        queue::build(&store, &spec(Strategy::FileOrder, Filter::Errors)).unwrap(),
        vec![ids[5]]
    );
}

#[test]
fn train_activate_and_roll_back_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, _) = embedded_project(dir.path(), &["a", "b", "c"], 20, 12);
    drop(store);
    let p = path.to_str().unwrap();
    let out = common::run(&["train", p, "--epochs", "40"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("macro-F1")
            && text.contains("confusion")
            && text.contains("v1 is now active"),
        "{text}"
    );
    assert!(text.contains("active model: none"), "{text}");
    let out = common::run(&["train", p, "--epochs", "5", "--activate", "never"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("v2 registered, not activated") && text.contains("active model:"),
        "{text}"
    );
    let store = Store::open(&path).unwrap();
    assert_eq!(store.active_model(sets::CLASS).unwrap().unwrap().version, 1);
    let out = common::run(&["activate", p, "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(store.active_model(sets::CLASS).unwrap().unwrap().version, 2);
    let v2 = store.active_model(sets::CLASS).unwrap().unwrap();
    assert_eq!(
        store
            .predicted_item_ids(sets::CLASS, Some(v2.id))
            .unwrap()
            .len(),
        60
    );
    // Rollback.
    let out = common::run(&["activate", p, "1"]);
    assert!(out.status.success());
    assert_eq!(store.active_model(sets::CLASS).unwrap().unwrap().version, 1);
    let out = common::run(&["models", p]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with('*') && l.contains("v1")),
        "{text}"
    );
    assert!(text.contains("v2") && text.contains("image-head"), "{text}");
    assert!(!common::run(&["activate", p, "9"]).status.success());
}

#[test]
fn a_killed_training_leaves_the_active_model_and_its_file_untouched() {
    common::on_both_backends("killed-training", killed_training_body);
}

fn killed_training_body(loc: &Path) {
    let (path, mut store, _) = embedded_project_at(loc, &["a", "b"], 30, 25);
    let cfg = TrainConfig {
        epochs: 5,
        ..Default::default()
    };
    let r = project::train(
        &mut store,
        sets::CLASS,
        None,
        &cfg,
        Activation::Always,
        &JobCtx::new("t"),
    )
    .unwrap();
    let file = yuxuan::ml::family::weights_path(&store, &r.model).unwrap();
    let sha = yuxuan::assets::file_checksum(&file).unwrap();
    // The product's head converges in a fraction of a second: an epoch-loop head on the same
    // embeddings, slowed per batch, is what gets killed mid-training (the same training job).
    let mut child = std::process::Command::new(common::bin())
        .args([
            "debug-train",
            path.to_str().unwrap(),
            "--backbone",
            yuxuan::ml::backbone::BACKBONE_ID,
            "--epochs",
            "1000000",
            "--batch-delay-ms",
            "5",
            "--activate",
            "always",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the child is inside the epoch loop (its run logs progress), then kill -9.
    let mut running = false;
    for _ in 0..600 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if store
            .training_runs()
            .unwrap()
            .iter()
            .any(|t| t.status == yuxuan::domain::RunStatus::Running && t.progress > 0.0)
        {
            running = true;
            break;
        }
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    child.wait().unwrap();
    assert!(running, "the child never started training");
    let active = store.active_model(sets::CLASS).unwrap().unwrap();
    assert_eq!(active.id, r.model.id);
    assert_eq!(store.models(sets::CLASS).unwrap().len(), 1);
    assert_eq!(yuxuan::assets::file_checksum(&file).unwrap(), sha);
    assert_eq!(store.integrity_check().unwrap(), "ok");
    assert_eq!(store.fail_stale_training_runs().unwrap(), 1);
    // The project still trains after the crash.
    let r2 = project::train(
        &mut store,
        sets::CLASS,
        None,
        &cfg,
        Activation::Always,
        &JobCtx::new("t"),
    )
    .unwrap();
    assert_eq!(r2.model.version, 2);
}

#[test]
fn a_torchscript_model_registers_prelabels_and_fine_tunes() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.pt");
    let script = format!(
        r#"
import torch
torch.manual_seed(0)
class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2)
        self.fc = torch.nn.Linear(8, 3)
    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))
m = Tiny().eval()
torch.jit.trace(m, torch.zeros(1, 3, 32, 32)).save(r"{}")
"#,
        model.display()
    );
    let out = std::process::Command::new(yuxuan::assets::venv_python())
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = common::emoji(&["Flags", "Food & Drink", "Animals & Nature"], 6);
    let (path, mut store) = new_project(dir.path());
    let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    import_paths(
        &mut store,
        &paths,
        &ImageImportOptions::default(),
        &JobCtx::new("i"),
    )
    .unwrap();
    let p = path.to_str().unwrap();
    // Wrong label count is refused.
    let bad = common::run(&[
        "register-model",
        p,
        model.to_str().unwrap(),
        "--labels",
        "x,y",
        "--size",
        "32",
    ]);
    assert!(!bad.status.success());
    let out = common::run(&[
        "register-model",
        p,
        model.to_str().unwrap(),
        "--labels",
        "flag,food,animal",
        "--size",
        "32",
        "--mean",
        "0.5,0.5,0.5",
        "--std",
        "0.25,0.25,0.25",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v1 = store.active_model(sets::CLASS).unwrap().unwrap();
    assert_eq!((v1.kind.as_str(), v1.version), ("torchscript", 1));
    let out = common::run(&["prelabel", p]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        store
            .predicted_item_ids(sets::CLASS, Some(v1.id))
            .unwrap()
            .len(),
        18
    );
    // Human labels, then fine-tune from the registered model.
    let items = store.items_of_kind(ItemKind::Image).unwrap();
    let ds: Vec<NewDecision> = items
        .iter()
        .map(|it| {
            let cat = &files
                .iter()
                .find(|(p, _)| p.to_string_lossy() == it.source_path)
                .unwrap()
                .1;
            let label = match cat.as_str() {
                "Flags" => "flag",
                "Food & Drink" => "food",
                _ => "animal",
            };
            NewDecision {
                item_id: it.id,
                label_set: sets::CLASS.into(),
                label: Some(label.into()),
                annotator: "ann".into(),
                action: Action::Correct,
                ms_spent: 0,
                prediction_id: None,
            }
        })
        .collect();
    store.record_decisions(&ds).unwrap();
    let out = common::run(&[
        "train",
        p,
        "--mode",
        "torchscript",
        "--epochs",
        "3",
        "--activate",
        "always",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v2 = store.active_model(sets::CLASS).unwrap().unwrap();
    assert_eq!(
        (v2.kind.as_str(), v2.version, v2.parent_id),
        ("torchscript", 2, Some(v1.id))
    );
    let f2 = yuxuan::ml::family::weights_path(&store, &v2).unwrap();
    assert_eq!(f2.extension().unwrap(), "pt");
    let f1 = yuxuan::ml::family::weights_path(&store, &v1).unwrap();
    assert_ne!(
        std::fs::read(&f1).unwrap(),
        std::fs::read(&f2).unwrap(),
        "fine-tuning changed the weights"
    );
    assert_eq!(
        store
            .predicted_item_ids(sets::CLASS, Some(v2.id))
            .unwrap()
            .len(),
        18
    );
}

#[test]
fn the_simulator_keeps_its_books() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut store, truth) = embedded_project(dir.path(), &["a", "b", "c"], 20, 0);
    let opts = yuxuan::simulate::SimOptions {
        batch: 9,
        strategy: Strategy::Uncertain,
        max_labels: Some(36),
        train: TrainConfig {
            epochs: 20,
            holdout: 0.1,
            learning_rate: 5e-3,
            ..Default::default()
        },
        eval_holdout: 0.0,
        ..Default::default()
    };
    let pts = yuxuan::simulate::run(&mut store, &truth, &opts, &JobCtx::new("sim")).unwrap();
    assert_eq!(
        pts.iter().map(|p| p.labels).collect::<Vec<_>>(),
        vec![0, 9, 18, 27, 36]
    );
    for p in &pts {
        assert_eq!(p.corrections + p.accepted, p.labels);
        assert_eq!(p.rest, 60 - p.labels);
    }
    assert_eq!(pts[0].accuracy_rest, None);
    assert_eq!(
        pts[1].corrections, 9,
        "no model yet: every label is a correction"
    );
    let decisions = store.all_decisions().unwrap();
    assert_eq!(decisions.len(), 36);
    assert_eq!(
        decisions
            .iter()
            .filter(|d| d.action == Action::Accept)
            .count(),
        pts.last().unwrap().accepted
    );
    assert!(decisions
        .iter()
        .all(|d| d.annotator == yuxuan::simulate::SIM_ANNOTATOR
            && truth[&d.item_id] == *d.label.as_ref().unwrap()));
    assert!(pts.last().unwrap().accuracy_rest.unwrap() > 0.9, "{pts:?}");
    let csv = dir.path().join("sim.csv");
    let png = dir.path().join("sim.png");
    let runs = vec![("uncertain/test".to_string(), pts)];
    yuxuan::simulate::write_csv(&runs, &csv).unwrap();
    yuxuan::simulate::write_plot(&runs, &png).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 6);
    assert!(text.starts_with("round,labels,accuracy_rest,corrections"));
    assert!(text.lines().nth(1).unwrap().ends_with(",uncertain/test"));
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (800, 480));
}

/// The held-out share is never shown and measures the curve; the same project, seed and
/// options give the same curve.
#[test]
fn the_simulator_holds_out_a_fixed_split_and_repeats_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, truth) = embedded_project(dir.path(), &["a", "b", "c"], 20, 0);
    drop(store);
    let opts = yuxuan::simulate::SimOptions {
        batch: 10,
        eval_holdout: 0.25,
        ..Default::default()
    };
    let run = |name: &str| {
        let copy = dir.path().join(name);
        Store::open(&path).unwrap().copy_to(&copy).unwrap();
        let mut s = Store::open(&copy).unwrap();
        let pts = yuxuan::simulate::run(&mut s, &truth, &opts, &JobCtx::new("sim")).unwrap();
        (s, pts)
    };
    let (store, a) = run("a.yuxuan");
    let (_, b) = run("b.yuxuan");
    let strip = |v: &[yuxuan::simulate::SimPoint]| {
        v.iter()
            .map(|p| yuxuan::simulate::SimPoint {
                train_seconds: 0.0,
                ..p.clone()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&a), strip(&b), "same options, same curve");
    let (pass, held) = yuxuan::simulate::split_truth(&truth, 0.25, opts.seed);
    assert_eq!(held.len(), 15, "a quarter of each class");
    assert_eq!(a.last().unwrap().labels, pass.len());
    let labelled: std::collections::HashSet<i64> = store
        .current_labels(sets::CLASS)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(
        held.iter().all(|id| !labelled.contains(id)),
        "held-out items are never shown"
    );
    let last = a.last().unwrap();
    assert!(last.holdout.accuracy.unwrap() > 0.9, "{last:?}");
    assert!(last.holdout.ece.is_some() && last.holdout.macro_f1.is_some());
    let s = yuxuan::simulate::summarize(&a);
    assert_eq!(s.labels, pass.len());
    assert_eq!(s.corrections, last.corrections);
}

/// Not a test: prints the pre-labelling throughput (`cargo test --test integration
/// images::bench_prelabel -- --ignored --nocapture`).
#[test]
#[ignore]
fn bench_prelabel() {
    let r = yuxuan::bench::prelabel::run(&yuxuan::bench::prelabel::PrelabelBenchOptions::default())
        .unwrap();
    println!("{r}");
}

/// Not a test: prints the head training time on 10k labelled items and the queue opening
/// times at 100k items (`cargo test --test integration images::bench_head_and_queue --
/// --ignored --nocapture`).
#[test]
#[ignore]
fn bench_head_10k() {
    let classes = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    let dir = tempfile::tempdir().unwrap();
    let (_, mut store, _) = embedded_project(dir.path(), &classes, 1112, 1112);
    let t = std::time::Instant::now();
    let r = project::train(
        &mut store,
        sets::CLASS,
        Some(ImageMode::Head),
        &TrainConfig::default(),
        Activation::Always,
        &JobCtx::new("t"),
    )
    .unwrap();
    println!(
        "head mode: {} labelled items ({} train / {} hold-out), {} epochs: {:.2}s, hold-out accuracy {:.3}",
        r.n_train + r.n_holdout,
        r.n_train,
        r.n_holdout,
        r.epochs.len(),
        t.elapsed().as_secs_f64(),
        r.metrics.accuracy
    );
}

/// Not a test: queue opening times at 100k items.
#[test]
#[ignore]
fn bench_queue_100k() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut store) = common::image_project(dir.path(), &["a", "b", "c"], 100_000);
    let ids: Vec<i64> = store
        .items_of_kind(ItemKind::Image)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    let preds: Vec<NewPrediction> = ids
        .iter()
        .enumerate()
        .map(|(k, &id)| {
            let s = 0.34 + (k as f64 * 0.618).fract() * 0.6;
            NewPrediction {
                item_id: id,
                top: vec![
                    (["a", "b", "c"][k % 3].into(), s),
                    ("c".into(), (1.0 - s) / 2.0),
                ],
            }
        })
        .collect();
    store.put_predictions(sets::CLASS, None, &preds).unwrap();
    let rows: Vec<(i64, Vec<f32>)> = ids
        .iter()
        .step_by(5)
        .enumerate()
        .map(|(k, &id)| (id, cluster_vec(k % 9, k)))
        .collect();
    store.put_embeddings(BACKBONE_ID, &rows).unwrap();
    for strategy in Strategy::ALL {
        let spec = QueueSpec {
            label_set: sets::CLASS.into(),
            strategy,
            filter: Filter::Unlabeled,
            seed: 1,
            annotator: None,
        };
        let t = std::time::Instant::now();
        let q = queue::build(&store, &spec).unwrap();
        println!(
            "queue {:<10} over {} items: {:.3}s",
            strategy.as_str(),
            q.len(),
            t.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn near_duplicates_group_real_photo_variants_and_similar_ranks_them_first() {
    let photos = yuxuan::assets::photos_dir();
    assert!(
        photos.join("chelsea.png").is_file(),
        "sample photos installed (make setup)"
    );
    let dir = tempfile::tempdir().unwrap();
    // A near duplicate no hash can catch: the cat photo at 60 % size, re-encoded as JPEG.
    let cat = image::open(photos.join("chelsea.png")).unwrap();
    let small = cat.resize(
        cat.width() * 6 / 10,
        cat.height() * 6 / 10,
        image::imageops::FilterType::Triangle,
    );
    let variant = dir.path().join("extra").join("chelsea-small.jpg");
    std::fs::create_dir_all(variant.parent().unwrap()).unwrap();
    small.to_rgb8().save(&variant).unwrap();

    let (project, mut store) = new_project(dir.path());
    let s = import_paths(
        &mut store,
        &[photos.clone(), dir.path().join("extra")],
        &ImageImportOptions::default(),
        &JobCtx::new("import"),
    )
    .unwrap();
    // The folder of real photos imports whole; its 64-bit float TIFF is an item error.
    assert_eq!((s.added, s.errors), (s.seen - 1, 1), "{s:?}");
    let errors = store.items_with_errors().unwrap();
    assert!(
        errors[0].source_path.ends_with("multipage_rgb.tif"),
        "{errors:?}"
    );
    let n = project::embed_missing(&mut store, &JobCtx::new("embed")).unwrap();
    assert_eq!(n, s.added);

    let id_of = |name: &str| {
        store
            .items_of_kind(ItemKind::Image)
            .unwrap()
            .into_iter()
            .find(|i| i.source_path.ends_with(name))
            .unwrap_or_else(|| panic!("{name} imported"))
            .id
    };
    let (chelsea, small_id) = (id_of("chelsea.png"), id_of("chelsea-small.jpg"));
    let (left, right) = (id_of("motorcycle_left.png"), id_of("motorcycle_right.png"));
    let coffee = id_of("coffee.png");

    let report = yuxuan::ml::similarity::near_duplicates(
        &store,
        BACKBONE_ID,
        yuxuan::ml::similarity::DEFAULT_THRESHOLD,
        &JobCtx::new("dups"),
    )
    .unwrap();
    assert_eq!(report.items_searched, s.added);
    let group_of = |id: i64| report.groups.iter().find(|g| g.items.contains(&id));
    let g = group_of(chelsea).expect("the cat and its re-encode are near duplicates");
    assert!(
        g.items.contains(&small_id) && g.min_similarity >= 0.95,
        "{g:?}"
    );
    let g = group_of(left).expect("the stereo pair is a near duplicate");
    assert!(g.items.contains(&right), "{g:?}");
    assert!(group_of(coffee).is_none(), "{:?}", report.groups);
    assert!(report.groups.iter().all(|g| g.items.len() <= 3));
    assert_eq!(
        report.pairs,
        report
            .groups
            .iter()
            .map(|g| g.items.len() - 1)
            .sum::<usize>(),
        "pairs within groups of this set are trees"
    );

    // `--like`: the re-encode is the nearest item to the original, far above the rest.
    let near = yuxuan::ml::similarity::similar_to(&store, BACKBONE_ID, chelsea, 3).unwrap();
    assert_eq!(near[0].item_id, small_id);
    assert!(near[0].similarity > near[1].similarity + 0.2, "{near:?}");
    assert!(near.iter().all(|n| n.item_id != chelsea));
    drop(store);

    // The CLI prints the same groups as JSON, and says what to do without embeddings.
    let out = common::run(&["duplicates", project.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["groups"].as_array().unwrap().len(),
        report.groups.len()
    );
    let (empty, _) = common::image_project(dir.path(), &["a", "b"], 2);
    let out = common::run(&["duplicates", empty.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("yuxuan prelabel"),
        "{out:?}"
    );
}

#[test]
fn finetune_mode_trains_only_the_last_blocks_on_the_cpu_and_prelabels() {
    let dir = tempfile::tempdir().unwrap();
    let files = common::emoji(&["Flags", "Food & Drink", "Smileys & Emotion"], 6);
    let (mut store, _) = import_labelled_emoji(dir.path(), &files);
    // A head first (the usual start), then the lead switches to fine-tuning the backbone.
    let cfg = TrainConfig {
        epochs: 20,
        holdout: 0.34,
        learning_rate: 5e-3,
        ..Default::default()
    };
    let head = project::train(
        &mut store,
        sets::CLASS,
        None,
        &cfg,
        Activation::Always,
        &JobCtx::new("train"),
    )
    .unwrap();
    assert_eq!(head.model.kind, "image-head");
    let cfg = TrainConfig { epochs: 3, ..cfg };
    let ft = project::train(
        &mut store,
        sets::CLASS,
        Some(ImageMode::Finetune),
        &cfg,
        Activation::Never,
        &JobCtx::new("train"),
    )
    .unwrap();
    assert_eq!(ft.model.kind, "image-finetune");
    assert!(!ft.activated);
    assert_eq!(ft.epochs.len(), 3);
    assert!(ft.epochs.iter().all(|e| e.loss.is_finite()));
    // Compared with the active head on the same hold-out.
    let active = ft
        .active_metrics
        .as_ref()
        .expect("head scored on the hold-out");
    assert_eq!(active.n, ft.metrics.n);
    assert_eq!(ft.n_holdout, ft.metrics.n);

    // The frozen prefix is byte-for-byte the pretrained one; the last block learned.
    let saved = yuxuan::ml::family::weights_path(&store, &ft.model).unwrap();
    let saved: HashMap<String, tch::Tensor> = tch::Tensor::read_safetensors(&saved)
        .unwrap()
        .into_iter()
        .collect();
    let pre: HashMap<String, tch::Tensor> =
        tch::Tensor::read_safetensors(yuxuan::assets::mobilenet_weights())
            .unwrap()
            .into_iter()
            .collect();
    let same = |k: &str| saved[k].equal(&pre[k]);
    assert!(same("features.0.0.weight") && same("features.16.conv.0.0.weight"));
    assert!(!same("features.18.0.weight"), "block 18 was trained");
    assert!(saved.contains_key("head.weight"));

    // Activated, it pre-labels every image by running the whole network.
    store.activate_model(ft.model.id).unwrap();
    let n = project::predicted(&project::prelabel(&mut store, &JobCtx::new("prelabel")).unwrap());
    assert_eq!(n, files.len());
    let p = store
        .prediction(1, sets::CLASS, Some(ft.model.id))
        .unwrap()
        .unwrap();
    assert_eq!(p.top.len(), 3);
    let total: f64 = p.top.iter().map(|(_, s)| s).sum();
    assert!((total - 1.0).abs() < 1e-3, "{p:?}");
}

#[test]
fn a_near_duplicate_threshold_too_low_to_mean_anything_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    // 4,000 items in one tight cluster: at 0.5 every pair (about 8 million) is "similar".
    let (_, mut store) = common::image_project(dir.path(), &["a", "b"], 4000);
    let rows: Vec<(i64, Vec<f32>)> = (1..=4000)
        .map(|id| (id, cluster_vec(0, id as usize)))
        .collect();
    store.put_embeddings(BACKBONE_ID, &rows).unwrap();
    let err =
        yuxuan::ml::similarity::near_duplicates(&store, BACKBONE_ID, 0.5, &JobCtx::new("dups"))
            .unwrap_err()
            .to_string();
    assert!(err.contains("raise the threshold"), "{err}");
}

/// Real emoji (150 of each of two categories rich in variants: skin tones, family members,
/// flags; MobileNetV2 embeddings): the HNSW index finds the near-duplicate pairs the
/// exact all-pairs search finds at 0.95 (recall >= 0.95), none below the threshold, and the
/// same groups come out of `near_duplicates_by` either way as far as the pairs agree.
#[test]
fn the_index_finds_the_near_duplicates_of_real_emoji_that_the_exact_search_finds() {
    use yuxuan::ml::similarity::{self, Embeddings, Search, DEFAULT_THRESHOLD};
    let dir = tempfile::tempdir().unwrap();
    let files = common::emoji(&["People & Body", "Flags"], 150);
    assert_eq!(files.len(), 300);
    // (Byte-identical PNGs are one item: import deduplicates by content hash.)
    let (mut store, s) = import_labelled_emoji(dir.path(), &files);
    assert!(s.added > 250, "{s:?}");
    project::embed_missing(&mut store, &JobCtx::new("embed")).unwrap();

    let e = Embeddings::load(&store, BACKBONE_ID).unwrap();
    let ctx = JobCtx::new("dups");
    let exact = similarity::pairs(&e, DEFAULT_THRESHOLD, Search::Exact, &ctx).unwrap();
    let index = similarity::pairs(&e, DEFAULT_THRESHOLD, Search::Index, &ctx).unwrap();
    assert!(exact.len() >= 20, "{} exact pairs", exact.len());
    let recall = similarity::recall(&exact, &index);
    assert!(
        recall >= 0.95,
        "recall {recall:.3}: {} of {} exact pairs",
        index.len(),
        exact.len()
    );
    // Nothing the exact search would not report (up to float rounding at the threshold).
    let truth: std::collections::HashSet<(u32, u32)> = exact.iter().map(|p| (p.a, p.b)).collect();
    for p in &index {
        assert!(p.similarity >= DEFAULT_THRESHOLD, "{p:?}");
        assert!(
            truth.contains(&(p.a, p.b)) || p.similarity < DEFAULT_THRESHOLD + 1e-4,
            "{p:?} not an exact pair"
        );
    }
    // The report of each search: its own pairs grouped; auto is exact at this size.
    let by = |search| {
        similarity::near_duplicates_by(&store, BACKBONE_ID, DEFAULT_THRESHOLD, search, &ctx)
            .unwrap()
    };
    let (r_exact, r_index, r_auto) = (by(Search::Exact), by(Search::Index), by(Search::Auto));
    assert_eq!(
        (r_exact.search, r_index.search),
        (Search::Exact, Search::Index)
    );
    assert_eq!(r_auto.search, Search::Exact);
    assert_eq!(r_auto.groups, r_exact.groups);
    assert_eq!((r_exact.pairs, r_index.pairs), (exact.len(), index.len()));
    let members = |r: &similarity::DuplicateReport| -> Vec<Vec<i64>> {
        r.groups.iter().map(|g| g.items.clone()).collect()
    };
    if index.len() == exact.len() {
        assert_eq!(members(&r_index), members(&r_exact));
    } else {
        // Every index group lies inside one exact group.
        for g in members(&r_index) {
            assert!(
                members(&r_exact)
                    .iter()
                    .any(|x| g.iter().all(|i| x.contains(i))),
                "{g:?}"
            );
        }
    }
}

/// Real emoji, both backbones: the head trains deterministically, records a temperature, ECE
/// and bulk threshold from its hold-out, pre-labels with calibrated scores, and `yuxuan
/// models` shows the ECE.
#[test]
fn the_head_on_both_backbones_is_calibrated_and_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cal.yuxuan");
    let pics = common::cli_emoji_project(&path, 30, "both");
    let p = path.to_str().unwrap();
    let mut store = Store::open(&path).unwrap();
    assert_eq!(
        yuxuan::ml::backbone::BackboneChoice::of_project(&store).unwrap(),
        yuxuan::ml::backbone::BackboneChoice::Both
    );
    project::embed_missing(&mut store, &JobCtx::new("embed")).unwrap();
    for net in yuxuan::ml::backbone::BackboneChoice::Both.nets() {
        assert_eq!(store.embedding_count(net.id()).unwrap(), 120, "{net:?}");
    }
    // Label 80 of them (20 per category) with the truth.
    let by_path: HashMap<String, String> = pics
        .iter()
        .map(|(f, c)| (f.display().to_string(), c.clone()))
        .collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let decisions: Vec<NewDecision> = store
        .items_of_kind(yuxuan::domain::ItemKind::Image)
        .unwrap()
        .into_iter()
        .filter_map(|it| {
            let c = by_path[&it.source_path].clone();
            let n = seen.entry(c.clone()).or_default();
            *n += 1;
            (*n <= 20).then(|| NewDecision {
                item_id: it.id,
                label_set: sets::CLASS.into(),
                label: Some(c),
                annotator: "t".into(),
                action: Action::Correct,
                ms_spent: 0,
                prediction_id: None,
            })
        })
        .collect();
    store
        .add_labels(sets::CLASS, &common::EMOJI_CATS.map(NewLabel::named))
        .unwrap();
    store.record_decisions(&decisions).unwrap();
    let cfg = TrainConfig {
        holdout: 0.3,
        ..Default::default()
    };
    let train = |store: &mut Store| {
        project::train(
            store,
            sets::CLASS,
            None,
            &cfg,
            Activation::Never,
            &JobCtx::new("t"),
        )
        .unwrap()
    };
    let a = train(&mut store);
    let b = train(&mut store);
    let wa = yuxuan::ml::family::weights_path(&store, &a.model).unwrap();
    let wb = yuxuan::ml::family::weights_path(&store, &b.model).unwrap();
    assert_eq!(
        std::fs::read(&wa).unwrap(),
        std::fs::read(&wb).unwrap(),
        "the same labels give the same model"
    );
    assert_eq!(a.model.spec["features"], "l2-scaled");
    assert_eq!(a.model.spec["dim"], 2560);
    let c = a
        .metrics
        .calibration
        .clone()
        .expect("calibrated on the hold-out");
    assert_eq!(c.n, a.n_holdout);
    assert!(c.temperature > 0.05 && c.temperature < 20.0, "{c:?}");
    assert!((0.0..=1.0).contains(&c.ece), "{c:?}");
    assert!(a.metrics.accuracy > 0.6, "{:?}", a.metrics);
    let t = a.model.spec["temperature"].as_f64().unwrap();
    assert!((t - c.temperature).abs() < 1e-9);
    let w = a.model.spec["propagation"].as_f64().unwrap();
    assert!(yuxuan::ml::propagation::WEIGHTS.contains(&w));
    store.activate_model(a.model.id).unwrap();
    let done = project::prelabel(&mut store, &JobCtx::new("p")).unwrap();
    assert_eq!(project::predicted(&done), 120);
    for p in store
        .predictions_of_model(sets::CLASS, Some(a.model.id))
        .unwrap()
    {
        let total: f64 = p.top.iter().map(|(_, s)| s).sum();
        assert!(total <= 1.0 + 1e-6 && p.score > 0.0, "{p:?}");
    }
    let out = common::ok(&common::run(&["models", p]));
    assert!(
        out.contains("ECE") && out.contains(&format!("{:.3}", c.ece)),
        "{out}"
    );
}

/// Real emoji (150 of each of 4 categories, MobileNetV2): the neighbour graph built through the
/// HNSW index on the features' top principal axes (what projects above 30k images get) keeps
/// most of the exact graph's neighbours, and label spreading over it from the same seeds gives
/// most images the label the exact graph gives, and as many the right one.
#[test]
fn the_index_neighbour_graph_of_real_emoji_agrees_with_the_exact_one() {
    use yuxuan::ml::image_head::{feature_matrix, Features};
    use yuxuan::ml::propagation::{Graph, K};
    let dir = tempfile::tempdir().unwrap();
    let files = common::emoji(&common::EMOJI_CATS, 150);
    let (mut store, _) = import_labelled_emoji(dir.path(), &files);
    project::embed_missing(&mut store, &JobCtx::new("embed")).unwrap();
    let labels: HashMap<i64, String> = store
        .current_labels(sets::CLASS)
        .unwrap()
        .into_iter()
        .collect();
    let mut items: Vec<i64> = labels.keys().copied().collect();
    items.sort();
    assert!(items.len() > 550, "{}", items.len());
    let features = |ids: &[i64]| {
        feature_matrix(
            &store,
            BACKBONE_ID,
            ids,
            Features::L2Scaled,
            tch::Device::Cpu,
        )
    };
    let exact = Graph::build(items.clone(), &features(&items).unwrap()).unwrap();
    let index = Graph::build_index(items.clone(), &features, &JobCtx::new("graph")).unwrap();
    assert_eq!(index.items, exact.items);
    let shared: usize = (0..items.len())
        .map(|r| {
            index.nbr[r]
                .iter()
                .filter(|j| exact.nbr[r].contains(j))
                .count()
        })
        .sum();
    let recall = shared as f64 / (items.len() * K) as f64;
    assert!(recall >= 0.8, "neighbour recall {recall:.3}");
    assert!(index.nbr.iter().enumerate().all(|(r, nb)| nb
        .iter()
        .all(|&j| (j as usize) < items.len() && j as usize != r)));
    // Seeds: every 10th image with its category.
    let names: Vec<String> = {
        let mut v: Vec<String> = labels.values().cloned().collect();
        v.sort();
        v.dedup();
        v
    };
    let seeds: Vec<(i64, usize)> = items
        .iter()
        .step_by(10)
        .map(|id| (*id, names.iter().position(|n| *n == labels[id]).unwrap()))
        .collect();
    let argmax = |p: &Vec<f32>| (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
    let (se, si) = (
        exact.spread(&seeds, names.len()),
        index.spread(&seeds, names.len()),
    );
    let same = se
        .iter()
        .zip(&si)
        .filter(|(a, b)| argmax(a) == argmax(b))
        .count();
    let agree = same as f64 / items.len() as f64;
    let right = |s: &[Vec<f32>]| {
        items
            .iter()
            .zip(s)
            .filter(|(id, p)| names[argmax(p)] == labels[*id])
            .count() as f64
            / items.len() as f64
    };
    eprintln!(
        "neighbour recall {recall:.3}, spreading agreement {agree:.3}, accuracy exact {:.3} index {:.3}",
        right(&se),
        right(&si)
    );
    // (Measured: recall 0.86, agreement 0.88, accuracy 0.51 exact vs 0.60 index: where the
    // two disagree, both are mostly wrong; 10 % seeds over 4 broad categories.)
    assert!(agree >= 0.8, "spreading agreement {agree:.3}");
    assert!(right(&si) >= right(&se) - 0.03);
}

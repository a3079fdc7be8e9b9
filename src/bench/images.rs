//! Row `images`: how many suggestions an annotator corrects over a full pass, yuxuan's
//! simulator (the project defaults: the new-project backbone, the default queue order, the
//! calibrated head with label spreading) next to the script an ML engineer writes instead
//! (`scripts/bench_images_reference.py`: torchvision MobileNetV2 features + scikit-learn
//! logistic regression, least-confidence batches), on the same images in the same run, with
//! the same held-out share. Data: every Noto emoji with its category (9 classes) and 5,000
//! MNIST digits (installed by setup). Also yuxuan with the script's queue order (uncertain
//! first), so the gain of each part shows.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{BenchConfig, Measured, Metric, RowOutcome, Target};
use crate::domain::TaskKind;
use crate::jobs::JobCtx;
use crate::ml::backbone::{BackboneChoice, BACKBONE_SETTING};
use crate::queue::Strategy;
use crate::simulate::{self, SimOptions};
use crate::store::Store;

/// Items per labelling batch (the and the script's).
pub const BATCH: usize = 50;

/// A data set: its name and truth CSV (path,label).
pub(super) fn data_sets(dir: &Path) -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
    let mut out = Vec::new();
    let emoji = crate::demo::pick_emoji(&crate::assets::emoji_dir(), usize::MAX)?;
    let csv = dir.join("emoji-truth.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&csv)?);
    writeln!(f, "path,label")?;
    for (cat, p) in &emoji {
        writeln!(f, "{},{}", p.display(), cat)?;
    }
    f.flush()?;
    out.push(("emoji (9 categories)", csv));
    let digits = crate::assets::cache_dir()
        .join("data-v1")
        .join("digits")
        .join("truth.csv");
    anyhow::ensure!(
        digits.is_file(),
        "MNIST digits not installed at {}; {}",
        digits.display(),
        crate::assets::SETUP_HINT
    );
    out.push(("MNIST digits (10 classes)", digits));
    Ok(out)
}

/// A project of the truth CSV's images with `backbone`, embeddings computed.
pub(super) fn project(
    dir: &Path,
    name: &str,
    truth: &Path,
    backbone: BackboneChoice,
) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{name}.yuxuan"));
    let mut store = Store::create(&path, name, TaskKind::Image)?;
    store.set_setting(BACKBONE_SETTING, serde_json::json!(backbone.as_str()))?;
    let (by_path, _) = crate::ingest::images::read_labels_csv(truth)?;
    let mut files: Vec<PathBuf> = by_path.keys().cloned().collect();
    files.sort();
    crate::ingest::images::import_paths(
        &mut store,
        &files,
        &Default::default(),
        &JobCtx::new("import"),
    )?;
    crate::ml::project::embed_missing(&mut store, &JobCtx::new("embed"))?;
    Ok(path)
}

fn simulate_on(
    dir: &Path,
    base: &Path,
    truth: &Path,
    strategy: Strategy,
    seed: u64,
) -> anyhow::Result<simulate::SimSummary> {
    let copy = dir.join(format!(
        "{}-{}.yuxuan",
        base.file_stem().and_then(|s| s.to_str()).unwrap_or("p"),
        strategy.as_str()
    ));
    Store::open(base)?.copy_to(&copy)?;
    let mut store = Store::open(&copy)?;
    let (by_path, _) = crate::ingest::images::read_labels_csv(truth)?;
    let t = simulate::truth_by_item(&store, &by_path)?;
    let opts = SimOptions {
        batch: BATCH,
        strategy,
        seed,
        ..Default::default()
    };
    let points = simulate::run(&mut store, &t, &opts, &JobCtx::new("simulate"))?;
    Ok(simulate::summarize(&points))
}

/// The row.
pub fn run_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    let tmp = tempfile::Builder::new()
        .prefix("bench-images")
        .tempdir_in(&cfg.dir)?;
    let dir = tmp.path();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join("bench_images_reference.py");
    let backbone = BackboneChoice::NEW_PROJECT_DEFAULT;
    let mut m = Measured::default();
    let holdout = SimOptions::default().eval_holdout;
    for (k, (name, truth)) in data_sets(dir)?.into_iter().enumerate() {
        let t0 = Instant::now();
        let base = project(dir, &format!("set{k}"), &truth, backbone)?;
        let embed_s = t0.elapsed().as_secs_f64();
        let ours = simulate_on(dir, &base, &truth, Strategy::default(), cfg.seed)?;
        let ours_unc = simulate_on(dir, &base, &truth, Strategy::Uncertain, cfg.seed)?;
        let out = std::process::Command::new(crate::assets::venv_python())
            .arg(&script)
            .arg(&truth)
            .arg(crate::assets::mobilenet_weights())
            .arg(BATCH.to_string())
            .arg(cfg.seed.to_string())
            .arg(holdout.to_string())
            .output();
        let script_ratio = match out {
            Ok(o) if o.status.success() => {
                let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
                v["corrections_ratio"].as_f64()
            }
            Ok(o) => {
                m.notes.push(format!(
                    "{name}: the Python reference failed (make setup installs torchvision and scikit-learn): {}",
                    String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
                ));
                None
            }
            Err(e) => {
                m.notes.push(format!(
                    "{name}: Python reference not run (no venv python: {e})"
                ));
                None
            }
        };
        let mut ours_m = Metric::new(
            format!(
                "{name}: corrections of a full pass, yuxuan ({}, {})",
                Strategy::default().as_str(),
                backbone.as_str()
            ),
            ours.corrections_ratio,
            "",
        );
        let mut unc_m = Metric::new(
            format!("{name}: corrections, yuxuan with the script's order (uncertain)"),
            ours_unc.corrections_ratio,
            "",
        );
        if let Some(s) = script_ratio {
            ours_m = ours_m
                .reference(
                    "the script (torchvision + scikit-learn, least confident)",
                    s,
                    "",
                )
                .target(Target::below(s));
            unc_m = unc_m.reference("the script", s, "");
            m.notes.push(format!(
                "{name}: yuxuan / script = {:.2} (default order), {:.2} (uncertain order)",
                ours.corrections_ratio / s,
                ours_unc.corrections_ratio / s
            ));
        }
        m.metrics.push(ours_m);
        m.metrics.push(unc_m);
        let f = |x: Option<f64>| x.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
        let at: Vec<String> = ours
            .at
            .iter()
            .map(|(n, a, f1)| format!("{n} labels: acc {} macro-F1 {}", f(*a), f(*f1)))
            .collect();
        m.notes.push(format!(
            "{name}: {} labels in the pass ({:.0} % held out); held-out {}; ECE {}; bulk accept precision {} on {}; {:.2} s per retrain; embedding ({}) {embed_s:.0} s",
            ours.labels,
            holdout * 100.0,
            at.join(", "),
            f(ours.final_ece),
            f(ours.bulk_precision),
            ours.bulk_share.map(|x| format!("{:.0} % of the items", x * 100.0)).unwrap_or_else(|| "-".into()),
            ours.mean_train_seconds,
            backbone.as_str(),
        ));
    }
    Ok(m.into())
}

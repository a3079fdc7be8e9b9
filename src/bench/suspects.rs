//! Row `suspects`: how many of the labels flipped on purpose the suspect-label finder puts
//! first (precision@k, k = the flips: 5 % of the labels, half to the most confused class,
//! half uniformly, seeded), next to confident learning as its authors ship it
//! (`scripts/bench_suspects_reference.py`: cleanlab's `find_label_issues` on scikit-learn
//! logistic-regression out-of-fold probabilities) on the same embeddings and the same noisy
//! labels, in the same run. Data: the emoji and MNIST digit sets of the `images` row.

use std::io::Write;
use std::path::Path;

use super::{BenchConfig, Measured, Metric, RowOutcome, Target};
use crate::exchange::import::{import_labels, ImportFormat, LabelImportRequest};
use crate::jobs::JobCtx;
use crate::ml::backbone::BackboneChoice;
use crate::ml::suspects::{self, SuspectOptions};
use crate::store::Store;

/// Share of the labels flipped.
pub const NOISE: f64 = 0.05;

/// The row.
pub fn run_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    let tmp = tempfile::Builder::new()
        .prefix("bench-suspects")
        .tempdir_in(&cfg.dir)?;
    let dir = tmp.path();
    let backbone = BackboneChoice::NEW_PROJECT_DEFAULT;
    let opts = SuspectOptions {
        seed: cfg.seed,
        ..Default::default()
    };
    let mut m = Measured::default();
    for (k, (name, truth)) in super::images::data_sets(dir)?.into_iter().enumerate() {
        let path = super::images::project(dir, &format!("set{k}"), &truth, backbone)?;
        let mut store = Store::open(&path)?;
        import_labels(
            &mut store,
            &LabelImportRequest::new(ImportFormat::Csv, &truth),
            &JobCtx::new("labels"),
        )?;
        let set = crate::domain::sets::CLASS;
        let (e, noisy, classes) =
            suspects::evaluate(&mut store, set, NOISE, &opts, &JobCtx::new("suspects"))?;
        let reference = match run_reference(
            &store,
            &noisy,
            &classes,
            opts.folds,
            cfg.seed,
            &dir.join(format!("ref{k}")),
        ) {
            Ok(v) => Some(v),
            Err(e) => {
                m.notes.push(format!("{name}: {e:#}"));
                None
            }
        };
        let mut ours = Metric::new(
            format!(
                "{name}: precision@k of yuxuan suspects ({} flips of {})",
                e.flipped, e.items
            ),
            e.precision_at_k,
            "",
        );
        if let Some(r) = &reference {
            let runs = r["runs"].as_object().cloned().unwrap_or_default();
            let mut best: Option<f64> = None;
            for (feat, v) in &runs {
                let p = v["precision_at_k"].as_f64().unwrap_or(0.0);
                m.notes.push(format!(
                    "{name}: cleanlab on {feat}: precision@k {p:.3}, {} flagged ({:.3} of them flipped), {:.1} s",
                    v["flagged"],
                    v["flagged_precision"].as_f64().unwrap_or(0.0),
                    v["seconds"].as_f64().unwrap_or(0.0)
                ));
                best = Some(best.map_or(p, |b: f64| b.max(p)));
            }
            // The reference: the textbook user's features (MobileNetV2 as it comes).
            if let Some((feat, v)) = runs
                .iter()
                .find(|(f, _)| f.ends_with("(raw)"))
                .or_else(|| runs.iter().next())
            {
                let p = v["precision_at_k"].as_f64().unwrap_or(0.0);
                ours = ours.reference(format!("cleanlab + scikit-learn LR on {feat}"), p, "");
            }
            if let Some(b) = best {
                ours = ours.target(Target::at_least(b));
            }
        }
        m.metrics.push(ours);
        m.notes.push(format!(
            "{name}: yuxuan flagged {} ({:.3} of them flipped, {:.3} of the flips), {:.1} s for the clean and the noisy check ({}-fold, {} repeat(s), neighbour weight {})",
            e.flagged,
            e.flagged_precision,
            e.flagged_recall,
            e.seconds,
            opts.folds,
            opts.repeats,
            suspects::NEIGHBOUR_WEIGHT
        ));
    }
    Ok(m.into())
}

/// Run the reference script on the project's embeddings (every backbone of its choice) and
/// `noisy` labels (item, label; the store's current labels are the truth) in `dir`; returns
/// the script's JSON.
pub fn run_reference(
    store: &Store,
    noisy: &[(i64, String)],
    classes: &[String],
    folds: usize,
    seed: u64,
    dir: &Path,
) -> anyhow::Result<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join("bench_suspects_reference.py");
    std::fs::create_dir_all(dir)?;
    let items: Vec<i64> = noisy.iter().map(|(id, _)| *id).collect();
    for net in BackboneChoice::of_project(store)?.nets() {
        crate::ml::image_head::embedding_matrix(store, net.id(), &items, tch::Device::Cpu)?
            .write_npy(dir.join(format!("features-{}.npy", net.id())))?;
    }
    let truth_of: std::collections::HashMap<i64, String> = store
        .current_labels(crate::domain::sets::CLASS)?
        .into_iter()
        .collect();
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("labels.csv"))?);
    writeln!(f, "row,noisy,flipped")?;
    for (row, (id, l)) in noisy.iter().enumerate() {
        let c = classes.iter().position(|x| x == l).unwrap_or(0);
        let flipped = truth_of.get(id).is_some_and(|t| t != l);
        writeln!(f, "{row},{c},{}", u8::from(flipped))?;
    }
    f.flush()?;
    drop(f);
    let o = std::process::Command::new(crate::assets::venv_python())
        .arg(&script)
        .arg(dir)
        .arg(folds.to_string())
        .arg(seed.to_string())
        .output()
        .map_err(|e| anyhow::anyhow!("Python reference not run (no venv python: {e})"))?;
    anyhow::ensure!(
        o.status.success(),
        "the Python reference failed (make setup installs cleanlab and scikit-learn): {}",
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .unwrap_or("")
    );
    Ok(serde_json::from_slice(&o.stdout)?)
}

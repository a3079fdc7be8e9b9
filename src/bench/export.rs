//! Export benchmark: builds a synthetic image project (`n` items, 10 classes, an active model
//! with a prediction per item, a human decision on 70% of the items with the prediction that
//! was shown), then times the CSV and JSONL exports (human labels only, and with machine
//! labels) and reads the process's peak memory before and after, to show that exports
//! stream. Target: under 10 s for CSV/JSONL at 100k items.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::domain::{sets, Action, ItemKind, NewDecision, NewItem, NewLabel, TaskKind};
use crate::exchange::{export, ExportFormat, ExportRequest};
use crate::jobs::JobCtx;
use crate::store::models::NewModel;
use crate::store::predictions::NewPrediction;
use crate::store::Store;

/// One timed export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportTiming {
    pub name: String,
    pub rows: u64,
    pub elapsed: Duration,
    pub bytes: u64,
}

/// What [`run`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportBenchReport {
    pub items: usize,
    pub setup: Duration,
    /// Setup phases (insert items, predictions, decisions) and their times.
    pub setup_phases: Vec<(String, Duration)>,
    pub timings: Vec<ExportTiming>,
    /// Peak resident memory (VmHWM, KiB) after building the project and after the exports.
    pub peak_kib_before: Option<u64>,
    pub peak_kib_after: Option<u64>,
}

impl std::fmt::Display for ExportBenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "export bench: {} items (setup {:.2} s)",
            self.items,
            self.setup.as_secs_f64()
        )?;
        for (name, d) in &self.setup_phases {
            writeln!(f, "  setup: {name:<24} {:>8.3} s", d.as_secs_f64())?;
        }
        for t in &self.timings {
            writeln!(
                f,
                "  {:<28} {:>8} rows {:>8.3} s {:>10.0} rows/s {:>8.1} MiB",
                t.name,
                t.rows,
                t.elapsed.as_secs_f64(),
                t.rows as f64 / t.elapsed.as_secs_f64().max(1e-9),
                t.bytes as f64 / (1024.0 * 1024.0)
            )?;
        }
        if let (Some(a), Some(b)) = (self.peak_kib_before, self.peak_kib_after) {
            writeln!(
                f,
                "  peak RSS: {:.1} MiB before exports, {:.1} MiB after",
                a as f64 / 1024.0,
                b as f64 / 1024.0
            )?;
        }
        Ok(())
    }
}

fn peak_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// Build the synthetic project in a scratch folder inside `work_dir` (which must exist), time
/// the exports, and remove the scratch folder.
pub fn run(n: usize, work_dir: &Path) -> anyhow::Result<ExportBenchReport> {
    let t0 = Instant::now();
    // Everything goes into a scratch folder inside `work_dir`, removed at the end.
    let scratch = tempfile::Builder::new()
        .prefix("export-bench-")
        .tempdir_in(work_dir)
        .with_context(|| format!("creating a scratch folder in {}", work_dir.display()))?;
    let work_dir = scratch.path();
    let project = work_dir.join("export-bench.yuxuan");
    let mut store = Store::create(&project, "export-bench", TaskKind::Image)?;
    let classes: Vec<String> = (0..10).map(|i| format!("class_{i}")).collect();
    store.add_labels(
        sets::CLASS,
        &classes.iter().map(NewLabel::named).collect::<Vec<_>>(),
    )?;
    let items: Vec<NewItem> = (0..n)
        .map(|i| {
            let mut it = NewItem::new(
                ItemKind::Image,
                format!("/data/bench/{:03}/img_{i:07}.jpg", i % 1000),
            );
            it.content_hash = Some(blake3::hash(&(i as u64).to_le_bytes()).to_hex().to_string());
            it.width = Some(640);
            it.height = Some(480);
            it
        })
        .collect();
    let mut setup_phases = Vec::new();
    let mut phase = Instant::now();
    let mut lap = |name: &str, setup_phases: &mut Vec<(String, Duration)>| {
        setup_phases.push((name.to_string(), phase.elapsed()));
        phase = Instant::now();
    };
    let ids: Vec<i64> = store
        .insert_items(&items)?
        .into_iter()
        .map(|x| x.id())
        .collect();
    drop(items);
    lap("insert items", &mut setup_phases);
    let model = store.add_model(&NewModel {
        label_set: sets::CLASS.into(),
        kind: "bench".into(),
        parent_id: None,
        training_run_id: None,
        labels: classes.clone(),
        spec: serde_json::json!({}),
        metrics: None,
        weights_path: None,
        weights_sha256: None,
    })?;
    store.activate_model(model.id)?;
    let preds: Vec<NewPrediction> = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let s = 0.3 + 0.7 * ((i * 7919) % 1000) as f64 / 1000.0;
            NewPrediction {
                item_id: id,
                top: vec![
                    (classes[i % 10].clone(), s),
                    (classes[(i + 1) % 10].clone(), (1.0 - s) / 2.0),
                ],
            }
        })
        .collect();
    store.put_predictions(sets::CLASS, Some(model.id), &preds)?;
    drop(preds);
    lap("store predictions", &mut setup_phases);
    let shown: Vec<(i64, i64)> = store
        .predictions_of_model(sets::CLASS, Some(model.id))?
        .into_iter()
        .map(|p| (p.item_id, p.id))
        .collect();
    let decisions: Vec<NewDecision> = shown
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 < 7)
        .map(|(i, &(item_id, pid))| {
            let correct = i % 5 == 0;
            NewDecision {
                item_id,
                label_set: sets::CLASS.into(),
                label: Some(classes[if correct { (i + 3) % 10 } else { i % 10 }].clone()),
                annotator: format!("annotator{}", i % 3),
                action: if correct {
                    Action::Correct
                } else {
                    Action::Accept
                },
                ms_spent: 400 + (i % 900) as i64,
                prediction_id: Some(pid),
            }
        })
        .collect();
    drop(shown);
    lap("read predictions", &mut setup_phases);
    store.record_decisions(&decisions)?;
    drop(decisions);
    lap("record decisions", &mut setup_phases);
    let setup = t0.elapsed();
    let peak_kib_before = peak_kib();

    let mut timings = Vec::new();
    for (name, format, with_preds) in [
        ("csv (human labels)", ExportFormat::Csv, false),
        ("jsonl (human labels)", ExportFormat::Jsonl, false),
        ("csv (+ machine labels)", ExportFormat::Csv, true),
        ("jsonl (+ machine labels)", ExportFormat::Jsonl, true),
    ] {
        let out = work_dir.join(format!("export-bench-{}-{}", format.as_str(), with_preds));
        if out.exists() {
            std::fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
        }
        let mut req = ExportRequest::new(format, &out);
        req.include_predictions = with_preds;
        req.min_score = 0.5;
        let t = Instant::now();
        let s = export(&store, &req, &JobCtx::new("export-bench"))?;
        let elapsed = t.elapsed();
        timings.push(ExportTiming {
            name: name.into(),
            rows: s.human + s.machine,
            elapsed,
            bytes: dir_bytes(&out),
        });
        std::fs::remove_dir_all(&out).ok();
    }
    let peak_kib_after = peak_kib();
    Ok(ExportBenchReport {
        items: n,
        setup,
        setup_phases,
        timings,
        peak_kib_before,
        peak_kib_after,
    })
}

/// The `export` row of `yuxuan bench`: [`run`] at `cfg.items`, each export's time against the
/// 10 s target, its rows/s as the reference, setup phases and peak memory as notes.
pub fn run_row(cfg: &super::BenchConfig) -> anyhow::Result<super::RowOutcome> {
    use super::{Measured, Metric, Target};
    std::fs::create_dir_all(&cfg.dir).with_context(|| format!("creating {}", cfg.dir.display()))?;
    let r = run(cfg.items, &cfg.dir)?;
    let metrics = r
        .timings
        .iter()
        .map(|t| {
            let secs = t.elapsed.as_secs_f64();
            Metric::new(t.name.clone(), secs, "s")
                .target(Target::below(10.0))
                .reference("rows/s", t.rows as f64 / secs.max(1e-9), "rows/s")
        })
        .collect();
    let mut notes = vec![format!(
        "{} items, 70% human-labelled, one prediction each",
        r.items
    )];
    notes.extend(
        r.setup_phases
            .iter()
            .map(|(n, d)| format!("setup {n}: {:.2} s", d.as_secs_f64())),
    );
    if let (Some(a), Some(b)) = (r.peak_kib_before, r.peak_kib_after) {
        notes.push(format!(
            "peak RSS {:.1} MiB before the exports, {:.1} MiB after (streaming)",
            a as f64 / 1024.0,
            b as f64 / 1024.0
        ));
    }
    Ok(Measured { metrics, notes }.into())
}

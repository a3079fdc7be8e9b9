//! Row `quality`: team quality control on a throwaway PostgreSQL server. 20 scripted
//! annotators who err on purpose at a known rate label 2,000 items with 10 % × 3 blind overlap
//! and 100 gold items. Printed: commit and lease p99 with overlap and gold in the queue; the
//! measured agreement next to what the error rate implies; and our kappa per pair and alpha
//! next to the Python a user would write on the same answers in the same run (scikit-learn's
//! `cohen_kappa_score`, the `krippendorff` package), with both computing times.

use std::io::Write;
use std::time::Instant;

use super::{BenchConfig, Measured, Metric, RowOutcome, Target};
use crate::jobs::JobCtx;
use crate::pgserver::PgServer;
use crate::review::agreement;
use crate::simulate::team::TeamSimOptions;
use crate::store::quality::Overlap;
use crate::store::Store;

const ITEMS: usize = 2000;
const ANNOTATORS: usize = 20;
const GOLD: usize = 100;
const ERROR_RATE: f64 = 0.1;
const LABELS: usize = 4;

/// The reference: reads `item,annotator,label` rows, prints JSON {kappa: {"a|b": k}, alpha,
/// seconds}.
const PY_REFERENCE: &str = r#"
import csv, json, sys, time
from collections import defaultdict
import numpy as np
import krippendorff
from sklearn.metrics import cohen_kappa_score
rows = list(csv.DictReader(open(sys.argv[1])))
t = time.perf_counter()
by_item = defaultdict(dict)
for r in rows:
    by_item[int(r["item"])][r["annotator"]] = r["label"]
names = sorted({r["annotator"] for r in rows})
kappa = {}
for i, a in enumerate(names):
    for b in names[i + 1:]:
        common = [it for it, v in by_item.items() if a in v and b in v]
        if common:
            ya = [by_item[it][a] for it in common]
            yb = [by_item[it][b] for it in common]
            k = cohen_kappa_score(ya, yb)
            kappa[a + "|" + b] = None if np.isnan(k) else float(k)
labels = sorted({r["label"] for r in rows})
code = {l: i for i, l in enumerate(labels)}
items = sorted(by_item)
data = np.full((len(names), len(items)), np.nan)
for j, it in enumerate(items):
    for i, a in enumerate(names):
        if a in by_item[it]:
            data[i, j] = code[by_item[it][a]]
alpha = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
print(json.dumps({"kappa": kappa, "alpha": float(alpha), "seconds": time.perf_counter() - t}))
"#;

pub fn run_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    let pg = PgServer::start_durable()?;
    let url = pg.url("quality");
    let truth = super::team::team_project(&url, ITEMS)?;
    let mut store = Store::open(std::path::Path::new(&url))?;
    store.set_overlap(Overlap {
        fraction: 0.1,
        annotators: 3,
    })?;
    // Leases long enough that no item runs out mid-run.
    store.set_setting("lease_minutes", serde_json::json!(5))?;
    let mut ids: Vec<i64> = truth.keys().copied().collect();
    ids.sort();
    let gold: Vec<(i64, String)> = ids
        .iter()
        .step_by(ITEMS / GOLD - 1)
        .take(GOLD)
        .map(|id| (*id, truth[id].clone()))
        .collect();
    store.add_gold("class", &gold, "lead")?;
    let opts = TeamSimOptions {
        annotators: ANNOTATORS,
        think_ms: 5,
        error_rate: ERROR_RATE,
        seed: cfg.seed,
        ..Default::default()
    };
    let r = crate::simulate::team::run(
        std::path::Path::new(&url),
        &truth,
        &opts,
        &JobCtx::new("bench"),
    )?;
    let mut m = Measured::default();
    let ms = super::team::ms;
    let (c, l) = (ms(&r.commit_ms()), ms(&r.lease_ms()));
    m.metrics.push(
        Metric::new("commit p99, 20 annotators, overlap + gold", c.p99, "ms")
            .target(Target::below(super::team::COMMIT_P99_MS)),
    );
    m.metrics.push(
        Metric::new("lease p99, 20 annotators, overlap + gold", l.p99, "ms")
            .target(Target::below(super::team::LEASE_P99_MS)),
    );

    let t = Instant::now();
    let rep = agreement::of_project(&store, "class")?;
    let ours_s = t.elapsed().as_secs_f64();
    let (po, kappa) = agreement::expected_with_error_rate(ERROR_RATE, LABELS);
    m.metrics.push(
        Metric::new("raw agreement", rep.raw.unwrap_or(f64::NAN), "").reference(
            "expected at this error rate",
            po,
            "",
        ),
    );
    m.metrics.push(
        Metric::new("Krippendorff's alpha", rep.alpha.unwrap_or(f64::NAN), "").reference(
            "expected kappa at this error rate",
            kappa,
            "",
        ),
    );
    let (checked, correct) = rep
        .gold
        .iter()
        .fold((0, 0), |(c, k), g| (c + g.checked, k + g.correct));
    m.metrics.push(
        Metric::new(
            "gold accuracy (pooled)",
            correct as f64 / checked.max(1) as f64,
            "",
        )
        .reference("1 - error rate", 1.0 - ERROR_RATE, ""),
    );
    m.notes.push(format!(
        "{} decisions in {:.1} s; {} items compared, {} disagree; {} gold checks; overlap items {}",
        r.decisions(),
        r.seconds,
        rep.items_compared,
        rep.disagreements,
        checked,
        store.overlap_items()?.len()
    ));

    // The Python reference on the same answers.
    let tmp = tempfile::Builder::new()
        .prefix("bench-quality")
        .tempdir_in(&cfg.dir)?;
    let csv_path = tmp.path().join("answers.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&csv_path)?);
    writeln!(f, "item,annotator,label")?;
    for a in store.annotations("class")? {
        if let Some(label) = &a.label {
            writeln!(f, "{},{},{}", a.item_id, a.annotator, label)?;
        }
    }
    f.flush()?;
    drop(f);
    let script = tmp.path().join("reference.py");
    std::fs::write(&script, PY_REFERENCE)?;
    let out = std::process::Command::new(crate::assets::venv_python())
        .arg(&script)
        .arg(&csv_path)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
            let mut worst = 0.0f64;
            let mut pairs = 0;
            for p in &rep.pairs {
                let key = format!("{}|{}", p.a, p.b);
                if let (Some(ours), Some(theirs)) = (p.kappa, v["kappa"][&key].as_f64()) {
                    worst = worst.max((ours - theirs).abs());
                    pairs += 1;
                }
            }
            let py_alpha = v["alpha"].as_f64().unwrap_or(f64::NAN);
            // In units of 1e-9: equal up to floating-point rounding.
            m.metrics.push(
                Metric::new("max |kappa - sklearn| over pairs", worst * 1e9, "e-9")
                    .target(Target::below(1.0)),
            );
            m.metrics.push(
                Metric::new(
                    "|alpha - krippendorff pkg|",
                    (rep.alpha.unwrap_or(f64::NAN) - py_alpha).abs() * 1e9,
                    "e-9",
                )
                .target(Target::below(1.0)),
            );
            m.metrics.push(
                Metric::new(
                    "agreement report (ours, from the database)",
                    ours_s * 1e3,
                    "ms",
                )
                .reference(
                    "Python sklearn + krippendorff on a CSV",
                    v["seconds"].as_f64().unwrap_or(f64::NAN) * 1e3,
                    "ms",
                ),
            );
            m.notes.push(format!(
                "{pairs} annotator pairs compared with scikit-learn"
            ));
        }
        Ok(o) => m.notes.push(format!(
            "Python reference not run (make setup installs scikit-learn and krippendorff): {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Err(e) => m
            .notes
            .push(format!("Python reference not run (no venv python: {e})")),
    }
    Ok(m.into())
}

//! `yuxuan agreement` (inter-annotator agreement and gold accuracy) and `yuxuan gold` (mark
//! items with known labels as gold checks).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use yuxuan::review::agreement;
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct AgreementArgs {
    /// Project file or team project URL.
    project: PathBuf,
    /// Label set (default: the project's main one, class or field_type).
    #[arg(long)]
    set: Option<String>,
    /// Print the whole report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct GoldArgs {
    /// Project file or team project URL (a lead's login).
    project: PathBuf,
    /// CSV with the known answers: `path,label` (as `import-labels`) or `item_id,label`.
    csv: Option<PathBuf>,
    /// Label set (default: the project's main one).
    #[arg(long)]
    set: Option<String>,
    /// Who marks them (recorded as the reviewer of their final label).
    #[arg(long, default_value = "lead")]
    annotator: String,
    /// List the gold items and their answers instead.
    #[arg(long, conflicts_with = "csv")]
    list: bool,
    /// Stop using these items (a CSV as above, labels ignored) as gold checks.
    #[arg(long)]
    remove: bool,
}

fn main_set(store: &Store, set: &Option<String>) -> anyhow::Result<String> {
    Ok(match set {
        Some(s) => s.clone(),
        None => yuxuan::review::main_label_set(store.project()?.kind).to_string(),
    })
}

fn f3(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into())
}

pub fn agreement(a: AgreementArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(&a.project)?;
    let set = main_set(&store, &a.set)?;
    let r = agreement::of_project(&store, &set).with_context(|| {
        "computing agreement (on a team project this needs a lead's login: it reads every annotator's answers and the gold answers)"
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "agreement in {} ({set}): {} annotators, {} items with answers from 2+ annotators, {} with a disagreement, {} flagged \"not sure\"",
        store.location().display(),
        r.annotators.len(),
        r.items_compared,
        r.disagreements,
        r.flagged_items
    );
    if let Some(o) = store.overlap()? {
        println!("overlap: {o}");
    }
    for p in &r.box_pairs {
        println!(
            "boxes {} / {}: {} images, {} boxes matched at IoU >= 0.5, same label {}, mean IoU {}; {} only {}'s, {} only {}'s",
            p.a,
            p.b,
            p.images,
            p.matched,
            f3(p.label_agreement),
            f3(p.mean_iou),
            p.only_a,
            p.a,
            p.only_b,
            p.b
        );
    }
    if r.items_compared == 0 {
        println!(
            "no item has answers from two annotators yet: give a share of the items to several (`yuxuan settings PROJECT --overlap 0.1x3`), or mark gold items (`yuxuan gold`)"
        );
    } else {
        println!(
            "raw agreement {}   Krippendorff's alpha (nominal) {}",
            f3(r.raw),
            f3(r.alpha)
        );
    }
    if !r.pairs.is_empty() {
        println!("\npairs (Cohen's kappa on the items both labelled):");
        println!(
            "{:<20} {:<20} {:>6} {:>6} {:>7}",
            "a", "b", "items", "raw", "kappa"
        );
        for p in &r.pairs {
            println!(
                "{:<20} {:<20} {:>6} {:>6.3} {:>7}",
                p.a,
                p.b,
                p.items,
                p.raw,
                f3(p.kappa)
            );
        }
    }
    if !r.labels.is_empty() {
        println!("\nper label (alpha of \"this label or not\"):");
        println!("{:<24} {:>8} {:>7}", "label", "answers", "alpha");
        for l in &r.labels {
            println!("{:<24} {:>8} {:>7}", l.label, l.answers, f3(l.alpha));
        }
    }
    if !r.gold.is_empty() {
        println!(
            "\ngold checks (flagged under {:.0} % after {} checks):",
            r.gold_threshold * 100.0,
            agreement::MIN_GOLD_CHECKS
        );
        println!(
            "{:<20} {:>8} {:>8} {:>9}",
            "annotator", "checked", "correct", "accuracy"
        );
        for g in &r.gold {
            println!(
                "{:<20} {:>8} {:>8} {:>9}{}",
                g.annotator,
                g.checked,
                g.correct,
                f3(g.accuracy),
                if g.flagged { "  FLAGGED" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Read `path,label` or `item_id,label` answers and match them to the project's items.
fn read_answers(store: &Store, csv_path: &PathBuf) -> anyhow::Result<Vec<(i64, String)>> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(csv_path)
        .with_context(|| format!("reading {}", csv_path.display()))?;
    let by_id = rdr
        .headers()?
        .get(0)
        .is_some_and(|h| h.trim().eq_ignore_ascii_case("item_id"));
    if by_id {
        let mut out = Vec::new();
        for (k, rec) in rdr.records().enumerate() {
            let rec = rec?;
            let (Some(id), Some(label)) = (rec.get(0), rec.get(1)) else {
                anyhow::bail!(
                    "{} line {}: expected item_id,label",
                    csv_path.display(),
                    k + 2
                );
            };
            let id: i64 = id.trim().parse().with_context(|| {
                format!("{} line {}: item id {id:?}", csv_path.display(), k + 2)
            })?;
            anyhow::ensure!(
                store.item(id)?.is_some(),
                "{} line {}: no item {id} in the project",
                csv_path.display(),
                k + 2
            );
            out.push((id, label.trim().to_string()));
        }
        return Ok(out);
    }
    let (by_path, problems) = yuxuan::ingest::images::read_labels_csv(csv_path)?;
    for p in &problems {
        eprintln!("warning: {p}");
    }
    let matched: HashMap<i64, String> = yuxuan::simulate::truth_by_item(store, &by_path)?;
    if matched.len() < by_path.len() {
        eprintln!(
            "warning: {} of {} rows match no item of the project",
            by_path.len() - matched.len(),
            by_path.len()
        );
    }
    let mut v: Vec<(i64, String)> = matched.into_iter().collect();
    v.sort();
    Ok(v)
}

pub fn gold(a: GoldArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(&a.project)?;
    let set = main_set(&store, &a.set)?;
    if a.list {
        let gold = store
            .gold(&set)
            .context("listing gold items (a lead's login reads the answers)")?;
        let paths = store.source_paths(&gold.iter().map(|g| g.0).collect::<Vec<_>>())?;
        for ((id, label), path) in gold.iter().zip(&paths) {
            println!("{id}\t{label}\t{}", path.as_deref().unwrap_or(""));
        }
        eprintln!("{} gold items in {set}", gold.len());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(csv_path) = &a.csv else {
        anyhow::bail!("give a CSV of known answers (path,label or item_id,label), or --list");
    };
    let answers = read_answers(&store, csv_path)?;
    anyhow::ensure!(
        !answers.is_empty(),
        "no row of {} matches an item of the project",
        csv_path.display()
    );
    if a.remove {
        let ids: Vec<i64> = answers.iter().map(|x| x.0).collect();
        let n = store.remove_gold(&set, &ids).context("a lead's login")?;
        println!("{n} items are no longer gold checks (their review decisions stay)");
        return Ok(ExitCode::SUCCESS);
    }
    let n = store
        .add_gold(&set, &answers, &a.annotator)
        .context("marking gold items (a lead's login)")?;
    let rate = store.gold_rate()?;
    if rate > 0.0 {
        println!(
            "{n} gold items in {set}: one in every {:.0} answers of each annotator is a gold check (`yuxuan settings --gold-rate`); their final label is the known one",
            1.0 / rate
        );
    } else {
        println!(
            "{n} gold items in {set} (gold checks are off: `yuxuan settings --gold-rate 0.05`)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

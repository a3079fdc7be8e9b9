//! `yuxuan suspects`: the labels that are probably wrong (out-of-fold confident learning),
//! ranked, with the estimated noise per class pair and each annotator's share of suspect
//! labels; `--evaluate` flips known labels and measures the finder.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use yuxuan::jobs::JobCtx;
use yuxuan::ml::suspects::{self, Summary, SuspectOptions};
use yuxuan::store::suspects::SuspectRow;
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file or team project URL (a lead's login).
    project: PathBuf,
    /// Label set (default: the project's main one, class or field_type).
    #[arg(long)]
    set: Option<String>,
    /// Show at most this many suspects (0: all).
    #[arg(long, default_value_t = 50)]
    top: usize,
    /// Print the suspects as CSV (rank,item_id,path,given,suggested,score,suggested_score,annotator).
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    /// Print the summary and the suspects as JSON.
    #[arg(long)]
    json: bool,
    /// Show the newest recorded check (its suspects not reviewed since) instead of checking again.
    #[arg(long, conflicts_with = "evaluate")]
    list: bool,
    /// Folds of the cross-validation (each label is predicted by a model trained on the others).
    #[arg(long, default_value_t = suspects::DEFAULT_FOLDS)]
    folds: usize,
    /// Cross-validations with different fold splits, averaged.
    #[arg(long, default_value_t = suspects::DEFAULT_REPEATS)]
    repeats: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Measure the finder: treat the current labels as the truth, flip --noise of them (in
    /// memory, half to the most confused class, half uniformly), print precision@k and recall@k
    /// with k = the number of flips. Nothing is written.
    #[arg(long)]
    evaluate: bool,
    /// Share of labels flipped by --evaluate.
    #[arg(long, default_value_t = 0.05)]
    noise: f64,
    /// With --evaluate (image projects): also run cleanlab + scikit-learn on the same
    /// embeddings and noisy labels (`scripts/bench_suspects_reference.py`, the venv's Python),
    /// its inputs written to this folder.
    #[arg(long, requires = "evaluate")]
    reference: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(&a.project)?;
    let set = match &a.set {
        Some(s) => s.clone(),
        None => yuxuan::review::main_label_set(store.project()?.kind).to_string(),
    };
    let opts = SuspectOptions {
        folds: a.folds,
        repeats: a.repeats,
        seed: a.seed,
    };
    let ctx = JobCtx::new("suspects").with_cli_bar();
    if a.evaluate {
        anyhow::ensure!(
            a.noise > 0.0 && a.noise < 0.5,
            "--noise must be in (0, 0.5), got {}",
            a.noise
        );
        let (e, noisy, classes) = suspects::evaluate(&mut store, &set, a.noise, &opts, &ctx)?;
        ctx.finish();
        let reference = match &a.reference {
            Some(dir) => Some(yuxuan::bench::suspects::run_reference(
                &store, &noisy, &classes, a.folds, a.seed, dir,
            )?),
            None => None,
        };
        if a.json {
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"yuxuan": e, "reference": reference})
                )?
            );
        } else {
            println!(
                "{} labels of {set}, {} flipped ({:.0} %, seed {}): precision@k {:.3}, recall@k {:.3} (k = {}); \
                 {} flagged, {:.3} of them flipped, {:.3} of the flips flagged; {:.1} s",
                e.items,
                e.flipped,
                e.noise * 100.0,
                e.seed,
                e.precision_at_k,
                e.recall_at_k,
                e.flipped,
                e.flagged,
                e.flagged_precision,
                e.flagged_recall,
                e.seconds
            );
            for (feat, v) in reference
                .as_ref()
                .and_then(|r| r["runs"].as_object())
                .into_iter()
                .flatten()
            {
                println!(
                    "cleanlab + scikit-learn LR on {feat}: precision@k {:.3}, {} flagged ({:.3} of them flipped), {:.1} s",
                    v["precision_at_k"].as_f64().unwrap_or(0.0),
                    v["flagged"],
                    v["flagged_precision"].as_f64().unwrap_or(0.0),
                    v["seconds"].as_f64().unwrap_or(0.0)
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (summary, rows) = if a.list {
        match suspects::latest(&store, &set)? {
            Some(x) => x,
            None => anyhow::bail!(
                "no check of {set:?} recorded yet: run `yuxuan suspects {}`",
                a.project.display()
            ),
        }
    } else {
        let f = suspects::find(&mut store, &set, &opts, &ctx)?;
        ctx.finish();
        (f.summary, f.suspects)
    };
    let shown: Vec<&SuspectRow> = rows
        .iter()
        .take(if a.top == 0 { usize::MAX } else { a.top })
        .collect();
    let ids: Vec<i64> = shown.iter().map(|s| s.item_id).collect();
    let paths: Vec<String> = store
        .source_paths(&ids)?
        .into_iter()
        .map(|p| p.unwrap_or_default())
        .collect();
    let who: HashMap<i64, String> = store
        .label_origins(&set)?
        .into_iter()
        .map(|o| (o.item_id, o.annotator))
        .collect();
    let annotator = |id: i64| who.get(&id).cloned().unwrap_or_default();
    if a.csv {
        let mut w = csv::Writer::from_writer(std::io::stdout().lock());
        w.write_record([
            "rank",
            "item_id",
            "path",
            "given",
            "suggested",
            "score",
            "suggested_score",
            "annotator",
        ])?;
        for (s, p) in shown.iter().zip(&paths) {
            w.write_record([
                s.rank.to_string(),
                s.item_id.to_string(),
                p.clone(),
                s.given.clone(),
                s.suggested.clone(),
                format!("{:.4}", s.score),
                format!("{:.4}", s.suggested_score),
                annotator(s.item_id),
            ])?;
        }
        w.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.json {
        let list: Vec<serde_json::Value> = shown
            .iter()
            .zip(&paths)
            .map(|(s, p)| {
                serde_json::json!({
                    "rank": s.rank, "item_id": s.item_id, "path": p, "given": s.given,
                    "suggested": s.suggested, "score": s.score,
                    "suggested_score": s.suggested_score, "annotator": annotator(s.item_id),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "summary": summary, "suspects": list,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    print_summary(&store, &set, &summary, rows.len())?;
    if !shown.is_empty() {
        println!(
            "\n{:>5} {:>8}  {:<16} {:<16} {:>6}  {:<12} path",
            "rank", "item", "given", "suggested", "score", "annotator"
        );
        for (s, p) in shown.iter().zip(&paths) {
            println!(
                "{:>5} {:>8}  {:<16} {:<16} {:>6.3}  {:<12} {p}",
                s.rank,
                s.item_id,
                s.given,
                s.suggested,
                s.score,
                annotator(s.item_id)
            );
        }
        if rows.len() > shown.len() {
            println!("… {} more (--top 0 shows all)", rows.len() - shown.len());
        }
        println!(
            "\nreview them in the app: Review, filter \"Suspect labels\" (Enter takes the suggestion, the digit of the given label keeps it)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(store: &Store, set: &str, s: &Summary, open: usize) -> anyhow::Result<()> {
    println!(
        "{} labels of {set} checked in {} classes ({}-fold out-of-fold {}, accuracy {:.3}): {} suspect, {open} open; about {:.0} mislabelled in all",
        s.checked,
        s.classes.len(),
        s.folds,
        s.model_kind,
        s.oof_accuracy,
        s.suspects,
        s.estimated_wrong
    );
    if !s.left_out.is_empty() {
        let l: Vec<String> = s
            .left_out
            .iter()
            .map(|(n, c)| format!("{n} ({c})"))
            .collect();
        println!(
            "not checked (fewer than {} labels): {}",
            suspects::MIN_PER_CLASS,
            l.join(", ")
        );
    }
    if !s.noise.is_empty() {
        println!("estimated noise (given -> probably):");
        for p in s.noise.iter().take(10) {
            println!(
                "  about {:.0} labelled {} are {}",
                p.items, p.given, p.truth
            );
        }
    }
    if !s.annotators.is_empty() {
        let gold: HashMap<String, (usize, Option<f64>)> =
            yuxuan::review::agreement::of_project(store, set)
                .map(|r| {
                    r.gold
                        .into_iter()
                        .map(|g| (g.annotator, (g.checked, g.accuracy)))
                        .collect()
                })
                .unwrap_or_default();
        println!("annotators (labels checked, suspect, share, gold accuracy):");
        for a in &s.annotators {
            let g = match gold.get(&a.annotator) {
                Some((n, Some(acc))) if *n > 0 => format!("{acc:.3} of {n}"),
                _ => "-".into(),
            };
            println!(
                "  {:<16} {:>6} {:>5} {:>6.1} %  {g}",
                a.annotator,
                a.labels,
                a.suspect,
                a.share * 100.0
            );
        }
    }
    Ok(())
}

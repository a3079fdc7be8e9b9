//! `yuxuan simulate`: replay an annotator who knows the truth on a copy of the project, and
//! write the curve (labels so far, accuracy on the rest, corrections so far) as CSV and PNG.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use yuxuan::jobs::JobCtx;
use yuxuan::queue::Strategy;
use yuxuan::simulate::{self, SimOptions};
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file (left untouched: the simulation runs on a copy), or with --annotators a
    /// project (file or team URL) the scripted annotators label for real.
    project: PathBuf,
    /// CSV `path,label` with the true label of each image. Object projects: the true boxes
    /// in any box format (COCO JSON, a YOLO folder, VOC, labelme, Label Studio).
    #[arg(long)]
    truth: PathBuf,
    /// Object projects: proposals below this score are not shown (the review screen's
    /// default threshold).
    #[arg(long, default_value_t = yuxuan::review::boxes::DEFAULT_HIDE_BELOW)]
    min_score: f64,
    /// Items labelled between two retrainings.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Queue strategy: confident (most likely right first: the fewest corrections, the
    /// app's default), uncertain, diverse, random, file-order.
    #[arg(long, default_value = "confident")]
    strategy: String,
    /// Stop after this many labels.
    #[arg(long)]
    max_labels: Option<usize>,
    #[arg(long)]
    epochs: Option<usize>,
    /// Output prefix (default: next to the project, `<project>.sim-<strategy>`): writes
    /// `.csv`, `.png` and the working copy `.yuxuan`.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Share of the truth items held out (stratified, seeded; never labelled) to measure the
    /// learning curve on: accuracy, macro-F1, ECE, bulk-accept precision.
    #[arg(long, default_value_t = 0.2)]
    eval_holdout: f64,
    /// Run several strategies side by side (comma-separated, e.g. `uncertain,confident`);
    /// one CSV (column `config`) and one plot.
    #[arg(long, value_delimiter = ',')]
    compare: Vec<String>,
    /// Backbones to compare (comma-separated: mobilenet-v2, efficientnet-lite0, both);
    /// default: the project's.
    #[arg(long, value_delimiter = ',', value_enum)]
    backbones: Vec<yuxuan::ml::backbone::BackboneChoice>,
    /// Team mode: this many scripted annotators, each on its own connection, take leases and
    /// label the project itself (load tests and demos) until every truth item has a label.
    #[arg(long)]
    annotators: Option<usize>,
    /// Team mode: mean think time per item in milliseconds.
    #[arg(long, default_value_t = 5)]
    think_ms: u64,
    /// Team mode: items leased at a time.
    #[arg(long, default_value_t = 2)]
    lease_batch: usize,
    /// Team mode: annotator names are PREFIX-1, PREFIX-2, …
    #[arg(long, default_value = "sim")]
    annotator_prefix: String,
    /// Team mode: print `saved ID item ITEM by NAME` after each acknowledged decision.
    #[arg(long)]
    print_acks: bool,
    /// Team mode: write the per-annotator report (latencies) as JSON.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Team mode: set the project's blind overlap first, N annotators for a fraction F of
    /// the items (e.g. 0.1x3).
    #[arg(long, value_parser = yuxuan::store::quality::Overlap::parse)]
    overlap: Option<yuxuan::store::quality::Overlap>,
    /// Team mode: each scripted annotator answers wrong on purpose at this rate (uniformly
    /// another label), to check agreement and gold accuracy.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Team mode: afterwards a scripted lead of this name resolves the review queue with the
    /// truth (disagreements and flags), then the agreement is printed.
    #[arg(long)]
    review_as: Option<String>,
}

fn run_team(a: &Args, strategy: Strategy, annotators: usize) -> anyhow::Result<ExitCode> {
    use yuxuan::simulate::team::{quantile, TeamSimOptions};
    anyhow::ensure!(
        (0.0..=1.0).contains(&a.error_rate),
        "--error-rate must be between 0 and 1"
    );
    let store = Store::open(&a.project)?;
    let (by_path, problems) = yuxuan::ingest::images::read_labels_csv(&a.truth)?;
    for p in &problems {
        eprintln!("warning: {p}");
    }
    let truth = simulate::truth_by_item(&store, &by_path)?;
    anyhow::ensure!(
        !truth.is_empty(),
        "no row of {} matches an image of the project",
        a.truth.display()
    );
    if let Some(o) = a.overlap {
        store.set_overlap(o)?;
        eprintln!("overlap: {o}");
    }
    let where_ = store.location().display();
    drop(store);
    let opts = TeamSimOptions {
        annotators,
        prefix: a.annotator_prefix.clone(),
        think_ms: a.think_ms,
        lease_batch: a.lease_batch,
        strategy,
        print_acks: a.print_acks,
        seed: a.seed,
        error_rate: a.error_rate,
        ..Default::default()
    };
    let ctx = JobCtx::new("team simulation");
    let ctx = if a.print_acks {
        ctx
    } else {
        ctx.with_cli_bar()
    };
    let r = yuxuan::simulate::team::run(&a.project, &truth, &opts, &ctx)?;
    ctx.finish();
    let (c, l) = (r.commit_ms(), r.lease_ms());
    eprintln!(
        "{annotators} annotators on {where_}: {} decisions in {:.1} s; commit p50 {:.2} ms p99 {:.2} ms; lease p50 {:.2} ms p99 {:.2} ms; {} reconnects, {} resent, {} refused (lease ran out)",
        r.decisions(),
        r.seconds,
        quantile(&c, 0.5),
        quantile(&c, 0.99),
        quantile(&l, 0.5),
        quantile(&l, 0.99),
        r.annotators.iter().map(|x| x.reconnects).sum::<usize>(),
        r.annotators.iter().map(|x| x.resent).sum::<usize>(),
        r.annotators.iter().map(|x| x.conflicts).sum::<usize>(),
    );
    if let Some(p) = &a.report {
        std::fs::write(p, serde_json::to_string_pretty(&r)?)?;
    }
    let store = Store::open(&a.project)?;
    let before = yuxuan::review::agreement::of_project(&store, yuxuan::domain::sets::CLASS)?;
    print_agreement(
        &before,
        a.error_rate,
        store.labels(yuxuan::domain::sets::CLASS)?.len(),
    );
    if let Some(lead) = &a.review_as {
        let ctx = JobCtx::new("review").with_cli_bar();
        let n = yuxuan::simulate::team::review_queue(&a.project, lead, &truth, &ctx)?;
        ctx.finish();
        eprintln!("{lead} resolved {n} items of the review queue");
    }
    Ok(ExitCode::SUCCESS)
}

/// One paragraph: what the agreement measured, and with a known error rate, what it should be.
fn print_agreement(r: &yuxuan::review::agreement::AgreementReport, error_rate: f64, k: usize) {
    let kappas: Vec<f64> = r.pairs.iter().filter_map(|p| p.kappa).collect();
    let mean_kappa = (!kappas.is_empty()).then(|| kappas.iter().sum::<f64>() / kappas.len() as f64);
    let (checked, correct) = r
        .gold
        .iter()
        .fold((0, 0), |(c, k), g| (c + g.checked, k + g.correct));
    let f = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
    eprintln!(
        "agreement: {} items with 2+ answers ({} disagree); raw {}, alpha {}, mean pairwise kappa {} over {} pairs; gold accuracy {} ({correct}/{checked})",
        r.items_compared,
        r.disagreements,
        f(r.raw),
        f(r.alpha),
        f(mean_kappa),
        kappas.len(),
        f((checked > 0).then(|| correct as f64 / checked as f64)),
    );
    if error_rate > 0.0 && k > 1 {
        let (po, kappa) = yuxuan::review::agreement::expected_with_error_rate(error_rate, k);
        eprintln!(
            "expected with error rate {error_rate} over {k} balanced labels: raw {po:.3}, kappa {kappa:.3}, gold accuracy {:.3}",
            1.0 - error_rate
        );
    }
}

/// One line per run: the corrections of the full pass next to labelling by hand, the
/// held-out curve at 100/200/500 labels, ECE, bulk accept, seconds per retrain.
fn print_summaries(runs: &[simulate::NamedRun]) {
    let f = |x: Option<f64>| x.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
    for (k, (name, points)) in runs.iter().enumerate() {
        let s = simulate::summarize(points);
        let colour = simulate::RUN_COLOURS[k % simulate::RUN_COLOURS.len()].0;
        let at: Vec<String> =
            s.at.iter()
                .map(|(n, acc, f1)| format!("{n}: acc {} F1 {}", f(*acc), f(*f1)))
                .collect();
        println!(
            "{name} ({colour}): corrections {}/{} = {:.3} of a full pass (by hand: 1.000); held-out {}; final acc {} F1 {} ECE {}; bulk accept precision {} on {} of the items; {:.2} s per retrain",
            s.corrections,
            s.labels,
            s.corrections_ratio,
            if at.is_empty() { "-".to_string() } else { at.join(", ") },
            f(s.final_accuracy),
            f(s.final_macro_f1),
            f(s.final_ece),
            f(s.bulk_precision),
            s.bulk_share.map(|x| format!("{:.0} %", x * 100.0)).unwrap_or_else(|| "-".into()),
            s.mean_train_seconds,
        );
    }
}

/// Object projects: replay the box annotator on a copy, print edits per truth box and AP50.
fn run_objects(a: &Args) -> anyhow::Result<ExitCode> {
    use yuxuan::simulate::boxes_oracle::Truth;
    use yuxuan::simulate::objects::{self as osim, ObjectSimOptions};
    let truth_ds = yuxuan::exchange::boxes::read(&a.truth)
        .with_context(|| format!("reading the true boxes {}", a.truth.display()))?;
    let prefix = a.out.clone().unwrap_or_else(|| {
        let mut s = a.project.clone().into_os_string();
        s.push(".sim-boxes");
        PathBuf::from(s)
    });
    let with_ext = |ext: &str| {
        let mut s = prefix.clone().into_os_string();
        s.push(ext);
        PathBuf::from(s)
    };
    let copy = with_ext(".yuxuan");
    if copy.exists() {
        std::fs::remove_file(&copy)?;
    }
    Store::open(&a.project)?.copy_to(&copy)?;
    let mut store = Store::open(&copy)?;
    let items: Vec<(i64, String)> = store
        .items_of_kind(yuxuan::domain::ItemKind::Image)?
        .into_iter()
        .filter(|i| i.error.is_none())
        .map(|i| (i.id, i.source_path))
        .collect();
    let files: Vec<String> = truth_ds.images.iter().map(|i| i.file.clone()).collect();
    let matched = yuxuan::exchange::objects::match_files(&items, &files);
    let mut truth = std::collections::HashMap::new();
    for (k, id) in &matched {
        let t: Vec<Truth> = truth_ds.images[*k]
            .boxes
            .iter()
            .map(|b| Truth {
                label: b.label.clone(),
                bbox: b.bbox,
            })
            .collect();
        truth.insert(*id, t);
    }
    println!(
        "{} of {} truth images match images of the project ({} truth boxes)",
        truth.len(),
        truth_ds.images.len(),
        truth.values().map(Vec::len).sum::<usize>()
    );
    let ctx = JobCtx::new("prelabel").with_cli_bar();
    let pre = yuxuan::ml::objects::prelabel(
        &mut store,
        &yuxuan::ml::detector::DetectOptions {
            conf: 0.05,
            ..Default::default()
        },
        &ctx,
    )?;
    ctx.finish();
    if pre.images > 0 {
        println!(
            "pre-labelled {} images with {} ({} boxes)",
            pre.images, pre.detector, pre.boxes
        );
    }
    let opts = ObjectSimOptions {
        batch: a.batch,
        max_images: a.max_labels,
        hide_below: a.min_score,
    };
    let ctx = JobCtx::new("simulate").with_cli_bar();
    let (rows, s) = osim::run(&mut store, &truth, &opts, simulate::SIM_ANNOTATOR, &ctx)?;
    ctx.finish();
    let csv = with_ext(".csv");
    osim::write_csv(&rows, &csv)?;
    let l = &s.last;
    println!(
        "edits per truth box: {:.3} ({} edits for {} truth boxes on {} images; by hand: 1.000): {} relabels, {} adjusts, {} deletes, {} draws; {} shown boxes accepted as they were",
        l.edits_per_truth_box, l.edits, l.truth_boxes, l.images, l.relabels, l.adjusts, l.deletes, l.draws, l.accepts
    );
    println!(
        "AP50 of the pre-labels: {:.3} (score threshold shown: {})",
        s.ap50, opts.hide_below
    );
    println!(
        "wrote {} and the working copy {}",
        csv.display(),
        copy.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if !a.project.to_string_lossy().starts_with("postgres")
        && Store::open(&a.project)?.project()?.kind == yuxuan::domain::TaskKind::Objects
    {
        return run_objects(&a);
    }
    let strategy = Strategy::parse(&a.strategy).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown strategy {:?} (uncertain, confident, diverse, random, file-order)",
            a.strategy
        )
    })?;
    if let Some(n) = a.annotators {
        anyhow::ensure!(n > 0, "--annotators must be at least 1");
        return run_team(&a, strategy, n);
    }
    anyhow::ensure!(
        !a.project.to_string_lossy().starts_with("postgres"),
        "a team project is simulated by scripted annotators: add --annotators N (it labels the project itself)"
    );
    let strategies: Vec<Strategy> = if a.compare.is_empty() {
        vec![strategy]
    } else {
        a.compare
            .iter()
            .map(|s| {
                Strategy::parse(s.trim())
                    .ok_or_else(|| anyhow::anyhow!("unknown strategy {s:?} in --compare"))
            })
            .collect::<anyhow::Result<_>>()?
    };
    let compare = strategies.len() > 1 || a.backbones.len() > 1;
    let prefix = a.out.clone().unwrap_or_else(|| {
        let mut s = a.project.clone().into_os_string();
        if compare {
            s.push(".sim-compare");
        } else {
            s.push(format!(".sim-{}", strategy.as_str()));
        }
        PathBuf::from(s)
    });
    let with_ext = |ext: &str| {
        let mut s = prefix.clone().into_os_string();
        s.push(ext);
        PathBuf::from(s)
    };
    let (csv_path, png_path) = (with_ext(".csv"), with_ext(".png"));
    let original = Store::open(&a.project)?;
    let (by_path, problems) = yuxuan::ingest::images::read_labels_csv(&a.truth)?;
    for p in &problems {
        eprintln!("warning: {p}");
    }
    let project_backbone = yuxuan::ml::backbone::BackboneChoice::of_project(&original)?;
    let backbones = if a.backbones.is_empty() {
        vec![project_backbone]
    } else {
        a.backbones.clone()
    };
    drop(original);
    let mut runs: Vec<simulate::NamedRun> = Vec::new();
    let mut copies: Vec<(yuxuan::ml::backbone::BackboneChoice, PathBuf)> = Vec::new();
    for &backbone in &backbones {
        for &strategy in &strategies {
            let name = format!("{}/{}", strategy.as_str(), backbone.as_str());
            let copy_path = if compare {
                with_ext(&format!(
                    ".{}-{}.yuxuan",
                    strategy.as_str(),
                    backbone.as_str()
                ))
            } else {
                with_ext(".yuxuan")
            };
            if copy_path.exists() {
                std::fs::remove_file(&copy_path)?;
            }
            // Each run labels its own copy of the project; in a comparison the copies of one
            // backbone are made from a base copy that has its embeddings already.
            let source = match copies.iter().find(|(b, _)| *b == backbone) {
                Some((_, p)) => p.clone(),
                None if compare => {
                    let base = with_ext(&format!(".base-{}.yuxuan", backbone.as_str()));
                    if base.exists() {
                        std::fs::remove_file(&base)?;
                    }
                    Store::open(&a.project)?.copy_to(&base)?;
                    let mut b = Store::open(&base)?;
                    b.set_setting(
                        yuxuan::ml::backbone::BACKBONE_SETTING,
                        serde_json::json!(backbone.as_str()),
                    )?;
                    let ctx =
                        JobCtx::new(format!("embedding ({})", backbone.as_str())).with_cli_bar();
                    yuxuan::ml::project::embed_missing(&mut b, &ctx)?;
                    ctx.finish();
                    copies.push((backbone, base.clone()));
                    base
                }
                None => a.project.clone(),
            };
            Store::open(&source)?.copy_to(&copy_path)?;
            let mut store = Store::open(&copy_path)?;
            store.set_setting(
                yuxuan::ml::backbone::BACKBONE_SETTING,
                serde_json::json!(backbone.as_str()),
            )?;
            let truth = simulate::truth_by_item(&store, &by_path)?;
            if runs.is_empty() {
                println!(
                    "{} of {} truth rows match images of the project",
                    truth.len(),
                    by_path.len()
                );
            }
            let mut opts = SimOptions {
                batch: a.batch,
                strategy,
                max_labels: a.max_labels,
                seed: a.seed,
                eval_holdout: a.eval_holdout,
                ..Default::default()
            };
            if let Some(e) = a.epochs {
                opts.train.epochs = e.max(1);
            }
            let ctx = JobCtx::new(format!("simulate {name}")).with_cli_bar();
            let points = simulate::run(&mut store, &truth, &opts, &ctx)?;
            ctx.finish();
            drop(store);
            runs.push((name, points));
        }
    }
    for (_, base) in &copies {
        let _ = std::fs::remove_file(base);
    }
    simulate::write_csv(&runs, &csv_path)?;
    simulate::write_plot(&runs, &png_path)?;
    if !compare {
        println!(
            "{:>6} {:>7} {:>13} {:>11} {:>8} {:>9} {:>8}",
            "round", "labels", "accuracy_rest", "corrections", "accepted", "hold-acc", "hold-F1"
        );
        let f = |x: Option<f64>| x.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
        for p in &runs[0].1 {
            println!(
                "{:>6} {:>7} {:>13} {:>11} {:>8} {:>9} {:>8}",
                p.round,
                p.labels,
                f(p.accuracy_rest),
                p.corrections,
                p.accepted,
                f(p.holdout.accuracy),
                f(p.holdout.macro_f1),
            );
        }
    }
    print_summaries(&runs);
    println!(
        "wrote {} and {} (working copies next to them)",
        csv_path.display(),
        png_path.display(),
    );
    Ok(ExitCode::SUCCESS)
}

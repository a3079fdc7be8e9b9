//! `yuxuan simulate`: replay an annotator who knows the truth on a copy of the project, and
//! write the curve (labels so far, accuracy on the rest, corrections so far) as CSV and PNG.

use std::path::PathBuf;
use std::process::ExitCode;

use yuxuan::jobs::JobCtx;
use yuxuan::queue::Strategy;
use yuxuan::simulate::{self, SimOptions};
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file (left untouched: the simulation runs on a copy), or with --annotators a
    /// project (file or team URL) the scripted annotators label for real.
    project: PathBuf,
    /// CSV `path,label` with the true label of each image.
    #[arg(long)]
    truth: PathBuf,
    /// Items labelled between two retrainings.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Queue strategy: uncertain, confident, diverse, random, file-order.
    #[arg(long, default_value = "uncertain")]
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

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
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
    let prefix = a.out.clone().unwrap_or_else(|| {
        let mut s = a.project.clone().into_os_string();
        s.push(format!(".sim-{}", strategy.as_str()));
        PathBuf::from(s)
    });
    let with_ext = |ext: &str| {
        let mut s = prefix.clone().into_os_string();
        s.push(ext);
        PathBuf::from(s)
    };
    let (csv_path, png_path, copy_path) = (with_ext(".csv"), with_ext(".png"), with_ext(".yuxuan"));
    let original = Store::open(&a.project)?;
    if copy_path.exists() {
        std::fs::remove_file(&copy_path)?;
    }
    original.copy_to(&copy_path)?;
    drop(original);
    let mut store = Store::open(&copy_path)?;
    let (by_path, problems) = yuxuan::ingest::images::read_labels_csv(&a.truth)?;
    for p in &problems {
        eprintln!("warning: {p}");
    }
    let truth = simulate::truth_by_item(&store, &by_path)?;
    println!(
        "{} of {} truth rows match images of the project",
        truth.len(),
        by_path.len()
    );
    let mut opts = SimOptions {
        batch: a.batch,
        strategy,
        max_labels: a.max_labels,
        seed: a.seed,
        ..Default::default()
    };
    if let Some(e) = a.epochs {
        opts.train.epochs = e.max(1);
    }
    let ctx = JobCtx::new("simulate").with_cli_bar();
    let points = simulate::run(&mut store, &truth, &opts, &ctx)?;
    ctx.finish();
    simulate::write_csv(&points, &csv_path)?;
    simulate::write_plot(&points, &png_path)?;
    println!(
        "{:>6} {:>7} {:>13} {:>11} {:>8}",
        "round", "labels", "accuracy_rest", "corrections", "accepted"
    );
    for p in &points {
        println!(
            "{:>6} {:>7} {:>13} {:>11} {:>8}",
            p.round,
            p.labels,
            p.accuracy_rest
                .map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "-".into()),
            p.corrections,
            p.accepted
        );
    }
    println!(
        "wrote {} and {} (working copy {})",
        csv_path.display(),
        png_path.display(),
        copy_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

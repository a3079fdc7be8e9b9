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
}

fn run_team(a: &Args, strategy: Strategy, annotators: usize) -> anyhow::Result<ExitCode> {
    use yuxuan::simulate::team::{quantile, TeamSimOptions};
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
    Ok(ExitCode::SUCCESS)
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

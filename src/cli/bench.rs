//! `yuxuan bench`: run benchmark rows (named, or `--all`), print the table, write JSON (`--out`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use yuxuan::bench::{self, BenchConfig, Status};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rows to run (see --list); or --all.
    rows: Vec<String>,
    /// Run every row.
    #[arg(long, conflicts_with = "rows")]
    all: bool,
    /// List the rows and exit.
    #[arg(long)]
    list: bool,
    /// Write the results as JSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Scratch directory for the synthetic projects (put it on the disk you want measured).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Decisions committed by the decision-latency row.
    #[arg(long, default_value_t = 10_000)]
    decisions: usize,
    /// Items of the synthetic project (queue, export, UI rows).
    #[arg(long, default_value_t = 100_000)]
    items: usize,
    /// Labelled items with cached embeddings for the head fine-tune row.
    #[arg(long, default_value_t = 10_000)]
    train_items: usize,
    /// Images through the pre-label pipeline row.
    #[arg(long, default_value_t = 128)]
    prelabel_images: usize,
    /// Images of the images-scale row (import + embed + train + pre-label, resume after kill -9)
    #[arg(long, default_value_t = 100_000)]
    scale_images: usize,
    /// Frames drawn by the UI frame-time row.
    #[arg(long, default_value_t = 200)]
    frames: usize,
    /// Device of the ML rows: cpu, cuda or auto.
    #[arg(long, default_value = "auto")]
    device: String,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if a.list {
        for r in bench::ROWS {
            println!("{:<18} {}", r.id, r.title);
        }
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::ensure!(
        a.all || !a.rows.is_empty(),
        "name the rows to run ({}) or pass --all",
        bench::row_ids()
    );
    let cfg = BenchConfig {
        dir: a.dir.clone().unwrap_or_else(std::env::temp_dir),
        decisions: a.decisions,
        items: a.items,
        train_items: a.train_items,
        prelabel_images: a.prelabel_images,
        scale_images: a.scale_images,
        frames: a.frames,
        device: a.device.clone(),
        seed: a.seed,
    };
    if a.device == "cpu" {
        // The ML rows that pick their device themselves (`ml::device::best_device`) follow this.
        std::env::set_var("YUXUAN_DEVICE", "cpu");
    }
    if cfg!(debug_assertions) {
        eprintln!("note: this is a debug build; numbers for BENCHMARKS.md come from `cargo run --release -- bench`");
    }
    let report = bench::run(&a.rows, &cfg, |r| {
        let what = match &r.status {
            Status::Measured => "measured".to_string(),
            Status::NotAvailable(_) => "not available in this build".to_string(),
            Status::Failed(e) => format!("FAILED: {e}"),
        };
        eprintln!("{:<18} {what} ({:.1} s)", r.id, r.seconds);
        // Each row's figures as soon as it is done (a long run shows what it has so far).
        for m in &r.metrics {
            eprintln!("    {}: {:.3} {}", m.name, m.value, m.unit);
        }
    })?;
    let m = &report.machine;
    println!(
        "machine: {} ({} cores, {} GiB), {}, scratch fs {}, SQLite {}, CUDA devices {}, {} build",
        m.cpu, m.cores, m.memory_gib, m.os, m.scratch_fs, m.sqlite, m.cuda_devices, m.build
    );
    println!();
    print!("{}", bench::table(&report));
    let notes = bench::notes(&report);
    if !notes.is_empty() {
        println!();
        print!("{notes}");
    }
    if let Some(out) = &a.out {
        let json = serde_json::to_string_pretty(&report)?;
        let dir = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("writing {}", out.display()))?;
        std::io::Write::write_all(&mut tmp, json.as_bytes())?;
        tmp.persist(out)
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!("results written to {}", out.display());
    }
    let failed = report
        .rows
        .iter()
        .any(|r| matches!(r.status, Status::Failed(_)));
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

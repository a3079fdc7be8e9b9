//! `yuxuan debug-train` (hidden): trains the bench's linear head on a project's cached
//! embeddings through the shared training job (`ml::family::run_training`), printing
//! `progress DONE/TOTAL` after every batch. Used by the fault tests (SIGKILL mid-epoch) until
//! the images area's `yuxuan train` can be driven the same way.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use yuxuan::bench::head::{device_of, EmbeddingHeadFamily};
use yuxuan::jobs::JobCtx;
use yuxuan::ml::family::Activation;
use yuxuan::ml::project::run_training;
use yuxuan::ml::train::TrainConfig;
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    project: PathBuf,
    /// Backbone name of the cached embeddings to train on.
    #[arg(long, default_value = "synthetic")]
    backbone: String,
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Sleep in every training batch (so a test can kill the job surely mid-epoch).
    #[arg(long, default_value_t = 0)]
    batch_delay_ms: u64,
    /// auto (if not worse), always, never.
    #[arg(long, default_value = "auto")]
    activate: String,
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(&a.project)?;
    let activation = match a.activate.as_str() {
        "auto" => Activation::IfNotWorse,
        "always" => Activation::Always,
        "never" => Activation::Never,
        other => anyhow::bail!("--activate {other:?}: use auto, always or never"),
    };
    let mut fam = EmbeddingHeadFamily::new(a.backbone.clone(), device_of(&a.device)?);
    fam.batch_delay = Duration::from_millis(a.batch_delay_ms);
    let cfg = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        ..Default::default()
    };
    let base = JobCtx::new("train");
    let reader = base.clone();
    let last = AtomicU64::new(u64::MAX);
    let ctx = base.with_observer(move |_| {
        let s = reader.snapshot();
        if last.swap(s.done, Ordering::Relaxed) != s.done {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "progress {}/{}", s.done, s.total);
            let _ = out.flush();
        }
    });
    let report = run_training(&mut store, &fam, &cfg, activation, &ctx)?;
    println!(
        "trained run {} model {} (v{}) accuracy {:.4} activated {}",
        report.run_id,
        report.model.id,
        report.model.version,
        report.metrics.accuracy,
        report.activated
    );
    Ok(ExitCode::SUCCESS)
}

//! `yuxuan train`: fine-tune the project's image model on the human labels, print its
//! metrics next to the active model's on the same hold-out, activate it when not worse (or as
//! told), then pre-label the unlabelled items again.

use std::path::PathBuf;
use std::process::ExitCode;

use yuxuan::domain::TaskKind;
use yuxuan::jobs::JobCtx;
use yuxuan::ml::catalog::{ImageMode, IMAGE_MODE_SETTING};
use yuxuan::ml::family::{Activation, TrainReport};
use yuxuan::ml::metrics::Metrics;
use yuxuan::ml::project;
use yuxuan::ml::train::TrainConfig;
use yuxuan::store::Store;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ActivateWhen {
    /// When not worse than the active model on the same hold-out.
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file.
    project: PathBuf,
    /// Training mode (default: the project's `image_mode` setting, else head). Given, it
    /// becomes the project's setting.
    #[arg(long, value_enum)]
    mode: Option<ImageMode>,
    /// Epochs of the epoch-loop families (finetune, torchscript, form models); the image
    /// head (logistic regression) is solved to convergence instead.
    #[arg(long)]
    epochs: Option<usize>,
    /// Fraction of each class held out for evaluation.
    #[arg(long, default_value_t = 0.2)]
    holdout: f64,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, value_enum, default_value = "auto")]
    activate: ActivateWhen,
    /// Do not pre-label again after an activation.
    #[arg(long)]
    no_prelabel: bool,
    /// Form projects: the label set to train (`field_type` or `industry`).
    #[arg(long, default_value = "field_type", value_parser = ["field_type", "industry"])]
    set: String,
}

fn print_metrics(name: &str, m: &Metrics) {
    println!(
        "{name}: accuracy {:.3}  macro-F1 {:.3}  (n = {})",
        m.accuracy, m.macro_f1, m.n
    );
}

fn print_report(r: &TrainReport) {
    println!(
        "trained v{} ({}) on {} labels, evaluated on {} held out; {} epochs, final loss {:.4}",
        r.model.version,
        r.model.kind,
        r.n_train,
        r.n_holdout,
        r.epochs.len(),
        r.epochs.last().map(|e| e.loss).unwrap_or(f64::NAN)
    );
    print_metrics("new model   ", &r.metrics);
    if let Some(c) = &r.metrics.calibration {
        let bulk = match c.bulk_threshold {
            Some(t) => format!(
                "bulk accept from {:.0} % keeps >= {:.0} % right on the hold-out",
                t * 100.0,
                yuxuan::ml::calibration::BULK_TARGET_PRECISION * 100.0
            ),
            None => format!(
                "no bulk threshold (a hold-out of {} items{}); the Bulk screen ticks from {:.0} %",
                c.n,
                if c.n < yuxuan::ml::calibration::MIN_CALIBRATION_ITEMS {
                    format!(
                        ", under {}: no temperature either",
                        yuxuan::ml::calibration::MIN_CALIBRATION_ITEMS
                    )
                } else {
                    " never 98 % right above any score".to_string()
                },
                yuxuan::review::BULK_MIN_SCORE * 100.0
            ),
        };
        println!(
            "calibration : temperature {:.2}, ECE {:.3} (raw {:.3}); {bulk}",
            c.temperature, c.ece, c.ece_raw,
        );
    }
    match &r.active_metrics {
        Some(a) => print_metrics("active model", a),
        None => println!("active model: none"),
    }
    println!(
        "{:<24} {:>9} {:>9} {:>9} {:>7}",
        "class", "precision", "recall", "F1", "support"
    );
    for (i, c) in r.metrics.per_class.iter().enumerate() {
        let old = r.active_metrics.as_ref().and_then(|a| a.per_class.get(i));
        println!(
            "{:<24} {:>9.3} {:>9.3} {:>9.3} {:>7}{}",
            c.label,
            c.precision,
            c.recall,
            c.f1,
            c.support,
            old.map(|o| format!("   (active: P {:.3} R {:.3})", o.precision, o.recall))
                .unwrap_or_default()
        );
    }
    println!("confusion (rows = truth, columns = predicted, order as above):");
    for row in &r.metrics.confusion {
        println!(
            "  {}",
            row.iter().map(|v| format!("{v:>5}")).collect::<String>()
        );
    }
    println!(
        "{}",
        if r.activated {
            format!("v{} is now active", r.model.version)
        } else {
            format!("v{} registered, not activated", r.model.version)
        }
    );
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (0.0..0.9).contains(&a.holdout),
        "--holdout must be in [0, 0.9)"
    );
    // `Store::open` already marks runs whose owning process is gone as failed; runs of a live
    // process (the app training in the background) are left alone.
    let mut store = Store::open(&a.project)?;
    let kind = store.project()?.kind;
    anyhow::ensure!(
        !yuxuan::ml::catalog::label_sets(kind).is_empty(),
        "{} projects have no model to train in this version: the detector runs as installed \
         (YOLO11n) or as registered (`yuxuan register-model`)",
        kind.as_str()
    );
    if let Some(m) = a.mode {
        anyhow::ensure!(
            kind == TaskKind::Image,
            "--mode is for image projects (form projects have one model per label set)"
        );
        store.set_setting(IMAGE_MODE_SETTING, serde_json::json!(m.as_str()))?;
    }
    let mut cfg = TrainConfig {
        holdout: a.holdout,
        seed: a.seed,
        ..Default::default()
    };
    if let Some(e) = a.epochs {
        cfg.epochs = e.max(1);
    }
    if let Some(lr) = a.lr {
        cfg.learning_rate = lr;
    }
    let activation = match a.activate {
        ActivateWhen::Auto => Activation::IfNotWorse,
        ActivateWhen::Always => Activation::Always,
        ActivateWhen::Never => Activation::Never,
    };
    let ctx = JobCtx::new("train").with_cli_bar();
    let t0 = std::time::Instant::now();
    // One-set kinds train their main set; forms pick the set (field types or industry).
    let set = if kind.spec().label_sets.len() == 1 {
        kind.spec().main_set
    } else {
        a.set.as_str()
    };
    let report = project::train(&mut store, set, a.mode, &cfg, activation, &ctx)?;
    ctx.finish();
    print_report(&report);
    println!("training took {:.2}s", t0.elapsed().as_secs_f64());
    if report.activated && !a.no_prelabel {
        let ctx = JobCtx::new("prelabel").with_cli_bar();
        let done = project::prelabel(&mut store, &ctx)?;
        ctx.finish();
        super::prelabel::print_prelabelled(&store, &done)?;
    }
    Ok(ExitCode::SUCCESS)
}

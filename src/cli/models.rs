//! `yuxuan models` (the model history of a project) and `yuxuan activate` (rollback to, or
//! promotion of, a version).

use std::path::PathBuf;
use std::process::ExitCode;

use yuxuan::domain::sets;
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file.
    project: PathBuf,
    /// Label set.
    #[arg(long, default_value = sets::CLASS)]
    set: String,
}

#[derive(Debug, clap::Args)]
pub struct ActivateArgs {
    /// Project file.
    project: PathBuf,
    /// Version number to make active (as listed by `yuxuan models`).
    version: i64,
    #[arg(long, default_value = sets::CLASS)]
    set: String,
    /// Do not pre-label again with the activated version.
    #[arg(long)]
    no_prelabel: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let store = Store::open(&a.project)?;
    let models = store.models(&a.set)?;
    if models.is_empty() {
        println!("no models for {:?} yet", a.set);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>3} {:>7} {:<16} {:>8} {:>8} {:>6} {:>7} {:<24} parent",
        "", "version", "kind", "accuracy", "macro-F1", "ECE", "classes", "created"
    );
    for m in &models {
        let metric = |k: &str| {
            m.metrics
                .as_ref()
                .and_then(|x| x.get(k))
                .and_then(|v| v.as_f64())
                .map(|v| format!("{v:.3}"))
                .unwrap_or_else(|| "-".into())
        };
        // Expected calibration error of the calibrated scores on the hold-out.
        let ece = m
            .metrics
            .as_ref()
            .and_then(|x| x.pointer("/calibration/ece"))
            .and_then(|v| v.as_f64())
            .map(|v| format!("{v:.3}"))
            .unwrap_or_else(|| "-".into());
        let parent = m
            .parent_id
            .and_then(|p| models.iter().find(|x| x.id == p))
            .map(|p| format!("v{}", p.version))
            .unwrap_or_default();
        println!(
            "{:>3} {:>7} {:<16} {:>8} {:>8} {:>6} {:>7} {:<24} {}",
            if m.active { "*" } else { "" },
            format!("v{}", m.version),
            m.kind,
            metric("accuracy"),
            metric("macro_f1"),
            ece,
            m.labels.len(),
            m.created_at,
            parent
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn activate(a: ActivateArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(&a.project)?;
    let m = store
        .models(&a.set)?
        .into_iter()
        .find(|m| m.version == a.version)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no version v{} in {:?} (see `yuxuan models`)",
                a.version,
                a.set
            )
        })?;
    if let Some(w) = yuxuan::ml::family::weights_path(&store, &m) {
        anyhow::ensure!(
            w.is_file(),
            "the file of v{} is missing: {}",
            m.version,
            w.display()
        );
        if let Some(sha) = &m.weights_sha256 {
            let now = yuxuan::assets::file_checksum(&w)?;
            anyhow::ensure!(
                &now == sha,
                "the file of v{} changed since it was registered: {}",
                m.version,
                w.display()
            );
        }
    }
    store.activate_model(m.id)?;
    println!("v{} ({}) is now active", m.version, m.kind);
    if !a.no_prelabel && a.set == sets::CLASS {
        let ctx = yuxuan::jobs::JobCtx::new("prelabel").with_cli_bar();
        let done = yuxuan::ml::project::prelabel(&mut store, &ctx)?;
        ctx.finish();
        super::prelabel::print_prelabelled(&store, &done)?;
    }
    Ok(ExitCode::SUCCESS)
}

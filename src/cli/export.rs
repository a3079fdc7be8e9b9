//! `yuxuan export`: write a project's labels as a dataset in another tool's format
//! (ImageFolder, Hugging Face imagefolder, CSV, JSONL, Label Studio; form fields JSONL, one
//! JSON per page). The output folder appears complete or not at all.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use yuxuan::exchange::{self, split::SplitFractions, ExportFormat, ExportRequest, LinkMode};
use yuxuan::jobs::JobCtx;
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file.
    project: PathBuf,
    /// imagefolder, hf-imagefolder, csv, jsonl, label-studio (images); form-fields, form-pages, presets (forms).
    #[arg(long)]
    format: String,
    /// Output folder (must not exist or be empty, unless --force).
    #[arg(long)]
    out: PathBuf,
    /// Also export the model's predictions: CSV, JSONL and folders get a machine label (marked
    /// "machine") for items without a human label; Label Studio gets a prediction (model
    /// version, score) on every task, next to its human annotation or alone.
    #[arg(long)]
    include_predictions: bool,
    /// Lowest score of an exported machine label.
    #[arg(long, default_value_t = 0.0, requires = "include_predictions")]
    min_score: f64,
    /// Train/val/test fractions for folder formats, e.g. 0.8,0.1,0.1 (stratified per class).
    #[arg(long)]
    split: Option<String>,
    /// Seed of the split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How image files get into folder exports: copy or hard (hard links; copies across disks).
    #[arg(long, default_value = "copy")]
    link: String,
    /// Replace an existing output folder (atomically, once the new one is complete).
    #[arg(long)]
    force: bool,
    /// Label Studio: task URLs relative to this LOCAL_FILES_DOCUMENT_ROOT (default /).
    #[arg(long)]
    ls_document_root: Option<PathBuf>,
    /// Also write annotations.csv: every annotator's own label of each item (one row per item
    /// and annotator, with the final label), for label-noise models (e.g. crowd-kit's
    /// Dawid-Skene: task = item_id, worker = annotator).
    #[arg(long)]
    all_annotators: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let format = ExportFormat::parse(&a.format)?;
    let split = a.split.as_deref().map(SplitFractions::parse).transpose()?;
    let link = LinkMode::parse(&a.link)
        .with_context(|| format!("--link {:?}: use copy or hard", a.link))?;
    let store = Store::open(&a.project)?;
    let req = ExportRequest {
        format,
        out: a.out.clone(),
        include_predictions: a.include_predictions,
        min_score: a.min_score,
        split,
        seed: a.seed,
        link,
        overwrite: a.force,
        all_annotators: a.all_annotators,
        ls_document_root: a.ls_document_root.clone(),
    };
    let ctx = JobCtx::new("export").with_cli_bar();
    let summary = exchange::export(&store, &req, &ctx);
    ctx.finish();
    let summary =
        summary.with_context(|| format!("exporting {} to {}", format.as_str(), a.out.display()))?;
    println!("{summary}");
    if !summary.next_steps.is_empty() {
        println!("next (also in {}/README.md):", a.out.display());
        for step in &summary.next_steps {
            println!("  {step}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

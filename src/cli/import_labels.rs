//! `yuxuan import-labels`: bring labels and predictions made in other tools (CSV
//! `path,label`, an ImageFolder tree, a Hugging Face imagefolder, Label Studio tasks JSON) into
//! an existing image project; into an object project, boxes in COCO, YOLO, Pascal VOC,
//! labelme or Label Studio (`exchange::objects::import_boxes`).
//! Malformed or unmatched rows are listed with their line numbers and skipped.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use yuxuan::exchange::{self, ImportFormat, LabelImportRequest};
use yuxuan::ingest::images::UnknownLabels;
use yuxuan::jobs::JobCtx;
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file.
    project: PathBuf,
    /// A CSV file, an ImageFolder folder, a Hugging Face imagefolder (with metadata.jsonl or
    /// metadata.csv), or a Label Studio tasks JSON file.
    source: PathBuf,
    /// csv, imagefolder, hf-imagefolder or label-studio (default: guessed from the path).
    /// Object projects: coco, yolo, voc, labelme or label-studio (boxes).
    #[arg(long)]
    format: Option<String>,
    /// Refuse labels that are not in the label set (default: add them).
    #[arg(long)]
    refuse_unknown: bool,
    /// Annotator recorded for decisions whose source names none.
    #[arg(long, default_value = "import")]
    annotator: String,
    /// How many skipped rows to list.
    #[arg(long, default_value_t = 50)]
    show_problems: usize,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    {
        let mut store = Store::open(&a.project)?;
        if store.project()?.kind == yuxuan::domain::TaskKind::Objects {
            let format = match &a.format {
                Some(f) => Some(yuxuan::exchange::boxes::BoxFormat::parse(f).ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown box format {f:?}: coco, yolo, voc, labelme, label-studio"
                    )
                })?),
                None => None,
            };
            let ctx = JobCtx::new("import").with_cli_bar();
            let s = yuxuan::exchange::objects::import_boxes(
                &mut store,
                &a.source,
                format,
                &a.annotator,
                &ctx,
            );
            ctx.finish();
            let s = s.with_context(|| format!("importing boxes from {}", a.source.display()))?;
            for u in s.unmatched.iter().take(a.show_problems) {
                eprintln!("not in the project: {u}");
            }
            println!("{s}");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let format = match &a.format {
        Some(f) => ImportFormat::parse(f)?,
        None => ImportFormat::detect(&a.source),
    };
    let mut store = Store::open(&a.project)?;
    let req = LabelImportRequest {
        format,
        path: a.source.clone(),
        unknown_labels: if a.refuse_unknown {
            UnknownLabels::Refuse
        } else {
            UnknownLabels::Add
        },
        annotator: a.annotator.clone(),
    };
    let ctx = JobCtx::new("import").with_cli_bar();
    let summary = exchange::import_labels(&mut store, &req, &ctx);
    ctx.finish();
    let summary =
        summary.with_context(|| format!("importing labels from {}", a.source.display()))?;
    for p in summary.problems.iter().take(a.show_problems) {
        eprintln!("skipped {p}");
    }
    if summary.problems.len() > a.show_problems {
        eprintln!(
            "… and {} more skipped rows",
            summary.problems.len() - a.show_problems
        );
    }
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

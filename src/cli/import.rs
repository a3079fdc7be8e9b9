//! `yuxuan import`: images or H5 pages (by the project's kind) from files and folders.

use std::path::PathBuf;
use std::process::ExitCode;

use yuxuan::ingest::{images, pages};
use yuxuan::jobs::JobCtx;
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file.
    project: PathBuf,
    /// Files and folders (recursive).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Image projects: sub-folder names are labels (ImageFolder layout); they become decisions
    /// of annotator "import".
    #[arg(long)]
    folder_labels: bool,
    /// Image projects: a CSV `path,label` with existing labels.
    #[arg(long)]
    labels_csv: Option<PathBuf>,
    /// Form projects: also extract hidden inputs.
    #[arg(long)]
    include_hidden: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(&a.project)?;
    let ctx = JobCtx::new("import").with_cli_bar();
    let opts = yuxuan::ingest::ImportOptions {
        images: images::ImageImportOptions {
            folder_labels: a.folder_labels,
            labels_csv: a.labels_csv.clone(),
            ..Default::default()
        },
        pages: pages::PageImportOptions {
            include_hidden: a.include_hidden,
        },
    };
    let summary = yuxuan::ingest::import_paths(&mut store, &a.paths, &opts, &ctx)?;
    ctx.finish();
    for p in &summary.problems {
        eprintln!("warning: {p}");
    }
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

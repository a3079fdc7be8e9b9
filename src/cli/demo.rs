//! `yuxuan demo [--open]`: build the demo projects in the cache dir if missing (idempotent),
//! train a first model on the seed labels when a model family is available, then open the app
//! on the emoji project (`make run` calls `yuxuan demo --open`).

use std::path::PathBuf;
use std::process::ExitCode;

use yuxuan::jobs::JobCtx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Open the desktop app on the demo afterwards.
    #[arg(long)]
    open: bool,
    /// Where to build the demo (default: <cache>/demo-v1).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Do not train a first model.
    #[arg(long)]
    no_train: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let dir = a.dir.unwrap_or_else(yuxuan::demo::demo_dir);
    let demo = yuxuan::demo::ensure(&dir, &JobCtx::new("demo").with_cli_bar())?;
    println!("demo: {}", demo.summary());
    if !a.no_train {
        // Without a model the app still works (the annotator labels from scratch).
        match yuxuan::demo::first_model(&demo.images, &JobCtx::new("train").with_cli_bar()) {
            Ok(s) => println!("demo: {s}"),
            Err(e) => eprintln!("demo: no first model ({e:#}); label a few items and train from the Training screen"),
        }
    }
    if a.open {
        yuxuan::ui::run(Some(demo.images), None)?;
    }
    Ok(ExitCode::SUCCESS)
}

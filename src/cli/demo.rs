//! `yuxuan demo [--open]`: build the demo projects in the cache dir if missing (idempotent) and
//! train a first model on the seed labels; with `--open` the app opens on the emoji project at
//! once and that training runs as its background job (`make run` calls `yuxuan demo --open`).

use std::path::PathBuf;
use std::process::ExitCode;

use yuxuan::jobs::JobCtx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Open the desktop app on the demo afterwards.
    #[arg(long)]
    open: bool,
    /// Where to build the demo (default: <cache>/demo-v3).
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
    if a.open {
        // The window opens at once; the first model (embeddings + training + pre-labelling,
        // ~45 s on 2 CPU cores the first time) runs as a background job in the app, whose
        // queue refreshes when it ends. Without a model the annotator labels from scratch.
        let startup = (!a.no_train).then(|| {
            let d = demo.clone();
            yuxuan::ui::StartupJob {
                name: "first model".into(),
                work: Box::new(move |ctx| yuxuan::demo::first_models(&d, ctx)),
            }
        });
        yuxuan::ui::run_with(Some(demo.images), None, startup)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !a.no_train {
        match yuxuan::demo::first_models(&demo, &JobCtx::new("train").with_cli_bar()) {
            Ok(s) => println!("demo: {}", s.replace('\n', "\ndemo: ")),
            Err(e) => eprintln!("demo: no first model ({e:#}); label a few items and train from the Training screen"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

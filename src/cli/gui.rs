//! `yuxuan gui [PROJECT]` (and `yuxuan` with no subcommand): open the desktop app.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file to open (default: the start screen).
    pub project: Option<PathBuf>,
    /// Annotator name to use when none is remembered yet (skips the name prompt).
    #[arg(long)]
    pub annotator: Option<String>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if let Some(p) = &a.project {
        anyhow::ensure!(
            p.exists(),
            "{} does not exist (create it with `yuxuan new`)",
            p.display()
        );
    }
    yuxuan::ui::run(a.project, a.annotator)?;
    Ok(ExitCode::SUCCESS)
}

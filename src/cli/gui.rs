//! `yuxuan gui [PROJECT]` (and `yuxuan` with no subcommand): open the desktop app.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file or team URL (postgres://USER@HOST/DB?project=NAME) to open (default: the
    /// start screen).
    pub project: Option<PathBuf>,
    /// Annotator name to use when none is remembered yet (skips the name prompt).
    #[arg(long)]
    pub annotator: Option<String>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if let Some(p) = &a.project {
        // A team URL is checked when the app connects (it says why on the start screen).
        let loc = yuxuan::store::Location::parse(p)?;
        if let yuxuan::store::Location::File(f) = loc {
            anyhow::ensure!(
                f.exists(),
                "{} does not exist (create it with `yuxuan new`)",
                f.display()
            );
        }
    }
    yuxuan::ui::run(a.project, a.annotator)?;
    Ok(ExitCode::SUCCESS)
}

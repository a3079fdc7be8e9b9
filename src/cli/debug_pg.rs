//! `yuxuan debug-pg-server` (hidden): start a throwaway PostgreSQL server on 127.0.0.1 (as the
//! tests do), print its superuser URL (`?project=` to be filled in), and keep it until standard
//! input closes; then stop it and remove its folder. For scripts (screenshots, demos) that need
//! a team server without touching any system service.

use std::io::{BufRead, Write};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project name to put in the printed URL.
    #[arg(long, default_value = "demo")]
    project: String,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let pg = yuxuan::pgserver::PgServer::start_durable()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", pg.url(&a.project))?;
    out.flush()?;
    drop(out);
    // Until EOF on stdin (the caller closed it or ended).
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    drop(pg);
    Ok(ExitCode::SUCCESS)
}

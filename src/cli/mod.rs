//! Command-line entry: parses arguments into typed settings, then runs one subcommand
//! (one file per subcommand). Errors are printed once, as one line plus the cause chain.

mod debug_writer;
mod demo;
mod doctor;
mod gui;
mod import;
mod new;
mod stats;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "yuxuan", version, about = "预选 yuxuan: the machine preselects, the human decides.", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new project file.
    New(new::Args),
    /// Import images or H5 pages (by the project's kind).
    Import(import::Args),
    /// Counts, label distribution, items with errors.
    Stats(stats::Args),
    /// Check the installation: LibTorch, CUDA, assets, SQLite, fonts.
    Doctor(doctor::Args),
    /// Open the desktop app (also what `yuxuan` with no subcommand does).
    Gui(gui::Args),
    /// Build the demo projects (emoji images, H5 pages) and optionally open the app on them.
    Demo(demo::Args),
    /// Record decisions in a loop, printing each acknowledged id (fault-tolerance tests).
    #[command(hide = true)]
    DebugWriter(debug_writer::Args),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => gui::run(gui::Args { project: None, annotator: None }),
        Some(Command::Gui(a)) => gui::run(a),
        Some(Command::Demo(a)) => demo::run(a),
        Some(Command::New(a)) => new::run(a),
        Some(Command::Import(a)) => import::run(a),
        Some(Command::Stats(a)) => stats::run(a),
        Some(Command::Doctor(a)) => doctor::run(a),
        Some(Command::DebugWriter(a)) => debug_writer::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// One readable line, then the causes.
pub fn report_error(e: &anyhow::Error) {
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

//! Command-line entry: parses arguments into typed settings, then runs one subcommand
//! (one file per subcommand). Errors are printed once, as one line plus the cause chain.

mod bench;
mod crawl;
mod debug_pg;
mod debug_train;
mod debug_writer;
mod demo;
mod doctor;
mod duplicates;
mod export;
mod gui;
mod import;
mod import_labels;
mod models;
mod new;
mod prelabel;
mod presets;
mod quality;
mod register_model;
mod settings;
mod simulate;
mod stats;
mod suspects;
mod team;
mod train;

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
    /// Create a new project: a file, or a team project (postgres://USER@HOST/DB?project=NAME).
    New(new::Args),
    /// Copy a local project file into a new team project (items with their files, history, models).
    Push(team::PushArgs),
    /// Copy a team project into a new local file (a snapshot or backup).
    Pull(team::PullArgs),
    /// Team projects on a server: list, drop, add-member, remove-member, members.
    Team(team::TeamArgs),
    /// Inter-annotator agreement (raw, Cohen's kappa per pair, Krippendorff's alpha) and gold accuracy.
    Agreement(quality::AgreementArgs),
    /// Mark items with known labels as gold checks (mixed into every annotator's queue).
    Gold(quality::GoldArgs),
    /// Show or change a project's overlap, gold-check rate and threshold, lease length.
    Settings(settings::Args),
    /// Import images or H5 pages (by the project's kind).
    Import(import::Args),
    /// Crawl H5 pages from seed URLs into a form project (robots.txt honoured, resumable).
    Crawl(crawl::Args),
    /// Counts, label distribution, items with errors.
    Stats(stats::Args),
    /// Export labels as a dataset (ImageFolder, HF imagefolder, CSV, JSONL, Label Studio, form JSON).
    Export(export::Args),
    /// Import labels/predictions from CSV, ImageFolder or Label Studio into a project.
    ImportLabels(import_labels::Args),
    /// Check the installation: LibTorch, CUDA, assets, SQLite, fonts.
    Doctor(doctor::Args),
    /// Open the desktop app (also what `yuxuan` with no subcommand does).
    Gui(gui::Args),
    /// Build the demo projects (emoji images, H5 pages) and optionally open the app on them.
    Demo(demo::Args),
    /// Compute missing image embeddings and pre-label with the active model.
    Prelabel(prelabel::Args),
    /// Fine-tune the image model on the human labels; metrics next to the active model.
    Train(train::Args),
    /// Model history of a project.
    Models(models::Args),
    /// Make a model version active (rollback or promotion).
    Activate(models::ActivateArgs),
    /// Register a TorchScript image classifier.
    RegisterModel(register_model::Args),
    /// Replay a truth-knowing annotator; write the learning curve (CSV + PNG).
    Simulate(simulate::Args),
    /// Labels that are probably wrong (out-of-fold confident learning), ranked; annotator quality.
    Suspects(suspects::Args),
    /// Near-duplicate groups of images, or the items most similar to one (cached embeddings).
    Duplicates(duplicates::Args),
    /// Form projects: propose an industry's field list (JSON or a standalone H5 page).
    Presets(presets::Args),
    /// Record decisions in a loop, printing each acknowledged id (fault-tolerance tests).
    #[command(hide = true)]
    DebugWriter(debug_writer::Args),
    /// Start a throwaway PostgreSQL server, print its URL, stop it when stdin closes.
    #[command(hide = true)]
    DebugPgServer(debug_pg::Args),
    /// Run benchmark rows and print a table (`--all`, or named rows; `--out` for JSON).
    Bench(bench::Args),
    /// Train a linear head on cached embeddings, printing progress (fault-tolerance tests).
    #[command(hide = true)]
    DebugTrain(debug_train::Args),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, None | Some(Command::Gui(_))) {
        quiet_on_closed_stdout();
    }
    let result = match cli.command {
        None => gui::run(gui::Args {
            project: None,
            annotator: None,
        }),
        Some(Command::Gui(a)) => gui::run(a),
        Some(Command::Demo(a)) => demo::run(a),
        Some(Command::New(a)) => new::run(a),
        Some(Command::Push(a)) => team::push(a),
        Some(Command::Pull(a)) => team::pull(a),
        Some(Command::Team(a)) => team::team(a),
        Some(Command::Agreement(a)) => quality::agreement(a),
        Some(Command::Gold(a)) => quality::gold(a),
        Some(Command::Settings(a)) => settings::run(a),
        Some(Command::Import(a)) => import::run(a),
        Some(Command::Crawl(a)) => crawl::run(a),
        Some(Command::Stats(a)) => stats::run(a),
        Some(Command::Doctor(a)) => doctor::run(a),
        Some(Command::Export(a)) => export::run(a),
        Some(Command::ImportLabels(a)) => import_labels::run(a),
        Some(Command::Prelabel(a)) => prelabel::run(a),
        Some(Command::Train(a)) => train::run(a),
        Some(Command::Models(a)) => models::run(a),
        Some(Command::Duplicates(a)) => duplicates::run(a),
        Some(Command::Suspects(a)) => suspects::run(a),
        Some(Command::Activate(a)) => models::activate(a),
        Some(Command::RegisterModel(a)) => register_model::run(a),
        Some(Command::Simulate(a)) => simulate::run(a),
        Some(Command::Presets(a)) => presets::run(a),
        Some(Command::DebugWriter(a)) => debug_writer::run(a),
        Some(Command::Bench(a)) => bench::run(a),
        Some(Command::DebugPgServer(a)) => debug_pg::run(a),
        Some(Command::DebugTrain(a)) => debug_train::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// A command whose reader goes away (`yuxuan stats P | head -2`, `less` quit early) ends at
/// once and quietly, as `cat` does: the default SIGPIPE action, instead of Rust's "ignore"
/// that makes the next `println!` panic with "Broken pipe". Sockets are not affected (the
/// standard library sends with MSG_NOSIGNAL); the desktop app keeps the "ignore".
fn quiet_on_closed_stdout() {
    // SAFETY: resetting a signal's disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// One readable line, then the causes.
pub fn report_error(e: &anyhow::Error) {
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

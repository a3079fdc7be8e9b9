//! The `yuxuan` binary: the CLI (clap); with no subcommand it opens the desktop app.

mod cli;

fn main() -> std::process::ExitCode {
    yuxuan::ml::device::tune_allocator();
    cli::main()
}

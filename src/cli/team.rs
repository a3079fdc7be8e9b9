//! `yuxuan push`, `yuxuan pull` and `yuxuan team`: move projects between a file and a team
//! server, list and remove team projects.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use yuxuan::jobs::JobCtx;
use yuxuan::store::location::{is_team_url, Location};
use yuxuan::store::roles::{self, Role};
use yuxuan::store::transfer::{FileMode, TransferReport};
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The local project file.
    file: PathBuf,
    /// The team project to create: postgres://USER@HOST:PORT/DB?project=NAME
    url: String,
    /// Store only the files' paths (a team with a shared mount), not their bytes.
    #[arg(long)]
    reference_paths: bool,
}

#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// The team project: postgres://USER@HOST:PORT/DB?project=NAME
    url: String,
    /// The local snapshot to write (must not exist).
    file: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct TeamArgs {
    #[command(subcommand)]
    command: TeamCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TeamCommand {
    /// List the projects of a team database (the URL's project part is not needed).
    List {
        /// postgres://USER@HOST:PORT/DB
        url: String,
    },
    /// Delete a team project and everything in it (asks for --yes).
    Drop {
        url: String,
        #[arg(long)]
        yes: bool,
    },
    /// Add a member: a PostgreSQL login in the project's lead or annotator role, whose rights
    /// the server enforces (annotators insert their own decisions and read what they label;
    /// leads do everything but change history). Prints the member's URL and password once.
    AddMember {
        /// The project, as its owner: postgres://OWNER@HOST:PORT/DB?project=NAME
        url: String,
        /// The member's login name (their decisions carry it).
        name: String,
        #[arg(long, value_parser = ["annotator", "lead"], default_value = "annotator")]
        role: String,
        /// Read the password from the first line of stdin instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Take a member out of the project (their decisions stay; a login in no other project goes).
    RemoveMember { url: String, name: String },
    /// The members of a project and their roles.
    Members { url: String },
}

fn summary(what: &str, from: &str, to: &str, r: &TransferReport) {
    println!(
        "{what} {from} -> {to}: {} items, {} decisions, {} predictions, {} models ({} with weights), {} embeddings, {} files",
        r.items, r.decisions, r.predictions, r.models, r.weights, r.embeddings, r.files
    );
    if !r.missing_files.is_empty() {
        eprintln!(
            "warning: {} item files could not be read here and were kept as paths only, e.g. {}",
            r.missing_files.len(),
            r.missing_files[0]
        );
    }
}

pub fn push(a: PushArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        is_team_url(&a.url),
        "push copies a project file into a team project: the second argument must be a postgres:// URL"
    );
    anyhow::ensure!(
        !is_team_url(&a.file.to_string_lossy()),
        "the first argument of push is a local project file"
    );
    let src = Store::open(&a.file).with_context(|| format!("opening {}", a.file.display()))?;
    let dest = Location::parse(std::path::Path::new(&a.url))?;
    let mode = if a.reference_paths {
        FileMode::ReferencePaths
    } else {
        FileMode::Bytes
    };
    let ctx = JobCtx::new("push").with_cli_bar();
    let r = src.copy_into(std::path::Path::new(&a.url), mode, &ctx)?;
    ctx.finish();
    summary("pushed", &a.file.display().to_string(), &dest.display(), &r);
    Ok(ExitCode::SUCCESS)
}

pub fn pull(a: PullArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        is_team_url(&a.url),
        "pull copies a team project into a local file: the first argument must be a postgres:// URL"
    );
    let src = Store::open(std::path::Path::new(&a.url))?;
    let ctx = JobCtx::new("pull").with_cli_bar();
    let r = src.copy_into(&a.file, FileMode::Bytes, &ctx)?;
    ctx.finish();
    summary(
        "pulled",
        &src.location().display(),
        &a.file.display().to_string(),
        &r,
    );
    Ok(ExitCode::SUCCESS)
}

pub fn team(a: TeamArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        TeamCommand::List { url } => {
            let url = with_any_project(&url)?;
            let names = yuxuan::store::team::list_projects(&url)?;
            if names.is_empty() {
                println!("no team projects on {}", url.server());
            }
            for n in names {
                println!("{}", url.with_project(&n)?.display());
            }
        }
        TeamCommand::Drop { url, yes } => {
            let Location::Team(u) = Location::parse(std::path::Path::new(&url))? else {
                anyhow::bail!("team drop takes a postgres:// URL with ?project=NAME");
            };
            anyhow::ensure!(
                yes,
                "this deletes team project {:?} with all its decisions; repeat with --yes (a `yuxuan pull` first keeps a copy)",
                u.project
            );
            if yuxuan::store::team::drop_project(&u)? {
                println!("deleted team project {}", u.display());
            } else {
                anyhow::bail!("no team project {:?} on {}", u.project, u.server());
            }
        }
        TeamCommand::AddMember {
            url,
            name,
            role,
            password_stdin,
        } => {
            let u = project_url(&url)?;
            let role = Role::parse(&role).expect("clap checked the value");
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let p = line.trim_end_matches(['\r', '\n']).to_string();
                anyhow::ensure!(
                    !p.is_empty(),
                    "--password-stdin: the first line of stdin is empty"
                );
                p
            } else {
                new_password()
            };
            let created = roles::add_member(&u, &name, role, &password)?;
            if created {
                println!("added {name} as {} of {}", role.as_str(), u.display());
                println!("their URL:      {}", u.for_user(&name));
                if !password_stdin {
                    println!("their password: {password}");
                    println!("(shown once: hand it over privately; they can keep it in ~/.pgpass)");
                }
            } else {
                println!(
                    "{name} (an existing login, password unchanged) is now {} of {}",
                    role.as_str(),
                    u.display()
                );
            }
        }
        TeamCommand::RemoveMember { url, name } => {
            let u = project_url(&url)?;
            anyhow::ensure!(
                roles::remove_member(&u, &name)?,
                "{name} is not a member of {}",
                u.display()
            );
            println!("removed {name} from {}", u.display());
        }
        TeamCommand::Members { url } => {
            let u = project_url(&url)?;
            let members = roles::members(&u)?;
            if members.is_empty() {
                println!(
                    "no members yet (`yuxuan team add-member URL NAME --role annotator|lead`)"
                );
            }
            for m in members {
                println!("{:<24} {}", m.name, m.role.as_str());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn project_url(url: &str) -> anyhow::Result<yuxuan::store::TeamUrl> {
    match Location::parse(std::path::Path::new(url))? {
        Location::Team(u) => Ok(u),
        Location::File(_) => {
            anyhow::bail!("expected a team project URL (postgres://USER@HOST:PORT/DB?project=NAME)")
        }
    }
}

/// A random password of 20 letters and digits.
fn new_password() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// A URL for listing: the project part is optional there.
fn with_any_project(url: &str) -> anyhow::Result<yuxuan::store::TeamUrl> {
    anyhow::ensure!(is_team_url(url), "expected a postgres:// URL, got {url:?}");
    let full = if url.contains("project=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&project=x")
    } else {
        format!("{url}?project=x")
    };
    Ok(yuxuan::store::TeamUrl::parse(&full)?)
}

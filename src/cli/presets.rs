//! `yuxuan presets`: propose an industry's field list from the confirmed pages, for an
//! industry or a one-line requirement, as JSON or as a standalone mobile H5 page.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use yuxuan::presets::{self, DEFAULT_MIN_FREQUENCY};
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file (a form project).
    project: PathBuf,
    /// The industry (label name, e.g. real_estate).
    #[arg(long, conflicts_with = "requirement")]
    industry: Option<String>,
    /// A one-line requirement (e.g. 房产中介客户登记), classified into an industry.
    #[arg(long)]
    requirement: Option<String>,
    /// Output format.
    #[arg(long, value_parser = ["json", "html"], default_value = "json")]
    format: String,
    /// Propose field types found in at least this share of the industry's pages.
    #[arg(long, default_value_t = DEFAULT_MIN_FREQUENCY)]
    min_frequency: f64,
    /// Measure the presets instead: leave each labelled page out in turn, propose its
    /// industry's field list (and its title's, as a requirement) from the other pages, and
    /// compare with the page's real field types (precision / recall per industry). With
    /// `--out`, the figures are also written there as JSON.
    #[arg(long, conflicts_with_all = ["industry", "requirement"])]
    evaluate: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let store =
        Store::open(&a.project).with_context(|| format!("opening {}", a.project.display()))?;
    if a.evaluate {
        let e = presets::evaluate(&store, a.min_frequency)?;
        print!("{}", e.table());
        println!(
            "targets {}",
            if e.meets_targets() {
                "met on every industry"
            } else {
                "NOT met on every industry"
            }
        );
        if let Some(p) = &a.out {
            std::fs::write(p, serde_json::to_string_pretty(&e)?)
                .with_context(|| format!("writing {}", p.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let preset = match (&a.industry, &a.requirement) {
        (Some(i), _) => presets::preset_for_industry(&store, i, a.min_frequency)?,
        (None, Some(r)) => presets::preset_for_requirement(&store, r, a.min_frequency)?,
        (None, None) => anyhow::bail!("give --industry NAME or --requirement TEXT"),
    };
    let text = match a.format.as_str() {
        "html" => presets::html::render(&preset),
        _ => preset.to_json(),
    };
    match &a.out {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
            eprintln!(
                "{} preset ({}, {} fields, {} confirmed pages) written to {}",
                preset.industry,
                preset.source,
                preset.fields.len(),
                preset.n_pages,
                p.display()
            );
        }
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

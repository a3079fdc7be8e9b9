//! `yuxuan settings`: show and change a project's team and quality settings (overlap, gold
//! checks, lease length).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use yuxuan::store::quality::{self, Overlap};
use yuxuan::store::{leases, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file or team project URL (a lead's login to change anything).
    project: PathBuf,
    /// Blind overlap: N annotators for a fraction F of the items, e.g. 0.1x3.
    #[arg(long, value_parser = Overlap::parse, conflicts_with = "no_overlap")]
    overlap: Option<Overlap>,
    /// Every item is labelled once again (answers already given stay).
    #[arg(long)]
    no_overlap: bool,
    /// Share of each annotator's answers that are gold checks (0 turns them off).
    #[arg(long)]
    gold_rate: Option<f64>,
    /// Gold accuracy under which an annotator is flagged to the lead.
    #[arg(long)]
    gold_threshold: Option<f64>,
    /// Minutes an item stays leased to the annotator it was given to (team projects).
    #[arg(long)]
    lease_minutes: Option<f64>,
    /// Image projects: the backbone(s) that embed the images; missing embeddings are computed
    /// at the next pre-labelling, the next training uses them.
    #[arg(long, value_enum)]
    backbone: Option<yuxuan::ml::backbone::BackboneChoice>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let store = Store::open(&a.project)?;
    let change = |r: yuxuan::store::Result<()>| {
        r.context("changing the project's settings (on a team project this needs a lead's login)")
    };
    if let Some(o) = a.overlap {
        change(store.set_overlap(o))?;
    }
    if a.no_overlap {
        change(store.set_overlap(Overlap {
            fraction: 0.0,
            annotators: 1,
        }))?;
    }
    if let Some(r) = a.gold_rate {
        anyhow::ensure!(
            (0.0..=0.5).contains(&r),
            "--gold-rate must be between 0 and 0.5"
        );
        change(store.set_setting(quality::GOLD_RATE, serde_json::json!(r)))?;
    }
    if let Some(t) = a.gold_threshold {
        anyhow::ensure!(
            (0.0..=1.0).contains(&t),
            "--gold-threshold must be between 0 and 1"
        );
        change(store.set_setting(quality::GOLD_THRESHOLD, serde_json::json!(t)))?;
    }
    if let Some(m) = a.lease_minutes {
        anyhow::ensure!(m > 0.0, "--lease-minutes must be positive");
        change(store.set_setting(leases::LEASE_MINUTES, serde_json::json!(m)))?;
    }
    if let Some(b) = a.backbone {
        change(store.set_setting(
            yuxuan::ml::backbone::BACKBONE_SETTING,
            serde_json::json!(b.as_str()),
        ))?;
    }
    println!("project: {}", store.location().display());
    if store.project()?.kind.spec().uses_backbone {
        println!(
            "backbone:       {}",
            yuxuan::ml::backbone::BackboneChoice::of_project(&store)?.as_str()
        );
    }
    match store.overlap()? {
        Some(o) => println!(
            "overlap:        {o} ({} items now)",
            store.overlap_items()?.len()
        ),
        None => println!("overlap:        none (each item is labelled once)"),
    }
    println!(
        "gold checks:    {:.1} % of each annotator's answers; flagged under {:.0} % accuracy",
        store.gold_rate()? * 100.0,
        store.gold_threshold()? * 100.0
    );
    if store.is_team() {
        println!(
            "lease:          {:.1} minutes",
            store.lease_ms()? as f64 / 60_000.0
        );
        println!("your role:      {}", store.role()?.as_str());
    }
    Ok(ExitCode::SUCCESS)
}

//! `yuxuan new`: create a project file with its label sets.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use yuxuan::domain::{sets, NewLabel, TaskKind};
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file to create (e.g. shop-photos.yuxuan), or a team project URL
    /// (postgres://USER@HOST:PORT/DB?project=NAME).
    path: PathBuf,
    /// What the project labels.
    #[arg(long, value_parser = ["image", "form"], default_value = "image")]
    kind: String,
    /// Project name (defaults to the file name).
    #[arg(long)]
    name: Option<String>,
    /// Labels, comma-separated, in hotkey order (image projects), e.g. "defect,ok".
    #[arg(long, value_delimiter = ',')]
    labels: Vec<String>,
    /// Team projects: store only the files' paths (a shared mount), not their bytes.
    #[arg(long)]
    reference_paths: bool,
    /// Team projects: minutes an item stays leased to the annotator it was given to.
    #[arg(long, default_value_t = yuxuan::store::leases::DEFAULT_LEASE_MINUTES)]
    lease_minutes: f64,
    /// Blind overlap: N annotators for a fraction F of the items, e.g. 0.1x3 (10 %, 3 each).
    #[arg(long, value_parser = yuxuan::store::quality::Overlap::parse)]
    overlap: Option<yuxuan::store::quality::Overlap>,
    /// Image projects: the pretrained backbone(s) that embed the images (`both`: MobileNetV2
    /// and EfficientNet-Lite0 side by side, the fewest corrections measured; embedding takes
    /// twice as long as one).
    #[arg(long, value_enum, default_value_t = yuxuan::ml::backbone::BackboneChoice::NEW_PROJECT_DEFAULT)]
    backbone: yuxuan::ml::backbone::BackboneChoice,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let kind = TaskKind::parse(&a.kind).expect("clap checked the value");
    let location = yuxuan::store::Location::parse(&a.path)?;
    let name = a.name.clone().unwrap_or_else(|| match &location {
        yuxuan::store::Location::Team(u) => u.project.clone(),
        yuxuan::store::Location::File(p) => p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    });
    anyhow::ensure!(a.lease_minutes > 0.0, "--lease-minutes must be positive");
    let mut store = Store::create(&a.path, &name, kind)
        .with_context(|| format!("creating {}", location.display()))?;
    if store.is_team() {
        store.set_setting(
            yuxuan::store::files::REFERENCE_PATHS,
            serde_json::Value::Bool(a.reference_paths),
        )?;
    }
    if a.lease_minutes != yuxuan::store::leases::DEFAULT_LEASE_MINUTES {
        store.set_setting(
            yuxuan::store::leases::LEASE_MINUTES,
            serde_json::json!(a.lease_minutes),
        )?;
    }
    if let Some(o) = a.overlap {
        store.set_overlap(o)?;
    }
    if kind == TaskKind::Image {
        store.set_setting(
            yuxuan::ml::backbone::BACKBONE_SETTING,
            serde_json::json!(a.backbone.as_str()),
        )?;
    }
    let labels: Vec<NewLabel> = a
        .labels
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(NewLabel::named)
        .collect();
    if !labels.is_empty() {
        let set = match kind {
            TaskKind::Image => sets::CLASS,
            TaskKind::Form => sets::FIELD_TYPE,
        };
        store.add_labels(set, &labels)?;
    }
    if kind == TaskKind::Form {
        // The default bilingual taxonomy (after any labels given on the command line).
        store.add_labels(sets::FIELD_TYPE, &yuxuan::taxonomy::default_field_types())?;
        store.add_labels(sets::INDUSTRY, &yuxuan::taxonomy::default_industries())?;
    }
    println!(
        "created {} ({} project \"{}\")",
        location.display(),
        kind.as_str(),
        name
    );
    Ok(ExitCode::SUCCESS)
}

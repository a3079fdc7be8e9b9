//! `yuxuan new`: create a project file with its label sets.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use yuxuan::kinds::NewProject;
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file to create (e.g. shop-photos.yuxuan), or a team project URL
    /// (postgres://USER@HOST:PORT/DB?project=NAME).
    path: PathBuf,
    /// What the project labels: image (a class per image), form (H5 form pages), objects
    /// (boxes in images).
    #[arg(long, default_value = "image", value_parser = parse_kind)]
    kind: yuxuan::domain::TaskKind,
    /// Project name (defaults to the file name).
    #[arg(long)]
    name: Option<String>,
    /// Labels, comma-separated, in hotkey order, e.g. "defect,ok". Object projects: a label
    /// that is a COCO class name takes the detector's boxes of that class; `pedestrian=person`
    /// names the class a label starts from.
    #[arg(long, value_delimiter = ',')]
    labels: Vec<String>,
    /// Object projects: the detector that pre-labels: `yolo11n` (COCO-80, AGPL-3.0 weights
    /// installed by setup) or `none` (the annotator draws every box).
    #[arg(long)]
    detector: Option<String>,
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

fn parse_kind(s: &str) -> Result<yuxuan::domain::TaskKind, String> {
    yuxuan::kinds::parse(s).ok_or_else(|| {
        format!(
            "unknown kind {s:?}: one of {}",
            yuxuan::kinds::ids().join(", ")
        )
    })
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let kind = a.kind;
    let spec = kind.spec();
    anyhow::ensure!(
        a.detector.is_none() || kind == yuxuan::domain::TaskKind::Objects,
        "--detector is for object projects (--kind objects)"
    );
    let location = yuxuan::store::Location::parse(&a.path)?;
    let name = a.name.clone().unwrap_or_else(|| match &location {
        yuxuan::store::Location::Team(u) => u.project.clone(),
        yuxuan::store::Location::File(p) => p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    });
    anyhow::ensure!(a.lease_minutes > 0.0, "--lease-minutes must be positive");
    let new = NewProject {
        labels: a.labels.clone(),
        backbone: spec.uses_backbone.then(|| a.backbone.as_str()),
        detector: a.detector.clone(),
    };
    let store = Store::create_project(&a.path, &name, kind, &new)
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
    println!(
        "created {} ({} project \"{}\")",
        location.display(),
        kind.as_str(),
        name
    );
    Ok(ExitCode::SUCCESS)
}

//! `yuxuan register-model`: bring your own TorchScript image classifier (label list and
//! input spec); it becomes the active model, pre-labels directly, and `yuxuan train --mode
//! torchscript` fine-tunes it. Object projects: an ultralytics TorchScript detection export
//! (any size, any classes), which pre-labels the images it has not seen.

use std::path::PathBuf;
use std::process::ExitCode;

use yuxuan::ml::backbone::{InputSpec, IMAGENET_MEAN, IMAGENET_STD};
use yuxuan::ml::image_torchscript;
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file.
    project: PathBuf,
    /// TorchScript file (`torch.jit.trace` / `torch.jit.script`), input `[N, 3, S, S]`,
    /// output logits `[N, labels]`.
    model: PathBuf,
    /// The model's output labels, in output order (comma-separated). Object projects: none
    /// (an ultralytics detection export names its classes).
    #[arg(long, value_delimiter = ',')]
    labels: Vec<String>,
    /// Input size S.
    #[arg(long, default_value_t = 224)]
    size: u32,
    /// Per-channel mean (3 comma-separated values; default ImageNet).
    #[arg(long, value_delimiter = ',')]
    mean: Option<Vec<f32>>,
    /// Per-channel std (3 comma-separated values; default ImageNet).
    #[arg(long, value_delimiter = ',')]
    std: Option<Vec<f32>>,
    /// Register without activating.
    #[arg(long)]
    no_activate: bool,
}

fn three(v: Option<Vec<f32>>, default: [f32; 3], name: &str) -> anyhow::Result<[f32; 3]> {
    match v {
        None => Ok(default),
        Some(v) => {
            let a: [f32; 3] = v
                .try_into()
                .map_err(|_| anyhow::anyhow!("--{name} takes 3 values"))?;
            anyhow::ensure!(
                name != "std" || a.iter().all(|x| *x > 0.0),
                "--std values must be positive"
            );
            Ok(a)
        }
    }
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(&a.project)?;
    if store.project()?.kind == yuxuan::domain::TaskKind::Objects {
        // A detector carries its classes and input size in the file.
        anyhow::ensure!(
            a.labels.is_empty(),
            "a detector's classes come from its file: leave out --labels"
        );
        let m = yuxuan::ml::objects::register_detector(&mut store, &a.model, !a.no_activate)?;
        println!(
            "registered detector {} as v{} ({} classes){}",
            a.model.display(),
            m.version,
            m.labels.len(),
            if m.active { ", active" } else { "" }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let labels: Vec<String> = a
        .labels
        .iter()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let spec = InputSpec {
        size: a.size,
        mean: three(a.mean, IMAGENET_MEAN, "mean")?,
        std: three(a.std, IMAGENET_STD, "std")?,
    };
    let m = image_torchscript::register(&mut store, &a.model, &labels, &spec, !a.no_activate)?;
    store.set_setting(
        yuxuan::ml::catalog::IMAGE_MODE_SETTING,
        serde_json::json!(yuxuan::ml::catalog::ImageMode::Torchscript.as_str()),
    )?;
    println!(
        "registered {} as v{} ({} labels, input {}x{}){}",
        a.model.display(),
        m.version,
        m.labels.len(),
        spec.size,
        spec.size,
        if m.active { ", active" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}

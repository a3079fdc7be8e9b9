//! The form-project paths of `yuxuan train` and `yuxuan prelabel` (the image paths live in
//! those files): both go through `ml::registry::family_for` and the shared machinery.

use std::process::ExitCode;

use yuxuan::jobs::JobCtx;
use yuxuan::ml::family::{self, Activation, TrainReport};
use yuxuan::ml::field_model::prelabel_form_project;
use yuxuan::ml::train::TrainConfig;
use yuxuan::store::Store;

/// Train the field-type (`field_type`) or page-industry (`industry`) model.
pub fn train(
    store: &mut Store,
    set: &str,
    cfg: &TrainConfig,
    activation: Activation,
    ctx: &JobCtx,
) -> anyhow::Result<TrainReport> {
    let fam = yuxuan::ml::registry::family_for(store, set)?;
    family::run_training(store, fam.as_ref(), cfg, activation, ctx)
}

/// Pre-label field types (the base model is registered on first use) and industries.
pub fn prelabel(store: &mut Store, ctx: &JobCtx) -> anyhow::Result<ExitCode> {
    let done = prelabel_form_project(store, ctx)?;
    ctx.finish();
    for (set, n, version) in &done {
        println!("pre-labelled {n} item(s) in {set} with model v{version}");
    }
    if !done
        .iter()
        .any(|(s, _, _)| s == yuxuan::domain::sets::INDUSTRY)
    {
        println!("industry: no model yet (label a few pages, then `yuxuan train PROJECT --set industry`)");
    }
    Ok(ExitCode::SUCCESS)
}

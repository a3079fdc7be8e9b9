//! `yuxuan prelabel`: compute missing image embeddings, then pre-label every item the active
//! model has not predicted yet (batched, decoding overlapped with inference, CUDA when present).

use std::path::PathBuf;
use std::process::ExitCode;

use yuxuan::jobs::JobCtx;
use yuxuan::ml::image_pipeline;
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file.
    project: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(&a.project)?;
    let ctx = JobCtx::new("prelabel").with_cli_bar();
    if store.project()?.kind == yuxuan::domain::TaskKind::Form {
        return super::forms::prelabel(&mut store, &ctx);
    }
    let before = store.embedding_count(yuxuan::ml::backbone::BACKBONE_ID)?;
    let n = image_pipeline::prelabel_project(&mut store, &ctx)?;
    ctx.finish();
    let after = store.embedding_count(yuxuan::ml::backbone::BACKBONE_ID)?;
    println!(
        "embedded {} new image(s) ({} cached in total)",
        after - before,
        after
    );
    match store.active_model(yuxuan::domain::sets::CLASS)? {
        Some(m) => println!(
            "pre-labelled {n} item(s) with model v{} ({})",
            m.version, m.kind
        ),
        None => println!(
            "no active model yet: label a few items (queue `diverse`) and run `yuxuan train`"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

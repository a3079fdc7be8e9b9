//! `yuxuan prelabel`: compute missing image embeddings, then pre-label every item the active
//! model of each label set has not predicted yet (batched, decoding overlapped with
//! inference, CUDA when present; form projects register the field-type base model first).

use std::path::PathBuf;
use std::process::ExitCode;

use yuxuan::domain::{sets, TaskKind};
use yuxuan::jobs::JobCtx;
use yuxuan::ml::project::{self, Prelabelled};
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file.
    project: PathBuf,
}

/// One line per label set pre-labelled, and what to do where a set has no model yet.
pub fn print_prelabelled(store: &Store, done: &[Prelabelled]) -> anyhow::Result<()> {
    for p in done {
        println!(
            "pre-labelled {} item(s) in {} with model v{}",
            p.items, p.label_set, p.version
        );
    }
    let has = |set: &str| done.iter().any(|p| p.label_set == set);
    match store.project()?.kind {
        TaskKind::Image if !has(sets::CLASS) => println!(
            "no active model yet: label a few items (queue `diverse`) and run `yuxuan train`"
        ),
        TaskKind::Form if !has(sets::INDUSTRY) => println!(
            "industry: no model yet (label a few pages, then `yuxuan train PROJECT --set industry`)"
        ),
        _ => {}
    }
    Ok(())
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(&a.project)?;
    let ctx = JobCtx::new("prelabel").with_cli_bar();
    let image = store.project()?.kind == TaskKind::Image;
    let nets: Vec<&str> = if image {
        yuxuan::ml::backbone::BackboneChoice::of_project(&store)?
            .nets()
            .iter()
            .map(|n| n.id())
            .collect()
    } else {
        vec![]
    };
    let count = |store: &Store| -> anyhow::Result<i64> {
        let mut n = 0;
        for id in &nets {
            n += store.embedding_count(id)?;
        }
        Ok(n)
    };
    let before = count(&store)?;
    let done = project::prelabel(&mut store, &ctx)?;
    ctx.finish();
    if image {
        let after = count(&store)?;
        println!(
            "computed {} new embedding(s) ({} cached in total; backbones: {})",
            after - before,
            after,
            nets.join(", ")
        );
    }
    print_prelabelled(&store, &done)?;
    Ok(ExitCode::SUCCESS)
}

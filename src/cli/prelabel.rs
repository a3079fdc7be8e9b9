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
    /// Object projects: the detector's score threshold (boxes below it are not stored; the
    /// review screen hides those below 0.25 until `H`).
    #[arg(long, default_value_t = 0.05)]
    min_score: f32,
    /// Object projects: IoU above which a box of the same class is suppressed (NMS).
    #[arg(long, default_value_t = 0.7)]
    nms_iou: f32,
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
    if store.project()?.kind == TaskKind::Objects {
        anyhow::ensure!(
            (0.0..1.0).contains(&a.min_score) && (0.0..=1.0).contains(&a.nms_iou),
            "--min-score must be in [0, 1) and --nms-iou in [0, 1]"
        );
        let opts = yuxuan::ml::detector::DetectOptions {
            conf: a.min_score,
            iou: a.nms_iou,
            ..Default::default()
        };
        let t0 = std::time::Instant::now();
        let r = yuxuan::ml::objects::prelabel(&mut store, &opts, &ctx)?;
        ctx.finish();
        let secs = t0.elapsed().as_secs_f64();
        if r.detector == yuxuan::kinds::objects::NO_DETECTOR {
            println!("no detector (--detector none): draw the boxes in the app");
        } else {
            println!(
                "pre-labelled {} image(s) with {}: {} box(es), {} unreadable, {:.1} images/s",
                r.images,
                r.detector,
                r.boxes,
                r.errors,
                r.images as f64 / secs.max(1e-9)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let image = store.project()?.kind.spec().uses_backbone;
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

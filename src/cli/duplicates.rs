//! `yuxuan duplicates`: near-duplicate groups of a project's images (cosine similarity of the
//! cached embeddings, `ml::similarity`), or the items most similar to one item (`--like`).
//! Groups whose members carry different human labels are flagged: one of them is wrong.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use yuxuan::domain::sets;
use yuxuan::jobs::JobCtx;
use yuxuan::ml::backbone::BACKBONE_ID;
use yuxuan::ml::similarity::{self, Search, DEFAULT_THRESHOLD, EXACT_MAX_ITEMS};
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file.
    project: PathBuf,
    /// Cosine similarity from which two images count as near duplicates (0-1].
    #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
    threshold: f32,
    /// Instead of groups: the items most similar to this item id.
    #[arg(long, value_name = "ITEM")]
    like: Option<i64>,
    /// With --like: how many neighbours.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// How pairs are found: `exact` (all pairs), `index` (HNSW nearest neighbours; large
    /// groups computed exactly), `auto` (exact up to the size where the index is faster).
    #[arg(long, default_value = "auto", value_parser = parse_search)]
    search: Search,
    /// Embeddings of which backbone.
    #[arg(long, default_value = BACKBONE_ID)]
    backbone: String,
}

fn parse_search(s: &str) -> Result<Search, String> {
    Search::parse(s).ok_or_else(|| {
        format!("`{s}`: one of auto (exact up to {EXACT_MAX_ITEMS} items), exact, index")
    })
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let store = Store::open(&a.project)?;
    let embedded = store.embedded_item_ids(&a.backbone)?;
    anyhow::ensure!(
        !embedded.is_empty(),
        "{} has no {} embeddings yet: run `yuxuan prelabel {}` first",
        a.project.display(),
        a.backbone,
        a.project.display()
    );
    let labels: HashMap<i64, String> = store.current_labels(sets::CLASS)?.into_iter().collect();
    let describe = |id: i64| -> anyhow::Result<(String, String)> {
        let path = store.item(id)?.map(|i| i.source_path).unwrap_or_default();
        Ok((path, labels.get(&id).cloned().unwrap_or_else(|| "-".into())))
    };
    if let Some(item) = a.like {
        let near = similarity::similar_to(&store, &a.backbone, item, a.k)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&near)?);
            return Ok(ExitCode::SUCCESS);
        }
        let (path, label) = describe(item)?;
        println!("items most similar to {item} ({path}, label {label}):");
        for n in near {
            let (path, label) = describe(n.item_id)?;
            println!(
                "  {:>8} {:.4}  {:<20} {path}",
                n.item_id, n.similarity, label
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let ctx = JobCtx::new("duplicates").with_cli_bar();
    let report = similarity::near_duplicates_by(&store, &a.backbone, a.threshold, a.search, &ctx)?;
    ctx.finish();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let in_groups: usize = report.groups.iter().map(|g| g.items.len()).sum();
    println!(
        "{} group(s) of near duplicates ({} items, {} pairs with similarity >= {}) among {} images ({} search)",
        report.groups.len(),
        in_groups,
        report.pairs,
        report.threshold,
        report.items_searched,
        report.search.as_str()
    );
    for (k, g) in report.groups.iter().enumerate() {
        println!(
            "group {} ({} items, similarity {:.3}-{:.3}){}",
            k + 1,
            g.items.len(),
            g.min_similarity,
            g.max_similarity,
            if g.conflicting(&labels) {
                "  CONFLICTING LABELS"
            } else {
                ""
            }
        );
        for &id in &g.items {
            let (path, label) = describe(id)?;
            println!("  {id:>8} {label:<20} {path}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `yuxuan stats`: counts per label set, label distribution, items with errors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use yuxuan::domain::ItemKind;
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project file.
    project: PathBuf,
    /// How many items with errors to list.
    #[arg(long, default_value_t = 20)]
    errors: usize,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let store = Store::open(&a.project)?;
    let p = store.project()?;
    println!("project: {} ({})", p.name, p.kind.as_str());
    for (set, target) in store.label_sets()? {
        let kind = ItemKind::parse(&target).unwrap_or(ItemKind::Image);
        let c = store.item_counts(kind, &set)?;
        println!(
            "{set} ({target}s): {} items, {} labeled, {} predicted, {} with errors",
            c.total, c.labeled, c.predicted, c.with_error
        );
        let mut dist: BTreeMap<String, usize> = BTreeMap::new();
        if set == yuxuan::domain::sets::OBJECT {
            // Object labels count boxes (an image's own label only says it is finished).
            for (l, n) in store.box_counts(&set)? {
                dist.insert(l, n as usize);
            }
            println!("  boxes per label:");
        } else {
            for (_, l) in store.current_labels(&set)? {
                *dist.entry(l).or_default() += 1;
            }
        }
        for l in store.labels(&set)? {
            println!(
                "  {:<24} {:>6}",
                l.shown(),
                dist.get(&l.name).copied().unwrap_or(0)
            );
        }
        if let Some(m) = store.active_model(&set)? {
            println!("  active model: v{} ({})", m.version, m.kind);
        }
    }
    let errors = store.items_with_errors()?;
    if !errors.is_empty() {
        println!("items with errors: {}", errors.len());
        for it in errors.iter().take(a.errors) {
            println!(
                "  {}: {}",
                it.source_path,
                it.error.as_deref().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `yuxuan debug-writer` (hidden): records decisions in a loop and prints `saved ID` after
//! each commit. Used by the fault-tolerance tests (kill -9, two writers) and by benches.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use yuxuan::domain::{Action, ItemKind, NewDecision};
use yuxuan::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    project: PathBuf,
    /// Label set to write decisions in.
    #[arg(long, default_value = "class")]
    set: String,
    /// How many decisions (0 = until killed).
    #[arg(long, default_value_t = 0)]
    count: u64,
    #[arg(long, default_value = "writer")]
    annotator: String,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(&a.project)?;
    let labels = store.labels(&a.set)?;
    anyhow::ensure!(!labels.is_empty(), "label set {} has no labels", a.set);
    let kind = store
        .label_sets()?
        .into_iter()
        .find(|(n, _)| n == &a.set)
        .and_then(|(_, t)| ItemKind::parse(&t))
        .unwrap_or(ItemKind::Image);
    let items = store.items_of_kind(kind)?;
    anyhow::ensure!(!items.is_empty(), "project has no items");
    let out = std::io::stdout();
    let mut i = 0u64;
    loop {
        if a.count > 0 && i >= a.count {
            break;
        }
        let item = &items[(i as usize) % items.len()];
        let label = &labels[(i as usize) % labels.len()];
        let id = store.record_decision(&NewDecision {
            item_id: item.id,
            label_set: a.set.clone(),
            label: Some(label.name.clone()),
            annotator: a.annotator.clone(),
            action: Action::Correct,
            ms_spent: 1,
            prediction_id: None,
        })?;
        let mut lock = out.lock();
        writeln!(lock, "saved {id}")?;
        lock.flush()?;
        i += 1;
    }
    Ok(ExitCode::SUCCESS)
}

//! Insights for the lead: label distribution, throughput per annotator, accept rate over time,
//! items that could not be read (and why), and how many labels disagree with the model.
//! Computed from the store on a background thread by the UI; egui-free so tests can check it.

use std::collections::BTreeMap;

use crate::domain::Action;
use crate::queue::{Filter, QueueSpec};
use crate::store::{Result, Store};

/// One annotator's work.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AnnotatorStats {
    pub name: String,
    /// Decisions that set a label (accept + correct), undone ones excluded.
    pub labeled: usize,
    pub accepts: usize,
    pub corrects: usize,
    pub skips: usize,
    pub undos: usize,
    /// Median time spent per labelled item, milliseconds.
    pub median_ms: i64,
}

/// Accept rate of one day.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DayRate {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub decisions: usize,
    pub accept_rate: f64,
}

/// Everything the insights screen shows for one label set.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Insights {
    pub label_set: String,
    /// Current human labels per label, in label order (labels with zero included).
    pub distribution: Vec<(String, usize)>,
    pub annotators: Vec<AnnotatorStats>,
    pub accept_rate_by_day: Vec<DayRate>,
    /// Items that could not be read: (id, source path, reason).
    pub errors: Vec<(i64, String, String)>,
    /// Labelled items whose label differs from the model's suggestion.
    pub disagreements: usize,
    /// Agreement between annotators and their gold accuracy (items answered by two or more,
    /// gold checks).
    pub agreement: super::agreement::AgreementReport,
    /// The newest suspect-label check, if any ran.
    pub suspects: Option<SuspectsView>,
}

/// What the newest suspect-label check found (`ml::suspects`), as Insights shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SuspectsView {
    pub summary: crate::ml::suspects::Summary,
    /// Suspects not reviewed, corrected or undone since.
    pub open: usize,
    pub checked_at: String,
}

/// Compute the insights of `set`.
pub fn compute(store: &Store, set: &str) -> Result<Insights> {
    let labels = store.labels(set)?;
    let current = store.current_labels(set)?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    // Object images: the distribution counts boxes per label (the image's own label only says
    // it is finished).
    let box_counts = if set == crate::domain::sets::OBJECT {
        store.box_counts(set)?
    } else {
        Vec::new()
    };
    for (l, n) in &box_counts {
        *counts.entry(l.as_str()).or_default() += *n as usize;
    }
    for (_, l) in current.iter().filter(|_| box_counts.is_empty()) {
        *counts.entry(l.as_str()).or_default() += 1;
    }
    let distribution = labels
        .iter()
        .map(|l| {
            (
                l.name.clone(),
                counts.get(l.name.as_str()).copied().unwrap_or(0),
            )
        })
        .collect();

    let decisions: Vec<_> = store
        .all_decisions()?
        .into_iter()
        .filter(|d| d.label_set == set)
        .collect();
    let undone: std::collections::HashSet<i64> = decisions
        .iter()
        .filter(|d| d.action == Action::Undo)
        .filter_map(|d| d.supersedes)
        .collect();
    let mut per: BTreeMap<String, (AnnotatorStats, Vec<i64>)> = BTreeMap::new();
    let mut days: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for d in &decisions {
        let (a, times) = per.entry(d.annotator.clone()).or_insert_with(|| {
            (
                AnnotatorStats {
                    name: d.annotator.clone(),
                    ..Default::default()
                },
                vec![],
            )
        });
        if d.action == Action::Undo {
            a.undos += 1;
            continue;
        }
        if undone.contains(&d.id) {
            continue;
        }
        match d.action {
            Action::Accept => a.accepts += 1,
            Action::Correct => a.corrects += 1,
            Action::Skip => a.skips += 1,
            _ => {}
        }
        if d.action.sets_label() {
            a.labeled += 1;
            times.push(d.ms_spent);
            let day = d.decided_at.get(..10).unwrap_or(&d.decided_at).to_string();
            let e = days.entry(day).or_default();
            e.0 += 1;
            if d.action == Action::Accept {
                e.1 += 1;
            }
        }
    }
    let annotators = per
        .into_values()
        .map(|(mut a, mut t)| {
            t.sort_unstable();
            a.median_ms = t.get(t.len() / 2).copied().unwrap_or(0);
            a
        })
        .collect();
    let accept_rate_by_day = days
        .into_iter()
        .map(|(day, (n, acc))| DayRate {
            day,
            decisions: n,
            accept_rate: acc as f64 / n.max(1) as f64,
        })
        .collect();
    let errors = store
        .items_with_errors()?
        .into_iter()
        .map(|i| (i.id, i.source_path, i.error.unwrap_or_default()))
        .collect();
    let disagreements = store
        .queue_candidates(&QueueSpec {
            label_set: set.to_string(),
            filter: Filter::Disagreements,
            ..Default::default()
        })?
        .len();
    let agreement = super::agreement::of_project(store, set)?;
    let suspects = match store.latest_suspect_run(set)? {
        Some(run) => Some(SuspectsView {
            summary: serde_json::from_value(run.summary).unwrap_or_default(),
            open: store.suspects_of_run(run.id, true)?.len(),
            checked_at: run.created_at,
        }),
        None => None,
    };
    Ok(Insights {
        label_set: set.to_string(),
        distribution,
        annotators,
        accept_rate_by_day,
        errors,
        disagreements,
        agreement,
        suspects,
    })
}

/// One member of a near-duplicate group, as the lead sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DuplicateMember {
    pub item_id: i64,
    pub path: String,
    /// The current human label, if any.
    pub label: Option<String>,
}

/// A near-duplicate group with what the screen needs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DuplicateGroupView {
    pub members: Vec<DuplicateMember>,
    pub min_similarity: f32,
    pub max_similarity: f32,
    /// Members carry different human labels: one of them is wrong.
    pub conflicting: bool,
}

/// Near duplicates of an image project for the insights screen: groups with conflicting
/// labels first, then larger groups first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DuplicatesView {
    pub threshold: f32,
    pub items_searched: usize,
    pub groups: Vec<DuplicateGroupView>,
}

/// Run the near-duplicate search (`ml::similarity`) on `set`'s project and join paths and
/// current labels (exact pairs on small projects, the HNSW index on large ones): the UI runs it on a
/// thread on request.
pub fn near_duplicates(
    store: &Store,
    set: &str,
    threshold: f32,
    ctx: &crate::jobs::JobCtx,
) -> anyhow::Result<DuplicatesView> {
    let report = crate::ml::similarity::near_duplicates(
        store,
        crate::ml::backbone::primary_embedding_id(store)?,
        threshold,
        ctx,
    )?;
    let labels: std::collections::HashMap<i64, String> =
        store.current_labels(set)?.into_iter().collect();
    // Every member's path through one prepared statement.
    let all: Vec<i64> = report.groups.iter().flat_map(|g| g.items.clone()).collect();
    let mut paths = store.source_paths(&all)?.into_iter();
    let mut groups = Vec::with_capacity(report.groups.len());
    for g in &report.groups {
        let members: Vec<DuplicateMember> = g
            .items
            .iter()
            .map(|&item_id| DuplicateMember {
                item_id,
                path: paths.next().flatten().unwrap_or_default(),
                label: labels.get(&item_id).cloned(),
            })
            .collect();
        groups.push(DuplicateGroupView {
            conflicting: g.conflicting(&labels),
            members,
            min_similarity: g.min_similarity,
            max_similarity: g.max_similarity,
        });
    }
    // Stable: within each class the search's order (larger groups first) is kept.
    groups.sort_by_key(|g| !g.conflicting);
    Ok(DuplicatesView {
        threshold,
        items_searched: report.items_searched,
        groups,
    })
}

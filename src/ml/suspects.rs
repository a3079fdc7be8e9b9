//! Suspect labels: the human labels that are probably wrong. Every labelled item gets class
//! probabilities from a model that never saw its label (k-fold cross-validation of the set's
//! out-of-fold family, `catalog::out_of_fold_family`: the image head with label spreading on
//! the cached embeddings, the field-type model from the base model), and confident learning
//! (`ml::confident`) ranks them. A run is recorded (`store::suspects`) for the review queue's
//! "Suspect labels" filter and Insights. `evaluate` injects known label noise into a labelled
//! project (in memory) and measures how many of the flips the finder puts first.

use std::collections::HashMap;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::confident::{self, Quality, Selection};
use super::train::{self, TrainConfig};
use super::{catalog, project, split};
use crate::jobs::JobCtx;
use crate::store::suspects::SuspectRow;
use crate::store::Store;

/// Folds of the cross-validation.
pub const DEFAULT_FOLDS: usize = 5;
/// Cross-validations averaged (more did not find more flips on emoji: BENCHMARKS.md).
pub const DEFAULT_REPEATS: usize = 1;
/// A class needs this many labels to be checked (and to check the others against): with
/// fewer, its threshold and its share of each fold are noise.
pub const MIN_PER_CLASS: usize = 10;

/// Weight of the neighbours' labels in the probabilities that are checked.
pub const NEIGHBOUR_WEIGHT: f64 = 0.5;

/// Options of a check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SuspectOptions {
    pub folds: usize,
    /// Cross-validations with different fold splits whose predictions are averaged (less
    /// variance in each item's out-of-fold estimate).
    pub repeats: usize,
    pub seed: u64,
}

impl Default for SuspectOptions {
    fn default() -> Self {
        SuspectOptions {
            folds: DEFAULT_FOLDS,
            repeats: DEFAULT_REPEATS,
            seed: 42,
        }
    }
}

/// Why there is nothing to rank.
#[derive(Debug, thiserror::Error)]
pub enum SuspectError {
    #[error(
        "checking labels needs at least {MIN_PER_CLASS} labels in each of 2 classes of {set:?}; \
         labels per class now: {counts}. Label more items first"
    )]
    TooFewLabels { set: String, counts: String },
    #[error("--folds must be at least 2 (got {0})")]
    Folds(usize),
}

/// About how many items labelled `given` are really `truth` (the estimated noise matrix).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoisePair {
    pub given: String,
    pub truth: String,
    pub items: f64,
}

/// How many of an annotator's current answers were checked and found suspect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotatorQuality {
    pub annotator: String,
    pub labels: usize,
    pub suspect: usize,
    pub share: f64,
}

/// What a check found, as recorded with its run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Summary {
    pub label_set: String,
    /// `models.kind` of the family whose out-of-fold predictions were used.
    pub model_kind: String,
    pub folds: usize,
    /// Labelled items checked.
    pub checked: usize,
    /// Classes checked.
    pub classes: Vec<String>,
    /// Classes left out (too few labels), with their label counts.
    pub left_out: LeftOut,
    /// Labels found suspect.
    pub suspects: usize,
    /// Estimated mislabelled items in all (the off-diagonal of the noise matrix).
    pub estimated_wrong: f64,
    /// Largest first; pairs of at least half an item.
    pub noise: Vec<NoisePair>,
    /// Most suspect share first.
    pub annotators: Vec<AnnotatorQuality>,
    /// Out-of-fold accuracy against the given labels.
    pub oof_accuracy: f64,
    pub seconds: f64,
}

/// A check's result.
#[derive(Debug, Clone)]
pub struct Finding {
    pub summary: Summary,
    /// The suspects, most likely wrong first (their `decision_id` is 0 for labels not read
    /// from the store, as in `evaluate`).
    pub suspects: Vec<SuspectRow>,
    /// Every checked item, suspects first, then by label quality (the normalised margin of
    /// its label: `(p(given) - max p(other) + 1) / 2`).
    pub ranking: Vec<i64>,
    /// Each checked item's out-of-fold probability of its label.
    pub scores: HashMap<i64, f64>,
    /// The run it was recorded as (None: not recorded).
    pub run_id: Option<i64>,
}

/// Out-of-fold probabilities of `items` with class indices `targets` into `classes`: k
/// models, each trained on the other folds, predict their fold. Returns the probabilities
/// and the family's kind.
pub fn out_of_fold(
    store: &mut Store,
    set: &str,
    items: &[i64],
    targets: &[usize],
    classes: &[String],
    opts: &SuspectOptions,
    ctx: &JobCtx,
) -> anyhow::Result<(Vec<Vec<f32>>, &'static str)> {
    if opts.folds < 2 {
        return Err(SuspectError::Folds(opts.folds).into());
    }
    let info = catalog::out_of_fold_family(store, set)?;
    if info.needs_embeddings {
        project::embed_missing(store, &ctx.step("embed"))?;
    }
    let family = info.build(store)?;
    let store: &Store = store;
    let repeats = opts.repeats.max(1);
    let run = || -> anyhow::Result<Vec<Vec<f32>>> {
        let mut probs = vec![vec![0f32; classes.len()]; items.len()];
        ctx.set_total((opts.folds * repeats) as u64);
        ctx.set_done(0);
        for rep in 0..repeats {
            let seed = opts.seed.wrapping_add(rep as u64 * 7919);
            let folds = split::stratified_folds(targets, opts.folds, seed);
            for f in 0..opts.folds {
                ctx.check()?;
                ctx.set_message(format!(
                    "split {}/{repeats}, fold {}/{}",
                    rep + 1,
                    f + 1,
                    opts.folds
                ));
                let (train_idx, hold): (Vec<usize>, Vec<usize>) =
                    (0..items.len()).partition(|&i| folds[i] != f);
                if hold.is_empty() {
                    continue;
                }
                tch::manual_seed(seed as i64 + f as i64);
                let task = family.prepare_unseen(store, items, classes)?;
                let cfg = TrainConfig {
                    seed,
                    ..Default::default()
                }
                .for_family(family.default_batch_size(train_idx.len()));
                let step = ctx.step("fold");
                train::solve_or_fit(task.as_ref(), targets, &train_idx, &cfg, &step, |_, _| {})?;
                let p = train::predict_proba(task.as_ref(), &hold, 256)?;
                for (&i, row) in hold.iter().zip(p) {
                    for (acc, v) in probs[i].iter_mut().zip(row) {
                        *acc += v / repeats as f32;
                    }
                }
                ctx.inc(1);
            }
        }
        Ok(probs)
    };
    let mut probs = if info.single_thread_cpu {
        project::single_thread_on_cpu(super::device::best_device(), run)?
    } else {
        run()?
    };
    // What the item's nearest neighbours are labelled (never its own label): a second
    // opinion that a linear model on the same features does not give (measured on emoji and
    // digits with injected noise: BENCHMARKS.md, "Suspect labels").
    if let Some(g) = family.neighbour_graph(store)? {
        let labels: HashMap<i64, usize> =
            items.iter().copied().zip(targets.iter().copied()).collect();
        let votes = g.neighbour_votes(&labels, classes.len());
        for (p, id) in probs.iter_mut().zip(items) {
            if let Some(v) = votes.get(id) {
                *p = super::propagation::blend(p, v, NEIGHBOUR_WEIGHT);
            }
        }
    }
    Ok((probs, info.kind.as_str()))
}

/// Classes left out of a check, with their label counts.
pub type LeftOut = Vec<(String, usize)>;

/// The classes of `set` with at least [`MIN_PER_CLASS`] of `labelled`, in the set's order,
/// and those left out with their counts; an error when fewer than 2 classes can be checked.
fn checked_classes(
    store: &Store,
    set: &str,
    labelled: &[(i64, String)],
) -> anyhow::Result<(Vec<String>, LeftOut)> {
    let names: Vec<String> = store.labels(set)?.into_iter().map(|l| l.name).collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (_, l) in labelled {
        *counts.entry(l.as_str()).or_default() += 1;
    }
    let classes: Vec<String> = names
        .iter()
        .filter(|n| counts.get(n.as_str()).copied().unwrap_or(0) >= MIN_PER_CLASS)
        .cloned()
        .collect();
    let left_out: Vec<(String, usize)> = names
        .iter()
        .filter_map(|n| {
            let c = counts.get(n.as_str()).copied().unwrap_or(0);
            (c > 0 && c < MIN_PER_CLASS).then(|| (n.clone(), c))
        })
        .collect();
    if classes.len() < 2 {
        let mut shown: Vec<String> = names
            .iter()
            .map(|n| format!("{n} {}", counts.get(n.as_str()).copied().unwrap_or(0)))
            .collect();
        if shown.is_empty() {
            shown.push("none".into());
        }
        return Err(SuspectError::TooFewLabels {
            set: set.to_string(),
            counts: shown.join(", "),
        }
        .into());
    }
    Ok((classes, left_out))
}

/// Rank `labelled` (item, label) of `set`: the core of [`find`] and [`evaluate`].
pub fn find_in(
    store: &mut Store,
    set: &str,
    labelled: &[(i64, String)],
    opts: &SuspectOptions,
    ctx: &JobCtx,
) -> anyhow::Result<Finding> {
    let t0 = Instant::now();
    let (classes, left_out) = checked_classes(store, set, labelled)?;
    let index: HashMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let (items, targets): (Vec<i64>, Vec<usize>) = labelled
        .iter()
        .filter_map(|(id, l)| index.get(l.as_str()).map(|&t| (*id, t)))
        .unzip();
    let (probs, kind) = out_of_fold(store, set, &items, &targets, &classes, opts, ctx)?;
    let found = confident::find(
        &probs,
        &targets,
        classes.len(),
        Quality::default(),
        Selection::default(),
    );
    let suspects: Vec<SuspectRow> = found
        .issues
        .iter()
        .enumerate()
        .map(|(r, &n)| {
            let p = &probs[n];
            let g = targets[n];
            let s = (0..classes.len())
                .filter(|&j| j != g)
                .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                .unwrap_or(g);
            SuspectRow {
                item_id: items[n],
                rank: r as i64 + 1,
                given: classes[g].clone(),
                suggested: classes[s].clone(),
                score: p[g] as f64,
                suggested_score: p[s] as f64,
                decision_id: 0,
            }
        })
        .collect();
    let mut noise = Vec::new();
    let mut estimated_wrong = 0.0;
    for (i, row) in found.joint.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            if i != j {
                estimated_wrong += v;
                if v >= 0.5 {
                    noise.push(NoisePair {
                        given: classes[i].clone(),
                        truth: classes[j].clone(),
                        items: v,
                    });
                }
            }
        }
    }
    noise.sort_by(|a, b| b.items.total_cmp(&a.items));
    let correct = probs
        .iter()
        .zip(&targets)
        .filter(|(p, &t)| train::argmax(p) == t)
        .count();
    Ok(Finding {
        summary: Summary {
            label_set: set.to_string(),
            model_kind: kind.to_string(),
            folds: opts.folds,
            checked: items.len(),
            classes,
            left_out,
            suspects: suspects.len(),
            estimated_wrong,
            noise,
            annotators: Vec::new(),
            oof_accuracy: correct as f64 / items.len().max(1) as f64,
            seconds: t0.elapsed().as_secs_f64(),
        },
        suspects,
        ranking: found.ranking.iter().map(|&n| items[n]).collect(),
        scores: items
            .iter()
            .zip(probs.iter().zip(&targets))
            .map(|(&id, (p, &t))| (id, p[t] as f64))
            .collect(),
        run_id: None,
    })
}

/// Check the current labels of `set`, attribute them to their annotators and record the run.
pub fn find(
    store: &mut Store,
    set: &str,
    opts: &SuspectOptions,
    ctx: &JobCtx,
) -> anyhow::Result<Finding> {
    let origins = store.label_origins(set)?;
    let labelled: Vec<(i64, String)> = origins
        .iter()
        .map(|o| (o.item_id, o.label.clone()))
        .collect();
    let mut f = find_in(store, set, &labelled, opts, ctx)?;
    let decision_of: HashMap<i64, i64> =
        origins.iter().map(|o| (o.item_id, o.decision_id)).collect();
    let label_of: HashMap<i64, String> = origins
        .iter()
        .map(|o| (o.item_id, o.label.clone()))
        .collect();
    add_duplicate_conflicts(store, set, &label_of, &mut f, ctx)?;
    for s in &mut f.suspects {
        s.decision_id = decision_of.get(&s.item_id).copied().unwrap_or(0);
    }
    // Who gave each checked label: every annotator whose current answer it is (overlap
    // items have several), else the author of the deciding decision (e.g. a review).
    let checked: std::collections::HashSet<i64> = f.ranking.iter().copied().collect();
    let suspect: std::collections::HashSet<i64> = f.suspects.iter().map(|s| s.item_id).collect();
    let mut by_item: HashMap<i64, Vec<String>> = HashMap::new();
    for a in store.annotations(set)? {
        if a.label.as_ref() == label_of.get(&a.item_id) {
            by_item.entry(a.item_id).or_default().push(a.annotator);
        }
    }
    let mut per: HashMap<String, (usize, usize)> = HashMap::new();
    for o in origins.iter().filter(|o| checked.contains(&o.item_id)) {
        let who = by_item
            .remove(&o.item_id)
            .unwrap_or_else(|| vec![o.annotator.clone()]);
        for w in who {
            let e = per.entry(w).or_default();
            e.0 += 1;
            e.1 += usize::from(suspect.contains(&o.item_id));
        }
    }
    let mut annotators: Vec<AnnotatorQuality> = per
        .into_iter()
        .map(|(annotator, (labels, suspect))| AnnotatorQuality {
            annotator,
            labels,
            suspect,
            share: suspect as f64 / labels.max(1) as f64,
        })
        .collect();
    annotators.sort_by(|a, b| {
        b.share
            .total_cmp(&a.share)
            .then_with(|| a.annotator.cmp(&b.annotator))
    });
    f.summary.annotators = annotators;
    let params = serde_json::to_value(opts)?;
    let summary = serde_json::to_value(&f.summary)?;
    f.run_id = Some(store.save_suspect_run(set, &params, &summary, &f.suspects)?);
    Ok(f)
}

/// Image projects: near-duplicate groups whose members carry different labels feed the same
/// list. Each member whose label is not the group's most common one (every member, on a tie)
/// becomes a suspect after the confident-learning ones, suggested the group's most common
/// other label. The search is the near-duplicate one (exact for small projects, the HNSW
/// index above [`super::similarity::EXACT_MAX_ITEMS`]).
fn add_duplicate_conflicts(
    store: &Store,
    set: &str,
    labels: &HashMap<i64, String>,
    f: &mut Finding,
    ctx: &JobCtx,
) -> anyhow::Result<()> {
    if store.project()?.kind != crate::domain::TaskKind::Image || set != crate::domain::sets::CLASS
    {
        return Ok(());
    }
    let backbone = super::backbone::primary_embedding_id(store)?;
    ctx.set_message("near duplicates with conflicting labels");
    let report = super::similarity::near_duplicates(
        store,
        backbone,
        super::similarity::DEFAULT_THRESHOLD,
        &ctx.step("near duplicates"),
    )?;
    let mut listed: std::collections::HashSet<i64> = f.suspects.iter().map(|s| s.item_id).collect();
    for g in report.groups.iter().filter(|g| g.conflicting(labels)) {
        let mut count: Vec<(String, usize)> = Vec::new();
        for l in g.items.iter().filter_map(|i| labels.get(i)) {
            match count.iter_mut().find(|(n, _)| n == l) {
                Some(e) => e.1 += 1,
                None => count.push((l.clone(), 1)),
            }
        }
        count.sort_by_key(|c| std::cmp::Reverse(c.1));
        let top = count[0].1;
        let tie = count.iter().filter(|c| c.1 == top).count() > 1;
        let labelled = count.iter().map(|c| c.1).sum::<usize>();
        for &item in &g.items {
            let Some(given) = labels.get(&item) else {
                continue;
            };
            if (!tie && *given == count[0].0) || !f.scores.contains_key(&item) {
                continue;
            }
            let Some((other, n)) = count.iter().find(|c| c.0 != *given) else {
                continue;
            };
            if listed.insert(item) {
                f.suspects.push(SuspectRow {
                    item_id: item,
                    rank: f.suspects.len() as i64 + 1,
                    given: given.clone(),
                    suggested: other.clone(),
                    score: f.scores[&item],
                    suggested_score: *n as f64 / labelled as f64,
                    decision_id: 0,
                });
            }
        }
    }
    f.summary.suspects = f.suspects.len();
    Ok(())
}

/// The newest recorded check of `set`: its summary and its suspects still open (not
/// reviewed, corrected or undone since).
pub fn latest(store: &Store, set: &str) -> anyhow::Result<Option<(Summary, Vec<SuspectRow>)>> {
    let Some(run) = store.latest_suspect_run(set)? else {
        return Ok(None);
    };
    let summary: Summary = serde_json::from_value(run.summary).unwrap_or_default();
    Ok(Some((summary, store.suspects_of_run(run.id, true)?)))
}

/// How well the finder finds known flips.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub label_set: String,
    pub items: usize,
    /// Labels flipped (k of precision@k).
    pub flipped: usize,
    pub precision_at_k: f64,
    pub recall_at_k: f64,
    /// Of the labels flagged as suspect, the share that was flipped, and the share of the
    /// flips flagged.
    pub flagged: usize,
    pub flagged_precision: f64,
    pub flagged_recall: f64,
    pub seconds: f64,
    pub noise: f64,
    pub seed: u64,
}

/// Labels with known noise: `truth` with `share` of them flipped (seeded), half to the class
/// most confused with the true one (`confusable[truth]`), half uniformly to another class.
pub fn inject_noise(
    truth: &[(i64, usize)],
    classes: usize,
    confusable: &[usize],
    share: f64,
    seed: u64,
) -> Vec<(i64, usize)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n_flip = ((truth.len() as f64 * share).round() as usize).min(truth.len());
    let mut order: Vec<usize> = (0..truth.len()).collect();
    order.shuffle(&mut rng);
    let mut out = truth.to_vec();
    for (j, &i) in order.iter().take(n_flip).enumerate() {
        let t = truth[i].1;
        out[i].1 = if j < n_flip / 2 && confusable[t] != t {
            confusable[t]
        } else {
            let c = rng.random_range(0..classes - 1);
            if c < t {
                c
            } else {
                c + 1
            }
        };
    }
    out
}

/// An evaluation, the noisy labels it checked (item, label) and the classes checked.
pub type Evaluated = (Evaluation, Vec<(i64, String)>, Vec<String>);

/// Treat the project's current labels of `set` as the truth, flip `share` of them (in
/// memory: nothing is written), run the finder on the noisy labels and count the flips among
/// its first k (k = the number of flips). The confusable class of each class comes from a
/// clean out-of-fold pass. Returns the evaluation and the noisy labels (for a reference run
/// on the same data).
pub fn evaluate(
    store: &mut Store,
    set: &str,
    share: f64,
    opts: &SuspectOptions,
    ctx: &JobCtx,
) -> anyhow::Result<Evaluated> {
    let t0 = Instant::now();
    let truth_labels = store.current_labels(set)?;
    let (classes, _) = checked_classes(store, set, &truth_labels)?;
    let index: HashMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let truth: Vec<(i64, usize)> = truth_labels
        .iter()
        .filter_map(|(id, l)| index.get(l.as_str()).map(|&t| (*id, t)))
        .collect();
    // The confusable class of c: the other class a clean out-of-fold pass puts most of c's
    // probability mass in.
    ctx.set_message("clean pass (for the confusable classes)");
    let (probs, _) = {
        let items: Vec<i64> = truth.iter().map(|t| t.0).collect();
        let targets: Vec<usize> = truth.iter().map(|t| t.1).collect();
        out_of_fold(
            store,
            set,
            &items,
            &targets,
            &classes,
            opts,
            &ctx.step("clean"),
        )?
    };
    let k = classes.len();
    let mut mass = vec![vec![0.0f64; k]; k];
    for (p, (_, t)) in probs.iter().zip(&truth) {
        for j in 0..k {
            mass[*t][j] += p[j] as f64;
        }
    }
    let confusable: Vec<usize> = (0..k)
        .map(|c| {
            (0..k)
                .filter(|&j| j != c)
                .max_by(|&a, &b| mass[c][a].total_cmp(&mass[c][b]))
                .unwrap_or(c)
        })
        .collect();
    let noisy = inject_noise(&truth, k, &confusable, share, opts.seed);
    let wrong: HashMap<i64, bool> = truth
        .iter()
        .zip(&noisy)
        .map(|(t, n)| (t.0, t.1 != n.1))
        .collect();
    let noisy_labels: Vec<(i64, String)> = noisy
        .iter()
        .map(|(id, c)| (*id, classes[*c].clone()))
        .collect();
    ctx.set_message("noisy pass");
    let f = find_in(store, set, &noisy_labels, opts, ctx)?;
    let flipped = wrong.values().filter(|&&w| w).count();
    let hits_at = |n: usize| {
        f.ranking
            .iter()
            .take(n)
            .filter(|id| wrong.get(id).copied().unwrap_or(false))
            .count()
    };
    let hits = hits_at(flipped);
    let flagged = f.suspects.len();
    let flagged_hits = hits_at(flagged);
    Ok((
        Evaluation {
            label_set: set.to_string(),
            items: truth.len(),
            flipped,
            precision_at_k: hits as f64 / flipped.max(1) as f64,
            recall_at_k: hits as f64 / flipped.max(1) as f64,
            flagged,
            flagged_precision: flagged_hits as f64 / flagged.max(1) as f64,
            flagged_recall: flagged_hits as f64 / flipped.max(1) as f64,
            seconds: t0.elapsed().as_secs_f64(),
            noise: share,
            seed: opts.seed,
        },
        noisy_labels,
        classes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_noise_flips_the_share_half_to_the_confusable_class() {
        let truth: Vec<(i64, usize)> = (0..400).map(|i| (i as i64, (i % 4) as usize)).collect();
        let confusable = [1, 0, 3, 2];
        let noisy = inject_noise(&truth, 4, &confusable, 0.05, 7);
        let flipped: Vec<usize> = (0..400).filter(|&i| noisy[i].1 != truth[i].1).collect();
        assert_eq!(flipped.len(), 20);
        let to_confusable = flipped
            .iter()
            .filter(|&&i| noisy[i].1 == confusable[truth[i].1])
            .count();
        assert!(to_confusable >= 10, "{to_confusable}");
        assert_eq!(noisy, inject_noise(&truth, 4, &confusable, 0.05, 7));
    }
}

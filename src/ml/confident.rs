//! Confident learning (Northcutt, Jiang & Chuang, "Confident learning: estimating uncertainty
//! in dataset labels", JAIR 2021), as pure functions over out-of-fold probabilities: per-class
//! thresholds (the mean self-confidence of each given label), the confident joint of given and
//! likely true labels, calibrated to the label counts (the estimated noise matrix), pruning by
//! noise rate, and the per-item label-quality scores that order the result. No tch, no store:
//! `ml::suspects` feeds it and the unit tests check it on hand-made tables.

/// How items are ordered (lower score = more likely mislabelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quality {
    /// The probability of the given label.
    SelfConfidence,
    /// `p(given) - max p(other)`, mapped to [0, 1].
    #[default]
    NormalizedMargin,
}

/// The label-quality score of one item.
pub fn quality(probs: &[f32], given: usize, how: Quality) -> f64 {
    let p = probs[given] as f64;
    match how {
        Quality::SelfConfidence => p,
        Quality::NormalizedMargin => {
            let other = probs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != given)
                .map(|(_, &v)| v as f64)
                .fold(0.0, f64::max);
            (p - other + 1.0) / 2.0
        }
    }
}

/// Which items are flagged as label issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Selection {
    /// Prune by noise rate: for each given class `i` and other class `j`, the
    /// `round(joint[i][j])` items labelled `i` with the largest `p[j] - p[i]`.
    PruneByNoiseRate,
    /// As many items as the noise matrix estimates mislabelled (its off-diagonal, rounded),
    /// those of the lowest quality (cleanlab's `low_normalized_margin` with the margin).
    #[default]
    LowestQuality,
}

/// What confident learning found.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// Per class: the mean probability of that class over the items labelled with it.
    pub thresholds: Vec<f64>,
    /// `joint[given][truth]`: the calibrated confident joint, in items (rows sum to the number
    /// of items with that given label). Off the diagonal: the estimated mislabelled items.
    pub joint: Vec<Vec<f64>>,
    /// Indices of the items flagged as label issues, most likely mislabelled first.
    pub issues: Vec<usize>,
    /// Every item's index ordered by quality (the issues first, each part by score).
    pub ranking: Vec<usize>,
    /// Each item's quality score (index = item).
    pub scores: Vec<f64>,
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (j, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = j;
        }
    }
    best
}

/// Per class: mean `p[class]` over the items given that class (0 where none is given).
pub fn thresholds(probs: &[Vec<f32>], given: &[usize], classes: usize) -> Vec<f64> {
    let mut sum = vec![0.0f64; classes];
    let mut n = vec![0usize; classes];
    for (p, &g) in probs.iter().zip(given) {
        sum[g] += p[g] as f64;
        n[g] += 1;
    }
    sum.iter()
        .zip(&n)
        .map(|(s, &c)| if c == 0 { 0.0 } else { s / c as f64 })
        .collect()
}

/// The confident joint `C[given][truth]`: an item counts for the class with the largest
/// probability among those at or above their threshold (items confident of no class do not
/// count), each diagonal at least 1; then calibrated so that each row sums to its label
/// count and the whole to the number of items.
pub fn confident_joint(probs: &[Vec<f32>], given: &[usize], t: &[f64]) -> Vec<Vec<f64>> {
    let k = t.len();
    let mut c = vec![vec![0.0f64; k]; k];
    for (p, &g) in probs.iter().zip(given) {
        let mut best: Option<usize> = None;
        for j in 0..k {
            if p[j] as f64 >= t[j] - 1e-6 && best.is_none_or(|b| p[j] > p[b]) {
                best = Some(j);
            }
        }
        if let Some(j) = best {
            c[g][j] += 1.0;
        }
    }
    let mut counts = vec![0.0f64; k];
    for &g in given {
        counts[g] += 1.0;
    }
    for (i, row) in c.iter_mut().enumerate() {
        row[i] = row[i].max(1.0);
        let s: f64 = row.iter().sum();
        for v in row.iter_mut() {
            *v = *v / s * counts[i];
        }
    }
    c
}

/// Find label issues (selected by `select`, never an item whose most likely class is its
/// given label), ordered by `how`.
pub fn find(
    probs: &[Vec<f32>],
    given: &[usize],
    classes: usize,
    how: Quality,
    select: Selection,
) -> Found {
    let t = thresholds(probs, given, classes);
    let joint = confident_joint(probs, given, &t);
    let scores: Vec<f64> = probs
        .iter()
        .zip(given)
        .map(|(p, &g)| quality(p, g, how))
        .collect();
    let mut flagged = vec![false; probs.len()];
    match select {
        Selection::PruneByNoiseRate => prune_by_noise_rate(probs, given, &joint, &mut flagged),
        Selection::LowestQuality => {
            let estimated: f64 = joint
                .iter()
                .enumerate()
                .map(|(i, row)| row.iter().sum::<f64>() - row[i])
                .sum();
            let mut by_score: Vec<usize> = (0..probs.len()).collect();
            by_score.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
            for &n in by_score.iter().take(estimated.round() as usize) {
                flagged[n] = true;
            }
        }
    }
    for (n, p) in probs.iter().enumerate() {
        if argmax(p) == given[n] {
            flagged[n] = false;
        }
    }
    let mut ranking: Vec<usize> = (0..probs.len()).collect();
    ranking.sort_by(|&a, &b| {
        flagged[b]
            .cmp(&flagged[a])
            .then(scores[a].total_cmp(&scores[b]))
            .then(a.cmp(&b))
    });
    let issues = ranking
        .iter()
        .copied()
        .take_while(|&n| flagged[n])
        .collect();
    Found {
        thresholds: t,
        joint,
        issues,
        ranking,
        scores,
    }
}

/// For each given class `i` and other class `j`: flag the `round(joint[i][j])` items
/// labelled `i` with the largest `p[j] - p[i]`.
fn prune_by_noise_rate(
    probs: &[Vec<f32>],
    given: &[usize],
    joint: &[Vec<f64>],
    flagged: &mut [bool],
) {
    for (i, row) in joint.iter().enumerate() {
        let members: Vec<usize> = (0..probs.len()).filter(|&n| given[n] == i).collect();
        for (j, &est) in row.iter().enumerate() {
            let prune = est.round() as usize;
            if i == j || prune == 0 {
                continue;
            }
            let mut by_margin: Vec<(f32, usize)> = members
                .iter()
                .map(|&n| (probs[n][j] - probs[n][i], n))
                .collect();
            by_margin.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            for &(_, n) in by_margin.iter().take(prune) {
                flagged[n] = true;
            }
        }
    }
}

/// Precision and recall of the first `k` of `ranking` against the truly wrong items.
pub fn precision_recall_at(ranking: &[usize], wrong: &[bool], k: usize) -> (f64, f64) {
    let total = wrong.iter().filter(|&&w| w).count();
    let hit = ranking.iter().take(k).filter(|&&n| wrong[n]).count();
    (
        hit as f64 / k.max(1) as f64,
        hit as f64 / total.max(1) as f64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[f32]) -> Vec<f32> {
        v.to_vec()
    }

    /// Four items labelled 0 (the 4th looks like a clear 1), four labelled 1.
    fn four_and_four() -> (Vec<Vec<f32>>, [usize; 8]) {
        let probs = vec![
            p(&[0.9, 0.1]),
            p(&[0.8, 0.2]),
            p(&[0.85, 0.15]),
            p(&[0.05, 0.95]),
            p(&[0.1, 0.9]),
            p(&[0.2, 0.8]),
            p(&[0.15, 0.85]),
            p(&[0.3, 0.7]),
        ];
        (probs, [0, 0, 0, 0, 1, 1, 1, 1])
    }

    #[test]
    fn thresholds_are_mean_self_confidence() {
        let probs = vec![p(&[0.9, 0.1]), p(&[0.7, 0.3]), p(&[0.2, 0.8])];
        let t = thresholds(&probs, &[0, 0, 1], 2);
        assert!(
            (t[0] - 0.8).abs() < 1e-6 && (t[1] - 0.8).abs() < 1e-6,
            "{t:?}"
        );
    }

    #[test]
    fn a_confidently_other_item_is_the_issue_and_ranks_first() {
        // Four items labelled 0 (one of them looks like a clear 1), four labelled 1.
        let (probs, given) = four_and_four();
        let f = find(
            &probs,
            &given,
            2,
            Quality::SelfConfidence,
            Selection::PruneByNoiseRate,
        );
        // t0 = (0.9+0.8+0.85+0.05)/4 = 0.65; item 3's p1 = 0.95 >= t1 = 0.8125: C[0][1] = 1.
        assert!((f.thresholds[0] - 0.65).abs() < 1e-6);
        assert_eq!(f.joint[0][1], 1.0);
        assert_eq!(f.joint[1][0], 0.0);
        assert_eq!(f.issues, vec![3]);
        assert_eq!(f.ranking[0], 3);
        // Rows sum to the label counts.
        for row in &f.joint {
            assert!((row.iter().sum::<f64>() - 4.0).abs() < 1e-9);
        }
        let wrong = [false, false, false, true, false, false, false, false];
        assert_eq!(precision_recall_at(&f.ranking, &wrong, 1), (1.0, 1.0));
    }

    #[test]
    fn the_calibrated_joint_scales_rows_to_label_counts() {
        // Three labelled 0: two confident 0, one confident of nothing. Row 0 = [2, 0] scaled
        // to 3 items: [3, 0].
        let probs = vec![
            p(&[0.9, 0.1]),
            p(&[0.9, 0.1]),
            p(&[0.5, 0.5]),
            p(&[0.1, 0.9]),
        ];
        let given = [0, 0, 0, 1];
        let t = thresholds(&probs, &given, 2);
        let j = confident_joint(&probs, &given, &t);
        assert_eq!(j[0], vec![3.0, 0.0]);
        assert_eq!(j[1], vec![0.0, 1.0]);
    }

    #[test]
    fn an_item_predicted_as_its_label_is_never_flagged() {
        let probs = vec![p(&[0.55, 0.45]), p(&[0.9, 0.1]), p(&[0.1, 0.9])];
        let f = find(
            &probs,
            &[0, 0, 1],
            2,
            Quality::SelfConfidence,
            Selection::PruneByNoiseRate,
        );
        assert!(f.issues.is_empty());
        // Still ranked by score: the least sure first.
        assert_eq!(f.ranking, vec![0, 1, 2]);
        assert!(f.scores[0] < f.scores[1]);
    }

    #[test]
    fn lowest_quality_flags_as_many_as_the_noise_matrix_estimates() {
        // As above: the joint estimates one mislabelled item; the lowest margin is item 3.
        let (probs, given) = four_and_four();
        let f = find(
            &probs,
            &given,
            2,
            Quality::NormalizedMargin,
            Selection::LowestQuality,
        );
        assert_eq!(f.issues, vec![3]);
        // Then by margin: item 7 (0.7 vs 0.3) is the least sure of the rest.
        assert_eq!(&f.ranking[..2], &[3, 7]);
    }

    #[test]
    fn normalized_margin_maps_to_the_unit_interval() {
        assert!((quality(&[0.7, 0.2, 0.1], 0, Quality::NormalizedMargin) - 0.75).abs() < 1e-6);
        assert!((quality(&[0.7, 0.2, 0.1], 1, Quality::NormalizedMargin) - 0.25).abs() < 1e-6);
    }
}

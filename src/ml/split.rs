//! Stratified hold-out split with a fixed seed: every class keeps its share in both parts
//! (classes with a single example stay in training).

use rand::seq::SliceRandom;
use rand::SeedableRng;

/// Indices (train, holdout) of `labels` (class indices), holding out about `fraction` of each
/// class, shuffled with `seed`.
pub fn stratified_split(labels: &[usize], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let k = labels.iter().copied().max().map(|m| m + 1).unwrap_or(0);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l].push(i);
    }
    let (mut train, mut hold) = (Vec::new(), Vec::new());
    for mut idx in by_class {
        idx.shuffle(&mut rng);
        let n_hold = if idx.len() < 2 {
            0
        } else {
            ((idx.len() as f64 * fraction).round() as usize).clamp(1, idx.len() - 1)
        };
        hold.extend_from_slice(&idx[..n_hold]);
        train.extend_from_slice(&idx[n_hold..]);
    }
    train.shuffle(&mut rng);
    hold.sort_unstable();
    (train, hold)
}

/// The fold (0..k) of each of `labels` (class indices) for k-fold cross-validation: each
/// class is shuffled with `seed` and dealt round-robin, so every fold holds its share of
/// every class (a class with fewer than k examples is missing from some folds).
pub fn stratified_folds(labels: &[usize], k: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let classes = labels.iter().copied().max().map(|m| m + 1).unwrap_or(0);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l].push(i);
    }
    let mut fold = vec![0; labels.len()];
    let mut next = 0;
    for mut idx in by_class {
        idx.shuffle(&mut rng);
        for i in idx {
            fold[i] = next % k.max(1);
            next += 1;
        }
    }
    fold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_balanced_and_deterministic() {
        let labels: Vec<usize> = (0..103).map(|i| usize::from(i >= 60)).collect();
        let f = stratified_folds(&labels, 5, 3);
        assert_eq!(f, stratified_folds(&labels, 5, 3));
        for k in 0..5 {
            let n0 = (0..103).filter(|&i| f[i] == k && labels[i] == 0).count();
            let n1 = (0..103).filter(|&i| f[i] == k && labels[i] == 1).count();
            assert!(
                (12..=13).contains(&n0) && (8..=9).contains(&n1),
                "{k}: {n0} {n1}"
            );
        }
    }

    #[test]
    fn split_is_stratified_deterministic_and_disjoint() {
        let labels: Vec<usize> = (0..100)
            .map(|i| if i < 80 { 0 } else { 1 })
            .chain([2])
            .collect();
        let (tr, ho) = stratified_split(&labels, 0.2, 7);
        assert_eq!(tr.len() + ho.len(), labels.len());
        assert_eq!(ho.iter().filter(|&&i| labels[i] == 0).count(), 16);
        assert_eq!(ho.iter().filter(|&&i| labels[i] == 1).count(), 4);
        assert!(
            ho.iter().all(|&i| labels[i] != 2),
            "a singleton class stays in training"
        );
        assert_eq!(stratified_split(&labels, 0.2, 7), (tr.clone(), ho.clone()));
        let mut all: Vec<usize> = tr.into_iter().chain(ho).collect();
        all.sort_unstable();
        assert_eq!(all, (0..labels.len()).collect::<Vec<_>>());
    }
}

//! Calibrated confidence: temperature scaling fitted on the hold-out (Guo et al. 2017, "On
//! calibration of modern neural networks"), the expected calibration error (ECE, 15 equal-width
//! bins of the top-1 score, as in that paper), and the bulk-accept threshold: the lowest top-1
//! score above which the hold-out's items were right often enough (default 98 %). Pure
//! functions on probability rows; any family's probabilities can be calibrated, since
//! `softmax(z / T)` = `p^(1/T)` renormalised.

use serde::{Deserialize, Serialize};

/// Bins of the ECE.
pub const ECE_BINS: usize = 15;
/// Precision the bulk-accept threshold aims at on the hold-out.
pub const BULK_TARGET_PRECISION: f64 = 0.98;
/// Hold-out items below which no temperature is fitted (T stays 1) and no bulk threshold is
/// set: a dozen items would fit any temperature (seen on the demo: T 0.57 from 18 items made
/// 99 % suggestions of wrong labels).
pub const MIN_CALIBRATION_ITEMS: usize = 30;

/// What calibration found on a hold-out; recorded in the model's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Divides the logits (1 = unchanged).
    pub temperature: f64,
    /// ECE of the raw scores on the hold-out.
    pub ece_raw: f64,
    /// ECE after temperature scaling (what the app shows).
    pub ece: f64,
    /// Lowest calibrated top-1 score whose hold-out items above it were at least
    /// [`BULK_TARGET_PRECISION`] right (None: no such score).
    pub bulk_threshold: Option<f64>,
    /// Hold-out items the numbers come from.
    pub n: usize,
}

/// `probs` with temperature `t` applied (`p^(1/t)` renormalised).
pub fn apply_temperature(probs: &[f32], t: f64) -> Vec<f32> {
    if (t - 1.0).abs() < 1e-9 {
        return probs.to_vec();
    }
    let inv = 1.0 / t;
    let logp: Vec<f64> = probs
        .iter()
        .map(|&p| (p.max(1e-30) as f64).ln() * inv)
        .collect();
    let m = logp.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logp.iter().map(|l| (l - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| (v / s) as f32).collect()
}

fn nll(probs: &[Vec<f32>], truth: &[usize], t: f64) -> f64 {
    probs
        .iter()
        .zip(truth)
        .map(|(p, &y)| -(apply_temperature(p, t)[y].max(1e-12) as f64).ln())
        .sum::<f64>()
        / probs.len().max(1) as f64
}

/// The temperature minimising the hold-out's negative log-likelihood (golden-section search
/// over log T in [ln 0.05, ln 20]).
pub fn fit_temperature(probs: &[Vec<f32>], truth: &[usize]) -> f64 {
    if probs.len() < MIN_CALIBRATION_ITEMS {
        return 1.0;
    }
    let (mut a, mut b) = ((0.05f64).ln(), (20.0f64).ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let f = |x: f64| nll(probs, truth, x.exp());
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..60 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    ((a + b) / 2.0).exp()
}

fn top1(p: &[f32]) -> (usize, f64) {
    let i = super::train::argmax(p);
    (i, p.get(i).copied().unwrap_or(0.0) as f64)
}

/// Expected calibration error of (top-1 score, correct?) pairs.
pub fn ece_of(scored: &[(f64, bool)]) -> f64 {
    if scored.is_empty() {
        return 0.0;
    }
    let mut conf = [0f64; ECE_BINS];
    let mut acc = [0f64; ECE_BINS];
    let mut cnt = [0usize; ECE_BINS];
    for &(s, ok) in scored {
        let b = ((s * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        conf[b] += s;
        acc[b] += ok as u8 as f64;
        cnt[b] += 1;
    }
    let n = scored.len() as f64;
    (0..ECE_BINS)
        .filter(|&b| cnt[b] > 0)
        .map(|b| (acc[b] - conf[b]).abs() / n)
        .sum()
}

/// (top-1 score, right?) of probability rows against the true class indices.
fn scored(probs: &[Vec<f32>], truth: &[usize]) -> Vec<(f64, bool)> {
    probs
        .iter()
        .zip(truth)
        .map(|(p, &y)| {
            let (i, s) = top1(p);
            (s, i == y)
        })
        .collect()
}

/// ECE of probability rows against the true class indices.
pub fn ece(probs: &[Vec<f32>], truth: &[usize]) -> f64 {
    ece_of(&scored(probs, truth))
}

/// The lowest score `t` such that the items scoring at least `t` are right at least
/// `target` of the time (and at least 5 of them); None when no score gets there.
pub fn bulk_threshold(scored: &[(f64, bool)], target: f64) -> Option<f64> {
    let mut v = scored.to_vec();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut ok, mut best) = (0usize, None);
    for (k, &(s, right)) in v.iter().enumerate() {
        ok += right as usize;
        let n = k + 1;
        // Only at the end of a run of equal scores (a threshold takes all of them).
        if v.get(k + 1).is_some_and(|nx| nx.0 == s) {
            continue;
        }
        if n >= 5 && ok as f64 / n as f64 >= target {
            best = Some(s);
        }
    }
    best
}

/// Fit the temperature on the hold-out and measure what it gives.
pub fn calibrate(probs: &[Vec<f32>], truth: &[usize]) -> Calibration {
    let temperature = fit_temperature(probs, truth);
    let calibrated: Vec<Vec<f32>> = probs
        .iter()
        .map(|p| apply_temperature(p, temperature))
        .collect();
    let scored = scored(&calibrated, truth);
    Calibration {
        temperature,
        ece_raw: ece(probs, truth),
        ece: ece_of(&scored),
        bulk_threshold: (probs.len() >= MIN_CALIBRATION_ITEMS)
            .then(|| bulk_threshold(&scored, BULK_TARGET_PRECISION))
            .flatten(),
        n: probs.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_scaling_keeps_the_ranking_and_undoes_overconfidence() {
        // An over-confident model: says 0.99 but is right 70 % of the time.
        let mut probs = Vec::new();
        let mut truth = Vec::new();
        for i in 0..200 {
            probs.push(vec![0.99f32, 0.005, 0.005]);
            truth.push(if i % 10 < 7 { 0 } else { 1 });
        }
        let c = calibrate(&probs, &truth);
        assert!(c.temperature > 1.5, "{c:?}");
        assert!(c.ece < 0.02 && c.ece_raw > 0.25, "{c:?}");
        let p = apply_temperature(&probs[0], c.temperature);
        assert!((p[0] - 0.7).abs() < 0.02, "{p:?}");
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        // Too few items: no fit.
        assert_eq!(fit_temperature(&probs[..5], &truth[..5]), 1.0);
    }

    #[test]
    fn ece_is_zero_when_scores_match_the_accuracy_and_known_otherwise() {
        let mut s: Vec<(f64, bool)> = (0..10).map(|i| (0.8, i < 8)).collect();
        assert!(ece_of(&s).abs() < 1e-12);
        s = vec![(0.9, false), (0.9, false)];
        assert!((ece_of(&s) - 0.9).abs() < 1e-12);
    }

    #[test]
    fn bulk_threshold_is_the_lowest_score_that_keeps_precision() {
        // 0.941..0.99: 50 right; two wrong at 0.9 -> 50/52 < 0.98, and nothing below recovers.
        let mut s: Vec<(f64, bool)> = (0..50).map(|i| (0.99 - i as f64 * 0.001, true)).collect();
        s.extend([(0.90, false), (0.90, false)]);
        s.extend((0..10).map(|i| (0.5 - i as f64 * 0.01, i % 2 == 0)));
        let t = bulk_threshold(&s, 0.98).unwrap();
        assert!((t - (0.99 - 49.0 * 0.001)).abs() < 1e-9, "{t}");
        assert_eq!(bulk_threshold(&[(0.9, false); 10], 0.98), None);
    }
}

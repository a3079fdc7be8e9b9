//! Classification metrics: accuracy, macro-F1, per-class precision/recall/F1, confusion matrix.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Number of true examples of this class.
    pub support: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub n: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    /// confusion[true][predicted], indices into `labels`.
    pub confusion: Vec<Vec<usize>>,
    pub labels: Vec<String>,
    /// Temperature, ECE and bulk-accept threshold on the same hold-out (None: no hold-out,
    /// or metrics of an older model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<super::calibration::Calibration>,
}

impl Metrics {
    /// Metrics from true and predicted class indices into `labels`.
    pub fn compute(labels: &[String], truth: &[usize], pred: &[usize]) -> Metrics {
        assert_eq!(
            truth.len(),
            pred.len(),
            "truth and predictions differ in length"
        );
        let k = labels.len();
        let mut confusion = vec![vec![0usize; k]; k];
        for (&t, &p) in truth.iter().zip(pred) {
            if t < k && p < k {
                confusion[t][p] += 1;
            }
        }
        let n = truth.len();
        let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
        let mut per_class = Vec::with_capacity(k);
        let mut f1_sum = 0.0;
        let mut present = 0usize;
        for i in 0..k {
            let tp = confusion[i][i] as f64;
            let support: usize = confusion[i].iter().sum();
            let predicted: usize = (0..k).map(|j| confusion[j][i]).sum();
            let (precision, recall, f1) = precision_recall_f1(tp as usize, predicted, support);
            if support > 0 || predicted > 0 {
                f1_sum += f1;
                present += 1;
            }
            per_class.push(ClassMetrics {
                label: labels[i].clone(),
                precision,
                recall,
                f1,
                support,
            });
        }
        Metrics {
            n,
            accuracy: if n > 0 {
                correct as f64 / n as f64
            } else {
                0.0
            },
            macro_f1: if present > 0 {
                f1_sum / present as f64
            } else {
                0.0
            },
            per_class,
            confusion,
            labels: labels.to_vec(),
            calibration: None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("metrics serialize")
    }
}

/// Precision, recall and F1 from counts (0 where a denominator is 0).
pub fn precision_recall_f1(tp: usize, predicted: usize, truth: usize) -> (f64, f64, f64) {
    let ratio = |n: usize, d: usize| if d > 0 { n as f64 / d as f64 } else { 0.0 };
    let (precision, recall) = (ratio(tp, predicted), ratio(tp, truth));
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    (precision, recall, f1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_a_hand_computed_example() {
        let labels = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        // truth a a a b b c ; pred a a b b c c
        let m = Metrics::compute(&labels, &[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2]);
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-9);
        assert_eq!(
            m.confusion,
            vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
        );
        assert!((m.per_class[0].precision - 1.0).abs() < 1e-9);
        assert!((m.per_class[0].recall - 2.0 / 3.0).abs() < 1e-9);
        assert!((m.per_class[1].precision - 0.5).abs() < 1e-9);
        assert!((m.per_class[2].precision - 0.5).abs() < 1e-9);
        let f1a = 2.0 * (2.0 / 3.0) / (1.0 + 2.0 / 3.0);
        let f1b = 0.5;
        let f1c = 2.0 * 0.5 / 1.5;
        assert!((m.macro_f1 - (f1a + f1b + f1c) / 3.0).abs() < 1e-9);
    }
}

//! How field typing is measured and decided: the page-level F1 of the issue (per page, the
//! multiset of predicted types against the multiset of true types, `other` never counted),
//! per-type precision/recall, and the calibrated "other / untyped" outcome (a weight on the
//! `other` score and a threshold under which a field stays untyped, both picked on held-out
//! pages to maximise that F1), the WHATWG `autocomplete` evidence, and the fold of region
//! members into the `region` group for projects that only have the group. Pure functions.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::domain::FieldRecord;
use crate::taxonomy;

/// The calibrated untyped rule: `other`'s score is multiplied by `other_weight` (then the
/// scores are renormalised), and a field whose best typed score stays under `threshold` becomes
/// `other`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Untyped {
    pub other_weight: f32,
    pub threshold: f32,
}

impl Untyped {
    /// The plain argmax.
    pub const ARGMAX: Untyped = Untyped {
        other_weight: 1.0,
        threshold: 0.0,
    };

    /// The rule recorded in a model's spec (`untyped`), if any.
    pub fn from_spec(spec: &serde_json::Value) -> Option<Untyped> {
        serde_json::from_value(spec.get("untyped")?.clone()).ok()
    }
}

fn other_index(labels: &[String]) -> Option<usize> {
    labels.iter().position(|l| l == taxonomy::OTHER)
}

/// Apply the untyped rule to one score vector over `labels` (unchanged without an `other`).
pub fn apply_untyped(labels: &[String], p: &[f32], u: &Untyped) -> Vec<f32> {
    let mut p = p.to_vec();
    let Some(o) = other_index(labels).filter(|&o| o < p.len()) else {
        return p;
    };
    p[o] *= u.other_weight;
    normalise(&mut p);
    let (best, pb) = best_typed(&p, o);
    if best.is_some() && pb < u.threshold {
        // Untyped: `other` becomes the first suggestion, the typed ones keep their order.
        p[o] = p[o].max(pb + 0.05);
        normalise(&mut p);
    }
    p
}

fn best_typed(p: &[f32], other: usize) -> (Option<usize>, f32) {
    let mut best = (None, f32::MIN);
    for (i, &v) in p.iter().enumerate() {
        if i != other && v > best.1 {
            best = (Some(i), v);
        }
    }
    best
}

fn normalise(p: &mut [f32]) {
    let s: f32 = p.iter().sum();
    if s > 0.0 {
        p.iter_mut().for_each(|v| *v /= s);
    }
}

/// Share of the score moved onto the type an `autocomplete` token names.
pub const AUTOCOMPLETE_WEIGHT: f32 = 0.9;

/// The WHATWG `autocomplete` evidence: a token that names a type (`cc-number`,
/// `address-level2`...) moves [`AUTOCOMPLETE_WEIGHT`] of the score onto it, unless the model
/// already prefers that type or a finer one of the same family (a `new-password` the model
/// reads as the confirmation stays one).
pub fn apply_autocomplete(labels: &[String], p: &[f32], field: &FieldRecord) -> Vec<f32> {
    let mut p = p.to_vec();
    let Some(t) = field
        .autocomplete
        .as_deref()
        .and_then(taxonomy::autocomplete_type)
    else {
        return p;
    };
    let Some(ti) = labels.iter().position(|l| l == t) else {
        return p;
    };
    let top = crate::ml::train::argmax(&p);
    let top_label = labels.get(top).map(String::as_str).unwrap_or("");
    if top == ti || (t == "password" && top_label == "password_confirm") {
        return p;
    }
    p.iter_mut().for_each(|v| *v *= 1.0 - AUTOCOMPLETE_WEIGHT);
    p[ti] += AUTOCOMPLETE_WEIGHT;
    p
}

/// For a project that has a group label (`region`) but not its members (projects made before
/// the split): the members' scores are added to the group's, so its suggestions stay labels
/// the annotator has. `allowed` empty: unchanged.
pub fn fold_groups(labels: &[String], p: &[f32], allowed: &HashSet<String>) -> Vec<f32> {
    let mut p = p.to_vec();
    if allowed.is_empty() {
        return p;
    }
    for (i, l) in labels.iter().enumerate() {
        let Some(g) = taxonomy::group_of(l) else {
            continue;
        };
        if allowed.contains(l) || !allowed.contains(g) {
            continue;
        }
        if let Some(gi) = labels.iter().position(|x| x == g) {
            if i < p.len() && gi < p.len() {
                p[gi] += p[i];
                p[i] = 0.0;
            }
        }
    }
    p
}

/// Precision, recall and F1 of typed outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Matched (true positive) count.
    pub tp: usize,
    /// Typed predictions.
    pub predicted: usize,
    /// Typed truths.
    pub truth: usize,
}

impl Prf {
    pub fn from_counts(tp: usize, predicted: usize, truth: usize) -> Prf {
        let (precision, recall, f1) = super::metrics::precision_recall_f1(tp, predicted, truth);
        Prf {
            precision,
            recall,
            f1,
            tp,
            predicted,
            truth,
        }
    }
}

/// The page-level F1 of the issue: for each page the multiset of predicted types against the
/// multiset of its true types (`other` is not a type; matched = the multiset intersection),
/// summed over pages. `grouped`: a `region` on one side matches a member on the other.
pub fn page_multiset_prf<S: AsRef<str>>(pages: &[(Vec<S>, Vec<S>)], grouped: bool) -> Prf {
    let (mut tp, mut np, mut nt) = (0, 0, 0);
    for (truth, pred) in pages {
        let typed = |v: &[S]| -> Vec<String> {
            v.iter()
                .map(|s| s.as_ref().to_string())
                .filter(|s| s != taxonomy::OTHER)
                .collect()
        };
        let t = typed(truth);
        let mut p = typed(pred);
        nt += t.len();
        np += p.len();
        let mut t_left: Vec<String> = Vec::new();
        // Exact matches first, then (grouped) the group against a member.
        for x in t {
            if let Some(i) = p.iter().position(|y| *y == x) {
                p.swap_remove(i);
                tp += 1;
            } else {
                t_left.push(x);
            }
        }
        if grouped {
            for x in t_left {
                if let Some(i) = p.iter().position(|y| taxonomy::same_or_group(&x, y)) {
                    p.swap_remove(i);
                    tp += 1;
                }
            }
        }
    }
    Prf::from_counts(tp, np, nt)
}

/// Field-level precision and recall of one type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypePr {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    /// Fields of this type in the truth.
    pub support: usize,
    /// Fields predicted as this type.
    pub predicted: usize,
}

/// Per-type precision/recall over fields, types in `order` that occur in truth or prediction.
pub fn per_type<S: AsRef<str>>(order: &[String], truth: &[S], pred: &[S]) -> Vec<TypePr> {
    let mut tp: HashMap<&str, usize> = HashMap::new();
    let mut np: HashMap<&str, usize> = HashMap::new();
    let mut nt: HashMap<&str, usize> = HashMap::new();
    for (t, p) in truth.iter().zip(pred) {
        let (t, p) = (t.as_ref(), p.as_ref());
        *nt.entry(t).or_default() += 1;
        *np.entry(p).or_default() += 1;
        if t == p {
            *tp.entry(t).or_default() += 1;
        }
    }
    order
        .iter()
        .filter_map(|l| {
            let (s, n) = (
                *nt.get(l.as_str()).unwrap_or(&0),
                *np.get(l.as_str()).unwrap_or(&0),
            );
            if s + n == 0 {
                return None;
            }
            let t = *tp.get(l.as_str()).unwrap_or(&0) as f64;
            Some(TypePr {
                label: l.clone(),
                precision: if n > 0 { t / n as f64 } else { 0.0 },
                recall: if s > 0 { t / s as f64 } else { 0.0 },
                support: s,
                predicted: n,
            })
        })
        .collect()
}

/// Labelled fields with their model scores, grouped by page: what the measurements and the
/// calibration read.
pub struct Scored<'a> {
    pub labels: &'a [String],
    /// Per field: page key, true label, scores over `labels`.
    pub fields: Vec<(&'a str, &'a str, Vec<f32>)>,
}

impl Scored<'_> {
    /// The decided label of every field under `u`.
    pub fn decide(&self, u: &Untyped) -> Vec<&str> {
        self.fields
            .iter()
            .map(|(_, _, p)| {
                let q = apply_untyped(self.labels, p, u);
                self.labels[crate::ml::train::argmax(&q)].as_str()
            })
            .collect()
    }

    /// Truth and decisions as per-page multisets, pages in first-seen order.
    pub fn pages(&self, decided: &[&str]) -> Vec<(Vec<String>, Vec<String>)> {
        let mut order: Vec<&str> = Vec::new();
        let mut by: HashMap<&str, (Vec<String>, Vec<String>)> = HashMap::new();
        for ((page, truth, _), d) in self.fields.iter().zip(decided) {
            let e = by.entry(page).or_insert_with(|| {
                order.push(page);
                Default::default()
            });
            e.0.push(truth.to_string());
            e.1.push(d.to_string());
        }
        order
            .into_iter()
            .map(|p| by.remove(p).unwrap_or_default())
            .collect()
    }

    /// The page-level F1 under `u`.
    pub fn prf(&self, u: &Untyped, grouped: bool) -> Prf {
        page_multiset_prf(&self.pages(&self.decide(u)), grouped)
    }

    /// The untyped rule that maximises the page-level F1 here (grid over the weight and the
    /// threshold; ties keep the smaller change).
    pub fn calibrate(&self) -> (Untyped, Prf) {
        let mut best = (Untyped::ARGMAX, self.prf(&Untyped::ARGMAX, false));
        for w in [1.0f32, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0] {
            for k in 0..=18 {
                let u = Untyped {
                    other_weight: w,
                    threshold: k as f32 * 0.05,
                };
                let r = self.prf(&u, false);
                if r.f1 > best.1.f1 + 1e-9 {
                    best = (u, r);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn page_multisets_match_counts_and_ignore_other() {
        let pages = vec![
            (
                l(&["name", "email", "email", "other"]),
                l(&["name", "email", "phone", "other"]),
            ),
            (l(&["city", "phone"]), l(&["region", "phone", "search"])),
        ];
        let r = page_multiset_prf(&pages, false);
        assert_eq!((r.tp, r.predicted, r.truth), (3, 6, 5));
        let g = page_multiset_prf(&pages, true);
        assert_eq!(g.tp, 4);
        assert!((r.precision - 0.5).abs() < 1e-9 && (r.recall - 0.6).abs() < 1e-9);
    }

    #[test]
    fn untyped_rule_weight_and_threshold() {
        let labels = l(&["name", "email", "other"]);
        let p = [0.5, 0.1, 0.4];
        assert_eq!(apply_untyped(&labels, &p, &Untyped::ARGMAX), p.to_vec());
        let q = apply_untyped(
            &labels,
            &p,
            &Untyped {
                other_weight: 2.0,
                threshold: 0.0,
            },
        );
        assert_eq!(crate::ml::train::argmax(&q), 2);
        let q = apply_untyped(
            &labels,
            &p,
            &Untyped {
                other_weight: 1.0,
                threshold: 0.6,
            },
        );
        assert_eq!(crate::ml::train::argmax(&q), 2);
        assert!((q.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(q[0] > q[1], "typed suggestions keep their order");
    }

    #[test]
    fn autocomplete_and_group_fold() {
        let labels = l(&["name", "city", "region", "other"]);
        let f = FieldRecord {
            autocomplete: Some("shipping address-level2".into()),
            ..Default::default()
        };
        let q = apply_autocomplete(&labels, &[0.6, 0.1, 0.1, 0.2], &f);
        assert_eq!(crate::ml::train::argmax(&q), 1);
        let allowed: HashSet<String> = l(&["name", "region", "other"]).into_iter().collect();
        let q = fold_groups(&labels, &[0.2, 0.5, 0.1, 0.2], &allowed);
        assert_eq!(q, vec![0.2, 0.0, 0.6, 0.2]);
    }

    #[test]
    fn per_type_counts() {
        let order = l(&["name", "email", "other"]);
        let r = per_type(
            &order,
            &["name", "name", "email"],
            &["name", "email", "email"],
        );
        assert_eq!(r[0].recall, 0.5);
        assert_eq!(r[1].precision, 0.5);
        assert_eq!(r.len(), 2);
    }
}

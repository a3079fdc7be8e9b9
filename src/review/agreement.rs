//! Inter-annotator agreement and gold checks: raw (pairwise) agreement, Cohen's kappa per
//! annotator pair, Krippendorff's alpha (nominal) overall and per label, and each annotator's
//! accuracy on the gold items. Computed from every annotator's current answer per item
//! (`Store::annotations`), so it works the same on a team project and on a project file where
//! several names labelled.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::store::quality::Annotation;
use crate::store::Store;

/// Gold checks an annotator needs before their accuracy is judged.
pub const MIN_GOLD_CHECKS: usize = 5;

/// Cohen's kappa of two raters over the items both labelled: (p_o - p_e) / (1 - p_e), p_e from
/// each rater's own label frequencies. None when undefined (no items, or both raters always
/// gave one and the same label: p_e = 1).
pub fn cohen_kappa<S: AsRef<str>>(pairs: &[(S, S)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let mut fa: HashMap<&str, f64> = HashMap::new();
    let mut fb: HashMap<&str, f64> = HashMap::new();
    let mut agree = 0.0;
    for (a, b) in pairs {
        let (a, b) = (a.as_ref(), b.as_ref());
        *fa.entry(a).or_default() += 1.0;
        *fb.entry(b).or_default() += 1.0;
        if a == b {
            agree += 1.0;
        }
    }
    let po = agree / n;
    let pe: f64 = fa
        .iter()
        .map(|(k, ca)| ca / n * fb.get(k).copied().unwrap_or(0.0) / n)
        .sum();
    if (1.0 - pe).abs() < 1e-12 {
        return None;
    }
    Some((po - pe) / (1.0 - pe))
}

/// Krippendorff's alpha for nominal data. `units`: the values each unit (item) received, any
/// number of raters, missing values simply absent; units with fewer than two values are not
/// pairable and do not count. alpha = 1 - D_o / D_e from the coincidence matrix
/// (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"). None when there is
/// nothing to compare or no variation at all (D_e = 0).
pub fn krippendorff_alpha_nominal<S: AsRef<str>>(units: &[Vec<S>]) -> Option<f64> {
    // o[c][k]: coincidences of values c and k; each unit adds its ordered pairs / (m_u - 1).
    let mut o: HashMap<(&str, &str), f64> = HashMap::new();
    let mut nc: HashMap<&str, f64> = HashMap::new();
    for u in units {
        let m = u.len();
        if m < 2 {
            continue;
        }
        let w = 1.0 / (m as f64 - 1.0);
        for (i, a) in u.iter().enumerate() {
            for (j, b) in u.iter().enumerate() {
                if i != j {
                    *o.entry((a.as_ref(), b.as_ref())).or_default() += w;
                }
            }
            // Each value's row sum is m - 1 pairs × w = 1.
            *nc.entry(a.as_ref()).or_default() += 1.0;
        }
    }
    let n: f64 = nc.values().sum();
    if n < 2.0 {
        return None;
    }
    let disagree_o: f64 = o.iter().filter(|((c, k), _)| c != k).map(|(_, v)| v).sum();
    let total_sq: f64 = nc.values().map(|v| v * v).sum();
    // Sum over c != k of n_c n_k = n^2 - sum n_c^2.
    let disagree_e = (n * n - total_sq) / (n - 1.0);
    if disagree_e <= 1e-12 {
        return None;
    }
    Some(1.0 - disagree_o / disagree_e)
}

/// Mean share of agreeing pairs per pairable unit (percent agreement, several raters).
pub fn raw_agreement<S: AsRef<str>>(units: &[Vec<S>]) -> Option<f64> {
    let mut sum = 0.0;
    let mut k = 0usize;
    for u in units {
        let m = u.len();
        if m < 2 {
            continue;
        }
        let mut agree = 0usize;
        for i in 0..m {
            for j in i + 1..m {
                if u[i].as_ref() == u[j].as_ref() {
                    agree += 1;
                }
            }
        }
        sum += agree as f64 / (m * (m - 1) / 2) as f64;
        k += 1;
    }
    (k > 0).then(|| sum / k as f64)
}

/// What two annotators who each err at `error_rate` (uniformly to another of `k` balanced
/// labels) agree on: raw agreement (1-e)^2 + e^2/(k-1), and kappa against chance 1/k.
pub fn expected_with_error_rate(error_rate: f64, k: usize) -> (f64, f64) {
    let e = error_rate;
    let k = k.max(2) as f64;
    let po = (1.0 - e).powi(2) + e * e / (k - 1.0);
    let pe = 1.0 / k;
    (po, (po - pe) / (1.0 - pe))
}

/// Two annotators compared on the items both labelled.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PairAgreement {
    pub a: String,
    pub b: String,
    pub items: usize,
    pub raw: f64,
    pub kappa: Option<f64>,
}

/// Agreement on one label: alpha of "this label or not".
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabelAgreement {
    pub label: String,
    /// How many answers on pairable items gave this label.
    pub answers: usize,
    pub alpha: Option<f64>,
}

/// An annotator's gold checks.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GoldAccuracy {
    pub annotator: String,
    pub checked: usize,
    pub correct: usize,
    pub accuracy: Option<f64>,
    /// Under the project's threshold after at least `MIN_GOLD_CHECKS` checks.
    pub flagged: bool,
}

/// Everything `yuxuan agreement` and Insights show.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Default)]
pub struct AgreementReport {
    pub label_set: String,
    pub annotators: Vec<String>,
    /// Items with answers (labels) from at least two annotators.
    pub items_compared: usize,
    pub raw: Option<f64>,
    pub alpha: Option<f64>,
    pub pairs: Vec<PairAgreement>,
    pub labels: Vec<LabelAgreement>,
    pub gold: Vec<GoldAccuracy>,
    pub gold_threshold: f64,
    /// Items in the review queue's sense: two annotators disagree.
    pub disagreements: usize,
    /// Items someone flagged as "not sure".
    pub flagged_items: usize,
    /// Object images: each pair of annotators compared box by box on the images both
    /// answered.
    pub box_pairs: Vec<BoxPairAgreement>,
}

/// Two annotators' boxes on the object images both answered: boxes matched at IoU >= 0.5
/// (greedily, any label), how often the matched boxes carry the same label, how well they
/// overlap, and the boxes one drew that the other has not.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct BoxPairAgreement {
    pub a: String,
    pub b: String,
    pub images: usize,
    /// Box pairs matched at IoU >= 0.5.
    pub matched: usize,
    /// Share of the matched pairs with the same label.
    pub label_agreement: Option<f64>,
    /// Mean IoU of the matched pairs.
    pub mean_iou: Option<f64>,
    /// Boxes of `a` that `b` has no box for, and the other way round.
    pub only_a: usize,
    pub only_b: usize,
}

/// Compare annotators box by box: `boxes` are (image, annotator, label, box) of the images
/// each annotator answered; `answered` the (image, annotator) pairs that finished an image
/// (an image finished with no box counts as "nothing here").
pub fn box_pairs(
    boxes: &[(i64, String, String, crate::domain::BBox)],
    answered: &[(i64, String)],
) -> Vec<BoxPairAgreement> {
    use std::collections::BTreeMap;
    type Boxes = Vec<(String, crate::domain::BBox)>;
    let mut by_image: BTreeMap<i64, BTreeMap<String, Boxes>> = BTreeMap::new();
    for (item, who) in answered {
        by_image
            .entry(*item)
            .or_default()
            .entry(who.clone())
            .or_default();
    }
    for (item, who, label, b) in boxes {
        if let Some(m) = by_image.get_mut(item) {
            if let Some(v) = m.get_mut(who) {
                v.push((label.clone(), *b));
            }
        }
    }
    let mut pairs: BTreeMap<(String, String), (BoxPairAgreement, usize, f64)> = BTreeMap::new();
    for per in by_image.values() {
        let names: Vec<&String> = per.keys().collect();
        for i in 0..names.len() {
            for j in i + 1..names.len() {
                let (a, b) = (&per[names[i]], &per[names[j]]);
                let e = pairs
                    .entry((names[i].clone(), names[j].clone()))
                    .or_insert_with(|| {
                        (
                            BoxPairAgreement {
                                a: names[i].clone(),
                                b: names[j].clone(),
                                ..Default::default()
                            },
                            0,
                            0.0,
                        )
                    });
                e.0.images += 1;
                let ab: Vec<crate::domain::BBox> = a.iter().map(|x| x.1).collect();
                let bb: Vec<crate::domain::BBox> = b.iter().map(|x| x.1).collect();
                let m = crate::domain::match_boxes(&ab, &bb, 0.5);
                for (k, mj) in m.iter().enumerate() {
                    if let Some(j) = mj {
                        e.0.matched += 1;
                        e.1 += (a[k].0 == b[*j].0) as usize;
                        e.2 += ab[k].iou(&bb[*j]);
                    }
                }
                let matched = m.iter().flatten().count();
                e.0.only_a += a.len() - matched;
                e.0.only_b += b.len() - matched;
            }
        }
    }
    pairs
        .into_values()
        .map(|(mut p, same, iou)| {
            if p.matched > 0 {
                p.label_agreement = Some(same as f64 / p.matched as f64);
                p.mean_iou = Some(iou / p.matched as f64);
            }
            p
        })
        .collect()
}

impl AgreementReport {
    /// The kappa of a pair (in either order).
    pub fn kappa(&self, a: &str, b: &str) -> Option<f64> {
        self.pairs
            .iter()
            .find(|p| (p.a == a && p.b == b) || (p.a == b && p.b == a))
            .and_then(|p| p.kappa)
    }
    /// Annotators under the gold threshold.
    pub fn flagged(&self) -> impl Iterator<Item = &GoldAccuracy> {
        self.gold.iter().filter(|g| g.flagged)
    }
}

/// The report from answers and gold answers.
pub fn compute(
    label_set: &str,
    answers: &[Annotation],
    gold: &HashMap<i64, String>,
    gold_threshold: f64,
) -> AgreementReport {
    let mut by_item: BTreeMap<i64, Vec<(&str, &str)>> = BTreeMap::new();
    let mut flagged_items = BTreeSet::new();
    let mut names = BTreeSet::new();
    for a in answers {
        names.insert(a.annotator.clone());
        if a.flagged {
            flagged_items.insert(a.item_id);
        }
        if let Some(l) = &a.label {
            by_item
                .entry(a.item_id)
                .or_default()
                .push((a.annotator.as_str(), l.as_str()));
        }
    }
    let units: Vec<Vec<&str>> = by_item
        .values()
        .filter(|v| v.len() >= 2)
        .map(|v| v.iter().map(|(_, l)| *l).collect())
        .collect();
    let disagreements = units
        .iter()
        .filter(|u| u.iter().any(|l| *l != u[0]))
        .count();
    // Pairs.
    let mut pair_items: BTreeMap<(&str, &str), Vec<(&str, &str)>> = BTreeMap::new();
    for v in by_item.values() {
        for (i, (na, la)) in v.iter().enumerate() {
            for (nb, lb) in v.iter().skip(i + 1) {
                let (key, val) = if na <= nb {
                    ((*na, *nb), (*la, *lb))
                } else {
                    ((*nb, *na), (*lb, *la))
                };
                pair_items.entry(key).or_default().push(val);
            }
        }
    }
    let pairs = pair_items
        .into_iter()
        .map(|((a, b), v)| PairAgreement {
            a: a.to_string(),
            b: b.to_string(),
            items: v.len(),
            raw: v.iter().filter(|(x, y)| x == y).count() as f64 / v.len() as f64,
            kappa: cohen_kappa(&v),
        })
        .collect();
    // Per label: "this label or not".
    let mut labels: BTreeMap<&str, usize> = BTreeMap::new();
    for u in &units {
        for l in u {
            *labels.entry(l).or_default() += 1;
        }
    }
    let labels = labels
        .into_iter()
        .map(|(label, answers)| {
            let bin: Vec<Vec<bool>> = units
                .iter()
                .map(|u| u.iter().map(|l| *l == label).collect())
                .collect();
            let bin: Vec<Vec<&str>> = bin
                .iter()
                .map(|u| u.iter().map(|b| if *b { "1" } else { "0" }).collect())
                .collect();
            LabelAgreement {
                label: label.to_string(),
                answers,
                alpha: krippendorff_alpha_nominal(&bin),
            }
        })
        .collect();
    // Gold.
    let mut checks: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for a in answers {
        let (Some(l), Some(truth)) = (&a.label, gold.get(&a.item_id)) else {
            continue;
        };
        let e = checks.entry(a.annotator.as_str()).or_default();
        e.0 += 1;
        if l == truth {
            e.1 += 1;
        }
    }
    let gold = checks
        .into_iter()
        .map(|(name, (checked, correct))| {
            let accuracy = (checked > 0).then(|| correct as f64 / checked as f64);
            GoldAccuracy {
                annotator: name.to_string(),
                checked,
                correct,
                accuracy,
                flagged: checked >= MIN_GOLD_CHECKS && accuracy.is_some_and(|a| a < gold_threshold),
            }
        })
        .collect();
    AgreementReport {
        label_set: label_set.to_string(),
        annotators: names.into_iter().collect(),
        items_compared: units.len(),
        raw: raw_agreement(&units),
        alpha: krippendorff_alpha_nominal(&units),
        pairs,
        labels,
        gold,
        gold_threshold,
        disagreements,
        flagged_items: flagged_items.len(),
        box_pairs: Vec::new(),
    }
}

/// The report of a project's label set (a lead's view: it reads the gold answers).
pub fn of_project(store: &Store, set: &str) -> crate::store::Result<AgreementReport> {
    let answers = store.annotations(set)?;
    let gold: HashMap<i64, String> = store.gold(set)?.into_iter().collect();
    let mut r = compute(set, &answers, &gold, store.gold_threshold()?);
    if set == crate::domain::sets::OBJECT {
        let answered: Vec<(i64, String)> = answers
            .iter()
            .filter(|a| a.label.is_some())
            .map(|a| (a.item_id, a.annotator.clone()))
            .collect();
        r.box_pairs = box_pairs(&store.annotator_boxes(set)?, &answered);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64, tol: f64) {
        let a = a.expect("defined");
        assert!((a - b).abs() < tol, "{a} vs {b}");
    }

    #[test]
    fn boxes_are_compared_pair_by_pair_on_the_images_both_answered() {
        use crate::domain::BBox;
        let b = |x: f64| BBox::new(x, 0.0, 10.0, 10.0);
        let boxes = vec![
            (1, "ann".to_string(), "car".to_string(), b(0.0)),
            (1, "ann".to_string(), "person".to_string(), b(100.0)),
            (1, "bob".to_string(), "car".to_string(), b(1.0)), // IoU 9/11 with ann's car
            (1, "bob".to_string(), "car".to_string(), b(100.0)), // same place, other label
            (1, "bob".to_string(), "dog".to_string(), b(300.0)), // only bob
            (2, "ann".to_string(), "car".to_string(), b(0.0)), // bob did not answer image 2
        ];
        let answered = vec![
            (1, "ann".to_string()),
            (1, "bob".to_string()),
            (2, "ann".to_string()),
        ];
        let p = box_pairs(&boxes, &answered);
        assert_eq!(p.len(), 1);
        let p = &p[0];
        assert_eq!(
            (p.a.as_str(), p.b.as_str(), p.images, p.matched),
            ("ann", "bob", 1, 2)
        );
        assert_eq!(p.label_agreement, Some(0.5));
        close(p.mean_iou, (9.0 / 11.0 + 1.0) / 2.0, 1e-12);
        assert_eq!((p.only_a, p.only_b), (0, 1));
    }

    #[test]
    fn cohen_kappa_textbook() {
        // Cohen's kappa, the standard 2x2 example (Wikipedia): 50 proposals read by two
        // readers; 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no: p_o 0.7, p_e 0.5, kappa 0.4.
        let mut v = vec![];
        v.extend(std::iter::repeat_n(("yes", "yes"), 20));
        v.extend(std::iter::repeat_n(("yes", "no"), 5));
        v.extend(std::iter::repeat_n(("no", "yes"), 10));
        v.extend(std::iter::repeat_n(("no", "no"), 15));
        close(cohen_kappa(&v), 0.4, 1e-12);
        // Second example there: 45/15/25/15 → p_o 0.6, p_e 0.54, kappa 0.1304.
        let mut v = vec![];
        v.extend(std::iter::repeat_n(("yes", "yes"), 45));
        v.extend(std::iter::repeat_n(("yes", "no"), 15));
        v.extend(std::iter::repeat_n(("no", "yes"), 25));
        v.extend(std::iter::repeat_n(("no", "no"), 15));
        close(cohen_kappa(&v), 0.06 / 0.46, 1e-12);
        // Perfect agreement is 1; one label only is undefined.
        close(cohen_kappa(&[("a", "a"), ("b", "b")]), 1.0, 1e-12);
        assert_eq!(cohen_kappa(&[("a", "a"), ("a", "a")]), None);
    }

    #[test]
    fn krippendorff_alpha_textbook() {
        // Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the example with
        // 4 observers, 12 units and missing values: alpha nominal = 0.743.
        let rows: [[Option<&str>; 12]; 4] = {
            let p = |s: &'static str| -> [Option<&str>; 12] {
                let v: Vec<Option<&str>> = s
                    .split(' ')
                    .map(|x| if x == "." { None } else { Some(x) })
                    .collect();
                v.try_into().unwrap()
            };
            [
                p("1 2 3 3 2 1 4 1 2 . . ."),
                p("1 2 3 3 2 2 4 1 2 5 . 3"),
                p(". 3 3 3 2 3 4 2 2 5 1 ."),
                p("1 2 3 3 2 4 4 1 2 5 1 ."),
            ]
        };
        let units: Vec<Vec<&str>> = (0..12)
            .map(|u| rows.iter().filter_map(|r| r[u]).collect())
            .collect();
        close(krippendorff_alpha_nominal(&units), 0.743, 5e-4);
        // No disagreement at all: 1; no variation: undefined.
        close(
            krippendorff_alpha_nominal(&[vec!["a", "a"], vec!["b", "b"]]),
            1.0,
            1e-12,
        );
        assert_eq!(krippendorff_alpha_nominal(&[vec!["a", "a"]]), None);
    }

    #[test]
    fn two_raters_alpha_is_scotts_pi_small_sample_corrected() {
        // With two raters and no missing values, alpha = 1 - (n-1) D_o / sum n_c n_k: for the
        // 2x2 example above (20/5/10/15) n = 100 values, D_o = 30 (pairs 15 × 2), n_yes = 55,
        // n_no = 45: alpha = 1 - 99 × 30 / (2 × 55 × 45) = 0.4.
        let mut units = vec![];
        units.extend(std::iter::repeat_n(vec!["yes", "yes"], 20));
        units.extend(std::iter::repeat_n(vec!["yes", "no"], 5));
        units.extend(std::iter::repeat_n(vec!["no", "yes"], 10));
        units.extend(std::iter::repeat_n(vec!["no", "no"], 15));
        close(
            krippendorff_alpha_nominal(&units),
            1.0 - 99.0 * 30.0 / (2.0 * 55.0 * 45.0),
            1e-12,
        );
        close(raw_agreement(&units), 0.7, 1e-12);
    }

    #[test]
    fn report_pairs_labels_and_gold() {
        let ann = |id: i64, item: i64, who: &str, l: &str| Annotation {
            decision_id: id,
            item_id: item,
            annotator: who.into(),
            label: Some(l.into()),
            flagged: false,
        };
        let answers = vec![
            ann(1, 1, "ann", "cat"),
            ann(2, 1, "bob", "cat"),
            ann(3, 2, "ann", "dog"),
            ann(4, 2, "bob", "cat"),
            ann(5, 3, "ann", "dog"),
            ann(6, 3, "bob", "dog"),
            ann(7, 4, "ann", "cat"),
        ];
        let gold: HashMap<i64, String> = [(1, "cat".to_string()), (2, "dog".to_string())].into();
        let r = compute("class", &answers, &gold, 0.8);
        assert_eq!(r.items_compared, 3);
        assert_eq!(r.disagreements, 1);
        assert_eq!(r.pairs.len(), 1);
        assert_eq!(r.pairs[0].items, 3);
        // 2 of 3 agree; p_e from ann (1 cat, 2 dog) and bob (2 cat, 1 dog) = 4/9.
        close(
            r.kappa("bob", "ann"),
            (2.0 / 3.0 - 4.0 / 9.0) / (5.0 / 9.0),
            1e-12,
        );
        let bob = r.gold.iter().find(|g| g.annotator == "bob").unwrap();
        assert_eq!((bob.checked, bob.correct), (2, 1));
        assert!(!bob.flagged, "too few checks to judge");
        assert_eq!(r.labels.len(), 2);
    }
}

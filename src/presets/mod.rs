//! Industry presets: from the confirmed pages of an industry (page `industry` label and field
//! `field_type` labels set by humans), which field types appear, how often, in which order, with
//! the most common label text, placeholder, input type, required flag and options. A "new
//! requirement" (one line of text) is classified into an industry (industry model, else the
//! lexicon) and gets that industry's preset. Presets export as JSON ([`FORMAT`]) and as one
//! standalone mobile H5 page ([`html::render`]).

pub mod html;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::domain::{sets, FieldRecord};
use crate::ml::field_industry::{classify_requirement, IndustryGuess};
use crate::store::Store;
use crate::taxonomy;

/// The `format` of the JSON export.
pub const FORMAT: &str = "yuxuan-preset/1";
/// Field types in at least this share of an industry's pages are proposed (by default).
pub const DEFAULT_MIN_FREQUENCY: f64 = 0.3;

/// One proposed field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresetField {
    /// Field type (label name).
    pub field_type: String,
    /// Its display name in the project (e.g. "手机号 phone").
    pub display: String,
    /// Share of the industry's confirmed pages that ask for it (1.0 for seed presets).
    pub frequency: f64,
    /// Number of pages that ask for it.
    pub pages: usize,
    /// Mean relative position in the page (0 = first field, 1 = last).
    pub mean_position: f64,
    /// Most common label text.
    pub label: String,
    pub placeholder: Option<String>,
    /// `input`, `select`, `textarea`, `button`, `textbox`.
    pub tag: String,
    /// `type` of inputs and buttons.
    pub input_type: Option<String>,
    /// Whether most pages mark it required.
    pub required: bool,
    /// Most common option list (selects, radio groups).
    pub options: Vec<String>,
}

/// A proposed field list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preset {
    pub format: String,
    pub industry: String,
    pub industry_display: String,
    /// `confirmed-pages` (learned from the project) or `seed` (built-in default: no confirmed
    /// page of this industry yet).
    pub source: String,
    /// Confirmed pages of the industry it was learned from.
    pub n_pages: usize,
    /// The requirement text, when the preset answers one.
    pub requirement: Option<String>,
    /// How the requirement was classified.
    pub guess: Option<IndustryGuess>,
    pub fields: Vec<PresetField>,
}

impl Preset {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("preset serializes")
    }
}

#[derive(Default)]
struct Acc {
    pages: usize,
    pos_sum: f64,
    labels: HashMap<String, usize>,
    placeholders: HashMap<String, usize>,
    widgets: HashMap<(String, Option<String>), usize>,
    required: usize,
    options: HashMap<Vec<String>, usize>,
}

fn mode<K: Clone + Ord + std::hash::Hash>(m: &HashMap<K, usize>) -> Option<K> {
    // Most frequent; ties broken by the smallest key so the result is deterministic.
    m.iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(k, _)| k.clone())
}

fn display_names(store: &Store, set: &str) -> HashMap<String, String> {
    store
        .labels(set)
        .map(|ls| {
            ls.into_iter()
                .map(|l| (l.name.clone(), l.shown().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The typical widget of a field type (for seed presets).
fn default_widget(t: &str) -> (&'static str, Option<&'static str>, Vec<String>) {
    let opts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match t {
        "phone" => ("input", Some("tel"), vec![]),
        "email" => ("input", Some("email"), vec![]),
        "password" | "password_confirm" => ("input", Some("password"), vec![]),
        "gender" => ("input", Some("radio"), opts(&["男", "女"])),
        "birthday" | "datetime" => ("input", Some("date"), vec![]),
        // A combined 省市区 picker: a read-only input the page's picker fills.
        "region" => ("input", Some("text"), vec![]),
        "state" => (
            "select",
            None,
            opts(&["北京市", "上海市", "广东省", "浙江省", "其他"]),
        ),
        "city" => (
            "select",
            None,
            opts(&["北京", "上海", "广州", "深圳", "其他"]),
        ),
        "district" | "country" => ("select", None, vec![]),
        "card_number" => ("input", Some("tel"), vec![]),
        "card_cvc" => ("input", Some("password"), vec![]),
        "message" => ("textarea", None, vec![]),
        "agreement" => ("input", Some("checkbox"), vec![]),
        "submit" => ("button", Some("submit"), vec![]),
        _ => ("input", Some("text"), vec![]),
    }
}

/// The preset of `industry` learned from the project's confirmed pages (field types in at
/// least `min_frequency` of them), or the built-in seed when none is confirmed yet.
pub fn preset_for_industry(
    store: &Store,
    industry: &str,
    min_frequency: f64,
) -> anyhow::Result<Preset> {
    preset_leaving_out(store, industry, min_frequency, None)
}

/// [`preset_for_industry`] learned without the page `left_out` (leave-one-page-out).
pub fn preset_leaving_out(
    store: &Store,
    industry: &str,
    min_frequency: f64,
    left_out: Option<i64>,
) -> anyhow::Result<Preset> {
    anyhow::ensure!(
        store.has_label(sets::INDUSTRY, industry)? || taxonomy::industry(industry).is_some(),
        "unknown industry {industry:?}: pick one of {:?}",
        store
            .labels(sets::INDUSTRY)?
            .into_iter()
            .map(|l| l.name)
            .collect::<Vec<_>>()
    );
    let type_names = display_names(store, sets::FIELD_TYPE);
    let industry_display = display_names(store, sets::INDUSTRY)
        .get(industry)
        .cloned()
        .or_else(|| taxonomy::industry(industry).map(|d| format!("{} {}", d.zh, d.en)))
        .unwrap_or_else(|| industry.to_string());
    let pages: Vec<i64> = store
        .current_labels(sets::INDUSTRY)?
        .into_iter()
        .filter(|(i, l)| l == industry && Some(*i) != left_out)
        .map(|(i, _)| i)
        .collect();
    let mut acc: HashMap<String, Acc> = HashMap::new();
    let mut n_pages = 0;
    for &page in &pages {
        let fields = store.children(page)?;
        let labelled: Vec<(String, FieldRecord)> = fields
            .into_iter()
            .filter_map(|f| {
                let l = store.current_label(f.id, sets::FIELD_TYPE).ok().flatten()?;
                Some((l, serde_json::from_value(f.meta).unwrap_or_default()))
            })
            .collect();
        if labelled.is_empty() {
            continue;
        }
        n_pages += 1;
        let n = labelled.len();
        let mut seen = std::collections::HashSet::new();
        for (rank, (t, r)) in labelled.iter().enumerate() {
            if t == taxonomy::OTHER || !seen.insert(t.clone()) {
                continue;
            }
            let a = acc.entry(t.clone()).or_default();
            a.pages += 1;
            a.pos_sum += if n > 1 {
                rank as f64 / (n - 1) as f64
            } else {
                0.0
            };
            let is_button = r.tag == "button"
                || matches!(
                    r.input_type.as_deref(),
                    Some("submit" | "button" | "image" | "reset")
                );
            let label = if is_button {
                r.value.clone().or(r.label.clone()).or(r.aria_label.clone())
            } else {
                r.label
                    .clone()
                    .or(r.aria_label.clone())
                    .or(r.preceding_text.clone())
            };
            if let Some(l) = label
                .map(|l| l.trim_end_matches([':', '：', '*', ' ']).to_string())
                .filter(|l| !l.is_empty())
            {
                *a.labels.entry(l).or_default() += 1;
            }
            if let Some(p) = &r.placeholder {
                *a.placeholders.entry(p.clone()).or_default() += 1;
            }
            *a.widgets
                .entry((r.tag.clone(), r.input_type.clone()))
                .or_default() += 1;
            a.required += r.required as usize;
            if !r.options.is_empty() {
                *a.options.entry(r.options.clone()).or_default() += 1;
            }
        }
    }
    if n_pages == 0 {
        return Ok(seed_preset(industry, industry_display, &type_names));
    }
    let mut fields: Vec<PresetField> = acc
        .into_iter()
        .filter(|(_, a)| a.pages as f64 / n_pages as f64 + 1e-9 >= min_frequency)
        .map(|(t, a)| {
            let (tag, input_type) =
                mode(&a.widgets).unwrap_or(("input".into(), Some("text".into())));
            let display = type_names.get(&t).cloned().unwrap_or_else(|| t.clone());
            PresetField {
                label: mode(&a.labels).unwrap_or_else(|| display.clone()),
                display,
                frequency: a.pages as f64 / n_pages as f64,
                pages: a.pages,
                mean_position: a.pos_sum / a.pages as f64,
                placeholder: mode(&a.placeholders),
                tag,
                input_type,
                required: a.required * 2 > a.pages,
                options: mode(&a.options).unwrap_or_default(),
                field_type: t,
            }
        })
        .collect();
    fields.sort_by(|a, b| {
        a.mean_position
            .total_cmp(&b.mean_position)
            .then_with(|| a.field_type.cmp(&b.field_type))
    });
    Ok(Preset {
        format: FORMAT.into(),
        industry: industry.to_string(),
        industry_display,
        source: "confirmed-pages".into(),
        n_pages,
        requirement: None,
        guess: None,
        fields,
    })
}

fn seed_preset(
    industry: &str,
    industry_display: String,
    type_names: &HashMap<String, String>,
) -> Preset {
    let seed = taxonomy::industry(industry)
        .map(|d| d.seed_fields)
        .unwrap_or(&["name", "phone", "message", "submit"]);
    let n = seed.len().max(2) - 1;
    let fields = seed
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let def = taxonomy::field_type(t);
            let (tag, input_type, options) = default_widget(t);
            let display = type_names
                .get(*t)
                .cloned()
                .or(def.map(|d| format!("{} {}", d.zh, d.en)))
                .unwrap_or(t.to_string());
            let zh = def
                .map(|d| d.zh.to_string())
                .unwrap_or_else(|| t.to_string());
            PresetField {
                field_type: t.to_string(),
                display,
                frequency: 1.0,
                pages: 0,
                mean_position: i as f64 / n as f64,
                label: if *t == "submit" {
                    "提交".into()
                } else {
                    zh.clone()
                },
                placeholder: (tag == "input"
                    && matches!(input_type, Some("text" | "tel" | "email"))
                    || tag == "textarea")
                    .then(|| format!("请输入{zh}")),
                tag: tag.into(),
                input_type: input_type.map(str::to_string),
                required: matches!(*t, "name" | "phone" | "sms_code" | "agreement"),
                options,
            }
        })
        .collect();
    Preset {
        format: FORMAT.into(),
        industry: industry.to_string(),
        industry_display,
        source: "seed".into(),
        n_pages: 0,
        requirement: None,
        guess: None,
        fields,
    }
}

/// The preset for a one-line requirement: classify it into an industry, then propose that
/// industry's preset.
pub fn preset_for_requirement(
    store: &Store,
    requirement: &str,
    min_frequency: f64,
) -> anyhow::Result<Preset> {
    let guess = classify_requirement(store, requirement)?;
    let mut p = preset_for_industry(store, &guess.industry, min_frequency)?;
    p.requirement = Some(requirement.to_string());
    p.guess = Some(guess);
    Ok(p)
}

/// Precision and recall of proposed field types against a page's real ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PresetScore {
    /// Labelled pages measured.
    pub pages: usize,
    pub precision: f64,
    pub recall: f64,
    /// Proposed, real and matched field types, summed over the pages.
    pub proposed: usize,
    pub real: usize,
    pub matched: usize,
}

impl PresetScore {
    fn add(&mut self, proposed: &HashSet<String>, real: &HashSet<String>) {
        self.pages += 1;
        self.proposed += proposed.len();
        self.real += real.len();
        self.matched += proposed.intersection(real).count();
        self.precision = ratio(self.matched, self.proposed);
        self.recall = ratio(self.matched, self.real);
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// One industry's leave-one-page-out figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndustryScore {
    pub industry: String,
    pub display: String,
    /// The preset of the page's own industry.
    pub by_industry: PresetScore,
    /// The preset of the industry its title is classified into (as a requirement).
    pub by_title: PresetScore,
    /// Pages whose title was classified into their own industry.
    pub title_industry_correct: usize,
}

/// `yuxuan presets --evaluate`: every page with a human industry label and field-type labels
/// is left out in turn; the preset of its industry learned from the other pages (and the
/// preset its title gets as a one-line requirement, classified by the bilingual lexicon, which
/// never saw the page) is compared with the page's real field types (`other` not counted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresetEvaluation {
    pub min_frequency: f64,
    pub industries: Vec<IndustryScore>,
    pub overall: PresetScore,
    pub overall_by_title: PresetScore,
}

/// Target of the issue: recall at least this...
pub const TARGET_RECALL: f64 = 0.8;
/// ...at a precision of at least this.
pub const TARGET_PRECISION: f64 = 0.7;

impl PresetEvaluation {
    /// Whether every industry meets the targets (by its own industry's preset).
    pub fn meets_targets(&self) -> bool {
        !self.industries.is_empty()
            && self.industries.iter().all(|i| {
                i.by_industry.recall >= TARGET_RECALL && i.by_industry.precision >= TARGET_PRECISION
            })
    }

    /// A plain-text table (CLI).
    pub fn table(&self) -> String {
        let mut out = format!(
            "leave-one-page-out presets (min frequency {:.2}); target recall >= {TARGET_RECALL} at precision >= {TARGET_PRECISION}\n",
            self.min_frequency
        );
        out.push_str(
            "industry\tpages\tprecision\trecall\tby title: precision\trecall\ttitle -> industry\n",
        );
        let row = |name: &str, a: &PresetScore, b: &PresetScore, c: Option<usize>| {
            format!(
                "{name}\t{}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{}\n",
                a.pages,
                a.precision,
                a.recall,
                b.precision,
                b.recall,
                c.map(|c| format!("{c}/{}", a.pages)).unwrap_or_default()
            )
        };
        for i in &self.industries {
            out.push_str(&row(
                &i.industry,
                &i.by_industry,
                &i.by_title,
                Some(i.title_industry_correct),
            ));
        }
        out.push_str(&row("all", &self.overall, &self.overall_by_title, None));
        out
    }
}

fn real_types(store: &Store, page: i64) -> anyhow::Result<HashSet<String>> {
    let mut out = HashSet::new();
    for f in store.children(page)? {
        if let Some(l) = store.current_label(f.id, sets::FIELD_TYPE)? {
            if l != taxonomy::OTHER {
                out.insert(l);
            }
        }
    }
    Ok(out)
}

fn proposed_types(p: &Preset) -> HashSet<String> {
    p.fields.iter().map(|f| f.field_type.clone()).collect()
}

/// Leave one labelled page out at a time (see [`PresetEvaluation`]).
pub fn evaluate(store: &Store, min_frequency: f64) -> anyhow::Result<PresetEvaluation> {
    let display = display_names(store, sets::INDUSTRY);
    let mut by: std::collections::BTreeMap<String, IndustryScore> = Default::default();
    let mut overall = PresetScore::default();
    let mut overall_by_title = PresetScore::default();
    for (page, industry) in store.current_labels(sets::INDUSTRY)? {
        let real = real_types(store, page)?;
        if real.is_empty() {
            continue;
        }
        let own = proposed_types(&preset_leaving_out(
            store,
            &industry,
            min_frequency,
            Some(page),
        )?);
        let item = store.item(page)?;
        let title = item
            .as_ref()
            .and_then(|i| {
                i.meta
                    .get("title")
                    .and_then(|t| t.as_str())
                    .map(str::to_string)
            })
            .filter(|t| !t.trim().is_empty())
            .or_else(|| item.as_ref().map(|i| i.source_path.clone()))
            .unwrap_or_default();
        let guess = crate::ml::field_industry::classify_by_lexicon(&title);
        let guessed = if guess.industry.is_empty() {
            taxonomy::OTHER.to_string()
        } else {
            guess.industry.clone()
        };
        let by_title = proposed_types(&preset_leaving_out(
            store,
            &guessed,
            min_frequency,
            Some(page),
        )?);
        let e = by.entry(industry.clone()).or_insert_with(|| IndustryScore {
            display: display.get(&industry).cloned().unwrap_or(industry.clone()),
            industry: industry.clone(),
            by_industry: Default::default(),
            by_title: Default::default(),
            title_industry_correct: 0,
        });
        e.by_industry.add(&own, &real);
        e.by_title.add(&by_title, &real);
        e.title_industry_correct += (guessed == industry) as usize;
        overall.add(&own, &real);
        overall_by_title.add(&by_title, &real);
    }
    Ok(PresetEvaluation {
        min_frequency,
        industries: by.into_values().collect(),
        overall,
        overall_by_title,
    })
}

//! The page-industry model family (`industry` label set, kind `page-mlp`): a page's title,
//! headings and field captions as hashed n-grams plus lexicon counts into the [`BagNet`],
//! trained and run through the shared machinery. Also the classification of a one-line
//! requirement (e.g. 房产中介客户登记): by the active industry model when there is one, else by
//! the bilingual lexicon.

use std::cell::RefCell;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::family::{weights_path, ModelFamily};
use super::field_features::{featurize_page, page_dense_len, Featurized};
use super::field_model::{form_device, save_bag};
use super::field_net::{BagNet, BagTask, NetSpec};
use super::train::{self, TrainTask};
use crate::domain::{sets, FieldRecord, ModelInfo};
use crate::jobs::JobCtx;
use crate::store::Store;
use crate::taxonomy;

/// `models.kind` of industry models.
pub const KIND: &str = super::family::ModelKind::PageMlp.as_str();

/// The texts of a page the industry model reads: title, headings, field captions.
pub fn page_texts(store: &Store, page_id: i64) -> anyhow::Result<Vec<String>> {
    let page = store
        .item(page_id)?
        .ok_or_else(|| anyhow::anyhow!("no page {page_id}"))?;
    let mut texts = Vec::new();
    if let Some(t) = page.meta.get("title").and_then(|t| t.as_str()) {
        texts.push(t.to_string());
    }
    if let Some(hs) = page.meta.get("headings").and_then(|h| h.as_array()) {
        texts.extend(hs.iter().filter_map(|h| h.as_str()).map(str::to_string));
    }
    for f in store.children(page_id)?.into_iter().take(200) {
        let r: FieldRecord = serde_json::from_value(f.meta).unwrap_or_default();
        texts.push(r.caption());
    }
    Ok(texts)
}

/// The industry family.
#[derive(Default)]
pub struct IndustryFamily {
    cache: RefCell<Option<(std::path::PathBuf, std::rc::Rc<BagNet>)>>,
}

impl IndustryFamily {
    fn net(&self, store: &Store, model: &ModelInfo) -> anyhow::Result<std::rc::Rc<BagNet>> {
        let path = weights_path(store, model)
            .ok_or_else(|| anyhow::anyhow!("model {} has no weights", model.id))?;
        let mut g = self.cache.borrow_mut();
        if let Some((p, n)) = g.as_ref() {
            if *p == path {
                return Ok(n.clone());
            }
        }
        let net = std::rc::Rc::new(BagNet::load(
            NetSpec::from_json(&model.spec)?,
            &path,
            form_device(),
        )?);
        *g = Some((path, net.clone()));
        Ok(net)
    }
}

impl ModelFamily for IndustryFamily {
    fn label_set(&self) -> &str {
        sets::INDUSTRY
    }
    fn kind(&self) -> &str {
        KIND
    }
    fn prepare(
        &self,
        store: &Store,
        items: &[i64],
        labels: &[String],
        parent: Option<&ModelInfo>,
    ) -> anyhow::Result<Box<dyn TrainTask>> {
        let examples: Vec<Featurized> = items
            .iter()
            .map(|&i| page_texts(store, i).map(|t| featurize_page(&t)))
            .collect::<anyhow::Result<_>>()?;
        let mut net = BagNet::new(NetSpec::new(page_dense_len(), labels.len()), form_device());
        if let Some(p) = parent {
            let path = weights_path(store, p)
                .ok_or_else(|| anyhow::anyhow!("model {} has no weights", p.id))?;
            net.vs
                .load(&path)
                .map_err(|e| anyhow::anyhow!("loading {}: {e}", path.display()))?;
        }
        Ok(Box::new(BagTask {
            net,
            examples,
            labels: labels.to_vec(),
        }))
    }
    fn predict(
        &self,
        store: &Store,
        model: &ModelInfo,
        items: &[i64],
        ctx: &JobCtx,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let net = self.net(store, model)?;
        let mut ex = Vec::with_capacity(items.len());
        for &i in items {
            ctx.check()?;
            ex.push(featurize_page(&page_texts(store, i)?));
        }
        net.predict(&ex)
    }
    fn save(&self, task: &dyn TrainTask, path: &Path) -> anyhow::Result<serde_json::Value> {
        save_bag(task, path, page_dense_len())
    }
    fn candidate_items(&self, store: &Store) -> anyhow::Result<Vec<i64>> {
        Ok(store.ok_page_ids()?)
    }
}

/// How a requirement was classified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndustryGuess {
    pub industry: String,
    pub score: f64,
    /// `model` (the active industry model, id in `model_id`) or `lexicon`.
    pub source: String,
    pub model_id: Option<i64>,
    /// Top candidates (label, score), best first.
    pub top: Vec<(String, f64)>,
}

/// Classify a one-line requirement into an industry: the active industry model when the
/// project has one (unless it is unsure, below 0.5, and the lexicon knows a keyword), else the
/// lexicon; `other` when nothing matches.
pub fn classify_requirement(store: &Store, text: &str) -> anyhow::Result<IndustryGuess> {
    let lexicon = classify_by_lexicon(text);
    if let Some(model) = store
        .active_model(sets::INDUSTRY)?
        .filter(|m| m.kind == KIND)
    {
        let fam = IndustryFamily::default();
        let net = fam.net(store, &model)?;
        let p = net.predict(&[featurize_page(&[text.to_string()])])?;
        let top = train::top_k(&model.labels, &p[0], 3);
        if let Some((l, s)) = top.first().cloned() {
            if s >= 0.5 || lexicon.top.is_empty() {
                return Ok(IndustryGuess {
                    industry: l,
                    score: s,
                    source: "model".into(),
                    model_id: Some(model.id),
                    top,
                });
            }
        }
    }
    Ok(lexicon)
}

/// Classify a text by the bilingual industry lexicon alone.
pub fn classify_by_lexicon(text: &str) -> IndustryGuess {
    let lower = text.to_lowercase();
    let counts = taxonomy::industry_lexicon_counts(&lower);
    let total: f32 = counts.iter().sum();
    let mut top: Vec<(String, f64)> = taxonomy::INDUSTRIES
        .iter()
        .zip(&counts)
        .filter(|(_, &c)| c > 0.0)
        .map(|(d, &c)| (d.name.to_string(), (c / total) as f64))
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (industry, score) = top.first().cloned().unwrap_or(("other".to_string(), 0.0));
    IndustryGuess {
        industry,
        score,
        source: "lexicon".into(),
        model_id: None,
        top,
    }
}

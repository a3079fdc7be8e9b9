//! The field-type model family (`field_type` label set, kind `field-mlp`): featurized
//! [`FieldRecord`]s into the [`BagNet`], trained and run through the shared machinery of
//! [`super::family`]. Also the out-of-the-box base model: trained from the Formasaurus corpus
//! (codes mapped onto the default taxonomy) plus bilingual examples synthesized from the
//! lexicon, evaluated on held-out pages, cached under `assets::cache_dir()` and registered in a
//! project on first pre-labelling when the project has no field-type model yet.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use tch::Device;

use super::family::{models_dir, weights_path, ModelFamily};
use super::field_features::{featurize_field, field_dense_len, has_cjk, Featurized};
use super::field_net::{BagNet, BagTask, NetSpec};
use super::metrics::Metrics;
use super::train::{self, TrainConfig, TrainTask};
use crate::domain::{sets, FieldRecord, ModelInfo};
use crate::ingest::html;
use crate::jobs::JobCtx;
use crate::store::models::NewModel;
use crate::store::Store;
use crate::taxonomy::{self, FIELD_TYPES};

/// `models.kind` of field-type models.
pub const KIND: &str = super::family::ModelKind::FieldMlp.as_str();
/// Bumped when the base model's recipe (data, mapping, synthetic examples, training) changes.
pub const BASE_RECIPE: u32 = 1;

/// The device the form models run on (small models: CPU is enough and always there).
pub fn form_device() -> Device {
    Device::Cpu
}

/// A field of a model's item: its `meta` as a [`FieldRecord`].
fn field_record(store: &Store, item_id: i64) -> anyhow::Result<FieldRecord> {
    let item = store
        .item(item_id)?
        .ok_or_else(|| anyhow::anyhow!("no item {item_id}"))?;
    Ok(serde_json::from_value(item.meta).unwrap_or_default())
}

type NetCache = RefCell<Option<(PathBuf, Rc<BagNet>)>>;

fn cached_net(cache: &NetCache, model: &ModelInfo, path: PathBuf) -> anyhow::Result<Rc<BagNet>> {
    let mut g = cache.borrow_mut();
    if let Some((p, net)) = g.as_ref() {
        if *p == path {
            return Ok(net.clone());
        }
    }
    let spec = NetSpec::from_json(&model.spec)?;
    anyhow::ensure!(
        spec.classes as usize == model.labels.len(),
        "model {} has {} outputs for {} labels",
        model.id,
        spec.classes,
        model.labels.len()
    );
    let net = Rc::new(BagNet::load(spec, &path, form_device())?);
    *g = Some((path, net.clone()));
    Ok(net)
}

/// The field-type family.
#[derive(Default)]
pub struct FieldTypeFamily {
    cache: NetCache,
}

impl ModelFamily for FieldTypeFamily {
    fn label_set(&self) -> &str {
        sets::FIELD_TYPE
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
        Self::prepare_from(store, items, labels, parent, true)
    }

    fn prepare_unseen(
        &self,
        store: &Store,
        items: &[i64],
        labels: &[String],
    ) -> anyhow::Result<Box<dyn TrainTask>> {
        Self::prepare_from(store, items, labels, None, false)
    }

    fn predict(
        &self,
        store: &Store,
        model: &ModelInfo,
        items: &[i64],
        ctx: &JobCtx,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let path = weights_path(store, model)
            .ok_or_else(|| anyhow::anyhow!("model {} has no weights", model.id))?;
        let net = cached_net(&self.cache, model, path)?;
        let mut examples = Vec::with_capacity(items.len());
        for &i in items {
            ctx.check()?;
            examples.push(featurize_field(&field_record(store, i)?));
        }
        net.predict(&examples)
    }

    fn save(&self, task: &dyn TrainTask, path: &Path) -> anyhow::Result<serde_json::Value> {
        save_bag(task, path, field_dense_len())
    }

    fn candidate_items(&self, store: &Store) -> anyhow::Result<Vec<i64>> {
        Ok(store.field_ids_of_ok_pages()?)
    }

    fn bootstrap(&self, store: &mut Store, ctx: &JobCtx) -> anyhow::Result<Option<ModelInfo>> {
        let base = BaseModel::get_or_build(ctx)?;
        Ok(Some(register_base(store, &base)?))
    }
}

impl FieldTypeFamily {
    /// The task of [`ModelFamily::prepare`]; without a parent it transfers from the active
    /// field model when `from_active`, else (and when there is none) from the base model.
    fn prepare_from(
        store: &Store,
        items: &[i64],
        labels: &[String],
        parent: Option<&ModelInfo>,
        from_active: bool,
    ) -> anyhow::Result<Box<dyn TrainTask>> {
        let examples: Vec<Featurized> = items
            .iter()
            .map(|&i| field_record(store, i).map(|r| featurize_field(&r)))
            .collect::<anyhow::Result<_>>()?;
        let spec = NetSpec::new(field_dense_len(), labels.len());
        let mut net = BagNet::new(spec, form_device());
        match parent {
            Some(p) => {
                let path = weights_path(store, p)
                    .ok_or_else(|| anyhow::anyhow!("model {} has no weights", p.id))?;
                net.vs
                    .load(&path)
                    .map_err(|e| anyhow::anyhow!("loading {}: {e}", path.display()))?;
            }
            None => {
                // Start from the active field model (or the base model) even when its labels
                // differ: its text representation transfers, and so do shared labels.
                let active = match from_active {
                    true => store.active_model(sets::FIELD_TYPE)?,
                    false => None,
                };
                let src = match active.filter(|m| m.kind == KIND) {
                    Some(m) => weights_path(store, &m).and_then(|p| {
                        NetSpec::from_json(&m.spec)
                            .ok()
                            .and_then(|s| BagNet::load(s, &p, form_device()).ok())
                            .map(|n| (n, m.labels.clone()))
                    }),
                    None => BaseModel::cached()
                        .and_then(|b| b.load().ok().map(|n| (n, b.labels.clone()))),
                };
                if let Some((src, src_labels)) = src {
                    net.transfer_from(&src, &src_labels, labels);
                }
            }
        }
        Ok(Box::new(BagTask {
            net,
            examples,
            labels: labels.to_vec(),
        }))
    }
}

/// Save a form model's variables atomically; the spec records the net's shape.
pub(crate) fn save_bag(
    task: &dyn TrainTask,
    path: &Path,
    dense: usize,
) -> anyhow::Result<serde_json::Value> {
    let vars = task.var_store().variables();
    let classes = vars
        .get("out.bias")
        .map(|b| b.size()[0])
        .ok_or_else(|| anyhow::anyhow!("not a form model"))?;
    train::save_var_store_atomic(task.var_store(), path)?;
    Ok(serde_json::json!({ "net": NetSpec::new(dense, classes as usize) }))
}

/// Copy the base model into the project's models folder and register it as the active
/// field-type model (version 1 when the project has none).
pub fn register_base(store: &mut Store, base: &BaseModel) -> anyhow::Result<ModelInfo> {
    let dir = models_dir(store);
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(format!("field_type-base-r{BASE_RECIPE}.safetensors"));
    if !file.exists() {
        crate::fsutil::copy_atomic(&base.weights, &file)?;
    }
    let model = store.register_model_file(
        &file,
        NewModel {
        label_set: sets::FIELD_TYPE.to_string(),
        kind: KIND.to_string(),
        parent_id: None,
        training_run_id: None,
        labels: base.labels.clone(),
        spec: serde_json::json!({ "net": base.spec, "base": "formasaurus+lexicon", "recipe": BASE_RECIPE }),
        metrics: Some(serde_json::to_value(&base.report)?),
            weights_path: None,
            weights_sha256: None,
        },
    )?;
    store.activate_model(model.id)?;
    Ok(store.model(model.id)?.unwrap_or(model))
}

// ---------------------------------------------------------------------------------------------
// Base model

/// A labelled field of the Formasaurus corpus.
#[derive(Debug, Clone)]
pub struct CorpusField {
    /// `html/N.html`.
    pub page: String,
    pub record: FieldRecord,
    pub label: &'static str,
    /// Whether the field's human texts contain CJK characters.
    pub cjk: bool,
}

/// Read the Formasaurus corpus: every annotated field (by `name` inside the N-th `<form>`),
/// extracted with this crate's extractor, its code mapped onto the taxonomy.
pub fn formasaurus_fields(dir: &Path) -> anyhow::Result<Vec<CorpusField>> {
    let index: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(
        &std::fs::read(dir.join("index.json"))
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", dir.join("index.json").display()))?,
    )?;
    let mut keys: Vec<&String> = index.keys().collect();
    keys.sort();
    let pages: Vec<Vec<CorpusField>> = {
        use rayon::prelude::*;
        keys.par_iter()
            .map(|key| {
                let entry = &index[key.as_str()];
                let Some(forms) = entry.get("visible_html_fields").and_then(|v| v.as_array())
                else {
                    return Vec::new();
                };
                let Ok(bytes) = std::fs::read(dir.join(key.as_str())) else {
                    return Vec::new();
                };
                let Ok(d) = html::decode(&bytes) else {
                    return Vec::new();
                };
                let x = html::extract(&d.html, html::ExtractOptions::default());
                let mut out = Vec::new();
                for f in x.fields {
                    let (Some(k), Some(name)) = (f.form_element_index, f.name.as_deref()) else {
                        continue;
                    };
                    let Some(code) = forms
                        .get(k)
                        .and_then(|m| m.get(name))
                        .and_then(|c| c.as_str())
                    else {
                        continue;
                    };
                    let Some(label) = taxonomy::formasaurus_type(code) else {
                        continue;
                    };
                    let cjk = has_cjk(&f.texts().join(" "));
                    out.push(CorpusField {
                        page: key.to_string(),
                        record: f,
                        label,
                        cjk,
                    });
                }
                out
            })
            .collect()
    };
    Ok(pages.into_iter().flatten().collect())
}

/// Whether a Formasaurus page is held out from the base model: every page with Chinese /
/// Japanese field text (so the Chinese figure measures the cold start, not memory), and one
/// page in five of the rest (by a hash of its name).
pub fn is_holdout_page(page: &str, page_has_cjk: bool) -> bool {
    page_has_cjk || blake3::hash(page.as_bytes()).as_bytes()[0] % 5 == 0
}

fn rec(tag: &str, input_type: Option<&str>) -> FieldRecord {
    FieldRecord {
        tag: tag.into(),
        input_type: input_type.map(str::to_string),
        ..Default::default()
    }
}

/// Bilingual examples synthesized from the lexicon: for each type and keyword, a field with
/// the keyword as label, as placeholder ("请输入…"), or as the preceding text, with the
/// structure such a field usually has (tel + maxlength 11 for phones, a select of provinces...).
pub fn synthetic_fields() -> Vec<(FieldRecord, &'static str)> {
    let mut out = Vec::new();
    for t in FIELD_TYPES {
        for (i, kw) in t.keywords.iter().enumerate() {
            let name = (!t.attr_names.is_empty())
                .then(|| t.attr_names[i % t.attr_names.len()].to_string());
            for variant in 0..3 {
                let mut f = match t.name {
                    "phone" => FieldRecord {
                        maxlength: Some(11),
                        ..rec("input", Some(if i % 2 == 0 { "tel" } else { "text" }))
                    },
                    "email" => rec("input", Some(if i % 2 == 0 { "email" } else { "text" })),
                    "sms_code" => FieldRecord {
                        maxlength: Some(6),
                        ..rec("input", Some("text"))
                    },
                    "captcha" => FieldRecord {
                        maxlength: Some(4),
                        ..rec("input", Some("text"))
                    },
                    "password" | "password_confirm" => rec("input", Some("password")),
                    "gender" => FieldRecord {
                        options: if i % 2 == 0 {
                            vec!["男".into(), "女".into()]
                        } else {
                            vec!["male".into(), "female".into()]
                        },
                        ..rec(
                            if variant == 0 { "select" } else { "input" },
                            (variant != 0).then_some("radio"),
                        )
                    },
                    "birthday" | "datetime" => {
                        rec("input", Some(if i % 2 == 0 { "date" } else { "text" }))
                    }
                    "id_card" => FieldRecord {
                        maxlength: Some(18),
                        ..rec("input", Some("text"))
                    },
                    "region" => FieldRecord {
                        options: vec![
                            "请选择".into(),
                            "北京".into(),
                            "上海".into(),
                            "广东省".into(),
                            "浙江省".into(),
                        ],
                        ..rec("select", None)
                    },
                    "message" => rec("textarea", None),
                    "agreement" => rec("input", Some("checkbox")),
                    "submit" => FieldRecord {
                        value: Some(kw.to_string()),
                        ..rec("button", Some("submit"))
                    },
                    "search" => rec("input", Some(if i % 2 == 0 { "search" } else { "text" })),
                    "salary_budget" => FieldRecord {
                        options: if variant == 2 {
                            vec![
                                "5k以下".into(),
                                "5-10k".into(),
                                "10-20k".into(),
                                "20k以上".into(),
                            ]
                        } else {
                            vec![]
                        },
                        ..rec(
                            if variant == 2 { "select" } else { "input" },
                            (variant != 2).then_some("text"),
                        )
                    },
                    "other" => continue,
                    _ => rec("input", Some("text")),
                };
                let cjk = has_cjk(kw);
                if t.name != "submit" {
                    match variant {
                        0 => {
                            f.label = Some(if cjk {
                                format!("{kw}：")
                            } else {
                                format!("{kw}:")
                            })
                        }
                        1 => {
                            f.placeholder = Some(if cjk {
                                format!("请输入{kw}")
                            } else {
                                format!("Enter your {kw}")
                            })
                        }
                        _ => f.preceding_text = Some(kw.to_string()),
                    }
                    if t.name == "agreement" {
                        f.label = Some(format!("我已阅读并{kw}《用户协议》"));
                    }
                }
                if variant != 1 {
                    f.name = name.clone();
                }
                out.push((f, t.name));
            }
        }
    }
    // Chinese fields that are none of the types.
    for kw in [
        "推荐人",
        "邀请码",
        "微信号",
        "QQ号",
        "学历",
        "兴趣爱好",
        "数量",
        "备用联系人关系",
        "上传附件",
        "身高",
    ] {
        out.push((
            FieldRecord {
                label: Some(kw.to_string()),
                ..rec("input", Some("text"))
            },
            taxonomy::OTHER,
        ));
        out.push((
            FieldRecord {
                placeholder: Some(format!("请输入{kw}")),
                ..rec("input", Some("text"))
            },
            taxonomy::OTHER,
        ));
    }
    out
}

/// What the base model scored on held-out Formasaurus pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaseReport {
    pub n_train: usize,
    pub n_synthetic: usize,
    /// All held-out fields.
    pub holdout: Metrics,
    /// Held-out fields of pages without CJK text.
    pub holdout_latin: Metrics,
    /// Fields whose texts are Chinese/Japanese (all on held-out pages).
    pub cjk: Metrics,
    pub train_seconds: f64,
}

/// The cached base model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaseModel {
    pub weights: PathBuf,
    pub labels: Vec<String>,
    pub spec: NetSpec,
    pub report: BaseReport,
}

impl BaseModel {
    fn dir() -> PathBuf {
        crate::assets::cache_dir().join("models-v1")
    }
    fn stem() -> String {
        format!(
            "field-type-base-f{}-r{BASE_RECIPE}",
            super::field_features::FEATURES_VERSION
        )
    }

    /// The base model if it was built already.
    pub fn cached() -> Option<BaseModel> {
        let json = Self::dir().join(format!("{}.json", Self::stem()));
        let m: BaseModel = serde_json::from_slice(&std::fs::read(json).ok()?).ok()?;
        m.weights.is_file().then_some(m)
    }

    /// Load the network.
    pub fn load(&self) -> anyhow::Result<BagNet> {
        BagNet::load(self.spec, &self.weights, form_device())
    }

    /// The cached base model, built from Formasaurus first if needed (one process builds it;
    /// others wait for it).
    pub fn get_or_build(ctx: &JobCtx) -> anyhow::Result<BaseModel> {
        if let Some(m) = Self::cached() {
            return Ok(m);
        }
        let dir = Self::dir();
        std::fs::create_dir_all(&dir)?;
        let lock = dir.join(format!("{}.lock", Self::stem()));
        let start = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(_) => break,
                Err(_) => {
                    if let Some(m) = Self::cached() {
                        return Ok(m);
                    }
                    let stale = std::fs::metadata(&lock)
                        .and_then(|m| m.modified())
                        .map(|t| t.elapsed().unwrap_or_default().as_secs() > 900)
                        .unwrap_or(true);
                    if stale || start.elapsed().as_secs() > 900 {
                        let _ = std::fs::remove_file(&lock);
                    }
                    ctx.check()?;
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
            }
        }
        let result = (|| {
            if let Some(m) = Self::cached() {
                return Ok(m);
            }
            let m = build_base(
                &crate::assets::formasaurus_dir(),
                &dir.join(format!("{}.safetensors", Self::stem())),
                ctx,
            )?;
            let json = dir.join(format!("{}.json", Self::stem()));
            crate::fsutil::write_bytes_atomic(&json, &serde_json::to_vec_pretty(&m)?)?;
            Ok(m)
        })();
        let _ = std::fs::remove_file(&lock);
        result
    }
}

/// Train the base model from the Formasaurus corpus in `data_dir` plus the synthetic
/// bilingual examples, evaluate it on the held-out pages, save the weights to `weights`.
pub fn build_base(data_dir: &Path, weights: &Path, ctx: &JobCtx) -> anyhow::Result<BaseModel> {
    let t0 = std::time::Instant::now();
    ctx.set_message("reading Formasaurus");
    let corpus = formasaurus_fields(data_dir)
        .map_err(|e| anyhow::anyhow!("{e}; {}", crate::assets::SETUP_HINT))?;
    anyhow::ensure!(
        !corpus.is_empty(),
        "no labelled fields found in {}",
        data_dir.display()
    );
    let mut cjk_pages: HashMap<&str, bool> = HashMap::new();
    for f in &corpus {
        *cjk_pages.entry(&f.page).or_default() |= f.cjk;
    }
    let labels = taxonomy::field_type_names();
    let index = |l: &str| labels.iter().position(|x| x == l).expect("taxonomy label");
    let mut examples = Vec::new();
    let mut targets = Vec::new();
    let mut hold = Vec::new();
    for f in &corpus {
        if is_holdout_page(&f.page, cjk_pages[f.page.as_str()]) {
            hold.push(f);
        } else {
            examples.push(featurize_field(&f.record));
            targets.push(index(f.label));
        }
    }
    let n_train = examples.len();
    let synth = synthetic_fields();
    for (r, l) in &synth {
        examples.push(featurize_field(r));
        targets.push(index(l));
    }
    tch::manual_seed(7);
    let net = BagNet::new(NetSpec::new(field_dense_len(), labels.len()), form_device());
    let task = BagTask {
        net,
        examples,
        labels: labels.clone(),
    };
    let idx: Vec<usize> = (0..targets.len()).collect();
    let cfg = TrainConfig {
        epochs: 14,
        batch_size: 64,
        learning_rate: 2e-3,
        weight_decay: 1e-4,
        holdout: 0.0,
        seed: 7,
    };
    ctx.set_message("training the base field model");
    train::fit(&task, &targets, &idx, &cfg, ctx, |_, _| {})?;
    let eval = |fields: &[&CorpusField]| -> anyhow::Result<Metrics> {
        let ex: Vec<Featurized> = fields.iter().map(|f| featurize_field(&f.record)).collect();
        let probs = task.net.predict(&ex)?;
        let truth: Vec<usize> = fields.iter().map(|f| index(f.label)).collect();
        let pred: Vec<usize> = probs.iter().map(|p| train::argmax(p)).collect();
        Ok(Metrics::compute(&labels, &truth, &pred))
    };
    let latin: Vec<&CorpusField> = hold
        .iter()
        .copied()
        .filter(|f| !cjk_pages[f.page.as_str()])
        .collect();
    let cjk: Vec<&CorpusField> = hold.iter().copied().filter(|f| f.cjk).collect();
    let report = BaseReport {
        n_train,
        n_synthetic: synth.len(),
        holdout: eval(&hold)?,
        holdout_latin: eval(&latin)?,
        cjk: eval(&cjk)?,
        train_seconds: t0.elapsed().as_secs_f64(),
    };
    train::save_var_store_atomic(&task.net.vs, weights)?;
    Ok(BaseModel {
        weights: weights.to_path_buf(),
        labels,
        spec: task.net.spec,
        report,
    })
}

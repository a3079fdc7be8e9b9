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
use super::field_eval::{self, Prf, Scored, TypePr, Untyped};
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
/// r2: the region split and card types, the autocomplete evidence, the calibrated untyped rule.
pub const BASE_RECIPE: u32 = 2;

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
        let mut records = Vec::with_capacity(items.len());
        for &i in items {
            ctx.check()?;
            records.push(field_record(store, i)?);
        }
        let examples: Vec<Featurized> = records.iter().map(featurize_field).collect();
        let allowed: std::collections::HashSet<String> = store
            .labels(sets::FIELD_TYPE)?
            .into_iter()
            .map(|l| l.name)
            .collect();
        if is_stale(model) {
            // A model of an older feature layout (a project made before the taxonomy split):
            // today's base model answers, its scores mapped onto that model's labels (the
            // region members fold into `region`), until the project trains a new model.
            let base = BaseModel::get_or_build(ctx)?;
            let probs = base.load()?.predict(&examples)?;
            let probs: Vec<Vec<f32>> = records
                .iter()
                .zip(&probs)
                .map(|(r, p)| {
                    let p = field_eval::apply_autocomplete(&base.labels, p, r);
                    let p = field_eval::apply_untyped(&base.labels, &p, &base.report.untyped);
                    map_onto(&base.labels, &p, &model.labels)
                })
                .collect();
            return Ok(probs);
        }
        let path = weights_path(store, model)
            .ok_or_else(|| anyhow::anyhow!("model {} has no weights", model.id))?;
        let net = cached_net(&self.cache, model, path)?;
        let (probs, untyped) = (net.predict(&examples)?, Untyped::from_spec(&model.spec));
        Ok(records
            .iter()
            .zip(probs)
            .map(|(r, p)| {
                let p = field_eval::apply_autocomplete(&model.labels, &p, r);
                let p = field_eval::fold_groups(&model.labels, &p, &allowed);
                match &untyped {
                    Some(u) => field_eval::apply_untyped(&model.labels, &p, u),
                    None => p,
                }
            })
            .collect())
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
                let from_active = active.filter(|m| m.kind == KIND).and_then(|m| {
                    weights_path(store, &m).and_then(|p| {
                        NetSpec::from_json(&m.spec)
                            .ok()
                            .and_then(|s| BagNet::load(s, &p, form_device()).ok())
                            .map(|n| (n, m.labels.clone()))
                    })
                });
                // A stale active model (older feature layout) cannot be loaded: the base.
                let src = from_active.or_else(|| {
                    BaseModel::cached().and_then(|b| b.load().ok().map(|n| (n, b.labels.clone())))
                });
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

/// Whether a model was saved with another feature layout than this build's (its weights
/// cannot be loaded; see [`FieldTypeFamily::predict`]).
pub fn is_stale(model: &ModelInfo) -> bool {
    let v = model.spec.get("net").unwrap_or(&model.spec);
    v.get("features_version").and_then(|x| x.as_u64())
        != Some(super::field_features::FEATURES_VERSION as u64)
}

/// Scores over `from` mapped onto the labels `to`: by name, and a group member that `to`
/// lacks adds to its group (`city` -> `region`); renormalised over `to`.
pub fn map_onto(from: &[String], p: &[f32], to: &[String]) -> Vec<f32> {
    let mut out = vec![0.0f32; to.len()];
    for (i, l) in from.iter().enumerate() {
        let j = to
            .iter()
            .position(|t| t == l)
            .or_else(|| taxonomy::group_of(l).and_then(|g| to.iter().position(|t| t == g)));
        if let (Some(j), Some(v)) = (j, p.get(i)) {
            out[j] += v;
        }
    }
    let s: f32 = out.iter().sum();
    if s > 0.0 {
        out.iter_mut().for_each(|v| *v /= s);
    }
    out
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
            spec: serde_json::json!({
                "net": base.spec,
                "base": "formasaurus+lexicon",
                "recipe": BASE_RECIPE,
                "untyped": base.report.untyped,
            }),
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
    let opts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let mut out = Vec::new();
    for t in FIELD_TYPES {
        for (i, kw) in t.keywords.iter().enumerate() {
            let name = (!t.attr_names.is_empty())
                .then(|| t.attr_names[i % t.attr_names.len()].to_string());
            for variant in 0..3 {
                let mut f = match t.name {
                    // Chinese H5 pages often ask for the phone in a number input (the numeric
                    // keypad on phones), without maxlength.
                    // The dialing-code select in front of a phone input (Formasaurus P0).
                    "phone" if variant == 2 && i % 4 == 3 => FieldRecord {
                        options: opts(&["+86", "+852", "+886", "+1", "+44"]),
                        ..rec("select", None)
                    },
                    "phone" if (i + variant) % 3 == 2 => FieldRecord {
                        pattern: Some("[0-9]*".into()),
                        ..rec("input", Some("number"))
                    },
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
                    "state" => FieldRecord {
                        options: if i % 2 == 0 {
                            opts(&["请选择", "北京市", "广东省", "浙江省", "四川省"])
                        } else {
                            opts(&["Select", "California", "New York", "Texas", "Ontario"])
                        },
                        ..rec("select", None)
                    },
                    "city" if variant == 2 => FieldRecord {
                        options: opts(&["请选择", "北京", "上海", "广州", "深圳", "杭州"]),
                        ..rec("select", None)
                    },
                    "district" => FieldRecord {
                        options: opts(&["请选择", "朝阳区", "海淀区", "浦东新区", "天河区"]),
                        ..rec("select", None)
                    },
                    "country" if variant == 2 => FieldRecord {
                        options: opts(&["中国", "United States", "日本", "Canada", "France"]),
                        ..rec("select", None)
                    },
                    "region" => rec("input", Some("text")),
                    "card_number" => FieldRecord {
                        maxlength: Some(19),
                        ..rec("input", Some(if i % 2 == 0 { "tel" } else { "text" }))
                    },
                    "card_cvc" => FieldRecord {
                        maxlength: Some(if i % 2 == 0 { 3 } else { 4 }),
                        ..rec("input", Some(if i % 2 == 0 { "password" } else { "text" }))
                    },
                    "card_expiry" => FieldRecord {
                        maxlength: Some(5),
                        placeholder: (variant != 1).then(|| "MM/YY".to_string()),
                        ..rec("input", Some("text"))
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
    // Controls that are none of the types either: buttons that do not submit (the code
    // request next to an SMS field, reset, close, icon buttons without text) and settings
    // checkboxes (remember me, switches).
    for (kw, input_type) in [
        ("获取验证码", "button"),
        ("发送验证码", "button"),
        ("重新发送", "button"),
        ("重置", "reset"),
        ("取消", "button"),
        ("关闭", "button"),
        ("reset", "reset"),
        ("cancel", "button"),
        ("", "button"),
    ] {
        out.push((
            FieldRecord {
                value: (!kw.is_empty()).then(|| kw.to_string()),
                id: kw.is_empty().then(|| "btn_icon_clear".to_string()),
                ..rec("button", Some(input_type))
            },
            taxonomy::OTHER,
        ));
    }
    for kw in [
        "记住密码",
        "下次自动登录",
        "记住我",
        "开关",
        "夜间模式",
        "显示密码",
        "remember me",
        "keep me signed in",
    ] {
        out.push((
            FieldRecord {
                label: Some(kw.to_string()),
                ..rec("input", Some("checkbox"))
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
    /// The untyped rule calibrated on the validation pages (part of the training pages).
    pub untyped: Untyped,
    /// Validation pages and fields the rule was calibrated on.
    pub n_validation_pages: usize,
    pub n_validation: usize,
    /// Held-out pages.
    pub n_holdout_pages: usize,
    /// Page-level F1 of the held-out pages (per-page multisets of types): plain argmax,
    /// with the untyped rule, and with the rule counting `region` as matching its members.
    pub page_argmax: Prf,
    pub page: Prf,
    pub page_grouped: Prf,
    /// The same on held-out pages without CJK text.
    pub page_latin: Prf,
    /// Per-type precision/recall of the held-out fields under the rule.
    pub per_type: Vec<TypePr>,
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
    // Validation pages (one in five of the training pages, by another byte of the hash) for
    // the untyped rule: a first model is fitted without them, the rule picked on them, the
    // final model fitted on every training page.
    let is_val = |page: &str| blake3::hash(page.as_bytes()).as_bytes()[1] % 5 == 0;
    let train_pages: Vec<&CorpusField> = corpus
        .iter()
        .filter(|f| !is_holdout_page(&f.page, cjk_pages[f.page.as_str()]))
        .collect();
    let val: Vec<&CorpusField> = train_pages
        .iter()
        .copied()
        .filter(|f| is_val(&f.page))
        .collect();
    let fit_idx: Vec<usize> = (0..targets.len())
        .filter(|&i| i >= n_train || !is_val(&train_pages[i].page))
        .collect();
    ctx.set_message("training the base field model (calibration fold)");
    let first = fit_base(&examples, &targets, &labels, &fit_idx, ctx)?;
    let val_scored = Scored {
        labels: &labels,
        fields: score(&first, &val)?,
    };
    let (untyped, _) = val_scored.calibrate();
    let n_validation_pages = val
        .iter()
        .map(|f| f.page.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len();
    drop(first);
    ctx.set_message("training the base field model");
    let idx: Vec<usize> = (0..targets.len()).collect();
    let task = fit_base(&examples, &targets, &labels, &idx, ctx)?;
    let eval = |fields: &[&CorpusField]| -> anyhow::Result<Metrics> {
        let scored = score(&task, fields)?;
        let truth: Vec<usize> = fields.iter().map(|f| index(f.label)).collect();
        let pred: Vec<usize> = scored
            .iter()
            .map(|(_, _, p)| train::argmax(&field_eval::apply_untyped(&labels, p, &untyped)))
            .collect();
        Ok(Metrics::compute(&labels, &truth, &pred))
    };
    let latin: Vec<&CorpusField> = hold
        .iter()
        .copied()
        .filter(|f| !cjk_pages[f.page.as_str()])
        .collect();
    let cjk: Vec<&CorpusField> = hold.iter().copied().filter(|f| f.cjk).collect();
    let hold_scored = Scored {
        labels: &labels,
        fields: score(&task, &hold)?,
    };
    let latin_scored = Scored {
        labels: &labels,
        fields: score(&task, &latin)?,
    };
    let decided = hold_scored.decide(&untyped);
    let truth: Vec<&str> = hold.iter().map(|f| f.label).collect();
    let report = BaseReport {
        n_train,
        n_synthetic: synth.len(),
        holdout: eval(&hold)?,
        holdout_latin: eval(&latin)?,
        cjk: eval(&cjk)?,
        untyped,
        n_validation_pages,
        n_validation: val.len(),
        n_holdout_pages: hold_scored.pages(&decided).len(),
        page_argmax: hold_scored.prf(&Untyped::ARGMAX, false),
        page: hold_scored.prf(&untyped, false),
        page_grouped: hold_scored.prf(&untyped, true),
        page_latin: latin_scored.prf(&untyped, false),
        per_type: field_eval::per_type(&labels, &truth, &decided),
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

/// Fit the base network on the examples `idx` (seeded: the same data give the same model).
fn fit_base(
    examples: &[Featurized],
    targets: &[usize],
    labels: &[String],
    idx: &[usize],
    ctx: &JobCtx,
) -> anyhow::Result<BagTask> {
    tch::manual_seed(7);
    let net = BagNet::new(NetSpec::new(field_dense_len(), labels.len()), form_device());
    let task = BagTask {
        net,
        examples: examples.to_vec(),
        labels: labels.to_vec(),
    };
    let cfg = TrainConfig {
        epochs: 14,
        batch_size: 64,
        learning_rate: 2e-3,
        weight_decay: 1e-4,
        holdout: 0.0,
        seed: 7,
    };
    train::fit(&task, targets, idx, &cfg, ctx, |_, _| {})?;
    Ok(task)
}

/// Scores of corpus fields (with the `autocomplete` evidence): (page, truth, scores).
fn score<'a>(
    task: &BagTask,
    fields: &[&'a CorpusField],
) -> anyhow::Result<Vec<(&'a str, &'a str, Vec<f32>)>> {
    let ex: Vec<Featurized> = fields.iter().map(|f| featurize_field(&f.record)).collect();
    let probs = task.net.predict(&ex)?;
    Ok(fields
        .iter()
        .zip(probs)
        .map(|(f, p)| {
            (
                f.page.as_str(),
                f.label,
                field_eval::apply_autocomplete(&task.labels, &p, &f.record),
            )
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Chinese H5 demo pages

/// Where `scripts/setup.sh` installs the Chinese H5 demo pages (npm `weui`, `jquery-weui`,
/// `layui-src`, as `node_modules/<package>/...`).
pub fn cn_h5_dir() -> PathBuf {
    crate::assets::cache_dir()
        .join("data-v1")
        .join("cn-h5")
        .join("npm")
        .join("node_modules")
}

/// The hand-checked field types of the Chinese demo pages: `page<TAB>position<TAB>caption<TAB>type`
/// (every extracted field of each listed page, `other` included, so untyped fields count).
pub const CN_H5_TRUTH: &str = include_str!("../../tests/fixtures/cn_h5_truth.tsv");

/// The fields of one installed page (`weui/src/example/form/form.html`), as extracted.
pub fn cn_h5_fields(page: &str) -> anyhow::Result<Vec<FieldRecord>> {
    let path = cn_h5_dir().join(page);
    let bytes = std::fs::read(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let d = html::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(html::extract(&d.html, html::ExtractOptions::default()).fields)
}

/// The Chinese demo pages' truth joined with their extracted fields: (page, truth, record).
/// A line whose position no longer has that caption is an error (the extractor changed).
pub fn cn_h5_truth() -> anyhow::Result<Option<Vec<(String, String, FieldRecord)>>> {
    if !cn_h5_dir().is_dir() {
        return Ok(None);
    }
    let mut pages: HashMap<String, Vec<FieldRecord>> = HashMap::new();
    let mut out = Vec::new();
    for line in CN_H5_TRUTH.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        anyhow::ensure!(
            cols.len() == 4,
            "truth line {line:?}: 4 tab-separated columns"
        );
        let (page, pos, caption, t) = (cols[0], cols[1].parse::<usize>()?, cols[2], cols[3]);
        anyhow::ensure!(
            taxonomy::field_type(t).is_some(),
            "truth line {line:?}: unknown type {t}"
        );
        if !pages.contains_key(page) {
            pages.insert(page.to_string(), cn_h5_fields(page)?);
        }
        let f = pages[page]
            .get(pos)
            .ok_or_else(|| anyhow::anyhow!("{page} has no field {pos}"))?;
        anyhow::ensure!(
            f.caption() == caption,
            "{page} field {pos} is {:?}, the truth says {caption:?}",
            f.caption()
        );
        out.push((page.to_string(), t.to_string(), f.clone()));
    }
    Ok(Some(out))
}

/// The base model on the Chinese demo pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChineseReport {
    pub pages: usize,
    pub fields: usize,
    pub page_argmax: Prf,
    pub page: Prf,
    pub per_type: Vec<TypePr>,
}

/// Measure `base` on the hand-checked Chinese demo pages (`None`: not installed).
pub fn chinese_eval(base: &BaseModel) -> anyhow::Result<Option<ChineseReport>> {
    let Some(truth) = cn_h5_truth()? else {
        return Ok(None);
    };
    let net = base.load()?;
    let ex: Vec<Featurized> = truth.iter().map(|(_, _, r)| featurize_field(r)).collect();
    let probs = net.predict(&ex)?;
    let scored = Scored {
        labels: &base.labels,
        fields: truth
            .iter()
            .zip(probs)
            .map(|((page, t, r), p)| {
                (
                    page.as_str(),
                    t.as_str(),
                    field_eval::apply_autocomplete(&base.labels, &p, r),
                )
            })
            .collect(),
    };
    let u = base.report.untyped;
    let decided = scored.decide(&u);
    let t: Vec<&str> = truth.iter().map(|(_, t, _)| t.as_str()).collect();
    Ok(Some(ChineseReport {
        pages: scored.pages(&decided).len(),
        fields: truth.len(),
        page_argmax: scored.prf(&Untyped::ARGMAX, false),
        page: scored.prf(&u, false),
        per_type: field_eval::per_type(&base.labels, &t, &decided),
    }))
}

//! The demo: two ready projects in the cache dir so a new user sees the loop at once.
//! - `emoji.yuxuan`: a few hundred Noto emoji images (`assets::emoji_dir()`) in their 9
//!   categories, with a handful of seed labels per category so a first model can train.
//! - `forms.yuxuan`: a handful of H5 form pages: Chinese pages written here (recruitment, loan,
//!   insurance, education) and some Formasaurus pages, imported with `ingest::pages`; plus
//!   [`LABELLED_VARIANTS`] labelled pages of each of four industries ([`labelled_page`]: their
//!   industry and field types seeded as decisions), so the presets have confirmed pages and
//!   `yuxuan presets --evaluate` has pages to leave out.
//!
//! Building is idempotent: a project that exists is kept; each is built under a temporary name
//! and renamed when complete, so an interrupted build leaves nothing half-made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::domain::{sets, Action, ItemKind, NewDecision, NewItem, NewLabel, TaskKind};
use crate::jobs::JobCtx;
use crate::store::Store;

/// Images per category in the demo.
pub const PER_CATEGORY: usize = 40;
/// Seed labels per category (annotator `seed`), so training can start right away.
pub const SEEDS_PER_CATEGORY: usize = 5;

/// The emoji categories, in hotkey order, with a bilingual display name.
pub const CATEGORIES: [(&str, &str); 9] = [
    ("Smileys & Emotion", "笑脸 Smileys"),
    ("People & Body", "人物 People"),
    ("Animals & Nature", "动物自然 Animals"),
    ("Food & Drink", "食物 Food"),
    ("Travel & Places", "旅行 Travel"),
    ("Activities", "活动 Activities"),
    ("Objects", "物品 Objects"),
    ("Symbols", "符号 Symbols"),
    ("Flags", "旗帜 Flags"),
];

/// Where the demo lives: `<cache>/demo-v3` (v2: the form project carries the whole field-type
/// taxonomy, so every suggestion of the base model can be accepted; v3: the split region types
/// and card types, and labelled pages of four industries for the presets).
pub fn demo_dir() -> PathBuf {
    crate::assets::cache_dir().join("demo-v3")
}

pub fn image_project_path(dir: &Path) -> PathBuf {
    dir.join("emoji.yuxuan")
}

pub fn form_project_path(dir: &Path) -> PathBuf {
    dir.join("forms.yuxuan")
}

/// What `ensure` found or built.
#[derive(Debug, Clone)]
pub struct Demo {
    pub images: PathBuf,
    pub image_items: usize,
    /// The form project, or why it could not be built.
    pub forms: Result<PathBuf, String>,
}

impl Demo {
    pub fn summary(&self) -> String {
        let forms = match &self.forms {
            Ok(p) => p.display().to_string(),
            Err(e) => format!("not built ({e})"),
        };
        format!(
            "{} ({} images); forms: {forms}",
            self.images.display(),
            self.image_items
        )
    }
}

/// Build the demo projects in `dir` where missing.
pub fn ensure(dir: &Path, ctx: &JobCtx) -> anyhow::Result<Demo> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let images = image_project_path(dir);
    if !images.exists() {
        ctx.set_message("emoji project");
        build_image_project(&images, &crate::assets::emoji_dir(), ctx)?;
    }
    let image_items = Store::open(&images)?
        .item_counts(ItemKind::Image, sets::CLASS)?
        .total as usize;
    let forms_path = form_project_path(dir);
    let forms = if forms_path.exists() {
        Ok(forms_path)
    } else {
        ctx.set_message("form project");
        build_form_project(&forms_path, dir, ctx)
            .map(|_| forms_path)
            .map_err(|e| format!("{e:#}"))
    };
    Ok(Demo {
        images,
        image_items,
        forms,
    })
}

/// The emoji images chosen for the demo: (category, absolute path), `per_category` each, in
/// the emoji's sort order.
pub fn pick_emoji(emoji_dir: &Path, per_category: usize) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let json = emoji_dir.join("emoji.json");
    let text = std::fs::read_to_string(&json)
        .with_context(|| format!("reading {} ({})", json.display(), crate::assets::SETUP_HINT))?;
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", json.display()))?;
    let mut by_cat: BTreeMap<String, Vec<(i64, PathBuf)>> = BTreeMap::new();
    for e in &all {
        let (Some(cat), Some(img)) = (e["category"].as_str(), e["image"].as_str()) else {
            continue;
        };
        if cat == "Component" {
            continue;
        }
        let p = emoji_dir.join("img64").join(img);
        if p.is_file() {
            by_cat
                .entry(cat.to_string())
                .or_default()
                .push((e["sort_order"].as_i64().unwrap_or(0), p));
        }
    }
    let mut out = Vec::new();
    for (cat, _) in CATEGORIES {
        let mut v = by_cat.remove(cat).unwrap_or_default();
        v.sort_by_key(|(o, _)| *o);
        // Spread over the category rather than its first few.
        let step = (v.len() / per_category.max(1)).max(1);
        out.extend(
            v.into_iter()
                .step_by(step)
                .take(per_category)
                .map(|(_, p)| (cat.to_string(), p)),
        );
    }
    anyhow::ensure!(
        !out.is_empty(),
        "no emoji images under {} ({})",
        emoji_dir.display(),
        crate::assets::SETUP_HINT
    );
    Ok(out)
}

/// Build the emoji image project at `path` from `emoji_dir`.
pub fn build_image_project(path: &Path, emoji_dir: &Path, ctx: &JobCtx) -> anyhow::Result<()> {
    let picked = pick_emoji(emoji_dir, PER_CATEGORY)?;
    crate::fsutil::write_atomic(path, |tmp| -> anyhow::Result<()> {
        let mut store = Store::create(tmp, "Emoji demo", TaskKind::Image)?;
        let labels: Vec<NewLabel> = CATEGORIES
            .iter()
            .map(|(n, d)| NewLabel {
                name: n.to_string(),
                display_name: Some(d.to_string()),
                ..Default::default()
            })
            .collect();
        store.add_labels(sets::CLASS, &labels)?;
        ctx.set_total(picked.len() as u64);
        let mut items = Vec::with_capacity(picked.len());
        for (i, (_, p)) in picked.iter().enumerate() {
            ctx.check()?;
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            let mut it = NewItem::new(ItemKind::Image, p.display().to_string());
            it.content_hash = Some(blake3::hash(&bytes).to_hex().to_string());
            it.size_bytes = Some(bytes.len() as i64);
            if let Ok((w, h)) = image::image_dimensions(p) {
                it.width = Some(w as i64);
                it.height = Some(h as i64);
            }
            it.position = i as i64;
            items.push(it);
            ctx.inc(1);
        }
        let ids = store.insert_items(&items)?;
        // Seed labels: the first few of each category, so a first model can train at once.
        let mut seeded: BTreeMap<&str, usize> = BTreeMap::new();
        let mut seeds = Vec::new();
        for ((cat, _), ins) in picked.iter().zip(&ids) {
            let n = seeded.entry(cat.as_str()).or_default();
            if *n < SEEDS_PER_CATEGORY {
                *n += 1;
                seeds.push(NewDecision {
                    item_id: ins.id(),
                    label_set: sets::CLASS.into(),
                    label: Some(cat.clone()),
                    annotator: "seed".into(),
                    action: Action::Correct,
                    ms_spent: 0,
                    prediction_id: None,
                });
            }
        }
        store.record_decisions(&seeds)?;
        Ok(())
    })
}

/// Chinese H5 pages written into the demo (file name, HTML).
pub const CHINESE_PAGES: [(&str, &str); 4] = [
    (
        "zhaopin.html",
        r#"<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>高薪招聘 - 快速报名</title></head>
<body><h1>高薪招聘 仓库管理员</h1><form action="/apply" method="post">
<label for="xm">姓名</label><input id="xm" name="xingming" type="text" placeholder="请输入您的真实姓名">
<label for="sj">手机号码</label><input id="sj" name="mobile" type="tel" maxlength="11" placeholder="请输入11位手机号">
<label for="yzm">验证码</label><input id="yzm" name="code" type="text" placeholder="短信验证码"><button type="button">获取验证码</button>
<label for="xz">期望薪资</label><select id="xz" name="salary"><option>3000-5000元</option><option>5000-8000元</option><option>8000元以上</option></select>
<label for="dz">居住地址</label><input id="dz" name="addr" type="text" placeholder="省/市/区">
<button type="submit">立即报名</button></form></body></html>"#,
    ),
    (
        "daikuan.html",
        r#"<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>极速贷款 最高20万</title></head>
<body><h2>填写资料 立即测额度</h2><form id="loan">
<div class="row"><span>真实姓名</span><input name="realname" placeholder="与身份证一致"></div>
<div class="row"><span>身份证号</span><input name="idno" maxlength="18" placeholder="请输入18位身份证号码"></div>
<div class="row"><span>手机号</span><input name="phone" type="tel" placeholder="请输入手机号"></div>
<div class="row"><span>月收入</span><input name="income" type="number" placeholder="税后月收入（元）"></div>
<div class="row"><span>登录密码</span><input name="pwd" type="password" placeholder="6-16位密码"></div>
<input type="submit" value="立即申请"></form></body></html>"#,
    ),
    (
        "baoxian.html",
        r#"<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>百万医疗险 免费领取</title></head>
<body><h1>为家人领取保障</h1><form>
<p>被保险人姓名</p><input type="text" name="insured_name" placeholder="请输入姓名">
<p>证件号码</p><input type="text" name="cert_no" placeholder="身份证号">
<p>联系电话</p><input type="tel" name="tel" placeholder="手机号码">
<p>电子邮箱</p><input type="email" name="email" placeholder="用于接收电子保单">
<label><input type="checkbox" name="agree" checked> 我已阅读并同意《投保须知》</label>
<button type="submit">免费领取</button></form></body></html>"#,
    ),
    (
        "jiaoyu.html",
        r#"<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>少儿英语 免费试听课</title></head>
<body><h1>0元领取外教试听课</h1><form action="/book">
<input name="child_name" placeholder="孩子姓名" aria-label="孩子姓名">
<select name="age" aria-label="孩子年龄"><option>3-6岁</option><option>7-12岁</option></select>
<input name="parent_mobile" type="tel" placeholder="家长手机号" aria-label="家长手机号">
<input name="city" placeholder="所在城市" aria-label="所在城市">
<button>立即预约</button></form></body></html>"#,
    ),
];

/// Labelled demo pages per industry.
pub const LABELLED_VARIANTS: usize = 4;

/// The industries of the labelled demo pages.
pub const LABELLED_INDUSTRIES: [&str; 4] = ["recruiting", "insurance", "education", "real_estate"];

/// One row of a labelled page: caption, widget, field type, the variants that have it.
struct Row {
    caption: &'static str,
    widget: &'static str,
    field_type: &'static str,
    variants: &'static [usize],
}

const ALL: &[usize] = &[0, 1, 2, 3];

fn rows_of(industry: &str) -> (&'static [&'static str], Vec<Row>) {
    let r = |caption, widget, field_type, variants| Row {
        caption,
        widget,
        field_type,
        variants,
    };
    match industry {
        "recruiting" => (
            &[
                "高薪招聘 普工 包吃住",
                "仓库管理员招聘 简历投递",
                "求职登记 岗位推荐",
                "猎头职位 在线应聘",
            ],
            vec![
                r("姓名", "text", "name", ALL),
                r("手机号码", "tel", "phone", ALL),
                r("电子邮箱", "email", "email", &[0, 1, 2]),
                r("应聘职位", "select:普工,仓管,司机,文员", "job_title", ALL),
                r("期望工作城市", "select:北京,上海,深圳,成都", "city", ALL),
                r(
                    "期望薪资",
                    "select:5千以下,5千-8千,8千以上",
                    "salary_budget",
                    &[0, 2, 3],
                ),
                r("自我介绍", "textarea", "message", &[1]),
                r("投递简历", "submit", "submit", ALL),
            ],
        ),
        "insurance" => (
            &[
                "百万医疗险 免费领取",
                "重疾保险 投保",
                "意外险 保单登记",
                "少儿保险 理赔咨询",
            ],
            vec![
                r("被保险人姓名", "text", "name", ALL),
                r("身份证号", "idcard", "id_card", ALL),
                r("性别", "select:男,女", "gender", &[0, 1, 3]),
                r("出生日期", "date", "birthday", &[0, 2, 3]),
                r("手机号", "tel", "phone", ALL),
                r("电子邮箱", "email", "email", &[1]),
                r("我已阅读并同意《投保须知》", "checkbox", "agreement", ALL),
                r("立即投保", "submit", "submit", ALL),
            ],
        ),
        "education" => (
            &[
                "少儿英语 免费试听课",
                "编程课程 0元体验",
                "考研辅导 课程咨询",
                "钢琴培训 试听预约",
            ],
            vec![
                r("学员姓名", "text", "name", ALL),
                r("家长手机号", "tel", "phone", ALL),
                r("短信验证码", "code", "sms_code", &[0, 1, 3]),
                r("所在地区", "picker", "region", ALL),
                r("试听时间", "date", "datetime", ALL),
                r("备注", "textarea", "message", &[2]),
                r(
                    "我已阅读并同意《用户协议》",
                    "checkbox",
                    "agreement",
                    &[0, 2, 3],
                ),
                r("预约试听", "submit", "submit", ALL),
            ],
        ),
        _ => (
            &[
                "滨江壹号 看房预约",
                "新房楼盘 购房登记",
                "二手房 房源咨询",
                "学区房 置业顾问",
            ],
            vec![
                r("您的称呼", "text", "name", ALL),
                r("联系电话", "tel", "phone", ALL),
                r("短信验证码", "code", "sms_code", &[1, 2, 3]),
                r(
                    "购房预算",
                    "select:200万以下,200-400万,400万以上",
                    "salary_budget",
                    ALL,
                ),
                r("意向区域", "picker", "region", ALL),
                r("看房时间", "date", "datetime", &[0, 1, 2]),
                r("留言", "textarea", "message", &[3]),
                r("预约看房", "submit", "submit", ALL),
            ],
        ),
    }
}

/// A labelled demo page of `industry` (variant `v`): its HTML and the true type of each field
/// in page order. Variants differ in which optional fields they ask for and in markup (label
/// for=, table cells, placeholders only, wrapping labels).
pub fn labelled_page(industry: &str, v: usize) -> (String, Vec<&'static str>) {
    let (titles, rows) = rows_of(industry);
    let title = titles[v % titles.len()];
    let mut body = String::new();
    let mut truth = Vec::new();
    for (i, row) in rows.iter().filter(|r| r.variants.contains(&v)).enumerate() {
        let c = row.caption;
        let input = match row.widget {
            "submit" => {
                body.push_str(&format!("<button type=\"submit\">{c}</button>"));
                truth.push(row.field_type);
                continue;
            }
            "checkbox" => {
                body.push_str(&format!(
                    "<div><label><input type=\"checkbox\" name=\"agree\">{c}</label></div>"
                ));
                truth.push(row.field_type);
                continue;
            }
            "textarea" => format!("<textarea id=\"f{i}\" name=\"f{i}\"></textarea>"),
            "picker" => format!(
                "<input id=\"f{i}\" name=\"area\" type=\"text\" readonly placeholder=\"请选择省市区\">"
            ),
            "tel" => format!("<input id=\"f{i}\" name=\"mobile\" type=\"tel\" maxlength=\"11\">"),
            "code" => format!("<input id=\"f{i}\" name=\"code\" type=\"text\" maxlength=\"6\">"),
            "idcard" => format!("<input id=\"f{i}\" name=\"idno\" type=\"text\" maxlength=\"18\">"),
            w if w.starts_with("select:") => format!(
                "<select id=\"f{i}\" name=\"f{i}\"><option value=\"\">请选择</option>{}</select>",
                w[7..]
                    .split(',')
                    .map(|o| format!("<option>{o}</option>"))
                    .collect::<String>()
            ),
            w => format!("<input id=\"f{i}\" name=\"f{i}\" type=\"{w}\">"),
        };
        let row_html = match (v + i) % 4 {
            0 => format!("<div class=\"row\"><label for=\"f{i}\">{c}</label>{input}</div>"),
            1 => format!("<table><tr><td>{c}：</td><td>{input}</td></tr></table>"),
            2 if row.widget != "picker" && !row.widget.starts_with("select:") => {
                format!(
                    "<div class=\"item\">{}</div>",
                    input.replacen(
                        &format!("id=\"f{i}\""),
                        &format!("id=\"f{i}\" placeholder=\"请输入{c}\""),
                        1,
                    )
                )
            }
            _ => format!("<label class=\"cell\"><span>{c}</span>{input}</label>"),
        };
        body.push_str(&row_html);
        truth.push(row.field_type);
    }
    let html = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h2>{title}</h2><form>{body}</form></body></html>"
    );
    (html, truth)
}

fn labelled_file(industry: &str, v: usize) -> String {
    format!("labelled-{industry}-{v}.html")
}

/// Seed the labelled demo pages' industries and field types (annotator `seed`).
fn seed_labelled_pages(store: &mut Store) -> anyhow::Result<()> {
    let mut by_name: BTreeMap<String, i64> = BTreeMap::new();
    for it in store.items_of_kind(ItemKind::Page)? {
        if let Some(f) = Path::new(&it.source_path).file_name() {
            by_name.insert(f.to_string_lossy().to_string(), it.id);
        }
    }
    let mut seeds = Vec::new();
    let seed = |item_id, set: &str, label: &str| NewDecision {
        item_id,
        label_set: set.into(),
        label: Some(label.into()),
        annotator: "seed".into(),
        action: Action::Correct,
        ms_spent: 0,
        prediction_id: None,
    };
    for industry in LABELLED_INDUSTRIES {
        for v in 0..LABELLED_VARIANTS {
            let Some(&page) = by_name.get(&labelled_file(industry, v)) else {
                continue;
            };
            let truth = labelled_page(industry, v).1;
            let fields = store.children(page)?;
            anyhow::ensure!(
                fields.len() == truth.len(),
                "demo page {}: {} fields extracted, {} labelled",
                labelled_file(industry, v),
                fields.len(),
                truth.len()
            );
            seeds.push(seed(page, sets::INDUSTRY, industry));
            for (f, t) in fields.iter().zip(&truth) {
                seeds.push(seed(f.id, sets::FIELD_TYPE, t));
            }
        }
    }
    store.record_decisions(&seeds)?;
    Ok(())
}

/// Formasaurus pages copied into the demo (by index in `html/`).
const FORMASAURUS_PAGES: [usize; 6] = [0, 1, 2, 3, 5, 8];

/// Build the form project at `path`, writing its pages under `dir/pages`.
pub fn build_form_project(path: &Path, dir: &Path, ctx: &JobCtx) -> anyhow::Result<()> {
    let pages = dir.join("pages");
    std::fs::create_dir_all(&pages)?;
    for (name, html) in CHINESE_PAGES {
        std::fs::write(pages.join(name), html)?;
    }
    for industry in LABELLED_INDUSTRIES {
        for v in 0..LABELLED_VARIANTS {
            std::fs::write(
                pages.join(labelled_file(industry, v)),
                labelled_page(industry, v).0,
            )?;
        }
    }
    let fz = crate::assets::formasaurus_dir().join("html");
    for i in FORMASAURUS_PAGES {
        let src = fz.join(format!("{i}.html"));
        if src.is_file() {
            std::fs::copy(&src, pages.join(format!("formasaurus-{i}.html")))?;
        }
    }
    crate::fsutil::write_atomic(path, |tmp| -> anyhow::Result<()> {
        let mut store = Store::create(tmp, "H5 forms demo", TaskKind::Form)?;
        // The same labels as `yuxuan new --kind form`: the taxonomy the base model predicts.
        if store.labels(sets::FIELD_TYPE)?.is_empty() {
            store.add_labels(sets::FIELD_TYPE, &crate::taxonomy::default_field_types())?;
        }
        if store.labels(sets::INDUSTRY)?.is_empty() {
            store.add_labels(sets::INDUSTRY, &crate::taxonomy::default_industries())?;
        }
        crate::ingest::pages::import_paths(
            &mut store,
            std::slice::from_ref(&pages),
            &Default::default(),
            ctx,
        )?;
        seed_labelled_pages(&mut store)?;
        Ok(())
    })
}

/// Train a first model on the seed labels and pre-label the project with it, when the
/// project has no active model yet and a model family is available. Returns what happened.
pub fn first_model(path: &Path, ctx: &JobCtx) -> anyhow::Result<String> {
    let mut store = Store::open(path)?;
    let set = crate::review::main_label_set(store.project()?.kind);
    if store.active_model(set)?.is_some() {
        return Ok("a model is already active".into());
    }
    if set != sets::CLASS {
        // Forms: the base field-type model (trained on Formasaurus, registered on first use)
        // pre-labels every field; no human labels are needed for it.
        let done = crate::ml::project::prelabel(&mut store, ctx)?;
        return Ok(done
            .iter()
            .map(|p| {
                format!(
                    "{}: model v{} pre-labelled {} items",
                    p.label_set, p.version, p.items
                )
            })
            .collect::<Vec<_>>()
            .join("; "));
    }
    let cfg = crate::ml::train::TrainConfig {
        epochs: 40,
        ..Default::default()
    };
    let act = crate::ml::family::Activation::Always;
    // Images: cached embeddings first, then the project's image mode.
    let report = crate::ml::project::train(&mut store, set, None, &cfg, act, ctx)?;
    let n = crate::ml::project::predicted(&crate::ml::project::prelabel(&mut store, ctx)?);
    Ok(format!(
        "model v{} (hold-out accuracy {:.2}) pre-labelled {n} items",
        report.model.version, report.metrics.accuracy
    ))
}

/// [`first_model`] for both demo projects (the form project when it was built); one line
/// per project.
pub fn first_models(demo: &Demo, ctx: &JobCtx) -> anyhow::Result<String> {
    let mut lines = vec![format!("images: {}", first_model(&demo.images, ctx)?)];
    if let Ok(forms) = &demo.forms {
        lines.push(format!("forms: {}", first_model(forms, ctx)?));
    }
    Ok(lines.join("\n"))
}

//! The desktop app driven through egui_kittest (no display): the real screens, real keys and
//! clicks, and the database checked afterwards. Accept with a key, correct with a digit, undo,
//! filter switch, bulk accept, start + cancel training (with a tiny model family defined here).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use egui::Key;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use tch::{nn, nn::Module, Tensor};
use yuxuan::domain::{Action, ItemKind, ModelInfo, NewItem, NewLabel, RunStatus, TaskKind};
use yuxuan::jobs::JobCtx;
use yuxuan::ml::family::ModelFamily;
use yuxuan::ml::train::{save_var_store_atomic, TrainTask};
use yuxuan::queue::Filter;
use yuxuan::store::predictions::NewPrediction;
use yuxuan::store::Store;
use yuxuan::ui::{App, Prefs, Screen};

use crate::common;

const LABELS: [&str; 3] = ["cat", "dog", "bird"];

/// A project with `n` real 8x8 PNG images; item i is "truly" LABELS[i % 3] (meta `f` is a
/// one-hot feature of it) and predicted as that label with a score falling with i.
fn project(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("ui.yuxuan");
    project_at(&path, dir, n);
    path
}

/// The same project at a location (a file or a team URL), its images in `dir/img`.
fn project_at(path: &Path, dir: &Path, n: usize) {
    let mut store = Store::create(path, "ui test", TaskKind::Image).unwrap();
    store
        .add_labels(
            "class",
            &LABELS
                .iter()
                .map(|l| NewLabel::named(*l))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let imgdir = dir.join("img");
    std::fs::create_dir_all(&imgdir).unwrap();
    let mut items = Vec::new();
    for i in 0..n {
        let c = i % 3;
        let file = imgdir.join(format!("{i:03}.png"));
        let mut img = image::RgbaImage::new(8, 8);
        for p in img.pixels_mut() {
            *p = image::Rgba([(c * 120) as u8, (i * 7 % 255) as u8, 200, 255]);
        }
        img.save(&file).unwrap();
        let mut it = NewItem::new(ItemKind::Image, file.display().to_string());
        it.content_hash = Some(format!("h{i}"));
        let mut f = vec![0.0f32; 3];
        f[c] = 1.0;
        it.meta = serde_json::json!({ "f": f });
        it.position = i as i64;
        items.push(it);
    }
    let ids = store.insert_items(&items).unwrap();
    let preds: Vec<NewPrediction> = ids
        .iter()
        .enumerate()
        .map(|(i, ins)| {
            let s = 0.95 - i as f64 * 0.01;
            NewPrediction {
                item_id: ins.id(),
                top: vec![
                    (LABELS[i % 3].to_string(), s),
                    (LABELS[(i + 1) % 3].to_string(), 1.0 - s),
                ],
            }
        })
        .collect();
    store.put_predictions("class", None, &preds).unwrap();
}

fn harness(app: App) -> Harness<'static, App> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .with_max_steps(500)
        .with_accessibility_check(false)
        // The real fonts (CJK included): kittest fails on any glyph it cannot draw.
        .with_context_setup(|ctx| {
            yuxuan::ui::fonts::install(ctx).expect("a CJK font is installed (make setup)");
        })
        .build_ui_state(|ui, app: &mut App| app.show(ui), app)
}

fn app_on(path: &Path) -> App {
    App::new(
        Prefs {
            annotator: "tester".into(),
            ..Default::default()
        },
        Some(path.to_path_buf()),
    )
}

/// Let frames run until the project is open and the review worker answered everything.
fn settle(h: &mut Harness<'_, App>) {
    for _ in 0..1500 {
        h.run_ok();
        if !h.state().is_opening() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!h.state().is_opening(), "the project did not open in time");
    for _ in 0..3 {
        h.run_ok();
        if let Some(p) = h.state_mut().project.as_mut() {
            let ok = p.review.wait_idle(Duration::from_secs(30));
            assert!(
                ok,
                "review worker did not settle: in flight {}, queue {}, current {:?} loaded {}",
                p.review.in_flight(),
                p.review.queue().len(),
                p.review.current_id(),
                p.review.current().is_some()
            );
        }
    }
    h.run_ok();
}

fn current(h: &Harness<'_, App>) -> i64 {
    h.state()
        .project
        .as_ref()
        .unwrap()
        .review
        .current_id()
        .unwrap()
}

#[test]
fn accept_with_enter_records_the_suggestion_and_shows_saved() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), 12);
    let mut h = harness(app_on(&path));
    settle(&mut h);
    let first = current(&h);
    h.key_press(Key::Enter);
    settle(&mut h);
    assert_ne!(current(&h), first, "the next item is shown");
    let store = Store::open(&path).unwrap();
    let ds = store.decisions_for_item(first).unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].action, Action::Accept);
    assert_eq!(ds[0].annotator, "tester");
    assert!(ds[0].prediction_id.is_some());
    let suggested = store
        .prediction(first, "class", None)
        .unwrap()
        .unwrap()
        .label;
    assert_eq!(
        store.current_label(first, "class").unwrap(),
        Some(suggested)
    );
    h.get_by_label_contains("saved");
    // A: accept too.
    let second = current(&h);
    h.key_press(Key::A);
    settle(&mut h);
    assert_eq!(
        Store::open(&path)
            .unwrap()
            .decisions_for_item(second)
            .unwrap()[0]
            .action,
        Action::Accept
    );
}

#[test]
fn a_digit_corrects_and_reject_then_pick_corrects() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), 12);
    let mut h = harness(app_on(&path));
    settle(&mut h);
    let first = current(&h);
    let store = Store::open(&path).unwrap();
    let suggested = store
        .prediction(first, "class", None)
        .unwrap()
        .unwrap()
        .label;
    let (digit, other) = if suggested == "bird" {
        (Key::Num1, "cat")
    } else {
        (Key::Num3, "bird")
    };
    h.key_press(digit);
    settle(&mut h);
    let ds = store.decisions_for_item(first).unwrap();
    assert_eq!(
        (ds[0].action, ds[0].label.as_deref()),
        (Action::Correct, Some(other))
    );
    assert_eq!(
        store.current_label(first, "class").unwrap().as_deref(),
        Some(other)
    );
    // X then 2: a reject row, then a correction with label 2 (dog).
    let second = current(&h);
    h.key_press(Key::X);
    settle(&mut h);
    assert_eq!(
        current(&h),
        second,
        "reject stays on the item until a label is picked"
    );
    h.key_press(Key::Num2);
    settle(&mut h);
    let ds = store.decisions_for_item(second).unwrap();
    let actions: Vec<Action> = ds.iter().map(|d| d.action).collect();
    assert_eq!(actions, vec![Action::Reject, Action::Correct]);
    assert_eq!(
        store.current_label(second, "class").unwrap().as_deref(),
        Some("dog")
    );
    // The time spent is recorded.
    assert!(ds.iter().all(|d| d.ms_spent >= 0));
}

#[test]
fn undo_and_redo_with_keys_and_buttons_go_back_to_the_item() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), 12);
    let mut h = harness(app_on(&path));
    settle(&mut h);
    let first = current(&h);
    h.key_press(Key::Enter);
    settle(&mut h);
    h.key_press(Key::Num2);
    settle(&mut h);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.current_labels("class").unwrap().len(), 2);
    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::Z);
    settle(&mut h);
    h.get_by_label("Undo").click();
    settle(&mut h);
    assert_eq!(
        store.current_labels("class").unwrap().len(),
        0,
        "both decisions undone"
    );
    assert_eq!(current(&h), first, "undo goes back to the undone item");
    h.key_press_modifiers(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, Key::Z);
    settle(&mut h);
    assert!(
        store.current_label(first, "class").unwrap().is_some(),
        "redo restores the label"
    );
    let undos = store
        .all_decisions()
        .unwrap()
        .iter()
        .filter(|d| d.action == Action::Undo)
        .count();
    assert_eq!(undos, 2);
}

#[test]
fn switching_the_filter_rebuilds_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), 15);
    let mut h = harness(app_on(&path));
    settle(&mut h);
    assert_eq!(h.state().project.as_ref().unwrap().review.queue().len(), 15);
    h.get_by_value("Unlabeled").click();
    h.run_ok();
    h.get_by_label("Predicted as dog").click();
    settle(&mut h);
    let review = &h.state().project.as_ref().unwrap().review;
    assert_eq!(review.spec().filter, Filter::PredictedAs("dog".into()));
    let store = Store::open(&path).unwrap();
    assert_eq!(review.queue().len(), 5);
    for id in review.queue() {
        assert_eq!(
            store.prediction(*id, "class", None).unwrap().unwrap().label,
            "dog"
        );
    }
    let first = current(&h);
    h.key_press(Key::Enter);
    settle(&mut h);
    assert_eq!(
        store.current_label(first, "class").unwrap().as_deref(),
        Some("dog")
    );
}

#[test]
fn bulk_accept_accepts_the_ticked_items_in_one_go() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), 18);
    let mut h = harness(app_on(&path));
    settle(&mut h);
    // The current item (most uncertain) is predicted as some label: open its bulk grid.
    h.get_by_label("Bulk accept …").click();
    settle(&mut h);
    assert_eq!(h.state().screen, Screen::Bulk);
    let (label, items) = {
        let b = h
            .state()
            .project
            .as_ref()
            .unwrap()
            .review
            .bulk
            .clone()
            .unwrap();
        (b.label.clone(), b.items.unwrap())
    };
    assert_eq!(items.len(), 6);
    assert!(
        items.windows(2).all(|w| w[0].score >= w[1].score),
        "most confident first"
    );
    // Ticked from the calibrated threshold on (the fallback when the model has none).
    let threshold = h.state().project.as_ref().unwrap().review.bulk_threshold;
    assert!(items.iter().all(|i| i.ticked == (i.score >= threshold)));
    // Tick every item, then untick one: the rest are accepted.
    for it in items.iter().filter(|i| !i.ticked) {
        h.get_by_label_contains(&format!("#{} ", it.item_id))
            .click();
        h.run_ok();
    }
    let wrong = items[1].item_id;
    h.get_by_label_contains(&format!("#{wrong} ")).click();
    h.run_ok();
    h.get_by_label("Accept all ticked").click();
    settle(&mut h);
    let store = Store::open(&path).unwrap();
    let labels = store.current_labels("class").unwrap();
    assert_eq!(labels.len(), 5);
    assert!(labels.iter().all(|(id, l)| *l == label && *id != wrong));
    assert_eq!(
        store.current_label(wrong, "class").unwrap(),
        None,
        "the unticked item stays unlabeled"
    );
}

/// A tiny model family over the items' `f` features (a linear head), slowed down per batch
/// so a test can cancel it mid-way.
struct TinyFamily {
    delay: Duration,
}

struct TinyTask {
    vs: nn::VarStore,
    lin: nn::Linear,
    x: Tensor,
    delay: Duration,
}

impl TrainTask for TinyTask {
    fn forward(&self, idx: &[usize], train: bool) -> anyhow::Result<Tensor> {
        if train {
            std::thread::sleep(self.delay);
        }
        let i = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>());
        Ok(self.lin.forward(&self.x.index_select(0, &i)))
    }
    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
}

fn features(store: &Store, items: &[i64]) -> anyhow::Result<Tensor> {
    let mut xs = Vec::new();
    for id in items {
        let it = store
            .item(*id)?
            .ok_or_else(|| anyhow::anyhow!("no item {id}"))?;
        let f: Vec<f32> = serde_json::from_value(it.meta["f"].clone())?;
        xs.extend(f);
    }
    Ok(Tensor::from_slice(&xs).view([items.len() as i64, 3]))
}

fn tiny_task(store: &Store, items: &[i64], k: usize, delay: Duration) -> anyhow::Result<TinyTask> {
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let lin = nn::linear(vs.root() / "fc", 3, k as i64, Default::default());
    Ok(TinyTask {
        x: features(store, items)?,
        vs,
        lin,
        delay,
    })
}

impl ModelFamily for TinyFamily {
    fn label_set(&self) -> &str {
        "class"
    }
    fn kind(&self) -> &str {
        "tiny-test"
    }
    fn prepare(
        &self,
        store: &Store,
        items: &[i64],
        labels: &[String],
        _parent: Option<&ModelInfo>,
    ) -> anyhow::Result<Box<dyn TrainTask>> {
        Ok(Box::new(tiny_task(store, items, labels.len(), self.delay)?))
    }
    fn predict(
        &self,
        store: &Store,
        model: &ModelInfo,
        items: &[i64],
        _ctx: &JobCtx,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let mut task = tiny_task(store, items, model.labels.len(), Duration::ZERO)?;
        let path = yuxuan::ml::family::weights_path(store, model)
            .ok_or_else(|| anyhow::anyhow!("no weights"))?;
        task.vs.load(&path)?;
        let idx: Vec<usize> = (0..items.len()).collect();
        yuxuan::ml::train::predict_proba(&task, &idx, 64)
    }
    fn save(&self, task: &dyn TrainTask, path: &Path) -> anyhow::Result<serde_json::Value> {
        save_var_store_atomic(task.var_store(), path)?;
        Ok(serde_json::json!({ "features": 3 }))
    }
    fn candidate_items(&self, store: &Store) -> anyhow::Result<Vec<i64>> {
        Ok(store
            .items_of_kind(ItemKind::Image)?
            .into_iter()
            .map(|i| i.id)
            .collect())
    }
}

fn tiny_app(path: &Path, delay: Duration) -> App {
    app_on(path).with_family_factory(Arc::new(move |_store: &Store, _set: &str| {
        Ok(Box::new(TinyFamily { delay }) as Box<dyn ModelFamily>)
    }))
}

/// Label every item with its true class through the store (as earlier sessions would have).
fn label_all(path: &Path) {
    let mut store = Store::open(path).unwrap();
    let items = store.items_of_kind(ItemKind::Image).unwrap();
    let ds: Vec<_> = items
        .iter()
        .enumerate()
        .map(|(i, it)| yuxuan::domain::NewDecision {
            item_id: it.id,
            label_set: "class".into(),
            label: Some(LABELS[i % 3].into()),
            annotator: "earlier".into(),
            action: Action::Correct,
            ms_spent: 500,
            prediction_id: None,
        })
        .collect();
    store.record_decisions(&ds).unwrap();
}

fn wait_training(h: &mut Harness<'_, App>, done: impl Fn(&App) -> bool) {
    for _ in 0..600 {
        h.run_ok();
        if done(h.state()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("training did not reach the expected state in time");
}

#[test]
fn training_starts_and_cancels_from_the_training_screen() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), 30);
    label_all(&path);
    let mut h = harness(tiny_app(&path, Duration::from_millis(100)));
    settle(&mut h);
    h.get_by_label("Training").click();
    h.run_ok();
    h.get_by_label("Train").click();
    wait_training(&mut h, |a| {
        a.project
            .as_ref()
            .and_then(|p| p.training.as_ref())
            .and_then(|t| t.progress())
            .is_some_and(|s| s.done >= 2)
    });
    h.get_by_label("Cancel").click();
    wait_training(&mut h, |a| {
        !a.project
            .as_ref()
            .unwrap()
            .training
            .as_ref()
            .unwrap()
            .is_training()
    });
    let store = Store::open(&path).unwrap();
    let runs = store.training_runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Cancelled);
    assert!(
        store.models("class").unwrap().is_empty(),
        "a cancelled run registers no model"
    );
    h.get_by_label_contains("training cancelled");
}

#[test]
fn training_to_the_end_activates_and_prelabels() {
    common::on_both_backends("ui-train", |loc| {
        let dir = tempfile::tempdir().unwrap();
        project_at(loc, dir.path(), 30);
        train_to_the_end(loc);
    });
}

fn train_to_the_end(path: &Path) {
    label_all(path);
    let mut h = harness(tiny_app(path, Duration::ZERO));
    settle(&mut h);
    h.get_by_label("Training").click();
    h.run_ok();
    h.get_by_label("Train").click();
    wait_training(&mut h, |a| {
        let t = a.project.as_ref().unwrap().training.as_ref().unwrap();
        !t.is_training() && !t.is_prelabeling() && t.outcome.is_some()
    });
    let store = Store::open(path).unwrap();
    let runs = store.training_runs().unwrap();
    assert_eq!(runs[0].status, RunStatus::Succeeded, "{:?}", runs[0].error);
    let active = store
        .active_model("class")
        .unwrap()
        .expect("the first model is activated");
    assert_eq!(active.kind, "tiny-test");
    assert_eq!(
        store
            .predicted_item_ids("class", Some(active.id))
            .unwrap()
            .len(),
        30,
        "pre-labelled after activation"
    );
    let t = h
        .state()
        .project
        .as_ref()
        .unwrap()
        .training
        .as_ref()
        .unwrap();
    assert_eq!(t.epochs.len(), 30, "the loss curve has every epoch");
    h.get_by_label("Confusion matrix");
    // One model: its numbers as text, not a lone dot on a chart.
    h.get_by_label_contains("the chart starts with the second model");
    if store.is_team() {
        assert!(
            store.model_file(active.id).unwrap().is_some(),
            "weights on the server"
        );
    }
}

#[test]
fn insights_count_labels_annotators_and_accept_rate() {
    common::on_both_backends("ui-insights", |loc| {
        let dir = tempfile::tempdir().unwrap();
        project_at(loc, dir.path(), 12);
        insights_body(loc);
    });
}

fn insights_body(path: &Path) {
    let mut h = harness(app_on(path));
    settle(&mut h);
    h.key_press(Key::Enter);
    settle(&mut h);
    h.key_press(Key::Enter);
    settle(&mut h);
    h.key_press(Key::Num1);
    settle(&mut h);
    let store = Store::open(path).unwrap();
    let ins = yuxuan::review::insights::compute(&store, "class").unwrap();
    assert_eq!(ins.distribution.iter().map(|(_, n)| n).sum::<usize>(), 3);
    assert_eq!(ins.annotators.len(), 1);
    let a = &ins.annotators[0];
    assert_eq!((a.name.as_str(), a.labeled), ("tester", 3));
    assert_eq!(a.accepts + a.corrects, 3);
    assert_eq!(ins.accept_rate_by_day.len(), 1);
    let rate = ins.accept_rate_by_day[0].accept_rate;
    assert!((rate - a.accepts as f64 / 3.0).abs() < 1e-9);
    // The screen shows it.
    h.get_by_label("Insights").click();
    for _ in 0..50 {
        h.run_ok();
        if h.query_by_label("Label distribution").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    h.get_by_label("Label distribution");
}

#[test]
fn the_chinese_ui_renders_with_the_cjk_font() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), 3);
    let mut app = app_on(&path);
    app.prefs.lang = yuxuan::ui::i18n::Lang::Zh;
    let mut h = harness(app);
    settle(&mut h);
    h.get_by_label("接受").click();
    settle(&mut h);
    assert_eq!(
        Store::open(&path)
            .unwrap()
            .current_labels("class")
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn the_demo_image_project_is_built_once_from_the_emoji_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("emoji.yuxuan");
    yuxuan::demo::build_image_project(&path, &yuxuan::assets::emoji_dir(), &JobCtx::new("demo"))
        .unwrap();
    let store = Store::open(&path).unwrap();
    let labels = store.labels("class").unwrap();
    assert_eq!(labels.len(), 9);
    assert_eq!(labels[0].shown(), "笑脸 Smileys");
    let items = store.items_of_kind(ItemKind::Image).unwrap();
    assert_eq!(items.len(), 9 * yuxuan::demo::PER_CATEGORY);
    assert!(items
        .iter()
        .all(|i| i.width == Some(64) && Path::new(&i.source_path).is_file()));
    assert_eq!(
        store.current_labels("class").unwrap().len(),
        9 * yuxuan::demo::SEEDS_PER_CATEGORY
    );
    drop(store);
    // ensure() keeps an existing project as it is.
    let demo = yuxuan::demo::ensure(dir.path(), &JobCtx::new("demo")).unwrap();
    assert_eq!(demo.image_items, 9 * yuxuan::demo::PER_CATEGORY);
    assert_eq!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("building")
            })
            .count(),
        0,
        "no half-built project left"
    );
}

#[test]
fn the_frame_benchmark_drives_the_real_review_screen() {
    let dir = tempfile::tempdir().unwrap();
    let b = yuxuan::ui::frame_time_bench(dir.path(), 2_000, 20).unwrap();
    assert_eq!(b.frames, 20);
    assert_eq!(b.decisions, 20, "every key press became a saved decision");
    assert!(b.p50_ms <= b.p95_ms && b.p95_ms <= b.max_ms);
}

/// The numbers for the report (100k items): `cargo test --test integration ui::frame_bench_100k -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark: prints frame times with 100k items"]
fn frame_bench_100k() {
    let dir = tempfile::tempdir().unwrap();
    let b = yuxuan::ui::frame_time_bench(dir.path(), 100_000, 200).unwrap();
    println!("{b} (setup {:.1}s)", b.setup_s);
    assert_eq!(b.decisions, 200);
}

/// A form project built through the store: one Chinese page with three fields, field-type and
/// industry suggestions.
fn form_project(dir: &Path) -> (PathBuf, i64, Vec<i64>) {
    use yuxuan::domain::FieldRecord;
    let path = dir.join("forms.yuxuan");
    let mut store = Store::create(&path, "forms", TaskKind::Form).unwrap();
    store
        .add_labels(
            "field_type",
            &["phone", "id_card", "name"].map(NewLabel::named),
        )
        .unwrap();
    store
        .add_labels("industry", &["finance", "recruitment"].map(NewLabel::named))
        .unwrap();
    let mut page = NewItem::new(ItemKind::Page, "pages/daikuan.html");
    page.meta = serde_json::json!({ "title": "极速贷款 最高20万" });
    let page_id = store.insert_items(&[page]).unwrap()[0].id();
    let fields: Vec<NewItem> = [
        ("手机号", "phone", "tel"),
        ("身份证号", "idno", "text"),
        ("真实姓名", "realname", "text"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (label, name, ty))| {
        let rec = FieldRecord {
            tag: "input".into(),
            input_type: Some(ty.to_string()),
            name: Some(name.to_string()),
            label: Some(label.to_string()),
            placeholder: Some(format!("请输入{label}")),
            position: i,
            ..Default::default()
        };
        let mut it = NewItem::new(ItemKind::Field, "pages/daikuan.html");
        it.parent_id = Some(page_id);
        it.position = i as i64;
        it.meta = serde_json::to_value(&rec).unwrap();
        it
    })
    .collect();
    let field_ids: Vec<i64> = store
        .insert_items(&fields)
        .unwrap()
        .iter()
        .map(|i| i.id())
        .collect();
    let truth = ["phone", "id_card", "name"];
    let preds: Vec<NewPrediction> = field_ids
        .iter()
        .zip(truth)
        .enumerate()
        .map(|(i, (id, t))| NewPrediction {
            item_id: *id,
            top: vec![(t.to_string(), 0.9 - i as f64 * 0.2), ("name".into(), 0.05)],
        })
        .collect();
    store.put_predictions("field_type", None, &preds).unwrap();
    store
        .put_predictions(
            "industry",
            None,
            &[NewPrediction {
                item_id: page_id,
                top: vec![("finance".into(), 0.8), ("recruitment".into(), 0.2)],
            }],
        )
        .unwrap();
    (path, page_id, field_ids)
}

#[test]
fn forms_review_shows_the_page_fields_and_industry_and_records_both() {
    let dir = tempfile::tempdir().unwrap();
    let (path, page_id, fields) = form_project(dir.path());
    let mut h = harness(app_on(&path));
    settle(&mut h);
    // The page's title, every field in page order with its context, the industry suggestion.
    h.get_by_label("极速贷款 最高20万");
    // In the rendered page and in the field list.
    assert!(h.get_all_by_label_contains("身份证号").count() >= 2);
    h.get_by_label_contains("name=realname");
    h.get_by_label_contains("finance 80%");
    // The most uncertain field comes first; Enter accepts its suggested type.
    let first = current(&h);
    assert!(fields.contains(&first));
    h.key_press(Key::Enter);
    settle(&mut h);
    let store = Store::open(&path).unwrap();
    let suggested = store
        .prediction(first, "field_type", None)
        .unwrap()
        .unwrap()
        .label;
    assert_eq!(
        store.current_label(first, "field_type").unwrap(),
        Some(suggested)
    );
    // Accept the page industry from the bar on top.
    let accepts = h.get_all_by_label("Accept").count();
    assert_eq!(accepts, 2, "industry accept and field accept");
    // The decide panel is drawn first; the industry bar's button is the last.
    h.get_all_by_label("Accept").last().unwrap().click();
    settle(&mut h);
    assert_eq!(
        store.current_label(page_id, "industry").unwrap().as_deref(),
        Some("finance")
    );
}

#[test]
fn the_export_dialog_writes_the_chosen_format_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), 9);
    let mut h = harness(app_on(&path));
    settle(&mut h);
    h.key_press(Key::Enter);
    settle(&mut h);
    h.key_press(Key::Num2);
    settle(&mut h);
    h.get_by_label("Export").click();
    h.run_ok();
    let out = dir.path().join("out");
    let field = h.get_by_role(egui::accesskit::Role::TextInput);
    field.focus();
    field.type_text(&out.display().to_string());
    h.run_ok();
    h.get_by_label("Start export").click();
    let manifest = out.join(yuxuan::exchange::MANIFEST);
    for _ in 0..300 {
        h.run_ok();
        if manifest.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(manifest.is_file(), "the export finished with its manifest");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        text.contains("\"human\": 2") || text.contains("\"human\":2"),
        "{text}"
    );
}

#[test]
fn the_presets_screen_proposes_fields_for_an_industry() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = form_project(dir.path());
    let mut h = harness(app_on(&path));
    settle(&mut h);
    h.get_by_label("Presets").click();
    h.run_ok();
    h.get_by_label("finance").click();
    for _ in 0..200 {
        h.run_ok();
        if h.query_by_label_contains(" pages").is_some()
            || h.query_by_label_contains("unknown").is_some()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    h.get_by_label_contains(" pages");
    h.get_by_label("JSON");
}

#[test]
fn the_presets_screen_shows_the_leave_one_page_out_figures() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forms.yuxuan");
    yuxuan::demo::build_form_project(&path, dir.path(), &yuxuan::jobs::JobCtx::new("demo"))
        .unwrap();
    let mut h = harness(app_on(&path));
    settle(&mut h);
    h.get_by_label("Presets").click();
    h.run_ok();
    h.get_by_label("Evaluate presets").click();
    for _ in 0..500 {
        h.run_ok();
        if h.query_by_label_contains("Targets").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The demo's four industries meet the targets; each row shows its figures.
    h.get_by_label("Targets met: recall ≥ 0.8 at precision ≥ 0.7");
    h.get_by_label("all industries");
    // precision 0.84 (by industry) in each of the four rows and the overall one.
    assert!(h.query_all_by_label("0.84").count() >= 5);
}

#[test]
fn a_startup_job_runs_behind_a_window_that_is_already_usable() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), 6);
    // The job (in `make run`: the demo's first model) holds until the test lets it go.
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let p2 = path.clone();
    let app = app_on(&path).with_startup_job(yuxuan::ui::StartupJob {
        name: "first model".into(),
        work: Box::new(move |ctx| {
            ctx.set_message("training");
            wait.recv_timeout(Duration::from_secs(60))?;
            // What it writes shows in the queue once it ends (the queue refreshes).
            let mut store = Store::open(&p2)?;
            store.put_predictions(
                "class",
                None,
                &[NewPrediction {
                    item_id: 6,
                    top: vec![("bird".into(), 0.99), ("cat".into(), 0.01)],
                }],
            )?;
            Ok("v1 is active".into())
        }),
    });
    let mut h = harness(app);
    settle(&mut h);
    // The review screen is up and takes keys while the job runs.
    assert_eq!(h.state().running_jobs(), vec!["first model".to_string()]);
    let first = current(&h);
    h.key_press(Key::Enter);
    settle(&mut h);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.decisions_for_item(first).unwrap().len(), 1);
    assert_ne!(current(&h), first);
    release.send(()).unwrap();
    for _ in 0..200 {
        h.run_ok();
        if h.state().running_jobs().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(h.state().running_jobs().is_empty(), "the job ended");
    assert!(
        h.state()
            .notices()
            .iter()
            .any(|n| n == "first model: v1 is active"),
        "{:?}",
        h.state().notices()
    );
}

#[test]
fn insights_find_near_duplicates_with_conflicting_labels_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), 9);
    {
        // Embeddings: items 1 and 2 nearly the same picture, 3 and 4 too; the rest apart.
        let mut store = Store::open(&path).unwrap();
        let dim = yuxuan::ml::backbone::EMBED_DIM as usize;
        let rows: Vec<(i64, Vec<f32>)> = (1..=9)
            .map(|id: i64| {
                let base = match id {
                    1 | 2 => 100,
                    3 | 4 => 200,
                    other => 300 + other as usize * 10,
                };
                let mut v = vec![0.01f32; dim];
                for k in 0..8 {
                    v[base + k] = 1.0;
                }
                v[id as usize] = 0.05; // a small difference within a pair
                (id, v)
            })
            .collect();
        store
            .put_embeddings(yuxuan::ml::backbone::BACKBONE_ID, &rows)
            .unwrap();
        // 3 and 4 carry different human labels: one of them is wrong.
        let d = |item_id: i64, label: &str| yuxuan::domain::NewDecision {
            item_id,
            label_set: "class".into(),
            label: Some(label.into()),
            annotator: "tester".into(),
            action: Action::Correct,
            ms_spent: 0,
            prediction_id: None,
        };
        store
            .record_decisions(&[d(1, "cat"), d(2, "cat"), d(3, "dog"), d(4, "bird")])
            .unwrap();
    }
    let mut h = harness(app_on(&path));
    settle(&mut h);
    h.get_by_label("Insights").click();
    for _ in 0..50 {
        h.run_ok();
        if h.query_by_label("Find near duplicates").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    h.get_by_label("Find near duplicates").click();
    for _ in 0..200 {
        h.run_ok();
        if h.state().near_duplicates_found().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let view = h
        .state()
        .near_duplicates_found()
        .expect("the search ended")
        .unwrap();
    let groups: Vec<Vec<i64>> = view
        .groups
        .iter()
        .map(|g| g.members.iter().map(|m| m.item_id).collect())
        .collect();
    assert_eq!(
        groups,
        vec![vec![3, 4], vec![1, 2]],
        "conflicting group first"
    );
    assert!(view.groups[0].conflicting && !view.groups[1].conflicting);
    h.run_ok();
    h.get_by_label("conflicting labels");
    h.get_by_label_contains("1 with conflicting labels");
}

fn app_as(annotator: &str, open: Option<&Path>) -> App {
    App::new(
        Prefs {
            annotator: annotator.into(),
            ..Default::default()
        },
        open.map(Path::to_path_buf),
    )
}

/// Frames until `f` holds (the team worker checks every couple of seconds).
fn run_until(h: &mut Harness<'_, App>, what: &str, f: impl Fn(&App) -> bool) {
    for _ in 0..600 {
        h.run_ok();
        if f(h.state()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "timed out waiting for {what}; notices: {:?}",
        h.state().notices()
    );
}

fn team_of(app: &App) -> yuxuan::review::TeamView {
    app.project
        .as_ref()
        .and_then(|p| p.review.team.clone())
        .unwrap_or_default()
}

/// Two annotators' windows on one team project: opened from the start screen's URL field,
/// never shown the same item, "me / team" progress, a model the lead activates shows up without
/// reopening, and while the server is down a decision waits in the outbox (not "saved") and is
/// sent exactly once when the server is back.
#[test]
fn two_annotators_share_a_team_project_and_offline_decisions_wait_then_go_once() {
    let pg = yuxuan::pgserver::PgServer::start().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url("ui-team");
    project_at(Path::new(&url), dir.path(), 30);

    // Annotator A opens it from the start screen.
    let mut a = harness(app_as("ann", None));
    a.run_ok();
    let field = a.get_by_role_and_label(
        egui::accesskit::Role::TextInput,
        "Open a team project (PostgreSQL URL)",
    );
    field.focus();
    a.run_ok();
    a.get_by_role_and_label(
        egui::accesskit::Role::TextInput,
        "Open a team project (PostgreSQL URL)",
    )
    .type_text(&url);
    a.run_ok();
    a.get_by_label("Open team project").click();
    settle(&mut a);
    assert_eq!(
        a.state().screen,
        Screen::Review,
        "notices: {:?}",
        a.state().notices()
    );
    // Annotator B from the command line's project argument.
    let mut b = harness(app_as("bob", Some(Path::new(&url))));
    settle(&mut b);
    settle(&mut a);
    let (ca, cb) = (current(&a), current(&b));
    assert_ne!(ca, cb, "two annotators are never shown the same item");
    let store = Store::open(Path::new(&url)).unwrap();
    let b_queue: Vec<i64> = b.state().project.as_ref().unwrap().review.queue().to_vec();
    for held in store.my_leases("ann").unwrap() {
        assert!(
            !b_queue.contains(&held),
            "B's queue holds A's leased item {held}"
        );
    }

    a.key_press(Key::Enter);
    settle(&mut a);
    let ds = store.decisions_for_item(ca).unwrap();
    assert_eq!((ds.len(), ds[0].annotator.as_str()), (1, "ann"));
    a.get_by_label_contains("saved");
    run_until(&mut a, "me / team progress", |app| {
        team_of(app)
            .progress
            .is_some_and(|p| p.mine == 1 && p.team == 1)
    });
    a.get_by_label_contains("me 1 / team 1 / 30");

    // The lead activates a model: A's suggestions are refreshed without reopening.
    let mut lead = Store::open(Path::new(&url)).unwrap();
    let m = lead
        .add_model(&yuxuan::store::models::NewModel {
            label_set: "class".into(),
            kind: "test".into(),
            parent_id: None,
            training_run_id: None,
            labels: LABELS.iter().map(|s| s.to_string()).collect(),
            spec: serde_json::json!({}),
            metrics: None,
            weights_path: None,
            weights_sha256: None,
        })
        .unwrap();
    lead.activate_model(m.id).unwrap();
    run_until(&mut a, "the new model notice", |app| {
        app.notices()
            .iter()
            .any(|n| n.contains("model v1 is active"))
    });

    // The server goes away: the decision waits, it is not shown as saved.
    settle(&mut a);
    let next = current(&a);
    pg.stop("fast");
    a.key_press(Key::Enter);
    run_until(&mut a, "waiting to be sent", |app| {
        matches!(
            app.project.as_ref().unwrap().review.save,
            yuxuan::review::SaveStatus::Waiting(1)
        )
    });
    a.get_by_label_contains("1 waiting to be sent");
    // Offline, the items not loaded yet wait quietly (no retry storm, no error toasts).
    for _ in 0..40 {
        a.run_ok();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !a.state()
            .notices()
            .iter()
            .any(|n| n.contains("could not load")),
        "{:?}",
        a.state().notices()
    );
    assert!(a.query_by_label_contains("✓ saved").is_none());
    assert!(team_of(a.state()).offline.is_some());
    // Back: sent once, shown saved.
    pg.start_again().unwrap();
    run_until(&mut a, "the outbox to drain", |app| {
        matches!(
            app.project.as_ref().unwrap().review.save,
            yuxuan::review::SaveStatus::Saved(_)
        ) && team_of(app).waiting == 0
    });
    let store = Store::open(Path::new(&url)).unwrap();
    let ds = store.decisions_for_item(next).unwrap();
    assert_eq!(ds.len(), 1, "sent exactly once: {ds:?}");
    assert_eq!(ds[0].annotator, "ann");
    assert!(team_of(a.state()).offline.is_none());
}

/// The lead's review queue: an overlap item two annotators labelled differently is offered,
/// their answers are shown, and a digit records the final label (action `review`).
#[test]
fn the_review_queue_resolves_a_disagreement() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), 6);
    let mut store = Store::open(&path).unwrap();
    store
        .set_overlap(yuxuan::store::quality::Overlap {
            fraction: 1.0,
            annotators: 2,
        })
        .unwrap();
    let items: Vec<i64> = store
        .items_of_kind(ItemKind::Image)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    let answer = |who: &str, label: &str| yuxuan::domain::NewDecision {
        item_id: items[2],
        label_set: "class".into(),
        label: Some(label.into()),
        annotator: who.into(),
        action: Action::Correct,
        ms_spent: 100,
        prediction_id: None,
    };
    store.record_decision(&answer("alice", "cat")).unwrap();
    store.record_decision(&answer("bob", "dog")).unwrap();
    assert_eq!(
        store.current_label(items[2], "class").unwrap(),
        None,
        "a tie"
    );
    drop(store);
    let mut h = harness(app_as("lead", Some(&path)));
    settle(&mut h);
    h.get_by_value("Unlabeled").click();
    h.run_ok();
    h.get_by_label("Review queue (annotators disagree, flagged)")
        .click();
    settle(&mut h);
    let review = &h.state().project.as_ref().unwrap().review;
    assert_eq!(review.queue(), &[items[2]]);
    h.get_by_label("alice: cat");
    h.get_by_label("bob: dog");
    h.key_press(Key::Num3);
    settle(&mut h);
    let store = Store::open(&path).unwrap();
    let last = store.decisions_for_item(items[2]).unwrap().pop().unwrap();
    assert_eq!(last.action, Action::Review);
    assert_eq!(last.annotator, "lead");
    assert_eq!(
        store.current_label(items[2], "class").unwrap().as_deref(),
        Some("bird")
    );
    assert_eq!(
        yuxuan::queue::build(
            &store,
            &yuxuan::queue::QueueSpec {
                label_set: "class".into(),
                filter: Filter::Review,
                ..Default::default()
            }
        )
        .unwrap(),
        Vec::<i64>::new()
    );
    // "Not sure" (F) in the annotator's own queue sends an item to the review queue.
    h.get_by_value("Review queue (annotators disagree, flagged)")
        .click();
    h.run_ok();
    h.get_by_label("Unlabeled").click();
    settle(&mut h);
    let flagged = current(&h);
    h.key_press(Key::F);
    settle(&mut h);
    let store = Store::open(&path).unwrap();
    let d = store.decisions_for_item(flagged).unwrap().pop().unwrap();
    assert_eq!(d.action, Action::Flag);
}

/// The suspect-label queue: the newest check's suspects in its rank order, the finder's view
/// on screen; Enter takes its suggestion, the digit of the given label keeps it, both as the
/// lead's final `review`, and a reviewed label leaves the queue.
#[test]
fn the_suspect_queue_keeps_or_changes_labels_as_reviews() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), 6);
    let mut store = Store::open(&path).unwrap();
    let items: Vec<i64> = store
        .items_of_kind(ItemKind::Image)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    let mut decided = Vec::new();
    for (k, label) in [(0usize, "cat"), (1, "dog"), (2, "bird")] {
        decided.push(
            store
                .record_decision(&yuxuan::domain::NewDecision {
                    item_id: items[k],
                    label_set: "class".into(),
                    label: Some(label.into()),
                    annotator: "alice".into(),
                    action: Action::Correct,
                    ms_spent: 100,
                    prediction_id: None,
                })
                .unwrap(),
        );
    }
    let row =
        |k: usize, rank: i64, given: &str, suggested: &str| yuxuan::store::suspects::SuspectRow {
            item_id: items[k],
            rank,
            given: given.into(),
            suggested: suggested.into(),
            score: 0.1,
            suggested_score: 0.8,
            decision_id: decided[k],
        };
    store
        .save_suspect_run(
            "class",
            &serde_json::json!({}),
            &serde_json::json!({}),
            &[row(1, 1, "dog", "cat"), row(0, 2, "cat", "bird")],
        )
        .unwrap();
    drop(store);
    let mut h = harness(app_as("lead", Some(&path)));
    settle(&mut h);
    h.get_by_value("Unlabeled").click();
    h.run_ok();
    h.get_by_label("Suspect labels (probably wrong)").click();
    settle(&mut h);
    assert_eq!(
        h.state().project.as_ref().unwrap().review.queue(),
        &[items[1], items[0]],
        "the finder's rank"
    );
    h.get_by_label("Suspect label");
    h.get_by_label("labelled dog (10%) · probably cat (80%)");
    // Enter: the suggestion.
    h.key_press(Key::Enter);
    settle(&mut h);
    assert_eq!(current(&h), items[0]);
    // The digit of the given label (cat = 1) keeps it.
    h.key_press(Key::Num1);
    settle(&mut h);
    let store = Store::open(&path).unwrap();
    for (k, label) in [(1usize, "cat"), (0, "cat")] {
        let d = store.decisions_for_item(items[k]).unwrap().pop().unwrap();
        assert_eq!(d.action, Action::Review, "item {k}");
        assert_eq!(d.annotator, "lead");
        assert_eq!(
            store.current_label(items[k], "class").unwrap().as_deref(),
            Some(label)
        );
    }
    let spec = yuxuan::queue::QueueSpec {
        label_set: "class".into(),
        filter: Filter::Suspects,
        ..Default::default()
    };
    assert!(yuxuan::queue::build(&store, &spec).unwrap().is_empty());
    let run = store.latest_suspect_run("class").unwrap().unwrap();
    assert!(store.suspects_of_run(run.id, true).unwrap().is_empty());
    assert_eq!(store.suspects_of_run(run.id, false).unwrap().len(), 2);
}

/// An annotator's login (a member the server restricts) gets the review screen only: no
/// Training, Insights, Export or Bulk accept, and their decisions carry their login name.
#[test]
fn an_annotator_login_has_no_lead_screens() {
    let pg = common::pg();
    let dir = tempfile::tempdir().unwrap();
    let project = common::unique_project("uirole");
    let url = pg.url(&project);
    project_at(Path::new(&url), dir.path(), 6);
    let name = format!("ui_{}", project.replace('-', "_"));
    common::ok(&common::run_with_stdin(
        &[
            "team",
            "add-member",
            &url,
            &name,
            "--role",
            "annotator",
            "--password-stdin",
        ],
        "pw-ui\n",
    ));
    let member = url.replacen("postgres:yuxuan-test@", &format!("{name}:pw-ui@"), 1);
    let mut h = harness(app_as("someone", Some(Path::new(&member))));
    settle(&mut h);
    assert_eq!(
        h.state().project.as_ref().unwrap().review.role,
        yuxuan::store::roles::Role::Annotator
    );
    assert!(h.query_by_label("Review").is_some());
    for lead_only in ["Training", "Insights", "Export", "Bulk accept"] {
        assert!(
            h.query_by_label(lead_only).is_none(),
            "{lead_only} is shown to an annotator"
        );
    }
    h.state_mut().screen = Screen::Training;
    h.run_ok();
    assert_eq!(
        h.state().screen,
        Screen::Review,
        "no way into the training screen"
    );
    let first = current(&h);
    h.key_press(Key::Enter);
    settle(&mut h);
    let owner = Store::open(Path::new(&url)).unwrap();
    run_until(&mut h, "the decision reaches the server", |_| {
        owner
            .decisions_for_item(first)
            .map(|d| !d.is_empty())
            .unwrap_or(false)
    });
    let d = owner.decisions_for_item(first).unwrap().pop().unwrap();
    assert_eq!(d.annotator, name, "the login name, not the typed one");
}

/// The first screen: the "Your name" field has the keyboard at once, so typing a name and
/// Enter go through without a click; then the window stops repainting.
#[test]
fn the_name_prompt_has_the_keyboard_focus_on_first_show() {
    let mut h = harness(App::new(Prefs::default(), None));
    for _ in 0..5 {
        h.run_ok();
    }
    let field = h.get_by_role(egui::accesskit::Role::TextInput);
    assert!(field.is_focused(), "the name field has the focus");
    h.event(egui::Event::Text("小王".into()));
    h.run_ok();
    h.key_press(Key::Enter);
    h.run_ok();
    assert_eq!(h.state().prefs.annotator, "小王");
}

/// Bulk accept never opens empty: on the label with the most confident suggestions, its
/// thumbnails at once, and each label's count in the picker.
#[test]
fn bulk_accept_opens_on_the_label_with_the_most_confident_suggestions() {
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), 18);
    let mut h = harness(app_on(&path));
    settle(&mut h);
    h.get_by_label("Bulk accept").click();
    settle(&mut h);
    settle(&mut h);
    let review = &h.state().project.as_ref().unwrap().review;
    let counts = review.bulk_counts.clone().expect("counts were asked for");
    // Scores fall with the item index (0.95, 0.94, …): every label has 5 suggestions at or
    // above 80 %; "cat" (items 0, 3, 6, …) has the surest one.
    let max = counts.iter().map(|c| c.confident).max().unwrap();
    let cat = counts.iter().find(|c| c.label == "cat").unwrap();
    assert_eq!((cat.confident, cat.predicted), (max, 6), "{counts:?}");
    let bulk = review.bulk.clone().expect("the grid opened by itself");
    assert_eq!(bulk.label, "cat");
    let items = bulk.items.expect("its items are loaded");
    assert_eq!(items.len(), 6);
    assert!(
        items.iter().all(|i| i.thumb.is_some()),
        "thumbnails at once"
    );
    h.get_by_value("cat");
}

#[test]
fn the_crawl_dialog_crawls_in_the_background() {
    let site = crate::crawl::site(Duration::from_secs(3));
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = form_project(dir.path());
    let mut h = harness(app_on(&path));
    settle(&mut h);
    h.get_by_label("Crawl").click();
    h.run_ok();
    h.state_mut().crawl.depth = 0;
    h.state_mut().crawl.rate = 20.0;
    let field = h.get_by_role(egui::accesskit::Role::MultilineTextInput);
    field.focus();
    field.type_text(&site.url("/"));
    h.run_ok();
    h.get_by_label("Start crawl").click();
    run_until(&mut h, "the crawl job", |app| {
        app.running_jobs().is_empty() && app.notices().iter().any(|n| n.starts_with("crawl"))
    });
    let notice = h.state().notices().join("\n");
    assert!(notice.contains("crawl 1: 1 pages"), "{notice}");
    let store = Store::open(&path).unwrap();
    let urls: Vec<String> = store
        .items_of_kind(ItemKind::Page)
        .unwrap()
        .into_iter()
        .map(|i| i.source_path)
        .collect();
    assert!(urls.contains(&site.url("/")), "{urls:?}");
}

/// An object project of two real photos with proposals (no detector needed).
fn objects_project(dir: &Path) -> (PathBuf, Vec<i64>) {
    use yuxuan::domain::BBox;
    use yuxuan::store::boxes::NewBoxPrediction;
    let path = dir.join("boxes.yuxuan");
    let new = yuxuan::kinds::NewProject {
        labels: vec!["person".into(), "cup".into(), "helmet".into()],
        ..Default::default()
    };
    let mut store = Store::create_project(&path, "boxes", TaskKind::Objects, &new).unwrap();
    let photos = yuxuan::assets::photos_dir();
    let paths = vec![photos.join("astronaut.png"), photos.join("coffee.png")];
    let ctx = JobCtx::new("import");
    yuxuan::ingest::import_paths(&mut store, &paths, &Default::default(), &ctx).unwrap();
    let ids: Vec<i64> = store
        .items_of_kind(ItemKind::Image)
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids.len(), 2, "run `make setup` (scikit-image photos)");
    let boxes = |b: [(&str, f64, BBox); 2]| {
        b.iter()
            .map(|(l, s, b)| NewBoxPrediction {
                label: l.to_string(),
                score: *s,
                bbox: *b,
            })
            .collect::<Vec<_>>()
    };
    store
        .put_box_predictions(
            "object",
            "yolo11n",
            None,
            &[
                (
                    ids[0],
                    boxes([
                        ("person", 0.9, BBox::new(100.0, 30.0, 300.0, 480.0)),
                        ("cup", 0.1, BBox::new(10.0, 10.0, 20.0, 20.0)),
                    ]),
                ),
                (
                    ids[1],
                    boxes([
                        ("cup", 0.85, BBox::new(50.0, 50.0, 300.0, 250.0)),
                        ("person", 0.2, BBox::new(0.0, 0.0, 40.0, 40.0)),
                    ]),
                ),
            ],
        )
        .unwrap();
    (path, ids)
}

#[test]
fn boxes_are_selected_relabelled_drawn_adjusted_deleted_undone_and_accepted() {
    use yuxuan::domain::BoxAction;
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = objects_project(dir.path());
    let mut h = harness(app_on(&path));
    settle(&mut h);
    let img = current(&h);
    let props = Store::open(&path)
        .unwrap()
        .box_predictions(img, "object")
        .unwrap();
    let shown = props.iter().filter(|p| p.score >= 0.25).count();
    assert_eq!(shown, 1, "proposals below 0.25 are hidden");
    h.get_by_label_contains("1 boxes");

    // Tab selects the shown proposal, 3 relabels it as helmet.
    h.key_press(Key::Tab);
    h.run_ok();
    let sel = h
        .state()
        .project
        .as_ref()
        .unwrap()
        .review
        .box_editor
        .as_ref()
        .and_then(|e| e.selected);
    assert_eq!(sel, Some(0), "Tab selects the first shown box");
    h.key_press(Key::Num3);
    settle(&mut h);
    let ds = Store::open(&path)
        .unwrap()
        .box_decisions_for_item(img)
        .unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(
        (ds[0].action, ds[0].label.as_deref()),
        (BoxAction::Relabel, Some("helmet"))
    );
    assert_eq!(
        ds[0].box_uid,
        props.iter().find(|p| p.score >= 0.25).unwrap().uid()
    );
    assert_eq!(ds[0].annotator, "tester");

    // A drag on empty image draws a box with the last label used.
    let t = h
        .state()
        .project
        .as_ref()
        .unwrap()
        .box_transform()
        .expect("drawn once");
    let at = |x: f32, y: f32| t.to_screen(egui::pos2(x, y));
    h.hover_at(at(420.0, 60.0));
    h.run_ok();
    h.drag_at(at(420.0, 60.0));
    h.run_ok();
    h.hover_at(at(440.0, 80.0));
    h.run_ok();
    h.hover_at(at(480.0, 140.0));
    h.run_ok();
    h.drop_at(at(480.0, 140.0));
    settle(&mut h);
    let ds = Store::open(&path)
        .unwrap()
        .box_decisions_for_item(img)
        .unwrap();
    assert_eq!(ds.len(), 2, "{ds:?}");
    let drawn = ds[1].clone();
    assert_eq!(
        (drawn.action, drawn.label.as_deref()),
        (BoxAction::Draw, Some("helmet"))
    );
    let b = drawn.bbox.unwrap();
    assert!(
        (b.x - 420.0).abs() < 2.0
            && (b.x2() - 480.0).abs() < 2.0
            && (b.y - 60.0).abs() < 2.0
            && (b.y2() - 140.0).abs() < 2.0,
        "drawn in image pixels: {b:?}"
    );

    // Dragging its right edge (it is selected) adjusts it.
    let t = h.state().project.as_ref().unwrap().box_transform().unwrap();
    let edge = t.to_screen(egui::pos2(b.x2() as f32, (b.y + b.h / 2.0) as f32));
    h.hover_at(edge);
    h.run_ok();
    h.drag_at(edge);
    h.run_ok();
    let to = t.to_screen(egui::pos2(b.x2() as f32 + 30.0, (b.y + b.h / 2.0) as f32));
    h.hover_at(edge + (to - edge) / 2.0);
    h.run_ok();
    h.hover_at(to);
    h.run_ok();
    h.drop_at(to);
    settle(&mut h);
    let ds = Store::open(&path)
        .unwrap()
        .box_decisions_for_item(img)
        .unwrap();
    assert_eq!(ds.len(), 3, "{ds:?}");
    assert_eq!(ds[2].action, BoxAction::Adjust);
    let adj = ds[2].bbox.unwrap();
    assert!(
        (adj.x2() - (b.x2() + 30.0)).abs() < 2.0 && (adj.x - b.x).abs() < 0.5,
        "{adj:?}"
    );

    // Delete removes it; Ctrl+Z brings it back (an undo row).
    h.key_press(Key::Delete);
    settle(&mut h);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.box_decisions_for_item(img).unwrap()[3].action,
        BoxAction::Delete
    );
    assert!(store
        .item_boxes(img, "object")
        .unwrap()
        .iter()
        .all(|c| c.box_uid != drawn.box_uid));
    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::Z);
    settle(&mut h);
    let store = Store::open(&path).unwrap();
    let ds = store.box_decisions_for_item(img).unwrap();
    assert_eq!(ds.last().unwrap().action, BoxAction::Undo);
    let cur = store.item_boxes(img, "object").unwrap();
    let back = cur
        .iter()
        .find(|c| c.box_uid == drawn.box_uid)
        .expect("the box is back");
    assert_eq!(back.bbox, adj);

    // Enter accepts the image as shown and moves on: the image is done with its two boxes.
    h.key_press(Key::Enter);
    settle(&mut h);
    assert_ne!(current(&h), img);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.current_label(img, "object").unwrap().as_deref(),
        Some("boxes")
    );
    let d = store.decisions_for_item(img).unwrap();
    assert_eq!(d.last().unwrap().action, Action::Correct);
    let mut labels: Vec<String> = store
        .item_boxes(img, "object")
        .unwrap()
        .into_iter()
        .map(|c| c.label)
        .collect();
    labels.sort();
    assert_eq!(labels, ["helmet", "helmet"]);

    // The next image: Enter right away accepts its shown proposal as is.
    let next = current(&h);
    h.key_press(Key::Enter);
    settle(&mut h);
    let store = Store::open(&path).unwrap();
    let cur = store.item_boxes(next, "object").unwrap();
    let shown: Vec<_> = store
        .box_predictions(next, "object")
        .unwrap()
        .into_iter()
        .filter(|p| p.score >= 0.25)
        .collect();
    assert_eq!(cur.len(), 1);
    assert_eq!(
        (cur[0].box_uid.clone(), cur[0].label.clone()),
        (shown[0].uid(), shown[0].label.clone())
    );
    assert_eq!(
        store.decisions_for_item(next).unwrap()[0].action,
        Action::Accept
    );
}

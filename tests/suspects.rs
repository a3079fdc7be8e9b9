//! Suspect labels on real data: emoji with labels flipped on purpose rank first, the run is
//! recorded for the review queue, annotator quality blames the one who made the flips, a
//! review takes a suspect out of the queue; too few labels is said, not ranked.

use std::collections::HashMap;
use std::path::Path;

use yuxuan::domain::{sets, Action, NewDecision, NewLabel};
use yuxuan::queue::{Filter, QueueSpec};
use yuxuan::store::Store;

use crate::common;

const CATS: [&str; 4] = common::EMOJI_CATS;

/// A project of 30 real emoji per category, embedded with MobileNetV2, every item labelled:
/// by "ann-a" (even positions) and "ann-b" (odd), ann-b's labels of `flipped` items moved to
/// the next category. Returns the store and the flipped item ids.
fn labelled_emoji(path: &Path, flipped: usize) -> (Store, Vec<i64>) {
    let pics = common::cli_emoji_project(path, 30, "mobilenet-v2");
    let mut store = Store::open(path).unwrap();
    let labels: Vec<NewLabel> = CATS.iter().map(|c| NewLabel::named(*c)).collect();
    store.add_labels(sets::CLASS, &labels).unwrap();
    let by_path: HashMap<String, String> = pics
        .iter()
        .map(|(f, c)| (f.display().to_string(), c.clone()))
        .collect();
    let items = store
        .items_of_kind(yuxuan::domain::ItemKind::Image)
        .unwrap();
    let mut out = Vec::new();
    let mut decisions = Vec::new();
    for (k, it) in items.iter().enumerate() {
        let truth = by_path[&it.source_path].clone();
        let who = if k % 2 == 0 { "ann-a" } else { "ann-b" };
        // Every 16th item from the 3rd on (ann-b's): the next category instead.
        let label = if who == "ann-b" && k % 16 == 3 && out.len() < flipped {
            out.push(it.id);
            let i = CATS.iter().position(|c| *c == truth).unwrap();
            CATS[(i + 1) % CATS.len()].to_string()
        } else {
            truth
        };
        decisions.push(NewDecision {
            item_id: it.id,
            label_set: sets::CLASS.into(),
            label: Some(label),
            annotator: who.into(),
            action: Action::Correct,
            ms_spent: 0,
            prediction_id: None,
        });
    }
    assert_eq!(out.len(), flipped);
    store.record_decisions(&decisions).unwrap();
    (store, out)
}

#[test]
fn flipped_emoji_labels_rank_first_and_go_to_the_review_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sus.yuxuan");
    let (mut store, flipped) = labelled_emoji(&path, 6);
    let p = path.to_str().unwrap();
    // Embeddings are computed by the check itself when missing.
    let out = common::ok(&common::run(&["suspects", p, "--json", "--top", "0"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = v["suspects"].as_array().unwrap();
    let ranked: Vec<i64> = list
        .iter()
        .map(|s| s["item_id"].as_i64().unwrap())
        .collect();
    let top: Vec<i64> = ranked.iter().copied().take(12).collect();
    let found = flipped.iter().filter(|f| top.contains(f)).count();
    eprintln!(
        "emoji: {found} of 6 flips in the first 12 of 120 ({} suspect)",
        list.len()
    );
    assert!(
        found >= 4,
        "{found} of 6 flips in the first 12: {ranked:?}, flips {flipped:?}"
    );
    // A flipped item's suggestion is its true category (the one before its given one).
    let first_flip = list
        .iter()
        .find(|s| flipped.contains(&s["item_id"].as_i64().unwrap()))
        .unwrap();
    let given = first_flip["given"].as_str().unwrap();
    let gi = CATS.iter().position(|c| *c == given).unwrap();
    assert_eq!(
        first_flip["suggested"].as_str().unwrap(),
        CATS[(gi + CATS.len() - 1) % CATS.len()],
        "{first_flip}"
    );
    assert_eq!(first_flip["annotator"], "ann-b");
    let summary = &v["summary"];
    assert_eq!(summary["checked"], 120);
    assert!(summary["estimated_wrong"].as_f64().unwrap() >= 1.0);
    let share = |who: &str| {
        summary["annotators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["annotator"] == who)
            .unwrap()["share"]
            .as_f64()
            .unwrap()
    };
    assert!(share("ann-b") > share("ann-a"), "{summary}");
    // The run is recorded: the queue lists its suspects in rank order.
    let spec = QueueSpec {
        label_set: sets::CLASS.into(),
        filter: Filter::Suspects,
        ..Default::default()
    };
    let queue = yuxuan::queue::build(&store, &spec).unwrap();
    assert_eq!(queue, ranked);
    // A lead's review (keeping the label) takes it out; its label stays.
    let keep = queue[0];
    let label = store.current_label(keep, sets::CLASS).unwrap().unwrap();
    store
        .record_decision(&NewDecision {
            item_id: keep,
            label_set: sets::CLASS.into(),
            label: Some(label.clone()),
            annotator: "lead".into(),
            action: Action::Review,
            ms_spent: 0,
            prediction_id: None,
        })
        .unwrap();
    assert_eq!(yuxuan::queue::build(&store, &spec).unwrap(), ranked[1..]);
    assert_eq!(store.current_label(keep, sets::CLASS).unwrap(), Some(label));
    // --list shows the recorded run without checking again; CSV has its header.
    let listed = common::ok(&common::run(&["suspects", p, "--list"]));
    assert!(listed.contains("120 labels of class checked"), "{listed}");
    assert!(listed.contains("ann-b"), "{listed}");
    let csv = common::ok(&common::run(&["suspects", p, "--list", "--csv"]));
    assert!(
        csv.starts_with("rank,item_id,path,given,suggested,score,suggested_score,annotator\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), ranked.len());
    // --evaluate measures on flips of its own (in memory: nothing is written).
    let decisions = store.decision_count().unwrap();
    let e = common::ok(&common::run(&["suspects", p, "--evaluate", "--json"]));
    let e: serde_json::Value = serde_json::from_str(&e).unwrap();
    assert_eq!(e["yuxuan"]["flipped"], 6);
    assert!(e["yuxuan"]["precision_at_k"].as_f64().unwrap() > 0.0, "{e}");
    assert_eq!(store.decision_count().unwrap(), decisions);
}

#[test]
fn too_few_labels_per_class_is_said_not_ranked() {
    let dir = tempfile::tempdir().unwrap();
    let (p, mut store) = common::image_project(dir.path(), &["a", "b"], 12);
    let items = store
        .items_of_kind(yuxuan::domain::ItemKind::Image)
        .unwrap();
    for (k, it) in items.iter().take(8).enumerate() {
        store
            .record_decision(&NewDecision {
                item_id: it.id,
                label_set: sets::CLASS.into(),
                label: Some(if k % 2 == 0 { "a" } else { "b" }.into()),
                annotator: "x".into(),
                action: Action::Correct,
                ms_spent: 0,
                prediction_id: None,
            })
            .unwrap();
    }
    let out = common::run(&["suspects", p.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("at least 10 labels in each of 2 classes") && err.contains("a 4, b 4"),
        "{err}"
    );
}

/// Form fields: the field-type model's out-of-fold predictions (from the base model, never
/// the active one) check real Formasaurus fields; flipped types rank high.
#[test]
fn flipped_field_types_of_real_pages_rank_high() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forms.yuxuan");
    let p = path.to_str().unwrap();
    common::ok(&common::run(&["new", p, "--kind", "form"]));
    let html = yuxuan::assets::formasaurus_dir().join("html");
    let mut pages: Vec<String> = std::fs::read_dir(&html)
        .expect("Formasaurus installed (make setup)")
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    pages.sort();
    pages.truncate(60);
    let mut args = vec!["import", p];
    args.extend(pages.iter().map(String::as_str));
    common::ok(&common::run(&args));
    common::ok(&common::run(&["prelabel", p]));
    let mut store = Store::open(&path).unwrap();
    // The suggestions become the labels (as if accepted); every 12th field of a frequent type
    // gets another frequent type instead.
    let fields = store.field_ids_of_ok_pages().unwrap();
    let mut labelled: Vec<(i64, String)> = fields
        .iter()
        .filter_map(|&id| {
            store
                .prediction(id, sets::FIELD_TYPE, None)
                .unwrap()
                .map(|pr| (id, pr.label))
        })
        .collect();
    let mut count: HashMap<String, usize> = HashMap::new();
    for (_, l) in &labelled {
        *count.entry(l.clone()).or_default() += 1;
    }
    let mut frequent: Vec<String> = count
        .iter()
        .filter(|(_, &n)| n >= 30)
        .map(|(l, _)| l.clone())
        .collect();
    frequent.sort();
    assert!(frequent.len() >= 2, "{count:?}");
    let mut flipped = Vec::new();
    for (k, (id, l)) in labelled.iter_mut().enumerate() {
        if k % 12 == 5 && frequent.contains(l) {
            let i = frequent.iter().position(|f| f == l).unwrap();
            *l = frequent[(i + 1) % frequent.len()].clone();
            flipped.push(*id);
        }
    }
    assert!(flipped.len() >= 5, "{}", flipped.len());
    let decisions: Vec<NewDecision> = labelled
        .iter()
        .map(|(id, l)| NewDecision {
            item_id: *id,
            label_set: sets::FIELD_TYPE.into(),
            label: Some(l.clone()),
            annotator: "ann".into(),
            action: Action::Correct,
            ms_spent: 0,
            prediction_id: None,
        })
        .collect();
    store.record_decisions(&decisions).unwrap();
    let f = yuxuan::ml::suspects::find(
        &mut store,
        sets::FIELD_TYPE,
        &Default::default(),
        &yuxuan::jobs::JobCtx::new("suspects"),
    )
    .unwrap();
    assert_eq!(f.summary.model_kind, "field-mlp");
    let top: Vec<i64> = f.ranking.iter().copied().take(flipped.len() * 2).collect();
    let found = flipped.iter().filter(|i| top.contains(i)).count();
    eprintln!(
        "field types: {found} of {} flips in the first {} of {} fields ({} suspect)",
        flipped.len(),
        top.len(),
        f.ranking.len(),
        f.suspects.len()
    );
    assert!(
        found * 2 >= flipped.len(),
        "{found} of {} flips in the first {}",
        flipped.len(),
        top.len()
    );
}

/// A recorded check on both backends: the queue filter lists its open suspects in rank order,
/// a lead's review (or a correction) takes one out, `open_suspect` says what the check found.
#[test]
fn a_recorded_check_drives_the_queue_on_both_backends() {
    common::on_both_backends("suspect-queue", |loc| {
        let mut store = common::image_project_at(loc, &["a", "b"], 4);
        let items: Vec<i64> = store
            .items_of_kind(yuxuan::domain::ItemKind::Image)
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect();
        let decide = |store: &mut Store, item: i64, label: &str, action: Action| {
            store
                .record_decision(&NewDecision {
                    item_id: item,
                    label_set: sets::CLASS.into(),
                    label: Some(label.into()),
                    annotator: "ann".into(),
                    action,
                    ms_spent: 0,
                    prediction_id: None,
                })
                .unwrap()
        };
        let d: Vec<i64> = items
            .iter()
            .map(|&i| decide(&mut store, i, "a", Action::Correct))
            .collect();
        let row = |k: usize, rank: i64| yuxuan::store::suspects::SuspectRow {
            item_id: items[k],
            rank,
            given: "a".into(),
            suggested: "b".into(),
            score: 0.2,
            suggested_score: 0.7,
            decision_id: d[k],
        };
        let run = store
            .save_suspect_run(
                sets::CLASS,
                &serde_json::json!({"folds": 5}),
                &serde_json::json!({"checked": 4}),
                &[row(2, 1), row(0, 2), row(3, 3)],
            )
            .unwrap();
        let spec = QueueSpec {
            label_set: sets::CLASS.into(),
            filter: Filter::Suspects,
            ..Default::default()
        };
        assert_eq!(
            yuxuan::queue::build(&store, &spec).unwrap(),
            vec![items[2], items[0], items[3]]
        );
        assert_eq!(
            store
                .open_suspect(items[0], sets::CLASS)
                .unwrap()
                .map(|s| s.rank),
            Some(2)
        );
        decide(&mut store, items[2], "a", Action::Review);
        decide(&mut store, items[3], "b", Action::Correct);
        assert_eq!(yuxuan::queue::build(&store, &spec).unwrap(), vec![items[0]]);
        assert!(store.open_suspect(items[2], sets::CLASS).unwrap().is_none());
        let latest = store.latest_suspect_run(sets::CLASS).unwrap().unwrap();
        assert_eq!(latest.id, run);
        assert_eq!(latest.summary["checked"], 4);
        assert_eq!(store.suspects_of_run(run, true).unwrap().len(), 1);
        assert_eq!(store.suspects_of_run(run, false).unwrap().len(), 3);
    });
}

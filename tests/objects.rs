//! Objects (boxes): the task-kind catalog's third row end to end on both backends: a project
//! of kind `objects` with labels that name detector classes, proposed boxes, every box action
//! as an append-only decision, the current boxes derived from them (undo appends), and the
//! image's finish; the editor's events through the review session.

use std::path::Path;

use yuxuan::domain::{sets, Action, BBox, BoxAction, NewBoxDecision, NewDecision, TaskKind};
use yuxuan::kinds::{objects, NewProject};
use yuxuan::store::boxes::{NewBoxPrediction, IMAGE_DONE};
use yuxuan::store::Store;

use crate::common;

fn decision(
    item: i64,
    uid: &str,
    action: BoxAction,
    label: Option<&str>,
    b: Option<BBox>,
) -> NewBoxDecision {
    NewBoxDecision {
        item_id: item,
        label_set: sets::OBJECT.into(),
        box_uid: uid.into(),
        action,
        label: label.map(str::to_string),
        bbox: b,
        score: None,
        annotator: "ann".into(),
        ms_spent: 10,
    }
}

fn photos_project(loc: &Path) -> (Store, Vec<i64>) {
    let new = NewProject {
        labels: vec!["pedestrian=person".into(), "cup".into(), "helmet".into()],
        ..Default::default()
    };
    let mut store = Store::create_project(loc, "objects", TaskKind::Objects, &new).unwrap();
    let photos = yuxuan::assets::photos_dir();
    assert!(
        photos.join("astronaut.png").exists(),
        "{} is missing: run `make setup`",
        photos.display()
    );
    let paths = vec![photos.join("astronaut.png"), photos.join("coffee.png")];
    let ctx = yuxuan::jobs::JobCtx::new("import");
    let summary =
        yuxuan::ingest::import_paths(&mut store, &paths, &Default::default(), &ctx).unwrap();
    assert_eq!(summary.added, 2, "{summary}");
    let ids = store
        .items_of_kind(yuxuan::domain::ItemKind::Image)
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    (store, ids)
}

#[test]
fn an_objects_project_keeps_its_labels_sources_and_detector() {
    common::on_both_backends("objects-new", |loc| {
        let (store, _) = photos_project(loc);
        let info = store.project().unwrap();
        assert_eq!(info.kind, TaskKind::Objects);
        let labels: Vec<String> = store
            .labels(sets::OBJECT)
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(labels, ["pedestrian", "cup", "helmet"]);
        assert_eq!(objects::detector(&info.settings), objects::DEFAULT_DETECTOR);
        assert_eq!(
            objects::sources(&info.settings)
                .get("pedestrian")
                .map(String::as_str),
            Some("person")
        );
        // The detector's classes map to the project's labels by name or by source.
        let classes: Vec<String> = objects::COCO_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect();
        let map = objects::class_map(&labels, &objects::sources(&info.settings), &classes);
        assert_eq!(map[0].as_deref(), Some("pedestrian"));
        assert_eq!(map[41].as_deref(), Some("cup"));
        assert_eq!(map.iter().flatten().count(), 2);
    });
    // A source that is no COCO class is refused before anything is created.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yuxuan");
    let new = NewProject {
        labels: vec!["worker=persn".into()],
        ..Default::default()
    };
    let e = Store::create_project(&p, "bad", TaskKind::Objects, &new).unwrap_err();
    assert!(
        e.to_string().contains("not one of the detector's 80 COCO"),
        "{e}"
    );
    assert!(!p.exists(), "nothing is created for a wrong label");
}

#[test]
fn box_decisions_are_appended_and_the_current_boxes_follow_them_with_undo() {
    common::on_both_backends("objects-boxes", |loc| {
        let (mut store, ids) = photos_project(loc);
        let img = ids[0];
        let n = store
            .put_box_predictions(
                sets::OBJECT,
                "yolo11n",
                None,
                &[(
                    img,
                    vec![
                        NewBoxPrediction {
                            label: "pedestrian".into(),
                            score: 0.9,
                            bbox: BBox::new(10.0, 20.0, 100.0, 300.0),
                        },
                        NewBoxPrediction {
                            label: "cup".into(),
                            score: 0.4,
                            bbox: BBox::new(200.0, 200.0, 30.0, 30.0),
                        },
                    ],
                )],
            )
            .unwrap();
        assert_eq!(n, 2);
        let props = store.box_predictions(img, sets::OBJECT).unwrap();
        assert_eq!(props.len(), 2);
        assert_eq!(props[0].label, "pedestrian");
        // The image's confidence for the queue: mean and lowest box score.
        let p = store.prediction(img, sets::OBJECT, None).unwrap().unwrap();
        assert!(
            (p.score - 0.65).abs() < 1e-9 && (p.margin - 0.4).abs() < 1e-9,
            "{p:?}"
        );

        let (a, b) = (props[0].uid(), props[1].uid());
        store
            .record_box_decisions(
                &[
                    decision(
                        img,
                        &a,
                        BoxAction::Accept,
                        Some("pedestrian"),
                        Some(props[0].bbox),
                    ),
                    decision(
                        img,
                        &b,
                        BoxAction::Relabel,
                        Some("helmet"),
                        Some(props[1].bbox),
                    ),
                ],
                None,
            )
            .unwrap();
        store
            .record_box_decisions(
                &[decision(
                    img,
                    &b,
                    BoxAction::Adjust,
                    Some("helmet"),
                    Some(BBox::new(190.0, 190.0, 40.0, 40.0)),
                )],
                None,
            )
            .unwrap();
        store
            .record_box_decisions(
                &[decision(
                    img,
                    "d1",
                    BoxAction::Draw,
                    Some("cup"),
                    Some(BBox::new(5.0, 5.0, 20.0, 20.0)),
                )],
                None,
            )
            .unwrap();
        store
            .record_box_decisions(&[decision(img, &a, BoxAction::Delete, None, None)], None)
            .unwrap();
        let cur = store.item_boxes(img, sets::OBJECT).unwrap();
        let mut got: Vec<(String, String, BBox)> = cur
            .iter()
            .map(|c| (c.box_uid.clone(), c.label.clone(), c.bbox))
            .collect();
        got.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            got,
            vec![
                (
                    "d1".to_string(),
                    "cup".to_string(),
                    BBox::new(5.0, 5.0, 20.0, 20.0)
                ),
                (
                    b.clone(),
                    "helmet".to_string(),
                    BBox::new(190.0, 190.0, 40.0, 40.0)
                ),
            ]
        );
        // Undo the delete, then the adjust: the pedestrian is back, the helmet box returns
        // to the proposal's geometry with the relabel kept.
        let undone = store.undo_last_box_decision(img, "ann").unwrap();
        assert_eq!(undone.action, BoxAction::Delete);
        let undone = store.undo_last_box_decision(img, "ann").unwrap();
        assert_eq!(undone.action, BoxAction::Draw);
        let undone = store.undo_last_box_decision(img, "ann").unwrap();
        assert_eq!(undone.action, BoxAction::Adjust);
        let cur = store.item_boxes(img, sets::OBJECT).unwrap();
        assert_eq!(cur.len(), 2, "{cur:?}");
        let helmet = cur.iter().find(|c| c.box_uid == b).unwrap();
        assert_eq!(
            (helmet.label.as_str(), helmet.bbox),
            ("helmet", props[1].bbox)
        );
        assert!(cur
            .iter()
            .any(|c| c.box_uid == a && c.label == "pedestrian"));
        // History keeps everything: 5 decisions and 3 undos.
        let all = store.box_decisions_for_item(img).unwrap();
        assert_eq!(all.len(), 8);
        assert_eq!(
            all.iter().filter(|d| d.action == BoxAction::Undo).count(),
            3
        );

        // Finishing the image: its item decision, with the boxes in the same call.
        let finish = NewDecision {
            item_id: img,
            label_set: sets::OBJECT.into(),
            label: Some(IMAGE_DONE.into()),
            annotator: "ann".into(),
            action: Action::Correct,
            ms_spent: 100,
            prediction_id: None,
        };
        store.record_box_decisions(&[], Some(&finish)).unwrap();
        assert_eq!(
            store.current_label(img, sets::OBJECT).unwrap().as_deref(),
            Some(IMAGE_DONE)
        );
        assert_eq!(
            store.box_counts(sets::OBJECT).unwrap(),
            vec![("helmet".to_string(), 1), ("pedestrian".to_string(), 1)]
        );
        // Bad input is refused with the reason; nothing half-written.
        let e = store
            .record_box_decisions(
                &[
                    decision(
                        img,
                        "d2",
                        BoxAction::Draw,
                        Some("cup"),
                        Some(BBox::new(1.0, 1.0, 5.0, 5.0)),
                    ),
                    decision(
                        img,
                        "d3",
                        BoxAction::Draw,
                        Some("cup"),
                        Some(BBox::new(1.0, 1.0, 0.0, 5.0)),
                    ),
                ],
                None,
            )
            .unwrap_err();
        assert!(e.to_string().contains("positive size"), "{e}");
        assert_eq!(store.item_boxes(img, sets::OBJECT).unwrap().len(), 2);
    });
}

#[test]
fn box_decisions_cannot_be_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, ids) = photos_project(&dir.path().join("p.yuxuan"));
    store
        .record_box_decisions(
            &[decision(
                ids[0],
                "d1",
                BoxAction::Draw,
                Some("cup"),
                Some(BBox::new(1.0, 1.0, 5.0, 5.0)),
            )],
            None,
        )
        .unwrap();
    drop(store);
    let c = rusqlite::Connection::open(dir.path().join("p.yuxuan")).unwrap();
    let e = c
        .execute("UPDATE box_decisions SET label = 'x'", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = c.execute("DELETE FROM box_decisions", []).unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
}

#[test]
fn the_cli_makes_an_objects_project_and_refuses_a_bad_kind() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("shop.yuxuan");
    let out = common::run(&[
        "new",
        p.to_str().unwrap(),
        "--kind",
        "objects",
        "--labels",
        "pedestrian=person,car,helmet",
    ]);
    let text = common::ok(&out);
    assert!(text.contains("objects project"), "{text}");
    let out = common::run(&[
        "new",
        dir.path().join("x.yuxuan").to_str().unwrap(),
        "--kind",
        "polygons",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("image, form, objects"), "{err}");
    let out = common::run(&[
        "new",
        dir.path().join("y.yuxuan").to_str().unwrap(),
        "--kind",
        "image",
        "--detector",
        "none",
    ]);
    assert!(!out.status.success(), "--detector is for object projects");
}

/// A team project of objects: an annotator login records box decisions under their own name
/// only, finishes images they hold, and the server refuses rewriting boxes or decisions.
#[test]
fn an_annotator_of_a_team_objects_project_records_boxes_under_their_own_name_only() {
    let pg = common::pg();
    let project = common::unique_project("objects-roles");
    let url = pg.url(&project);
    let (owner, ids) = photos_project(Path::new(&url));
    drop(owner);
    let ann = format!("ann_{}", project.replace('-', "_"));
    let ann_url = common::add_annotator(&url, &ann);
    let mut s = Store::open(Path::new(&ann_url)).unwrap();
    assert_eq!(s.role().unwrap(), yuxuan::store::roles::Role::Annotator);
    let got = s.lease_items(sets::OBJECT, &ann, &ids[..1], 1).unwrap();
    assert_eq!(got, vec![ids[0]]);
    let mut d = decision(
        ids[0],
        "d1",
        BoxAction::Draw,
        Some("cup"),
        Some(BBox::new(1.0, 2.0, 30.0, 40.0)),
    );
    d.annotator = ann.clone();
    let finish = NewDecision {
        item_id: ids[0],
        label_set: sets::OBJECT.into(),
        label: Some(IMAGE_DONE.into()),
        annotator: ann.clone(),
        action: Action::Correct,
        ms_spent: 5,
        prediction_id: None,
    };
    s.record_box_decisions(std::slice::from_ref(&d), Some(&finish))
        .unwrap();
    let cur = s.item_boxes(ids[0], sets::OBJECT).unwrap();
    assert_eq!(cur.len(), 1, "the server derived the current box");
    assert_eq!(
        s.current_label(ids[0], sets::OBJECT).unwrap().as_deref(),
        Some(IMAGE_DONE)
    );
    // Someone else's name is refused by the server's row policy.
    let mut other = d.clone();
    other.annotator = "someone-else".into();
    other.box_uid = "d2".into();
    assert!(s.record_box_decisions(&[other], None).is_err());
    s.undo_last_box_decision(ids[0], &ann).unwrap();
    assert!(s.item_boxes(ids[0], sets::OBJECT).unwrap().is_empty());
    drop(s);
    let u = yuxuan::store::TeamUrl::parse(&ann_url).unwrap();
    let mut c = yuxuan::store::team::connect(&u).unwrap();
    c.batch_execute(&format!("SET search_path TO \"{}\"", u.schema()))
        .unwrap();
    for sql in [
        "UPDATE box_decisions SET label = 'x'",
        "DELETE FROM box_decisions",
        "UPDATE item_boxes SET label = 'x'",
        "INSERT INTO item_boxes (item_id, label_set_id, box_uid, label, x, y, w, h, decision_id) SELECT item_id, label_set_id, 'z', 'x', 1, 1, 1, 1, id FROM box_decisions LIMIT 1",
        "DELETE FROM box_predictions",
    ] {
        let e = c.batch_execute(sql).expect_err(sql);
        let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
        assert_eq!(code, "42501", "{sql}: {e:?}");
    }
}

fn run_json(py: &Path, script: &str, args: &[&Path]) -> serde_json::Value {
    assert!(py.exists(), "{} is missing: run `make setup`", py.display());
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(script);
    let out = std::process::Command::new(py)
        .arg(&script)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} failed:\n{stdout}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// Every current box of a project as (image file name, label, box), sorted.
fn boxes_by_file(project: &Path) -> Vec<(String, String, BBox)> {
    let store = Store::open(project).unwrap();
    let mut out = Vec::new();
    for it in store
        .items_of_kind(yuxuan::domain::ItemKind::Image)
        .unwrap()
    {
        let name = Path::new(&it.source_path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for b in store.item_boxes(it.id, sets::OBJECT).unwrap() {
            out.push((name.clone(), b.label, b.bbox));
        }
    }
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    out
}

/// The README's path with real photos and their VOC boxes: new, import, import-labels,
/// export COCO / YOLO with splits, and the exports read by pycocotools and ultralytics; the
/// COCO export imported into a fresh project gives the same boxes back.
#[test]
fn real_voc_boxes_go_in_and_out_and_the_real_readers_accept_the_exports() {
    let voc =
        yuxuan::assets::cache_dir().join("data-v1/boxes/labelme/bbox_detection/data_dataset_voc");
    assert!(
        voc.join("Annotations").is_dir(),
        "{} is missing: run `make setup`",
        voc.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("voc.yuxuan");
    let ps = p.to_str().unwrap();
    common::ok(&common::run(&[
        "new",
        ps,
        "--kind",
        "objects",
        "--labels",
        "person,bus,car",
    ]));
    common::ok(&common::run(&[
        "import",
        ps,
        voc.join("JPEGImages").to_str().unwrap(),
    ]));
    let out = common::ok(&common::run(&["import-labels", ps, voc.to_str().unwrap()]));
    assert!(
        out.contains("3 of 3 images matched, 9 boxes recorded"),
        "{out}"
    );
    let before = boxes_by_file(&p);
    assert_eq!(before.len(), 9);

    // COCO with splits: pycocotools loads it and scores it 1.0 against itself.
    let coco = dir.path().join("coco");
    let out = common::ok(&common::run(&[
        "export",
        ps,
        "--format",
        "coco",
        "--out",
        coco.to_str().unwrap(),
        "--split",
        "0.67,0.33",
    ]));
    assert!(out.contains("3 human labels"), "{out}");
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(coco.join("annotations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("instances")
        })
        .collect();
    assert!(!files.is_empty());
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let v = run_json(
        &yuxuan::assets::venv_python(),
        "check_coco_export.py",
        &refs,
    );
    assert!((v["min_ap"].as_f64().unwrap() - 1.0).abs() < 1e-12, "{v}");
    assert_eq!(v["annotations"].as_u64(), Some(9), "{v}");

    // YOLO: ultralytics' own dataset code reads every image and label, nothing corrupt.
    let yolo = dir.path().join("yolo");
    common::ok(&common::run(&[
        "export",
        ps,
        "--format",
        "yolo",
        "--out",
        yolo.to_str().unwrap(),
        "--split",
        "0.67,0.33",
    ]));
    let v = run_json(
        &yuxuan::assets::ultralytics_python(),
        "check_yolo_export.py",
        &[&yolo.join("data.yaml")],
    );
    assert_eq!(v["corrupt"].as_u64(), Some(0), "{v}");
    assert_eq!(v["images"].as_u64(), Some(3), "{v}");
    assert_eq!(v["boxes"].as_u64(), Some(9), "{v}");
    assert_eq!(v["names"][0].as_str(), Some("person"), "{v}");

    // Round trip: the COCO export into a fresh project gives the same boxes.
    let q = dir.path().join("again.yuxuan");
    let qs = q.to_str().unwrap();
    common::ok(&common::run(&["new", qs, "--kind", "objects"]));
    common::ok(&common::run(&[
        "import",
        qs,
        coco.join("images").to_str().unwrap(),
    ]));
    for f in &files {
        common::ok(&common::run(&["import-labels", qs, f.to_str().unwrap()]));
    }
    let after = boxes_by_file(&q);
    assert_eq!(before.len(), after.len());
    for (a, b) in before.iter().zip(&after) {
        assert_eq!((&a.0, &a.1), (&b.0, &b.1));
        assert!(
            (a.2.x - b.2.x).abs() < 1e-6 && (a.2.w - b.2.w).abs() < 1e-6,
            "{a:?} {b:?}"
        );
    }
}

/// Overlap images: two annotators' boxes compared box by box (`yuxuan agreement`).
#[test]
fn two_annotators_boxes_are_compared_box_by_box() {
    common::on_both_backends("objects-agree", |loc| {
        let (mut store, ids) = photos_project(loc);
        store
            .set_overlap(yuxuan::store::quality::Overlap::parse("1x2").unwrap())
            .unwrap();
        let img = ids[0];
        for (who, boxes) in [
            (
                "ann",
                vec![
                    ("cup", BBox::new(0.0, 0.0, 10.0, 10.0)),
                    ("helmet", BBox::new(100.0, 0.0, 10.0, 10.0)),
                ],
            ),
            (
                "bob",
                vec![
                    ("cup", BBox::new(1.0, 0.0, 10.0, 10.0)),
                    ("cup", BBox::new(100.0, 0.0, 10.0, 10.0)),
                    ("cup", BBox::new(300.0, 0.0, 10.0, 10.0)),
                ],
            ),
        ] {
            let ds: Vec<NewBoxDecision> = boxes
                .iter()
                .enumerate()
                .map(|(k, (l, b))| {
                    let mut d = decision(
                        img,
                        &format!("{who}{k}"),
                        BoxAction::Draw,
                        Some(l),
                        Some(*b),
                    );
                    d.annotator = who.into();
                    d
                })
                .collect();
            let finish = NewDecision {
                item_id: img,
                label_set: sets::OBJECT.into(),
                label: Some(IMAGE_DONE.into()),
                annotator: who.into(),
                action: Action::Correct,
                ms_spent: 5,
                prediction_id: None,
            };
            store.record_box_decisions(&ds, Some(&finish)).unwrap();
        }
        let r = yuxuan::review::agreement::of_project(&store, sets::OBJECT).unwrap();
        assert_eq!(r.box_pairs.len(), 1, "{r:?}");
        let p = &r.box_pairs[0];
        assert_eq!((p.images, p.matched, p.only_a, p.only_b), (1, 2, 0, 1));
        assert_eq!(p.label_agreement, Some(0.5));
    });
}

//! Project store: migrations, newer-schema refusal, history/undo, two writers, kill -9.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rusqlite::Connection;
use yuxuan::domain::{Action, ItemKind, NewDecision, NewItem, NewLabel, TaskKind};
use yuxuan::store::{Store, StoreError, SCHEMA_VERSION};

use crate::common;

fn decision(item_id: i64, label: &str, action: Action) -> NewDecision {
    NewDecision {
        item_id,
        label_set: "class".into(),
        label: Some(label.into()),
        annotator: "ann".into(),
        action,
        ms_spent: 1200,
        prediction_id: None,
    }
}

#[test]
fn create_sets_wal_foreign_keys_and_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = common::image_project(dir.path(), &["cat", "dog"], 3);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    drop(store);
    let c = Connection::open(&path).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.project().unwrap().kind, TaskKind::Image);
    assert_eq!(
        store
            .labels("class")
            .unwrap()
            .iter()
            .map(|l| l.hotkey.clone().unwrap())
            .collect::<Vec<_>>(),
        ["1", "2"]
    );
}

#[test]
fn newer_schema_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = common::image_project(dir.path(), &["a"], 1);
    drop(store);
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err:?}");
    assert!(
        err.to_string().contains("newer than this yuxuan supports"),
        "{err}"
    );
    // The CLI says it in one line and exits non-zero.
    let out = common::run(&["stats", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("upgrade yuxuan"));
}

/// Every released schema version has a fixture file (tests/fixtures/schema_vN.yuxuan, made by
/// scripts/make_fixture.py from that version's migrations, with a few labelled items); opening
/// it migrates it and keeps the data. Add a fixture whenever a migration is added.
#[test]
fn every_released_schema_version_upgrades_and_keeps_its_data() {
    for v in 1..=SCHEMA_VERSION {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/schema_v{v}.yuxuan"));
        assert!(
            fixture.exists(),
            "missing fixture for schema version {v}: {}",
            fixture.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("old.yuxuan");
        std::fs::copy(&fixture, &copy).unwrap();
        let before: i64 = Connection::open(&copy)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(before, v);
        let mut store = Store::open(&copy).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(
            store.current_labels("class").unwrap().len(),
            2,
            "labels survive the upgrade from v{v}"
        );
        assert_eq!(store.integrity_check().unwrap(), "ok");
        // And the upgraded file is fully usable.
        store
            .put_embeddings("test", &[(1, vec![1.0, 2.0])])
            .unwrap();
        store
            .record_decision(&decision(1, "dog", Action::Correct))
            .unwrap();
        assert_eq!(
            store.current_label(1, "class").unwrap().as_deref(),
            Some("dog")
        );
    }
}

#[test]
fn undo_appends_history_and_restores_the_previous_label_redo_reapplies() {
    common::on_both_backends("undo", undo_body);
}

fn undo_body(loc: &Path) {
    let mut store = common::image_project_at(loc, &["cat", "dog"], 2);
    store
        .record_decision(&decision(1, "cat", Action::Accept))
        .unwrap();
    store
        .record_decision(&decision(1, "dog", Action::Correct))
        .unwrap();
    store
        .record_decision(&decision(2, "cat", Action::Accept))
        .unwrap();
    assert_eq!(
        store.current_label(1, "class").unwrap().as_deref(),
        Some("dog")
    );

    // Undo crosses items: first the decision on item 2, then item 1's correction.
    assert_eq!(store.undo("ann").unwrap().item_id, 2);
    assert_eq!(store.current_label(2, "class").unwrap(), None);
    assert_eq!(store.undo("ann").unwrap().item_id, 1);
    assert_eq!(
        store.current_label(1, "class").unwrap().as_deref(),
        Some("cat")
    );
    // Nothing was deleted: 3 decisions + 2 undo rows.
    assert_eq!(store.decision_count().unwrap(), 5);

    let redone = store.redo("ann").unwrap();
    assert_eq!((redone.item_id, redone.label.as_deref()), (1, Some("dog")));
    assert_eq!(
        store.current_label(1, "class").unwrap().as_deref(),
        Some("dog")
    );

    // Undo survives a reopen (another session).
    let path = store.path().to_path_buf();
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.undo("ann").unwrap().item_id, 1);
    assert_eq!(
        store.current_label(1, "class").unwrap().as_deref(),
        Some("cat")
    );
    // Other annotators' history is theirs.
    assert!(matches!(
        store.undo("someone-else"),
        Err(StoreError::NothingTo("undo"))
    ));
}

#[test]
fn decisions_are_validated() {
    common::on_both_backends("validated", |loc| {
        let mut store = common::image_project_at(loc, &["cat"], 1);
        validated_body(&mut store)
    });
}

fn validated_body(store: &mut Store) {
    assert!(matches!(
        store.record_decision(&decision(1, "zebra", Action::Correct)),
        Err(StoreError::UnknownLabel { .. })
    ));
    assert!(matches!(
        store.record_decision(&decision(99, "cat", Action::Correct)),
        Err(StoreError::UnknownItem(99))
    ));
    assert_eq!(store.decision_count().unwrap(), 0);
}

#[test]
fn a_full_disk_is_a_clear_error_and_nothing_saved_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut store) = common::image_project(dir.path(), &["cat", "dog"], 50);
    store
        .record_decision(&decision(1, "cat", Action::Accept))
        .unwrap();
    let pages: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    store.set_max_page_count(pages).unwrap();
    let big: Vec<(i64, Vec<f32>)> = (1..=50).map(|i| (i, vec![0.5; 4096])).collect();
    let err = store.put_embeddings("big", &big).unwrap_err();
    assert!(matches!(err, StoreError::Full(_)), "{err:?}");
    assert!(err.to_string().contains("full"));
    assert_eq!(
        store.current_label(1, "class").unwrap().as_deref(),
        Some("cat")
    );
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn a_read_only_project_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut store) = common::image_project(dir.path(), &["cat"], 2);
    store
        .record_decision(&decision(1, "cat", Action::Accept))
        .unwrap();
    drop(store);
    // Checkpoint the WAL so the main file holds everything, then make it read-only.
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;")
        .unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&path, perms).unwrap();
    if unsafe { libc::geteuid() } == 0 {
        // root ignores file permissions; use SQLite's read-only open instead.
        let c =
            Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let e = c.execute("INSERT INTO decisions (item_id, label_set_id, annotator, action, decided_at) VALUES (1,1,'x','skip','t')", []).unwrap_err();
        assert!(matches!(StoreError::from(e), StoreError::ReadOnly(_)));
        return;
    }
    let mut store = Store::open(&path).unwrap();
    let err = store
        .record_decision(&decision(2, "cat", Action::Accept))
        .unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly(_)), "{err:?}");
    assert_eq!(
        store.current_label(1, "class").unwrap().as_deref(),
        Some("cat")
    );
}

/// Two processes writing decisions to one project at the same time: none lost, no corruption.
#[test]
fn two_writer_processes_lose_nothing() {
    common::on_both_backends("two-writers", two_writers_body);
}

fn two_writers_body(path: &Path) {
    drop(common::image_project_at(path, &["cat", "dog"], 20));
    let spawn = |who: &str| {
        Command::new(common::bin())
            .args([
                "debug-writer",
                path.to_str().unwrap(),
                "--count",
                "300",
                "--annotator",
                who,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("a"), spawn("b"));
    let (oa, ob) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(oa.status.success() && ob.status.success());
    let acked = String::from_utf8_lossy(&oa.stdout).lines().count()
        + String::from_utf8_lossy(&ob.stdout).lines().count();
    assert_eq!(acked, 600);
    let store = Store::open(path).unwrap();
    assert_eq!(store.decision_count().unwrap(), 600);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

/// A writer killed with SIGKILL at several points: every decision it acknowledged is in the
/// database and the file passes integrity_check.
#[test]
fn acknowledged_decisions_survive_kill_9() {
    common::on_both_backends("kill9", kill9_body);
}

fn kill9_body(path: &Path) {
    drop(common::image_project_at(path, &["cat", "dog"], 20));
    let mut total_acked = Vec::new();
    for (round, kill_after) in [1usize, 7, 40, 113].into_iter().enumerate() {
        let mut child = Command::new(common::bin())
            .args([
                "debug-writer",
                path.to_str().unwrap(),
                "--annotator",
                &format!("k{round}"),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let mut acked = Vec::new();
        while acked.len() < kill_after {
            line.clear();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "writer ended early"
            );
            acked.push(
                line.trim()
                    .strip_prefix("saved ")
                    .unwrap()
                    .parse::<i64>()
                    .unwrap(),
            );
        }
        // Kill right after the acknowledgement, mid-stream.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        child.wait().unwrap();
        total_acked.extend(acked);
        std::thread::sleep(Duration::from_millis(10));
    }
    let store = Store::open(path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    for id in &total_acked {
        assert!(
            store.decision(*id).unwrap().is_some(),
            "acknowledged decision {id} was lost"
        );
    }
    assert!(store.decision_count().unwrap() as usize >= total_acked.len());
}

/// The queue of unlabelled items from index scans (`Store::queue_fast`) is the full query's
/// (`Store::queue_candidates`): the same items in the same order for every strategy, with
/// items in error, labelled items, an older model's predictions and ties in margin and score;
/// once an item's shown prediction is not the active model's (only an older model's, or none)
/// the full query orders the queue. On both backends.
#[test]
fn the_queue_from_index_scans_is_the_full_querys() {
    common::on_both_backends("queue-fast", queue_fast_body);
}

fn queue_fast_body(loc: &Path) {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    use yuxuan::queue::{self, Filter, QueueSpec, Strategy};
    use yuxuan::store::models::NewModel;
    use yuxuan::store::predictions::NewPrediction;

    let mut store = Store::create(loc, "q", TaskKind::Image).unwrap();
    store
        .add_labels("class", &["a", "b", "c"].map(NewLabel::named))
        .unwrap();
    let items: Vec<NewItem> = (0..60)
        .map(|i| {
            let mut it = NewItem::new(ItemKind::Image, format!("img/{i:03}.png"));
            it.content_hash = Some(format!("h{i}"));
            if i % 13 == 4 {
                it.error = Some("cannot decode".into());
            }
            it
        })
        .collect();
    let ids: Vec<i64> = store
        .insert_items(&items)
        .unwrap()
        .into_iter()
        .map(|r| r.id())
        .collect();
    let model = |store: &mut Store| {
        store
            .add_model(&NewModel {
                label_set: "class".into(),
                kind: "test".into(),
                parent_id: None,
                training_run_id: None,
                labels: vec!["a".into(), "b".into(), "c".into()],
                spec: serde_json::json!({}),
                metrics: None,
                weights_path: None,
                weights_sha256: None,
            })
            .unwrap()
            .id
    };
    // Scores and margins on a coarse grid: many ties, broken by item id.
    let preds = |ids: &[i64], salt: i64| -> Vec<NewPrediction> {
        ids.iter()
            .map(|&id| {
                let s = 0.4 + ((id * 7 + salt) % 5) as f64 * 0.1;
                let second = (1.0 - s) * (((id + salt) % 3) as f64 / 3.0);
                NewPrediction {
                    item_id: id,
                    top: vec![("a".into(), s), ("b".into(), second)],
                }
            })
            .collect()
    };
    let old = model(&mut store);
    store
        .put_predictions("class", Some(old), &preds(&ids, 1))
        .unwrap();
    let active = model(&mut store);
    store
        .put_predictions("class", Some(active), &preds(&ids, 0))
        .unwrap();
    store.activate_model(active).unwrap();
    for &id in ids.iter().step_by(7) {
        store
            .record_decision(&decision(id, "c", Action::Correct))
            .unwrap();
    }

    let spec = |strategy| QueueSpec {
        label_set: "class".into(),
        strategy,
        filter: Filter::Unlabeled,
        seed: 3,
        annotator: None,
    };
    // The full query's order (before the random strategy's shuffle).
    let full = |store: &Store, strategy| -> Vec<i64> {
        store
            .queue_candidates(&spec(strategy))
            .unwrap()
            .iter()
            .map(|c| c.item_id)
            .collect()
    };
    let check = |store: &Store, fast_expected: bool| {
        for s in [
            Strategy::Uncertain,
            Strategy::Confident,
            Strategy::FileOrder,
            Strategy::Random,
        ] {
            let expected = full(store, s);
            let fast = store.queue_fast(&spec(s)).unwrap();
            let by_index = s == Strategy::FileOrder || s == Strategy::Random;
            assert_eq!(fast.is_some(), fast_expected || by_index, "{s:?}");
            if let Some(f) = fast {
                assert_eq!(f, expected, "{s:?}");
            }
            let mut queued = expected.clone();
            if s == Strategy::Random {
                queued.shuffle(&mut rand::rngs::StdRng::seed_from_u64(3));
            }
            assert_eq!(queue::build(store, &spec(s)).unwrap(), queued, "{s:?}");
        }
    };
    let expected = full(&store, Strategy::Uncertain);
    assert_eq!(expected.len(), 60 - 9 - 4, "{expected:?}");
    check(&store, true);
    // An item of another kind (not in this set's queue): the items of the kind are listed.
    store
        .insert_items(&[NewItem::new(ItemKind::Page, "pages/a.html")])
        .unwrap();
    check(&store, true);

    // Another filter, or an annotator's queue: the full query.
    let mut s = spec(Strategy::Uncertain);
    s.filter = Filter::All;
    assert_eq!(store.queue_fast(&s).unwrap(), None);
    let mut s = spec(Strategy::Uncertain);
    s.annotator = Some("ann".into());
    assert_eq!(store.queue_fast(&s).unwrap(), None);

    // New items: one with only the older model's prediction, one with none.
    let more: Vec<i64> = store
        .insert_items(&[
            NewItem::new(ItemKind::Image, "img/new-1.png"),
            NewItem::new(ItemKind::Image, "img/new-2.png"),
        ])
        .unwrap()
        .into_iter()
        .map(|r| r.id())
        .collect();
    store
        .put_predictions("class", Some(old), &preds(&more[..1], 2))
        .unwrap();
    check(&store, false);
    let q = queue::build(&store, &spec(Strategy::Uncertain)).unwrap();
    assert_eq!(q.last(), Some(&more[1]), "no prediction: last");
    assert!(q.contains(&more[0]));
}

//! Team quality control: blind overlap, gold checks, agreement, the review queue, and roles
//! the server enforces (a real PostgreSQL server the tests start; agreement also on a file).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use yuxuan::domain::{sets, Action, NewDecision};
use yuxuan::queue::{self, Filter, QueueSpec, Strategy};
use yuxuan::store::Store;

use crate::common;

fn truth_of(store: &Store, truth_csv: &Path) -> HashMap<i64, String> {
    let (by_path, _) = yuxuan::ingest::images::read_labels_csv(truth_csv).unwrap();
    yuxuan::simulate::truth_by_item(store, &by_path).unwrap()
}

/// 20 scripted annotators on 2,000 items with 10 % × 3 overlap, 100 gold items and a known
/// error rate: the overlap is exact and blind, agreement and gold accuracy measure the error
/// rate, and after the lead's review every contested item exports as the truth.
#[test]
fn overlap_gold_agreement_and_review_on_a_team_project() {
    let pg = common::pg();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url(&common::unique_project("qc"));
    let labels = ["cat", "dog", "bird", "fish"];
    let n = 2000;
    let truth_csv = common::synthetic_project(&url, &labels, n, dir.path());
    // Leases long enough that nobody's item runs out mid-run.
    let store = Store::open(Path::new(&url)).unwrap();
    store
        .set_setting("lease_minutes", serde_json::json!(5))
        .unwrap();
    let truth = truth_of(&store, &truth_csv);
    // The lead marks 100 items as gold.
    let gold_csv = dir.path().join("gold.csv");
    let mut ids: Vec<i64> = truth.keys().copied().collect();
    ids.sort();
    let gold_ids: Vec<i64> = ids.iter().copied().step_by(19).take(100).collect();
    let mut w = String::from("item_id,label\n");
    for id in &gold_ids {
        w.push_str(&format!("{id},{}\n", truth[id]));
    }
    std::fs::write(&gold_csv, w).unwrap();
    common::ok(&common::run(&["gold", &url, gold_csv.to_str().unwrap()]));
    drop(store);

    let err = 0.1;
    let out = common::ok(&common::run(&[
        "simulate",
        &url,
        "--truth",
        truth_csv.to_str().unwrap(),
        "--annotators",
        "20",
        "--overlap",
        "0.1x3",
        "--error-rate",
        &err.to_string(),
        "--think-ms",
        "0",
    ]));
    drop(out);

    let store = Store::open(Path::new(&url)).unwrap();
    let overlap: HashMap<i64, i64> = store.overlap_items().unwrap().into_iter().collect();
    let share = overlap.len() as f64 / n as f64;
    assert!((0.07..0.13).contains(&share), "overlap share {share}");
    let gold: HashSet<i64> = gold_ids.iter().copied().collect();
    // Who answered what: nobody twice, overlap items exactly 3 times, others once.
    let mut answers: HashMap<i64, Vec<String>> = HashMap::new();
    for d in store.all_decisions().unwrap() {
        if d.action.answers() {
            answers
                .entry(d.item_id)
                .or_default()
                .push(d.annotator.clone());
        }
    }
    for (item, who) in &answers {
        let distinct: HashSet<&String> = who.iter().collect();
        assert_eq!(
            distinct.len(),
            who.len(),
            "item {item} answered twice by one annotator: {who:?}"
        );
        if gold.contains(item) {
            continue;
        }
        let want = overlap.get(item).copied().unwrap_or(1) as usize;
        assert_eq!(
            who.len(),
            want,
            "item {item} (needs {want}) answered by {who:?}"
        );
    }
    assert_eq!(
        answers.keys().filter(|i| !gold.contains(i)).count(),
        n - gold.len(),
        "every item answered"
    );

    // Agreement: the error rate shows in kappa/alpha and in the gold accuracy.
    let json = common::ok(&common::run(&["agreement", &url, "--json"]));
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    let (po, kappa) = yuxuan::review::agreement::expected_with_error_rate(err, labels.len());
    let raw = r["raw"].as_f64().unwrap();
    let alpha = r["alpha"].as_f64().unwrap();
    // Within sampling error: 4 standard errors of the mean per-item agreement (the items are
    // the independent units; alpha moves with it over 1 - p_e = 3/4).
    let se = item_agreement_se(&store);
    assert!(
        (raw - po).abs() < 4.0 * se,
        "raw agreement {raw}, expected {po:.3} (se {se:.3})"
    );
    assert!(
        (alpha - kappa).abs() < 4.0 * se / 0.75 + 0.01,
        "alpha {alpha}, expected {kappa:.3} (se {se:.3})"
    );
    let (checked, correct) = r["gold"]
        .as_array()
        .unwrap()
        .iter()
        .fold((0, 0), |(c, k), g| {
            (
                c + g["checked"].as_u64().unwrap(),
                k + g["correct"].as_u64().unwrap(),
            )
        });
    assert!(checked >= 60, "gold checks were mixed in: {checked}");
    let acc = correct as f64 / checked as f64;
    let se_gold = (err * (1.0 - err) / checked as f64).sqrt();
    assert!(
        (acc - (1.0 - err)).abs() < 4.0 * se_gold,
        "gold accuracy {acc} over {checked} checks (se {se_gold:.3})"
    );
    let text = common::ok(&common::run(&["agreement", &url]));
    assert!(text.contains("Krippendorff"), "{text}");

    // The review queue: the contested overlap items, not the gold ones; the lead resolves it.
    let spec = QueueSpec {
        label_set: sets::CLASS.into(),
        strategy: Strategy::FileOrder,
        filter: Filter::Review,
        seed: 0,
        annotator: None,
    };
    let contested = queue::build(&store, &spec).unwrap();
    assert!(!contested.is_empty());
    assert!(contested
        .iter()
        .all(|i| overlap.contains_key(i) && !gold.contains(i)));
    assert_eq!(
        contested.len() as u64,
        r["disagreements"].as_u64().unwrap() - contested_gold(&store, &gold),
    );
    let mut answers_of: HashMap<i64, Vec<String>> = HashMap::new();
    for a in store.annotations(sets::CLASS).unwrap() {
        answers_of.entry(a.item_id).or_default().extend(a.label);
    }
    drop(store);
    let ctx = yuxuan::jobs::JobCtx::new("review");
    yuxuan::simulate::team::review_queue(Path::new(&url), "lead", &truth, &ctx).unwrap();
    let store = Store::open(Path::new(&url)).unwrap();
    assert!(
        queue::build(&store, &spec).unwrap().is_empty(),
        "review queue resolved"
    );

    // The export: overlap and gold items are the truth; a single annotator's error stays
    // theirs (nobody saw it twice).
    let out = dir.path().join("export");
    common::ok(&common::run(&[
        "export",
        &url,
        "--format",
        "csv",
        "--out",
        out.to_str().unwrap(),
        "--all-annotators",
    ]));
    let mut rdr = csv::Reader::from_path(out.join("labels.csv")).unwrap();
    let mut exported: BTreeMap<i64, String> = BTreeMap::new();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        exported.insert(rec[10].parse().unwrap(), rec[1].to_string());
    }
    assert_eq!(exported.len(), n);
    let contested: HashSet<i64> = contested.into_iter().collect();
    let mut wrong_single = 0;
    for (id, label) in &exported {
        if contested.contains(id) || gold.contains(id) {
            assert_eq!(label, &truth[id], "item {id} after review");
        } else if overlap.contains_key(id) {
            // Its annotators all agreed (rarely on the same wrong label): their label.
            let theirs: HashSet<&String> = answers_of[id].iter().collect();
            assert_eq!(
                theirs.into_iter().collect::<Vec<_>>(),
                vec![label],
                "item {id}"
            );
        } else if label != &truth[id] {
            wrong_single += 1;
        }
    }
    let rate = wrong_single as f64 / (n - overlap.len() - gold.len()) as f64;
    assert!(
        (rate - err).abs() < 0.04,
        "single-annotator error rate {rate}"
    );
    // Every annotator's answer is in annotations.csv.
    let mut rdr = csv::Reader::from_path(out.join("annotations.csv")).unwrap();
    let rows = rdr.records().count();
    assert_eq!(rows, answers.values().map(Vec::len).sum::<usize>());
}

/// Standard error of the mean share of agreeing pairs per item (items with 2+ labels).
fn item_agreement_se(store: &Store) -> f64 {
    let mut by_item: HashMap<i64, Vec<String>> = HashMap::new();
    for a in store.annotations(sets::CLASS).unwrap() {
        by_item.entry(a.item_id).or_default().extend(a.label);
    }
    let per: Vec<f64> = by_item
        .values()
        .filter(|v| v.len() >= 2)
        .map(|v| {
            let (mut agree, mut pairs) = (0, 0);
            for i in 0..v.len() {
                for j in i + 1..v.len() {
                    pairs += 1;
                    agree += usize::from(v[i] == v[j]);
                }
            }
            agree as f64 / pairs as f64
        })
        .collect();
    let n = per.len() as f64;
    let mean = per.iter().sum::<f64>() / n;
    let var = per.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (var / n).sqrt()
}

/// Overlap items whose annotators disagree and that are gold (not in the review queue).
fn contested_gold(store: &Store, gold: &HashSet<i64>) -> u64 {
    let mut by_item: HashMap<i64, HashSet<String>> = HashMap::new();
    for a in store.annotations(sets::CLASS).unwrap() {
        if let Some(l) = a.label {
            by_item.entry(a.item_id).or_default().insert(l);
        }
    }
    by_item
        .iter()
        .filter(|(i, ls)| gold.contains(i) && ls.len() > 1)
        .count() as u64
}

/// On a project file, several annotator names: overlap, agreement and the review queue work
/// the same; an undo gives the item back to its annotator; decisions cannot be changed.
#[test]
fn agreement_and_review_on_a_project_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yuxuan");
    let truth_csv =
        common::synthetic_project(path.to_str().unwrap(), &["cat", "dog"], 300, dir.path());
    let out = common::ok(&common::run(&[
        "simulate",
        path.to_str().unwrap(),
        "--truth",
        truth_csv.to_str().unwrap(),
        "--annotators",
        "3",
        "--overlap",
        "0.2x2",
        "--error-rate",
        "0.2",
        "--think-ms",
        "0",
        "--review-as",
        "lead",
    ]));
    drop(out);
    let mut store = Store::open(&path).unwrap();
    let truth = truth_of(&store, &truth_csv);
    let overlap: HashMap<i64, i64> = store.overlap_items().unwrap().into_iter().collect();
    assert!(!overlap.is_empty());
    let answers = store.annotations(sets::CLASS).unwrap();
    for (item, need) in &overlap {
        let k = answers.iter().filter(|a| a.item_id == *item).count() as i64;
        assert_eq!(k, *need, "overlap item {item}");
    }
    // After the review every contested overlap item has the truth as its label; the others
    // the label both annotators gave.
    for item in overlap.keys() {
        let theirs: HashSet<&str> = answers
            .iter()
            .filter(|a| a.item_id == *item)
            .filter_map(|a| a.label.as_deref())
            .collect();
        let want = if theirs.len() > 1 {
            truth[item].as_str()
        } else {
            theirs.into_iter().next().unwrap()
        };
        assert_eq!(
            store.current_label(*item, sets::CLASS).unwrap().as_deref(),
            Some(want),
            "item {item}"
        );
    }
    let r = yuxuan::review::agreement::of_project(&store, sets::CLASS).unwrap();
    assert!(r.annotators.len() >= 2, "{:?}", r.annotators);
    assert!(r.alpha.is_some() && r.raw.is_some());

    // A lead's review wins over the majority; undoing it brings the majority back.
    let item = *overlap.keys().next().unwrap();
    let other = if truth[&item] == "cat" { "dog" } else { "cat" };
    let before = store.current_label(item, sets::CLASS).unwrap();
    store
        .record_decision(&NewDecision {
            item_id: item,
            label_set: sets::CLASS.into(),
            label: Some(other.into()),
            annotator: "lead".into(),
            action: Action::Review,
            ms_spent: 0,
            prediction_id: None,
        })
        .unwrap();
    assert_eq!(
        store.current_label(item, sets::CLASS).unwrap().as_deref(),
        Some(other)
    );
    store.undo("lead").unwrap();
    assert_eq!(store.current_label(item, sets::CLASS).unwrap(), before);

    // Decisions are append-only, even for the file's owner.
    let c = rusqlite::Connection::open(&path).unwrap();
    let e = c
        .execute("UPDATE decisions SET label = 'dog' WHERE id = 1", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = c.execute("DELETE FROM decisions", []).unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
}

/// A flag ("not sure") sends the item to the review queue and out of the annotator's queue.
#[test]
fn a_flagged_item_goes_to_review() {
    common::on_both_backends("flag", |path| {
        let mut store = common::image_project_at(path, &["cat", "dog"], 4);
        let first = store
            .items_of_kind(yuxuan::domain::ItemKind::Image)
            .unwrap()[0]
            .id;
        store
            .record_decision(&NewDecision {
                item_id: first,
                label_set: sets::CLASS.into(),
                label: None,
                annotator: "ann".into(),
                action: Action::Flag,
                ms_spent: 10,
                prediction_id: None,
            })
            .unwrap();
        let mine = QueueSpec {
            label_set: sets::CLASS.into(),
            annotator: Some("ann".into()),
            ..Default::default()
        };
        assert!(!queue::build(&store, &mine).unwrap().contains(&first));
        let review = QueueSpec {
            label_set: sets::CLASS.into(),
            filter: Filter::Review,
            ..Default::default()
        };
        assert_eq!(queue::build(&store, &review).unwrap(), vec![first]);
        store
            .record_decision(&NewDecision {
                item_id: first,
                label_set: sets::CLASS.into(),
                label: Some("dog".into()),
                annotator: "lead".into(),
                action: Action::Review,
                ms_spent: 0,
                prediction_id: None,
            })
            .unwrap();
        assert!(queue::build(&store, &review).unwrap().is_empty());
        assert_eq!(
            store.current_label(first, sets::CLASS).unwrap().as_deref(),
            Some("dog")
        );
    });
}

/// `yuxuan team add-member`: the server itself refuses what an annotator may not do.
#[test]
fn an_annotator_login_is_refused_by_the_server() {
    let pg = common::pg();
    let dir = tempfile::tempdir().unwrap();
    let project = common::unique_project("roles");
    let url = pg.url(&project);
    common::synthetic_project(&url, &["cat", "dog"], 10, dir.path());
    let owner = Store::open(Path::new(&url)).unwrap();
    let items: Vec<i64> = owner
        .items_of_kind(yuxuan::domain::ItemKind::Image)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    drop(owner);
    let ann = format!("ann_{}", project.replace('-', "_"));
    let lead = format!("lead_{}", project.replace('-', "_"));
    let ann_url = common::add_annotator(&url, &ann);
    let lead_add = common::run_with_stdin(
        &[
            "team",
            "add-member",
            &url,
            &lead,
            "--role",
            "lead",
            "--password-stdin",
        ],
        "lead-secret\n",
    );
    common::ok(&lead_add);
    let members = common::ok(&common::run(&["team", "members", &url]));
    assert!(
        members.contains(&ann) && members.contains("annotator"),
        "{members}"
    );
    assert!(members.contains(&lead), "{members}");
    let as_user =
        |user: &str, pw: &str| url.replacen("postgres:yuxuan-test@", &format!("{user}:{pw}@"), 1);
    let lead_url = as_user(&lead, "lead-secret");

    // The lead marks a gold item (through the app's store API).
    let mut ls = Store::open(Path::new(&lead_url)).unwrap();
    assert_eq!(ls.role().unwrap(), yuxuan::store::roles::Role::Lead);
    ls.add_gold(sets::CLASS, &[(items[0], "cat".into())], &lead)
        .unwrap();
    drop(ls);

    // The annotator works through the store: leases, decides under their own name.
    let mut s = Store::open(Path::new(&ann_url)).unwrap();
    assert_eq!(s.role().unwrap(), yuxuan::store::roles::Role::Annotator);
    assert_eq!(s.member_name().unwrap().as_deref(), Some(ann.as_str()));
    let got = s.lease_items(sets::CLASS, &ann, &items[1..3], 1).unwrap();
    assert_eq!(got, vec![items[1]]);
    let d = |who: &str, action: Action, label: Option<&str>| NewDecision {
        item_id: items[1],
        label_set: sets::CLASS.into(),
        label: label.map(str::to_string),
        annotator: who.into(),
        action,
        ms_spent: 5,
        prediction_id: None,
    };
    s.record_decision(&d(&ann, Action::Accept, Some("dog")))
        .unwrap();
    assert_eq!(
        s.current_label(items[1], sets::CLASS).unwrap().as_deref(),
        Some("dog")
    );
    s.undo(&ann).unwrap();
    assert_eq!(s.current_label(items[1], sets::CLASS).unwrap(), None);
    // The gold item is in their queue like any other, its answer is not readable.
    assert!(s.gold_open(sets::CLASS, &ann).unwrap().contains(&items[0]));
    assert_eq!(s.current_label(items[0], sets::CLASS).unwrap(), None);
    assert!(s.gold(sets::CLASS).is_err());
    // Someone else's name, or a review, is refused.
    assert!(s
        .record_decision(&d("someone-else", Action::Accept, Some("dog")))
        .is_err());
    assert!(s
        .record_decision(&d(&ann, Action::Review, Some("dog")))
        .is_err());
    drop(s);

    // And in plain SQL, the server refuses each statement.
    let mut c = raw_client(&ann_url);
    let refused = [
        "UPDATE labels SET name = 'x'",
        "INSERT INTO labels (label_set_id, name, position) VALUES (1, 'new', 99)",
        "UPDATE item_labels SET label = 'cat'",
        "INSERT INTO item_labels (item_id, label_set_id, label, decision_id) SELECT id, 1, 'cat', 1 FROM items LIMIT 1",
        "UPDATE models SET active = 1",
        "INSERT INTO models (label_set_id, version, kind, labels_json, created_at) VALUES (1, 99, 'x', '[]', 'now')",
        "SELECT * FROM gold",
        "SELECT * FROM annotations",
        "UPDATE decisions SET label = 'cat'",
        "DELETE FROM decisions",
        "UPDATE project SET settings_json = '{}'",
    ];
    for sql in refused {
        let e = c.batch_execute(sql).expect_err(sql);
        let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
        assert!(code == "42501", "{sql}: {e:?}");
    }
    // Blind: only their own decisions are visible (the lead's gold review is not).
    let others: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM decisions WHERE annotator <> current_user",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(others, 0);
    // Append-only for the lead and the owner too.
    for u in [&lead_url, &url] {
        let mut c = raw_client(u);
        let e = c
            .batch_execute("UPDATE decisions SET label = 'dog'")
            .unwrap_err();
        assert!(format!("{e:?}").contains("append-only"), "{e:?}");
        let e = c.batch_execute("DELETE FROM decisions").unwrap_err();
        assert!(format!("{e:?}").contains("append-only"), "{e:?}");
    }
    common::ok(&common::run(&["team", "remove-member", &url, &ann]));
    assert!(
        Store::open(Path::new(&ann_url)).is_err(),
        "a removed member cannot log in"
    );
}

fn raw_client(url: &str) -> postgres::Client {
    let u = yuxuan::store::TeamUrl::parse(url).unwrap();
    let mut c = yuxuan::store::team::connect(&u).unwrap();
    c.batch_execute(&format!("SET search_path TO \"{}\"", u.schema()))
        .unwrap();
    c
}

/// Gold checks come at the project's rate of each annotator's own answers, never first.
#[test]
fn gold_checks_come_at_the_rate_of_ones_own_answers() {
    common::on_both_backends("goldrate", |path| {
        let mut store = common::image_project_at(path, &["cat", "dog"], 40);
        let ids: Vec<i64> = store
            .items_of_kind(yuxuan::domain::ItemKind::Image)
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect();
        store
            .add_gold(
                sets::CLASS,
                &[(ids[0], "cat".into()), (ids[1], "dog".into())],
                "lead",
            )
            .unwrap();
        store
            .set_setting(yuxuan::store::quality::GOLD_RATE, serde_json::json!(0.1))
            .unwrap();
        let answer = |store: &mut Store, id: i64| {
            store
                .record_decision(&NewDecision {
                    item_id: id,
                    label_set: sets::CLASS.into(),
                    label: Some("cat".into()),
                    annotator: "ann".into(),
                    action: Action::Correct,
                    ms_spent: 1,
                    prediction_id: None,
                })
                .unwrap();
        };
        let mut regular = ids[2..].iter().copied();
        let mut golds = 0;
        for k in 0..30 {
            match store.gold_due(sets::CLASS, "ann").unwrap() {
                Some(g) => {
                    assert!(k >= 9, "a gold check at answer {k}");
                    assert!(ids[..2].contains(&g));
                    answer(&mut store, g);
                    golds += 1;
                }
                None => answer(&mut store, regular.next().unwrap()),
            }
        }
        assert_eq!(golds, 2, "one check per 10 answers while gold items last");
        // Another annotator meets them from the start of their own count.
        assert_eq!(store.gold_due(sets::CLASS, "bob").unwrap(), None);
    });
}

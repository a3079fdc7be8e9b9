//! Team projects on a real PostgreSQL server (a throwaway cluster the tests start): the CLI on
//! URLs, push/pull round trips, leases, exactly-once decisions, scripted annotators under load,
//! kill -9 of annotators, a server restart, bad locations.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use yuxuan::domain::{sets, Action, ItemKind, NewDecision};
use yuxuan::store::Store;

use crate::common;

/// Every file of an export folder: relative path -> text (the manifest without its time).
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                let mut text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
                if rel.ends_with("yuxuan-export.json") {
                    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
                    v.as_object_mut().unwrap().remove("exported_at");
                    text = v.to_string();
                }
                out.insert(rel, text);
            }
        }
    }
    out
}

fn export(project: &str, format: &str, out: &Path) -> BTreeMap<String, String> {
    common::ok(&common::run(&[
        "export",
        project,
        "--format",
        format,
        "--out",
        out.to_str().unwrap(),
    ]));
    tree(out)
}

/// The export of a fully labelled project equals its truth, and each item was decided once.
fn assert_labelled_exactly_as_truth(url: &str, truth: &Path, n: usize) {
    let store = Store::open(Path::new(url)).unwrap();
    let labels: BTreeMap<i64, String> = store
        .current_labels(sets::CLASS)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(labels.len(), n, "every item has a label");
    let mut decided = HashSet::new();
    for d in store.all_decisions().unwrap() {
        assert!(
            decided.insert(d.item_id),
            "item {} was decided twice (second by {})",
            d.item_id,
            d.annotator
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let files = export(url, "csv", &dir.path().join("out"));
    let csv_name = files.keys().find(|k| k.ends_with(".csv")).unwrap().clone();
    let mut rdr = csv::Reader::from_reader(files[&csv_name].as_bytes());
    let headers = rdr.headers().unwrap().clone();
    let pi = headers.iter().position(|h| h == "path").unwrap();
    let li = headers.iter().position(|h| h == "label").unwrap();
    let exported: BTreeMap<String, String> = rdr
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[pi].to_string(), r[li].to_string())
        })
        .collect();
    let mut t = csv::Reader::from_path(truth).unwrap();
    let want: BTreeMap<String, String> = t
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].to_string())
        })
        .collect();
    assert_eq!(exported, want, "the export equals the truth");
}

#[test]
fn push_then_pull_loses_nothing_and_a_team_url_works_like_a_file() {
    let pg = common::pg();
    let dir = tempfile::tempdir().unwrap();
    let files = common::emoji(&["Flags", "Food & Drink", "Smileys & Emotion"], 6);
    let truth = dir.path().join("truth.csv");
    let mut w = String::from("path,label\n");
    for (p, c) in &files {
        w.push_str(&format!(
            "{},{}\n",
            p.display(),
            c.replace(' ', "_").replace('&', "and")
        ));
    }
    std::fs::write(&truth, w).unwrap();
    let file = dir.path().join("shop.yuxuan");
    let f = file.to_str().unwrap();
    common::ok(&common::run(&[
        "new",
        f,
        "--kind",
        "image",
        "--labels",
        "Flags,Food_and_Drink,Smileys_and_Emotion",
    ]));
    let mut args = vec!["import", f, "--labels-csv", truth.to_str().unwrap()];
    let paths: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    args.extend(paths.iter().map(|s| s.as_str()));
    common::ok(&common::run(&args));
    common::ok(&common::run(&["train", f, "--epochs", "15"]));
    let before = export(f, "csv", &dir.path().join("e1"));
    let before_ls = export(f, "label-studio", &dir.path().join("l1"));

    // Push: the team project has the same history, models and files.
    let url = pg.url(&common::unique_project("shop"));
    let text = common::ok(&common::run(&["push", f, &url]));
    assert!(
        text.contains("18 items") && text.contains("18 files"),
        "{text}"
    );
    assert!(
        !text.contains(yuxuan::pgserver::PASSWORD),
        "password printed: {text}"
    );
    assert_eq!(export(&url, "csv", &dir.path().join("e2")), before);
    let team = Store::open(Path::new(&url)).unwrap();
    assert!(team.is_team());
    let (a, b) = (
        Store::open(&file).unwrap().all_decisions().unwrap(),
        team.all_decisions().unwrap(),
    );
    assert_eq!(a, b, "the whole decision history travels");
    // Files come from the database, into this machine's cache, byte for byte.
    let item = &team.items_of_kind(ItemKind::Image).unwrap()[0];
    let local = team
        .local_file(&item.source_path, item.content_hash.as_deref())
        .unwrap();
    assert_ne!(local, PathBuf::from(&item.source_path));
    assert_eq!(
        std::fs::read(&local).unwrap(),
        std::fs::read(&item.source_path).unwrap()
    );
    // The model's weights are in the database too (checksummed).
    let m = team.active_model(sets::CLASS).unwrap().unwrap();
    let (sum, bytes) = team.model_file(m.id).unwrap().unwrap();
    assert_eq!(sum, blake3::hash(&bytes).to_hex().to_string());
    drop(team);

    // The CLI on the URL: stats, train (weights stored in the database), prelabel.
    let stats = common::ok(&common::run(&["stats", &url]));
    assert!(stats.contains("18"), "{stats}");
    common::ok(&common::run(&[
        "train",
        &url,
        "--epochs",
        "5",
        "--activate",
        "always",
    ]));
    let team = Store::open(Path::new(&url)).unwrap();
    let v2 = team.active_model(sets::CLASS).unwrap().unwrap();
    assert_eq!(v2.version, 2);
    assert!(team.model_file(v2.id).unwrap().is_some());
    common::ok(&common::run(&["activate", &url, "1"]));
    drop(team);
    // More of the CLI on the URL, as on a file.
    let more = common::emoji(&["Animals & Nature"], 3);
    let mut args = vec!["import".to_string(), url.clone()];
    args.extend(more.iter().map(|(p, _)| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::ok(&common::run(&args));
    assert!(common::ok(&common::run(&["stats", &url])).contains("21 items"));
    common::ok(&common::run(&["prelabel", &url]));
    let models = common::ok(&common::run(&["models", &url]));
    assert!(models.contains("v1") && models.contains("v2"), "{models}");
    common::ok(&common::run(&["duplicates", &url, "--threshold", "0.99"]));
    let out = common::run(&["simulate", &url, "--truth", truth.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--annotators"),
        "a team simulation without --annotators says how"
    );
    // Back to the pushed state for the snapshot comparison below.
    let team = Store::open(Path::new(&url)).unwrap();
    let extra: Vec<i64> = team
        .items_of_kind(ItemKind::Image)
        .unwrap()
        .into_iter()
        .filter(|i| {
            more.iter()
                .any(|(p, _)| p.display().to_string() == i.source_path)
        })
        .map(|i| i.id)
        .collect();
    assert_eq!(extra.len(), 3);
    drop(team);
    let mut admin = pg.admin().unwrap();
    let schema = format!("yuxuan_{}", url.split("project=").nth(1).unwrap());
    for id in extra {
        admin
            .execute(
                &format!("DELETE FROM \"{schema}\".items WHERE id = $1"),
                &[&id],
            )
            .unwrap();
    }

    // Pull: a local snapshot equal to the team project.
    let copy = dir.path().join("copy.yuxuan");
    common::ok(&common::run(&["pull", &url, copy.to_str().unwrap()]));
    assert_eq!(
        export(copy.to_str().unwrap(), "csv", &dir.path().join("e3")),
        before
    );
    assert_eq!(
        export(
            copy.to_str().unwrap(),
            "label-studio",
            &dir.path().join("l3")
        ),
        before_ls
    );
    let snap = Store::open(&copy).unwrap();
    assert_eq!(snap.models(sets::CLASS).unwrap().len(), 2);
    let w = snap
        .model_weights_file(&snap.active_model(sets::CLASS).unwrap().unwrap())
        .unwrap()
        .unwrap();
    assert!(w.exists() && w.starts_with(dir.path()), "{}", w.display());
    // The snapshot can be trained on and pushed again as another project.
    drop(snap);
    common::ok(&common::run(&[
        "train",
        copy.to_str().unwrap(),
        "--epochs",
        "3",
    ]));
    let url2 = pg.url(&common::unique_project("shop-again"));
    common::ok(&common::run(&[
        "push",
        copy.to_str().unwrap(),
        &url2,
        "--reference-paths",
    ]));
    assert_eq!(export(&url2, "csv", &dir.path().join("e4")), before);
    // `team list` shows both; `team drop` needs --yes.
    let list = common::ok(&common::run(&["team", "list", &url]));
    assert!(list.lines().count() >= 2, "{list}");
    assert!(!common::run(&["team", "drop", &url2]).status.success());
    common::ok(&common::run(&["team", "drop", &url2, "--yes"]));
    assert!(!common::run(&["stats", &url2]).status.success());
}

#[test]
fn bad_team_locations_fail_with_one_clear_line() {
    let pg = common::pg();
    let name = common::unique_project("bad");
    let url = pg.url(&name);
    drop(common::image_project_at(Path::new(&url), &["a"], 1));
    let mut newer = pg.admin().unwrap();
    let newer_name = common::unique_project("newer");
    drop(common::image_project_at(
        Path::new(&pg.url(&newer_name)),
        &["a"],
        1,
    ));
    newer
        .batch_execute(&format!(
            "UPDATE \"yuxuan_{newer_name}\".yuxuan_schema SET version = 99"
        ))
        .unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cases: Vec<(String, &str)> = vec![
        (
            format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port),
            "names no project",
        ),
        (
            "postgres://127.0.0.1:notaport/x?project=a".into(),
            "not a number",
        ),
        (
            format!(
                "postgres://postgres:wrong@127.0.0.1:{}/postgres?project={name}",
                pg.port
            ),
            "refused the login",
        ),
        (
            format!(
                "postgres://postgres:{}@127.0.0.1:{}/nosuchdb?project={name}",
                yuxuan::pgserver::PASSWORD,
                pg.port
            ),
            "does not exist",
        ),
        (pg.url("nobody-here"), "no project \"nobody-here\""),
        (pg.url(&newer_name), "upgrade yuxuan"),
        (
            format!("postgres://postgres:x@127.0.0.1:{closed}/postgres?project=a"),
            "cannot reach the team server",
        ),
    ];
    for (u, want) in cases {
        let out = common::run(&["stats", &u]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{u}: succeeded");
        let first = err.lines().next().unwrap_or_default();
        assert!(first.contains(want), "{u}: {err}");
        assert!(err.lines().count() <= 3, "{u}: not one clear line: {err}");
        assert!(
            !err.contains("wrong@") && !err.contains(yuxuan::pgserver::PASSWORD),
            "{u}: password shown: {err}"
        );
    }
    // The password from PGPASSWORD or ~/.pgpass, as with psql.
    let bare = pg.url_without_password(&name);
    let out = Command::new(common::bin())
        .args(["stats", &bare])
        .env("PGPASSWORD", yuxuan::pgserver::PASSWORD)
        .output()
        .unwrap();
    common::ok(&out);
    let home = tempfile::tempdir().unwrap();
    let pgpass = home.path().join(".pgpass");
    std::fs::write(
        &pgpass,
        format!(
            "127.0.0.1:{}:*:postgres:{}\n",
            pg.port,
            yuxuan::pgserver::PASSWORD
        ),
    )
    .unwrap();
    let out = Command::new(common::bin())
        .args(["stats", &bare])
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", &pgpass)
        .output()
        .unwrap();
    common::ok(&out);
    let out = Command::new(common::bin())
        .args(["stats", &bare])
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", home.path().join("none"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("asks for a password"), "{err}");
}

fn decision(item_id: i64, label: &str, who: &str) -> NewDecision {
    NewDecision {
        item_id,
        label_set: sets::CLASS.into(),
        label: Some(label.into()),
        annotator: who.into(),
        action: Action::Correct,
        ms_spent: 10,
        prediction_id: None,
    }
}

#[test]
fn leases_give_an_item_to_one_annotator_until_it_expires() {
    common::on_both_backends("leases", |loc| {
        let mut a = common::image_project_at(loc, &["cat", "dog"], 10);
        a.set_setting("lease_minutes", serde_json::json!(0.01))
            .unwrap(); // 600 ms
        let mut b = Store::open(loc).unwrap();
        let all: Vec<i64> = (1..=10).collect();
        let la = a.lease_items(sets::CLASS, "ann", &all, 4).unwrap();
        assert_eq!(la, vec![1, 2, 3, 4]);
        let lb = b.lease_items(sets::CLASS, "bob", &all, 4).unwrap();
        assert_eq!(lb, vec![5, 6, 7, 8], "nobody else is given a leased item");
        assert_eq!(b.leased_by_others("bob").unwrap().len(), 4);
        // Asking again renews one's own leases.
        assert_eq!(a.lease_items(sets::CLASS, "ann", &all, 4).unwrap(), la);
        // A decision ends the lease; a labelled item is never leased again.
        a.record_decision(&decision(1, "cat", "ann")).unwrap();
        assert!(!a.my_leases("ann").unwrap().contains(&1));
        std::thread::sleep(Duration::from_millis(700));
        // Expired: ann's items come back to bob.
        let lb = b.lease_items(sets::CLASS, "bob", &all, 10).unwrap();
        assert_eq!(lb, vec![2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let p = a.team_progress(sets::CLASS, "ann").unwrap();
        assert_eq!((p.mine, p.team, p.total), (1, 1, 10));
        b.release_leases("bob", None).unwrap();
        assert!(a.leased_by_others("ann").unwrap().is_empty());
    });
}

#[test]
fn a_decision_resent_with_its_client_id_is_recorded_once() {
    common::on_both_backends("once", |loc| {
        let mut s = common::image_project_at(loc, &["cat", "dog"], 2);
        let d = decision(1, "dog", "ann");
        let first = s.record_decision_once(&d, "c0ffee-1").unwrap();
        let again = s.record_decision_once(&d, "c0ffee-1").unwrap();
        assert_eq!(first, again);
        assert_eq!(s.decision_count().unwrap(), 1);
        assert_eq!(s.decision_by_client_id("c0ffee-1").unwrap(), Some(first));
        s.record_decision_once(&d, "c0ffee-2").unwrap();
        assert_eq!(s.decision_count().unwrap(), 2);
    });
}

#[test]
fn twenty_scripted_annotators_label_2000_items_exactly_once() {
    let pg = common::pg();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url(&common::unique_project("load"));
    let truth = common::synthetic_project(&url, &["cat", "dog", "bird"], 2000, dir.path());
    let report = dir.path().join("report.json");
    let out = common::run(&[
        "simulate",
        &url,
        "--truth",
        truth.to_str().unwrap(),
        "--annotators",
        "20",
        "--think-ms",
        "1",
        "--report",
        report.to_str().unwrap(),
    ]);
    common::ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2000 decisions"), "{err}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let busy = r["annotators"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["decisions"].as_u64().unwrap() > 0)
        .count();
    assert!(
        busy >= 15,
        "the work is shared: {busy} of 20 annotators decided"
    );
    assert_labelled_exactly_as_truth(&url, &truth, 2000);
}

fn spawn_annotator(url: &str, truth: &Path, name: &str) -> std::process::Child {
    Command::new(common::bin())
        .args([
            "simulate",
            url,
            "--truth",
            truth.to_str().unwrap(),
            "--annotators",
            "1",
            "--annotator-prefix",
            name,
            "--think-ms",
            "2",
            "--print-acks",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The decision id of a `saved ID item ITEM by NAME` line.
fn ack_id(line: &str) -> Option<i64> {
    line.strip_prefix("saved ")?.split(' ').next()?.parse().ok()
}

/// Acknowledged decision ids printed by an annotator process (until it ends or `n` are read).
fn read_acks(child: &mut std::process::Child, n: Option<usize>) -> Vec<i64> {
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut out = Vec::new();
    let mut line = String::new();
    loop {
        if n.is_some_and(|n| out.len() >= n) {
            break;
        }
        line.clear();
        if r.read_line(&mut line).unwrap() == 0 {
            break;
        }
        out.extend(ack_id(&line));
    }
    out
}

#[test]
fn killed_annotators_items_come_back_after_their_lease_and_nothing_acknowledged_is_lost() {
    let pg = common::pg();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url(&common::unique_project("kill"));
    let n = 2000;
    let truth = common::synthetic_project(&url, &["cat", "dog", "bird"], n, dir.path());
    let mut children: Vec<std::process::Child> = (0..20)
        .map(|k| spawn_annotator(&url, &truth, &format!("p{k}")))
        .collect();
    // Kill 5 of them mid-lease, right after an acknowledgement.
    let mut acked = Vec::new();
    for c in children.iter_mut().take(5) {
        acked.extend(read_acks(c, Some(5)));
        unsafe { libc::kill(c.id() as i32, libc::SIGKILL) };
        c.wait().unwrap();
    }
    for c in children.iter_mut().skip(5) {
        acked.extend(read_acks(c, None));
        assert!(c.wait().unwrap().success());
    }
    let store = Store::open(Path::new(&url)).unwrap();
    for id in &acked {
        assert!(
            store.decision(*id).unwrap().is_some(),
            "acknowledged decision {id} lost"
        );
    }
    assert_labelled_exactly_as_truth(&url, &truth, n);
}

#[test]
fn a_server_restart_mid_run_loses_and_duplicates_nothing() {
    // A server of its own: restarting the shared one would disturb the other tests.
    let pg = yuxuan::pgserver::PgServer::start().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url("restart");
    let n = 600;
    let truth = common::synthetic_project(&url, &["cat", "dog"], n, dir.path());
    let mut child = Command::new(common::bin())
        .args([
            "simulate",
            &url,
            "--truth",
            truth.to_str().unwrap(),
            "--annotators",
            "5",
            "--think-ms",
            "3",
            "--print-acks",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut acked = Vec::new();
    let mut line = String::new();
    let mut restarted = false;
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap() == 0 {
            break;
        }
        acked.extend(ack_id(&line));
        if acked.len() == 100 && !restarted {
            pg.restart().unwrap();
            restarted = true;
        }
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(restarted);
    assert!(
        err.contains("reconnects") && !err.contains(" 0 reconnects"),
        "{err}"
    );
    let store = Store::open(Path::new(&url)).unwrap();
    for id in &acked {
        assert!(
            store.decision(*id).unwrap().is_some(),
            "acknowledged decision {id} lost"
        );
    }
    let unique: HashSet<i64> = acked.iter().copied().collect();
    assert_eq!(unique.len(), acked.len(), "no decision acknowledged twice");
    drop(store);
    assert_labelled_exactly_as_truth(&url, &truth, n);
}

#[test]
fn a_second_training_of_a_team_project_is_refused_clearly() {
    let pg = common::pg();
    let url = pg.url(&common::unique_project("lock"));
    let store = common::image_project_at(Path::new(&url), &["a", "b"], 4);
    let held = store.try_team_lock("train:class").unwrap();
    assert!(matches!(held, Some(Some(_))));
    assert!(
        store.try_team_lock("train:class").unwrap().is_none(),
        "the lock is exclusive"
    );
    let out = common::run(&["train", &url]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("another training"), "{err}");
    drop(held);
    assert!(
        store.try_team_lock("train:class").unwrap().is_some(),
        "released with its holder"
    );
}

/// A push or pull that stops half-way (cancelled here; Ctrl-C or a lost connection alike)
/// leaves nothing under the project's name, and a push never overwrites a project.
#[test]
fn an_interrupted_copy_leaves_nothing_half_made() {
    let pg = common::pg();
    let dir = tempfile::tempdir().unwrap();
    let src = common::image_project_at(&dir.path().join("src.yuxuan"), &["a", "b"], 1200);
    let team = pg.url(&common::unique_project("cut"));
    let file = dir.path().join("cut.yuxuan");
    for dest in [PathBuf::from(&team), file.clone()] {
        let ctx = yuxuan::jobs::JobCtx::new("copy");
        ctx.cancel();
        let r = src.copy_into(&dest, yuxuan::store::transfer::FileMode::Bytes, &ctx);
        assert!(r.is_err(), "{}", dest.display());
        assert!(
            Store::open(&dest).is_err(),
            "{} was left behind",
            dest.display()
        );
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains("incoming") && n != "cut.yuxuan"),
        "{names:?}"
    );
    let mut admin = pg.admin().unwrap();
    let staging: i64 = admin
        .query_one(
            "SELECT COUNT(*) FROM pg_namespace WHERE nspname LIKE '%--incoming-%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(staging, 0, "a staging schema was left behind");
    // Complete copies land; a second push onto the same name is refused.
    let ctx = yuxuan::jobs::JobCtx::new("copy");
    src.copy_into(
        Path::new(&team),
        yuxuan::store::transfer::FileMode::Bytes,
        &ctx,
    )
    .unwrap();
    assert_eq!(
        Store::open(Path::new(&team))
            .unwrap()
            .count_items(ItemKind::Image)
            .unwrap(),
        1200
    );
    let again = src
        .copy_into(
            Path::new(&team),
            yuxuan::store::transfer::FileMode::Bytes,
            &ctx,
        )
        .unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");
}

/// A form project on the server: H5 pages imported from a URL's project, exported as fields.
#[test]
fn a_team_form_project_imports_pages_and_exports_fields() {
    let pg = common::pg();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url(&common::unique_project("forms"));
    common::ok(&common::run(&["new", &url, "--kind", "form"]));
    let pages = yuxuan::assets::formasaurus_dir().join("html");
    let mut args = vec!["import".to_string(), url.clone()];
    for i in 0..6 {
        args.push(pages.join(format!("{i}.html")).display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::ok(&common::run(&args));
    let store = Store::open(Path::new(&url)).unwrap();
    assert_eq!(store.count_items(ItemKind::Page).unwrap(), 6);
    let fields = store.count_items(ItemKind::Field).unwrap();
    assert!(fields > 6, "{fields} fields");
    // The page bytes are on the server too.
    let page = &store.items_of_kind(ItemKind::Page).unwrap()[0];
    assert!(store
        .has_item_file(page.content_hash.as_deref().unwrap())
        .unwrap());
    assert!(store.page_html(page.id).unwrap().is_some());
    let files = export(&url, "form-pages", &dir.path().join("f"));
    let pages: Vec<serde_json::Value> = files
        .iter()
        .filter(|(k, _)| k.starts_with("pages/"))
        .map(|(_, v)| serde_json::from_str(v).unwrap())
        .collect();
    assert_eq!(pages.len(), 6);
    let exported: u64 = pages
        .iter()
        .map(|p| p["fields"].as_array().map(|a| a.len()).unwrap_or(0) as u64)
        .sum();
    assert_eq!(exported, fields);
}

/// `sslmode` as with libpq, against a server that accepts TLS only: the default (`prefer`) and
/// `require` encrypt, `disable` is refused by that server, `verify-full` checks the chain and the
/// host name against `sslrootcert`, and an unknown root fails with the reason.
#[test]
fn sslmode_means_what_it_means_to_libpq() {
    let pg = yuxuan::pgserver::PgServer::start_tls_only().unwrap_or_else(|e| panic!("{e}"));
    let pw = yuxuan::pgserver::PASSWORD;
    let base = format!(
        "postgres://postgres:{pw}@127.0.0.1:{}/postgres?project=tls",
        pg.port
    );
    common::ok(&common::run(&["new", &base, "--labels", "a,b"]));
    common::ok(&common::run(&["stats", &format!("{base}&sslmode=require")]));
    let out = common::run(&["stats", &format!("{base}&sslmode=disable")]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused the login"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert = pg.cert_path();
    let named = format!(
        "postgres://postgres:{pw}@localhost:{}/postgres?project=tls&sslmode=verify-full&sslrootcert={}",
        pg.port,
        cert.display()
    );
    common::ok(&common::run(&["stats", &named]));
    common::ok(&common::run(&[
        "stats",
        &format!("{base}&sslmode=verify-ca&sslrootcert={}", cert.display()),
    ]));
    // A root that did not sign the server's certificate.
    let other = tempfile::tempdir().unwrap();
    let other_ca = yuxuan::pgserver::make_ca(other.path(), "other").unwrap();
    let out = common::run(&[
        "stats",
        &format!(
            "{base}&sslmode=verify-full&sslrootcert={}",
            other_ca.display()
        ),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot reach") && err.to_lowercase().contains("certificate"),
        "{err}"
    );
}

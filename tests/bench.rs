//! `yuxuan bench`: the runner prints a table and writes JSON with every named row; rows whose
//! code is not in the build say so and carry no number. (Sizes are tiny: this checks the
//! runner, not the speed; the numbers are in BENCHMARKS.md.)

use crate::common;

#[test]
fn bench_runs_named_rows_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let o = common::run(&[
        "bench",
        "decision-latency",
        "queue",
        "prelabel",
        "head-finetune",
        "export",
        "duplicates",
        "--decisions",
        "30",
        "--items",
        "300",
        "--train-items",
        "200",
        "--prelabel-images",
        "4",
        "--frames",
        "10",
        "--device",
        "cpu",
        "--dir",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("| row | metric | value |"), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    // ui-frame is left out here: ui::frame_time_bench trips an epaint debug assertion in debug
    // builds (being fixed in the ui branch); tests/ui.rs covers it, and the release run measures it.
    assert_eq!(
        ids,
        [
            "decision-latency",
            "queue",
            "prelabel",
            "head-finetune",
            "duplicates",
            "export"
        ]
    );
    for r in rows {
        match r["status"].as_str().unwrap() {
            "measured" => {
                let metrics = r["metrics"].as_array().unwrap();
                assert!(!metrics.is_empty(), "{r}");
                for m in metrics {
                    assert!(m["value"].as_f64().is_some_and(|v| v.is_finite()), "{m}");
                    if let Some(t) = m.get("target") {
                        let (v, tv) = (m["value"].as_f64().unwrap(), t["value"].as_f64().unwrap());
                        let pass = if t["op"] == "<" { v < tv } else { v >= tv };
                        assert_eq!(m["pass"].as_bool(), Some(pass), "{m}");
                    }
                }
            }
            "not-available" => {
                assert!(
                    r["detail"]
                        .as_str()
                        .unwrap()
                        .contains("not available in this build"),
                    "{r}"
                );
                assert!(r["metrics"].as_array().unwrap().is_empty());
            }
            other => panic!("row {} {other}: {r}", r["id"]),
        }
    }
    // Our rows are measured, with the figures the issue asks for.
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap();
    for (id, metric) in [
        ("decision-latency", "commit p99"),
        ("queue", "next item p99 (3000 items)"),
        ("queue", "peak RSS (VmHWM) (3000 items)"),
        ("head-finetune", "train job wall time"),
        ("duplicates", "index recall of the exact pairs (300)"),
    ] {
        let r = row(id);
        assert_eq!(r["status"], "measured", "{r}");
        let m = r["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == metric);
        assert!(
            m.is_some_and(|m| m.get("target").is_some()
                && (id == "duplicates" || m.get("reference").is_some())),
            "{id}: {metric} in {r}"
        );
    }
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1);
    // Scratch projects are cleaned up: only the results file is left.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn bench_refuses_unknown_rows_and_needs_a_choice() {
    let o = common::run(&["bench", "no-such-row"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown bench row"));
    let o = common::run(&["bench"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--all"));
    let o = common::run(&["bench", "--list"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("decision-latency"));
}

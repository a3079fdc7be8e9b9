//! Row `team`: a team project on a throwaway PostgreSQL server on loopback (started by the
//! row, removed after). Scripted annotators (`simulate::team`, each on its own connection)
//! measure the decision commit and the next-item lease with 1 and with 20 annotators, next to
//! the bare operation on the same server in the same run (one INSERT + COMMIT through the same
//! client library); then the push of a 10k-item project (next to the same copy into a local
//! file) and the queue open of a 100k-item team project (next to the same on the file).

use std::collections::HashMap;
use std::time::Instant;

use super::synth::{build_image_project, SynthSpec};
use super::{BenchConfig, Latency, Measured, Metric, RowOutcome, Target};
use crate::jobs::JobCtx;
use crate::pgserver::PgServer;
use crate::queue::{self, Filter, QueueSpec, Strategy};
use crate::simulate::team::{TeamSimOptions, TeamSimReport};
use crate::store::transfer::FileMode;
use crate::store::Store;

/// Targets of the issue: lease p99 and commit p99 at 20 annotators, queue open at 100k.
pub const LEASE_P99_MS: f64 = 20.0;
pub const COMMIT_P99_MS: f64 = 20.0;
pub const QUEUE_OPEN_S: f64 = 1.0;

/// Bare commits: one INSERT in its own transaction, through the `postgres` client.
fn bare_commits(pg: &PgServer, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut c = pg.admin()?;
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS bench_bare (id BIGSERIAL PRIMARY KEY, item BIGINT, label TEXT, at TEXT)",
    )?;
    let st = c.prepare("INSERT INTO bench_bare (item, label, at) VALUES ($1, $2, $3)")?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let mut tx = c.transaction()?;
        tx.execute(&st, &[&(i as i64), &"cat", &"2026-12-01T00:00:00.000Z"])?;
        tx.commit()?;
        out.push(t.elapsed().as_secs_f64());
    }
    Ok(out)
}

/// A team project with `n` synthetic images (no files) and its truth.
pub(super) fn team_project(url: &str, n: usize) -> anyhow::Result<HashMap<i64, String>> {
    use crate::domain::{ItemKind, NewItem, NewLabel, TaskKind};
    let mut s = Store::create(std::path::Path::new(url), "bench", TaskKind::Image)?;
    let labels = ["cat", "dog", "bird", "fish"];
    s.add_labels(
        "class",
        &labels
            .iter()
            .map(|l| NewLabel::named(*l))
            .collect::<Vec<_>>(),
    )?;
    let items: Vec<NewItem> = (0..n)
        .map(|i| {
            let mut it = NewItem::new(ItemKind::Image, format!("/bench/{i:06}.png"));
            it.content_hash = Some(format!("b{i}"));
            it
        })
        .collect();
    let ids = s.insert_items(&items)?;
    Ok(ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| (id.id(), labels[i % labels.len()].to_string()))
        .collect())
}

fn simulate(
    url: &str,
    n: usize,
    annotators: usize,
    think_ms: u64,
) -> anyhow::Result<TeamSimReport> {
    let truth = team_project(url, n)?;
    let opts = TeamSimOptions {
        annotators,
        think_ms,
        ..Default::default()
    };
    let r = crate::simulate::team::run(
        std::path::Path::new(url),
        &truth,
        &opts,
        &JobCtx::new("bench"),
    )?;
    anyhow::ensure!(
        r.decisions() + r.annotators.iter().map(|a| a.conflicts).sum::<usize>() >= n,
        "annotators stopped early"
    );
    Ok(r)
}

/// Latency of samples in milliseconds.
pub(super) fn ms(xs: &[f64]) -> Latency {
    Latency::of_seconds(&xs.iter().map(|x| x / 1000.0).collect::<Vec<_>>())
}

pub fn run_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    let pg = PgServer::start_durable()?;
    let mut m = Measured::default();
    let bare = Latency::of_seconds(&bare_commits(&pg, 500)?);

    // 1 annotator, no think time: the latency of one client.
    let one = simulate(&pg.url("one"), 400, 1, 0)?;
    let (c1, l1) = (ms(&one.commit_ms()), ms(&one.lease_ms()));
    m.metrics.push(
        Metric::new("commit p50, 1 annotator", c1.p50, "ms").reference(
            "bare INSERT+COMMIT p50",
            bare.p50,
            "ms",
        ),
    );
    m.metrics.push(
        Metric::new("commit p99, 1 annotator", c1.p99, "ms")
            .target(Target::below(COMMIT_P99_MS))
            .reference("bare INSERT+COMMIT p99", bare.p99, "ms"),
    );
    m.metrics.push(
        Metric::new("lease p99, 1 annotator", l1.p99, "ms").target(Target::below(LEASE_P99_MS)),
    );

    // 20 annotators at once on 2,000 items, 5 ms think time each.
    let twenty = simulate(&pg.url("twenty"), 2000, 20, 5)?;
    let (c20, l20) = (ms(&twenty.commit_ms()), ms(&twenty.lease_ms()));
    m.metrics
        .push(Metric::new("commit p50, 20 annotators", c20.p50, "ms"));
    m.metrics.push(
        Metric::new("commit p99, 20 annotators", c20.p99, "ms")
            .target(Target::below(COMMIT_P99_MS))
            .reference("bare INSERT+COMMIT p99 (1 client)", bare.p99, "ms"),
    );
    m.metrics
        .push(Metric::new("lease p50, 20 annotators", l20.p50, "ms"));
    m.metrics.push(
        Metric::new("lease p99, 20 annotators", l20.p99, "ms").target(Target::below(LEASE_P99_MS)),
    );
    m.notes.push(format!(
        "20 annotators: {} decisions in {:.1} s ({:.0}/s), {} refused after an expired lease",
        twenty.decisions(),
        twenty.seconds,
        twenty.decisions() as f64 / twenty.seconds.max(1e-9),
        twenty.annotators.iter().map(|a| a.conflicts).sum::<usize>()
    ));

    // Push of a 10k-item project (items, predictions, labels) vs the same copy into a file.
    let tmp = tempfile::Builder::new()
        .prefix("bench-team")
        .tempdir_in(&cfg.dir)?;
    let spec = |items: usize| SynthSpec {
        items,
        labels: 10,
        labelled: 0.1,
        predictions: true,
        embedding_dim: 0,
        seed: cfg.seed,
        ..Default::default()
    };
    let small = tmp.path().join("push10k.yuxuan");
    let (src, _) = build_image_project(&small, &spec(10_000))?;
    let t = Instant::now();
    src.copy_into(
        std::path::Path::new(&pg.url("push10k")),
        FileMode::ReferencePaths,
        &JobCtx::new("push"),
    )?;
    let push_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    src.copy_into(
        &tmp.path().join("copy10k.yuxuan"),
        FileMode::ReferencePaths,
        &JobCtx::new("copy"),
    )?;
    let copy_s = t.elapsed().as_secs_f64();
    m.metrics.push(
        Metric::new("push of a 10k-item project", push_s, "s").reference(
            "same copy into a local file",
            copy_s,
            "s",
        ),
    );
    drop(src);

    // Queue open at N items (default 100k), team vs file.
    let n = cfg.items;
    let big = tmp.path().join("queue.yuxuan");
    let (src, _) = build_image_project(&big, &spec(n))?;
    let url = pg.url("queue");
    src.copy_into(
        std::path::Path::new(&url),
        FileMode::ReferencePaths,
        &JobCtx::new("push"),
    )?;
    drop(src);
    let qspec = QueueSpec {
        label_set: "class".into(),
        strategy: Strategy::Uncertain,
        filter: Filter::Unlabeled,
        seed: 0,
        annotator: None,
    };
    let open = |loc: &std::path::Path| -> anyhow::Result<f64> {
        let mut v = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let s = Store::open(loc)?;
            let ids = queue::build(&s, &qspec)?;
            anyhow::ensure!(!ids.is_empty(), "empty queue");
            v.push(t.elapsed().as_secs_f64());
        }
        v.sort_by(f64::total_cmp);
        Ok(v[1])
    };
    let team_open = open(std::path::Path::new(&url))?;
    let file_open = open(&big)?;
    m.metrics.push(
        Metric::new(format!("queue open at {n} items (team)"), team_open, "s")
            .target(Target::below(QUEUE_OPEN_S))
            .reference("same on the project file", file_open, "s"),
    );
    m.notes.push(format!(
        "loopback PostgreSQL {} started by the row (initdb in a temp dir, fsync on, synchronous_commit on)",
        pg.version().unwrap_or_default()
    ));
    Ok(m.into())
}

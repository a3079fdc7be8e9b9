//! Headless scripted annotators for team load tests and demos: N annotators, each on its own
//! connection, take leases on the next items of the queue, "think" a moment and decide with the
//! true label. Every decision carries a client id (a UUID), so an annotator whose connection
//! broke resends it after reconnecting without ever recording it twice (the outbox rule).
//! Per-decision commit and per-lease latencies are measured for the bench rows.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::domain::{sets, Action, NewDecision};
use crate::jobs::JobCtx;
use crate::queue::{Filter, QueueSpec, Strategy};
use crate::store::{Store, StoreError};

/// Settings of a team simulation.
#[derive(Debug, Clone)]
pub struct TeamSimOptions {
    pub annotators: usize,
    /// Annotator names are `{prefix}-{k}`.
    pub prefix: String,
    /// Mean think time per item (uniform between 0 and twice this).
    pub think_ms: u64,
    /// Items leased at a time.
    pub lease_batch: usize,
    pub strategy: Strategy,
    /// Print `saved DECISION_ID item ITEM_ID by NAME` after each acknowledged decision.
    pub print_acks: bool,
    pub seed: u64,
    /// How long an annotator keeps trying to reach a server that went away.
    pub reconnect_for: Duration,
    /// Share of answers an annotator gets wrong on purpose (a label other than the truth,
    /// uniformly), to check that agreement and gold accuracy measure what they should.
    pub error_rate: f64,
}

impl Default for TeamSimOptions {
    fn default() -> Self {
        TeamSimOptions {
            annotators: 20,
            prefix: "sim".into(),
            think_ms: 5,
            lease_batch: 2,
            strategy: Strategy::Uncertain,
            print_acks: false,
            seed: 42,
            reconnect_for: Duration::from_secs(120),
            error_rate: 0.0,
        }
    }
}

/// What one scripted annotator did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AnnotatorReport {
    pub name: String,
    pub decisions: usize,
    /// Milliseconds of each decision commit (acknowledged).
    pub commit_ms: Vec<f64>,
    /// Milliseconds of each successful lease call.
    pub lease_ms: Vec<f64>,
    pub reconnects: usize,
    /// Decisions sent again after a broken connection (recorded once all the same).
    pub resent: usize,
    /// Decisions refused because the lease had run out and another annotator held the item.
    pub conflicts: usize,
}

/// The whole run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TeamSimReport {
    pub annotators: Vec<AnnotatorReport>,
    pub seconds: f64,
}

/// p-quantile (0..=1) of a sample, by nearest rank.
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let k = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[k]
}

impl TeamSimReport {
    pub fn decisions(&self) -> usize {
        self.annotators.iter().map(|a| a.decisions).sum()
    }
    pub fn commit_ms(&self) -> Vec<f64> {
        self.annotators
            .iter()
            .flat_map(|a| a.commit_ms.iter().copied())
            .collect()
    }
    pub fn lease_ms(&self) -> Vec<f64> {
        self.annotators
            .iter()
            .flat_map(|a| a.lease_ms.iter().copied())
            .collect()
    }
}

fn reconnect(path: &Path, deadline: Instant, ctx: &JobCtx) -> Result<Store, StoreError> {
    loop {
        match Store::open(path) {
            Ok(s) => return Ok(s),
            Err(e) if e.is_unreachable() && Instant::now() < deadline && !ctx.is_cancelled() => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// One annotator's loop until no item of the truth is left unlabelled.
fn annotate(
    path: &Path,
    name: &str,
    truth: &HashMap<i64, String>,
    opts: &TeamSimOptions,
    seed: u64,
    ctx: &JobCtx,
) -> anyhow::Result<AnnotatorReport> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut report = AnnotatorReport {
        name: name.to_string(),
        ..Default::default()
    };
    let mut store = reconnect(path, Instant::now() + opts.reconnect_for, ctx)?;
    let labels: Vec<String> = store
        .labels(sets::CLASS)?
        .into_iter()
        .map(|l| l.name)
        .collect();
    // The outbox: a decision is pending until the server acknowledged it.
    let mut pending: Vec<(NewDecision, String)> = Vec::new();
    let spec = QueueSpec {
        label_set: sets::CLASS.to_string(),
        strategy: opts.strategy,
        filter: Filter::Unlabeled,
        seed: 0,
        annotator: Some(name.to_string()),
    };
    let mut broken_since: Option<Instant> = None;
    let mut local: std::collections::VecDeque<i64> = std::collections::VecDeque::new();
    macro_rules! on_err {
        ($e:expr) => {{
            let e: StoreError = $e;
            if e.is_unreachable() {
                let since = *broken_since.get_or_insert_with(Instant::now);
                if since.elapsed() > opts.reconnect_for {
                    return Err(
                        anyhow::Error::new(e).context(format!("{name}: the server stayed away"))
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
                if let Ok(s) = reconnect(path, since + opts.reconnect_for, ctx) {
                    store = s;
                    report.reconnects += 1;
                }
                continue;
            }
            return Err(anyhow::Error::new(e).context(format!("annotator {name}")));
        }};
    }
    loop {
        ctx.check()?;
        // Send what waits first (exactly once: the client id).
        if let Some((d, cid)) = pending.first().cloned() {
            let t = Instant::now();
            match store.record_decision_once(&d, &cid) {
                Ok(id) => {
                    report.commit_ms.push(t.elapsed().as_secs_f64() * 1e3);
                    report.decisions += 1;
                    broken_since = None;
                    pending.remove(0);
                    ctx.inc(1);
                    if opts.print_acks {
                        let out = std::io::stdout();
                        let mut l = out.lock();
                        let _ = writeln!(l, "saved {id} item {} by {name}", d.item_id);
                        let _ = l.flush();
                    }
                }
                Err(StoreError::Conflict(_)) => {
                    // Our lease ran out and another annotator has the item: theirs to decide.
                    report.conflicts += 1;
                    pending.remove(0);
                }
                Err(e) => {
                    if e.is_unreachable() {
                        report.resent += 1;
                    }
                    on_err!(e)
                }
            }
            continue;
        }
        // A gold check when one is due (as the app does after each answer).
        let gold = match store.gold_due(sets::CLASS, name) {
            Ok(g) => g.filter(|id| truth.contains_key(id)),
            Err(e) => on_err!(e),
        };
        if let Some(g) = gold {
            local.retain(|id| *id != g);
            local.push_front(g);
        }
        if local.is_empty() {
            // The queue, built once and used until it runs out (as the app does): the items
            // open to this annotator.
            // In SQL order (margin, else file order): no k-center over the embeddings at
            // every refill, which a scripted annotator does not need.
            let cands = match store.queue_candidates(&spec) {
                Ok(c) => c,
                Err(e) => on_err!(e),
            };
            let wanted: Vec<i64> = cands
                .into_iter()
                .map(|c| c.item_id)
                .filter(|id| truth.contains_key(id))
                .collect();
            if wanted.is_empty() {
                // Nothing open to me: done, unless others still hold items (a lease that runs
                // out gives them back).
                let others = match store.leased_by_others(name) {
                    Ok(o) => o,
                    Err(e) => on_err!(e),
                };
                if others.iter().any(|id| truth.contains_key(id)) {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                break;
            }
            local = wanted.into();
        }
        let n = opts.lease_batch.max(1);
        let tried: Vec<i64> = local.iter().take(n * 8).copied().collect();
        let t = Instant::now();
        let leased = match store.lease_items(sets::CLASS, name, &tried, n) {
            Ok(l) => l,
            Err(e) => on_err!(e),
        };
        // Tried items before the last one leased are someone else's; when fewer than asked
        // were leased, every tried item was looked at.
        let drop_to = if leased.len() == n {
            leased
                .iter()
                .filter_map(|id| tried.iter().position(|x| x == id))
                .max()
                .map(|p| p + 1)
                .unwrap_or(tried.len())
        } else {
            tried.len()
        };
        local.drain(..drop_to.min(local.len()));
        if leased.is_empty() {
            continue;
        }
        report.lease_ms.push(t.elapsed().as_secs_f64() * 1e3);
        for id in leased {
            if opts.think_ms > 0 {
                std::thread::sleep(Duration::from_millis(
                    rng.random_range(0..=2 * opts.think_ms),
                ));
            }
            let mut label = truth[&id].clone();
            if opts.error_rate > 0.0 && rng.random_bool(opts.error_rate.min(1.0)) {
                let others: Vec<&String> = labels.iter().filter(|l| **l != label).collect();
                if !others.is_empty() {
                    label = others[rng.random_range(0..others.len())].clone();
                }
            }
            let shown = store.prediction(id, sets::CLASS, None).ok().flatten();
            let action = match &shown {
                Some(p) if p.label == label => Action::Accept,
                _ => Action::Correct,
            };
            pending.push((
                NewDecision {
                    item_id: id,
                    label_set: sets::CLASS.to_string(),
                    label: Some(label),
                    annotator: name.to_string(),
                    action,
                    ms_spent: opts.think_ms as i64,
                    prediction_id: shown.map(|p| p.id),
                },
                uuid::Uuid::new_v4().to_string(),
            ));
        }
    }
    let _ = store.release_leases(name, None);
    Ok(report)
}

/// Run `opts.annotators` scripted annotators on the project at `path` until every item of
/// `truth` has a label.
pub fn run(
    path: &Path,
    truth: &HashMap<i64, String>,
    opts: &TeamSimOptions,
    ctx: &JobCtx,
) -> anyhow::Result<TeamSimReport> {
    let t = Instant::now();
    ctx.set_total(truth.len() as u64);
    ctx.set_message(format!("{} annotators", opts.annotators));
    let truth = Arc::new(truth.clone());
    let path: PathBuf = path.to_path_buf();
    let mut handles = Vec::new();
    for k in 1..=opts.annotators.max(1) {
        let (truth, path, opts, ctx) = (truth.clone(), path.clone(), opts.clone(), ctx.clone());
        let name = format!("{}-{k}", opts.prefix);
        handles.push(
            std::thread::Builder::new()
                .name(format!("annotator-{k}"))
                .spawn(move || annotate(&path, &name, &truth, &opts, opts.seed + k as u64, &ctx))?,
        );
    }
    let mut out = TeamSimReport::default();
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => out.annotators.push(r),
            Ok(Err(e)) => {
                ctx.cancel();
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert(anyhow::anyhow!("an annotator thread panicked"));
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    out.seconds = t.elapsed().as_secs_f64();
    Ok(out)
}

/// A scripted lead resolves the review queue (disagreements, flags) with the truth: one
/// `review` decision per item. Returns how many were reviewed.
pub fn review_queue(
    path: &Path,
    lead: &str,
    truth: &HashMap<i64, String>,
    ctx: &JobCtx,
) -> anyhow::Result<usize> {
    let mut store = Store::open(path)?;
    let spec = QueueSpec {
        label_set: sets::CLASS.to_string(),
        strategy: Strategy::FileOrder,
        filter: Filter::Review,
        seed: 0,
        annotator: None,
    };
    let ids = crate::queue::build(&store, &spec)?;
    ctx.set_total(ids.len() as u64);
    ctx.set_message(format!("{lead} reviews"));
    let decisions: Vec<NewDecision> = ids
        .iter()
        .filter_map(|id| {
            truth
                .get(id)
                .map(|label| NewDecision::review(*id, sets::CLASS, label, lead))
        })
        .collect();
    for d in &decisions {
        ctx.check()?;
        store.record_decision(d)?;
        ctx.inc(1);
    }
    Ok(decisions.len())
}

//! The lead's training controller (egui-free): counts per label, start a training job with
//! options, follow its loss curve / progress / ETA, cancel it, show the result next to the
//! active model, activate or discard, and re-pre-label in the background after activation.
//!
//! Training and pre-labelling run as [`Job`]s, each on its own connection to the project; the
//! model family comes from the project facade (`ml::project`, which asks `ml::catalog`), or
//! from a [`FamilyFactory`] (tests pass a tiny family of their own). The screen's own reads (counts, model history, the live
//! loss curve) and activation go through a store thread of the controller: the UI thread never
//! waits for SQLite, whatever the project's size or another writer's lock.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::{ModelInfo, TrainingRun};
use crate::jobs::{is_cancelled_error, Job, JobCtx, Snapshot};
use crate::ml::catalog::ImageMode;
use crate::ml::family::{Activation, ModelFamily, TrainReport};
use crate::ml::project;
use crate::ml::train::{EpochStat, TrainConfig};
use crate::store::Store;

/// Builds the model family of a label set for a project.
pub type FamilyFactory =
    Arc<dyn Fn(&Store, &str) -> anyhow::Result<Box<dyn ModelFamily>> + Send + Sync>;

/// What the lead picks before training.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub epochs: usize,
    /// Hold-out share, 0..0.5.
    pub holdout: f64,
    pub activation: Activation,
    /// Image training mode; None: the project's `image_mode` setting. Ignored for form
    /// label sets.
    pub mode: Option<ImageMode>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 30,
            holdout: 0.2,
            activation: Activation::IfNotWorse,
            mode: None,
        }
    }
}

/// How the last training ended.
#[derive(Debug, Clone)]
pub enum TrainOutcome {
    Done(Box<TrainReport>),
    Cancelled,
    Failed(String),
}

/// Pre-labelling result.
#[derive(Debug, Clone, PartialEq)]
pub enum PrelabelOutcome {
    Done(usize),
    Cancelled,
    Failed(String),
}

type Repaint = Arc<dyn Fn() + Send + Sync>;

/// What the store thread is asked.
enum ReadRequest {
    Refresh,
    /// The log of the newest run of the set started at or after this time.
    Epochs {
        since: String,
    },
    Activate(i64),
}

type Overview = (Vec<(String, usize)>, Vec<ModelInfo>, Vec<TrainingRun>);

/// What it answers.
enum ReadReply {
    Refreshed(Result<Overview, String>),
    Epochs(Vec<EpochStat>),
    Activated(i64, Result<(), String>),
}

/// The controller's store thread: one connection, requests answered in order.
struct StoreThread {
    tx: mpsc::Sender<ReadRequest>,
    rx: mpsc::Receiver<ReadReply>,
    /// Requests sent and not answered yet.
    pending: usize,
}

impl StoreThread {
    fn spawn(path: PathBuf, set: String) -> StoreThread {
        let (tx, req_rx) = mpsc::channel::<ReadRequest>();
        let (reply_tx, rx) = mpsc::channel::<ReadReply>();
        std::thread::Builder::new()
            .name("training-store".into())
            .spawn(move || {
                let mut store: Option<Store> = None;
                for req in req_rx {
                    if store.is_none() {
                        match Store::open(&path) {
                            Ok(s) => store = Some(s),
                            Err(e) => {
                                let e = format!("{e:#}");
                                let reply = match req {
                                    ReadRequest::Refresh => ReadReply::Refreshed(Err(e)),
                                    ReadRequest::Epochs { .. } => ReadReply::Epochs(vec![]),
                                    ReadRequest::Activate(id) => ReadReply::Activated(id, Err(e)),
                                };
                                if reply_tx.send(reply).is_err() {
                                    return;
                                }
                                continue;
                            }
                        }
                    }
                    let st = store.as_mut().expect("opened above");
                    let reply = match req {
                        ReadRequest::Refresh => {
                            ReadReply::Refreshed(overview(st, &set).map_err(|e| format!("{e:#}")))
                        }
                        ReadRequest::Epochs { since } => {
                            ReadReply::Epochs(run_epochs(st, &set, &since).unwrap_or_default())
                        }
                        ReadRequest::Activate(id) => ReadReply::Activated(
                            id,
                            st.activate_model(id)
                                .map_err(|e| format!("could not activate: {e:#}")),
                        ),
                    };
                    if reply_tx.send(reply).is_err() {
                        return;
                    }
                }
            })
            .expect("spawning the training store thread");
        StoreThread { tx, rx, pending: 0 }
    }

    fn ask(&mut self, req: ReadRequest) {
        if self.tx.send(req).is_ok() {
            self.pending += 1;
        }
    }
}

/// Counts per label, model versions and runs of `set`.
fn overview(store: &Store, set: &str) -> anyhow::Result<Overview> {
    let labels = store.labels(set)?;
    let mut per: std::collections::HashMap<String, usize> = Default::default();
    for (_, l) in store.current_labels(set)? {
        *per.entry(l).or_default() += 1;
    }
    let counts = labels
        .iter()
        .map(|l| (l.name.clone(), per.get(&l.name).copied().unwrap_or(0)))
        .collect();
    let runs = store
        .training_runs()?
        .into_iter()
        .filter(|r| r.label_set == set)
        .collect();
    Ok((counts, store.models(set)?, runs))
}

/// The epochs logged so far by the newest run of `set` started at or after `since`.
fn run_epochs(store: &Store, set: &str, since: &str) -> anyhow::Result<Vec<EpochStat>> {
    let run = store
        .training_runs()?
        .into_iter()
        .rev()
        .find(|r| r.label_set == set && r.started_at.as_str() >= since);
    Ok(run
        .map(|run| {
            run.log
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default())
}

/// State of the training screen for one label set.
pub struct TrainingController {
    path: PathBuf,
    pub label_set: String,
    /// A family of the caller's (tests); None: the project facade (what the app uses).
    factory: Option<FamilyFactory>,
    store: StoreThread,
    job: Option<Job<TrainReport>>,
    prelabel_job: Option<Job<usize>>,
    started_utc: Option<String>,
    last_poll: Option<Instant>,
    /// Epochs of the running (or last) training, for the live loss curve.
    pub epochs: Vec<EpochStat>,
    pub outcome: Option<TrainOutcome>,
    pub prelabel_outcome: Option<PrelabelOutcome>,
    /// Human labels per label (label order).
    pub counts: Vec<(String, usize)>,
    /// Model versions, oldest first.
    pub models: Vec<ModelInfo>,
    pub runs: Vec<TrainingRun>,
    /// Set when a new model became active (the review should refresh its suggestions).
    pub model_changed: bool,
    pub error: Option<String>,
}

impl TrainingController {
    /// A controller whose training and pre-labelling use `factory`'s family (tests).
    pub fn new(path: &Path, label_set: &str, factory: FamilyFactory) -> TrainingController {
        Self::with_factory(path, label_set, Some(factory))
    }

    fn with_factory(
        path: &Path,
        label_set: &str,
        factory: Option<FamilyFactory>,
    ) -> TrainingController {
        let mut c = TrainingController {
            path: path.to_path_buf(),
            label_set: label_set.to_string(),
            factory,
            store: StoreThread::spawn(path.to_path_buf(), label_set.to_string()),
            job: None,
            prelabel_job: None,
            started_utc: None,
            last_poll: None,
            epochs: vec![],
            outcome: None,
            prelabel_outcome: None,
            counts: vec![],
            models: vec![],
            runs: vec![],
            model_changed: false,
            error: None,
        };
        c.refresh();
        c
    }

    /// The app's controller: training and pre-labelling through the project facade
    /// (`ml::project`: embeddings first for images, the picked mode, the catalog's family).
    pub fn for_app(path: &Path, label_set: &str) -> TrainingController {
        Self::with_factory(path, label_set, None)
    }

    /// Read counts, model versions and runs again, in the background (on opening the screen
    /// and after a job ends); [`poll`](Self::poll) takes the answer.
    pub fn refresh(&mut self) {
        self.store.ask(ReadRequest::Refresh);
    }

    /// Whether the store thread still owes answers (the UI keeps repainting until it does not).
    pub fn is_reading(&self) -> bool {
        self.store.pending > 0
    }

    /// Take the store thread's answers.
    fn take_replies(&mut self, repaint: &(impl Fn() + Send + Sync + Clone + 'static)) {
        while let Ok(reply) = self.store.rx.try_recv() {
            self.store.pending = self.store.pending.saturating_sub(1);
            match reply {
                ReadReply::Refreshed(Ok((counts, models, runs))) => {
                    self.counts = counts;
                    self.models = models;
                    self.runs = runs;
                }
                ReadReply::Refreshed(Err(e)) => self.error = Some(e),
                ReadReply::Epochs(epochs) => {
                    if epochs.len() >= self.epochs.len() {
                        self.epochs = epochs;
                    }
                }
                ReadReply::Activated(model_id, Ok(())) => {
                    if let Some(TrainOutcome::Done(rep)) = &mut self.outcome {
                        if rep.model.id == model_id {
                            rep.activated = true;
                        }
                    }
                    self.model_changed = true;
                    self.refresh();
                    self.start_prelabel(repaint.clone());
                }
                ReadReply::Activated(_, Err(e)) => self.error = Some(e),
            }
        }
    }

    pub fn active_model(&self) -> Option<&ModelInfo> {
        self.models.iter().find(|m| m.active)
    }

    pub fn is_training(&self) -> bool {
        self.job.is_some()
    }

    pub fn is_prelabeling(&self) -> bool {
        self.prelabel_job.is_some()
    }

    /// Progress of the running training (fraction, rate, ETA).
    pub fn progress(&self) -> Option<Snapshot> {
        self.job.as_ref().map(|j| j.ctx.snapshot())
    }

    pub fn prelabel_progress(&self) -> Option<Snapshot> {
        self.prelabel_job.as_ref().map(|j| j.ctx.snapshot())
    }

    /// Start training in the background. `repaint` wakes the UI on progress.
    pub fn start(&mut self, opts: &TrainOptions, repaint: impl Fn() + Send + Sync + 'static) {
        if self.job.is_some() {
            return;
        }
        self.outcome = None;
        self.epochs.clear();
        self.error = None;
        self.started_utc =
            Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let repaint: Repaint = Arc::new(repaint);
        let r2 = repaint.clone();
        let ctx = JobCtx::new("train").with_observer(move |_| r2());
        let (path, set, factory, opts2) = (
            self.path.clone(),
            self.label_set.clone(),
            self.factory.clone(),
            opts.clone(),
        );
        self.job = Some(Job::spawn(ctx, move |ctx| {
            let mut store = Store::open(&path)?;
            let cfg = TrainConfig {
                epochs: opts2.epochs.max(1),
                holdout: opts2.holdout.clamp(0.0, 0.5),
                ..Default::default()
            };
            match factory {
                Some(f) => {
                    let family = f(&store, &set)?;
                    project::run_training(&mut store, family.as_ref(), &cfg, opts2.activation, ctx)
                }
                None => project::train(&mut store, &set, opts2.mode, &cfg, opts2.activation, ctx),
            }
        }));
        self.last_poll = None;
    }

    /// Ask the running training to stop (it stops at its next batch).
    pub fn cancel(&mut self) {
        if let Some(j) = &self.job {
            j.ctx.cancel();
        }
        if let Some(j) = &self.prelabel_job {
            j.ctx.cancel();
        }
    }

    /// Poll the jobs (once per frame). The loss curve is read from the run's log at most four
    /// times a second.
    pub fn poll(&mut self, repaint: impl Fn() + Send + Sync + Clone + 'static) {
        self.take_replies(&repaint);
        if self.job.is_some()
            && self
                .last_poll
                .is_none_or(|t| t.elapsed() > Duration::from_millis(250))
        {
            self.last_poll = Some(Instant::now());
            // One periodic read at a time: a slow store (another writer's lock) must not pile
            // requests up.
            if self.store.pending == 0 {
                self.read_epochs();
            }
        }
        if let Some(job) = &mut self.job {
            if let Some(result) = job.try_take() {
                self.job = None;
                self.read_epochs();
                self.outcome = Some(match result {
                    Ok(report) => {
                        self.epochs = report.epochs.clone();
                        if report.activated {
                            self.model_changed = true;
                            self.start_prelabel(repaint.clone());
                        }
                        TrainOutcome::Done(Box::new(report))
                    }
                    Err(e) if is_cancelled_error(&e) => TrainOutcome::Cancelled,
                    Err(e) => TrainOutcome::Failed(format!("{e:#}")),
                });
                self.refresh();
            }
        }
        if let Some(job) = &mut self.prelabel_job {
            if let Some(result) = job.try_take() {
                self.prelabel_job = None;
                self.prelabel_outcome = Some(match result {
                    Ok(n) => PrelabelOutcome::Done(n),
                    Err(e) if is_cancelled_error(&e) => PrelabelOutcome::Cancelled,
                    Err(e) => PrelabelOutcome::Failed(format!("{e:#}")),
                });
                self.model_changed = true;
            }
        }
    }

    fn read_epochs(&mut self) {
        if let Some(since) = self.started_utc.clone() {
            self.store.ask(ReadRequest::Epochs { since });
        }
    }

    /// Make a model version active (on the store thread) and then re-pre-label with it in the
    /// background; [`poll`](Self::poll) sees it through.
    pub fn activate(&mut self, model_id: i64) {
        self.error = None;
        self.store.ask(ReadRequest::Activate(model_id));
    }

    /// Dismiss a result that was not activated (the version stays in the history, inactive).
    pub fn discard(&mut self) {
        self.outcome = None;
        self.epochs.clear();
    }

    fn start_prelabel(&mut self, repaint: impl Fn() + Send + Sync + 'static) {
        if self.prelabel_job.is_some() {
            return;
        }
        self.prelabel_outcome = None;
        let ctx = JobCtx::new("prelabel").with_observer(move |_| repaint());
        let (path, set, factory) = (
            self.path.clone(),
            self.label_set.clone(),
            self.factory.clone(),
        );
        self.prelabel_job = Some(Job::spawn(ctx, move |ctx| {
            let mut store = Store::open(&path)?;
            match factory {
                Some(f) => {
                    let family = f(&store, &set)?;
                    project::prelabel_with(&mut store, family.as_ref(), None, ctx)
                }
                None => Ok(project::predicted(&project::prelabel(&mut store, ctx)?)),
            }
        }));
    }

    /// Block until no job runs (tests and the CLI; the UI polls instead).
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while self.job.is_some() || self.prelabel_job.is_some() || self.is_reading() {
            if Instant::now() > end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
            self.poll(|| {});
        }
        true
    }
}

//! The review flow without egui: the queue, the current item with its suggestion, and the
//! annotator's commands (accept, pick a label by digit, reject then pick, skip, undo, redo,
//! move), with the time spent per item.
//!
//! All SQL and image decoding happen on the review worker (`worker.rs`): the session sends
//! requests and polls replies, so a key press only changes in-memory state and the next item,
//! already loaded and decoded ahead, shows on the next frame. A decision shows as *saved* only
//! once the worker reports that its transaction committed (`SaveStatus::Saved`).
//! Bulk accept (a grid of items predicted as one label) and the training controller for the
//! lead's screen live here too, so the UI stays a thin face and tests can drive everything.

pub mod agreement;
pub mod boxes;
pub mod insights;
pub mod training;
mod worker;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::{sets, Action, FieldRecord, Item, Label, NewDecision, Prediction, TaskKind};
use crate::queue::{Filter, QueueSpec, Strategy};
use crate::store::review::ReviewStats;
use crate::store::Store;
pub use worker::{decode, MAX_IMAGE_SIDE, THUMB_SIDE};
use worker::{Reply, Request, WorkerHandle};

/// How many items after the current one are loaded and decoded ahead.
pub const LOOKAHEAD: usize = 8;
/// How many items of the bulk grid are shown.
pub const BULK_LIMIT: usize = 60;
/// Suggestions at least this sure count as confident in the bulk-accept picker.
pub const BULK_MIN_SCORE: f64 = 0.8;

/// An image decoded on the worker, ready to upload as a texture.
#[derive(Clone, PartialEq)]
pub struct DecodedImage {
    pub width: usize,
    pub height: usize,
    /// RGBA, row-major, `width * height * 4` bytes.
    pub rgba: Vec<u8>,
}

impl std::fmt::Debug for DecodedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DecodedImage({}x{})", self.width, self.height)
    }
}

/// One field of a page, as the forms review lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldView {
    pub item_id: i64,
    pub record: FieldRecord,
    pub prediction: Option<Prediction>,
    pub label: Option<String>,
}

/// A page with its fields in page order and its industry suggestion.
#[derive(Debug, Clone, PartialEq)]
pub struct PageView {
    pub page: Item,
    pub title: String,
    pub fields: Vec<FieldView>,
    pub industry: Option<Prediction>,
    pub industry_label: Option<String>,
}

/// Everything the review screen shows about one item, loaded on the worker.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemView {
    pub item: Item,
    /// The suggestion (active model's, else the newest).
    pub prediction: Option<Prediction>,
    /// The current human label.
    pub label: Option<String>,
    pub image: Option<DecodedImage>,
    /// Why the image cannot be shown (import error or decode failure).
    pub image_error: Option<String>,
    /// For fields (and pages): the page they belong to.
    pub page: Option<PageView>,
    /// Leads: every annotator's current answer (the review queue shows them). Annotators
    /// never get the others' answers (blind overlap).
    pub answers: Vec<crate::store::quality::Annotation>,
    /// Leads: what the newest suspect-label check found about its label (while open).
    pub suspect: Option<crate::store::suspects::SuspectRow>,
    /// Object images: their boxes and the detector's proposals.
    pub boxes: Option<boxes::BoxesView>,
}

/// One cell of the bulk-accept grid.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkItem {
    pub item_id: i64,
    pub score: f64,
    pub prediction_id: i64,
    pub thumb: Option<DecodedImage>,
    pub caption: String,
    /// Ticked items are accepted; the annotator unticks the wrong ones.
    pub ticked: bool,
}

/// The bulk-accept grid of one label.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkState {
    pub label: String,
    /// None while loading.
    pub items: Option<Vec<BulkItem>>,
}

/// What the annotator can do (the keyboard and the buttons both map to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Confirm the suggestion (Enter, A).
    Accept,
    /// Pick the n-th label, 1-based (digits 1-9).
    Pick(usize),
    /// The suggestion is wrong; the next pick corrects it (X).
    Reject,
    /// Move on without deciding (Space).
    Skip,
    /// "Not sure": hand the item to the review queue (F).
    Flag,
    /// Undo the newest decision, on any item, from any session (Ctrl+Z).
    Undo,
    /// Redo what was undone (Ctrl+Shift+Z).
    Redo,
    /// Next item without deciding (→).
    Next,
    /// Previous item (←).
    Prev,
}

/// Whether the annotator's decisions are on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveStatus {
    /// Nothing decided yet in this session.
    Idle,
    /// Sent to the worker, not committed yet.
    Saving(usize),
    /// The last decision's transaction committed (its id).
    Saved(i64),
    /// The last write failed; the cause. Nothing reported saved was lost.
    Failed(String),
    /// Team projects: the server is unreachable; this many decisions wait in the local outbox
    /// and go out, exactly once, when it is back. Not saved yet.
    Waiting(usize),
}

/// What a team project's annotator sees of the team (refreshed every few seconds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TeamView {
    pub progress: Option<crate::store::leases::TeamProgress>,
    /// Decisions waiting in the outbox.
    pub waiting: usize,
    /// Why the server is unreachable (None: connected).
    pub offline: Option<String>,
}

/// A message for the annotator (shown as a toast by the UI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub error: bool,
    pub text: String,
}

/// Format an error with its causes on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Start of the current UTC day, as stored timestamps are written.
pub fn today_start() -> String {
    let now = chrono::Utc::now();
    format!("{}T00:00:00.000Z", now.format("%Y-%m-%d"))
}

/// One annotator's review of one label set.
pub struct ReviewSession {
    path: PathBuf,
    pub kind: TaskKind,
    pub project_name: String,
    pub label_set: String,
    pub annotator: String,
    pub labels: Vec<Label>,
    /// Page industries (form projects), for the industry bar.
    pub industry_labels: Vec<Label>,
    spec: QueueSpec,
    queue: Vec<i64>,
    pos: usize,
    generation: u64,
    queue_loading: bool,
    cache: HashMap<i64, ItemView>,
    requested: HashSet<i64>,
    /// Item shown and since when (time spent per item).
    shown: Option<(i64, Instant)>,
    /// Items whose decision is being saved.
    saving: HashSet<i64>,
    pending_reload: HashSet<i64>,
    rejecting: bool,
    in_flight: usize,
    pub save: SaveStatus,
    pub stats: Option<ReviewStats>,
    session_start: Instant,
    session_decisions: usize,
    pub bulk: Option<BulkState>,
    /// Per label, the unlabelled items suggested as it (confident ones, all): None until asked.
    pub bulk_counts: Option<Vec<crate::store::queue::ConfidentCount>>,
    /// The bulk grid ticks suggestions from this score on: the active model's calibrated
    /// threshold (>= 98 % right on its hold-out), else [`BULK_MIN_SCORE`].
    pub bulk_threshold: f64,
    bulk_counts_asked: bool,
    notices: Vec<Notice>,
    /// What this login may do here (project files: everything).
    pub role: crate::store::roles::Role,
    /// Team projects only.
    pub team: Option<TeamView>,
    /// Team projects: items that could not be loaded while offline (asked again once back).
    unavailable: HashSet<i64>,
    /// Object images: the editor of the image on screen (made when it is first shown).
    pub box_editor: Option<boxes::BoxEditor>,
    /// Object images: proposals below this score are hidden (the `H` key toggles it).
    pub hide_below: f64,
    /// When the previous box decision was made (time per box decision).
    box_clock: Option<(i64, Instant)>,
    worker: WorkerHandle,
}

impl std::fmt::Debug for ReviewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewSession")
            .field("path", &self.path)
            .field("label_set", &self.label_set)
            .field("pos", &self.pos)
            .field("queue_len", &self.queue.len())
            .finish()
    }
}

impl ReviewSession {
    /// Open a review of `label_set` (default: the project's main set) for `annotator`.
    /// Reads the project's kind and labels here (two small queries); everything else is
    /// requested from the worker. `repaint` is called on every worker reply.
    pub fn open(
        path: &Path,
        label_set: Option<&str>,
        annotator: &str,
        repaint: impl Fn() + Send + Sync + 'static,
    ) -> crate::store::Result<ReviewSession> {
        let store = Store::open(path)?;
        let info = store.project()?;
        let set = label_set
            .map(str::to_string)
            .unwrap_or_else(|| main_label_set(info.kind).to_string());
        let labels = store.labels(&set)?;
        let industry_labels = if info.kind.spec().review == crate::kinds::ReviewScreen::Form {
            store.labels(sets::INDUSTRY)?
        } else {
            vec![]
        };
        let team = store.is_team().then(TeamView::default);
        let role = store.role()?;
        // A member's decisions carry their login name (the server refuses any other).
        let annotator = store
            .member_name_for(role)?
            .unwrap_or_else(|| annotator.to_string());
        let annotator = annotator.as_str();
        drop(store);
        let repaint: worker::Repaint = Arc::new(repaint);
        let worker = worker::spawn(
            path.to_path_buf(),
            set.clone(),
            annotator.to_string(),
            role.is_lead(),
            repaint,
        )
        .map_err(|e| crate::store::StoreError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let mut s = ReviewSession {
            path: path.to_path_buf(),
            kind: info.kind,
            project_name: info.name,
            label_set: set.clone(),
            annotator: annotator.to_string(),
            labels,
            industry_labels,
            spec: QueueSpec {
                label_set: set,
                ..Default::default()
            },
            queue: Vec::new(),
            pos: 0,
            generation: 0,
            queue_loading: false,
            cache: HashMap::new(),
            requested: HashSet::new(),
            shown: None,
            saving: HashSet::new(),
            pending_reload: HashSet::new(),
            rejecting: false,
            in_flight: 0,
            save: SaveStatus::Idle,
            stats: None,
            session_start: Instant::now(),
            session_decisions: 0,
            bulk: None,
            bulk_counts: None,
            bulk_threshold: BULK_MIN_SCORE,
            bulk_counts_asked: false,
            notices: Vec::new(),
            role,
            team,
            unavailable: HashSet::new(),
            box_editor: None,
            hide_below: boxes::DEFAULT_HIDE_BELOW,
            box_clock: None,
            worker,
        };
        s.rebuild_queue();
        s.request_stats();
        Ok(s)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn spec(&self) -> &QueueSpec {
        &self.spec
    }

    /// Item ids in queue order (a snapshot taken when the queue was built).
    pub fn queue(&self) -> &[i64] {
        &self.queue
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn queue_loading(&self) -> bool {
        self.queue_loading
    }

    /// Whether the next digit corrects a rejected suggestion.
    pub fn rejecting(&self) -> bool {
        self.rejecting
    }

    /// Requests sent to the worker and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub fn current_id(&self) -> Option<i64> {
        self.queue.get(self.pos).copied()
    }

    /// The current item, when loaded.
    pub fn current(&self) -> Option<&ItemView> {
        self.current_id().and_then(|id| self.cache.get(&id))
    }

    /// The next `n` items after the current one (None where not loaded yet).
    pub fn upcoming(&self, n: usize) -> Vec<(i64, Option<&ItemView>)> {
        self.queue
            .iter()
            .skip(self.pos + 1)
            .take(n)
            .map(|id| (*id, self.cache.get(id)))
            .collect()
    }

    /// A loaded item by id.
    pub fn view(&self, id: i64) -> Option<&ItemView> {
        self.cache.get(&id)
    }

    /// Whether `item` has a decision being saved right now.
    pub fn is_saving(&self, item: i64) -> bool {
        self.saving.contains(&item)
    }

    /// Take the notices (errors, hints) raised since the last call.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Decisions per minute in this session.
    pub fn items_per_minute(&self) -> f64 {
        let mins = self.session_start.elapsed().as_secs_f64() / 60.0;
        if mins <= 0.0 {
            0.0
        } else {
            self.session_decisions as f64 / mins.max(1.0 / 60.0)
        }
    }

    /// Change the ordering; rebuilds the queue on the worker.
    pub fn set_strategy(&mut self, strategy: Strategy) {
        if self.spec.strategy != strategy {
            self.spec.strategy = strategy;
            self.rebuild_queue();
        }
    }

    /// Change the filter; rebuilds the queue on the worker.
    pub fn set_filter(&mut self, filter: Filter) {
        if self.spec.filter != filter {
            // The annotator's own queue shows their own answers; the others show the final
            // label (and to leads, everyone's answers): loaded views do not carry over.
            if (self.spec.filter == Filter::Unlabeled) != (filter == Filter::Unlabeled) {
                self.cache.clear();
                self.requested.clear();
            }
            self.spec.filter = filter;
            self.rebuild_queue();
        }
    }

    /// Build the queue again (after training, or on request).
    pub fn rebuild_queue(&mut self) {
        self.generation += 1;
        self.queue_loading = true;
        self.rejecting = false;
        self.send(Request::Queue {
            spec: self.spec.clone(),
            generation: self.generation,
        });
    }

    /// Forget loaded items and load them again (after a new model pre-labelled).
    pub fn refresh(&mut self) {
        self.cache.clear();
        self.requested.clear();
        self.rebuild_queue();
        self.request_stats();
    }

    fn send(&mut self, r: Request) {
        self.in_flight += 1;
        if self.worker.ordered.send(r).is_err() {
            self.in_flight -= 1;
            self.notices.push(Notice {
                error: true,
                text: "the review worker stopped; reopen the project".into(),
            });
        }
    }

    fn request_stats(&mut self) {
        self.send(Request::Stats {
            annotator: self.annotator.clone(),
            since: today_start(),
        });
    }

    /// Apply the worker's replies and request what is needed next (look-ahead). Call once per
    /// frame; never blocks.
    pub fn poll(&mut self) {
        while let Ok(reply) = self.worker.replies.try_recv() {
            self.handle(reply);
        }
        self.prefetch();
        if let Some(id) = self.current_id() {
            if self.cache.contains_key(&id) && self.shown.map(|(i, _)| i) != Some(id) {
                self.shown = Some((id, Instant::now()));
            }
        }
    }

    /// Block until every request sent so far is answered and the current item is loaded, or
    /// `timeout` passes (tests and the headless benchmark; the UI never calls this).
    pub fn wait_idle(&mut self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            self.poll();
            let current_ready = self
                .current_id()
                .is_none_or(|id| self.cache.contains_key(&id));
            let loads_pending = self.requested.iter().any(|id| !self.cache.contains_key(id));
            if self.in_flight == 0 && current_ready && !loads_pending {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            match self.worker.replies.recv_timeout(Duration::from_millis(20)) {
                Ok(r) => self.handle(r),
                Err(_) => continue,
            }
        }
    }

    fn prefetch(&mut self) {
        let window: Vec<i64> = self
            .queue
            .iter()
            .skip(self.pos)
            .take(LOOKAHEAD + 1)
            .copied()
            .collect();
        for id in window {
            if self.unavailable.contains(&id) {
                continue;
            }
            if !self.cache.contains_key(&id) && self.requested.insert(id) {
                let _ = self.worker.prefetch.send(Request::Load {
                    item_id: id,
                    ordered: false,
                    mine: self.spec.filter == Filter::Unlabeled,
                });
            }
        }
        // Keep memory bounded with 100k items: drop what is far from the current position.
        if self.cache.len() > 4 * LOOKAHEAD + 16 {
            let lo = self.pos.saturating_sub(LOOKAHEAD);
            let keep: HashSet<i64> = self
                .queue
                .iter()
                .skip(lo)
                .take(3 * LOOKAHEAD)
                .copied()
                .collect();
            self.cache.retain(|id, _| keep.contains(id));
            self.requested.retain(|id| keep.contains(id));
        }
    }

    /// Load an item again after a write (ordered after it, counted in `in_flight`).
    fn reload_counted(&mut self, id: i64) {
        self.requested.insert(id);
        self.pending_reload.insert(id);
        self.send(Request::Load {
            item_id: id,
            ordered: true,
            mine: self.spec.filter == Filter::Unlabeled,
        });
    }

    fn handle(&mut self, reply: Reply) {
        match reply {
            Reply::Queue { generation, ids } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if generation == self.generation {
                    self.queue = ids;
                    self.pos = 0;
                    self.queue_loading = false;
                    self.shown = None;
                }
            }
            Reply::Loaded { view, ordered } => {
                let id = view.item.id;
                if ordered {
                    // A reload after a write: counted, and newer than any look-ahead load.
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.pending_reload.remove(&id);
                    self.cache.insert(id, *view);
                } else if !self.pending_reload.contains(&id) {
                    self.cache.insert(id, *view);
                }
            }
            Reply::Saved {
                ids,
                item_ids,
                bulk,
            } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                for id in &item_ids {
                    self.saving.remove(id);
                }
                if let Some(last) = ids.last() {
                    self.save = SaveStatus::Saved(*last);
                }
                if bulk {
                    self.notices.push(Notice {
                        error: false,
                        text: format!("accepted {} items", ids.len()),
                    });
                    self.bulk = None;
                    self.refresh();
                } else {
                    self.request_stats();
                }
            }
            Reply::Undone(d) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.session_decisions = self.session_decisions.saturating_sub(1);
                self.goto_item(d.item_id);
                self.reload_counted(d.item_id);
                self.request_stats();
                self.save = SaveStatus::Saved(d.id);
            }
            Reply::Redone(d) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.session_decisions += 1;
                self.reload_counted(d.item_id);
                if self.current_id() == Some(d.item_id) && self.pos + 1 < self.queue.len() {
                    self.pos += 1;
                }
                self.request_stats();
                self.save = SaveStatus::Saved(d.id);
            }
            Reply::Stats(s) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.stats = Some(s);
            }
            Reply::BulkCounts { counts, threshold } => {
                self.bulk_threshold = threshold;
                self.in_flight = self.in_flight.saturating_sub(1);
                // The grid opens on the label with the most confident suggestions (else the
                // most suggestions), so the screen never opens empty.
                if self.bulk.is_none() {
                    let best = counts
                        .iter()
                        .max_by_key(|c| (c.confident, c.predicted, c.best_ppm))
                        .filter(|c| c.predicted > 0)
                        .map(|c| c.label.clone());
                    if let Some(l) = best {
                        self.open_bulk(&l);
                    }
                }
                self.bulk_counts = Some(counts);
            }
            Reply::GoldDue(due) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                // The check comes next, like any other item.
                if let Some(id) = due {
                    if self.spec.filter == Filter::Unlabeled
                        && !self.queue[self.pos..].contains(&id)
                    {
                        self.queue.insert(self.pos.min(self.queue.len()), id);
                        self.prefetch();
                    }
                }
            }
            Reply::Gold { item_id } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.notices.push(Notice {
                    error: false,
                    text: format!("item {item_id} is a gold check now"),
                });
            }
            Reply::Bulk { label, items } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if let Some(b) = &mut self.bulk {
                    if b.label == label {
                        b.items = Some(items);
                    }
                }
            }
            Reply::Waiting {
                item_ids,
                waiting,
                reason,
            } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                for id in &item_ids {
                    self.saving.remove(id);
                }
                self.save = SaveStatus::Waiting(waiting);
                let was_online = self.team.as_ref().is_some_and(|t| t.offline.is_none());
                if let Some(t) = &mut self.team {
                    t.waiting = waiting;
                    t.offline = Some(reason.clone());
                }
                if was_online {
                    self.notices.push(Notice {
                        error: true,
                        text: format!("team server unreachable, working offline: {reason}"),
                    });
                }
            }
            Reply::Team {
                progress,
                waiting,
                saved,
                refused,
                offline,
                new_model,
            } => {
                let was_offline = self.team.as_ref().is_some_and(|t| t.offline.is_some());
                if let Some(t) = &mut self.team {
                    if progress.is_some() {
                        t.progress = progress;
                    }
                    t.waiting = waiting;
                    if offline.is_some() && t.offline.is_none() {
                        self.notices.push(Notice {
                            error: true,
                            text: format!(
                                "team server unreachable, working offline: {}",
                                offline.clone().unwrap_or_default()
                            ),
                        });
                    }
                    t.offline = offline.clone();
                }
                if offline.is_none() {
                    self.unavailable.clear();
                }
                if was_offline && offline.is_none() {
                    self.notices.push(Notice {
                        error: false,
                        text: format!("team server back: {} decisions sent", saved.len()),
                    });
                }
                if !saved.is_empty() || matches!(self.save, SaveStatus::Waiting(_)) {
                    self.save = if waiting > 0 {
                        SaveStatus::Waiting(waiting)
                    } else if offline.is_none() {
                        SaveStatus::Saved(saved.last().copied().unwrap_or_default())
                    } else {
                        self.save.clone()
                    };
                }
                for (item, why) in refused {
                    self.notices.push(Notice {
                        error: true,
                        text: format!("item {item}: {why}"),
                    });
                    self.reload_counted(item);
                }
                if let Some(v) = new_model {
                    self.notices.push(Notice {
                        error: false,
                        text: format!("model v{v} is active: suggestions updated"),
                    });
                    self.cache.clear();
                    self.requested.clear();
                    self.refresh();
                }
            }
            Reply::Unavailable { item_id, ordered } => {
                if ordered {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.pending_reload.remove(&item_id);
                }
                self.requested.remove(&item_id);
                self.unavailable.insert(item_id);
            }
            Reply::Taken { item_id, ordered } => {
                if ordered {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.pending_reload.remove(&item_id);
                }
                self.requested.remove(&item_id);
                if let Some(i) = self.queue.iter().position(|x| *x == item_id) {
                    // Another annotator has it: out of this queue.
                    self.queue.remove(i);
                    if i < self.pos {
                        self.pos -= 1;
                    }
                    self.shown = None;
                }
            }
            Reply::Failed {
                what,
                message,
                item_ids,
                ordered,
            } => {
                for id in &item_ids {
                    self.pending_reload.remove(id);
                }
                if ordered {
                    self.in_flight = self.in_flight.saturating_sub(1);
                }
                for id in &item_ids {
                    self.saving.remove(id);
                    self.requested.remove(id);
                }
                if what == "save the decision" {
                    self.save = SaveStatus::Failed(message.clone());
                    // Show the unsaved items again: their local label was optimistic.
                    for id in &item_ids {
                        self.reload_counted(*id);
                    }
                }
                if what == "build the queue" {
                    self.queue_loading = false;
                }
                self.notices.push(Notice {
                    error: true,
                    text: format!("could not {what}: {message}"),
                });
            }
        }
    }

    /// Make `id` the current item (inserted at the current position when not in the queue).
    pub fn goto(&mut self, id: i64) {
        self.goto_item(id);
    }

    /// Record a decision in another label set than the reviewed one (e.g. the page industry
    /// while reviewing its fields); the current item is reloaded after it.
    pub fn decide_other(
        &mut self,
        set: &str,
        item_id: i64,
        label: &str,
        action: Action,
        prediction_id: Option<i64>,
    ) {
        let d = NewDecision {
            item_id,
            label_set: set.to_string(),
            label: Some(label.to_string()),
            annotator: self.annotator.clone(),
            action,
            ms_spent: 0,
            prediction_id,
        };
        self.saving.insert(item_id);
        self.save = SaveStatus::Saving(self.saving.len());
        self.send(Request::Record {
            decisions: vec![d],
            bulk: false,
        });
        if let Some(cur) = self.current_id() {
            self.reload_counted(cur);
        }
    }

    fn goto_item(&mut self, id: i64) {
        match self.queue.iter().position(|&x| x == id) {
            Some(i) => self.pos = i,
            None => {
                let at = self.pos.min(self.queue.len());
                self.queue.insert(at, id);
                self.pos = at;
            }
        }
        self.rejecting = false;
    }

    fn ms_on_current(&self) -> i64 {
        match (self.shown, self.current_id()) {
            (Some((id, t)), Some(cur)) if id == cur => t.elapsed().as_millis() as i64,
            _ => 0,
        }
    }

    /// The box editor of the object image on screen, made from its loaded view when it is
    /// first asked for (None while the image loads, and for other kinds).
    pub fn box_editor(&mut self) -> Option<&mut boxes::BoxEditor> {
        let view = self.current()?;
        let id = view.item.id;
        if self.box_editor.as_ref().map(|e| e.item_id) != Some(id) {
            let bv = view.boxes.as_ref()?;
            let size = (
                view.item.width.unwrap_or(0) as f64,
                view.item.height.unwrap_or(0) as f64,
            );
            let labels = self.labels.iter().map(|l| l.name.clone()).collect();
            let editor =
                boxes::BoxEditor::new(id, size, bv, labels, &self.annotator, self.hide_below);
            self.box_editor = Some(editor);
        }
        self.box_editor.as_mut()
    }

    /// Milliseconds since the previous box decision on the image on screen (or since it was
    /// shown).
    fn ms_on_box(&mut self) -> i64 {
        let cur = self.current_id();
        let ms = match (self.box_clock, cur) {
            (Some((id, t)), Some(c)) if id == c => t.elapsed().as_millis() as i64,
            _ => self.ms_on_current(),
        };
        if let Some(c) = cur {
            self.box_clock = Some((c, Instant::now()));
        }
        ms
    }

    /// Apply one event of the box editor; an edit is committed through the worker (saving,
    /// then saved). Returns false when it did nothing.
    pub fn box_event(&mut self, ev: boxes::BoxEvent) -> bool {
        let ms = self.ms_on_box();
        let annotator = self.annotator.clone();
        let Some(editor) = self.box_editor() else {
            self.notices.push(Notice {
                error: false,
                text: "the image is still loading".into(),
            });
            return false;
        };
        editor.ms_spent = ms;
        let item_id = editor.item_id;
        match editor.apply(ev) {
            boxes::BoxOutcome::Record(d) => {
                self.saving.insert(item_id);
                self.save = SaveStatus::Saving(self.saving.len());
                self.send(Request::RecordBoxes {
                    item_id,
                    boxes: vec![d],
                    finish: None,
                });
                true
            }
            boxes::BoxOutcome::Undo => {
                self.saving.insert(item_id);
                self.save = SaveStatus::Saving(self.saving.len());
                self.send(Request::UndoBox { item_id, annotator });
                true
            }
            boxes::BoxOutcome::None => false,
        }
    }

    /// Show or hide the proposals below the default score (the `H` key).
    pub fn toggle_hidden_boxes(&mut self) {
        self.hide_below = if self.hide_below > 0.0 {
            0.0
        } else {
            boxes::DEFAULT_HIDE_BELOW
        };
        let hide = self.hide_below;
        if let Some(e) = self.box_editor.as_mut() {
            e.hide_below = hide;
        }
    }

    /// Finish the object image on screen as shown: an accept for each shown proposal no
    /// decision covers, and the image's own decision, in one request; then the next image.
    fn finish_boxes(&mut self) -> bool {
        let ms = self.ms_on_current();
        let annotator = self.annotator.clone();
        let set = self.label_set.clone();
        let Some(editor) = self.box_editor() else {
            self.notices.push(Notice {
                error: false,
                text: "the image is still loading".into(),
            });
            return false;
        };
        let item_id = editor.item_id;
        let boxes = editor.finish();
        let action = if editor.edits == 0 {
            Action::Accept
        } else {
            Action::Correct
        };
        let finish = NewDecision {
            item_id,
            label_set: set,
            label: Some(crate::store::boxes::IMAGE_DONE.to_string()),
            annotator,
            action,
            ms_spent: ms,
            prediction_id: None,
        };
        self.saving.insert(item_id);
        self.save = SaveStatus::Saving(self.saving.len());
        self.send(Request::RecordBoxes {
            item_id,
            boxes,
            finish: Some(finish),
        });
        self.session_decisions += 1;
        self.box_editor = None;
        // Coming back shows the image as decided.
        self.reload_counted(item_id);
        if self.pos < self.queue.len() {
            self.pos += 1;
        }
        true
    }

    /// The label name bound to digit `n` (1-based).
    pub fn label_for_digit(&self, n: usize) -> Option<&Label> {
        if n == 0 {
            return None;
        }
        self.labels.get(n - 1)
    }

    /// Apply one annotator command. Returns false when it did nothing (e.g. accept without a
    /// suggestion); the reason is in the notices.
    pub fn apply(&mut self, cmd: Command) -> bool {
        if self.kind.spec().review == crate::kinds::ReviewScreen::Boxes && !self.reviewing() {
            let has = |e: &Option<boxes::BoxEditor>, redo: bool| {
                e.as_ref()
                    .is_some_and(|e| if redo { e.can_redo() } else { e.can_undo() })
            };
            match cmd {
                Command::Accept => return self.finish_boxes(),
                Command::Pick(n) => {
                    let Some(label) = self.label_for_digit(n).map(|l| l.name.clone()) else {
                        return false;
                    };
                    return self.box_event(boxes::BoxEvent::Relabel(label));
                }
                Command::Undo if has(&self.box_editor, false) => {
                    return self.box_event(boxes::BoxEvent::Undo)
                }
                Command::Redo if has(&self.box_editor, true) => {
                    return self.box_event(boxes::BoxEvent::Redo)
                }
                // Boxes are fixed one by one: there is no image-wide "reject then pick".
                Command::Reject => return false,
                _ => {}
            }
        }
        match cmd {
            Command::Next => {
                if self.pos + 1 < self.queue.len() {
                    self.pos += 1;
                    self.rejecting = false;
                    return true;
                }
                false
            }
            Command::Prev => {
                if self.pos > 0 {
                    self.pos -= 1;
                    self.rejecting = false;
                    return true;
                }
                false
            }
            Command::Undo => {
                self.send(Request::Undo {
                    annotator: self.annotator.clone(),
                });
                true
            }
            Command::Redo => {
                self.send(Request::Redo {
                    annotator: self.annotator.clone(),
                });
                true
            }
            Command::Accept
            | Command::Pick(_)
            | Command::Reject
            | Command::Skip
            | Command::Flag => self.decide(cmd),
        }
    }

    fn decide(&mut self, cmd: Command) -> bool {
        let Some(view) = self.current() else {
            self.notices.push(Notice {
                error: false,
                text: "the item is still loading".into(),
            });
            return false;
        };
        let item_id = view.item.id;
        let suggestion = view.prediction.as_ref().map(|p| (p.id, p.label.clone()));
        if self.reviewing() {
            // The review queue: the lead's label is final. Enter takes the answer most
            // annotators gave (else the suggestion); a digit picks another.
            let label = match cmd {
                // Suspect labels: Enter takes the finder's suggestion (the digit of the
                // given label keeps it).
                Command::Accept => match &view.suspect {
                    Some(s) if self.spec.filter == Filter::Suspects => Some(s.suggested.clone()),
                    _ => majority(&view.answers).or(suggestion.map(|s| s.1)),
                },
                Command::Pick(n) => self.label_for_digit(n).map(|l| l.name.clone()),
                Command::Skip => {
                    if self.pos < self.queue.len() {
                        self.pos += 1;
                    }
                    return true;
                }
                _ => None,
            };
            let Some(label) = label else {
                self.notices.push(Notice {
                    error: false,
                    text: "pick the final label with 1-9".into(),
                });
                return false;
            };
            let d = NewDecision {
                item_id,
                label_set: self.label_set.clone(),
                label: Some(label.clone()),
                annotator: self.annotator.clone(),
                action: Action::Review,
                ms_spent: self.ms_on_current(),
                prediction_id: None,
            };
            self.saving.insert(item_id);
            self.save = SaveStatus::Saving(self.saving.len());
            self.send(Request::Record {
                decisions: vec![d],
                bulk: false,
            });
            self.session_decisions += 1;
            if let Some(v) = self.cache.get_mut(&item_id) {
                v.label = Some(label);
            }
            if self.pos < self.queue.len() {
                self.pos += 1;
            }
            return true;
        }
        let (action, label) = match cmd {
            Command::Accept => match &suggestion {
                Some((_, l)) if !self.rejecting => (Action::Accept, Some(l.clone())),
                _ => {
                    let text = if self.rejecting {
                        "rejected: pick the right label with 1-9"
                    } else {
                        "no suggestion for this item: pick a label with 1-9"
                    };
                    self.notices.push(Notice {
                        error: false,
                        text: text.into(),
                    });
                    return false;
                }
            },
            Command::Pick(n) => {
                let Some(l) = self.label_for_digit(n) else {
                    self.notices.push(Notice {
                        error: false,
                        text: format!("no label on key {n}"),
                    });
                    return false;
                };
                let l = l.name.clone();
                let same = suggestion.as_ref().is_some_and(|(_, s)| *s == l);
                (
                    if same && !self.rejecting {
                        Action::Accept
                    } else {
                        Action::Correct
                    },
                    Some(l),
                )
            }
            Command::Reject => (Action::Reject, suggestion.as_ref().map(|(_, l)| l.clone())),
            Command::Skip => (Action::Skip, None),
            Command::Flag => (Action::Flag, None),
            _ => return false,
        };
        let d = NewDecision {
            item_id,
            label_set: self.label_set.clone(),
            label: if action == Action::Reject {
                None
            } else {
                label.clone()
            },
            annotator: self.annotator.clone(),
            action,
            ms_spent: self.ms_on_current(),
            prediction_id: suggestion.map(|(id, _)| id),
        };
        self.saving.insert(item_id);
        self.save = SaveStatus::Saving(self.saving.len());
        self.send(Request::Record {
            decisions: vec![d],
            bulk: false,
        });
        match action {
            Action::Reject => {
                self.rejecting = true;
            }
            _ => {
                if action.sets_label() {
                    self.session_decisions += 1;
                    if let Some(v) = self.cache.get_mut(&item_id) {
                        v.label = label;
                    }
                }
                if action.answers() && self.spec.filter == Filter::Unlabeled {
                    self.send(Request::GoldDue);
                }
                self.rejecting = false;
                if self.pos < self.queue.len() {
                    self.pos += 1;
                }
            }
        }
        true
    }

    /// Whether the lead is working through the review queue or the suspect labels
    /// (decisions are final there: action `review`).
    pub fn reviewing(&self) -> bool {
        matches!(self.spec.filter, Filter::Review | Filter::Suspects) && self.role.is_lead()
    }

    /// Leads: make the current item a gold check with its current label. Returns false (with
    /// a notice) when it has no label yet.
    pub fn mark_gold(&mut self) -> bool {
        let Some(v) = self.current() else {
            return false;
        };
        let Some(label) = v.label.clone() else {
            self.notices.push(Notice {
                error: false,
                text: "label the item first: its label becomes the gold answer".into(),
            });
            return false;
        };
        let item_id = v.item.id;
        self.send(Request::Gold {
            item_id,
            label,
            lead: self.annotator.clone(),
        });
        true
    }

    /// Ask for the bulk-accept picker's counts (once per visit of the screen; the reply opens
    /// the grid on the best label if none is open).
    pub fn request_bulk_counts(&mut self) {
        if !self.bulk_counts_asked {
            self.bulk_counts_asked = true;
            self.send(Request::BulkCounts {
                min_score: BULK_MIN_SCORE,
            });
        }
    }

    /// The bulk screen was left: its counts are asked again next time (they change).
    pub fn forget_bulk_counts(&mut self) {
        self.bulk_counts_asked = false;
    }

    /// Open the bulk-accept grid for items predicted as `label` (most confident first).
    pub fn open_bulk(&mut self, label: &str) {
        self.bulk = Some(BulkState {
            label: label.to_string(),
            items: None,
        });
        self.send(Request::Bulk {
            label: label.to_string(),
            limit: BULK_LIMIT,
        });
    }

    /// Tick or untick one cell of the grid.
    pub fn toggle_bulk(&mut self, item_id: i64) {
        if let Some(items) = self.bulk.as_mut().and_then(|b| b.items.as_mut()) {
            if let Some(it) = items.iter_mut().find(|i| i.item_id == item_id) {
                it.ticked = !it.ticked;
            }
        }
    }

    /// Accept every ticked item of the grid in one transaction. Returns how many were sent.
    pub fn accept_bulk(&mut self) -> usize {
        let Some(b) = &self.bulk else { return 0 };
        let Some(items) = &b.items else { return 0 };
        let ds: Vec<NewDecision> = items
            .iter()
            .filter(|i| i.ticked)
            .map(|i| NewDecision {
                item_id: i.item_id,
                label_set: self.label_set.clone(),
                label: Some(b.label.clone()),
                annotator: self.annotator.clone(),
                action: Action::Accept,
                ms_spent: 0,
                prediction_id: Some(i.prediction_id),
            })
            .collect();
        let n = ds.len();
        if n > 0 {
            for d in &ds {
                self.saving.insert(d.item_id);
            }
            self.save = SaveStatus::Saving(self.saving.len());
            self.session_decisions += n;
            self.send(Request::Record {
                decisions: ds,
                bulk: true,
            });
            // The picker's counts change with it.
            self.bulk_counts_asked = false;
        }
        n
    }
}

/// The label most annotators gave (the first given among equals), if any.
fn majority(answers: &[crate::store::quality::Annotation]) -> Option<String> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for a in answers {
        let Some(l) = a.label.as_deref() else {
            continue;
        };
        match counts.iter_mut().find(|(x, _)| *x == l) {
            Some(c) => c.1 += 1,
            None => counts.push((l, 1)),
        }
    }
    let best = counts.iter().map(|c| c.1).max()?;
    counts
        .into_iter()
        .find(|c| c.1 == best)
        .map(|c| c.0.to_string())
}

/// The label set an annotator reviews by default in a project of this kind.
pub fn main_label_set(kind: TaskKind) -> &'static str {
    kind.spec().main_set
}

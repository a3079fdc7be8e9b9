//! The review worker: one thread that owns its own connection to the project and does all the
//! SQL and image decoding the review screen needs, so the UI thread never waits for either.
//!
//! Two inboxes: `ordered` (decisions, undo/redo, queue rebuilds, stats, reloads: handled in the
//! order sent, so a reload after a decision sees it) and `prefetch` (look-ahead loads, handled
//! only when no ordered request waits). Every reply wakes the UI through the repaint callback.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::{BulkItem, DecodedImage, FieldView, ItemView, PageView};
use crate::domain::{sets, Decision, FieldRecord, ItemKind, NewDecision};
use crate::queue::{self, Filter, QueueSpec, Strategy};
use crate::store::review::ReviewStats;
use crate::store::Store;

/// Largest side of a decoded image sent to the UI (bigger ones are downscaled on the worker).
pub const MAX_IMAGE_SIDE: u32 = 1024;
/// Side of bulk-grid thumbnails.
pub const THUMB_SIDE: u32 = 96;

pub(crate) type Repaint = Arc<dyn Fn() + Send + Sync>;

#[derive(Debug)]
pub(crate) enum Request {
    Queue {
        spec: QueueSpec,
        generation: u64,
    },
    Load {
        item_id: i64,
        ordered: bool,
        /// The annotator's own queue: show their own answer, not the final label (blind),
        /// and on a team project lease the item before showing it.
        mine: bool,
    },
    Record {
        decisions: Vec<NewDecision>,
        bulk: bool,
    },
    /// Box decisions of one object image, and the decision that finishes it (one
    /// transaction for the boxes).
    RecordBoxes {
        item_id: i64,
        boxes: Vec<crate::domain::NewBoxDecision>,
        finish: Option<NewDecision>,
    },
    /// Undo the annotator's newest box decision on an image.
    UndoBox {
        item_id: i64,
        annotator: String,
    },
    Undo {
        annotator: String,
    },
    Redo {
        annotator: String,
    },
    Stats {
        annotator: String,
        since: String,
    },
    Bulk {
        label: String,
        limit: usize,
    },
    /// Whether this annotator is due a gold check (asked after each answer).
    GoldDue,
    /// Per label, how many unlabelled items the model suggests it for (at or above
    /// `min_score`, and in all): the bulk-accept picker.
    BulkCounts {
        min_score: f64,
    },
    /// A lead marks an item as gold with its label.
    Gold {
        item_id: i64,
        label: String,
        lead: String,
    },
}

/// How often a team project's worker sends what waits, reads the team's progress and looks
/// for a newly activated model (the annotator sees the lead's model within this time).
pub const TEAM_TICK: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug)]
pub(crate) enum Reply {
    Queue {
        generation: u64,
        ids: Vec<i64>,
    },
    Loaded {
        view: Box<ItemView>,
        ordered: bool,
    },
    Saved {
        ids: Vec<i64>,
        item_ids: Vec<i64>,
        bulk: bool,
    },
    Undone(Decision),
    Redone(Decision),
    Stats(ReviewStats),
    Bulk {
        label: String,
        items: Vec<BulkItem>,
    },
    /// An item became a gold check.
    Gold {
        item_id: i64,
    },
    /// The gold check to show next, if one is due.
    GoldDue(Option<i64>),
    /// The counts at `threshold` (the active model's calibrated bulk threshold, else the
    /// asked minimum).
    BulkCounts {
        counts: Vec<crate::store::queue::ConfidentCount>,
        threshold: f64,
    },
    /// Team projects: the server is unreachable; the decisions wait in the local outbox
    /// (`waiting` in all), not saved yet.
    Waiting {
        item_ids: Vec<i64>,
        waiting: usize,
        reason: String,
    },
    /// Team projects: the periodic check. `saved` decisions of the outbox reached the server.
    Team {
        progress: Option<crate::store::leases::TeamProgress>,
        waiting: usize,
        saved: Vec<i64>,
        refused: Vec<(i64, String)>,
        offline: Option<String>,
        /// The active model changed since the last check (its version).
        new_model: Option<i64>,
    },
    /// Team projects: another annotator has this item (leased or decided).
    Taken {
        item_id: i64,
        ordered: bool,
    },
    /// Team projects: the item cannot be loaded while the server is unreachable.
    Unavailable {
        item_id: i64,
        ordered: bool,
    },
    /// A request failed; `what` names it, `message` is the cause chain.
    Failed {
        what: &'static str,
        message: String,
        item_ids: Vec<i64>,
        ordered: bool,
    },
}

pub(crate) struct WorkerHandle {
    pub ordered: Sender<Request>,
    pub prefetch: Sender<Request>,
    pub replies: Receiver<Reply>,
}

/// Start the worker on `path` (it opens its own connection).
pub(crate) fn spawn(
    path: PathBuf,
    label_set: String,
    annotator: String,
    lead: bool,
    repaint: Repaint,
) -> std::io::Result<WorkerHandle> {
    let (otx, orx) = crossbeam_channel::unbounded::<Request>();
    let (ptx, prx) = crossbeam_channel::unbounded::<Request>();
    let (rtx, rrx) = crossbeam_channel::unbounded::<Reply>();
    std::thread::Builder::new()
        .name("review-worker".into())
        .spawn(move || {
            let store = match Store::open(&path) {
                Ok(s) => s,
                Err(e) => {
                    let _ = rtx.send(Reply::Failed {
                        what: "open",
                        message: crate::review::error_chain(&e),
                        item_ids: vec![],
                        ordered: false,
                    });
                    repaint();
                    return;
                }
            };
            let outbox = match crate::store::outbox::Outbox::for_team(&store, &annotator) {
                Ok(o) => o,
                Err(e) => {
                    let _ = rtx.send(failed("open the outbox", &e, vec![]));
                    None
                }
            };
            let team = store.is_team();
            let mut w = Worker {
                bulk_min: super::BULK_MIN_SCORE,
                lead,
                last_model: store.active_model(&label_set).ok().flatten().map(|m| m.id),
                keeps_bytes: store.keeps_file_bytes().unwrap_or(false),
                store,
                path: path.clone(),
                set: label_set,
                annotator,
                outbox,
                offline: None,
            };
            // Decisions left waiting by an earlier session go out first.
            if team {
                let _ = rtx.send(w.tick());
                repaint();
            }
            let mut next_tick = std::time::Instant::now() + TEAM_TICK;
            loop {
                // Ordered requests first; look-ahead loads only when nothing else waits.
                let req = match orx.try_recv() {
                    Ok(r) => Some(r),
                    Err(_) if team => {
                        let wait = next_tick.saturating_duration_since(std::time::Instant::now());
                        crossbeam_channel::select_biased! {
                            recv(orx) -> r => match r { Ok(r) => Some(r), Err(_) => break },
                            recv(prx) -> r => match r { Ok(r) => Some(r), Err(_) => break },
                            default(wait) => None,
                        }
                    }
                    Err(_) => crossbeam_channel::select_biased! {
                        recv(orx) -> r => match r { Ok(r) => Some(r), Err(_) => break },
                        recv(prx) -> r => match r { Ok(r) => Some(r), Err(_) => break },
                    },
                };
                let reply = match req {
                    Some(req) => w.handle(req),
                    None => {
                        next_tick = std::time::Instant::now() + TEAM_TICK;
                        w.tick()
                    }
                };
                if team && std::time::Instant::now() >= next_tick {
                    next_tick = std::time::Instant::now() + TEAM_TICK;
                    if rtx.send(w.tick()).is_err() {
                        break;
                    }
                }
                if rtx.send(reply).is_err() {
                    break;
                }
                repaint();
            }
            // Closing the review gives this annotator's unfinished items back to the team.
            if team {
                let _ = w.store.release_leases(&w.annotator, None);
            }
        })?;
    Ok(WorkerHandle {
        ordered: otx,
        prefetch: ptx,
        replies: rrx,
    })
}

struct Worker {
    /// Suggestions scoring at least this are ticked in the bulk grid.
    bulk_min: f64,
    store: Store,
    path: PathBuf,
    set: String,
    annotator: String,
    /// Team projects: decisions wait here until the server acknowledged them.
    outbox: Option<crate::store::outbox::Outbox>,
    /// Team projects: why the server is unreachable (None when it answers).
    offline: Option<String>,
    last_model: Option<i64>,
    /// Whether item files come from the database (a project setting, read once per connection).
    keeps_bytes: bool,
    /// A lead's (or a project file's) worker: it loads every annotator's answers.
    lead: bool,
}

impl Worker {
    /// Team projects: reconnect if needed, send what waits, read the team's progress and the
    /// active model.
    fn tick(&mut self) -> Reply {
        if self.offline.is_some() {
            match Store::open(&self.path) {
                Ok(s) => {
                    self.keeps_bytes = s.keeps_file_bytes().unwrap_or(self.keeps_bytes);
                    self.store = s;
                    self.offline = None;
                }
                Err(e) => self.offline = Some(crate::review::error_chain(&e)),
            }
        }
        let (mut saved, mut refused, mut waiting) = (vec![], vec![], 0);
        if self.offline.is_none() {
            if let Some(o) = &self.outbox {
                match self.store.drain_outbox(o) {
                    Ok(d) => {
                        saved = d.saved.iter().map(|x| x.1).collect();
                        refused = d.refused;
                        waiting = d.waiting;
                        self.offline = d.offline;
                    }
                    Err(e) => {
                        if e.is_unreachable() {
                            self.offline = Some(crate::review::error_chain(&e));
                        }
                    }
                }
            }
        } else if let Some(o) = &self.outbox {
            waiting = o.len().unwrap_or(0);
        }
        let mut progress = None;
        let mut new_model = None;
        if self.offline.is_none() {
            match self.store.team_progress(&self.set, &self.annotator) {
                Ok(p) => progress = Some(p),
                Err(e) => self.note_error(&e),
            }
            match self.store.active_model(&self.set) {
                Ok(m) => {
                    let id = m.as_ref().map(|m| m.id);
                    if id != self.last_model {
                        self.last_model = id;
                        new_model = m.map(|m| m.version);
                    }
                }
                Err(e) => self.note_error(&e),
            }
        }
        Reply::Team {
            progress,
            waiting,
            saved,
            refused,
            offline: self.offline.clone(),
            new_model,
        }
    }

    fn note_error(&mut self, e: &crate::store::StoreError) {
        if e.is_unreachable() {
            self.offline = Some(crate::review::error_chain(e));
        }
    }

    /// Team projects: the decisions go to the outbox first, then to the server.
    fn record_team(&mut self, decisions: Vec<NewDecision>, bulk: bool) -> Reply {
        let item_ids: Vec<i64> = decisions.iter().map(|d| d.item_id).collect();
        let Some(outbox) = &self.outbox else {
            return failed(
                "save the decision",
                &crate::store::StoreError::Invalid("no outbox".into()),
                item_ids,
            );
        };
        for d in &decisions {
            if let Err(e) = outbox.push(d) {
                return failed("save the decision", &e, item_ids);
            }
        }
        if self.offline.is_some() {
            return Reply::Waiting {
                item_ids,
                waiting: outbox.len().unwrap_or(0),
                reason: self.offline.clone().unwrap_or_default(),
            };
        }
        match self.store.drain_outbox(outbox) {
            Ok(d) if d.offline.is_some() => {
                self.offline = d.offline.clone();
                Reply::Waiting {
                    item_ids,
                    waiting: d.waiting,
                    reason: d.offline.unwrap_or_default(),
                }
            }
            Ok(d) => {
                if let Some((item, why)) = d.refused.iter().find(|r| item_ids.contains(&r.0)) {
                    return Reply::Failed {
                        what: "save the decision",
                        message: why.clone(),
                        item_ids: vec![*item],
                        ordered: true,
                    };
                }
                Reply::Saved {
                    ids: d.saved.iter().map(|x| x.0).collect(),
                    item_ids,
                    bulk,
                }
            }
            Err(e) => failed("save the decision", &e, item_ids),
        }
    }

    fn handle(&mut self, req: Request) -> Reply {
        match req {
            Request::Queue { spec, generation } => match queue::build(&self.store, &spec) {
                Ok(mut ids) => {
                    if self.store.is_team() {
                        // Items another annotator holds are not shown here.
                        if let Ok(others) = self.store.leased_by_others(&self.annotator) {
                            ids.retain(|id| !others.contains(id));
                        }
                    }
                    Reply::Queue { generation, ids }
                }
                Err(e) => {
                    self.note_error(&e);
                    failed("build the queue", &e, vec![])
                }
            },
            Request::Load {
                item_id,
                ordered,
                mine,
            } => match self.load(item_id, mine) {
                Ok(v)
                    if mine
                        && self.store.is_team()
                        && v.label.is_none()
                        && self.offline.is_none() =>
                {
                    // Shown only when leased to this annotator.
                    match self
                        .store
                        .lease_items(&self.set, &self.annotator, &[item_id], 1)
                    {
                        Ok(got) if got.is_empty() => Reply::Taken { item_id, ordered },
                        Ok(_) => Reply::Loaded {
                            view: Box::new(v),
                            ordered,
                        },
                        Err(e) => {
                            self.note_error(&e);
                            Reply::Loaded {
                                view: Box::new(v),
                                ordered,
                            }
                        }
                    }
                }
                Ok(v) => Reply::Loaded {
                    view: Box::new(v),
                    ordered,
                },
                Err(e) => {
                    let unreachable = e
                        .downcast_ref::<crate::store::StoreError>()
                        .is_some_and(|s| s.is_unreachable());
                    if unreachable {
                        // Offline: the item comes back when the server does (no retry storm).
                        self.offline = Some(format!("{e:#}"));
                        Reply::Unavailable { item_id, ordered }
                    } else {
                        Reply::Failed {
                            what: "load an item",
                            message: format!("{e:#}"),
                            item_ids: vec![item_id],
                            ordered,
                        }
                    }
                }
            },
            Request::Record { decisions, bulk } if self.store.is_team() => {
                self.record_team(decisions, bulk)
            }
            Request::Record { decisions, bulk } => {
                let item_ids: Vec<i64> = decisions.iter().map(|d| d.item_id).collect();
                match self.store.record_decisions(&decisions) {
                    Ok(ids) => Reply::Saved {
                        ids,
                        item_ids,
                        bulk,
                    },
                    Err(e) => failed("save the decision", &e, item_ids),
                }
            }
            Request::RecordBoxes {
                item_id,
                boxes,
                finish,
            } => match self.store.record_box_decisions(&boxes, finish.as_ref()) {
                Ok(ids) => Reply::Saved {
                    ids,
                    item_ids: vec![item_id],
                    bulk: false,
                },
                Err(e) => failed("save the box decision", &e, vec![item_id]),
            },
            Request::UndoBox { item_id, annotator } => {
                match self.store.undo_last_box_decision(item_id, &annotator) {
                    Ok(d) => Reply::Saved {
                        ids: vec![d.id],
                        item_ids: vec![item_id],
                        bulk: false,
                    },
                    Err(e) => failed("undo the box decision", &e, vec![item_id]),
                }
            }
            Request::Undo { annotator } => match self.store.undo(&annotator) {
                Ok(d) => Reply::Undone(d),
                Err(e) => failed("undo", &e, vec![]),
            },
            Request::Redo { annotator } => match self.store.redo(&annotator) {
                Ok(d) => Reply::Redone(d),
                Err(e) => failed("redo", &e, vec![]),
            },
            Request::Stats { annotator, since } => {
                match self.store.review_stats(&self.set, &annotator, &since) {
                    Ok(s) => Reply::Stats(s),
                    Err(e) => failed("read progress", &e, vec![]),
                }
            }
            Request::BulkCounts { min_score } => {
                let threshold = self.bulk_threshold(min_score);
                self.bulk_min = threshold;
                match self.store.confident_counts(&self.set, threshold) {
                    Ok(counts) => Reply::BulkCounts { counts, threshold },
                    Err(e) => failed("count the suggestions", &e, vec![]),
                }
            }
            Request::GoldDue => match self.store.gold_due(&self.set, &self.annotator) {
                Ok(g) => Reply::GoldDue(g),
                Err(e) => {
                    self.note_error(&e);
                    Reply::GoldDue(None)
                }
            },
            Request::Gold {
                item_id,
                label,
                lead,
            } => match self.store.add_gold(&self.set, &[(item_id, label)], &lead) {
                Ok(_) => Reply::Gold { item_id },
                Err(e) => failed("mark the gold item", &e, vec![item_id]),
            },
            Request::Bulk { label, limit } => match self.bulk(&label, limit) {
                Ok(items) => Reply::Bulk { label, items },
                Err(e) => Reply::Failed {
                    what: "load the bulk grid",
                    message: format!("{e:#}"),
                    item_ids: vec![],
                    ordered: true,
                },
            },
        }
    }

    /// The item's file on this machine (team projects: the cached copy of the stored bytes).
    fn file_of(&self, item: &crate::domain::Item) -> Result<PathBuf, String> {
        self.store
            .local_file_with(
                self.keeps_bytes,
                &item.source_path,
                item.content_hash.as_deref(),
            )
            .map_err(|e| crate::review::error_chain(&e))
    }

    fn load(&mut self, item_id: i64, mine: bool) -> anyhow::Result<ItemView> {
        let item = self
            .store
            .item(item_id)?
            .ok_or_else(|| anyhow::anyhow!("no item with id {item_id}"))?;
        let prediction = self.store.prediction(item_id, &self.set, None)?;
        let suspect = match !mine && self.lead {
            true => self.store.open_suspect(item_id, &self.set)?,
            false => None,
        };
        let (label, answers) = if mine {
            (
                self.store.my_answer(item_id, &self.set, &self.annotator)?,
                vec![],
            )
        } else {
            let answers = if self.lead {
                self.store.annotations_of_item(item_id, &self.set)?
            } else {
                vec![]
            };
            (self.store.current_label(item_id, &self.set)?, answers)
        };
        let (mut image, mut image_error) = (None, None);
        let mut page = None;
        match item.kind {
            ItemKind::Image => {
                if let Some(err) = &item.error {
                    image_error = Some(err.clone());
                } else {
                    match self.file_of(&item).and_then(|p| decode(&p, MAX_IMAGE_SIDE)) {
                        Ok(img) => image = Some(img),
                        Err(e) => image_error = Some(e),
                    }
                }
            }
            ItemKind::Field => {
                if let Some(pid) = item.parent_id {
                    page = Some(self.page(pid)?);
                }
            }
            ItemKind::Page => page = Some(self.page(item.id)?),
        }
        let boxes = if self.set == crate::domain::sets::OBJECT {
            Some(crate::review::boxes::BoxesView {
                current: self.store.item_boxes(item_id, &self.set)?,
                decided_uids: self.store.decided_box_uids(item_id)?,
                proposals: self.store.box_predictions(item_id, &self.set)?,
            })
        } else {
            None
        };
        Ok(ItemView {
            item,
            prediction,
            label,
            image,
            image_error,
            page,
            answers,
            suspect,
            boxes,
        })
    }

    fn page(&mut self, page_id: i64) -> anyhow::Result<PageView> {
        let page = self
            .store
            .item(page_id)?
            .ok_or_else(|| anyhow::anyhow!("no page with id {page_id}"))?;
        let title = page
            .meta
            .get("title")
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| {
                page.source_path
                    .rsplit('/')
                    .next()
                    .unwrap_or(&page.source_path)
                    .to_string()
            });
        let mut fields = Vec::new();
        let has_field_set = self.store.label_set_id(sets::FIELD_TYPE).is_ok();
        for f in self.store.children(page_id)? {
            let record: FieldRecord = serde_json::from_value(f.meta.clone()).unwrap_or_default();
            let (prediction, label) = if has_field_set {
                (
                    self.store.prediction(f.id, sets::FIELD_TYPE, None)?,
                    self.store.current_label(f.id, sets::FIELD_TYPE)?,
                )
            } else {
                (None, None)
            };
            fields.push(FieldView {
                item_id: f.id,
                record,
                prediction,
                label,
            });
        }
        let (industry, industry_label) = if self.store.label_set_id(sets::INDUSTRY).is_ok() {
            (
                self.store.prediction(page_id, sets::INDUSTRY, None)?,
                self.store.current_label(page_id, sets::INDUSTRY)?,
            )
        } else {
            (None, None)
        };
        Ok(PageView {
            page,
            title,
            fields,
            industry,
            industry_label,
        })
    }

    /// The active model's calibrated bulk-accept threshold (its hold-out's items scoring at
    /// least that were >= 98 % right), else `fallback`.
    fn bulk_threshold(&self, fallback: f64) -> f64 {
        self.store
            .active_model(&self.set)
            .ok()
            .flatten()
            .and_then(|m| {
                m.metrics
                    .as_ref()
                    .and_then(|x| x.pointer("/calibration/bulk_threshold"))
                    .and_then(|v| v.as_f64())
            })
            .unwrap_or(fallback)
    }

    fn bulk(&mut self, label: &str, limit: usize) -> anyhow::Result<Vec<BulkItem>> {
        let spec = QueueSpec {
            label_set: self.set.clone(),
            strategy: Strategy::Confident,
            filter: Filter::PredictedAs(label.to_string()),
            seed: 0,
            annotator: None,
        };
        let mut out = Vec::new();
        let mut sources: HashMap<i64, String> = HashMap::new();
        for c in self.store.queue_candidates(&spec)?.into_iter().take(limit) {
            let Some(p) = self.store.prediction(c.item_id, &self.set, None)? else {
                continue;
            };
            let item = self.store.item(c.item_id)?;
            if let Some(it) = &item {
                sources.insert(it.id, it.source_path.clone());
            }
            let thumb = match &item {
                Some(it) if it.kind == ItemKind::Image && it.error.is_none() => {
                    self.file_of(it).and_then(|p| decode(&p, THUMB_SIDE)).ok()
                }
                _ => None,
            };
            let caption = match &item {
                Some(it) if it.kind == ItemKind::Field => {
                    serde_json::from_value::<FieldRecord>(it.meta.clone())
                        .unwrap_or_default()
                        .caption()
                }
                Some(it) => it
                    .source_path
                    .rsplit('/')
                    .next()
                    .unwrap_or(&it.source_path)
                    .to_string(),
                None => String::new(),
            };
            out.push(BulkItem {
                item_id: c.item_id,
                score: p.score,
                prediction_id: p.id,
                thumb,
                caption,
                // Ticked from the calibrated threshold on; the lead can tick more.
                ticked: p.score >= self.bulk_min,
            });
        }
        Ok(out)
    }
}

fn failed(what: &'static str, e: &crate::store::StoreError, item_ids: Vec<i64>) -> Reply {
    Reply::Failed {
        what,
        message: crate::review::error_chain(e),
        item_ids,
        ordered: true,
    }
}

/// Decode an image file to RGBA, downscaled so its largest side is at most `max_side`.
pub fn decode(path: &Path, max_side: u32) -> Result<DecodedImage, String> {
    let img = image::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let img = if img.width().max(img.height()) > max_side {
        img.thumbnail(max_side, max_side)
    } else {
        img
    };
    let rgba = img.to_rgba8();
    Ok(DecodedImage {
        width: rgba.width() as usize,
        height: rgba.height() as usize,
        rgba: rgba.into_raw(),
    })
}

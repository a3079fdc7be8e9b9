//! Insights: label distribution, annotator throughput, accept rate over time, items with errors
//! (and why). Computed by `review::insights` on a background thread when the screen opens.
//! Image projects also get near-duplicate groups on request (conflicting labels first), found
//! on a background thread with progress and cancel, thumbnails decoded there too.

use std::sync::mpsc;

use egui::{Color32, RichText};
use egui_plot::Plot;

use super::i18n::{tr, Lang};
use super::App;
use crate::jobs::JobCtx;
use crate::review::insights::{self, DuplicatesView, Insights};

/// Groups whose thumbnails are decoded, and members shown per group.
const DUP_GROUPS_SHOWN: usize = 40;
const DUP_MEMBERS_SHOWN: usize = 6;
/// Thumbnail edge, pixels.
const THUMB: u32 = 56;

/// A decoded thumbnail: item id, size, RGBA pixels.
type Thumb = (i64, [usize; 2], Vec<u8>);
type DupResult = Result<(DuplicatesView, Vec<Thumb>), String>;

/// The near-duplicate part of the screen.
pub struct DuplicatesState {
    pub threshold: f32,
    result: Option<Result<DuplicatesView, String>>,
    rx: Option<mpsc::Receiver<DupResult>>,
    job: Option<JobCtx>,
    thumbs: std::collections::HashMap<i64, egui::TextureHandle>,
}

impl Default for DuplicatesState {
    fn default() -> Self {
        DuplicatesState {
            threshold: crate::ml::similarity::DEFAULT_THRESHOLD,
            result: None,
            rx: None,
            job: None,
            thumbs: Default::default(),
        }
    }
}

impl DuplicatesState {
    /// The last search's groups (tests and the screen).
    pub fn result(&self) -> Option<&Result<DuplicatesView, String>> {
        self.result.as_ref()
    }

    pub fn is_running(&self) -> bool {
        self.rx.is_some()
    }

    fn start(&mut self, path: std::path::PathBuf, set: String, ctx: egui::Context) {
        let (tx, rx) = mpsc::channel();
        let c = ctx.clone();
        let job = JobCtx::new("near duplicates").with_observer(move |_| c.request_repaint());
        self.rx = Some(rx);
        self.job = Some(job.clone());
        self.result = None;
        let threshold = self.threshold;
        std::thread::spawn(move || {
            let r = (|| -> anyhow::Result<(DuplicatesView, Vec<Thumb>)> {
                let store = crate::store::Store::open(&path)?;
                let view = insights::near_duplicates(&store, &set, threshold, &job)?;
                let mut thumbs = Vec::new();
                for g in view.groups.iter().take(DUP_GROUPS_SHOWN) {
                    for m in g.members.iter().take(DUP_MEMBERS_SHOWN) {
                        job.check()?;
                        if let Ok(img) = image::open(&m.path) {
                            let t = img.thumbnail(THUMB, THUMB).to_rgba8();
                            let size = [t.width() as usize, t.height() as usize];
                            thumbs.push((m.item_id, size, t.into_raw()));
                        }
                    }
                }
                Ok((view, thumbs))
            })()
            .map_err(|e| format!("{e:#}"));
            let _ = tx.send(r);
            ctx.request_repaint();
        });
    }

    fn poll(&mut self, ctx: &egui::Context) {
        let Some(rx) = &self.rx else { return };
        match rx.try_recv() {
            Ok(r) => {
                self.rx = None;
                self.job = None;
                self.result = Some(r.map(|(view, thumbs)| {
                    self.thumbs.clear();
                    for (id, size, rgba) in thumbs {
                        let img = egui::ColorImage::from_rgba_unmultiplied(size, &rgba);
                        let tex = ctx.load_texture(format!("dup-{id}"), img, Default::default());
                        self.thumbs.insert(id, tex);
                    }
                    view
                }));
            }
            Err(mpsc::TryRecvError::Empty) => {
                ctx.request_repaint_after(std::time::Duration::from_millis(100))
            }
            Err(mpsc::TryRecvError::Disconnected) => {
                self.rx = None;
                self.job = None;
            }
        }
    }
}

#[derive(Default)]
pub struct InsightsState {
    pub duplicates: DuplicatesState,
    data: Option<Result<Insights, String>>,
    rx: Option<mpsc::Receiver<Result<Insights, String>>>,
}

impl InsightsState {
    /// Compute again on the next frame (a background job changed the project).
    pub fn invalidate(&mut self) {
        if self.rx.is_none() {
            self.data = None;
        }
    }

    fn start(&mut self, path: std::path::PathBuf, set: String, ctx: egui::Context) {
        let (tx, rx) = mpsc::channel();
        self.rx = Some(rx);
        std::thread::spawn(move || {
            let r = crate::store::Store::open(&path)
                .and_then(|s| insights::compute(&s, &set))
                .map_err(|e| crate::review::error_chain(&e));
            let _ = tx.send(r);
            ctx.request_repaint();
        });
    }
}

pub fn insights_ui(app: &mut App, ui: &mut egui::Ui) {
    let lang = app.prefs.lang;
    let ctx = ui.ctx().clone();
    let checking = app.running_jobs().iter().any(|j| j == SUSPECT_JOB);
    let (mut check, mut go_review) = (false, false);
    let Some(p) = app.project.as_mut() else {
        return;
    };
    let is_images = p.review.kind.spec().review == crate::kinds::ReviewScreen::Class;
    let is_lead = p.review.role.is_lead();
    let (path, set) = (p.review.path().to_path_buf(), p.review.label_set.clone());
    let st = &mut p.insights;
    if let Some(rx) = &st.rx {
        if let Ok(r) = rx.try_recv() {
            st.data = Some(r);
            st.rx = None;
        }
    }
    if st.data.is_none() && st.rx.is_none() {
        st.start(
            p.review.path().to_path_buf(),
            p.review.label_set.clone(),
            ctx.clone(),
        );
    }
    egui::CentralPanel::default().show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.heading(tr(lang, "Insights"));
            if ui.button(tr(lang, "Refresh")).clicked() && st.rx.is_none() {
                st.data = None;
                st.start(
                    p.review.path().to_path_buf(),
                    p.review.label_set.clone(),
                    ctx.clone(),
                );
            }
        });
        let Some(data) = &st.data else {
            ui.spinner();
            return;
        };
        let d = match data {
            Ok(d) => d,
            Err(e) => {
                ui.colored_label(Color32::from_rgb(220, 80, 80), e);
                return;
            }
        };
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.columns(2, |cols| {
                let ui = &mut cols[0];
                ui.label(RichText::new(tr(lang, "Label distribution")).strong());
                // One row per label (a bar chart's axis drops names once there are many).
                let max = d
                    .distribution
                    .iter()
                    .map(|(_, n)| *n)
                    .max()
                    .unwrap_or(0)
                    .max(1);
                egui::Grid::new("dist").num_columns(2).show(ui, |ui| {
                    for (l, n) in &d.distribution {
                        ui.label(l);
                        ui.add(
                            egui::ProgressBar::new(*n as f32 / max as f32)
                                .desired_width(220.0)
                                .text(n.to_string()),
                        );
                        ui.end_row();
                    }
                });
                let ui = &mut cols[1];
                ui.label(RichText::new(tr(lang, "Accept rate over time")).strong());
                // One bar per day (a line through one day is a lone dot).
                let bars: Vec<egui_plot::Bar> = d
                    .accept_rate_by_day
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        egui_plot::Bar::new(i as f64, r.accept_rate)
                            .width(0.6)
                            .name(&r.day)
                    })
                    .collect();
                let days: Vec<String> =
                    d.accept_rate_by_day.iter().map(|r| r.day.clone()).collect();
                Plot::new("rate")
                    .height(200.0)
                    .include_y(0.0)
                    .include_y(1.0)
                    .include_x(-0.5)
                    .include_x(days.len() as f64 - 0.5)
                    .x_grid_spacer(egui_plot::uniform_grid_spacer(|_| [1.0, 7.0, 30.0]))
                    .x_axis_formatter(move |mark, _| {
                        let i = mark.value.round();
                        if (mark.value - i).abs() < 1e-9 && i >= 0.0 {
                            days.get(i as usize)
                                .map(|d| d.get(5..).unwrap_or(d).to_string())
                                .unwrap_or_default()
                        } else {
                            String::new()
                        }
                    })
                    .allow_scroll(false)
                    .show(ui, |p| {
                        p.bar_chart(egui_plot::BarChart::new(tr(lang, "accept rate"), bars));
                    });
                for r in d.accept_rate_by_day.iter().rev().take(5) {
                    ui.label(format!(
                        "{}: {:.0}% / {}",
                        r.day,
                        r.accept_rate * 100.0,
                        r.decisions
                    ));
                }
            });
            ui.separator();
            ui.label(RichText::new(tr(lang, "Annotators")).strong());
            egui::Grid::new("annotators").striped(true).show(ui, |ui| {
                for h in [
                    "",
                    "labeled",
                    "accept",
                    "correct",
                    "skip",
                    "undo",
                    "median s/item",
                ] {
                    ui.label(RichText::new(tr(lang, h)).strong());
                }
                ui.end_row();
                for a in &d.annotators {
                    ui.label(&a.name);
                    ui.label(a.labeled.to_string());
                    ui.label(a.accepts.to_string());
                    ui.label(a.corrects.to_string());
                    ui.label(a.skips.to_string());
                    ui.label(a.undos.to_string());
                    ui.label(format!("{:.1}", a.median_ms as f64 / 1000.0));
                    ui.end_row();
                }
            });
            agreement_ui(ui, lang, &d.agreement);
            if is_lead {
                ui.separator();
                let (c, r) = suspects_ui(ui, lang, d, checking);
                check |= c;
                go_review |= r;
            }
            ui.separator();
            ui.label(format!(
                "{}: {}",
                tr(lang, "Disagreements"),
                d.disagreements
            ));
            ui.label(
                RichText::new(format!(
                    "{} ({})",
                    tr(lang, "Items with errors"),
                    d.errors.len()
                ))
                .strong(),
            );
            egui::Grid::new("errors").striped(true).show(ui, |ui| {
                for (id, path, why) in d.errors.iter().take(200) {
                    ui.label(format!("#{id}"));
                    ui.label(path);
                    ui.colored_label(Color32::from_rgb(220, 120, 80), why);
                    ui.end_row();
                }
            });
            if is_images {
                ui.separator();
                duplicates_ui(ui, lang, &mut st.duplicates, &path, &set, &ctx);
            }
        });
    });
    if go_review {
        p.review.set_filter(crate::queue::Filter::Suspects);
        app.screen = super::Screen::Review;
    }
    if check {
        let (path, set) = (path.clone(), set.clone());
        app.spawn_job(SUSPECT_JOB, &ctx, None, move |jctx| {
            let mut store = crate::store::Store::open(&path)?;
            let f = crate::ml::suspects::find(&mut store, &set, &Default::default(), jctx)?;
            Ok(format!(
                "{} labels checked, {} suspect",
                f.summary.checked, f.summary.suspects
            ))
        });
    }
}

/// Name of the suspect-label check's background job.
pub const SUSPECT_JOB: &str = "suspect labels";

/// The newest suspect-label check: when, how many, the estimated noise per class pair and
/// each annotator's share of suspect labels (with their gold accuracy). Returns (check again,
/// review them).
fn suspects_ui(ui: &mut egui::Ui, lang: Lang, d: &Insights, checking: bool) -> (bool, bool) {
    let (mut check, mut review) = (false, false);
    ui.horizontal(|ui| {
        ui.label(RichText::new(tr(lang, "Suspect labels")).strong());
        let b = ui
            .add_enabled(!checking, egui::Button::new(tr(lang, "Check labels")))
            .on_hover_text(tr(
                lang,
                "Predict every label with models that never saw it and rank the ones that are probably wrong",
            ));
        check = b.clicked();
        if checking {
            ui.spinner();
        }
    });
    let Some(s) = &d.suspects else {
        ui.label(tr(lang, "Not checked yet"));
        return (check, review);
    };
    let sum = &s.summary;
    ui.label(format!(
        "{} {} · {} {} · {} {} · {} {:.0} · {}",
        sum.checked,
        tr(lang, "labels checked"),
        sum.suspects,
        tr(lang, "suspect"),
        s.open,
        tr(lang, "open"),
        tr(lang, "estimated mislabelled"),
        sum.estimated_wrong,
        s.checked_at
            .get(..16)
            .unwrap_or(&s.checked_at)
            .replace('T', " "),
    ));
    if s.open > 0 && ui.button(tr(lang, "Review them")).clicked() {
        review = true;
    }
    if !sum.left_out.is_empty() {
        let l: Vec<String> = sum
            .left_out
            .iter()
            .map(|(n, c)| format!("{n} ({c})"))
            .collect();
        ui.label(format!(
            "{}: {}",
            tr(lang, "Not checked (too few labels)"),
            l.join(", ")
        ));
    }
    if !sum.noise.is_empty() {
        ui.label(RichText::new(tr(lang, "Estimated noise")).strong());
        egui::Grid::new("noise").striped(true).show(ui, |ui| {
            for n in sum.noise.iter().take(10) {
                ui.label(format!("{} {:.0}", tr(lang, "about"), n.items));
                ui.label(format!("{} {}", tr(lang, "labelled"), n.given));
                ui.label(format!("{} {}", tr(lang, "are probably"), n.truth));
                ui.end_row();
            }
        });
    }
    if !sum.annotators.is_empty() {
        ui.label(RichText::new(tr(lang, "Annotator quality")).strong());
        egui::Grid::new("annotator-quality")
            .striped(true)
            .show(ui, |ui| {
                for h in ["", "labels checked", "suspect", "share", "gold accuracy"] {
                    ui.label(RichText::new(tr(lang, h)).strong());
                }
                ui.end_row();
                for a in &sum.annotators {
                    ui.label(&a.annotator);
                    ui.label(a.labels.to_string());
                    ui.label(a.suspect.to_string());
                    ui.label(format!("{:.1} %", a.share * 100.0));
                    let gold = d.agreement.gold.iter().find(|g| g.annotator == a.annotator);
                    ui.label(
                        match gold.and_then(|g| g.accuracy.map(|x| (x, g.checked))) {
                            Some((acc, n)) => format!("{:.0} % / {n}", acc * 100.0),
                            None => "–".into(),
                        },
                    );
                    ui.end_row();
                }
            });
    }
    (check, review)
}

/// Agreement between annotators: the overall numbers, a kappa matrix of the pairs, alpha per
/// label, and each annotator's gold accuracy (those under the threshold in red).
fn agreement_ui(ui: &mut egui::Ui, lang: Lang, r: &crate::review::agreement::AgreementReport) {
    if r.items_compared == 0 && r.gold.is_empty() {
        return;
    }
    let f = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into());
    ui.separator();
    ui.label(RichText::new(tr(lang, "Agreement between annotators")).strong());
    ui.label(format!(
        "{}: {}   {}: {}   Krippendorff α: {}   {}: {}   {}: {}",
        tr(lang, "items compared"),
        r.items_compared,
        tr(lang, "raw agreement"),
        f(r.raw),
        f(r.alpha),
        tr(lang, "disagree"),
        r.disagreements,
        tr(lang, "flagged"),
        r.flagged_items
    ));
    if !r.pairs.is_empty() {
        ui.label(tr(lang, "Cohen's kappa per pair"));
        let names: Vec<&String> = r.annotators.iter().collect();
        egui::ScrollArea::horizontal()
            .id_salt("kappa")
            .show(ui, |ui| {
                egui::Grid::new("kappa_matrix")
                    .striped(true)
                    .show(ui, |ui| {
                        ui.label("");
                        for n in &names {
                            ui.label(RichText::new(n.as_str()).small());
                        }
                        ui.end_row();
                        for a in &names {
                            ui.label(RichText::new(a.as_str()).small());
                            for b in &names {
                                if a == b {
                                    ui.label("·");
                                    continue;
                                }
                                match r.kappa(a, b) {
                                    Some(k) => {
                                        let c = if k >= 0.8 {
                                            Color32::from_rgb(60, 170, 90)
                                        } else if k >= 0.6 {
                                            Color32::from_rgb(200, 160, 40)
                                        } else {
                                            Color32::from_rgb(220, 80, 80)
                                        };
                                        ui.colored_label(c, format!("{k:.2}"));
                                    }
                                    None => {
                                        ui.label("");
                                    }
                                }
                            }
                            ui.end_row();
                        }
                    });
            });
    }
    if !r.labels.is_empty() {
        ui.label(tr(lang, "Agreement per label (α)"));
        egui::Grid::new("alpha_labels")
            .num_columns(2)
            .show(ui, |ui| {
                for l in &r.labels {
                    ui.label(&l.label);
                    let a = l.alpha.unwrap_or(0.0).clamp(0.0, 1.0) as f32;
                    ui.add(egui::ProgressBar::new(a).desired_width(220.0).text(format!(
                        "{} ({})",
                        f(l.alpha),
                        l.answers
                    )));
                    ui.end_row();
                }
            });
    }
    if !r.gold.is_empty() {
        ui.label(format!(
            "{} ({} {:.0} %)",
            tr(lang, "Gold checks"),
            tr(lang, "flagged under"),
            r.gold_threshold * 100.0
        ));
        egui::Grid::new("gold").striped(true).show(ui, |ui| {
            for h in ["", "checked", "right", "accuracy"] {
                ui.label(RichText::new(tr(lang, h)).strong());
            }
            ui.end_row();
            for g in &r.gold {
                if g.flagged {
                    ui.colored_label(Color32::from_rgb(220, 80, 80), &g.annotator);
                } else {
                    ui.label(&g.annotator);
                }
                ui.label(g.checked.to_string());
                ui.label(g.correct.to_string());
                ui.label(f(g.accuracy));
                ui.end_row();
            }
        });
    }
}

fn duplicates_ui(
    ui: &mut egui::Ui,
    lang: Lang,
    st: &mut DuplicatesState,
    path: &std::path::Path,
    set: &str,
    ctx: &egui::Context,
) {
    st.poll(ctx);
    ui.label(RichText::new(tr(lang, "Near duplicates")).strong());
    ui.horizontal(|ui| {
        ui.label(tr(lang, "Similarity at least"));
        ui.add(
            egui::DragValue::new(&mut st.threshold)
                .range(0.8..=1.0)
                .speed(0.005)
                .fixed_decimals(3),
        );
        if ui
            .add_enabled(
                !st.is_running(),
                egui::Button::new(tr(lang, "Find near duplicates")),
            )
            .clicked()
        {
            st.start(path.to_path_buf(), set.to_string(), ctx.clone());
        }
        if let Some(job) = &st.job {
            let s = job.snapshot();
            ui.add(
                egui::ProgressBar::new(s.fraction())
                    .desired_width(200.0)
                    .text(s.message),
            );
            if ui.small_button(tr(lang, "Cancel")).clicked() {
                job.cancel();
            }
        }
    });
    match &st.result {
        None => {}
        Some(Err(e)) => {
            ui.colored_label(Color32::from_rgb(220, 80, 80), e);
        }
        Some(Ok(v)) => {
            let conflicting = v.groups.iter().filter(|g| g.conflicting).count();
            ui.label(format!(
                "{} {} · {} {} · {} {}",
                v.groups.len(),
                tr(lang, "groups"),
                v.items_searched,
                tr(lang, "images searched"),
                conflicting,
                tr(lang, "with conflicting labels"),
            ));
            for g in v.groups.iter().take(DUP_GROUPS_SHOWN) {
                ui.horizontal(|ui| {
                    for m in g.members.iter().take(DUP_MEMBERS_SHOWN) {
                        ui.vertical(|ui| {
                            if let Some(t) = st.thumbs.get(&m.item_id) {
                                ui.image((t.id(), t.size_vec2()));
                            }
                            ui.small(format!(
                                "#{} {}",
                                m.item_id,
                                m.label.as_deref().unwrap_or("–")
                            ));
                        });
                    }
                    if g.members.len() > DUP_MEMBERS_SHOWN {
                        ui.label(format!("+{}", g.members.len() - DUP_MEMBERS_SHOWN));
                    }
                    ui.label(format!("{:.3}–{:.3}", g.min_similarity, g.max_similarity));
                    if g.conflicting {
                        ui.colored_label(
                            Color32::from_rgb(230, 120, 60),
                            tr(lang, "conflicting labels"),
                        );
                    }
                });
            }
        }
    }
}

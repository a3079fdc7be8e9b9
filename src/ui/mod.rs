//! The desktop app (eframe/egui): start screen, review (images and form pages), bulk accept,
//! training, insights, export. A thin face over `review` (state + worker), `jobs` and the store:
//! it never runs SQL or tch itself, and every long task is a background job.
//!
//! Persisted UI preferences (annotator name, language, recent projects) live in eframe storage;
//! labels never do, they live in the project's SQLite file.

mod bench;
pub mod boxes_ui;
mod bulk_ui;
mod crawl_ui;
mod export_ui;
pub mod fonts;
pub mod i18n;
mod insights_ui;
pub mod keys;
mod presets_ui;
mod review_ui;
mod start_ui;
mod training_ui;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use bench::{frame_time_bench, FrameBench};
use i18n::{tr, Lang};

use crate::jobs::Job;
use crate::review::training::{FamilyFactory, TrainingController};
use crate::review::{Notice, ReviewSession};

/// UI preferences kept between runs (eframe storage). Never labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    pub annotator: String,
    pub lang: Lang,
    /// Recently opened project files, newest first.
    pub recent: Vec<PathBuf>,
}

impl Prefs {
    fn remember(&mut self, path: &Path) {
        // Team URLs are kept without their password (it belongs in PGPASSWORD or ~/.pgpass).
        let p = PathBuf::from(crate::store::location::without_password(
            &path.to_string_lossy(),
        ));
        self.recent.retain(|x| *x != p);
        self.recent.insert(0, p);
        self.recent.truncate(10);
    }
}

/// The screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Start,
    Review,
    Bulk,
    Training,
    Insights,
    Export,
    Presets,
}

/// An open project: the annotator's review session and the lead's training controller.
pub struct OpenProject {
    pub review: ReviewSession,
    pub training: Option<TrainingController>,
    insights: insights_ui::InsightsState,
    review_ui: review_ui::ReviewUi,
}

impl OpenProject {
    /// Object images: the image-to-screen transform of the last frame (tests drag with it).
    pub fn box_transform(&self) -> Option<boxes_ui::Transform> {
        self.review_ui.box_view.transform
    }
}

struct Toast {
    notice: Notice,
    at: Instant,
}

/// A background job started from the UI (import, demo build) that ends in a one-line summary.
struct UiJob {
    job: Job<String>,
    /// Project to open when it succeeds.
    then_open: Option<PathBuf>,
}

/// The application.
pub struct App {
    pub prefs: Prefs,
    pub screen: Screen,
    pub project: Option<OpenProject>,
    /// None: the app's own training path (`TrainingController::for_app`).
    factory: Option<FamilyFactory>,
    /// A project to open once the annotator's name is known.
    pending_open: Option<PathBuf>,
    /// A project being opened on a thread (its file opened and migrated, its worker started).
    opening: Option<Opening>,
    name_input: String,
    /// Frames the name prompt asked for the keyboard focus (`u8::MAX` once it had it).
    name_focus_tries: u8,
    show_help: bool,
    toasts: Vec<Toast>,
    jobs: Vec<UiJob>,
    start: start_ui::StartState,
    export_form: export_ui::ExportForm,
    presets: presets_ui::PresetsState,
    /// The Crawl dialog of form projects.
    pub crawl: crawl_ui::CrawlForm,
    /// Work to start as a background job on the first frame (e.g. the demo's first model).
    startup_job: Option<StartupJob>,
}

/// The work of a background job: returns a one-line summary for the toast.
pub type JobWork = Box<dyn FnOnce(&crate::jobs::JobCtx) -> anyhow::Result<String> + Send>;

/// A project open in progress: opening a file can wait on another process's lock or migrate
/// an older schema, so it never runs on the UI thread.
struct Opening {
    path: PathBuf,
    rx: std::sync::mpsc::Receiver<Result<ReviewSession, String>>,
}

/// A named background job handed to the app before its window exists.
pub struct StartupJob {
    pub name: String,
    pub work: JobWork,
}

impl App {
    /// An app with these preferences, opening `open` when given (after asking the annotator's
    /// name if it is not known yet).
    pub fn new(prefs: Prefs, open: Option<PathBuf>) -> App {
        App {
            name_input: prefs.annotator.clone(),
            name_focus_tries: 0,
            prefs,
            screen: Screen::Start,
            project: None,
            factory: None,
            pending_open: open,
            opening: None,
            show_help: false,
            toasts: Vec::new(),
            jobs: Vec::new(),
            start: start_ui::StartState::default(),
            export_form: Default::default(),
            presets: Default::default(),
            crawl: Default::default(),
            startup_job: None,
        }
    }

    /// Run `job` in the background from the first frame on (progress in the top bar; when it
    /// ends, the open project's queue is refreshed).
    pub fn with_startup_job(mut self, job: StartupJob) -> App {
        self.startup_job = Some(job);
        self
    }

    /// Use another source of model families (tests use a tiny one).
    pub fn with_family_factory(mut self, factory: FamilyFactory) -> App {
        self.factory = Some(factory);
        self
    }

    /// Build the app inside eframe: restore preferences, load fonts.
    pub fn from_creation_context(cc: &eframe::CreationContext<'_>, open: Option<PathBuf>) -> App {
        let prefs: Prefs = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        fonts::install(&cc.egui_ctx);
        App::new(prefs, open)
    }

    /// Show a message to the user (bottom-right, a few seconds).
    pub fn notify(&mut self, error: bool, text: impl Into<String>) {
        self.toasts.push(Toast {
            notice: Notice {
                error,
                text: text.into(),
            },
            at: Instant::now(),
        });
    }

    fn t<'a>(&self, s: &'a str) -> &'a str {
        tr(self.prefs.lang, s)
    }

    /// Open a project (the annotator's name must be known): on a thread; the review screen
    /// shows when it is ready ([`is_opening`](Self::is_opening) until then).
    pub fn open_project(&mut self, path: &Path, ctx: &egui::Context) {
        let (tx, rx) = std::sync::mpsc::channel();
        let (p, annotator, c) = (
            path.to_path_buf(),
            self.prefs.annotator.clone(),
            ctx.clone(),
        );
        std::thread::Builder::new()
            .name("open-project".into())
            .spawn(move || {
                let c2 = c.clone();
                let r = ReviewSession::open(&p, None, &annotator, move || c2.request_repaint())
                    .map_err(|e| crate::review::error_chain(&e));
                let _ = tx.send(r);
                c.request_repaint();
            })
            .expect("spawning the project opener");
        self.opening = Some(Opening {
            path: path.to_path_buf(),
            rx,
        });
    }

    /// Whether a project is being opened.
    pub fn is_opening(&self) -> bool {
        self.opening.is_some()
    }

    /// Take the opened project when it is ready.
    fn poll_opening(&mut self, ctx: &egui::Context) {
        let Some(o) = &self.opening else { return };
        let r = match o.rx.try_recv() {
            Ok(r) => r,
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                ctx.request_repaint_after(Duration::from_millis(50));
                return;
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                Err("the project opener stopped unexpectedly".to_string())
            }
        };
        let path = o.path.clone();
        self.opening = None;
        match r {
            Ok(review) => {
                self.prefs.remember(&path);
                self.project = Some(OpenProject {
                    review,
                    training: None,
                    insights: Default::default(),
                    review_ui: Default::default(),
                });
                self.screen = Screen::Review;
            }
            Err(e) => {
                let shown = crate::store::location::redact(&path.to_string_lossy());
                let msg = format!("could not open {shown}: {e}");
                self.notify(true, msg);
            }
        }
    }

    /// The training controller of the open project (created on first use).
    pub fn training(&mut self) -> Option<&mut TrainingController> {
        let factory = self.factory.clone();
        let p = self.project.as_mut()?;
        if p.training.is_none() {
            p.training = Some(match factory {
                Some(f) => TrainingController::new(p.review.path(), &p.review.label_set, f),
                None => TrainingController::for_app(p.review.path(), &p.review.label_set),
            });
        }
        p.training.as_mut()
    }

    /// Draw one frame (what `eframe::App::ui` calls; tests call it through kittest).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        // Startup work begins with the first frame, even while the name prompt shows.
        if let Some(job) = self.startup_job.take() {
            self.spawn_job(&job.name, &ctx, None, job.work);
        }
        if self.prefs.annotator.trim().is_empty() {
            self.name_prompt_ui(ui);
            return;
        }
        if let Some(path) = self.pending_open.take() {
            self.open_project(&path, &ctx);
        }
        self.poll_opening(&ctx);
        self.poll_jobs(&ctx);
        if let Some(p) = &mut self.project {
            p.review.poll();
            for n in p.review.take_notices() {
                self.toasts.push(Toast {
                    notice: n,
                    at: Instant::now(),
                });
            }
        }
        self.top_bar_ui(ui);
        match (self.screen, self.project.is_some()) {
            (Screen::Start, _) | (_, false) => start_ui::start_ui(self, ui),
            (Screen::Review, true) => review_ui::review_screen_ui(self, ui),
            (Screen::Bulk, true) => bulk_ui::bulk_ui(self, ui),
            (Screen::Training, true) => training_ui::training_ui(self, ui),
            (Screen::Insights, true) => insights_ui::insights_ui(self, ui),
            (Screen::Export, true) => export_ui::export_ui(self, ui),
            (Screen::Presets, true) => presets_ui::presets_ui(self, ui),
        }
        crawl_ui::crawl_window(self, &ctx);
        if self.show_help {
            self.help_ui(&ctx);
        }
        self.toasts_ui(&ctx);
    }

    fn name_prompt_ui(&mut self, ui: &mut egui::Ui) {
        const NAME_FOCUS_TRIES: u8 = 10;
        egui::CentralPanel::default().show(ui, |ui| {
            ui.vertical_centered(|ui| {
                ui.add_space(80.0);
                ui.heading("预选 yuxuan");
                ui.label(self.t("the machine preselects, the human decides"));
                ui.add_space(20.0);
                ui.label(self.t("Your name"));
                let r = ui.add(
                    egui::TextEdit::singleline(&mut self.name_input)
                        .hint_text("e.g. 小王")
                        .desired_width(220.0),
                );
                // The field has the keyboard when the prompt shows: asked for until it has it
                // (the first frames of a new window may drop the request), at most a few
                // frames, and never again once it had it (asking every frame kept the window
                // repainting forever).
                if r.has_focus() {
                    self.name_focus_tries = u8::MAX;
                } else if self.name_focus_tries < NAME_FOCUS_TRIES {
                    self.name_focus_tries += 1;
                    r.request_focus();
                    ui.ctx().request_repaint();
                }
                let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if (ui.button(self.t("Continue")).clicked() || enter)
                    && !self.name_input.trim().is_empty()
                {
                    self.prefs.annotator = self.name_input.trim().to_string();
                }
            });
        });
    }

    fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("top_bar").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong("预选 yuxuan");
                ui.separator();
                let lang = self.prefs.lang;
                let mut screen = self.screen;
                ui.selectable_value(&mut screen, Screen::Start, tr(lang, "Projects"));
                if let Some(p) = &self.project {
                    ui.label(egui::RichText::new(&p.review.project_name).strong());
                    ui.selectable_value(&mut screen, Screen::Review, tr(lang, "Review"));
                    // The lead's screens; an annotator's login would be refused there anyway.
                    if p.review.role.is_lead() {
                        let kind = p.review.kind;
                        // Object images are accepted image by image (bulk accept of boxes and
                        // training a detector are not in this build).
                        if kind.spec().review != crate::kinds::ReviewScreen::Boxes {
                            ui.selectable_value(&mut screen, Screen::Bulk, tr(lang, "Bulk accept"));
                        }
                        if !crate::ml::catalog::label_sets(kind).is_empty() {
                            ui.selectable_value(
                                &mut screen,
                                Screen::Training,
                                tr(lang, "Training"),
                            );
                        }
                        ui.selectable_value(&mut screen, Screen::Insights, tr(lang, "Insights"));
                        ui.selectable_value(&mut screen, Screen::Export, tr(lang, "Export"));
                        if p.review.kind.spec().source == crate::kinds::Source::Pages {
                            ui.selectable_value(&mut screen, Screen::Presets, tr(lang, "Presets"));
                            if ui.button(tr(lang, "Crawl")).clicked() {
                                self.crawl.open = !self.crawl.open;
                            }
                        }
                    } else if !matches!(screen, Screen::Start | Screen::Review) {
                        screen = Screen::Review;
                    }
                }
                if screen != self.screen {
                    if self.screen == Screen::Bulk {
                        if let Some(p) = self.project.as_mut() {
                            p.review.forget_bulk_counts();
                        }
                    }
                    self.screen = screen;
                    if screen == Screen::Training {
                        if let Some(t) = self.training() {
                            t.refresh();
                        }
                    }
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if let Some(o) = &self.opening {
                        let name = o.path.file_name().unwrap_or_default().to_string_lossy();
                        ui.label(format!("{} {name}…", tr(lang, "Opening")));
                        ui.spinner();
                        ui.separator();
                    }
                    self.jobs_indicator_ui(ui);
                    egui::ComboBox::from_id_salt("lang")
                        .selected_text(self.prefs.lang.name())
                        .show_ui(ui, |ui| {
                            for l in Lang::ALL {
                                ui.selectable_value(&mut self.prefs.lang, l, l.name());
                            }
                        });
                    match &self.project {
                        Some(p) if p.review.role != crate::store::roles::Role::Owner => {
                            ui.label(format!(
                                "{}: {} ({})",
                                tr(lang, "Annotator"),
                                p.review.annotator,
                                tr(lang, p.review.role.as_str())
                            ));
                        }
                        _ => {
                            ui.label(format!(
                                "{}: {}",
                                tr(lang, "Annotator"),
                                self.prefs.annotator
                            ));
                        }
                    }
                    if ui
                        .button("?")
                        .on_hover_text(tr(lang, "Shortcuts"))
                        .clicked()
                    {
                        self.show_help = !self.show_help;
                    }
                });
            });
        });
    }

    fn help_ui(&mut self, ctx: &egui::Context) {
        let lang = self.prefs.lang;
        let mut open = true;
        egui::Window::new(tr(lang, "Shortcuts"))
            .open(&mut open)
            .collapsible(false)
            .show(ctx, |ui| {
                let boxes = self.project.as_ref().is_some_and(|p| {
                    p.review.kind.spec().review == crate::kinds::ReviewScreen::Boxes
                });
                let table = if boxes {
                    keys::BOX_SHORTCUTS
                } else {
                    keys::SHORTCUTS
                };
                egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                    for (k, what) in table {
                        ui.monospace(*k);
                        ui.label(tr(lang, what));
                        ui.end_row();
                    }
                });
            });
        if !open {
            self.show_help = false;
        }
    }

    fn toasts_ui(&mut self, ctx: &egui::Context) {
        self.toasts
            .retain(|t| t.at.elapsed() < Duration::from_secs(if t.notice.error { 12 } else { 5 }));
        if self.toasts.is_empty() {
            return;
        }
        ctx.request_repaint_after(Duration::from_millis(500));
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -40.0))
            .show(ctx, |ui| {
                for t in &self.toasts {
                    let color = if t.notice.error {
                        egui::Color32::from_rgb(120, 30, 30)
                    } else {
                        egui::Color32::from_rgb(30, 60, 100)
                    };
                    egui::Frame::popup(ui.style()).fill(color).show(ui, |ui| {
                        ui.set_max_width(420.0);
                        ui.colored_label(egui::Color32::WHITE, &t.notice.text);
                    });
                }
            });
    }

    fn spawn_job(
        &mut self,
        name: &str,
        ctx: &egui::Context,
        then_open: Option<PathBuf>,
        work: impl FnOnce(&crate::jobs::JobCtx) -> anyhow::Result<String> + Send + 'static,
    ) {
        let c = ctx.clone();
        let jctx = crate::jobs::JobCtx::new(name).with_observer(move |_| c.request_repaint());
        self.jobs.push(UiJob {
            job: Job::spawn(jctx, work),
            then_open,
        });
    }

    fn poll_jobs(&mut self, ctx: &egui::Context) {
        let mut done = Vec::new();
        self.jobs.retain_mut(|j| match j.job.try_take() {
            Some(r) => {
                done.push((j.job.ctx.snapshot().name, r, j.then_open.take()));
                false
            }
            None => true,
        });
        for (name, r, open) in done {
            match r {
                Ok(summary) => {
                    self.notify(false, format!("{name}: {summary}"));
                    if let Some(p) = open {
                        self.open_project(&p, ctx);
                    } else if let Some(p) = &mut self.project {
                        p.review.refresh();
                        p.insights.invalidate();
                    }
                }
                Err(e) if crate::jobs::is_cancelled_error(&e) => {
                    self.notify(false, format!("{name}: cancelled"))
                }
                Err(e) => {
                    self.notify(true, format!("{name} failed: {e:#}"));
                    // A new project whose import failed still opens (its errors are listed).
                    if let Some(p) = open.filter(|p| p.exists()) {
                        self.open_project(&p, ctx);
                    }
                }
            }
        }
        if !self.jobs.is_empty() {
            ctx.request_repaint_after(Duration::from_millis(200));
        }
    }

    /// Names of the app-level background jobs still running (import, export, the demo's first
    /// model, ...).
    pub fn running_jobs(&self) -> Vec<String> {
        self.jobs
            .iter()
            .map(|j| j.job.ctx.snapshot().name)
            .collect()
    }

    /// The insights screen's last near-duplicate search, when one ran.
    pub fn near_duplicates_found(
        &self,
    ) -> Option<Result<crate::review::insights::DuplicatesView, String>> {
        self.project.as_ref()?.insights.duplicates.result().cloned()
    }

    /// Messages shown right now (newest last).
    pub fn notices(&self) -> Vec<String> {
        self.toasts.iter().map(|t| t.notice.text.clone()).collect()
    }

    /// The running app-level jobs, compact, in the top bar of every screen (name, progress,
    /// cancel), so work started on one screen stays visible on the others.
    fn jobs_indicator_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.prefs.lang;
        for j in &self.jobs {
            let s = j.job.ctx.snapshot();
            if ui
                .small_button("×")
                .on_hover_text(tr(lang, "Cancel"))
                .clicked()
            {
                j.job.ctx.cancel();
            }
            let name = tr(lang, s.name.as_str());
            let text = if s.message.is_empty() {
                name.to_string()
            } else {
                format!("{name}: {}", s.message)
            };
            ui.add(
                egui::ProgressBar::new(s.fraction())
                    .desired_width(260.0)
                    .text(text),
            );
        }
        if !self.jobs.is_empty() {
            ui.separator();
        }
    }

    fn jobs_ui(&mut self, ui: &mut egui::Ui) {
        for j in &self.jobs {
            let s = j.job.ctx.snapshot();
            ui.horizontal(|ui| {
                ui.label(tr(self.prefs.lang, s.name.as_str()));
                let text = if s.total > 0 {
                    format!("{}/{} {}", s.done, s.total, s.message)
                } else {
                    s.message.clone()
                };
                ui.add(
                    egui::ProgressBar::new(s.fraction())
                        .desired_width(200.0)
                        .text(text),
                );
                if ui.small_button(tr(self.prefs.lang, "Cancel")).clicked() {
                    j.job.ctx.cancel();
                }
            });
        }
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.prefs);
    }
}

/// Open the desktop app (blocks until the window closes).
/// `annotator` answers the name prompt when the storage has no name yet (scripts, kiosks).
pub fn run(open: Option<PathBuf>, annotator: Option<String>) -> anyhow::Result<()> {
    run_with(open, annotator, None)
}

/// [`run`], with a job to start in the background once the window is up.
pub fn run_with(
    open: Option<PathBuf>,
    annotator: Option<String>,
    startup: Option<StartupJob>,
) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("预选 yuxuan")
            .with_inner_size([1280.0, 820.0])
            .with_min_inner_size([800.0, 560.0]),
        ..Default::default()
    };
    eframe::run_native(
        "yuxuan",
        options,
        Box::new(move |cc| {
            let mut app = App::from_creation_context(cc, open);
            if let Some(job) = startup {
                app = app.with_startup_job(job);
            }
            if let Some(a) = annotator.filter(|a| !a.trim().is_empty()) {
                if app.prefs.annotator.trim().is_empty() {
                    app.prefs.annotator = a.trim().to_string();
                }
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}

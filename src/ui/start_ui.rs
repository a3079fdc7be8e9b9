//! The start screen: recent projects, open a project file, create a new project (name, kind,
//! labels from a template or typed, source folder via the file dialog or a typed path), and the
//! demo project.

use crate::ml::backbone::BackboneChoice;
use std::path::PathBuf;

use egui::RichText;

use super::i18n::tr;
use super::App;
use crate::domain::TaskKind;
use crate::jobs::JobCtx;
use crate::store::location::is_team_url;
use crate::store::Store;

/// Label templates: (name, kind, labels).
pub const TEMPLATES: &[(&str, TaskKind, &[&str])] = &[
    ("defect / ok", TaskKind::Image, &["defect", "ok"]),
    (
        "cat / dog / other",
        TaskKind::Image,
        &["cat", "dog", "other"],
    ),
    (
        "emoji categories",
        TaskKind::Image,
        &[
            "Smileys & Emotion",
            "People & Body",
            "Animals & Nature",
            "Food & Drink",
            "Travel & Places",
            "Activities",
            "Objects",
            "Symbols",
            "Flags",
        ],
    ),
    (
        "street objects (boxes)",
        TaskKind::Objects,
        &["person", "bicycle", "car", "motorcycle", "bus", "truck"],
    ),
    (
        "H5 field types",
        TaskKind::Form,
        &[
            "phone", "id_card", "name", "email", "address", "salary", "password", "captcha",
            "submit",
        ],
    ),
];

#[derive(Debug, Clone, PartialEq)]
pub struct StartState {
    open_path: String,
    /// A team project URL typed by the annotator.
    pub team_url: String,
    name: String,
    kind: TaskKind,
    labels: String,
    folder: String,
    project_dir: String,
    /// Blind overlap, `FxN` (empty: each item labelled once).
    overlap: String,
    /// Image projects: the backbone(s) that embed the images.
    backbone: BackboneChoice,
}

fn backbone_name(b: BackboneChoice) -> &'static str {
    match b {
        BackboneChoice::Both => "MobileNetV2 + EfficientNet-Lite0 (fewest corrections)",
        BackboneChoice::EfficientnetLite0 => "EfficientNet-Lite0",
        BackboneChoice::MobilenetV2 => "MobileNetV2 (light)",
    }
}

impl Default for StartState {
    fn default() -> Self {
        StartState {
            open_path: String::new(),
            team_url: String::new(),
            name: String::new(),
            kind: TaskKind::Image,
            labels: String::new(),
            folder: String::new(),
            overlap: String::new(),
            backbone: BackboneChoice::NEW_PROJECT_DEFAULT,
            project_dir: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        }
    }
}

pub fn start_ui(app: &mut App, ui: &mut egui::Ui) {
    let lang = app.prefs.lang;
    let ctx = ui.ctx().clone();
    let mut open: Option<PathBuf> = None;
    let mut create = false;
    let mut demo = false;
    egui::Panel::bottom("start_jobs").show(ui, |ui| {
        ui.label(tr(lang, "Background jobs"));
        app.jobs_ui(ui);
    });
    egui::CentralPanel::default().show(ui, |ui| {
        ui.columns(2, |cols| {
            let ui = &mut cols[0];
            ui.heading(tr(lang, "Recent projects"));
            if app.prefs.recent.is_empty() {
                ui.label("–");
            }
            let (team, files): (Vec<PathBuf>, Vec<PathBuf>) = app
                .prefs
                .recent
                .clone()
                .into_iter()
                .partition(|p| is_team_url(&p.to_string_lossy()));
            for p in files {
                let exists = p.exists();
                let r = ui.add_enabled(exists, egui::Button::new(p.display().to_string()));
                if r.clicked() {
                    open = Some(p);
                }
            }
            ui.add_space(12.0);
            let caption = ui.label(tr(lang, "Open a team project (PostgreSQL URL)"));
            ui.horizontal(|ui| {
                let r = ui
                    .add(
                        egui::TextEdit::singleline(&mut app.start.team_url)
                            .hint_text("postgres://me@server/labels?project=shop")
                            .desired_width(300.0),
                    )
                    .labelled_by(caption.id);
                let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if (ui.button(tr(lang, "Open team project")).clicked() || enter)
                    && !app.start.team_url.trim().is_empty()
                {
                    open = Some(PathBuf::from(app.start.team_url.trim()));
                }
            });
            ui.label(
                RichText::new(tr(
                    lang,
                    "passwords: PGPASSWORD or ~/.pgpass (not kept in the list)",
                ))
                .small()
                .weak(),
            );
            if !team.is_empty() {
                ui.label(tr(lang, "Recent team projects"));
                for p in team {
                    let shown = crate::store::location::redact(&p.to_string_lossy());
                    if ui.button(shown).clicked() {
                        open = Some(p);
                    }
                }
            }
            ui.add_space(12.0);
            ui.label(tr(lang, "Open a project file (.yuxuan)"));
            ui.horizontal(|ui| {
                ui.add(egui::TextEdit::singleline(&mut app.start.open_path).desired_width(300.0));
                if ui.button(tr(lang, "Browse…")).clicked() {
                    if let Some(f) = rfd::FileDialog::new()
                        .add_filter("yuxuan", &["yuxuan"])
                        .pick_file()
                    {
                        app.start.open_path = f.display().to_string();
                    }
                }
                if ui.button(tr(lang, "Open")).clicked() && !app.start.open_path.trim().is_empty() {
                    open = Some(PathBuf::from(app.start.open_path.trim()));
                }
            });
            ui.add_space(12.0);
            if ui
                .button(RichText::new(tr(lang, "Open the demo project")).strong())
                .clicked()
            {
                demo = true;
            }
            ui.label(
                RichText::new(tr(
                    lang,
                    "emoji images in 9 categories + Chinese and English form pages",
                ))
                .small()
                .weak(),
            );

            let ui = &mut cols[1];
            ui.heading(tr(lang, "New project"));
            let s = &mut app.start;
            egui::Grid::new("new_project")
                .num_columns(2)
                .show(ui, |ui| {
                    ui.label(tr(lang, "Name"));
                    ui.text_edit_singleline(&mut s.name);
                    ui.end_row();
                    ui.label(tr(lang, "Kind"));
                    ui.horizontal(|ui| {
                        for k in crate::kinds::KINDS {
                            ui.radio_value(&mut s.kind, k.kind, tr(lang, k.title))
                                .on_hover_text(tr(lang, k.description));
                        }
                    });
                    ui.end_row();
                    ui.label(tr(lang, "Template"));
                    egui::ComboBox::from_id_salt("template")
                        .selected_text("…")
                        .show_ui(ui, |ui| {
                            for (name, kind, labels) in TEMPLATES {
                                if ui.selectable_label(false, *name).clicked() {
                                    s.kind = *kind;
                                    s.labels = labels.join(", ");
                                }
                            }
                        });
                    ui.end_row();
                    ui.label(tr(lang, "Labels (comma-separated)"));
                    ui.add(egui::TextEdit::multiline(&mut s.labels).desired_rows(2));
                    ui.end_row();
                    ui.label(tr(lang, "Source folder"));
                    ui.horizontal(|ui| {
                        ui.add(egui::TextEdit::singleline(&mut s.folder).desired_width(220.0));
                        if ui.button(tr(lang, "Browse…")).clicked() {
                            if let Some(f) = rfd::FileDialog::new().pick_folder() {
                                s.folder = f.display().to_string();
                            }
                        }
                    });
                    ui.end_row();
                    ui.label(tr(lang, "Save in"));
                    ui.add(egui::TextEdit::singleline(&mut s.project_dir).desired_width(260.0));
                    ui.end_row();
                    ui.label(tr(lang, "Overlap"));
                    ui.add(
                        egui::TextEdit::singleline(&mut s.overlap)
                            .desired_width(120.0)
                            .hint_text("0.1x3"),
                    )
                    .on_hover_text(tr(
                        lang,
                        "N annotators for a share of the items, blind (e.g. 0.1x3: 10 %, 3 each); empty: once",
                    ));
                    ui.end_row();
                    if s.kind.spec().uses_backbone {
                        ui.label(tr(lang, "Backbone"));
                        egui::ComboBox::from_id_salt("new_backbone")
                            .selected_text(tr(lang, backbone_name(s.backbone)))
                            .show_ui(ui, |ui| {
                                for b in BackboneChoice::ALL {
                                    ui.selectable_value(
                                        &mut s.backbone,
                                        b,
                                        tr(lang, backbone_name(b)),
                                    );
                                }
                            });
                        ui.end_row();
                    }
                });
            if ui.button(tr(lang, "Create")).clicked() {
                create = true;
            }
        });
    });
    if let Some(p) = open {
        app.open_project(&p, &ctx);
    }
    if create {
        create_project(app, &ctx);
    }
    if demo {
        let dir = crate::demo::demo_dir();
        app.spawn_job(
            "demo",
            &ctx,
            Some(crate::demo::image_project_path(&dir)),
            move |jctx| {
                let d = crate::demo::ensure(&dir, jctx)?;
                Ok(d.summary())
            },
        );
    }
}

fn create_project(app: &mut App, ctx: &egui::Context) {
    let s = app.start.clone();
    let name = s.name.trim().to_string();
    if name.is_empty() {
        app.notify(true, "give the project a name");
        return;
    }
    let file: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let path = PathBuf::from(s.project_dir.trim()).join(format!("{file}.yuxuan"));
    let labels: Vec<String> = s
        .labels
        .split([',', '，', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let overlap = match s.overlap.trim() {
        "" => None,
        o => match crate::store::quality::Overlap::parse(o) {
            Ok(o) => Some(o),
            Err(e) => {
                app.notify(true, e);
                return;
            }
        },
    };
    let created = (|| -> anyhow::Result<()> {
        let new = crate::kinds::NewProject {
            labels,
            backbone: s.kind.spec().uses_backbone.then(|| s.backbone.as_str()),
            detector: None,
        };
        let store = Store::create_project(&path, &name, s.kind, &new)?;
        if let Some(o) = overlap {
            store.set_overlap(o)?;
        }
        Ok(())
    })();
    if let Err(e) = created {
        app.notify(true, format!("could not create {}: {e:#}", path.display()));
        return;
    }
    app.prefs.remember(&path);
    let folder = s.folder.trim().to_string();
    if folder.is_empty() {
        app.open_project(&path, ctx);
        return;
    }
    let p2 = path.clone();
    app.spawn_job("import", ctx, Some(path), move |jctx: &JobCtx| {
        let mut store = Store::open(&p2)?;
        let paths = vec![PathBuf::from(&folder)];
        let summary = crate::ingest::import_paths(&mut store, &paths, &Default::default(), jctx)?;
        if store.project()?.kind != TaskKind::Objects {
            return Ok(summary.to_string());
        }
        // Object images get their proposals right away (the detector of the project).
        let opts = crate::ml::detector::DetectOptions {
            conf: 0.05,
            ..Default::default()
        };
        Ok(
            match crate::ml::objects::prelabel(&mut store, &opts, jctx) {
                Ok(r) => format!("{summary}; {} boxes proposed by {}", r.boxes, r.detector),
                Err(e) => format!("{summary}; no proposals: {e:#}"),
            },
        )
    });
}

//! The export dialog: a format of the project's kind (`exchange::ExportFormat::for_kind`), a
//! destination folder (file dialog or typed path), machine labels or not; the export runs as a
//! background job through `exchange::export` with progress and cancel.

use std::path::PathBuf;

use egui::RichText;

use super::i18n::tr;
use super::App;
use crate::exchange::{self, ExportFormat, ExportRequest};

#[derive(Debug, Clone, PartialEq)]
pub struct ExportForm {
    format: Option<ExportFormat>,
    out: String,
    include_predictions: bool,
    min_score: f64,
    overwrite: bool,
}

impl Default for ExportForm {
    fn default() -> Self {
        ExportForm {
            format: None,
            out: String::new(),
            include_predictions: false,
            min_score: 0.9,
            overwrite: false,
        }
    }
}

pub fn export_ui(app: &mut App, ui: &mut egui::Ui) {
    let lang = app.prefs.lang;
    let ctx = ui.ctx().clone();
    let Some(p) = app.project.as_ref() else {
        return;
    };
    let (path, kind) = (p.review.path().to_path_buf(), p.review.kind);
    let formats = ExportFormat::for_kind(kind);
    let mut start = false;
    egui::CentralPanel::default().show(ui, |ui| {
        ui.heading(tr(lang, "Export"));
        let f = &mut app.export_form;
        let chosen = *f.format.get_or_insert(formats[0]);
        egui::Grid::new("export_form")
            .num_columns(2)
            .show(ui, |ui| {
                ui.label(tr(lang, "Format"));
                egui::ComboBox::from_id_salt("export_format")
                    .selected_text(chosen.as_str())
                    .show_ui(ui, |ui| {
                        for fm in &formats {
                            ui.selectable_value(&mut f.format, Some(*fm), fm.as_str())
                                .on_hover_text(fm.description());
                        }
                    });
                ui.end_row();
                ui.label("");
                ui.label(RichText::new(chosen.description()).small().weak());
                ui.end_row();
                ui.label(tr(lang, "Destination"));
                ui.horizontal(|ui| {
                    ui.add(
                        egui::TextEdit::singleline(&mut f.out)
                            .desired_width(320.0)
                            .hint_text("/path/to/export"),
                    );
                    if ui.button(tr(lang, "Browse…")).clicked() {
                        if let Some(d) = rfd::FileDialog::new().pick_folder() {
                            f.out = d
                                .join(format!("export-{}", chosen.as_str()))
                                .display()
                                .to_string();
                        }
                    }
                });
                ui.end_row();
                ui.label("");
                ui.checkbox(
                    &mut f.include_predictions,
                    tr(lang, "add machine labels (marked) for unlabeled items"),
                );
                ui.end_row();
                if f.include_predictions {
                    ui.label(tr(lang, "min score"));
                    ui.add(egui::Slider::new(&mut f.min_score, 0.0..=1.0));
                    ui.end_row();
                }
                ui.label("");
                ui.checkbox(&mut f.overwrite, tr(lang, "replace an existing folder"));
                ui.end_row();
            });
        if ui
            .button(RichText::new(tr(lang, "Start export")).strong())
            .clicked()
        {
            start = true;
        }
        ui.separator();
        ui.label(tr(lang, "Background jobs"));
        app.jobs_ui(ui);
    });
    if start {
        let f = app.export_form.clone();
        if f.out.trim().is_empty() {
            app.notify(true, "choose a destination folder");
            return;
        }
        let mut req =
            ExportRequest::new(f.format.unwrap_or(formats[0]), PathBuf::from(f.out.trim()));
        req.include_predictions = f.include_predictions;
        req.min_score = f.min_score;
        req.overwrite = f.overwrite;
        app.spawn_job("export", &ctx, None, move |jctx| {
            let store = crate::store::Store::open(&path)?;
            Ok(exchange::export(&store, &req, jctx)?.to_string())
        });
    }
}

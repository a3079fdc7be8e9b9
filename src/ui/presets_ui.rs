//! The presets screen of form projects: a one-line requirement (or an industry) becomes the
//! proposed field list (`presets::preset_for_requirement` / `preset_for_industry`), computed on
//! a background thread; shown as a table with its JSON.

use std::sync::mpsc;

use egui::{Color32, RichText};

use super::i18n::tr;
use super::App;
use crate::presets::{self, Preset, PresetEvaluation, PresetScore};

#[derive(Default)]
pub struct PresetsState {
    requirement: String,
    result: Option<Result<Preset, String>>,
    rx: Option<mpsc::Receiver<Result<Preset, String>>>,
    evaluation: Option<Result<PresetEvaluation, String>>,
    eval_rx: Option<mpsc::Receiver<Result<PresetEvaluation, String>>>,
}

fn score_cells(ui: &mut egui::Ui, s: &PresetScore, ok: bool) {
    let color = if ok {
        Color32::from_rgb(60, 160, 90)
    } else {
        Color32::from_rgb(220, 80, 80)
    };
    ui.colored_label(color, format!("{:.2}", s.precision));
    ui.colored_label(color, format!("{:.2}", s.recall));
}

fn meets(s: &PresetScore) -> bool {
    s.recall >= presets::TARGET_RECALL && s.precision >= presets::TARGET_PRECISION
}

/// The leave-one-page-out figures of `presets::evaluate` as a table.
fn evaluation_ui(ui: &mut egui::Ui, lang: super::i18n::Lang, e: &PresetEvaluation) {
    ui.label(tr(
        lang,
        "Leave one labelled page out at a time: its industry's preset from the other pages against its real field types",
    ));
    ui.label(
        RichText::new(if e.meets_targets() {
            tr(lang, "Targets met: recall ≥ 0.8 at precision ≥ 0.7")
        } else {
            tr(lang, "Targets not met: recall ≥ 0.8 at precision ≥ 0.7")
        })
        .strong(),
    );
    egui::Grid::new("preset_evaluation")
        .striped(true)
        .show(ui, |ui| {
            for h in [
                "industry",
                "pages",
                "precision",
                "recall",
                "by title: precision",
                "by title: recall",
            ] {
                ui.label(RichText::new(tr(lang, h)).strong());
            }
            ui.end_row();
            let all = tr(lang, "all industries");
            let rows = e
                .industries
                .iter()
                .map(|i| (i.display.as_str(), &i.by_industry, &i.by_title))
                .chain(std::iter::once((all, &e.overall, &e.overall_by_title)));
            for (name, own, title) in rows {
                ui.label(name);
                ui.label(own.pages.to_string());
                score_cells(ui, own, meets(own));
                score_cells(ui, title, meets(title));
                ui.end_row();
            }
        });
}

pub fn presets_ui(app: &mut App, ui: &mut egui::Ui) {
    let lang = app.prefs.lang;
    let ctx = ui.ctx().clone();
    let Some(p) = app.project.as_mut() else {
        return;
    };
    let path = p.review.path().to_path_buf();
    let industries = p.review.industry_labels.clone();
    let st = &mut app.presets;
    if let Some(rx) = &st.rx {
        if let Ok(r) = rx.try_recv() {
            st.result = Some(r);
            st.rx = None;
        }
    }
    if let Some(rx) = &st.eval_rx {
        if let Ok(r) = rx.try_recv() {
            st.evaluation = Some(r);
            st.eval_rx = None;
        }
    }
    let mut ask: Option<(Option<String>, Option<String>)> = None;
    let mut evaluate = false;
    egui::CentralPanel::default().show(ui, |ui| {
        ui.heading(tr(lang, "Presets"));
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut st.requirement)
                    .desired_width(420.0)
                    .hint_text("e.g. 做一个贷款申请的H5页面"),
            );
            if ui.button(tr(lang, "Propose fields")).clicked() && !st.requirement.trim().is_empty()
            {
                ask = Some((Some(st.requirement.trim().to_string()), None));
            }
        });
        ui.horizontal_wrapped(|ui| {
            for l in &industries {
                if ui.small_button(l.shown()).clicked() {
                    ask = Some((None, Some(l.name.clone())));
                }
            }
        });
        ui.horizontal(|ui| {
            if ui.button(tr(lang, "Evaluate presets")).clicked() && st.eval_rx.is_none() {
                evaluate = true;
            }
            if st.eval_rx.is_some() {
                ui.spinner();
            }
        });
        match &st.evaluation {
            Some(Ok(e)) => evaluation_ui(ui, lang, e),
            Some(Err(e)) => {
                ui.colored_label(Color32::from_rgb(220, 80, 80), e);
            }
            None => {}
        }
        ui.separator();
        if st.rx.is_some() {
            ui.spinner();
        }
        match &st.result {
            Some(Ok(preset)) => {
                ui.label(
                    RichText::new(format!(
                        "{} · {} · {} pages",
                        preset.industry_display, preset.source, preset.n_pages
                    ))
                    .strong(),
                );
                egui::Grid::new("preset_fields")
                    .striped(true)
                    .show(ui, |ui| {
                        for h in ["field", "label", "type", "share", "required"] {
                            ui.label(RichText::new(h).strong());
                        }
                        ui.end_row();
                        for f in &preset.fields {
                            ui.label(&f.display);
                            ui.label(&f.label);
                            ui.label(f.input_type.clone().unwrap_or_else(|| f.tag.clone()));
                            ui.label(format!("{:.0}%", f.frequency * 100.0));
                            ui.label(if f.required { "✓" } else { "" });
                            ui.end_row();
                        }
                    });
                ui.collapsing("JSON", |ui| {
                    let mut json = preset.to_json();
                    ui.add(
                        egui::TextEdit::multiline(&mut json)
                            .code_editor()
                            .desired_rows(10),
                    );
                });
            }
            Some(Err(e)) => {
                ui.colored_label(Color32::from_rgb(220, 80, 80), e);
            }
            None => {}
        }
    });
    if evaluate {
        let (tx, rx) = mpsc::channel();
        st.eval_rx = Some(rx);
        let path = path.clone();
        let ctx = ctx.clone();
        std::thread::spawn(move || {
            let r = (|| -> anyhow::Result<PresetEvaluation> {
                let store = crate::store::Store::open(&path)?;
                presets::evaluate(&store, presets::DEFAULT_MIN_FREQUENCY)
            })()
            .map_err(|e| format!("{e:#}"));
            let _ = tx.send(r);
            ctx.request_repaint();
        });
    }
    if let Some((req, industry)) = ask {
        let (tx, rx) = mpsc::channel();
        st.rx = Some(rx);
        std::thread::spawn(move || {
            let r = (|| -> anyhow::Result<Preset> {
                let store = crate::store::Store::open(&path)?;
                match (req, industry) {
                    (Some(r), _) => {
                        presets::preset_for_requirement(&store, &r, presets::DEFAULT_MIN_FREQUENCY)
                    }
                    (None, Some(i)) => {
                        presets::preset_for_industry(&store, &i, presets::DEFAULT_MIN_FREQUENCY)
                    }
                    (None, None) => anyhow::bail!("nothing asked"),
                }
            })()
            .map_err(|e| format!("{e:#}"));
            let _ = tx.send(r);
            ctx.request_repaint();
        });
    }
}

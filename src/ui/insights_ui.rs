//! Insights: label distribution, annotator throughput, accept rate over time, items with errors
//! (and why). Computed by `review::insights` on a background thread when the screen opens.

use std::sync::mpsc;

use egui::{Color32, RichText};
use egui_plot::{Bar, BarChart, Line, Plot, PlotPoints};

use super::i18n::tr;
use super::App;
use crate::review::insights::{self, Insights};

#[derive(Default)]
pub struct InsightsState {
    data: Option<Result<Insights, String>>,
    rx: Option<mpsc::Receiver<Result<Insights, String>>>,
}

impl InsightsState {
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
    let Some(p) = app.project.as_mut() else {
        return;
    };
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
                let bars: Vec<Bar> = d
                    .distribution
                    .iter()
                    .enumerate()
                    .map(|(i, (l, n))| Bar::new(i as f64, *n as f64).name(l).width(0.7))
                    .collect();
                let names: Vec<String> = d.distribution.iter().map(|(l, _)| l.clone()).collect();
                Plot::new("dist")
                    .height(200.0)
                    .allow_scroll(false)
                    .x_axis_formatter(move |m, _| {
                        let i = m.value.round();
                        if (m.value - i).abs() < 1e-6 && i >= 0.0 {
                            names.get(i as usize).cloned().unwrap_or_default()
                        } else {
                            String::new()
                        }
                    })
                    .show(ui, |p| p.bar_chart(BarChart::new("labels", bars)));
                let ui = &mut cols[1];
                ui.label(RichText::new(tr(lang, "Accept rate over time")).strong());
                let pts: Vec<[f64; 2]> = d
                    .accept_rate_by_day
                    .iter()
                    .enumerate()
                    .map(|(i, r)| [i as f64, r.accept_rate])
                    .collect();
                Plot::new("rate")
                    .height(200.0)
                    .include_y(0.0)
                    .include_y(1.0)
                    .allow_scroll(false)
                    .show(ui, |p| {
                        p.line(Line::new(tr(lang, "accept rate"), PlotPoints::from(pts)))
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
        });
    });
}

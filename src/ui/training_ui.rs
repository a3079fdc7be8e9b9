//! The lead's training screen: counts per label, Train (mode, epochs, hold-out %), live loss
//! curve, progress with ETA, cancel; the result next to the active model, per-class table,
//! confusion heatmap, Activate / Discard; model history plot; re-pre-label progress.

use egui::{Color32, RichText};
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use super::i18n::{tr, Lang};
use super::App;
use crate::ml::catalog::ImageMode;
use crate::ml::family::Activation;
use crate::ml::metrics::Metrics;
use crate::review::training::{PrelabelOutcome, TrainOptions, TrainOutcome, TrainingController};

/// Options form state (kept across frames in egui memory).
#[derive(Clone, PartialEq)]
struct Form {
    epochs: usize,
    holdout_pct: f64,
    activation: Activation,
    mode: usize,
}

impl Default for Form {
    fn default() -> Self {
        Form {
            epochs: 30,
            holdout_pct: 20.0,
            activation: Activation::IfNotWorse,
            mode: 0,
        }
    }
}

/// The mode picker: the project's default, then every image mode of the catalog.
fn modes() -> Vec<(&'static str, Option<ImageMode>)> {
    std::iter::once(("project default", None))
        .chain(ImageMode::ALL.map(|m| (m.family().title, Some(m))))
        .collect()
}

fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::IfNotWorse => "activate if not worse",
        Activation::Always => "always activate",
        Activation::Never => "let me decide",
    }
}

pub fn training_ui(app: &mut App, ui: &mut egui::Ui) {
    let lang = app.prefs.lang;
    let ctx = ui.ctx().clone();
    let is_images = app
        .project
        .as_ref()
        .is_some_and(|p| p.review.kind.spec().uses_backbone);
    let Some(t) = app.training() else { return };
    let c = ctx.clone();
    t.poll(move || c.request_repaint());
    if t.is_training() || t.is_prelabeling() {
        ctx.request_repaint_after(std::time::Duration::from_millis(250));
    }
    if t.is_reading() {
        // The store thread answers within milliseconds; look again soon.
        ctx.request_repaint_after(std::time::Duration::from_millis(16));
    }
    let form_id = egui::Id::unique("train_form");
    let mut form: Form = ctx.data_mut(|d| d.get_temp(form_id).unwrap_or_default());
    let mut model_changed = false;
    egui::CentralPanel::default().show(ui, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.heading(format!("{} — {}", tr(lang, "Training"), t.label_set));
            if let Some(e) = &t.error {
                ui.colored_label(Color32::from_rgb(220, 80, 80), e);
            }
            ui.columns(2, |cols| {
                counts_ui(&mut cols[0], lang, t);
                options_ui(&mut cols[1], lang, t, &mut form, is_images, &ctx);
            });
            ui.separator();
            running_ui(ui, lang, t);
            result_ui(ui, lang, t);
            ui.separator();
            history_ui(ui, lang, t);
            if t.model_changed && !t.is_prelabeling() {
                t.model_changed = false;
                model_changed = true;
            }
        });
    });
    ctx.data_mut(|d| d.insert_temp(form_id, form));
    if model_changed {
        if let Some(p) = app.project.as_mut() {
            p.review.refresh();
        }
    }
}

fn counts_ui(ui: &mut egui::Ui, lang: Lang, t: &TrainingController) {
    ui.label(RichText::new(tr(lang, "Counts per label")).strong());
    egui::Grid::new("counts").striped(true).show(ui, |ui| {
        for (l, n) in &t.counts {
            ui.label(l);
            ui.label(n.to_string());
            ui.end_row();
        }
    });
}

fn options_ui(
    ui: &mut egui::Ui,
    lang: Lang,
    t: &mut TrainingController,
    form: &mut Form,
    is_images: bool,
    ctx: &egui::Context,
) {
    egui::Grid::new("train_opts").num_columns(2).show(ui, |ui| {
        if is_images {
            ui.label(tr(lang, "Mode"));
            egui::ComboBox::from_id_salt("mode")
                .selected_text(tr(lang, modes()[form.mode].0))
                .show_ui(ui, |ui| {
                    for (i, (name, _)) in modes().into_iter().enumerate() {
                        ui.selectable_value(&mut form.mode, i, tr(lang, name));
                    }
                });
            ui.end_row();
        }
        ui.label(tr(lang, "Epochs"));
        ui.add(egui::DragValue::new(&mut form.epochs).range(1..=100_000));
        ui.end_row();
        ui.label(tr(lang, "Hold-out %"));
        ui.add(egui::Slider::new(&mut form.holdout_pct, 0.0..=50.0).integer());
        ui.end_row();
        ui.label(tr(lang, "Activation"));
        egui::ComboBox::from_id_salt("activation")
            .selected_text(tr(lang, activation_name(form.activation)))
            .show_ui(ui, |ui| {
                for a in [
                    Activation::IfNotWorse,
                    Activation::Always,
                    Activation::Never,
                ] {
                    ui.selectable_value(&mut form.activation, a, tr(lang, activation_name(a)));
                }
            });
        ui.end_row();
    });
    ui.horizontal(|ui| {
        let train = ui.add_enabled(
            !t.is_training(),
            egui::Button::new(RichText::new(tr(lang, "Train")).strong()),
        );
        if train.clicked() {
            let opts = TrainOptions {
                epochs: form.epochs,
                holdout: form.holdout_pct / 100.0,
                activation: form.activation,
                mode: if is_images {
                    modes()[form.mode].1
                } else {
                    None
                },
            };
            let c = ctx.clone();
            t.start(&opts, move || c.request_repaint());
        }
        if t.is_training() && ui.button(tr(lang, "Cancel")).clicked() {
            t.cancel();
        }
    });
}

fn running_ui(ui: &mut egui::Ui, lang: Lang, t: &TrainingController) {
    if let Some(s) = t.progress() {
        let eta = s
            .eta()
            .map(|d| format!(" · ETA {:.0}s", d.as_secs_f64()))
            .unwrap_or_default();
        ui.add(
            egui::ProgressBar::new(s.fraction())
                .text(format!("{}{eta}", s.message))
                .show_percentage(),
        );
        if s.cancel_requested {
            ui.label(tr(lang, "cancelling…"));
        }
    }
    if !t.epochs.is_empty() {
        ui.label(RichText::new(tr(lang, "Loss")).strong());
        let pts: PlotPoints = t.epochs.iter().map(|e| [e.epoch as f64, e.loss]).collect();
        Plot::new("loss")
            .height(180.0)
            .allow_scroll(false)
            .show(ui, |p| {
                p.line(Line::new("loss", pts));
            });
    }
    if let Some(s) = t.prelabel_progress() {
        ui.add(
            egui::ProgressBar::new(s.fraction())
                .text(format!(
                    "{}: {}/{}",
                    tr(lang, "Pre-labeling"),
                    s.done,
                    s.total
                ))
                .show_percentage(),
        );
    }
    match &t.prelabel_outcome {
        Some(PrelabelOutcome::Done(n)) => {
            ui.label(format!("{}: {n} items", tr(lang, "Pre-labeling")));
        }
        Some(PrelabelOutcome::Failed(e)) => {
            ui.colored_label(
                Color32::from_rgb(220, 80, 80),
                format!("{}: {e}", tr(lang, "Pre-labeling")),
            );
        }
        Some(PrelabelOutcome::Cancelled) => {
            ui.label(format!("{}: cancelled", tr(lang, "Pre-labeling")));
        }
        None => {}
    }
}

fn result_ui(ui: &mut egui::Ui, lang: Lang, t: &mut TrainingController) {
    let Some(outcome) = t.outcome.clone() else {
        return;
    };
    match outcome {
        TrainOutcome::Cancelled => {
            ui.label(tr(lang, "training cancelled; nothing was registered"));
        }
        TrainOutcome::Failed(e) => {
            ui.colored_label(
                Color32::from_rgb(220, 80, 80),
                format!("{}: {e}", tr(lang, "training failed")),
            );
        }
        TrainOutcome::Done(rep) => {
            ui.label(
                RichText::new(format!(
                    "v{} · {} {} / {} {} · {}",
                    rep.model.version,
                    rep.n_train,
                    tr(lang, "train"),
                    rep.n_holdout,
                    tr(lang, "hold-out"),
                    tr(
                        lang,
                        if rep.activated {
                            "active"
                        } else {
                            "not active"
                        }
                    )
                ))
                .strong(),
            );
            egui::Grid::new("compare").striped(true).show(ui, |ui| {
                ui.label("");
                ui.label(tr(lang, "New model"));
                ui.label(tr(lang, "Active"));
                ui.end_row();
                let a = rep.active_metrics.as_ref();
                ui.label(tr(lang, "Accuracy"));
                ui.label(format!("{:.3}", rep.metrics.accuracy));
                ui.label(
                    a.map(|m| format!("{:.3}", m.accuracy))
                        .unwrap_or("–".into()),
                );
                ui.end_row();
                ui.label(tr(lang, "Macro F1"));
                ui.label(format!("{:.3}", rep.metrics.macro_f1));
                ui.label(
                    a.map(|m| format!("{:.3}", m.macro_f1))
                        .unwrap_or("–".into()),
                );
                ui.end_row();
                // Expected calibration error of the (temperature-scaled) scores on the hold-out.
                let ece = |m: Option<&Metrics>| {
                    m.and_then(|m| m.calibration.as_ref())
                        .map(|c| format!("{:.3}", c.ece))
                        .unwrap_or("–".into())
                };
                ui.label(tr(lang, "Calibration error (ECE)"));
                ui.label(ece(Some(&rep.metrics)));
                ui.label(ece(a));
                ui.end_row();
            });
            if let Some(c) = &rep.metrics.calibration {
                ui.label(format!(
                    "{} {:.2}; {} {}",
                    tr(lang, "temperature"),
                    c.temperature,
                    tr(lang, "bulk accept ticks from"),
                    c.bulk_threshold
                        .map(|t| format!(
                            "{:.0}% {}",
                            t * 100.0,
                            tr(lang, "(≥ 98% right on the hold-out)")
                        ))
                        .unwrap_or_else(|| "–".into())
                ));
            }
            if !rep.activated {
                ui.horizontal(|ui| {
                    if ui.button(tr(lang, "Activate")).clicked() {
                        t.activate(rep.model.id);
                    }
                    if ui.button(tr(lang, "Discard")).clicked() {
                        t.discard();
                    }
                });
            }
            ui.columns(2, |cols| {
                per_class_ui(&mut cols[0], lang, &rep.metrics);
                confusion_ui(&mut cols[1], lang, &rep.metrics);
            });
        }
    }
}

fn per_class_ui(ui: &mut egui::Ui, lang: Lang, m: &Metrics) {
    ui.label(RichText::new(tr(lang, "Per class")).strong());
    egui::Grid::new("per_class").striped(true).show(ui, |ui| {
        for h in ["", "P", "R", "F1", "n"] {
            ui.label(RichText::new(h).strong());
        }
        ui.end_row();
        for c in &m.per_class {
            ui.label(&c.label);
            ui.label(format!("{:.2}", c.precision));
            ui.label(format!("{:.2}", c.recall));
            ui.label(format!("{:.2}", c.f1));
            ui.label(c.support.to_string());
            ui.end_row();
        }
    });
}

/// Confusion matrix as a heatmap: rows are the truth, columns the prediction.
fn confusion_ui(ui: &mut egui::Ui, lang: Lang, m: &Metrics) {
    ui.label(RichText::new(tr(lang, "Confusion matrix")).strong());
    let k = m.labels.len();
    if k == 0 {
        return;
    }
    let cell = (240.0 / k as f32).clamp(14.0, 40.0);
    let label_w = 90.0;
    let (rect, _) = ui.allocate_exact_size(
        egui::vec2(label_w + cell * k as f32, cell * k as f32 + 4.0),
        egui::Sense::hover(),
    );
    let max = m
        .confusion
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f32;
    let painter = ui.painter_at(rect);
    for (i, row) in m.confusion.iter().enumerate() {
        let y = rect.top() + i as f32 * cell;
        painter.text(
            egui::pos2(rect.left() + label_w - 4.0, y + cell / 2.0),
            egui::Align2::RIGHT_CENTER,
            &m.labels[i],
            egui::FontId::proportional(11.0),
            ui.visuals().text_color(),
        );
        for (j, &n) in row.iter().enumerate() {
            let v = n as f32 / max;
            let color = if i == j {
                Color32::from_rgb(30, (60.0 + 170.0 * v) as u8, 60)
            } else {
                Color32::from_rgb((40.0 + 200.0 * v) as u8, 40, 40)
            };
            let r = egui::Rect::from_min_size(
                egui::pos2(rect.left() + label_w + j as f32 * cell, y),
                egui::vec2(cell - 1.0, cell - 1.0),
            );
            painter.rect_filled(r, 2.0, color);
            if n > 0 && cell >= 18.0 {
                painter.text(
                    r.center(),
                    egui::Align2::CENTER_CENTER,
                    n.to_string(),
                    egui::FontId::proportional(10.0),
                    Color32::WHITE,
                );
            }
        }
    }
}

/// The model-history chart's series: (metric name, [version, value] points), one per metric.
pub fn history_series(models: &[crate::domain::ModelInfo]) -> Vec<(&'static str, Vec<[f64; 2]>)> {
    [("Accuracy", "accuracy"), ("Macro F1", "macro_f1")]
        .into_iter()
        .map(|(name, key)| {
            let pts = models
                .iter()
                .filter_map(|m| {
                    m.metrics
                        .as_ref()
                        .and_then(|x| x.get(key))
                        .and_then(|v| v.as_f64())
                        .map(|v| [m.version as f64, v])
                })
                .collect();
            (name, pts)
        })
        .collect()
}

fn history_ui(ui: &mut egui::Ui, lang: Lang, t: &mut TrainingController) {
    ui.label(RichText::new(tr(lang, "Model history")).strong());
    if t.models.is_empty() {
        ui.label("–");
        return;
    }
    let metric = |m: &crate::domain::ModelInfo, k: &str| {
        m.metrics
            .as_ref()
            .and_then(|x| x.get(k))
            .and_then(|v| v.as_f64())
    };
    let series = history_series(&t.models);
    if series.iter().all(|(_, pts)| pts.len() < 2) {
        // One model: a chart would be a lone dot; its numbers say more.
        if let Some(m) = t.models.last() {
            ui.label(format!(
                "v{}: {} {}, {} {} ({})",
                m.version,
                tr(lang, "Accuracy"),
                metric(m, "accuracy")
                    .map(|a| format!("{a:.3}"))
                    .unwrap_or_else(|| "–".into()),
                tr(lang, "Macro F1"),
                metric(m, "macro_f1")
                    .map(|a| format!("{a:.3}"))
                    .unwrap_or_else(|| "–".into()),
                tr(lang, "the chart starts with the second model")
            ));
        }
    } else {
        let (lo, hi) = t.models.iter().fold((i64::MAX, i64::MIN), |(a, b), m| {
            (a.min(m.version), b.max(m.version))
        });
        Plot::new("history")
            .height(160.0)
            .legend(Legend::default())
            .include_y(0.0)
            .include_y(1.0)
            .include_x(lo as f64 - 0.5)
            .include_x(hi as f64 + 0.5)
            // Model versions are whole numbers: one mark per version, named v1, v2, …
            .x_grid_spacer(egui_plot::uniform_grid_spacer(|_| [1.0, 5.0, 10.0]))
            .x_axis_formatter(|mark, _| {
                if mark.value.fract().abs() < 1e-9 && mark.value >= 1.0 {
                    format!("v{}", mark.value as i64)
                } else {
                    String::new()
                }
            })
            .allow_scroll(false)
            .show(ui, |p| {
                for (name, pts) in series {
                    let name = tr(lang, name);
                    // Line and points under one name: one legend entry per metric.
                    p.line(Line::new(name, PlotPoints::from(pts.clone())));
                    p.points(Points::new(name, PlotPoints::from(pts)).radius(3.0));
                }
            });
    }
    let mut activate = None;
    egui::Grid::new("models").striped(true).show(ui, |ui| {
        for m in t.models.iter().rev() {
            ui.label(format!("v{}", m.version));
            ui.label(&m.kind);
            ui.label(
                metric(m, "accuracy")
                    .map(|a| format!("acc {a:.3}"))
                    .unwrap_or_default(),
            );
            ui.label(
                metric(m, "macro_f1")
                    .map(|a| format!("F1 {a:.3}"))
                    .unwrap_or_default(),
            );
            ui.label(
                m.metrics
                    .as_ref()
                    .and_then(|x| x.pointer("/calibration/ece"))
                    .and_then(|v| v.as_f64())
                    .map(|e| format!("ECE {e:.3}"))
                    .unwrap_or_default(),
            );
            ui.label(m.created_at.get(..16).unwrap_or(&m.created_at));
            if m.active {
                ui.label(RichText::new(tr(lang, "Active")).color(Color32::from_rgb(60, 170, 90)));
            } else if ui.small_button(tr(lang, "Activate")).clicked() {
                activate = Some(m.id);
            }
            ui.end_row();
        }
    });
    if let Some(id) = activate {
        t.activate(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(version: i64, acc: f64, f1: f64) -> crate::domain::ModelInfo {
        crate::domain::ModelInfo {
            id: version,
            label_set: "class".into(),
            version,
            kind: "head".into(),
            parent_id: None,
            training_run_id: None,
            labels: vec![],
            spec: serde_json::json!({}),
            metrics: Some(serde_json::json!({ "accuracy": acc, "macro_f1": f1 })),
            weights_path: None,
            weights_sha256: None,
            active: false,
            created_at: String::new(),
        }
    }

    #[test]
    fn the_history_has_one_series_per_metric_on_whole_versions() {
        let s = history_series(&[model(1, 0.8, 0.7), model(2, 0.9, 0.85)]);
        let names: Vec<&str> = s.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["Accuracy", "Macro F1"]);
        assert_eq!(s[0].1, vec![[1.0, 0.8], [2.0, 0.9]]);
        assert_eq!(s[1].1, vec![[1.0, 0.7], [2.0, 0.85]]);
    }
}

//! Bulk accept: a grid of items predicted as one label, most confident first; the annotator
//! unticks the wrong ones and accepts the rest in one transaction.

use egui::{Color32, RichText};

use super::i18n::tr;
use super::review_ui::{shown_name, upload};
use super::App;

pub fn bulk_ui(app: &mut App, ui: &mut egui::Ui) {
    let lang = app.prefs.lang;
    let ctx = ui.ctx().clone();
    let Some(p) = app.project.as_mut() else {
        return;
    };
    let review = &mut p.review;
    let thumbs = &mut p.review_ui.thumbs;
    review.request_bulk_counts();
    egui::CentralPanel::default().show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.heading(tr(lang, "Bulk accept"));
            let current = review.bulk.as_ref().map(|b| b.label.clone());
            let shown = current
                .as_deref()
                .map(|l| shown_name(&review.labels, l).to_string())
                .unwrap_or_else(|| "…".into());
            let mut pick = None;
            let counts = review.bulk_counts.clone().unwrap_or_default();
            let count_of = |name: &str| {
                counts
                    .iter()
                    .find(|c| c.label == name)
                    .map(|c| (c.confident, c.predicted, c.expected_wrong()))
                    .unwrap_or((0, 0, 0.0))
            };
            let threshold = review.bulk_threshold;
            egui::ComboBox::from_id_salt("bulk_label")
                .selected_text(shown)
                .width(260.0)
                .show_ui(ui, |ui| {
                    for l in &review.labels {
                        let (sure, all, wrong) = count_of(&l.name);
                        let text = format!(
                            "{}   {sure} ≥ {:.0}% ({} {:.0}) / {all}",
                            l.shown(),
                            threshold * 100.0,
                            tr(lang, "about wrong:"),
                            wrong
                        );
                        if ui
                            .selectable_label(current.as_deref() == Some(&l.name), text)
                            .clicked()
                        {
                            pick = Some(l.name.clone());
                        }
                    }
                });
            if let Some(l) = pick {
                review.open_bulk(&l);
            }
        });
        ui.label(tr(lang, "Untick the wrong ones, then accept the rest."));
        let Some(bulk) = review.bulk.clone() else {
            match &review.bulk_counts {
                None => {
                    ui.spinner();
                }
                Some(_) => {
                    ui.label(tr(
                        lang,
                        "No suggestions to accept yet: train a model (Training) or label a few items first.",
                    ));
                }
            }
            return;
        };
        let Some(items) = &bulk.items else {
            ui.spinner();
            return;
        };
        let ticked = items.iter().filter(|i| i.ticked).count();
        // The scores are calibrated: their complements add up to the expected mistakes.
        let expected_wrong: f64 = items
            .iter()
            .filter(|i| i.ticked)
            .map(|i| 1.0 - i.score)
            .sum();
        ui.horizontal(|ui| {
            let b = ui.add_enabled(ticked > 0, egui::Button::new(tr(lang, "Accept all ticked")));
            ui.label(format!(
                "{ticked} / {}: {} {expected_wrong:.1} ({} {:.0}%)",
                items.len(),
                tr(lang, "about wrong:"),
                tr(lang, "ticked from"),
                review.bulk_threshold * 100.0
            ));
            if b.clicked() {
                review.accept_bulk();
            }
        });
        ui.separator();
        let mut toggle = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                for it in items {
                    let fill = if it.ticked {
                        Color32::from_rgb(30, 70, 40)
                    } else {
                        Color32::from_rgb(80, 30, 30)
                    };
                    egui::Frame::group(ui.style()).fill(fill).show(ui, |ui| {
                        ui.set_width(110.0);
                        ui.vertical(|ui| {
                            match &it.thumb {
                                Some(img) => {
                                    let tex = thumbs.entry(it.item_id).or_insert_with(|| {
                                        upload(&ctx, &format!("thumb-{}", it.item_id), img)
                                    });
                                    let r = ui.add(
                                        egui::Image::from_texture(egui::load::SizedTexture::new(
                                            tex.id(),
                                            egui::vec2(96.0, 96.0),
                                        ))
                                        .sense(egui::Sense::click()),
                                    );
                                    if r.clicked() {
                                        toggle = Some(it.item_id);
                                    }
                                }
                                None => {
                                    ui.label(RichText::new(&it.caption).small());
                                }
                            }
                            let mut t = it.ticked;
                            if ui
                                .checkbox(
                                    &mut t,
                                    format!("#{} {:.0}%", it.item_id, it.score * 100.0),
                                )
                                .changed()
                            {
                                toggle = Some(it.item_id);
                            }
                        });
                    });
                }
            });
        });
        if let Some(id) = toggle {
            review.toggle_bulk(id);
        }
    });
}

//! The review screen: images (large image, suggestion, alternatives, strip of what comes next)
//! and form pages (fields in page order with context and suggested type, the selected field
//! highlighted in a simplified rendering of the page, the page's industry on top). Progress,
//! queue selector and filters always visible. Keys come from `keys.rs` only.

use std::collections::HashMap;

use egui::{Color32, RichText};

use super::i18n::{tr, Lang};
use super::keys::{self, KeyAction};
use super::{App, Screen};
use crate::domain::{sets, Action, Label};
use crate::kinds::ReviewScreen;
use crate::queue::{Filter, Strategy};
use crate::review::{Command, DecodedImage, PageView, ReviewSession, SaveStatus};

/// Textures of the items around the current one (uploaded ahead of time).
#[derive(Default)]
pub struct ReviewUi {
    textures: HashMap<i64, egui::TextureHandle>,
    /// Object images: zoom, pan and the drag in progress.
    pub box_view: super::boxes_ui::BoxView,
    /// Bulk-grid thumbnails.
    pub(crate) thumbs: HashMap<i64, egui::TextureHandle>,
}

impl ReviewUi {
    /// The uploaded texture of an item's image.
    pub(crate) fn texture(&self, id: i64) -> Option<&egui::TextureHandle> {
        self.textures.get(&id)
    }

    /// Upload the current and upcoming images that are decoded but not on the GPU yet; drop
    /// the ones that scrolled away.
    fn sync_textures(&mut self, ctx: &egui::Context, review: &ReviewSession) {
        let mut wanted: Vec<i64> = review.current_id().into_iter().collect();
        wanted.extend(
            review
                .upcoming(crate::review::LOOKAHEAD)
                .into_iter()
                .map(|(id, _)| id),
        );
        if review.position() > 0 {
            wanted.push(review.queue()[review.position() - 1]);
        }
        for id in &wanted {
            if self.textures.contains_key(id) {
                continue;
            }
            if let Some(img) = review.view(*id).and_then(|v| v.image.as_ref()) {
                self.textures
                    .insert(*id, upload(ctx, &format!("item-{id}"), img));
            }
        }
        if self.textures.len() > 3 * crate::review::LOOKAHEAD {
            self.textures.retain(|id, _| wanted.contains(id));
        }
    }
}

pub(crate) fn upload(ctx: &egui::Context, name: &str, img: &DecodedImage) -> egui::TextureHandle {
    let color = egui::ColorImage::from_rgba_unmultiplied([img.width, img.height], &img.rgba);
    // Small images (icons, emoji) stay crisp when enlarged.
    let options = if img.width.max(img.height) <= 128 {
        egui::TextureOptions::NEAREST
    } else {
        egui::TextureOptions::LINEAR
    };
    ctx.load_texture(name, color, options)
}

pub(crate) fn label_color(l: &Label) -> Color32 {
    l.color
        .as_deref()
        .and_then(|c| Color32::from_hex(c).ok())
        .unwrap_or(Color32::from_rgb(90, 120, 200))
}

pub(crate) fn shown_name<'a>(labels: &'a [Label], name: &'a str) -> &'a str {
    labels
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.shown())
        .unwrap_or(name)
}

fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Uncertain => "Uncertain first (learns fastest)",
        Strategy::Confident => "Most likely right first (fewest corrections)",
        Strategy::Diverse => "Diverse",
        Strategy::Random => "Random",
        Strategy::FileOrder => "File order",
    }
}

fn filter_name(lang: Lang, f: &Filter, labels: &[Label]) -> String {
    match f {
        Filter::Unlabeled => tr(lang, "Unlabeled").to_string(),
        Filter::PredictedAs(l) => format!("{} {}", tr(lang, "Predicted as"), shown_name(labels, l)),
        Filter::Disagreements => tr(lang, "Disagreements").to_string(),
        Filter::Review => tr(lang, "Review queue (annotators disagree, flagged)").to_string(),
        Filter::Suspects => tr(lang, "Suspect labels (probably wrong)").to_string(),
        Filter::Errors => tr(lang, "Errors").to_string(),
        Filter::All => tr(lang, "All").to_string(),
    }
}

/// The review screen.
pub fn review_screen_ui(app: &mut App, ui: &mut egui::Ui) {
    let lang = app.prefs.lang;
    let ctx = ui.ctx().clone();
    let mut toggle_help = false;
    let mut go_bulk = None;
    {
        let Some(p) = app.project.as_mut() else {
            return;
        };
        // Keys first, so the frame shows their effect. Object images have keys of their own
        // (Tab, Delete, arrows nudge the selected box), read before the common ones.
        if p.review.kind.spec().review == ReviewScreen::Boxes {
            let selected = p
                .review
                .box_editor
                .as_ref()
                .is_some_and(|e| e.selected.is_some());
            let box_keys = keys::box_actions(&ctx, selected);
            super::boxes_ui::apply_box_keys(&mut p.review, &mut p.review_ui, &box_keys);
        }
        for a in keys::review_actions(&ctx) {
            match a {
                KeyAction::Review(c) => {
                    p.review.apply(c);
                }
                KeyAction::ToggleHelp => toggle_help = true,
            }
        }
        p.review.poll();
        p.review_ui.sync_textures(&ctx, &p.review);
        let review = &mut p.review;
        let rui = &mut p.review_ui;

        egui::Panel::top("queue_bar").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.label(tr(lang, "Queue"));
                let mut strategy = review.spec().strategy;
                egui::ComboBox::from_id_salt("strategy")
                    .selected_text(tr(lang, strategy_name(strategy)))
                    .show_ui(ui, |ui| {
                        for s in Strategy::ALL {
                            ui.selectable_value(&mut strategy, s, tr(lang, strategy_name(s)));
                        }
                    });
                review.set_strategy(strategy);
                ui.label(tr(lang, "Filter"));
                let mut filter = review.spec().filter.clone();
                let mut options = vec![Filter::Unlabeled];
                if review.role.is_lead() {
                    options.extend([Filter::Review, Filter::Suspects]);
                }
                options.extend(
                    review
                        .labels
                        .iter()
                        .map(|l| Filter::PredictedAs(l.name.clone())),
                );
                options.extend([Filter::Disagreements, Filter::Errors, Filter::All]);
                egui::ComboBox::from_id_salt("filter")
                    .selected_text(filter_name(lang, &filter, &review.labels))
                    .width(200.0)
                    .show_ui(ui, |ui| {
                        for f in options {
                            let name = filter_name(lang, &f, &review.labels);
                            ui.selectable_value(&mut filter, f, name);
                        }
                    });
                review.set_filter(filter);
                if ui.button(tr(lang, "Refresh")).clicked() {
                    review.refresh();
                }
                ui.separator();
                if review.queue_loading() {
                    ui.spinner();
                } else {
                    ui.label(format!(
                        "{} / {}",
                        (review.position() + 1).min(review.queue().len()),
                        review.queue().len()
                    ));
                }
            });
        });

        egui::Panel::bottom("progress_bar").show(ui, |ui| {
            progress_ui(ui, lang, review);
        });

        egui::Panel::right("decide_panel")
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    go_bulk = decide_panel_ui(ui, lang, review);
                });
            });

        egui::CentralPanel::default().show(ui, |ui| {
            if review.queue_loading() {
                ui.centered_and_justified(|ui| ui.spinner());
                return;
            }
            if review.current_id().is_none() {
                ui.centered_and_justified(|ui| ui.heading(tr(lang, "The queue is empty.")));
                return;
            }
            match review.kind.spec().review {
                ReviewScreen::Class => image_center_ui(ui, lang, review, rui),
                ReviewScreen::Form => form_center_ui(ui, lang, review),
                ReviewScreen::Boxes => super::boxes_ui::boxes_center_ui(ui, lang, review, rui),
            }
        });
    }
    if toggle_help {
        app.show_help = !app.show_help;
    }
    if let Some(label) = go_bulk {
        if let Some(p) = app.project.as_mut() {
            p.review.open_bulk(&label);
        }
        app.screen = Screen::Bulk;
    }
}

fn progress_ui(ui: &mut egui::Ui, lang: Lang, review: &ReviewSession) {
    ui.horizontal(|ui| {
        if let Some(s) = &review.stats {
            let frac = if s.total > 0 {
                s.labeled as f32 / s.total as f32
            } else {
                0.0
            };
            ui.add(
                egui::ProgressBar::new(frac)
                    .desired_width(220.0)
                    .text(format!(
                        "{} / {} {}",
                        s.labeled,
                        s.total,
                        tr(lang, "labeled")
                    )),
            );
            ui.separator();
            ui.label(format!("{}: {}", tr(lang, "today"), s.today));
            ui.separator();
            ui.label(format!(
                "{:.1} {}",
                review.items_per_minute(),
                tr(lang, "items/min")
            ));
            ui.separator();
            match s.accept_rate() {
                Some(r) => ui.label(format!("{}: {:.0}%", tr(lang, "accept rate"), r * 100.0)),
                None => ui.label(format!("{}: –", tr(lang, "accept rate"))),
            };
        } else {
            ui.spinner();
        }
        if let Some(t) = &review.team {
            ui.separator();
            if let Some(p) = &t.progress {
                ui.label(format!(
                    "{} {} / {} {} / {}",
                    tr(lang, "me"),
                    p.mine,
                    tr(lang, "team"),
                    p.team,
                    p.total
                ))
                .on_hover_text(tr(lang, "labelled by me / by the team / items"));
            }
            if let Some(why) = &t.offline {
                ui.colored_label(Color32::from_rgb(220, 140, 40), tr(lang, "offline"))
                    .on_hover_text(why);
            }
        }
        ui.with_layout(
            egui::Layout::right_to_left(egui::Align::Center),
            |ui| match &review.save {
                SaveStatus::Idle => {}
                SaveStatus::Waiting(n) => {
                    ui.colored_label(
                        Color32::from_rgb(220, 140, 40),
                        format!("{n} {}", tr(lang, "waiting to be sent")),
                    )
                    .on_hover_text(tr(
                        lang,
                        "kept on this computer; sent once the team server is back",
                    ));
                }
                SaveStatus::Saving(_) => {
                    ui.label(tr(lang, "saving…"));
                }
                SaveStatus::Saved(_) => {
                    ui.colored_label(
                        Color32::from_rgb(60, 170, 90),
                        format!("✓ {}", tr(lang, "saved")),
                    );
                }
                SaveStatus::Failed(e) => {
                    ui.colored_label(
                        Color32::from_rgb(220, 70, 70),
                        format!("× {}: {e}", tr(lang, "not saved")),
                    )
                    .on_hover_text(e);
                }
            },
        );
    });
}

/// The right panel: suggestion, alternatives, labels with hotkeys, action buttons. Returns a
/// label to open the bulk grid for, when asked.
fn decide_panel_ui(ui: &mut egui::Ui, lang: Lang, review: &mut ReviewSession) -> Option<String> {
    let mut cmd = None;
    let mut bulk = None;
    let labels = review.labels.clone();
    let current = review.current().cloned();
    let boxes = review.kind.spec().review == ReviewScreen::Boxes;
    if boxes {
        // Object images: the boxes are the suggestion (listed beside the image).
        ui.heading(tr(lang, "Detector"));
        match current.as_ref().and_then(|v| v.prediction.as_ref()) {
            Some(p) => {
                ui.label(format!(
                    "{} {}, {} {:.0}%, {} {:.0}%",
                    p.top.len(),
                    tr(lang, "proposals"),
                    tr(lang, "mean score"),
                    p.score * 100.0,
                    tr(lang, "lowest"),
                    p.margin * 100.0
                ));
            }
            None => {
                ui.label(RichText::new(tr(lang, "No proposals: draw the boxes")).italics());
            }
        }
    } else {
        ui.heading(tr(lang, "Suggestion"));
    }
    match current
        .as_ref()
        .and_then(|v| v.prediction.as_ref())
        .filter(|_| !boxes)
    {
        Some(p) => {
            let l = labels.iter().find(|l| l.name == p.label);
            let color = l.map(label_color).unwrap_or(Color32::GRAY);
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(shown_name(&labels, &p.label))
                        .size(22.0)
                        .strong()
                        .color(color),
                );
                ui.label(RichText::new(format!("{:.0}%", p.score * 100.0)).size(18.0));
            });
            ui.add(egui::ProgressBar::new(p.score as f32).desired_width(240.0));
            if p.top.len() > 1 {
                ui.label(tr(lang, "Alternatives"));
                for (name, score) in p.top.iter().skip(1).take(4) {
                    let key = labels
                        .iter()
                        .position(|l| l.name == *name)
                        .filter(|i| *i < 9)
                        .map(|i| i + 1);
                    let text = match key {
                        Some(k) => {
                            format!("[{k}] {} {:.0}%", shown_name(&labels, name), score * 100.0)
                        }
                        None => format!("{} {:.0}%", shown_name(&labels, name), score * 100.0),
                    };
                    if ui.button(text).clicked() {
                        if let Some(k) = key {
                            cmd = Some(Command::Pick(k));
                        }
                    }
                }
            }
            if ui
                .small_button(format!("{} …", tr(lang, "Bulk accept")))
                .clicked()
            {
                bulk = Some(p.label.clone());
            }
        }
        None if boxes => {}
        None => {
            ui.label(RichText::new(tr(lang, "No suggestion yet")).italics());
        }
    }
    if let Some(v) = &current {
        if let Some(l) = &v.label {
            ui.label(
                RichText::new(format!("✓ {}", shown_name(&labels, l)))
                    .color(Color32::from_rgb(60, 170, 90))
                    .strong(),
            );
        }
    }
    if review.rejecting() {
        ui.colored_label(Color32::from_rgb(230, 140, 40), "× 1-9 →");
    }
    let reviewing = review.reviewing();
    let suspect = current.as_ref().and_then(|v| v.suspect.as_ref());
    if let (true, Some(s)) = (review.spec().filter == Filter::Suspects, suspect) {
        ui.separator();
        ui.heading(tr(lang, "Suspect label"));
        ui.label(format!(
            "{} {} ({:.0}%) · {} {} ({:.0}%)",
            tr(lang, "labelled"),
            shown_name(&labels, &s.given),
            s.score * 100.0,
            tr(lang, "probably"),
            shown_name(&labels, &s.suggested),
            s.suggested_score * 100.0,
        ));
        ui.label(
            RichText::new(tr(
                lang,
                "Your label is final: Enter takes the suggested label, the digit of the given label keeps it",
            ))
            .italics(),
        );
    } else if reviewing {
        ui.separator();
        ui.heading(tr(lang, "Answers"));
        ui.label(
            RichText::new(tr(
                lang,
                "Your label is final: Enter takes the most common answer, 1-9 another",
            ))
            .italics(),
        );
        for a in current.iter().flat_map(|v| v.answers.iter()) {
            let text = match &a.label {
                Some(l) => format!("{}: {}", a.annotator, shown_name(&labels, l)),
                None => format!("{}: {}", a.annotator, tr(lang, "not sure")),
            };
            ui.label(text);
        }
    }
    ui.separator();
    ui.horizontal_wrapped(|ui| {
        if ui
            .button(tr(lang, "Accept"))
            .on_hover_text("Enter / A")
            .clicked()
        {
            cmd = Some(Command::Accept);
        }
        if !reviewing && !boxes && ui.button(tr(lang, "Reject")).on_hover_text("X").clicked() {
            cmd = Some(Command::Reject);
        }
        if ui.button(tr(lang, "Skip")).on_hover_text("Space").clicked() {
            cmd = Some(Command::Skip);
        }
        if !reviewing && ui.button(tr(lang, "Not sure")).on_hover_text("F").clicked() {
            cmd = Some(Command::Flag);
        }
    });
    let can_mark = review.role.is_lead() && !reviewing;
    if can_mark
        && current.as_ref().is_some_and(|v| v.label.is_some())
        && ui
            .small_button(tr(lang, "Mark as gold"))
            .on_hover_text(tr(
                lang,
                "Its label becomes a gold check, mixed into every annotator's queue",
            ))
            .clicked()
    {
        review.mark_gold();
    }
    ui.horizontal_wrapped(|ui| {
        if ui
            .button(tr(lang, "Undo"))
            .on_hover_text("Ctrl+Z")
            .clicked()
        {
            cmd = Some(Command::Undo);
        }
        if ui
            .button(tr(lang, "Redo"))
            .on_hover_text("Ctrl+Shift+Z")
            .clicked()
        {
            cmd = Some(Command::Redo);
        }
        if ui.button(tr(lang, "Previous")).on_hover_text("←").clicked() {
            cmd = Some(Command::Prev);
        }
        if ui.button(tr(lang, "Next")).on_hover_text("→").clicked() {
            cmd = Some(Command::Next);
        }
    });
    ui.separator();
    ui.label(tr(lang, "Labels"));
    for (i, l) in labels.iter().enumerate() {
        let key = if i < 9 {
            format!("[{}] ", i + 1)
        } else {
            "     ".into()
        };
        let text = RichText::new(format!("{key}{}", l.shown())).color(label_color(l));
        let resp = ui.add(egui::Button::new(text).min_size(egui::vec2(200.0, 0.0)));
        if resp.clicked() && i < 9 {
            cmd = Some(Command::Pick(i + 1));
        }
    }
    if let Some(c) = cmd {
        review.apply(c);
    }
    bulk
}

fn image_center_ui(ui: &mut egui::Ui, lang: Lang, review: &ReviewSession, rui: &ReviewUi) {
    let strip_h = 86.0;
    let avail = ui.available_size();
    let big = egui::vec2(avail.x, (avail.y - strip_h - 28.0).max(120.0));
    let cur = review.current_id();
    ui.allocate_ui(big, |ui| {
        ui.centered_and_justified(|ui| {
            match (cur.and_then(|id| rui.textures.get(&id)), review.current()) {
                (Some(tex), _) => {
                    // Pixel art stays crisp up to 6x; photos fit the area.
                    let size = tex.size_vec2();
                    let scale = (big.x / size.x).min(big.y / size.y).min(6.0);
                    ui.add(egui::Image::from_texture(egui::load::SizedTexture::new(
                        tex.id(),
                        size * scale,
                    )));
                }
                (None, Some(v)) => {
                    let msg = v
                        .image_error
                        .clone()
                        .unwrap_or_else(|| tr(lang, "Loading…").to_string());
                    ui.colored_label(Color32::from_rgb(220, 90, 90), msg);
                }
                (None, None) => {
                    ui.spinner();
                }
            }
        });
    });
    if let Some(v) = review.current() {
        ui.label(RichText::new(&v.item.source_path).small().weak());
    }
    ui.separator();
    ui.horizontal(|ui| {
        ui.label(tr(lang, "Up next"));
        for (id, v) in review.upcoming(crate::review::LOOKAHEAD) {
            let size = egui::vec2(64.0, 64.0);
            match rui.textures.get(&id) {
                Some(tex) => {
                    ui.add(egui::Image::from_texture(egui::load::SizedTexture::new(
                        tex.id(),
                        size,
                    )));
                }
                None => {
                    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
                    ui.painter().rect_filled(rect, 4.0, Color32::from_gray(40));
                    if v.is_none() {
                        ui.painter().text(
                            rect.center(),
                            egui::Align2::CENTER_CENTER,
                            "…",
                            egui::FontId::proportional(14.0),
                            Color32::GRAY,
                        );
                    }
                }
            }
            if let Some(p) = v.and_then(|v| v.prediction.as_ref()) {
                ui.label(RichText::new(shown_name(&review.labels, &p.label)).small());
            }
        }
    });
}

fn field_context(lang: Lang, f: &crate::domain::FieldRecord) -> String {
    let mut parts = Vec::new();
    if let Some(l) = &f.label {
        parts.push(format!("{} “{l}”", tr(lang, "label")));
    }
    if let Some(p) = &f.placeholder {
        parts.push(format!("{} “{p}”", tr(lang, "placeholder")));
    }
    if let Some(n) = &f.name {
        parts.push(format!("name={n}"));
    }
    let ty = f.input_type.clone().unwrap_or_else(|| f.tag.clone());
    parts.push(format!("type={ty}"));
    if let Some(t) = &f.preceding_text {
        if f.label.is_none() {
            parts.push(format!("{} “{t}”", tr(lang, "text")));
        }
    }
    parts.join(" · ")
}

fn form_center_ui(ui: &mut egui::Ui, lang: Lang, review: &mut ReviewSession) {
    let Some(view) = review.current().cloned() else {
        ui.spinner();
        return;
    };
    let Some(page) = &view.page else {
        ui.label(format!(
            "item {} ({})",
            view.item.id,
            view.item.kind.as_str()
        ));
        return;
    };
    industry_bar_ui(ui, lang, review, page);
    ui.separator();
    let selected = view.item.id;
    let mut jump = None;
    ui.columns(2, |cols| {
        cols[0].label(RichText::new(&page.title).strong());
        egui::ScrollArea::vertical()
            .id_salt("page_render")
            .show(&mut cols[0], |ui| {
                page_render_ui(ui, page, selected);
            });
        cols[1].label(RichText::new(tr(lang, "Fields")).strong());
        egui::ScrollArea::vertical()
            .id_salt("field_list")
            .show(&mut cols[1], |ui| {
                for (i, f) in page.fields.iter().enumerate() {
                    let is_sel = f.item_id == selected;
                    let frame = egui::Frame::group(ui.style()).fill(if is_sel {
                        Color32::from_rgb(40, 60, 95)
                    } else {
                        Color32::TRANSPARENT
                    });
                    let r = frame
                        .show(ui, |ui| {
                            ui.set_width(ui.available_width());
                            ui.horizontal(|ui| {
                                ui.label(RichText::new(format!("{}.", i + 1)).weak());
                                ui.label(RichText::new(f.record.caption()).strong());
                                if let Some(l) = &f.label {
                                    ui.label(
                                        RichText::new(format!(
                                            "✓ {}",
                                            shown_name(&review.labels, l)
                                        ))
                                        .color(Color32::from_rgb(60, 170, 90)),
                                    );
                                } else if let Some(p) = &f.prediction {
                                    ui.label(format!(
                                        "→ {} {:.0}%",
                                        shown_name(&review.labels, &p.label),
                                        p.score * 100.0
                                    ));
                                }
                            });
                            ui.label(RichText::new(field_context(lang, &f.record)).small().weak());
                        })
                        .response;
                    if is_sel {
                        r.scroll_to_me(Some(egui::Align::Center));
                    }
                    if r.interact(egui::Sense::click()).clicked() {
                        jump = Some(f.item_id);
                    }
                }
            });
    });
    if let Some(id) = jump {
        review.goto(id);
    }
}

fn industry_bar_ui(ui: &mut egui::Ui, lang: Lang, review: &mut ReviewSession, page: &PageView) {
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(tr(lang, "Page industry")).strong());
        match (&page.industry_label, &page.industry) {
            (Some(l), _) => {
                ui.colored_label(Color32::from_rgb(60, 170, 90), format!("✓ {l}"));
            }
            (None, Some(p)) => {
                ui.label(RichText::new(format!("{} {:.0}%", p.label, p.score * 100.0)).strong());
                if ui.small_button(tr(lang, "Accept")).clicked() {
                    review.decide_other(
                        sets::INDUSTRY,
                        page.page.id,
                        &p.label,
                        Action::Accept,
                        Some(p.id),
                    );
                }
            }
            (None, None) => {
                ui.label(RichText::new(tr(lang, "No suggestion yet")).italics());
            }
        }
        let industries = review.industry_labels.clone();
        if !industries.is_empty() {
            let mut pick: Option<String> = None;
            egui::ComboBox::from_id_salt("industry_pick")
                .selected_text("…")
                .show_ui(ui, |ui| {
                    for l in &industries {
                        if ui.selectable_label(false, l.shown()).clicked() {
                            pick = Some(l.name.clone());
                        }
                    }
                });
            if let Some(l) = pick {
                let same = page.industry.as_ref().is_some_and(|p| p.label == l);
                let action = if same {
                    Action::Accept
                } else {
                    Action::Correct
                };
                review.decide_other(
                    sets::INDUSTRY,
                    page.page.id,
                    &l,
                    action,
                    page.industry.as_ref().map(|p| p.id),
                );
            }
        }
    });
}

/// A simplified, phone-width rendering of the page's fields, the selected one highlighted.
fn page_render_ui(ui: &mut egui::Ui, page: &PageView, selected: i64) {
    let width = 340.0_f32.min(ui.available_width());
    egui::Frame::NONE
        .fill(Color32::from_gray(245))
        .corner_radius(10.0)
        .inner_margin(12.0)
        .show(ui, |ui| {
            ui.set_width(width);
            let mut form = usize::MAX;
            let mut heading: Option<String> = None;
            for f in &page.fields {
                let r = &f.record;
                if r.form_index != form {
                    form = r.form_index;
                    if form > 0 {
                        ui.add_space(6.0);
                        ui.separator();
                    }
                }
                if r.heading.is_some() && r.heading != heading {
                    heading = r.heading.clone();
                    ui.label(
                        RichText::new(heading.clone().unwrap_or_default())
                            .color(Color32::from_gray(30))
                            .strong(),
                    );
                }
                let is_sel = f.item_id == selected;
                let stroke = if is_sel {
                    egui::Stroke::new(2.5, Color32::from_rgb(230, 120, 20))
                } else {
                    egui::Stroke::new(1.0, Color32::from_gray(190))
                };
                let is_button = r.tag == "button"
                    || matches!(r.input_type.as_deref(), Some("submit" | "button" | "reset"));
                if is_button {
                    let text = r.value.clone().unwrap_or_else(|| r.caption());
                    egui::Frame::NONE
                        .fill(Color32::from_rgb(50, 110, 220))
                        .stroke(stroke)
                        .corner_radius(6.0)
                        .inner_margin(6.0)
                        .show(ui, |ui| {
                            ui.set_width(ui.available_width());
                            ui.vertical_centered(|ui| ui.colored_label(Color32::WHITE, text));
                        });
                } else {
                    let caption = r
                        .label
                        .clone()
                        .or_else(|| r.preceding_text.clone())
                        .or_else(|| r.aria_label.clone());
                    if let Some(c) = caption {
                        ui.label(RichText::new(c).color(Color32::from_gray(60)).small());
                    }
                    let inside = match (r.tag.as_str(), r.input_type.as_deref()) {
                        ("select", _) => {
                            format!("{} ▼", r.options.first().cloned().unwrap_or_default())
                        }
                        (_, Some("checkbox")) => format!("□ {}", r.caption()),
                        (_, Some("radio")) => format!("◯ {}", r.caption()),
                        _ => r.placeholder.clone().unwrap_or_default(),
                    };
                    let resp = egui::Frame::NONE
                        .fill(Color32::WHITE)
                        .stroke(stroke)
                        .corner_radius(4.0)
                        .inner_margin(6.0)
                        .show(ui, |ui| {
                            ui.set_width(ui.available_width());
                            ui.label(RichText::new(inside).color(Color32::from_gray(140)));
                        })
                        .response;
                    if is_sel {
                        resp.scroll_to_me(Some(egui::Align::Center));
                    }
                }
                ui.add_space(4.0);
            }
        });
}

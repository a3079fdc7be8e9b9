//! The review screen of object images: the image (fit, zoom with the wheel, pan with the
//! right or middle button) with its boxes in their labels' colours and scores, the selected
//! box highlighted, and the box list on the right. Drag on the image draws a box; drag a
//! corner or an edge of the selected box to adjust it, its inside to move it; a click selects.
//! Keys are mapped in `keys.rs`; every action is also a button. The geometry lives in image
//! pixels (`review::boxes`); this file is the one transform from image to screen and back.

use egui::{Color32, Pos2, Rect, RichText, Sense, Stroke, StrokeKind, Vec2};

use super::i18n::{tr, Lang};
use super::review_ui::{label_color, shown_name, ReviewUi};
use crate::domain::BBox;
use crate::review::boxes::{BoxEditor, BoxEvent};
use crate::review::{Command, ReviewSession};

/// Screen pixels around a corner or an edge that grab it.
const GRAB_PX: f32 = 7.0;

/// What the mouse is doing on the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Drag {
    /// Drawing a new box from this image point.
    Draw(Pos2),
    /// Moving edges of box `index`: (left, top, right, bottom) follow the pointer.
    Edges {
        index: usize,
        edges: [bool; 4],
        start: BBox,
        from: Pos2,
    },
}

/// Zoom, pan and the drag in progress (the view, not the labels).
#[derive(Debug, Clone, PartialEq)]
pub struct BoxView {
    /// 1.0: the image fits the canvas.
    pub zoom: f32,
    /// Screen offset of the image from its fitted position.
    pub pan: Vec2,
    pub drag: Option<Drag>,
    /// The pointer's image point during a drag.
    pub pointer: Option<Pos2>,
    /// The item the view belongs to (a new image resets it).
    pub item: Option<i64>,
    /// Asked by the `Z` key: zoom to the selected box on the next frame.
    pub zoom_to_selected: bool,
    /// The transform of the last frame drawn (tests map image points to the screen with it).
    pub transform: Option<Transform>,
}

impl Default for BoxView {
    fn default() -> Self {
        BoxView {
            zoom: 1.0,
            pan: Vec2::ZERO,
            drag: None,
            pointer: None,
            item: None,
            zoom_to_selected: false,
            transform: None,
        }
    }
}

/// The image-to-screen transform of one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    origin: Pos2,
    scale: f32,
}

impl Transform {
    fn new(canvas: Rect, image: Vec2, view: &BoxView) -> Transform {
        let fit = (canvas.width() / image.x)
            .min(canvas.height() / image.y)
            .max(1e-6);
        let scale = fit * view.zoom;
        let origin = canvas.center() - image * scale / 2.0 + view.pan;
        Transform { origin, scale }
    }
    /// An image point on the screen.
    pub fn to_screen(self, p: Pos2) -> Pos2 {
        self.origin + p.to_vec2() * self.scale
    }
    /// A screen point on the image.
    pub fn to_image(self, p: Pos2) -> Pos2 {
        ((p - self.origin) / self.scale).to_pos2()
    }
    fn rect(self, b: &BBox) -> Rect {
        Rect::from_min_max(
            self.to_screen(Pos2::new(b.x as f32, b.y as f32)),
            self.to_screen(Pos2::new(b.x2() as f32, b.y2() as f32)),
        )
    }
}

fn bbox_of(a: Pos2, b: Pos2) -> BBox {
    BBox::from_corners(a.x as f64, a.y as f64, b.x as f64, b.y as f64)
}

/// Which edges of `r` a screen point grabs (left, top, right, bottom); inside and away from
/// the edges: all four (a move).
fn grab(r: Rect, p: Pos2) -> Option<[bool; 4]> {
    let near = |a: f32, b: f32| (a - b).abs() <= GRAB_PX;
    let inside_x = p.x >= r.left() - GRAB_PX && p.x <= r.right() + GRAB_PX;
    let inside_y = p.y >= r.top() - GRAB_PX && p.y <= r.bottom() + GRAB_PX;
    if !inside_x || !inside_y {
        return None;
    }
    let e = [
        near(p.x, r.left()),
        near(p.y, r.top()),
        near(p.x, r.right()),
        near(p.y, r.bottom()),
    ];
    if e.iter().any(|&x| x) {
        Some(e)
    } else if r.contains(p) {
        Some([true; 4])
    } else {
        None
    }
}

fn moved(start: BBox, edges: [bool; 4], d: Vec2) -> BBox {
    let (dx, dy) = (d.x as f64, d.y as f64);
    let mut x1 = start.x;
    let mut y1 = start.y;
    let mut x2 = start.x2();
    let mut y2 = start.y2();
    if edges[0] {
        x1 += dx;
    }
    if edges[1] {
        y1 += dy;
    }
    if edges[2] {
        x2 += dx;
    }
    if edges[3] {
        y2 += dy;
    }
    BBox::from_corners(x1, y1, x2, y2)
}

/// The centre of the object review screen.
pub fn boxes_center_ui(
    ui: &mut egui::Ui,
    lang: Lang,
    review: &mut ReviewSession,
    rui: &mut ReviewUi,
) {
    let Some(cur) = review.current_id() else {
        return;
    };
    if rui.box_view.item != Some(cur) {
        rui.box_view = BoxView {
            item: Some(cur),
            ..Default::default()
        };
    }
    let tex = rui.texture(cur).cloned();
    let error = review.current().and_then(|v| v.image_error.clone());
    if review.box_editor().is_none() || tex.is_none() {
        ui.centered_and_justified(|ui| match error {
            Some(e) => {
                ui.colored_label(Color32::from_rgb(220, 90, 90), e);
            }
            None => {
                ui.spinner();
            }
        });
        return;
    }
    let tex = tex.expect("checked");
    let labels = review.labels.clone();
    let list_w = 250.0;
    let avail = ui.available_size();
    let mut events: Vec<BoxEvent> = Vec::new();
    let mut commands: Vec<Command> = Vec::new();
    let mut toggle_hidden = false;
    ui.horizontal_top(|ui| {
        let canvas_size = Vec2::new((avail.x - list_w - 12.0).max(200.0), avail.y.max(200.0));
        let (resp, painter) = ui.allocate_painter(canvas_size, Sense::click_and_drag());
        let canvas = resp.rect;
        painter.rect_filled(canvas, 0.0, Color32::from_gray(24));
        let editor = review.box_editor().expect("checked");
        let mut image = Vec2::new(editor.width as f32, editor.height as f32);
        if image.x <= 0.0 || image.y <= 0.0 {
            image = tex.size_vec2();
        }
        let view = &mut rui.box_view;
        // Zoom about the pointer; pan with the right or middle button.
        if let Some(hover) = resp.hover_pos() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            let pinch = ui.input(|i| i.zoom_delta());
            let factor = pinch * (scroll / 400.0).exp();
            if (factor - 1.0).abs() > 1e-4 {
                let before = Transform::new(canvas, image, view).to_image(hover);
                view.zoom = (view.zoom * factor).clamp(0.2, 40.0);
                let after = Transform::new(canvas, image, view).to_screen(before);
                view.pan += hover - after;
            }
        }
        if resp.dragged_by(egui::PointerButton::Secondary)
            || resp.dragged_by(egui::PointerButton::Middle)
        {
            view.pan += resp.drag_delta();
        }
        if std::mem::take(&mut view.zoom_to_selected) {
            zoom_to_selected(view, editor, canvas, image);
        }
        let t = Transform::new(canvas, image, view);
        view.transform = Some(t);
        painter.image(
            tex.id(),
            Rect::from_min_max(t.to_screen(Pos2::ZERO), t.to_screen(image.to_pos2())),
            Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
            Color32::WHITE,
        );
        // Mouse: press on the selected box's edge or inside it adjusts or moves it; on
        // another box selects it; elsewhere draws.
        if resp.drag_started_by(egui::PointerButton::Primary) {
            // Where the button went down (egui starts a drag only after some movement).
            let origin = ui.input(|i| i.pointer.press_origin());
            if let Some(p) = origin.or(resp.interact_pointer_pos()) {
                let ip = t.to_image(p);
                let sel_grab = editor
                    .selected
                    .and_then(|i| grab(t.rect(&editor.boxes[i].bbox), p).map(|e| (i, e)));
                view.drag = match sel_grab {
                    Some((index, edges)) => Some(Drag::Edges {
                        index,
                        edges,
                        start: editor.boxes[index].bbox,
                        from: ip,
                    }),
                    None => match editor.hit(ip.x as f64, ip.y as f64) {
                        Some(i) => {
                            events.push(BoxEvent::Select(Some(i)));
                            Some(Drag::Edges {
                                index: i,
                                edges: [true; 4],
                                start: editor.boxes[i].bbox,
                                from: ip,
                            })
                        }
                        None => Some(Drag::Draw(ip)),
                    },
                };
            }
        }
        if let Some(p) = resp.interact_pointer_pos() {
            view.pointer = Some(t.to_image(p));
        }
        if resp.drag_stopped_by(egui::PointerButton::Primary) {
            if let (Some(d), Some(p)) = (view.drag.take(), view.pointer) {
                match d {
                    Drag::Draw(a) => events.push(BoxEvent::Draw(bbox_of(a, p), None)),
                    Drag::Edges {
                        index,
                        edges,
                        start,
                        from,
                    } => {
                        let b = moved(start, edges, p - from);
                        if b != start {
                            events.push(BoxEvent::Adjust(index, b));
                        }
                    }
                }
            }
        } else if resp.clicked() {
            if let Some(p) = resp.interact_pointer_pos() {
                let ip = t.to_image(p);
                events.push(BoxEvent::Select(editor.hit(ip.x as f64, ip.y as f64)));
            }
        }
        // The boxes, the selected one last (on top) with its handles.
        let font = egui::FontId::proportional(13.0);
        let shown = editor.shown();
        let order = shown
            .iter()
            .copied()
            .filter(|&i| Some(i) != editor.selected)
            .chain(editor.selected);
        for i in order {
            let b = &editor.boxes[i];
            let mut bbox = b.bbox;
            if let (
                Some(Drag::Edges {
                    index,
                    edges,
                    start,
                    from,
                }),
                Some(p),
            ) = (view.drag, view.pointer)
            {
                if index == i {
                    bbox = moved(start, edges, p - from);
                }
            }
            let r = t.rect(&bbox);
            let color = labels
                .iter()
                .find(|l| l.name == b.label)
                .map(label_color)
                .unwrap_or(Color32::from_rgb(230, 160, 40));
            let selected = Some(i) == editor.selected;
            let width = if selected { 3.0 } else { 1.5 };
            let stroke_color = if b.decided {
                color
            } else {
                color.gamma_multiply(0.85)
            };
            painter.rect_stroke(
                r,
                0.0,
                Stroke::new(width, stroke_color),
                StrokeKind::Outside,
            );
            if selected {
                painter.rect_filled(r, 0.0, color.gamma_multiply(0.12));
                for c in [
                    r.left_top(),
                    r.right_top(),
                    r.left_bottom(),
                    r.right_bottom(),
                ] {
                    painter.rect_filled(Rect::from_center_size(c, Vec2::splat(7.0)), 1.0, color);
                }
            }
            let caption = match b.score {
                Some(s) if !b.decided => format!("{} {:.2}", shown_name(&labels, &b.label), s),
                _ => shown_name(&labels, &b.label).to_string(),
            };
            let pos = r.left_top() - Vec2::new(0.0, 15.0);
            let galley = painter.layout_no_wrap(caption, font.clone(), Color32::BLACK);
            painter.rect_filled(
                Rect::from_min_size(pos, galley.size() + Vec2::new(6.0, 0.0)),
                2.0,
                color,
            );
            painter.galley(pos + Vec2::new(3.0, 0.0), galley, Color32::BLACK);
        }
        if let (Some(Drag::Draw(a)), Some(p)) = (view.drag, view.pointer) {
            let r = t.rect(&bbox_of(a, p));
            painter.rect_stroke(
                r,
                0.0,
                Stroke::new(2.0, Color32::WHITE),
                StrokeKind::Outside,
            );
        }

        // The list and the buttons.
        ui.vertical(|ui| {
            ui.set_width(list_w);
            let editor = review.box_editor().expect("checked");
            let shown = editor.shown();
            ui.heading(format!("{} {}", shown.len(), tr(lang, "boxes")));
            if editor.boxes.len() > shown.len() {
                ui.label(
                    RichText::new(format!(
                        "{} {} < {:.2}",
                        editor.boxes.len() - shown.len(),
                        tr(lang, "hidden, score"),
                        editor.hide_below
                    ))
                    .small()
                    .weak(),
                );
            }
            egui::ScrollArea::vertical()
                .max_height((avail.y - 260.0).max(120.0))
                .show(ui, |ui| {
                    for i in shown {
                        let b = &editor.boxes[i];
                        let text = match b.score {
                            Some(s) => format!("{}  {:.2}", shown_name(&labels, &b.label), s),
                            None => shown_name(&labels, &b.label).to_string(),
                        };
                        let text = if b.decided {
                            RichText::new(format!("✓ {text}"))
                        } else {
                            RichText::new(text)
                        };
                        if ui
                            .selectable_label(Some(i) == editor.selected, text)
                            .clicked()
                        {
                            events.push(BoxEvent::Select(Some(i)));
                        }
                    }
                });
            ui.separator();
            ui.label(tr(lang, "Label of the selected box"));
            ui.horizontal_wrapped(|ui| {
                for (n, l) in labels.iter().enumerate().take(9) {
                    let t = RichText::new(format!("{} {}", n + 1, l.shown())).color(label_color(l));
                    if ui.button(t).clicked() {
                        events.push(BoxEvent::Relabel(l.name.clone()));
                    }
                }
            });
            ui.horizontal_wrapped(|ui| {
                if ui.button(tr(lang, "Accept image (Enter)")).clicked() {
                    commands.push(Command::Accept);
                }
                if ui.button(tr(lang, "Delete box (Del)")).clicked() {
                    events.push(BoxEvent::Delete);
                }
                if ui.button(tr(lang, "Undo")).clicked() {
                    commands.push(Command::Undo);
                }
                if ui.button(tr(lang, "Redo")).clicked() {
                    commands.push(Command::Redo);
                }
                if ui.button(tr(lang, "Show or hide low scores (H)")).clicked() {
                    toggle_hidden = true;
                }
                if ui.button(tr(lang, "Fit")).clicked() {
                    rui.box_view.zoom = 1.0;
                    rui.box_view.pan = Vec2::ZERO;
                }
                if ui.button(tr(lang, "Zoom to box (Z)")).clicked() {
                    zoom_to_selected(&mut rui.box_view, editor, canvas, image);
                }
            });
            if let Some(v) = review.current() {
                ui.label(RichText::new(&v.item.source_path).small().weak());
            }
        });
    });
    for e in events {
        review.box_event(e);
    }
    for c in commands {
        review.apply(c);
    }
    if toggle_hidden {
        review.toggle_hidden_boxes();
    }
}

/// Zoom and pan so the selected box fills a third of the canvas (small objects become easy
/// to grab).
pub fn zoom_to_selected(view: &mut BoxView, editor: &BoxEditor, canvas: Rect, image: Vec2) {
    let Some(b) = editor.selected.and_then(|i| editor.boxes.get(i)) else {
        return;
    };
    let fit = (canvas.width() / image.x)
        .min(canvas.height() / image.y)
        .max(1e-6);
    let want = (canvas.width() / 3.0 / (b.bbox.w as f32).max(1.0))
        .min(canvas.height() / 3.0 / (b.bbox.h as f32).max(1.0));
    view.zoom = (want / fit).clamp(1.0, 40.0);
    let scale = fit * view.zoom;
    let centre = Vec2::new(
        (b.bbox.x + b.bbox.w / 2.0) as f32,
        (b.bbox.y + b.bbox.h / 2.0) as f32,
    );
    // origin = canvas.center - image*scale/2 + pan; we want origin + centre*scale = canvas.center.
    view.pan = image * scale / 2.0 - centre * scale;
}

/// Apply the object screen's own keys (from `keys::box_actions`).
pub fn apply_box_keys(
    review: &mut ReviewSession,
    rui: &mut ReviewUi,
    keys: &[super::keys::BoxKey],
) {
    use super::keys::BoxKey;
    for k in keys {
        match *k {
            BoxKey::Next => {
                review.box_event(BoxEvent::SelectNext);
            }
            BoxKey::Prev => {
                review.box_event(BoxEvent::SelectPrev);
            }
            BoxKey::Delete => {
                review.box_event(BoxEvent::Delete);
            }
            BoxKey::Nudge(dx, dy) => {
                review.box_event(BoxEvent::Nudge(dx, dy));
            }
            BoxKey::ToggleHidden => review.toggle_hidden_boxes(),
            BoxKey::ZoomToSelected => rui.box_view.zoom_to_selected = true,
        }
    }
}

//! The keyboard, mapped in one place (Prodigy / Label Studio conventions) into review
//! commands. Nothing else in the UI reads keys. Keys are ignored while a text field has focus.

use egui::{Key, Modifiers};

use crate::review::Command;

/// What a key press asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    Review(Command),
    /// `?`: show or hide the shortcuts.
    ToggleHelp,
}

/// The shortcuts, for the `?` overlay: (keys, what).
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("Enter / A", "Accept"),
    ("1 – 9", "Labels"),
    ("X", "Reject"),
    ("Space", "Skip"),
    ("F", "Not sure (to the review queue)"),
    ("Ctrl+Z", "Undo"),
    ("Ctrl+Shift+Z", "Redo"),
    ("← / ↑", "Previous"),
    ("→ / ↓", "Next"),
    ("?", "Shortcuts"),
];

const DIGITS: [Key; 9] = [
    Key::Num1,
    Key::Num2,
    Key::Num3,
    Key::Num4,
    Key::Num5,
    Key::Num6,
    Key::Num7,
    Key::Num8,
    Key::Num9,
];

/// A key of the object review screen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BoxKey {
    /// Tab: the next box.
    Next,
    /// Shift+Tab: the previous box.
    Prev,
    /// Delete / Backspace: remove the selected box.
    Delete,
    /// Arrows move the selected box by one image pixel (Shift: ten).
    Nudge(f64, f64),
    /// H: show or hide the proposals below the score threshold.
    ToggleHidden,
    /// Z: zoom to the selected box.
    ZoomToSelected,
}

/// The object screen's shortcuts, for the `?` overlay.
pub const BOX_SHORTCUTS: &[(&str, &str)] = &[
    ("Enter", "Accept the image as shown"),
    ("Tab / Shift+Tab", "Next / previous box"),
    ("1 – 9", "Label of the selected box (1 – 9)"),
    ("Delete", "Remove the selected box"),
    ("Drag", "Draw a box; drag an edge or a corner to adjust"),
    ("Arrows (Shift)", "Move the selected box by 1 (10) px"),
    ("H", "Show or hide low scores"),
    ("Z", "Zoom to the selected box"),
    ("Wheel / right drag", "Zoom / pan"),
];

/// Consume this frame's object-screen keys (before [`review_actions`]): the arrows only while
/// a box is selected (else they move through the queue as elsewhere).
pub fn box_actions(ctx: &egui::Context, selected: bool) -> Vec<BoxKey> {
    // Tab is egui's focus key: on this screen it walks the boxes, so it takes no widget focus
    // (only a text field keeps the keys).
    if ctx.text_edit_focused() {
        return vec![];
    }
    let out = ctx.input_mut(|i| {
        let mut out = Vec::new();
        if i.consume_key(Modifiers::SHIFT, Key::Tab) {
            out.push(BoxKey::Prev);
        }
        if i.consume_key(Modifiers::NONE, Key::Tab) {
            out.push(BoxKey::Next);
        }
        if i.consume_key(Modifiers::NONE, Key::Delete)
            || i.consume_key(Modifiers::NONE, Key::Backspace)
        {
            out.push(BoxKey::Delete);
        }
        if i.consume_key(Modifiers::NONE, Key::H) {
            out.push(BoxKey::ToggleHidden);
        }
        if i.consume_key(Modifiers::NONE, Key::Z) {
            out.push(BoxKey::ZoomToSelected);
        }
        if selected {
            for (m, step) in [(Modifiers::SHIFT, 10.0), (Modifiers::NONE, 1.0)] {
                let step = step * crate::review::boxes::NUDGE_PX;
                for (k, d) in [
                    (Key::ArrowLeft, (-step, 0.0)),
                    (Key::ArrowRight, (step, 0.0)),
                    (Key::ArrowUp, (0.0, -step)),
                    (Key::ArrowDown, (0.0, step)),
                ] {
                    if i.consume_key(m, k) {
                        out.push(BoxKey::Nudge(d.0, d.1));
                    }
                }
            }
        }
        out
    });
    ctx.memory_mut(|m| {
        if let Some(id) = m.focused() {
            m.surrender_focus(id);
        }
    });
    out
}

/// Consume this frame's review keys and return them as actions, in a fixed order.
pub fn review_actions(ctx: &egui::Context) -> Vec<KeyAction> {
    if ctx.egui_wants_keyboard_input() {
        return vec![];
    }
    ctx.input_mut(|i| {
        let mut out = Vec::new();
        let cmd_shift = Modifiers::COMMAND | Modifiers::SHIFT;
        if i.consume_key(cmd_shift, Key::Z) {
            out.push(KeyAction::Review(Command::Redo));
        }
        if i.consume_key(Modifiers::COMMAND, Key::Z) {
            out.push(KeyAction::Review(Command::Undo));
        }
        if i.modifiers.command {
            return out;
        }
        if i.consume_key(Modifiers::NONE, Key::Enter) || i.consume_key(Modifiers::NONE, Key::A) {
            out.push(KeyAction::Review(Command::Accept));
        }
        for (n, k) in DIGITS.iter().enumerate() {
            if i.consume_key(Modifiers::NONE, *k) {
                out.push(KeyAction::Review(Command::Pick(n + 1)));
            }
        }
        if i.consume_key(Modifiers::NONE, Key::X) {
            out.push(KeyAction::Review(Command::Reject));
        }
        if i.consume_key(Modifiers::NONE, Key::Space) {
            out.push(KeyAction::Review(Command::Skip));
        }
        if i.consume_key(Modifiers::NONE, Key::F) {
            out.push(KeyAction::Review(Command::Flag));
        }
        if i.consume_key(Modifiers::NONE, Key::ArrowRight)
            || i.consume_key(Modifiers::NONE, Key::ArrowDown)
        {
            out.push(KeyAction::Review(Command::Next));
        }
        if i.consume_key(Modifiers::NONE, Key::ArrowLeft)
            || i.consume_key(Modifiers::NONE, Key::ArrowUp)
        {
            out.push(KeyAction::Review(Command::Prev));
        }
        let question = i.consume_key(Modifiers::NONE, Key::Questionmark)
            || i.events
                .iter()
                .any(|e| matches!(e, egui::Event::Text(t) if t == "?"));
        if question {
            out.push(KeyAction::ToggleHelp);
        }
        out
    })
}

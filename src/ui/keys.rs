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

//! Fonts: egui's defaults plus a CJK font (`assets::find_cjk_font`) as fallback, so Chinese
//! page titles, field labels and label names render everywhere.

use std::path::PathBuf;
use std::sync::Arc;

/// Face index of Simplified Chinese in Noto Sans/Serif CJK collections (JP, KR, SC, TC, HK).
const NOTO_CJK_SC_INDEX: u32 = 2;

/// Font definitions with the CJK fallback, and the file it came from (None: not found).
pub fn definitions() -> (egui::FontDefinitions, Option<PathBuf>) {
    let mut fonts = egui::FontDefinitions::default();
    let Some(path) = crate::assets::find_cjk_font() else {
        return (fonts, None);
    };
    let Ok(bytes) = std::fs::read(&path) else {
        return (fonts, None);
    };
    let mut data = egui::FontData::from_owned(bytes);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.starts_with("NotoSansCJK") || name.starts_with("NotoSerifCJK") {
        data.index = NOTO_CJK_SC_INDEX;
    }
    fonts.font_data.insert("cjk".to_owned(), Arc::new(data));
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        fonts
            .families
            .entry(family)
            .or_default()
            .push("cjk".to_owned());
    }
    (fonts, Some(path))
}

/// Install the fonts into `ctx`; returns the CJK font used.
pub fn install(ctx: &egui::Context) -> Option<PathBuf> {
    let (defs, path) = definitions();
    ctx.set_fonts(defs);
    path
}

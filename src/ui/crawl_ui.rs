//! The Crawl dialog of form projects: seed URLs and the crawl's main options, started as the
//! background job "crawl" (`crawl::run`: progress and cancel in the top bar). Starting the same
//! seeds again resumes a cancelled or interrupted crawl.

use super::i18n::tr;
use super::App;
use crate::crawl::{self, CrawlOptions};
use crate::store::Store;

/// The dialog's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct CrawlForm {
    pub open: bool,
    pub urls: String,
    pub depth: u32,
    pub max_pages: usize,
    pub same_site: bool,
    pub rate: f64,
    pub sitemap: bool,
    /// An industry label for every stored page (empty: none).
    pub industry: String,
}

impl Default for CrawlForm {
    fn default() -> Self {
        let d = CrawlOptions::default();
        CrawlForm {
            open: false,
            urls: String::new(),
            depth: d.depth,
            max_pages: d.max_pages,
            same_site: true,
            rate: d.rate,
            sitemap: false,
            industry: String::new(),
        }
    }
}

impl CrawlForm {
    /// The seeds, one per line (or separated by spaces).
    pub fn seeds(&self) -> Vec<String> {
        self.urls.split_whitespace().map(str::to_string).collect()
    }

    pub fn options(&self) -> CrawlOptions {
        CrawlOptions {
            depth: self.depth,
            max_pages: self.max_pages,
            same_site: self.same_site,
            rate: self.rate,
            sitemap: self.sitemap,
            industry: (!self.industry.is_empty()).then(|| self.industry.clone()),
            ..Default::default()
        }
    }
}

/// The dialog, when open.
pub fn crawl_window(app: &mut App, ctx: &egui::Context) {
    if !app.crawl.open {
        return;
    }
    let lang = app.prefs.lang;
    let Some(p) = app.project.as_ref() else {
        app.crawl.open = false;
        return;
    };
    let path = p.review.path().to_path_buf();
    let industries = p.review.industry_labels.clone();
    let mut open = true;
    let mut start = false;
    let f = &mut app.crawl;
    egui::Window::new(tr(lang, "Crawl"))
        .open(&mut open)
        .collapsible(false)
        .show(ctx, |ui| {
            ui.label(tr(lang, "Seed URLs (one per line)"));
            ui.add(
                egui::TextEdit::multiline(&mut f.urls)
                    .desired_rows(3)
                    .desired_width(420.0)
                    .hint_text("https://m.example.com/"),
            );
            egui::Grid::new("crawl_opts").num_columns(2).show(ui, |ui| {
                ui.label(tr(lang, "Link depth"));
                ui.add(egui::DragValue::new(&mut f.depth).range(0..=10));
                ui.end_row();
                ui.label(tr(lang, "Max pages"));
                ui.add(egui::DragValue::new(&mut f.max_pages).range(1..=100_000));
                ui.end_row();
                ui.label(tr(lang, "Requests per second per host"));
                ui.add(
                    egui::DragValue::new(&mut f.rate)
                        .range(0.1..=20.0)
                        .speed(0.1),
                );
                ui.end_row();
                ui.label(tr(lang, "Industry"));
                let shown = industries
                    .iter()
                    .find(|l| l.name == f.industry)
                    .map(|l| l.shown().to_string())
                    .unwrap_or_else(|| tr(lang, "none").to_string());
                egui::ComboBox::from_id_salt("crawl_industry")
                    .selected_text(shown)
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut f.industry, String::new(), tr(lang, "none"));
                        for l in &industries {
                            ui.selectable_value(&mut f.industry, l.name.clone(), l.shown());
                        }
                    });
                ui.end_row();
            });
            ui.checkbox(&mut f.same_site, tr(lang, "Stay on the seeds' sites"));
            ui.checkbox(&mut f.sitemap, tr(lang, "Also start from their sitemaps"));
            ui.label(tr(
                lang,
                "robots.txt is honoured; the same seeds again resume a cancelled crawl.",
            ));
            let ok = !f.seeds().is_empty();
            if ui
                .add_enabled(ok, egui::Button::new(tr(lang, "Start crawl")))
                .clicked()
            {
                start = true;
            }
        });
    if start {
        let (seeds, opts) = (app.crawl.seeds(), app.crawl.options());
        app.crawl.open = false;
        app.spawn_job("crawl", ctx, None, move |jctx| {
            let mut store = Store::open(&path)?;
            let summary = crawl::run(&mut store, &seeds, &opts, jctx)?;
            Ok(summary.to_string())
        });
    } else if !open {
        app.crawl.open = false;
    }
}

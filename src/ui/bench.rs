//! Headless frame-time benchmark of the review screen on a large project: the real `App`
//! drawn with an `egui::Context` (layout + tessellation, no GPU), one key press per frame, so
//! the numbers include queue handling, worker replies and text layout.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{App, Prefs};
use crate::domain::{sets, ItemKind, NewItem, NewLabel, TaskKind};
use crate::store::predictions::NewPrediction;
use crate::store::Store;

/// Frame times of the review screen.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FrameBench {
    pub items: usize,
    pub frames: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    /// Time to build the project (not part of the frame times).
    pub setup_s: f64,
    /// Decisions recorded during the run (checked against the database).
    pub decisions: i64,
}

impl std::fmt::Display for FrameBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "review screen, {} items, {} frames: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms ({} decisions saved)",
            self.items, self.frames, self.p50_ms, self.p95_ms, self.max_ms, self.decisions
        )
    }
}

/// Build a project with `items` predicted images in `dir` and measure `frames` frames of the
/// review screen, pressing Enter (accept) on every other frame and a digit on the others.
/// Between two key frames the worker is let finish (not timed), as between two human presses.
pub fn frame_time_bench(dir: &Path, items: usize, frames: usize) -> anyhow::Result<FrameBench> {
    anyhow::ensure!(
        frames > 0 && items > 0,
        "the benchmark needs at least one item and one frame"
    );
    let t0 = Instant::now();
    let path = dir.join("frame-bench.yuxuan");
    let _ = std::fs::remove_file(&path);
    let labels = ["cat", "dog", "bird", "fish", "other"];
    {
        let mut store = Store::create(&path, "frame bench", TaskKind::Image)?;
        store.add_labels(
            sets::CLASS,
            &labels
                .iter()
                .map(|l| NewLabel::named(*l))
                .collect::<Vec<_>>(),
        )?;
        let news: Vec<NewItem> = (0..items)
            .map(|i| {
                let mut it = NewItem::new(ItemKind::Image, format!("missing/{i:07}.png"));
                // No content hash: the store's dedup lookup is not what this measures (and is
                // quadratic on 100k items while it cannot use the partial dedup index).
                it.position = i as i64;
                it
            })
            .collect();
        let ids = store.insert_items(&news)?;
        let preds: Vec<NewPrediction> = ids
            .iter()
            .enumerate()
            .map(|(i, ins)| {
                let a = 0.4 + (i % 50) as f64 / 100.0;
                NewPrediction {
                    item_id: ins.id(),
                    top: vec![
                        (labels[i % 5].to_string(), a),
                        (labels[(i + 1) % 5].to_string(), 1.0 - a),
                    ],
                }
            })
            .collect();
        store.put_predictions(sets::CLASS, None, &preds)?;
    }
    let setup_s = t0.elapsed().as_secs_f64();
    let ctx = egui::Context::default();
    let prefs = Prefs {
        annotator: "bench".into(),
        ..Default::default()
    };
    let mut app = App::new(prefs, Some(path.clone()));
    let mut raw = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1280.0, 800.0),
        )),
        ..Default::default()
    };
    let run = |app: &mut App, events: Vec<egui::Event>, raw: &mut egui::RawInput| -> Duration {
        raw.events = events;
        let start = Instant::now();
        let mut out = ctx.run_ui(raw.clone(), |ui| app.show(ui));
        let _ = ctx.tessellate(out.shapes, out.pixels_per_point);
        // No GPU here: the texture uploads are dropped (their cost is measured by the frame).
        out.textures_delta.clear();
        start.elapsed()
    };
    // Warm up: open (on its thread), build the queue, load the first items.
    run(&mut app, vec![], &mut raw);
    let opened = Instant::now();
    while app.is_opening() && opened.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(10));
        run(&mut app, vec![], &mut raw);
    }
    anyhow::ensure!(app.project.is_some(), "the bench project did not open");
    if let Some(p) = app.project.as_mut() {
        p.review.wait_idle(Duration::from_secs(120));
    }
    for _ in 0..3 {
        run(&mut app, vec![], &mut raw);
    }
    let key = |k: egui::Key| egui::Event::Key {
        key: k,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers: egui::Modifiers::NONE,
    };
    let mut times = Vec::with_capacity(frames);
    for f in 0..frames {
        let k = if f % 2 == 0 {
            egui::Key::Enter
        } else {
            egui::Key::Num2
        };
        // An annotator needs far more than the save takes to look at an item: let the worker
        // finish (outside the timed frame), as it does between two real key presses.
        if let Some(p) = app.project.as_mut() {
            p.review.wait_idle(Duration::from_secs(10));
        }
        times.push(run(&mut app, vec![key(k)], &mut raw).as_secs_f64() * 1000.0);
    }
    if let Some(p) = app.project.as_mut() {
        p.review.wait_idle(Duration::from_secs(60));
    }
    let decisions = Store::open(&path)?.decision_count()?;
    times.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    Ok(FrameBench {
        items,
        frames,
        p50_ms: pick(0.5),
        p95_ms: pick(0.95),
        max_ms: *times.last().unwrap_or(&0.0),
        setup_s,
        decisions,
    })
}

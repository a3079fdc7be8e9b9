//! Exports of object projects in the box formats other tools read (COCO, YOLO, Pascal VOC,
//! labelme, Label Studio; the formats themselves are [`super::boxes`]): the finished images
//! with their current boxes (an image finished with no box is exported with none: "nothing
//! here" is an answer), and with `include_predictions` the detector's proposals of the other
//! images as scored boxes (COCO: a results file; Label Studio: `predictions`; YOLO: a
//! confidence column). Splits are drawn per image's first label with the seed; images are
//! copied (or hard-linked) where each format expects them.

use std::collections::HashMap;
use std::path::Path;

use super::boxes::{self, BoxDataset, BoxFormat, ImageBoxes, LabeledBox, Split};
use super::safe_name::{safe_file_name, NameAllocator};
use super::split::SplitPlanner;
use super::{atomic::AtomicDir, ExchangeError, ExportRequest, ExportSummary, LinkMode, Result};
use crate::domain::{sets, ItemKind};
use crate::jobs::JobCtx;
use crate::store::Store;

fn format_error(e: boxes::BoxFormatError) -> ExchangeError {
    ExchangeError::BadOutput(std::path::PathBuf::new(), e.to_string())
}

/// Export the project's boxes in `format` into `dir`.
pub(crate) fn export(
    store: &Store,
    req: &ExportRequest,
    format: BoxFormat,
    dir: &AtomicDir,
    ctx: &JobCtx,
    summary: &mut ExportSummary,
) -> Result<serde_json::Value> {
    let labels: Vec<String> = store
        .labels(sets::OBJECT)?
        .into_iter()
        .map(|l| l.name)
        .collect();
    let finished: HashMap<i64, String> = store.current_labels(sets::OBJECT)?.into_iter().collect();
    let mut human: HashMap<i64, Vec<LabeledBox>> = HashMap::new();
    for (item, b) in store.all_item_boxes(sets::OBJECT)? {
        human
            .entry(item)
            .or_default()
            .push(LabeledBox::new(b.label, b.bbox));
    }
    let items = store.items_of_kind(ItemKind::Image)?;
    let keeps_bytes = store.keeps_file_bytes()?;
    ctx.set_total(items.len() as u64);
    let mut chosen = Vec::new();
    let mut n = 0u64;
    for it in items {
        super::tick(ctx, &mut n)?;
        summary.items += 1;
        if it.error.is_some() {
            summary.with_errors += 1;
            continue;
        }
        let boxes = if finished.contains_key(&it.id) {
            summary.human += 1;
            human.remove(&it.id).unwrap_or_default()
        } else if req.include_predictions {
            let preds: Vec<LabeledBox> = store
                .box_predictions(it.id, sets::OBJECT)?
                .into_iter()
                .filter(|p| p.score >= req.min_score)
                .map(|p| LabeledBox::predicted(p.label, p.bbox, p.score))
                .collect();
            if preds.is_empty() {
                summary.unlabeled += 1;
                continue;
            }
            summary.machine += 1;
            summary.with_prediction += 1;
            preds
        } else {
            summary.unlabeled += 1;
            continue;
        };
        chosen.push((it, boxes));
    }
    // Splits per image, drawn within its first box's label (images without boxes together).
    let split: Option<HashMap<i64, u8>> = req.split.map(|f| {
        let mut p = SplitPlanner::default();
        for (it, b) in &chosen {
            p.add(it.id, b.first().map(|b| b.label.as_str()).unwrap_or(""));
        }
        p.assign(f, req.seed)
    });
    let mut names: HashMap<Option<Split>, NameAllocator> = HashMap::new();
    let mut ds = BoxDataset {
        labels,
        images: Vec::with_capacity(chosen.len()),
    };
    let mut sources = Vec::with_capacity(chosen.len());
    let mut per_split = [0u64; 3];
    for (it, b) in chosen {
        let s = split.as_ref().map(|m| {
            let k = m.get(&it.id).copied().unwrap_or(0);
            per_split[k as usize] += 1;
            Split::ALL[k as usize]
        });
        // VOC and Label Studio keep every image in one folder: names unique over the dataset.
        let scope = match format {
            BoxFormat::Voc | BoxFormat::LabelStudio => None,
            _ => s,
        };
        let name = names
            .entry(scope)
            .or_default()
            .unique(&safe_file_name(&it.source_path));
        let mut img = ImageBoxes::new(
            name,
            it.width.unwrap_or(0).max(0) as u32,
            it.height.unwrap_or(0).max(0) as u32,
        );
        img.boxes = b;
        img.split = s;
        sources.push((it.id, it.source_path.clone(), it.content_hash.clone()));
        ds.images.push(img);
    }
    if split.is_some() {
        summary.per_split = Split::ALL
            .iter()
            .zip(per_split)
            .map(|(s, n)| (s.as_str().to_string(), n))
            .collect();
    }
    let opts = boxes::WriteOptions {
        label_studio_document_root: req.ls_document_root.clone(),
    };
    let root = dir.path();
    let written = boxes::write(&ds, format, root, &opts).map_err(format_error)?;
    ctx.set_message("copying images");
    for (img, (item, source, hash)) in ds.images.iter().zip(&sources) {
        ctx.check()?;
        let dst = root.join(boxes::image_dest(format, img));
        place(
            store,
            keeps_bytes,
            req.link,
            *item,
            source,
            hash.as_deref(),
            &dst,
            summary,
        )?;
    }
    if format == BoxFormat::LabelStudio {
        summary.next_steps.push(
            "Label Studio: serve the images folder as local files (LOCAL_FILES_SERVING_ENABLED=true) \
             and import tasks.json into a project with a RectangleLabels config"
                .into(),
        );
    }
    Ok(serde_json::json!({
        "box_format": format.name(),
        "annotation_files": written.files,
        "boxes": written.boxes,
        "predicted_boxes": written.predictions,
        "clipped_boxes": written.clipped,
        "labels": ds.labels,
    }))
}

#[allow(clippy::too_many_arguments)]
fn place(
    store: &Store,
    keeps_bytes: bool,
    link: LinkMode,
    item: i64,
    source: &str,
    hash: Option<&str>,
    dst: &Path,
    summary: &mut ExportSummary,
) -> Result<()> {
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ExchangeError::io(parent, e))?;
    }
    let local = store.local_file_with(keeps_bytes, source, hash)?;
    let src = local.as_path();
    let missing = |e: std::io::Error| ExchangeError::MissingSource {
        item,
        path: src.to_path_buf(),
        source: e,
    };
    if link == LinkMode::Hard && std::fs::hard_link(src, dst).is_ok() {
        summary.files_linked += 1;
        return Ok(());
    }
    std::fs::copy(src, dst).map_err(|e| {
        if src.exists() {
            ExchangeError::io(dst, e)
        } else {
            missing(e)
        }
    })?;
    summary.files_copied += 1;
    Ok(())
}

/// What a box import did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct BoxImportSummary {
    pub format: String,
    /// Images of the source.
    pub images: usize,
    /// Images matched to the project's images (by the longest common path suffix).
    pub matched: usize,
    /// Human boxes recorded (as drawn boxes of the importing annotator, each image finished).
    pub boxes: usize,
    /// Scored boxes stored as proposals (they show in review like the detector's).
    pub predictions: usize,
    /// Images of the project that already had decisions and were left as they are.
    pub kept: usize,
    /// Labels the project did not have and got.
    pub labels_added: Vec<String>,
    /// Source images that match no image of the project (or several).
    pub unmatched: Vec<String>,
}

impl std::fmt::Display for BoxImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} import: {} of {} images matched, {} boxes recorded, {} proposals stored, {} images kept as decided",
            self.format, self.matched, self.images, self.boxes, self.predictions, self.kept
        )?;
        if !self.labels_added.is_empty() {
            write!(f, ", new labels: {}", self.labels_added.join(", "))?;
        }
        if !self.unmatched.is_empty() {
            write!(f, ", {} images not in the project", self.unmatched.len())?;
        }
        Ok(())
    }
}

/// Import boxes made in another tool (any [`BoxFormat`]; `format` None: detected) into an
/// object project: an image's human boxes become `draw` decisions of `annotator` and finish
/// the image (one transaction per image); scored boxes become the image's proposals. Images
/// that already have decisions are kept as they are.
pub fn import_boxes(
    store: &mut Store,
    path: &Path,
    format: Option<BoxFormat>,
    annotator: &str,
    ctx: &JobCtx,
) -> anyhow::Result<BoxImportSummary> {
    use crate::domain::{Action, BoxAction, NewBoxDecision, NewDecision, TaskKind};
    use crate::store::boxes::{NewBoxPrediction, IMAGE_DONE};
    let kind = store.project()?.kind;
    anyhow::ensure!(
        kind == TaskKind::Objects,
        "box formats are imported into object projects (this is a {} project)",
        kind.as_str()
    );
    let format = match format {
        Some(f) => f,
        None => BoxFormat::detect(path).ok_or_else(|| {
            anyhow::anyhow!(
                "cannot tell the box format of {} (COCO JSON, YOLO data.yaml or folder, VOC XML, \
                 labelme JSON, Label Studio JSON): give --format",
                path.display()
            )
        })?,
    };
    let ds = format.read(path)?;
    let mut summary = BoxImportSummary {
        format: format.name().into(),
        images: ds.images.len(),
        ..Default::default()
    };
    let have: Vec<String> = store
        .labels(sets::OBJECT)?
        .into_iter()
        .map(|l| l.name)
        .collect();
    let new: Vec<String> = ds
        .all_labels()
        .into_iter()
        .filter(|l| !have.contains(l))
        .collect();
    if !new.is_empty() {
        let labels: Vec<_> = new.iter().map(crate::domain::NewLabel::named).collect();
        store.add_labels(sets::OBJECT, &labels)?;
        summary.labels_added = new;
    }
    let items: Vec<(i64, String)> = store
        .items_of_kind(ItemKind::Image)?
        .into_iter()
        .map(|i| (i.id, i.source_path))
        .collect();
    let files: Vec<String> = ds.images.iter().map(|i| i.file.clone()).collect();
    let matched = match_files(&items, &files);
    let decided: std::collections::HashSet<i64> = store
        .current_labels(sets::OBJECT)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ctx.set_total(ds.images.len() as u64);
    let mut proposals = Vec::new();
    for (k, img) in ds.images.iter().enumerate() {
        ctx.check()?;
        ctx.inc(1);
        let Some(&item) = matched.get(&k) else {
            summary.unmatched.push(img.file.clone());
            continue;
        };
        summary.matched += 1;
        let (scored, human): (Vec<&LabeledBox>, Vec<&LabeledBox>) =
            img.boxes.iter().partition(|b| b.score.is_some());
        if !scored.is_empty() {
            summary.predictions += scored.len();
            proposals.push((
                item,
                scored
                    .iter()
                    .map(|b| NewBoxPrediction {
                        label: b.label.clone(),
                        score: b.score.unwrap_or(1.0),
                        bbox: b.bbox,
                    })
                    .collect::<Vec<_>>(),
            ));
        }
        // An image with only predictions stays open; one with human boxes (or none at all:
        // "no objects here") is finished with them.
        if !scored.is_empty() && human.is_empty() {
            continue;
        }
        if decided.contains(&item) {
            summary.kept += 1;
            continue;
        }
        let ds: Vec<NewBoxDecision> = human
            .iter()
            .enumerate()
            .map(|(j, b)| NewBoxDecision {
                item_id: item,
                label_set: sets::OBJECT.into(),
                box_uid: format!("i{item}-{j}"),
                action: BoxAction::Draw,
                label: Some(b.label.clone()),
                bbox: Some(b.bbox),
                score: None,
                annotator: annotator.into(),
                ms_spent: 0,
            })
            .collect();
        let finish = NewDecision {
            item_id: item,
            label_set: sets::OBJECT.into(),
            label: Some(IMAGE_DONE.into()),
            annotator: annotator.into(),
            action: Action::Correct,
            ms_spent: 0,
            prediction_id: None,
        };
        store.record_box_decisions(&ds, Some(&finish))?;
        summary.boxes += ds.len();
    }
    if !proposals.is_empty() {
        store.put_box_predictions(sets::OBJECT, format.name(), None, &proposals)?;
    }
    Ok(summary)
}

/// The project image each dataset file names (imports, simulate): the image whose recorded path ends with the most of the
/// file's path components (at least its file name); ambiguous file names match nothing.
pub fn match_files(items: &[(i64, String)], files: &[String]) -> HashMap<usize, i64> {
    fn parts(p: &str) -> Vec<&str> {
        p.split(['/', '\\'])
            .filter(|s| !s.is_empty() && *s != ".")
            .collect()
    }
    let item_parts: Vec<(i64, Vec<&str>)> = items.iter().map(|(id, p)| (*id, parts(p))).collect();
    let mut out = HashMap::new();
    for (k, f) in files.iter().enumerate() {
        let fp = parts(f);
        let mut best: Option<(usize, i64)> = None;
        let mut tie = false;
        for (id, ip) in &item_parts {
            let n = fp
                .iter()
                .rev()
                .zip(ip.iter().rev())
                .take_while(|(a, b)| a == b)
                .count();
            if n == 0 {
                continue;
            }
            match best {
                Some((m, _)) if n < m => {}
                Some((m, _)) if n == m => tie = true,
                _ => {
                    best = Some((n, *id));
                    tie = false;
                }
            }
        }
        if let (Some((_, id)), false) = (best, tie) {
            out.insert(k, id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_match_items_by_the_longest_path_suffix() {
        let items = vec![
            (1, "/data/a/img/1.jpg".to_string()),
            (2, "/data/b/img/1.jpg".to_string()),
            (3, "/data/b/img/2.jpg".to_string()),
        ];
        let files = vec![
            "b/img/1.jpg".to_string(),
            "2.jpg".to_string(),
            "img/1.jpg".to_string(), // ambiguous
            "3.jpg".to_string(),     // no such image
        ];
        let m = match_files(&items, &files);
        assert_eq!(m.get(&0), Some(&2));
        assert_eq!(m.get(&1), Some(&3));
        assert_eq!(m.get(&2), None);
        assert_eq!(m.get(&3), None);
    }
}

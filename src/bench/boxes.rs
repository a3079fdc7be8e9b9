//! Row `boxes`: how much of the box work the pre-labels save. On every set of real photos
//! with true boxes that setup installs, an object project pre-labelled by the default detector
//! (YOLO11n, the review screen's default threshold 0.25) is replayed by the truth-knowing
//! annotator of `simulate` (the fewest edits: relabel, adjust, delete, draw); the row prints
//! **edits per truth box** per set and over all boxes, next to drawing everything by hand
//! (1.0), and AP50 of the pre-labels. Nothing here is tuned on these sets: the threshold is
//! ultralytics' default and the labels are the sets' own names mapped to COCO classes where
//! COCO has them (`pedestrian=person`, `sofa=couch`, the bear sample's `xiaoduxiong=teddy bear`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{BenchConfig, Measured, Metric, RowOutcome, Target};
use crate::domain::{BBox, TaskKind};
use crate::jobs::JobCtx;
use crate::kinds::NewProject;
use crate::simulate::boxes_oracle::Truth;
use crate::simulate::objects::{self as osim, ObjectSimOptions};
use crate::store::Store;

/// The measure of the static detector at threshold 0.25 on undisclosed real photos.
pub const TARGET_EDITS_PER_BOX: f64 = 0.79;

/// One set: name, project labels, images, true boxes by image file name.
struct BoxSet {
    name: &'static str,
    labels: Vec<String>,
    images: Vec<PathBuf>,
    truth: TruthByFile,
}

fn boxes_dir() -> PathBuf {
    crate::assets::cache_dir().join("data-v1").join("boxes")
}

/// MOT17's `gt.txt` (`frame,id,x,y,w,h,flag,class,visibility`, 1-based pixels): the boxes
/// MOT17's evaluation counts (class 1 pedestrian, flag 1).
fn mot_truth(dir: &Path) -> anyhow::Result<TruthByFile> {
    let text = std::fs::read_to_string(dir.join("gt").join("gt.txt"))?;
    let mut out: HashMap<String, Vec<Truth>> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        anyhow::ensure!(f.len() >= 8, "gt.txt line {}: {line:?}", n + 1);
        let num = |i: usize| -> anyhow::Result<f64> {
            f[i].parse::<f64>()
                .map_err(|e| anyhow::anyhow!("gt.txt line {}: {e}", n + 1))
        };
        if f[6] != "1" || f[7] != "1" {
            continue;
        }
        let frame = num(0)? as u64;
        let b = BBox::new(num(2)? - 1.0, num(3)? - 1.0, num(4)?, num(5)?);
        out.entry(format!("{frame:06}.jpg"))
            .or_default()
            .push(Truth {
                label: "pedestrian".into(),
                bbox: b,
            });
    }
    Ok(out)
}

/// True boxes by image file name.
type TruthByFile = HashMap<String, Vec<Truth>>;

fn from_dataset(
    path: &Path,
    rename: &[(&str, &str)],
) -> anyhow::Result<(Vec<PathBuf>, TruthByFile)> {
    let ds = crate::exchange::boxes::read(path)?;
    let root = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().unwrap_or(Path::new(".")).to_path_buf()
    };
    let mut images = Vec::new();
    let mut truth = HashMap::new();
    for img in &ds.images {
        let p = if Path::new(&img.file).is_absolute() {
            PathBuf::from(&img.file)
        } else {
            root.join(&img.file)
        };
        let t: Vec<Truth> = img
            .boxes
            .iter()
            .map(|b| Truth {
                label: rename
                    .iter()
                    .find(|(from, _)| *from == b.label)
                    .map(|(_, to)| to.to_string())
                    .unwrap_or_else(|| b.label.clone()),
                bbox: b.bbox,
            })
            .collect();
        truth.insert(img.file_name().to_string(), t);
        images.push(p);
    }
    Ok((images, truth))
}

fn sets() -> anyhow::Result<Vec<BoxSet>> {
    let root = boxes_dir();
    anyhow::ensure!(
        root.join(".yuxuan-ok").exists(),
        "the photos with boxes are not installed at {}; {}",
        root.display(),
        crate::assets::SETUP_HINT
    );
    let mut out = Vec::new();
    let mot = root.join("mot17").join("MOT17-02-FRCNN");
    let mut frames: Vec<PathBuf> = std::fs::read_dir(mot.join("img1"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    frames.sort();
    out.push(BoxSet {
        name: "MOT17-02 street frames (pedestrians)",
        labels: vec!["pedestrian=person".into()],
        images: frames,
        truth: mot_truth(&mot)?,
    });
    let voc = root.join("labelme/bbox_detection/data_dataset_voc");
    let (images, truth) = from_dataset(&voc, &[("sofa", "couch")])?;
    out.push(BoxSet {
        name: "Pascal VOC photos (labelme examples)",
        labels: ["person", "bus", "car", "bottle", "chair", "couch"]
            .map(String::from)
            .to_vec(),
        images,
        truth,
    });
    let (images, truth) = from_dataset(&root.join("sahi/terrain2_coco.json"), &[])?;
    out.push(BoxSet {
        name: "aerial cars (sahi demo)",
        labels: vec!["car".into()],
        images,
        truth,
    });
    let bear = root.join("paddlelabel/bear/detection/voc");
    let (images, truth) = from_dataset(&bear, &[])?;
    out.push(BoxSet {
        name: "toy bear (paddlelabel sample)",
        labels: vec!["xiaoduxiong=teddy bear".into()],
        images,
        truth,
    });
    Ok(out)
}

pub fn run_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    if !crate::ml::objects::default_detector_path().exists() {
        return Ok(RowOutcome::NotAvailable(format!(
            "YOLO11n is not installed ({}); {}",
            crate::ml::objects::default_detector_path().display(),
            crate::assets::SETUP_HINT
        )));
    }
    let tmp = tempfile::Builder::new()
        .prefix("bench-boxes")
        .tempdir_in(&cfg.dir)?;
    let mut m = Measured::default();
    let (mut edits, mut truth_boxes) = (0usize, 0usize);
    for (k, set) in sets()?.into_iter().enumerate() {
        let path = tmp.path().join(format!("set{k}.yuxuan"));
        let new = NewProject {
            labels: set.labels.clone(),
            ..Default::default()
        };
        let mut store = Store::create_project(&path, set.name, TaskKind::Objects, &new)?;
        crate::ingest::import_paths(
            &mut store,
            &set.images,
            &Default::default(),
            &JobCtx::new("import"),
        )?;
        crate::ml::objects::prelabel(
            &mut store,
            &crate::ml::detector::DetectOptions {
                conf: 0.05,
                ..Default::default()
            },
            &JobCtx::new("prelabel"),
        )?;
        let mut truth = HashMap::new();
        for it in store.items_of_kind(crate::domain::ItemKind::Image)? {
            let name = Path::new(&it.source_path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some(t) = set.truth.get(&name) {
                truth.insert(it.id, t.clone());
            }
        }
        let opts = ObjectSimOptions {
            batch: usize::MAX,
            ..Default::default()
        };
        let (_, s) = osim::run(&mut store, &truth, &opts, "bench", &JobCtx::new("simulate"))?;
        edits += s.last.edits;
        truth_boxes += s.last.truth_boxes;
        m.metrics.push(
            Metric::new(
                format!("{}: edits per truth box", set.name),
                s.last.edits_per_truth_box,
                "edits/box",
            )
            .reference("drawing every box by hand", 1.0, "edits/box"),
        );
        m.metrics.push(Metric::new(
            format!("{}: AP50 of the pre-labels", set.name),
            s.ap50,
            "",
        ));
        m.notes.push(format!(
            "{}: {} images, {} truth boxes, {} shown; {} relabels, {} adjusts, {} deletes, {} draws",
            set.name,
            s.last.images,
            s.last.truth_boxes,
            s.last.shown_boxes,
            s.last.relabels,
            s.last.adjusts,
            s.last.deletes,
            s.last.draws
        ));
    }
    anyhow::ensure!(truth_boxes > 0, "no truth box matched an image");
    m.metrics.insert(
        0,
        Metric::new(
            "all sets: edits per truth box (YOLO11n, threshold 0.25)",
            edits as f64 / truth_boxes as f64,
            "edits/box",
        )
        .target(Target::below(TARGET_EDITS_PER_BOX + 1e-9))
        .reference("drawing every box by hand", 1.0, "edits/box"),
    );
    Ok(m.into())
}

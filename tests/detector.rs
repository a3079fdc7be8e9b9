//! The YOLO11n COCO detector (src/ml/detector.rs) against ultralytics itself: on every RGB
//! sample photo of scikit-image, the Rust letterbox + decode + NMS find the boxes that
//! ultralytics 8.4.190's `model.predict()` found with the same TorchScript export
//! (`reference.json`, written by scripts/setup_yolo.sh). Needs `make setup`; never skipped.

use std::path::PathBuf;

use yuxuan::ml::detector::{DetectOptions, Detection, Detector, DetectorError, YOLO11N_FILE};

#[derive(Debug, serde::Deserialize)]
struct Reference {
    ultralytics_version: String,
    model_sha256: String,
    imgsz: u32,
    conf: f32,
    iou: f32,
    max_det: usize,
    images: Vec<RefImage>,
}

#[derive(Debug, serde::Deserialize)]
struct RefImage {
    file: String,
    width: u32,
    height: u32,
    boxes: Vec<RefBox>,
}

#[derive(Debug, serde::Deserialize)]
struct RefBox {
    xyxy: [f64; 4],
    class_id: usize,
    class_name: String,
    confidence: f32,
}

const MAX_CORNER_PX: f64 = 1.5;
const MAX_SCORE_DIFF: f32 = 0.02;

fn installed() -> (PathBuf, Reference) {
    let dir = yuxuan::assets::yolo11n_dir();
    let model = dir.join(YOLO11N_FILE);
    let reference = dir.join("reference.json");
    for p in [&model, &reference] {
        assert!(
            p.is_file(),
            "{} is missing: run `make setup` (scripts/setup_yolo.sh installs YOLO11n)",
            p.display()
        );
    }
    let text = std::fs::read_to_string(&reference).unwrap();
    let r: Reference = serde_json::from_str(&text).unwrap();
    (model, r)
}

fn load_detector() -> Detector {
    Detector::load_installed(tch::Device::Cpu)
        .unwrap_or_else(|e| panic!("the installed YOLO11n does not load: {e}"))
}

fn image(file: &str) -> image::RgbImage {
    let path = yuxuan::assets::photos_dir().join(file);
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make setup`)", path.display()))
        .to_rgb8()
}

/// Largest corner distance (px) between a detection and a reference box.
fn corner_dev(d: &Detection, r: &RefBox) -> f64 {
    let [x1, y1, x2, y2] = r.xyxy;
    let b = d.bbox;
    [(b.x - x1), (b.y - y1), (b.x2() - x2), (b.y2() - y2)]
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Pair every reference box with a detection of its class, greedily by IoU (highest first).
fn greedy_match<'a>(dets: &'a [Detection], refs: &[RefBox]) -> Vec<(usize, Option<&'a Detection>)> {
    let mut pairs = Vec::new();
    for (ri, r) in refs.iter().enumerate() {
        let rb = yuxuan::domain::BBox::from_corners(r.xyxy[0], r.xyxy[1], r.xyxy[2], r.xyxy[3]);
        for (di, d) in dets.iter().enumerate() {
            if d.class_id == r.class_id {
                pairs.push((rb.iou(&d.bbox), ri, di));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut used_r = vec![false; refs.len()];
    let mut used_d = vec![false; dets.len()];
    let mut out: Vec<(usize, Option<&Detection>)> = (0..refs.len()).map(|i| (i, None)).collect();
    for (_, ri, di) in pairs {
        if !used_r[ri] && !used_d[di] {
            used_r[ri] = true;
            used_d[di] = true;
            out[ri].1 = Some(&dets[di]);
        }
    }
    out
}

#[test]
fn yolo11n_finds_the_boxes_ultralytics_finds_on_the_sample_photos() {
    let (model, reference) = installed();
    let det = load_detector();
    let sha = std::fs::read_to_string(model.with_extension("torchscript.sha256")).unwrap();
    assert!(
        sha.starts_with(&reference.model_sha256),
        "reference.json was made on another export than {}: rerun scripts/setup_yolo.sh",
        model.display()
    );
    assert_eq!(det.info().task, "detect");
    assert_eq!(
        (det.info().input_w, det.info().input_h),
        (reference.imgsz, reference.imgsz)
    );
    assert_eq!(det.input_size(), reference.imgsz as usize);
    assert_eq!(det.class_names().len(), 80);
    assert_eq!(det.class_names()[0], "person");
    let opts = DetectOptions {
        conf: reference.conf,
        iou: reference.iou,
        max_det: reference.max_det,
    };
    println!(
        "YOLO11n vs ultralytics {} (conf {}, iou {}):",
        reference.ultralytics_version, opts.conf, opts.iou
    );
    let (mut worst_px, mut worst_score, mut n_boxes) = (0.0f64, 0.0f32, 0usize);
    let mut failures = Vec::new();
    for r in &reference.images {
        let img = image(&r.file);
        assert_eq!(
            (img.width(), img.height()),
            (r.width, r.height),
            "{}",
            r.file
        );
        let t0 = std::time::Instant::now();
        let dets = det.detect(&img, &opts).unwrap();
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let (mut img_px, mut img_score) = (0.0f64, 0.0f32);
        let mut problems = Vec::new();
        if dets.len() != r.boxes.len() {
            problems.push(format!(
                "{} boxes, ultralytics {}: {:?} vs {:?}",
                dets.len(),
                r.boxes.len(),
                dets.iter().map(|d| (&d.label, d.score)).collect::<Vec<_>>(),
                r.boxes
                    .iter()
                    .map(|b| (&b.class_name, b.confidence))
                    .collect::<Vec<_>>()
            ));
        }
        for (ri, d) in greedy_match(&dets, &r.boxes) {
            let rb = &r.boxes[ri];
            let Some(d) = d else {
                problems.push(format!("no {} ({:.3}) found", rb.class_name, rb.confidence));
                continue;
            };
            assert_eq!(d.label, rb.class_name);
            let px = corner_dev(d, rb);
            let ds = (d.score - rb.confidence).abs();
            img_px = img_px.max(px);
            img_score = img_score.max(ds);
            n_boxes += 1;
            if px > MAX_CORNER_PX || ds > MAX_SCORE_DIFF {
                problems.push(format!(
                    "{}: corners off by {px:.3} px, score {:.4} vs {:.4}",
                    rb.class_name, d.score, rb.confidence
                ));
            }
        }
        worst_px = worst_px.max(img_px);
        worst_score = worst_score.max(img_score);
        println!(
            "  {:22} {:>4}x{:<4} {:>2} boxes [{}]  max corner dev {:.4} px, max score dev {:.5}  ({ms:.0} ms){}",
            r.file,
            r.width,
            r.height,
            dets.len(),
            dets.iter()
                .map(|d| format!("{} {:.2}", d.label, d.score))
                .collect::<Vec<_>>()
                .join(", "),
            img_px,
            img_score,
            if problems.is_empty() { "" } else { "  MISMATCH" }
        );
        failures.extend(problems.into_iter().map(|p| format!("{}: {p}", r.file)));
    }
    println!(
        "  {} images, {n_boxes} boxes: max corner deviation {worst_px:.4} px, max score deviation {worst_score:.5}",
        reference.images.len()
    );
    assert!(
        n_boxes >= 8,
        "too few reference boxes ({n_boxes}) to mean anything"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_batch_gives_the_boxes_of_single_images() {
    let (_, reference) = installed();
    let det = load_detector();
    let opts = DetectOptions::default();
    let files: Vec<&str> = reference
        .images
        .iter()
        .take(4)
        .map(|r| r.file.as_str())
        .collect();
    // Prepared on worker threads, as a pipelined caller would.
    let prepared: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .iter()
            .map(|f| {
                let det = &det;
                s.spawn(move || det.prepare(&image(f)).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let batched = det.forward_decode(&prepared, &opts).unwrap();
    assert_eq!(batched.len(), files.len());
    for (f, got) in files.iter().zip(&batched) {
        let single = det.detect(&image(f), &opts).unwrap();
        assert_eq!(got.len(), single.len(), "{f}");
        for (a, b) in got.iter().zip(&single) {
            assert_eq!(a.class_id, b.class_id, "{f}");
            assert!((a.score - b.score).abs() < 1e-3, "{f}: {a:?} vs {b:?}");
            assert!(a.bbox.iou(&b.bbox) > 0.999, "{f}: {a:?} vs {b:?}");
        }
    }
}

#[test]
fn a_damaged_or_foreign_model_file_is_refused() {
    let (model, _) = installed();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(YOLO11N_FILE);
    std::fs::copy(&model, &copy).unwrap();
    std::fs::write(
        dir.path().join(format!("{YOLO11N_FILE}.sha256")),
        format!("{}  {YOLO11N_FILE}\n", "0".repeat(64)),
    )
    .unwrap();
    let err = Detector::load(&copy, tch::Device::Cpu).unwrap_err();
    assert!(matches!(err, DetectorError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("make setup"), "{err}");
    // A zip that is not an ultralytics export (no extra/config.txt), like a plain TorchScript file.
    let foreign = dir.path().join("foreign.torchscript");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&foreign).unwrap());
    let stored =
        zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("foreign/data.pkl", stored).unwrap();
    std::io::Write::write_all(&mut zip, b"not a model").unwrap();
    zip.finish().unwrap();
    let err = Detector::load(&foreign, tch::Device::Cpu).unwrap_err();
    assert!(matches!(err, DetectorError::NotUltralytics { .. }), "{err}");
    assert!(err.to_string().contains("extra/config.txt"), "{err}");
}

//! Row `detect`: object pre-labelling speed. Images/s of the product's pipeline exactly as
//! `yuxuan prelabel` runs it on an objects project (`ml::objects::prelabel`: detector load,
//! DCT-scaled decode on the workers, letterbox, forward, decode + NMS, boxes stored), next to
//! - the bare forward loop of the same export on letterboxed tensors already in memory (the
//!   upper bound of any pipeline on this machine),
//! - what an ultralytics user gets on the same machine, in the same run:
//!   `YOLO(export, task="detect").predict(paths, stream=True, imgsz=640, conf=0.25, iou=0.7,
//!   device="cpu")` at the same torch thread count (`scripts/bench_detect_reference.py`, a
//!   server process whose passes alternate with the product's, so that this VM's drift in
//!   speed cannot tip the ratio; the ratio is the median of the rounds' own ratios),
//!
//! on two sets: real photos (MOT17 street frames, Pascal VOC photos, scikit-image's RGB sample
//! photos, repeated to `prelabel_images`) and 12-megapixel camera JPEGs made from the same
//! photos. Peak RSS of the product's passes, and its RSS half-way through a pass next to the
//! RSS at its end (memory stays flat). Not a test: it prints numbers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{median, BenchConfig, Measured, Metric, RowOutcome, Target};
use crate::domain::TaskKind;
use crate::jobs::JobCtx;
use crate::kinds::NewProject;
use crate::ml::detector::{DetectOptions, Detector};
use crate::store::db::Exec;
use crate::store::Store;

/// scikit-image's RGB sample photos (the ones `tests/detector.rs` checks against ultralytics).
const RGB_PHOTOS: &[&str] = &[
    "astronaut.png",
    "chelsea.png",
    "chessboard_RGB.png",
    "coffee.png",
    "color.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "phantom.png",
    "retina.jpg",
    "rocket.jpg",
];

/// Rounds after the warm-up; the medians count.
const ROUNDS: usize = 5;
/// 12-megapixel JPEGs per pass.
const CAMERA_IMAGES: usize = 32;
/// Tensors per bare forward pass.
const BARE_IMAGES: usize = 32;

/// The real photos setup installs: MOT17-02 frames (1920x1080), the labelme VOC JPEGs, the
/// RGB scikit-image photos.
fn sources() -> anyhow::Result<Vec<PathBuf>> {
    let boxes = crate::assets::cache_dir().join("data-v1").join("boxes");
    let mut out = Vec::new();
    for dir in [
        boxes.join("mot17/MOT17-02-FRCNN/img1"),
        boxes.join("labelme/bbox_detection/data_dataset_voc/JPEGImages"),
    ] {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| anyhow::anyhow!("{}: {e}; {}", dir.display(), crate::assets::SETUP_HINT))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
            .collect();
        v.sort();
        out.extend(v);
    }
    let photos = crate::assets::photos_dir();
    out.extend(
        RGB_PHOTOS
            .iter()
            .map(|f| photos.join(f))
            .filter(|p| p.is_file()),
    );
    anyhow::ensure!(
        !out.is_empty(),
        "no photos installed; {}",
        crate::assets::SETUP_HINT
    );
    Ok(out)
}

/// CRC-32 (IEEE) as PNG chunks carry it.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut c = !0u32;
    for &b in parts.iter().flat_map(|p| p.iter()) {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// The same image with a comment in it (a JPEG COM segment after SOI, a PNG tEXt chunk after
/// IHDR): identical pixels, different bytes, so that the import's deduplication by content
/// hash keeps every copy.
fn tagged(bytes: &[u8], tag: &str) -> anyhow::Result<Vec<u8>> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    let mut out = Vec::with_capacity(bytes.len() + tag.len() + 32);
    if bytes.starts_with(&[0xFF, 0xD8]) {
        out.extend_from_slice(&bytes[..2]);
        out.extend_from_slice(&[0xFF, 0xFE]);
        out.extend_from_slice(&(tag.len() as u16 + 2).to_be_bytes());
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(&bytes[2..]);
    } else if bytes.starts_with(PNG) && bytes.len() >= 33 && &bytes[12..16] == b"IHDR" {
        let data = [b"Comment\0".as_slice(), tag.as_bytes()].concat();
        out.extend_from_slice(&bytes[..33]);
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(b"tEXt");
        out.extend_from_slice(&data);
        out.extend_from_slice(&crc32(&[b"tEXt", &data]).to_be_bytes());
        out.extend_from_slice(&bytes[33..]);
    } else {
        anyhow::bail!("not a JPEG or PNG file");
    }
    Ok(out)
}

/// `n` files cycling through the real photos (copies after the first lap carry a comment),
/// cached under the bench cache.
pub fn photo_set(n: usize) -> anyhow::Result<Vec<PathBuf>> {
    let src = sources()?;
    let dir = crate::assets::cache_dir()
        .join("bench-v1")
        .join("detect-photos");
    std::fs::create_dir_all(&dir)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let s = &src[i % src.len()];
        let name = s
            .file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default();
        let path = dir.join(format!("{i:04}-{name}"));
        if !path.is_file() {
            let bytes = std::fs::read(s)?;
            let bytes = if i < src.len() {
                bytes
            } else {
                tagged(&bytes, &format!("yuxuan bench copy {i}"))
                    .map_err(|e| anyhow::anyhow!("{}: {e}", s.display()))?
            };
            crate::fsutil::write_bytes_atomic(&path, &bytes)?;
        }
        out.push(path);
    }
    Ok(out)
}

/// `n` 12-megapixel camera JPEGs (4000 x 3000, quality 90) made from the real photos: each
/// centre-cropped to 4:3 and upscaled; copies after the first lap carry a comment. Cached.
pub fn camera_set(n: usize) -> anyhow::Result<Vec<PathBuf>> {
    let src = sources()?;
    let dir = crate::assets::cache_dir()
        .join("bench-v1")
        .join("detect-12mp");
    std::fs::create_dir_all(&dir)?;
    let base = |k: usize| -> anyhow::Result<PathBuf> {
        let path = dir.join(format!("{k:04}.jpg"));
        if !path.is_file() {
            let img = image::open(&src[k])?.to_rgb8();
            let (w, h) = (img.width(), img.height());
            let (cw, ch) = if w * 3 >= h * 4 {
                (h * 4 / 3, h)
            } else {
                (w, w * 3 / 4)
            };
            let crop =
                image::imageops::crop_imm(&img, (w - cw) / 2, (h - ch) / 2, cw, ch).to_image();
            let big =
                image::imageops::resize(&crop, 4000, 3000, image::imageops::FilterType::Triangle);
            let mut bytes = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
                .encode_image(&big)?;
            crate::fsutil::write_bytes_atomic(&path, &bytes)?;
        }
        Ok(path)
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let k = i % src.len();
        let b = base(k)?;
        if i < src.len() {
            out.push(b);
            continue;
        }
        let path = dir.join(format!("{i:04}-copy.jpg"));
        if !path.is_file() {
            let bytes = tagged(&std::fs::read(&b)?, &format!("yuxuan bench copy {i}"))?;
            crate::fsutil::write_bytes_atomic(&path, &bytes)?;
        }
        out.push(path);
    }
    Ok(out)
}

/// One pass of the Python reference.
#[derive(Debug, Clone, serde::Deserialize)]
struct PyPass {
    ips: f64,
    images: usize,
    boxes: usize,
    threads: i32,
    /// The reference process's peak RSS so far (MiB).
    #[serde(default)]
    peak_rss_mib: f64,
}

/// What the reference says when it is ready.
#[derive(Debug, Clone, serde::Deserialize)]
struct PyReady {
    ultralytics: String,
    torch: String,
    threads: i32,
    ultralytics_default_threads: i32,
}

/// `scripts/bench_detect_reference.py`, running in the ultralytics venv: one call of
/// [`Ultralytics::pass`] is one `predict` over one set's images.
struct Ultralytics {
    process: super::RefProcess,
    ready: PyReady,
    _tmp: tempfile::TempDir,
}

impl Ultralytics {
    fn start(
        model: &Path,
        threads: i32,
        sets: &[(&str, &[PathBuf])],
    ) -> Result<Ultralytics, String> {
        let tmp = tempfile::Builder::new()
            .prefix("bench-detect-ul")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let cwd = tmp.path().join("cwd");
        let config = tmp.path().join("config");
        let list = tmp.path().join("sets.json");
        let sets: serde_json::Map<String, serde_json::Value> = sets
            .iter()
            .map(|(name, paths)| {
                let v: Vec<String> = paths
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect();
                (name.to_string(), serde_json::json!(v))
            })
            .collect();
        std::fs::create_dir_all(&cwd)
            .and_then(|()| std::fs::create_dir_all(&config))
            .and_then(|()| std::fs::write(&list, serde_json::to_vec(&sets).unwrap_or_default()))
            .map_err(|e| e.to_string())?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scripts")
            .join("bench_detect_reference.py");
        let mut cmd = std::process::Command::new(crate::assets::ultralytics_python());
        cmd.arg(script)
            .arg(model)
            .arg(threads.to_string())
            .arg(&list)
            .current_dir(&cwd)
            .env("YOLO_OFFLINE", "1")
            .env("YOLO_VERBOSE", "False")
            .env("YOLO_CONFIG_DIR", &config);
        let mut server = Ultralytics {
            process: super::RefProcess::spawn(
                &mut cmd,
                "the ultralytics reference",
                "",
                "no ultralytics venv python",
            )?,
            ready: PyReady {
                ultralytics: String::new(),
                torch: String::new(),
                threads: 0,
                ultralytics_default_threads: 0,
            },
            _tmp: tmp,
        };
        let line = server.process.line()?;
        let json = line
            .trim()
            .strip_prefix("ready ")
            .ok_or_else(|| format!("the ultralytics reference said {line:?} instead of ready"))?;
        server.ready = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Ok(server)
    }

    fn pass(&mut self, set: &str) -> Result<PyPass, String> {
        self.process.request(&format!("pass {set}"))
    }
}

/// An objects project holding `images`, labelled with every class of the detector (every box
/// it finds is stored).
fn project(
    dir: &Path,
    name: &str,
    images: &[PathBuf],
    classes: &[String],
) -> anyhow::Result<Store> {
    let new = NewProject {
        labels: classes.to_vec(),
        ..Default::default()
    };
    let mut store = Store::create_project(
        &dir.join(format!("{name}.yuxuan")),
        name,
        TaskKind::Objects,
        &new,
    )?;
    let s = crate::ingest::import_paths(
        &mut store,
        images,
        &Default::default(),
        &JobCtx::new("import"),
    )?;
    anyhow::ensure!(
        s.added == images.len(),
        "{name}: {} of {} images imported ({s:?})",
        s.added,
        images.len()
    );
    Ok(store)
}

/// One product pass.
struct Pass {
    ips: f64,
    boxes: usize,
    /// RSS (MiB) when half the images were done, and when all were.
    rss_half: Option<f64>,
    rss_end: Option<f64>,
    /// Peak RSS (MiB) of the pass, and RSS before it.
    peak: Option<f64>,
    before: Option<f64>,
}

/// `ml::objects::prelabel` over every image of the project, as `yuxuan prelabel` runs it
/// (the proposals of the last pass are deleted first, so it predicts every image).
fn product_pass(store: &mut Store, n: usize) -> anyhow::Result<Pass> {
    store.write(|tx| {
        tx.execute("DELETE FROM box_predictions", &[])?;
        tx.execute("DELETE FROM predictions", &[])?;
        Ok(())
    })?;
    let rss: Arc<Mutex<(Option<f64>, Option<f64>)>> = Arc::default();
    let probe = JobCtx::new("prelabel");
    let (watch, seen) = (probe.clone(), rss.clone());
    let ctx = probe.with_observer(move |_| {
        let done = watch.snapshot().done as usize;
        if let Ok(mut r) = seen.lock() {
            if r.0.is_none() && done * 2 >= n && done > 0 {
                r.0 = super::rss_mib();
            }
            if r.1.is_none() && done >= n {
                r.1 = super::rss_mib();
            }
        }
    });
    let can_reset = super::reset_peak_rss();
    let before = super::rss_mib();
    let t = Instant::now();
    let r = crate::ml::objects::prelabel(store, &DetectOptions::default(), &ctx)?;
    let secs = t.elapsed().as_secs_f64();
    let peak = if can_reset {
        super::peak_rss_mib()
    } else {
        None
    };
    anyhow::ensure!(
        r.images == n && r.errors == 0,
        "pre-labelled {} of {n} images, {} errors",
        r.images,
        r.errors
    );
    let (rss_half, rss_end) = *rss.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    Ok(Pass {
        ips: n as f64 / secs,
        boxes: r.boxes,
        rss_half,
        rss_end,
        peak,
        before,
    })
}

/// Images/s of one bare pass: `forward` on `m` prepared tensors (cycling through `inputs`).
fn bare_pass(det: &Detector, inputs: &[tch::Tensor], m: usize) -> anyhow::Result<f64> {
    let t = Instant::now();
    for i in 0..m {
        det.forward(&inputs[i % inputs.len()])?;
    }
    Ok(m as f64 / t.elapsed().as_secs_f64())
}

/// Per set: the product's passes, the reference's, and each round's ratio.
#[derive(Default)]
struct SetRuns {
    product: Vec<Pass>,
    python: Vec<PyPass>,
    ratios: Vec<f64>,
}

pub fn run_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    let model = crate::ml::objects::default_detector_path();
    if !model.exists() {
        return Ok(RowOutcome::NotAvailable(format!(
            "YOLO11n is not installed ({}); {}",
            model.display(),
            crate::assets::SETUP_HINT
        )));
    }
    let n = cfg.prelabel_images.max(2);
    let photos = photo_set(n)?;
    let camera = camera_set(CAMERA_IMAGES.min(n))?;
    // The product picks its device itself (CUDA when present): the bare loop does the same.
    let device = crate::ml::device::best_device();
    let det = Detector::load(&model, device)?;
    let classes = det.class_names().to_vec();
    let tmp = tempfile::Builder::new()
        .prefix("bench-detect")
        .tempdir_in(&cfg.dir)?;
    let t_import = Instant::now();
    let mut stores = [
        project(tmp.path(), "photos", &photos, &classes)?,
        project(tmp.path(), "camera", &camera, &classes)?,
    ];
    let import_s = t_import.elapsed().as_secs_f64();
    let sets: [(&str, &[PathBuf]); 2] = [("photos", &photos), ("camera", &camera)];

    // Bare loop inputs: each distinct photo decoded and letterboxed once, kept in memory.
    let inputs: Vec<tch::Tensor> = sources()?
        .iter()
        .map(|p| -> anyhow::Result<tch::Tensor> {
            let img = crate::ingest::images::decode_file_for_size(p, det.input_size() as u32, 0)?
                .to_rgb8();
            Ok(det.prepare(&img)?.0)
        })
        .collect::<anyhow::Result<_>>()?;
    for x in inputs.iter().take(2) {
        det.forward(x)?; // TorchScript's profiling runs, the allocator settles
    }
    let threads = tch::get_num_threads();
    let workers = rayon::current_num_threads();

    let mut py_error = None;
    let mut py = if device == tch::Device::Cpu {
        match Ultralytics::start(&model, threads, &sets) {
            Ok(p) => Some(p),
            Err(e) => {
                py_error = Some(e);
                None
            }
        }
    } else {
        py_error = Some(format!(
            "the product runs on {device:?}; the reference on the CPU only"
        ));
        None
    };
    let py_info = py.as_ref().map(|p| p.ready.clone());
    // Warm-up pass of the product (page cache, rayon's workers, the allocator).
    product_pass(&mut stores[1], camera.len().min(n))?;

    let mut runs: [SetRuns; 2] = Default::default();
    let mut bare = Vec::new();
    for round in 0..ROUNDS {
        for (k, (name, paths)) in sets.iter().enumerate() {
            // Alternate who goes first, so neither side always follows the other's pass.
            let mut ours = None;
            let mut theirs = None;
            for side in 0..2 {
                if (side + round) % 2 == 0 {
                    ours = Some(product_pass(&mut stores[k], paths.len())?);
                } else if let Some(p) = py.as_mut() {
                    match p.pass(name) {
                        Ok(r) => theirs = Some(r),
                        Err(e) => {
                            py_error = Some(e);
                            py = None;
                        }
                    }
                }
            }
            let ours = ours.expect("the product ran");
            if let Some(t) = theirs {
                runs[k].ratios.push(ours.ips / t.ips);
                runs[k].python.push(t);
            }
            runs[k].product.push(ours);
        }
        bare.push(bare_pass(&det, &inputs, BARE_IMAGES.min(n))?);
    }
    drop(py);
    let bare_ips = median(bare);

    let mut m = Measured::default();
    let labels = ["real photos", "12-MP JPEGs"];
    for (k, r) in runs.iter().enumerate() {
        let label = labels[k];
        let ips = median(r.product.iter().map(|p| p.ips).collect());
        m.metrics.push(
            Metric::new(format!("{label}: pipeline (yuxuan prelabel)"), ips, "img/s").reference(
                "bare forward loop",
                bare_ips,
                "img/s",
            ),
        );
        if r.python.is_empty() {
            continue;
        }
        let py_ips = median(r.python.iter().map(|p| p.ips).collect());
        let ratio = median(r.ratios.clone());
        let metric = Metric::new(
            format!("{label}: pipeline / ultralytics predict"),
            ratio,
            "",
        )
        .reference("ultralytics predict", py_ips, "img/s");
        m.metrics.push(if k == 0 {
            metric.target(Target::at_least(1.0))
        } else {
            metric
        });
        let last = &r.python[r.python.len() - 1];
        m.notes.push(format!(
            "{label}: per round ratios {}; boxes per pass: yuxuan {}, ultralytics {} ({} images, {} torch threads); peak RSS of the ultralytics process {:.0} MiB",
            r.ratios
                .iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            r.product[r.product.len() - 1].boxes,
            last.boxes,
            last.images,
            last.threads,
            last.peak_rss_mib
        ));
    }
    let peak = |k: usize| {
        runs[k]
            .product
            .iter()
            .filter_map(|p| p.peak)
            .fold(f64::NAN, f64::max)
    };
    let before = |k: usize| {
        runs[k]
            .product
            .iter()
            .filter_map(|p| p.before)
            .fold(f64::NAN, f64::min)
    };
    for (k, label) in labels.iter().enumerate() {
        m.metrics.push(
            Metric::new(format!("{label}: peak RSS of a pass"), peak(k), "MiB").reference(
                "RSS before the pass",
                before(k),
                "MiB",
            ),
        );
    }
    let p = &runs[0].product;
    if let (Some(h), Some(e)) = (p[0].rss_half, p[0].rss_end) {
        m.metrics.push(
            Metric::new(format!("real photos: RSS after {n} images"), e, "MiB").reference(
                format!("after {}", n.div_ceil(2)),
                h,
                "MiB",
            ),
        );
    }
    if let (Some(a), Some(b)) = (p[0].rss_end, p[p.len() - 1].rss_end) {
        m.metrics.push(
            Metric::new(
                format!("real photos: RSS at the end of pass {}", p.len()),
                b,
                "MiB",
            )
            .reference("at the end of pass 1", a, "MiB"),
        );
    }
    let src = sources()?.len();
    m.notes.push(format!(
        "real photos: {} files cycling through {src} real photos (4 MOT17-02 frames 1920x1080, the labelme VOC JPEGs, scikit-image's {} RGB photos; copies after the first lap differ by a comment only); 12-MP: {} JPEGs 4000x3000 (quality 90) made from the same photos (centre-cropped to 4:3, upscaled)",
        photos.len(),
        RGB_PHOTOS.len(),
        camera.len()
    ));
    m.notes.push(format!(
        "YOLO11n TorchScript export, 640x640, conf 0.25, IoU 0.7, max 300 boxes, all 80 COCO classes as project labels; {device:?}, {threads} LibTorch threads, {workers} rayon workers; {ROUNDS} rounds after a warm-up pass, each a product pass and an ultralytics pass per set (the order alternating) and a bare pass of {} tensors; medians; the ratio is the median of the rounds' own ratios; projects imported in {import_s:.1} s (not timed)",
        BARE_IMAGES.min(n)
    ));
    m.notes.push(
        "the product's pass is `ml::objects::prelabel` on the project as `yuxuan prelabel` runs it: detector load (sha256 check, TorchScript's profiling runs), decode, letterbox, forward, NMS, boxes stored in SQLite; the proposals are deleted between passes".into(),
    );
    if let Some(i) = &py_info {
        m.notes.push(format!(
            "ultralytics {} (torch {}): `YOLO(yolo11n.torchscript, task=\"detect\").predict(paths, stream=True, imgsz=640, conf=0.25, iou=0.7, device=\"cpu\")`, model loaded and warmed up once, {} torch threads like the product (ultralytics' own default here: {}); scripts/bench_detect_reference.py",
            i.ultralytics, i.torch, i.threads, i.ultralytics_default_threads
        ));
    }
    if let Some(e) = &py_error {
        m.notes.push(format!("ultralytics reference: {e}"));
    }
    Ok(m.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_of_a_known_chunk() {
        // The IEND chunk's CRC.
        assert_eq!(crc32(&[b"IEND"]), 0xAE42_6082);
    }

    #[test]
    fn tagged_images_decode_to_the_same_pixels() {
        let img =
            image::RgbImage::from_fn(17, 9, |x, y| image::Rgb([x as u8 * 9, y as u8 * 20, 7]));
        for fmt in [image::ImageFormat::Png, image::ImageFormat::Jpeg] {
            let mut bytes = std::io::Cursor::new(Vec::new());
            img.write_to(&mut bytes, fmt).unwrap();
            let bytes = bytes.into_inner();
            let t = tagged(&bytes, "copy 3").unwrap();
            assert_ne!(t, bytes);
            let a = image::load_from_memory(&bytes).unwrap().to_rgb8();
            let b = image::load_from_memory(&t).unwrap().to_rgb8();
            assert_eq!(a, b, "{fmt:?}");
        }
        assert!(tagged(b"GIF89a", "x").is_err());
    }
}

//! Pre-labelling benchmark: images/s of the product's pipeline (read + decode + resize on worker
//! threads, overlapped with the backbone's inference, features read back) next to
//! - a bare forward loop of the same module on ready-made tensors,
//! - the tch-native module's bare loop (what the product ran before the TorchScript export),
//! - what a PyTorch user gets on the same machine in the same run
//!   (`scripts/bench_prelabel_reference.py`: eager, channels_last, `jit.freeze`,
//!   `optimize_for_inference`, and a PIL + DataLoader pipeline),
//!
//! for each backbone, on the installed emoji PNGs; and, for camera photos, the same pipeline on
//! 12-megapixel JPEGs made from the sample photos (decode ms/image at DCT scale and in full, next
//! to Pillow's `draft()` and full decode: `scripts/bench_decode_reference.py`).
//! Not a test: it prints numbers.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use tch::{Kind, Tensor};

use super::median;
use crate::jobs::JobCtx;
use crate::ml::backbone::{self, BackboneNet, Embedder, Runtime};
use crate::ml::image_pipeline::run_pipelined;

/// What to measure.
#[derive(Debug, Clone)]
pub struct PrelabelBenchOptions {
    /// Image files (empty: the first `n` emoji PNGs of the installed data).
    pub images: Vec<PathBuf>,
    /// How many images (at most) to run through each loop.
    pub n: usize,
    pub batch: usize,
    pub net: BackboneNet,
    /// Device (None: CUDA when present, else CPU).
    pub device: Option<tch::Device>,
    /// Also run the Python reference script.
    pub python: bool,
    /// Rounds of passes over the images (after the warm-up), each a pipeline pass, a bare pass
    /// and one pass of every Python variant; the medians count (a pass of 128 images is half
    /// a second, and this VM's speed wanders by 1.5x within minutes).
    pub repeats: usize,
}

impl Default for PrelabelBenchOptions {
    fn default() -> Self {
        PrelabelBenchOptions {
            images: Vec::new(),
            n: 128,
            batch: 32,
            net: BackboneNet::MobilenetV2,
            device: None,
            python: true,
            repeats: 5,
        }
    }
}

/// Images/s of the Python variants (same images, weights, batch, threads).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PythonReference {
    pub eager: f64,
    pub channels_last: f64,
    pub jit_freeze: f64,
    pub optimize_for_inference: f64,
    /// PIL + torchvision transforms in a DataLoader feeding the best TorchScript module.
    pub pipeline: f64,
}

impl PythonReference {
    /// The best of its numbers and its name.
    pub fn best(&self) -> (&'static str, f64) {
        [
            ("eager", self.eager),
            ("channels_last", self.channels_last),
            ("jit.freeze", self.jit_freeze),
            ("optimize_for_inference", self.optimize_for_inference),
            ("DataLoader pipeline", self.pipeline),
        ]
        .into_iter()
        .fold(("", 0.0), |a, b| if b.1 > a.1 { b } else { a })
    }
}

/// The measured numbers.
#[derive(Debug, Clone, Serialize)]
pub struct PrelabelBench {
    pub net: &'static str,
    pub device: String,
    pub images: usize,
    pub batch: usize,
    pub size: u32,
    pub threads: i32,
    /// Full pipeline, images per second.
    pub pipeline_ips: f64,
    /// Bare forward loop of the same module, images per second.
    pub bare_ips: f64,
    /// pipeline / bare.
    pub ratio: f64,
    /// Bare loop of the tch-native module (None when that is what the pipeline runs).
    pub native_bare_ips: Option<f64>,
    /// Mean decode + resize time per image on one thread, ms.
    pub decode_ms: f64,
    pub python: Option<PythonReference>,
    /// The same with glibc's malloc set as yuxuan sets its own (`tune_allocator`).
    pub python_tuned: Option<PythonReference>,
    /// The median over the rounds of pipeline / best Python (each round's pipeline pass next
    /// to the Python passes that followed it).
    pub python_ratio: Option<f64>,
    /// Why the Python reference did not run.
    pub python_error: Option<String>,
}

impl std::fmt::Display for PrelabelBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "prelabel {} on {} ({} threads): {} images, batch {}, {}x{}: pipeline {:.1} img/s, bare forward {:.1} img/s, ratio {:.3}, decode {:.2} ms/image",
            self.net, self.device, self.threads, self.images, self.batch, self.size, self.size,
            self.pipeline_ips, self.bare_ips, self.ratio, self.decode_ms
        )?;
        if let Some(n) = self.native_bare_ips {
            write!(f, "; native module bare {n:.1} img/s")?;
        }
        if let Some(p) = &self.python {
            let (name, best) = p.best();
            write!(
                f,
                "; Python eager {:.1}, channels_last {:.1}, jit.freeze {:.1}, optimize_for_inference {:.1}, DataLoader pipeline {:.1} img/s; pipeline / best Python ({name}) {:.3}",
                p.eager, p.channels_last, p.jit_freeze, p.optimize_for_inference, p.pipeline,
                self.python_ratio.unwrap_or(self.pipeline_ips / best)
            )?;
        }
        Ok(())
    }
}

fn default_images(n: usize) -> anyhow::Result<Vec<PathBuf>> {
    let dir = crate::assets::emoji_dir().join("img64");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}; {}", dir.display(), crate::assets::SETUP_HINT))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    v.sort();
    v.truncate(n);
    Ok(v)
}

/// 12-megapixel (4000 x 3000) JPEGs made from the sample photos (quality 90, cycling through
/// the photos with mirrored variants), cached under the bench cache so later runs reuse them.
pub fn camera_jpegs(n: usize) -> anyhow::Result<Vec<PathBuf>> {
    let dir = crate::assets::cache_dir()
        .join("bench-v1")
        .join("jpeg-12mp");
    std::fs::create_dir_all(&dir)?;
    let photos = crate::assets::photos_dir();
    let mut sources: Vec<PathBuf> = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"]
        .iter()
        .map(|f| photos.join(f))
        .filter(|p| p.is_file())
        .collect();
    anyhow::ensure!(
        !sources.is_empty(),
        "no sample photos under {}; {}",
        photos.display(),
        crate::assets::SETUP_HINT
    );
    sources.sort();
    let mut out = Vec::new();
    for i in 0..n {
        let path = dir.join(format!("photo-{i:03}.jpg"));
        if !path.is_file() {
            let src = image::open(&sources[i % sources.len()])?.to_rgb8();
            let mut big =
                image::imageops::resize(&src, 4000, 3000, image::imageops::FilterType::CatmullRom);
            if (i / sources.len()) % 2 == 1 {
                image::imageops::flip_horizontal_in_place(&mut big);
            }
            let mut bytes = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
                .encode_image(&big)?;
            crate::fsutil::write_bytes_atomic(&path, &bytes)?;
        }
        out.push(path);
    }
    Ok(out)
}

/// Mean decode + resize + normalise time per image (one thread), ms.
fn decode_ms(paths: &[PathBuf], spec: &backbone::InputSpec) -> anyhow::Result<f64> {
    let t = Instant::now();
    for p in paths {
        backbone::load_input(p, spec)?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e3 / paths.len().max(1) as f64)
}

/// Mean full decode (no DCT scaling) + resize time per image (one thread), ms.
pub fn full_decode_ms(paths: &[PathBuf], spec: &backbone::InputSpec) -> anyhow::Result<f64> {
    let t = Instant::now();
    for p in paths {
        let img = crate::ingest::images::decode_file(p, 0)?;
        backbone::preprocess(&img, spec);
    }
    Ok(t.elapsed().as_secs_f64() * 1e3 / paths.len().max(1) as f64)
}

/// Two forward calls: TorchScript's profiling executor optimises its graph on the second run,
/// and the allocator, oneDNN's primitive cache and cuDNN's autotuner settle (the Python
/// reference warms up the same way).
fn warm_up(net: &dyn Embedder, x: &Tensor) -> anyhow::Result<()> {
    for _ in 0..2 {
        let _ = net.features(x)?.to_device(tch::Device::Cpu);
    }
    Ok(())
}

/// Images/s of one pass over `inputs`, features read back as the product does.
fn bare_pass(net: &dyn Embedder, inputs: &[Tensor]) -> anyhow::Result<f64> {
    let t = Instant::now();
    let mut n = 0usize;
    for x in inputs {
        let out = net.features(x)?.to_device(tch::Device::Cpu);
        let _rows: Vec<Vec<f32>> = Vec::<Vec<f32>>::try_from(&out)?;
        n += x.size()[0] as usize;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

fn bare_loop(net: &dyn Embedder, inputs: &[Tensor], repeats: usize) -> anyhow::Result<f64> {
    warm_up(net, &inputs[0])?;
    let rates = (0..repeats.max(1))
        .map(|_| bare_pass(net, inputs))
        .collect::<anyhow::Result<Vec<f64>>>()?;
    Ok(median(rates))
}

/// Pillow's decode + resize + normalise ms/image (`scripts/bench_decode_reference.py`).
#[derive(Debug, Clone, serde::Deserialize)]
struct PythonDecode {
    draft: f64,
    full: f64,
}

fn python_decode_reference(images: &[PathBuf]) -> Result<PythonDecode, String> {
    let args: Vec<std::ffi::OsString> = images.iter().map(|p| p.into()).collect();
    run_script(
        "bench_decode_reference.py",
        &[],
        &args,
        "the Python decode reference",
    )
}

/// The Python reference script, running: one call of [`PythonServer::pass`] is one pass over
/// the images with each of its variants, so the bench can interleave its own passes with
/// Python's and compare the two on the same state of the machine.
struct PythonServer(super::RefProcess);

impl PythonServer {
    fn start(
        net: BackboneNet,
        batch: usize,
        threads: i32,
        images: &[PathBuf],
        tuned_malloc: bool,
    ) -> Result<PythonServer, String> {
        let weights = crate::assets::mobilenet_weights()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let net_name = match net {
            BackboneNet::MobilenetV2 => "mobilenet-v2",
            BackboneNet::EfficientnetLite0 => "efficientnet-lite0",
        };
        let mut cmd = script_command("bench_prelabel_reference.py");
        cmd.env("YUXUAN_REF_MALLOPT", if tuned_malloc { "1" } else { "0" })
            .arg(&weights)
            .args([net_name, &batch.to_string(), &threads.to_string()])
            .args(images);
        let mut server = PythonServer(super::RefProcess::spawn(
            &mut cmd,
            "the Python reference",
            " (make setup installs torchvision)",
            "no venv python",
        )?);
        match server.0.line()? {
            l if l.trim() == "ready" => Ok(server),
            l => Err(format!("the Python reference said {l:?} instead of ready")),
        }
    }

    /// One pass over the images with each variant.
    fn pass(&mut self) -> Result<PythonReference, String> {
        self.0.request("pass")
    }
}

/// Per variant, the median over the passes.
fn median_reference(passes: &[PythonReference]) -> Option<PythonReference> {
    let m = |f: fn(&PythonReference) -> f64| median(passes.iter().map(f).collect());
    (!passes.is_empty()).then(|| PythonReference {
        eager: m(|p| p.eager),
        channels_last: m(|p| p.channels_last),
        jit_freeze: m(|p| p.jit_freeze),
        optimize_for_inference: m(|p| p.optimize_for_inference),
        pipeline: m(|p| p.pipeline),
    })
}

/// `scripts/<script>` run by the venv's Python.
fn script_command(script: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(crate::assets::venv_python());
    cmd.arg(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scripts")
            .join(script),
    );
    cmd
}

/// Run `scripts/<script>` with the venv's Python and read the one JSON object it prints.
fn run_script<T: serde::de::DeserializeOwned>(
    script: &str,
    env: &[(&str, &str)],
    args: &[std::ffi::OsString],
    what: &str,
) -> Result<T, String> {
    let out = script_command(script)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .map_err(|e| format!("no venv python ({e}); {}", crate::assets::SETUP_HINT))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("unreadable reference output: {e}"))
}

/// Warm up, then run `opts.repeats` rounds (pipeline pass, bare pass, one pass of each Python
/// variant) and report the medians.
pub fn run(opts: &PrelabelBenchOptions) -> anyhow::Result<PrelabelBench> {
    let mut images = if opts.images.is_empty() {
        default_images(opts.n)?
    } else {
        opts.images.clone()
    };
    images.truncate(opts.n.max(1));
    anyhow::ensure!(!images.is_empty(), "no images to benchmark");
    let batch = opts.batch.max(1);
    let device = opts.device.unwrap_or_else(crate::ml::device::best_device);
    let net = opts.net.load_with(device, Runtime::Fastest)?;
    let spec = opts.net.input_spec();
    let s = spec.size as i64;

    let items: Vec<(i64, PathBuf)> = images
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, p)| (i as i64, p))
        .collect();
    // Bare loops: same number of images, same batches, tensors already in memory.
    let inputs: Vec<Tensor> = items
        .chunks(batch)
        .map(|c| Tensor::rand([c.len() as i64, 3, s, s], (Kind::Float, tch::Device::Cpu)))
        .collect();
    warm_up(net.as_ref(), &inputs[0])?;
    let threads = tch::get_num_threads();
    // The Python references (glibc's malloc defaults, then yuxuan's settings) start before
    // the first pass: their set-up would otherwise share the cores with it.
    let mut servers: Vec<PythonServer> = Vec::new();
    let mut python_error = None;
    if opts.python && device == tch::Device::Cpu {
        for tuned in [false, true] {
            match PythonServer::start(opts.net, batch, threads, &images, tuned) {
                Ok(p) => servers.push(p),
                Err(e) => {
                    python_error = Some(e);
                    break;
                }
            }
        }
    }
    // Rounds: a pipeline pass, a bare pass, one pass of each Python variant; the medians
    // count, and the ratio to Python is the median of each round's own ratio.
    let (mut pipe, mut bare, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut passes: Vec<Vec<PythonReference>> = vec![Vec::new(); servers.len()];
    for _ in 0..opts.repeats.max(1) {
        let t = Instant::now();
        let errors = run_pipelined(&items, &spec, batch, &JobCtx::new("bench"), |_, xs| {
            let out = net.features(xs)?.to_device(tch::Device::Cpu);
            let _rows: Vec<Vec<f32>> = Vec::<Vec<f32>>::try_from(&out)?;
            Ok(())
        })?;
        let p = items.len() as f64 / t.elapsed().as_secs_f64();
        anyhow::ensure!(
            errors.is_empty(),
            "{} image(s) failed to decode, e.g. {:?}",
            errors.len(),
            errors[0]
        );
        pipe.push(p);
        bare.push(bare_pass(net.as_ref(), &inputs)?);
        for (i, (server, got)) in servers.iter_mut().zip(passes.iter_mut()).enumerate() {
            match server.pass() {
                Ok(r) => {
                    if i == 0 {
                        ratios.push(p / r.best().1);
                    }
                    got.push(r);
                }
                Err(e) => python_error = Some(e),
            }
        }
    }
    drop(servers);
    let pipeline_ips = median(pipe);
    let bare_ips = median(bare);
    drop(net);
    let native_bare_ips = if device == tch::Device::Cpu {
        let native = opts.net.load_with(device, Runtime::Native)?;
        Some(bare_loop(native.as_ref(), &inputs, opts.repeats)?)
    } else {
        None
    };
    let decode_ms = decode_ms(&images[..images.len().min(16)], &spec)?;
    let python = passes.first().and_then(|p| median_reference(p));
    let python_tuned = passes.get(1).and_then(|p| median_reference(p));
    let python_ratio = (!ratios.is_empty()).then(|| median(ratios));
    let python_error = if python.is_some() { None } else { python_error };
    Ok(PrelabelBench {
        net: opts.net.display_name(),
        device: format!("{device:?}"),
        images: items.len(),
        batch,
        size: spec.size,
        threads,
        pipeline_ips,
        bare_ips,
        ratio: pipeline_ips / bare_ips,
        native_bare_ips,
        decode_ms,
        python,
        python_tuned,
        python_ratio,
        python_error,
    })
}

fn device_of(cfg: &super::BenchConfig) -> anyhow::Result<Option<tch::Device>> {
    super::head::device_of(&cfg.device).map(Some)
}

/// The `prelabel` row of `yuxuan bench`: per backbone, the pipeline's images/s on emoji PNGs
/// next to its own bare loop, the native module, and the best Python number (target: the
/// pipeline at >= 0.90 of it).
pub fn run_row(cfg: &super::BenchConfig) -> anyhow::Result<super::RowOutcome> {
    use super::{Metric, Target};
    let mut m = super::Measured::default();
    for net in [BackboneNet::MobilenetV2, BackboneNet::EfficientnetLite0] {
        let opts = PrelabelBenchOptions {
            n: cfg.prelabel_images,
            net,
            device: device_of(cfg)?,
            ..Default::default()
        };
        let r = run(&opts)?;
        let name = r.net;
        m.metrics.push(
            Metric::new(format!("{name}: pipeline"), r.pipeline_ips, "img/s").reference(
                "its bare forward loop",
                r.bare_ips,
                "img/s",
            ),
        );
        if let Some(n) = r.native_bare_ips {
            m.metrics.push(
                Metric::new(
                    format!("{name}: bare forward, product"),
                    r.bare_ips,
                    "img/s",
                )
                .reference("the tch-native module (before)", n, "img/s"),
            );
        }
        match &r.python {
            Some(p) => {
                let (best_name, best) = p.best();
                m.metrics.push(
                    Metric::new(
                        format!("{name}: pipeline / best Python"),
                        r.python_ratio.unwrap_or(r.pipeline_ips / best),
                        "",
                    )
                    .target(Target::at_least(0.90))
                    .reference(format!("Python {best_name}"), best, "img/s"),
                );
                m.notes.push(format!(
                    "{name}: {} rounds, each a pipeline pass, a bare pass and one pass of every Python variant; medians, and pipeline / best Python is the median of the rounds' own ratios",
                    opts.repeats
                ));
                m.notes.push(format!(
                    "{name} in Python (torch {}, same images, batch, threads): eager {:.1}, channels_last {:.1}, jit.freeze {:.1}, optimize_for_inference {:.1}, PIL + DataLoader pipeline {:.1} img/s",
                    "2.13", p.eager, p.channels_last, p.jit_freeze, p.optimize_for_inference, p.pipeline
                ));
                if let Some(t) = &r.python_tuned {
                    let (tuned_name, tuned_best) = t.best();
                    m.metrics.push(
                        Metric::new(
                            format!("{name}: pipeline / best Python, same malloc settings"),
                            r.pipeline_ips / tuned_best,
                            "",
                        )
                        .reference(
                            format!("Python {tuned_name}"),
                            tuned_best,
                            "img/s",
                        ),
                    );
                    m.notes.push(format!(
                        "{name} in Python with yuxuan's malloc settings: eager {:.1}, channels_last {:.1}, jit.freeze {:.1}, optimize_for_inference {:.1}, PIL + DataLoader pipeline {:.1} img/s",
                        t.eager, t.channels_last, t.jit_freeze, t.optimize_for_inference, t.pipeline
                    ));
                }
            }
            None => m.notes.push(format!(
                "{name}: Python reference not run: {}",
                r.python_error.as_deref().unwrap_or("not on the CPU")
            )),
        }
        m.notes.push(format!(
            "{name}: {} emoji PNGs from disk, batch {}, {}x{}, {} ({} threads), decode + resize {:.2} ms/image",
            r.images, r.batch, r.size, r.size, r.device, r.threads, r.decode_ms
        ));
    }
    Ok(m.into())
}

/// The `prelabel-photos` row: the MobileNetV2 pipeline on 12-megapixel JPEGs (decoded at DCT
/// scale on the workers) against its bare forward loop (target 0.90), with decode ms/image at
/// DCT scale and in full.
pub fn run_photos_row(cfg: &super::BenchConfig) -> anyhow::Result<super::RowOutcome> {
    use super::{Metric, Target};
    let photos = camera_jpegs(cfg.prelabel_images.min(256))?;
    let r = run(&PrelabelBenchOptions {
        images: photos.clone(),
        n: photos.len(),
        device: device_of(cfg)?,
        python: false,
        ..Default::default()
    })?;
    let spec = BackboneNet::MobilenetV2.input_spec();
    let full = full_decode_ms(&photos[..photos.len().min(4)], &spec)?;
    let pil = python_decode_reference(&photos[..photos.len().min(16)]);
    let mut m = super::Measured::default();
    m.metrics.push(
        Metric::new("12-MP JPEGs: pipeline", r.pipeline_ips, "img/s").reference(
            "bare forward loop",
            r.bare_ips,
            "img/s",
        ),
    );
    m.metrics
        .push(Metric::new("pipeline / bare", r.ratio, "").target(Target::at_least(0.90)));
    match pil {
        Ok(p) => {
            m.metrics.push(
                Metric::new("decode + resize, DCT-scaled", r.decode_ms, "ms/image").reference(
                    "Pillow draft() + torchvision",
                    p.draft,
                    "ms/image",
                ),
            );
            m.metrics.push(
                Metric::new("decode + resize, full scale", full, "ms/image").reference(
                    "Pillow + torchvision",
                    p.full,
                    "ms/image",
                ),
            );
        }
        Err(e) => {
            m.metrics.push(
                Metric::new("decode + resize, DCT-scaled", r.decode_ms, "ms/image").reference(
                    "full decode + resize",
                    full,
                    "ms/image",
                ),
            );
            m.notes
                .push(format!("Python decode reference not run: {e}"));
        }
    }
    // What the cores allow: per image, `decode_ms` of one core and `1 / bare` s of all of them.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let bound = cores * 1e3 / (r.decode_ms + cores * 1e3 / r.bare_ips.max(1e-9));
    m.notes.push(format!(
        "core-time bound: {cores:.0} cores, {:.1} ms of decode + {:.1} core-ms of forward per image: at most {bound:.0} img/s, {:.2} of the bare forward",
        r.decode_ms,
        cores * 1e3 / r.bare_ips.max(1e-9),
        bound / r.bare_ips.max(1e-9)
    ));
    m.notes.push(format!(
        "{} JPEGs 4000x3000 (quality 90) made from the sample photos, MobileNetV2, batch {}, {} ({} threads); decode on {} worker threads",
        r.images,
        r.batch,
        r.device,
        r.threads,
        rayon::current_num_threads()
    ));
    Ok(m.into())
}

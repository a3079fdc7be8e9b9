//! Pre-labelling benchmark: images/s of the full pipeline (read + decode + resize on worker
//! threads, overlapped with MobileNetV2 inference, features read back) and of a bare tch
//! forward loop over the same model, batch and resolution on ready-made tensors, in one run,
//! and their ratio. Not a test: it prints numbers.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use tch::{Kind, Tensor};

use crate::jobs::JobCtx;
use crate::ml::backbone::{Backbone, InputSpec};
use crate::ml::image_pipeline::run_pipelined;

/// What to measure.
#[derive(Debug, Clone)]
pub struct PrelabelBenchOptions {
    /// Image files (empty: the first `n` emoji PNGs of the installed data).
    pub images: Vec<PathBuf>,
    /// How many images (at most) to run through each loop.
    pub n: usize,
    pub batch: usize,
    /// Device (None: CUDA when present, else CPU).
    pub device: Option<tch::Device>,
}

impl Default for PrelabelBenchOptions {
    fn default() -> Self {
        PrelabelBenchOptions {
            images: Vec::new(),
            n: 128,
            batch: 32,
            device: None,
        }
    }
}

/// The measured numbers.
#[derive(Debug, Clone, Serialize)]
pub struct PrelabelBench {
    pub device: String,
    pub images: usize,
    pub batch: usize,
    pub size: u32,
    pub threads: i32,
    /// Full pipeline, images per second.
    pub pipeline_ips: f64,
    /// Bare forward loop, images per second.
    pub bare_ips: f64,
    /// pipeline / bare (target >= 0.90 on CPU).
    pub ratio: f64,
}

impl std::fmt::Display for PrelabelBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "prelabel on {} ({} threads): {} images, batch {}, {}x{}: pipeline {:.2} img/s, bare forward {:.2} img/s, ratio {:.3}",
            self.device, self.threads, self.images, self.batch, self.size, self.size, self.pipeline_ips, self.bare_ips, self.ratio
        )
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

/// Run both loops once (after one warm-up batch each) and report.
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
    let net = Backbone::load(device)?;
    let spec = InputSpec::default();
    let s = spec.size as i64;
    // Warm-up (allocator, cuDNN autotune, thread pools).
    let _ = net
        .embed(&Tensor::rand(
            [batch as i64, 3, s, s],
            (Kind::Float, tch::Device::Cpu),
        ))
        .to_device(tch::Device::Cpu);

    let items: Vec<(i64, PathBuf)> = images
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, p)| (i as i64, p))
        .collect();
    let t0 = Instant::now();
    let mut n_pipe = 0usize;
    let errors = run_pipelined(&items, &spec, batch, &JobCtx::new("bench"), |ids, xs| {
        let out = net.embed(xs).to_device(tch::Device::Cpu);
        let _rows: Vec<Vec<f32>> = Vec::<Vec<f32>>::try_from(&out)?;
        n_pipe += ids.len();
        Ok(())
    })?;
    let pipe_s = t0.elapsed().as_secs_f64();
    anyhow::ensure!(
        errors.is_empty(),
        "{} image(s) failed to decode, e.g. {:?}",
        errors.len(),
        errors[0]
    );

    // Bare loop: same number of images, same batches, tensors already in memory.
    let inputs: Vec<Tensor> = items
        .chunks(batch)
        .map(|c| Tensor::rand([c.len() as i64, 3, s, s], (Kind::Float, tch::Device::Cpu)))
        .collect();
    let t1 = Instant::now();
    let mut n_bare = 0usize;
    for x in &inputs {
        let out = net.embed(x).to_device(tch::Device::Cpu);
        let _rows: Vec<Vec<f32>> = Vec::<Vec<f32>>::try_from(&out)?;
        n_bare += x.size()[0] as usize;
    }
    let bare_s = t1.elapsed().as_secs_f64();
    let pipeline_ips = n_pipe as f64 / pipe_s;
    let bare_ips = n_bare as f64 / bare_s;
    Ok(PrelabelBench {
        device: format!("{device:?}"),
        images: n_pipe,
        batch,
        size: spec.size,
        threads: tch::get_num_threads(),
        pipeline_ips,
        bare_ips,
        ratio: pipeline_ips / bare_ips,
    })
}

/// The `prelabel` row of `yuxuan bench`: the pipeline's images/s with the bare forward loop
/// as its reference, and their ratio against the 0.90 target.
pub fn run_row(cfg: &super::BenchConfig) -> anyhow::Result<super::RowOutcome> {
    let device = match cfg.device.as_str() {
        "cpu" => Some(tch::Device::Cpu),
        "cuda" => Some(tch::Device::Cuda(0)),
        _ => None,
    };
    let r = run(&PrelabelBenchOptions {
        device,
        ..Default::default()
    })?;
    Ok(super::Measured {
        metrics: vec![
            super::Metric::new("pipeline throughput", r.pipeline_ips, "images/s").reference(
                "bare forward loop",
                r.bare_ips,
                "images/s",
            ),
            super::Metric::new("pipeline / bare", r.ratio, "ratio")
                .target(super::Target::at_least(0.90)),
        ],
        notes: vec![format!(
            "MobileNetV2 {}x{}, batch {}, {} emoji PNGs decoded from disk, {} ({} threads)",
            r.size, r.size, r.batch, r.images, r.device, r.threads
        )],
    }
    .into())
}

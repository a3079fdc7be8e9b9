//! The `images-scale` row: a folder of N distinct images (default 100,000: real emoji, each
//! with a pixel pattern of its index so no two files are equal) through the commands a user
//! runs — `new`, `import` (with 1 % of the labels from a CSV), `prelabel` (embeddings), `train`,
//! `prelabel` (the model's suggestions for every item) — each as its own process, with its wall
//! time and peak RSS (`wait4`'s ru_maxrss). Then the resume check: a fresh project's embedding
//! run is killed with SIGKILL halfway, run again, and the second run must compute only what the
//! first did not store. Not a test: it prints numbers.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{Measured, Metric, RowOutcome, Target};

/// One stage: seconds and peak RSS of its process.
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: String,
    pub secs: f64,
    pub peak_mib: f64,
    pub stdout: String,
}

/// Run the product's binary with `args`, wait, and read its peak RSS.
fn stage(name: &str, args: &[&str]) -> anyhow::Result<Stage> {
    let t = Instant::now();
    let out = tempfile::NamedTempFile::new()?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(args)
        .stdout(out.reopen()?)
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let (status, peak_kib) = wait_rusage(&mut child)?;
    let stdout = std::fs::read_to_string(out.path()).unwrap_or_default();
    anyhow::ensure!(
        status == 0,
        "{name}: `yuxuan {}` exited with {status}: {stdout}",
        args.join(" ")
    );
    Ok(Stage {
        name: name.to_string(),
        secs: t.elapsed().as_secs_f64(),
        peak_mib: peak_kib as f64 / 1024.0,
        stdout,
    })
}

/// Wait for `child`, reading its peak RSS (VmHWM of /proc/PID/status) every 20 ms until it
/// exits: (exit status or 128 + signal, peak KiB). `wait4`'s ru_maxrss would count the bench
/// process's own memory, which a forked child starts with.
fn wait_rusage(child: &mut std::process::Child) -> anyhow::Result<(i32, i64)> {
    use std::os::unix::process::ExitStatusExt;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0i64;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_file) {
            if let Some(k) = super::kib_field(&s, "VmHWM:") {
                peak = peak.max(k as i64);
            }
        }
        if let Some(st) = child.try_wait()? {
            let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
            return Ok((code, peak));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `n` distinct 64x64 PNGs made from the installed emoji, with a `labels.csv` of 1 % of them
/// (their emoji category), cached under the bench cache.
pub fn image_folder(n: usize) -> anyhow::Result<(PathBuf, PathBuf)> {
    let root = crate::assets::cache_dir()
        .join("bench-v1")
        .join(format!("scale-{n}"));
    let dir = root.join("images");
    let csv = root.join("labels.csv");
    if root.join(".complete").is_file() {
        return Ok((dir, csv));
    }
    let emoji = crate::assets::emoji_dir();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(emoji.join("emoji.json"))
            .map_err(|e| anyhow::anyhow!("emoji data: {e}; {}", crate::assets::SETUP_HINT))?,
    )?;
    let sources: Vec<(PathBuf, String)> = json
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let p = emoji.join("img64").join(e["image"].as_str()?);
            let c = e["category"]
                .as_str()?
                .replace(' ', "_")
                .replace('&', "and");
            p.is_file().then_some((p, c))
        })
        .collect();
    anyhow::ensure!(
        !sources.is_empty(),
        "no emoji images; {}",
        crate::assets::SETUP_HINT
    );
    let decoded: Vec<image::RgbaImage> = sources
        .iter()
        .map(|(p, _)| image::open(p).map(|i| i.to_rgba8()))
        .collect::<Result<_, _>>()?;
    use rayon::prelude::*;
    (0..n)
        .into_par_iter()
        .try_for_each(|i| -> anyhow::Result<()> {
            let sub = dir.join(format!("{:03}", i / 1000));
            std::fs::create_dir_all(&sub)?;
            let mut img = decoded[i % decoded.len()].clone();
            // The index in the first row's pixels: every file differs (import dedups by content).
            for bit in 0..32u32 {
                let on = (i >> bit) & 1 == 1;
                img.put_pixel(bit, 0, image::Rgba([on as u8 * 255, 0, 0, 255]));
            }
            img.save(sub.join(format!("img-{i:06}.png")))?;
            Ok(())
        })?;
    let mut w = String::from("path,label\n");
    for i in (0..n).step_by(100) {
        let path = dir
            .join(format!("{:03}", i / 1000))
            .join(format!("img-{i:06}.png"));
        w.push_str(&format!(
            "{},{}\n",
            path.display(),
            sources[i % sources.len()].1
        ));
    }
    std::fs::write(&csv, w)?;
    std::fs::write(root.join(".complete"), n.to_string())?;
    Ok((dir, csv))
}

fn count_after(stdout: &str, prefix: &str) -> Option<i64> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The row.
pub fn run_row(cfg: &super::BenchConfig) -> anyhow::Result<RowOutcome> {
    let n = cfg.scale_images.max(100);
    let t_gen = Instant::now();
    let (dir, csv) = image_folder(n)?;
    let gen_s = t_gen.elapsed().as_secs_f64();
    let tmp = tempfile::Builder::new()
        .prefix("bench-scale")
        .tempdir_in(&cfg.dir)?;
    let p = tmp.path().join("scale.yuxuan");
    let ps = p.to_string_lossy().to_string();
    let ds = dir.to_string_lossy().to_string();
    let cs = csv.to_string_lossy().to_string();
    let mut stages = vec![stage(
        "new",
        &["new", &ps, "--kind", "image", "--backbone", "mobilenet-v2"],
    )?];
    stages.push(stage("import", &["import", &ps, &ds, "--labels-csv", &cs])?);
    stages.push(stage("embed (prelabel, no model yet)", &["prelabel", &ps])?);
    stages.push(stage(
        "train (head on cached embeddings)",
        &["train", &ps, "--no-prelabel"],
    )?);
    stages.push(stage(
        "prelabel (suggestions for every item)",
        &["prelabel", &ps],
    )?);

    // Resume after SIGKILL: a second project of the same folder, embedding killed halfway.
    let q = tmp.path().join("resume.yuxuan");
    let qs = q.to_string_lossy().to_string();
    stage(
        "new",
        &["new", &qs, "--kind", "image", "--backbone", "mobilenet-v2"],
    )?;
    stage("import", &["import", &qs, &ds])?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["prelabel", &qs])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let store = crate::store::Store::open(&q)?;
    let id = crate::ml::backbone::BackboneNet::MobilenetV2.id();
    let deadline = Instant::now() + Duration::from_secs(3600);
    let killed_at = loop {
        let k = store.embedding_count(id)?;
        if k as usize >= n / 2 || Instant::now() > deadline {
            child.kill()?; // SIGKILL
            let _ = child.wait();
            break store.embedding_count(id)?;
        }
        if let Some(s) = child.try_wait()? {
            anyhow::bail!("the embedding run ended ({s}) before it was killed");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let resumed = stage("embed again after SIGKILL", &["prelabel", &qs])?;
    let computed = count_after(&resumed.stdout, "computed ").ok_or_else(|| {
        anyhow::anyhow!(
            "no \"computed N new embedding(s)\" line in: {}",
            resumed.stdout
        )
    })?;
    // Embeddings the second run computed although the first had stored them.
    let recomputed = computed + killed_at - n as i64;

    let mut m = Measured::default();
    let total: f64 = stages.iter().map(|s| s.secs).sum();
    m.metrics.push(Metric::new(
        format!("{n} images: import + embed + train + pre-label"),
        total,
        "s",
    ));
    for s in &stages {
        m.metrics.push(
            Metric::new(format!("{}: peak RSS", s.name), s.peak_mib, "MiB")
                .target(Target::below(1024.0))
                .reference("wall time", s.secs, "s"),
        );
    }
    m.metrics.push(
        Metric::new(
            "resume after SIGKILL: embeddings computed again",
            recomputed as f64,
            "",
        )
        .reference("stored before the kill", killed_at as f64, "")
        .target(Target::below(0.5)),
    );
    for s in &stages {
        if let Some(line) = s.stdout.lines().rfind(|l| !l.trim().is_empty()) {
            m.notes.push(format!("{}: {}", s.name, line.trim()));
        }
    }
    m.notes.push(format!(
        "{n} distinct 64x64 emoji PNGs ({gen_s:.0} s to make, cached), MobileNetV2, labels of 1 % from a CSV; each stage is its own `yuxuan` process; the killed run had stored {killed_at}, the second computed the other {computed} in {:.0} s",
        resumed.secs
    ));
    Ok(m.into())
}

//! `yuxuan bench`: the benchmark runner. Each row measures one promise of the product (decision
//! commit latency, queue speed at 100k items, pre-label throughput, head fine-tune time, export
//! throughput, UI frame time) next to a reference measured in the same run (the disk's bare
//! fsync, a bare SQL scan, a bare forward loop...), prints one table and writes the results as
//! JSON. A row whose code is not in this build says so; it never prints a made-up number.
//!
//! Rows live in submodules (`store`, `queue`, `head`; `prelabel`, `export` and the UI frame time
//! come from the areas that own them). [`ROWS`] lists them in table order.

pub mod boxes;
pub mod detect;
pub mod duplicates;
pub mod export;
pub mod forms;
pub mod head;
pub mod images;
pub mod prelabel;
pub mod quality;
pub mod queue;
pub mod scale;
pub mod store;
pub mod suspects;
pub mod synth;
pub mod team;

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// What the runner passes to every row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Scratch directory for the synthetic projects (on the disk being measured; not tmpfs).
    pub dir: PathBuf,
    /// Decisions committed by the decision-latency row.
    pub decisions: usize,
    /// Items of the synthetic project of the queue (and export, UI) rows.
    pub items: usize,
    /// Labelled items (cached embeddings) of the head fine-tune row.
    pub train_items: usize,
    /// Images run through the pre-label pipeline row (emoji PNGs of the installed data).
    pub prelabel_images: usize,
    /// Images of the images-scale row.
    #[serde(default = "default_scale_images")]
    pub scale_images: usize,
    /// Frames drawn by the UI frame-time row.
    pub frames: usize,
    /// Requested tch device for the ML rows: `cpu`, `cuda` or `auto`.
    pub device: String,
    pub seed: u64,
}

fn default_scale_images() -> usize {
    100_000
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            dir: std::env::temp_dir(),
            decisions: 10_000,
            items: 100_000,
            train_items: 10_000,
            prelabel_images: 128,
            scale_images: default_scale_images(),
            frames: 200,
            device: "auto".into(),
            seed: 42,
        }
    }
}

/// How a figure compares with its target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Cmp {
    /// Lower is better: pass when `value < target`.
    #[serde(rename = "<")]
    Below,
    /// Higher is better: pass when `value >= target`.
    #[serde(rename = ">=")]
    AtLeast,
}

/// The product's target for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub op: Cmp,
    pub value: f64,
}

impl Target {
    pub fn below(value: f64) -> Target {
        Target {
            op: Cmp::Below,
            value,
        }
    }
    pub fn at_least(value: f64) -> Target {
        Target {
            op: Cmp::AtLeast,
            value,
        }
    }
    pub fn met_by(&self, v: f64) -> bool {
        match self.op {
            Cmp::Below => v < self.value,
            Cmp::AtLeast => v >= self.value,
        }
    }
}

/// A figure measured in the same run as the metric it puts in perspective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

/// One measured figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    pub unit: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<Target>,
    /// Whether the target is met (absent when the figure has no target).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pass: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reference: Option<Reference>,
}

impl Metric {
    pub fn new(name: impl Into<String>, value: f64, unit: impl Into<String>) -> Metric {
        Metric {
            name: name.into(),
            value,
            unit: unit.into(),
            target: None,
            pass: None,
            reference: None,
        }
    }
    pub fn target(mut self, t: Target) -> Metric {
        self.pass = Some(t.met_by(self.value));
        self.target = Some(t);
        self
    }
    pub fn reference(
        mut self,
        name: impl Into<String>,
        value: f64,
        unit: impl Into<String>,
    ) -> Metric {
        self.reference = Some(Reference {
            name: name.into(),
            value,
            unit: unit.into(),
        });
        self
    }
}

/// Outcome of a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status", content = "detail")]
pub enum Status {
    Measured,
    /// The code this row measures is not in this build (the reason names what is missing).
    NotAvailable(String),
    /// The row ran and failed (the error, with its causes).
    Failed(String),
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowResult {
    pub id: String,
    pub title: String,
    #[serde(flatten)]
    pub status: Status,
    pub metrics: Vec<Metric>,
    /// Free-form facts about how it was measured (sizes, device, warm cache...).
    pub notes: Vec<String>,
    /// Wall time of the whole row (setup included).
    pub seconds: f64,
}

/// What a row's function returns when it measured something.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    pub metrics: Vec<Metric>,
    pub notes: Vec<String>,
}

/// A row's body: measures, or says why it cannot.
pub enum RowOutcome {
    Measured(Measured),
    NotAvailable(String),
}

impl From<Measured> for RowOutcome {
    fn from(m: Measured) -> Self {
        RowOutcome::Measured(m)
    }
}

/// A reference run as a server process (the Python scripts a user would write): one request
/// line in, one reply line out, so that the bench interleaves its passes with the product's
/// on the same state of the machine. Its stdin closes when it is dropped (the script ends).
pub(crate) struct RefProcess {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    /// What the errors call it ("the Python reference").
    name: &'static str,
    /// Added to the error when it ended (what installs it).
    hint: &'static str,
}

impl RefProcess {
    /// Start `cmd` with piped stdio; `missing` says what to do when it cannot start.
    pub(crate) fn spawn(
        cmd: &mut std::process::Command,
        name: &'static str,
        hint: &'static str,
        missing: &str,
    ) -> Result<RefProcess, String> {
        use std::process::Stdio;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{missing} ({e}); {}", crate::assets::SETUP_HINT))?;
        let stdin = child.stdin.take();
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(RefProcess {
            child,
            stdin,
            stdout,
            name,
            hint,
        })
    }

    /// The next line it prints; when it has ended, the last line of its stderr as the error.
    pub(crate) fn line(&mut self) -> Result<String, String> {
        use std::io::{BufRead, Read};
        let mut line = String::new();
        if self
            .stdout
            .read_line(&mut line)
            .map_err(|e| e.to_string())?
            > 0
        {
            return Ok(line);
        }
        self.stdin = None;
        let _ = self.child.wait();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        Err(format!(
            "{} failed{}: {}",
            self.name,
            self.hint,
            err.lines().last().unwrap_or("no output")
        ))
    }

    /// Send one request line and read its JSON reply.
    pub(crate) fn request<T: serde::de::DeserializeOwned>(
        &mut self,
        msg: &str,
    ) -> Result<T, String> {
        use std::io::Write;
        let name = self.name;
        let stdin = self.stdin.as_mut().ok_or(format!("{name} has ended"))?;
        stdin
            .write_all(format!("{msg}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("{name} has ended: {e}"))?;
        let line = self.line()?;
        serde_json::from_str(&line).map_err(|e| format!("unreadable reference output: {e}"))
    }
}

impl Drop for RefProcess {
    fn drop(&mut self) {
        self.stdin = None; // EOF: the script ends
        let _ = self.child.wait();
    }
}

/// The median (the upper one of an even count; NaN of nothing).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A row the runner knows.
pub struct RowSpec {
    pub id: &'static str,
    pub title: &'static str,
    pub run: fn(&BenchConfig) -> anyhow::Result<RowOutcome>,
}

/// Every row, in table order.
pub const ROWS: &[RowSpec] = &[
    RowSpec {
        id: "decision-latency",
        title: "decision commit latency (WAL, synchronous=FULL, one transaction each)",
        run: store::run_row,
    },
    RowSpec {
        id: "queue",
        title: "queue open / next item at 100k and 1M items, peak RSS",
        run: queue::run_row,
    },
    RowSpec {
        id: "prelabel",
        title: "pre-label pipeline (emoji PNGs) vs its bare forward loop and the best Python torchvision number, per backbone",
        run: prelabel::run_row,
    },
    RowSpec {
        id: "prelabel-photos",
        title: "pre-label pipeline on 12-megapixel camera JPEGs (DCT-scaled decode) vs bare forward",
        run: prelabel::run_photos_row,
    },
    RowSpec {
        id: "images-scale",
        title: "a folder of 100k images: import + embed + train + pre-label, per-stage time and peak RSS, resume after kill -9",
        run: scale::run_row,
    },
    RowSpec {
        id: "boxes",
        title: "object pre-labels: edits per truth box over a full pass (YOLO11n, real photos with boxes) vs drawing by hand",
        run: boxes::run_row,
    },
    RowSpec {
        id: "detect",
        title: "object pre-label speed: `yuxuan prelabel` (YOLO11n) on real photos and 12-MP JPEGs vs ultralytics predict and the bare forward loop, peak RSS",
        run: detect::run_row,
    },
    RowSpec {
        id: "head-finetune",
        title: "head fine-tune on cached embeddings",
        run: head::run_row,
    },
    RowSpec {
        id: "images",
        title: "image pre-labels: corrections of a full pass vs the torchvision + scikit-learn script (emoji, digits)",
        run: images::run_row,
    },
    RowSpec {
        id: "suspects",
        title: "suspect labels: precision@k on 5 % flipped labels vs cleanlab + scikit-learn (emoji, digits)",
        run: suspects::run_row,
    },
    RowSpec {
        id: "field-types",
        title: "field typing out of the box: page F1 of the base model on held-out Formasaurus pages and Chinese H5 demo pages",
        run: forms::run_row,
    },
    RowSpec {
        id: "duplicates",
        title: "near-duplicate search on cached embeddings",
        run: duplicates::run_row,
    },
    RowSpec {
        id: "export",
        title: "export throughput at 100k items",
        run: export_row,
    },
    RowSpec {
        id: "team",
        title: "team project on loopback PostgreSQL: commit/lease at 1 and 20 annotators, push, queue open",
        run: team::run_row,
    },
    RowSpec {
        id: "quality",
        title: "team quality control: 20 erring annotators, 10 % x 3 overlap, gold; agreement vs scikit-learn / krippendorff",
        run: quality::run_row,
    },
    RowSpec {
        id: "ui-frame",
        title: "UI frame time, review screen, 100k items",
        run: ui_frame_row,
    },
];

/// Row `export`: CSV and JSONL exports of a synthetic project (`bench::export`), next to the
/// time this disk takes to write and fsync the same number of bytes.
fn export_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    let tmp = tempfile::Builder::new()
        .prefix("bench-export")
        .tempdir_in(&cfg.dir)?;
    let r = export::run(cfg.items.max(10), tmp.path())?;
    let mut metrics = Vec::new();
    for t in &r.timings {
        let secs = t.elapsed.as_secs_f64();
        let floor = write_floor(tmp.path(), t.bytes)?;
        metrics.push(
            Metric::new(format!("{} ({} rows)", t.name, t.rows), secs, "s")
                .target(Target::below(10.0))
                .reference(
                    format!("write+fsync {:.1} MB", t.bytes as f64 / 1e6),
                    floor,
                    "s",
                ),
        );
        metrics.push(Metric::new(
            format!("{} throughput", t.name),
            t.rows as f64 / secs.max(1e-9),
            "rows/s",
        ));
    }
    let mut notes = vec![format!(
        "{} items (10 classes, 70% human-labelled, a prediction each), built in {:.1} s",
        r.items,
        r.setup.as_secs_f64()
    )];
    if let (Some(a), Some(b)) = (r.peak_kib_before, r.peak_kib_after) {
        notes.push(format!(
            "peak RSS {:.0} MiB before the exports, {:.0} MiB after (streaming)",
            a as f64 / 1024.0,
            b as f64 / 1024.0
        ));
    }
    Ok(Measured { metrics, notes }.into())
}

/// Seconds to write `bytes` bytes (64 KiB writes) to a new file in `dir` and fsync it.
fn write_floor(dir: &std::path::Path, bytes: u64) -> anyhow::Result<f64> {
    use std::io::Write;
    let t = Instant::now();
    let mut f = tempfile::Builder::new()
        .prefix("bench-floor")
        .tempfile_in(dir)?;
    let buf = vec![b'x'; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.as_file().sync_all()?;
    Ok(t.elapsed().as_secs_f64())
}

/// Row `ui-frame`: frame times of the real review screen, headless, over a project of N items
/// (`ui::frame_time_bench`: layout + tessellation, a key press per frame).
fn ui_frame_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    let tmp = tempfile::Builder::new()
        .prefix("bench-ui")
        .tempdir_in(&cfg.dir)?;
    let r = crate::ui::frame_time_bench(tmp.path(), cfg.items.max(10), cfg.frames.max(1))?;
    Ok(Measured {
        metrics: vec![
            Metric::new("frame p50", r.p50_ms, "ms"),
            Metric::new("frame p95", r.p95_ms, "ms").target(Target::below(16.0)),
            Metric::new("frame max", r.max_ms, "ms"),
        ],
        notes: vec![format!(
            "{} items, {} frames with a key press each (accept / digit), {} decisions saved; project built in {:.1} s; \
             no same-run reference (headless egui: layout + tessellation, no GPU)",
            r.items, r.frames, r.decisions, r.setup_s
        )],
    }
    .into())
}

/// Errors of the runner itself.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("unknown bench row {0:?}; rows: {1}")]
    UnknownRow(String, String),
}

/// The ids of the rows, comma-separated (for help and errors).
pub fn row_ids() -> String {
    ROWS.iter().map(|r| r.id).collect::<Vec<_>>().join(", ")
}

/// Resolve row names (empty = all) to specs, in table order, refusing unknown names.
pub fn select(names: &[String]) -> Result<Vec<&'static RowSpec>, BenchError> {
    for n in names {
        if !ROWS.iter().any(|r| r.id == n) {
            return Err(BenchError::UnknownRow(n.clone(), row_ids()));
        }
    }
    Ok(ROWS
        .iter()
        .filter(|r| names.is_empty() || names.iter().any(|n| n == r.id))
        .collect())
}

/// Run one row, turning an error into a `Failed` row (one failing row never hides the others).
pub fn run_one(spec: &RowSpec, cfg: &BenchConfig) -> RowResult {
    let t0 = Instant::now();
    // A row that panics (a bug in the code it measures) fails alone; the others still run.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (spec.run)(cfg)))
        .unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(anyhow::anyhow!("panicked: {msg}"))
        });
    let (status, metrics, notes) = match outcome {
        Ok(RowOutcome::Measured(m)) => (Status::Measured, m.metrics, m.notes),
        Ok(RowOutcome::NotAvailable(why)) => (Status::NotAvailable(why), vec![], vec![]),
        Err(e) => (Status::Failed(format!("{e:#}")), vec![], vec![]),
    };
    RowResult {
        id: spec.id.to_string(),
        title: spec.title.to_string(),
        status,
        metrics,
        notes,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

/// The machine the numbers were taken on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub os: String,
    /// File system of the scratch directory (fsync cost depends on it).
    pub scratch_fs: String,
    pub sqlite: String,
    pub cuda_devices: i64,
    pub build: String,
}

impl Machine {
    pub fn detect(scratch: &std::path::Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| kib_field(&m, "MemTotal:"))
            .map(|k| k as f64 / 1024.0 / 1024.0)
            .unwrap_or(0.0);
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| {
                s.lines().find(|l| l.starts_with("PRETTY_NAME=")).map(|l| {
                    l.trim_start_matches("PRETTY_NAME=")
                        .trim_matches('"')
                        .to_string()
                })
            })
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        Machine {
            cpu,
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            memory_gib: (memory_gib * 10.0).round() / 10.0,
            os,
            scratch_fs: fs_type(scratch),
            sqlite: crate::store::Store::sqlite_version().to_string(),
            cuda_devices: {
                crate::ml::device::load_cuda();
                tch::Cuda::device_count()
            },
            build: if cfg!(debug_assertions) {
                "debug".into()
            } else {
                "release".into()
            },
        }
    }
}

/// The file system type of the mount holding `path` (longest matching mount point).
fn fs_type(path: &std::path::Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, mnt, ty) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(mnt).then(|| (mnt.len(), ty.to_string()))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, t)| t)
        .unwrap_or_else(|| "unknown".into())
}

/// A `/proc` field in kB (e.g. `VmHWM:` of /proc/self/status).
pub(crate) fn kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Peak resident set size of this process (VmHWM), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&s, "VmHWM:").map(|k| k as f64 / 1024.0)
}

/// Current resident set size of this process (VmRSS), in MiB.
pub fn rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&s, "VmRSS:").map(|k| k as f64 / 1024.0)
}

/// Reset the peak RSS to the current RSS (Linux >= 4.0: `5` into /proc/self/clear_refs), so a
/// row's peak is its own and not an earlier row's. Returns whether the kernel accepted it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Latency summary of a sample, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub n: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    /// Nearest-rank percentiles of durations in seconds, reported in milliseconds.
    pub fn of_seconds(samples: &[f64]) -> Latency {
        let mut v: Vec<f64> = samples.iter().map(|s| s * 1000.0).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n == 0 {
            return Latency {
                n: 0,
                p50: f64::NAN,
                p99: f64::NAN,
                max: f64::NAN,
                mean: f64::NAN,
            };
        }
        Latency {
            n,
            p50: percentile_sorted(&v, 50.0),
            p99: percentile_sorted(&v, 99.0),
            max: v[n - 1],
            mean: v.iter().sum::<f64>() / n as f64,
        }
    }
}

/// Nearest-rank percentile of a sorted, non-empty slice.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// The whole run, as written to `--out`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub yuxuan: String,
    pub started_at: String,
    pub command: String,
    pub machine: Machine,
    pub config: BenchConfig,
    pub rows: Vec<RowResult>,
}

/// Run the selected rows (empty = all) in table order.
pub fn run(
    names: &[String],
    cfg: &BenchConfig,
    mut on_row: impl FnMut(&RowResult),
) -> anyhow::Result<Report> {
    let specs = select(names)?;
    std::fs::create_dir_all(&cfg.dir)?;
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let machine = Machine::detect(&cfg.dir);
    let mut rows = Vec::with_capacity(specs.len());
    for spec in specs {
        let r = run_one(spec, cfg);
        on_row(&r);
        rows.push(r);
    }
    Ok(Report {
        yuxuan: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine,
        config: cfg.clone(),
        rows,
    })
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The table printed by `yuxuan bench` (also the body of BENCHMARKS.md): one line per metric.
pub fn table(report: &Report) -> String {
    let mut lines: Vec<[String; 6]> = vec![[
        "row".into(),
        "metric".into(),
        "value".into(),
        "reference (same run)".into(),
        "target".into(),
        "ok".into(),
    ]];
    for r in &report.rows {
        match &r.status {
            Status::Measured => {
                for (i, m) in r.metrics.iter().enumerate() {
                    lines.push([
                        if i == 0 { r.id.clone() } else { String::new() },
                        m.name.clone(),
                        format!("{} {}", fmt_num(m.value), m.unit),
                        m.reference
                            .as_ref()
                            .map(|x| format!("{}: {} {}", x.name, fmt_num(x.value), x.unit))
                            .unwrap_or_default(),
                        m.target
                            .map(|t| {
                                let op = match t.op {
                                    Cmp::Below => "<",
                                    Cmp::AtLeast => ">=",
                                };
                                format!("{op} {} {}", fmt_num(t.value), m.unit)
                            })
                            .unwrap_or_default(),
                        match m.pass {
                            Some(true) => "yes".into(),
                            Some(false) => "NO".into(),
                            None => String::new(),
                        },
                    ]);
                }
            }
            Status::NotAvailable(why) => lines.push([
                r.id.clone(),
                why.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]),
            Status::Failed(e) => lines.push([
                r.id.clone(),
                format!("FAILED: {e}"),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]),
        }
    }
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        out.push_str("| ");
        out.push_str(&l.join(" | "));
        out.push_str(" |\n");
        if i == 0 {
            out.push_str("| --- | --- | ---: | --- | --- | --- |\n");
        }
    }
    out
}

/// Notes of every measured row, as a bullet list.
pub fn notes(report: &Report) -> String {
    let mut out = String::new();
    for r in &report.rows {
        for n in &r.notes {
            out.push_str(&format!("- {}: {n}\n", r.id));
        }
        if matches!(r.status, Status::Measured | Status::Failed(_)) {
            out.push_str(&format!("- {}: row took {:.1} s\n", r.id, r.seconds));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(|i| i as f64 / 1000.0).collect();
        let l = Latency::of_seconds(&v);
        assert_eq!((l.n, l.p50, l.p99, l.max), (100, 50.0, 99.0, 100.0));
        assert!((l.mean - 50.5).abs() < 1e-9);
        let one = Latency::of_seconds(&[0.002]);
        assert_eq!((one.p50, one.p99), (2.0, 2.0));
        assert!(Latency::of_seconds(&[]).p99.is_nan());
    }

    #[test]
    fn targets_compare_both_ways() {
        assert!(Target::below(2.0).met_by(1.9));
        assert!(!Target::below(2.0).met_by(2.0));
        assert!(Target::at_least(0.9).met_by(0.9));
        assert!(!Target::at_least(0.9).met_by(0.89));
        let m = Metric::new("p99", 3.0, "ms").target(Target::below(2.0));
        assert_eq!(m.pass, Some(false));
    }

    #[test]
    fn unknown_rows_are_refused_and_selection_keeps_table_order() {
        assert!(matches!(
            select(&["nope".into()]),
            Err(BenchError::UnknownRow(..))
        ));
        let s = select(&["queue".into(), "decision-latency".into()]).unwrap();
        assert_eq!(
            s.iter().map(|r| r.id).collect::<Vec<_>>(),
            ["decision-latency", "queue"]
        );
        assert_eq!(select(&[]).unwrap().len(), ROWS.len());
    }

    #[test]
    fn unavailable_and_failing_rows_print_no_number() {
        fn missing(_: &BenchConfig) -> anyhow::Result<RowOutcome> {
            Ok(RowOutcome::NotAvailable(
                "not available in this build: x".into(),
            ))
        }
        fn broken(_: &BenchConfig) -> anyhow::Result<RowOutcome> {
            Err(anyhow::anyhow!("disk on fire"))
        }
        fn panics(_: &BenchConfig) -> anyhow::Result<RowOutcome> {
            panic!("bug in a row")
        }
        fn fine(_: &BenchConfig) -> anyhow::Result<RowOutcome> {
            Ok(Measured {
                metrics: vec![Metric::new("p99", 1.5, "ms").target(Target::below(2.0))],
                notes: vec![],
            }
            .into())
        }
        let cfg = BenchConfig::default();
        let rows: Vec<RowResult> = [
            ("a", missing as fn(&BenchConfig) -> _),
            ("b", broken),
            ("c", fine),
        ]
        .into_iter()
        .map(|(id, run)| {
            run_one(
                &RowSpec {
                    id,
                    title: "t",
                    run,
                },
                &cfg,
            )
        })
        .collect();
        assert!(matches!(&rows[0].status, Status::NotAvailable(w) if w.contains("not available")));
        assert!(matches!(&rows[1].status, Status::Failed(e) if e.contains("disk on fire")));
        let p = run_one(
            &RowSpec {
                id: "p",
                title: "t",
                run: panics,
            },
            &cfg,
        );
        assert!(matches!(&p.status, Status::Failed(e) if e.contains("panicked: bug in a row")));
        assert!(rows[0].metrics.is_empty() && rows[1].metrics.is_empty());
        let report = Report {
            yuxuan: "t".into(),
            started_at: "t".into(),
            command: "t".into(),
            machine: Machine::detect(std::path::Path::new("/")),
            config: cfg,
            rows,
        };
        let t = table(&report);
        assert!(t.contains("| a | not available in this build: x |"), "{t}");
        assert!(t.contains("FAILED: disk on fire"), "{t}");
        assert!(
            t.contains("| c | p99 | 1.50 ms |  | < 2.00 ms | yes |"),
            "{t}"
        );
        // The JSON says the same.
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["rows"][0]["status"], "not-available");
        assert_eq!(json["rows"][2]["metrics"][0]["pass"], true);
    }

    #[test]
    fn peak_rss_is_readable_and_resettable_on_linux() {
        let peak = peak_rss_mib().expect("VmHWM in /proc/self/status");
        assert!(peak > 0.0);
        if reset_peak_rss() {
            let after = peak_rss_mib().unwrap();
            assert!(after <= peak + 64.0);
        }
    }

    #[test]
    fn fs_type_of_root_is_known() {
        assert_ne!(fs_type(std::path::Path::new("/")), "unknown");
    }
}

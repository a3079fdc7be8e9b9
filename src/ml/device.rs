//! Device selection (CUDA when present, else CPU) and what LibTorch reports about itself.

use std::path::PathBuf;

use tch::{Device, Tensor};

/// CUDA:0 when LibTorch sees a GPU, else CPU. `YUXUAN_DEVICE=cpu` forces the CPU.
pub fn best_device() -> Device {
    match std::env::var("YUXUAN_DEVICE").as_deref() {
        Ok("cpu") => Device::Cpu,
        _ => {
            load_cuda();
            Device::cuda_if_available()
        }
    }
}

/// Keep big tensors in the heap: glibc serves every allocation above its mmap threshold (at
/// most 32 MB by default) with a fresh `mmap` and returns it with `munmap` on free, so each
/// batch's activations (a `[32, 32, 112, 112]` float tensor is 51 MB) are page-faulted and
/// zeroed again by the kernel. Measured with the same libtorch in Python on this 2-core CPU,
/// MobileNetV2 batch 32: 137 img/s with glibc's defaults (12.5 s of 29 s in the kernel), 420
/// img/s with the threshold raised and at most 256 MB of free heap kept (0.7 s in the kernel),
/// same peak RSS. Call once at start-up, before LibTorch allocates.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets glibc's malloc parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

/// Load LibTorch's CUDA half (`libtorch_cuda.so` and, through it, the CUDA libraries) if this
/// LibTorch has one; once per process, before anything asks for a GPU. It is not linked at
/// build time: mapping it costs every process ~300 MB of RSS and most of a second at start-up,
/// which commands that never touch a model (`stats`, `export`, the review screen) should not pay.
/// Loading it registers the CUDA backend with libtorch, as linking it would have.
pub fn load_cuda() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Some(dir) = loaded_libtorch_dir() else {
            return;
        };
        for lib in ["libc10_cuda.so", "libtorch_cuda.so"] {
            let path = dir.join(lib);
            if !path.is_file() {
                continue;
            }
            let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
                continue;
            };
            // SAFETY: a NUL-terminated path; the handle is kept for the process's lifetime.
            let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
            if handle.is_null() {
                // SAFETY: dlerror returns a thread-local C string or null.
                let why = unsafe {
                    let e = libc::dlerror();
                    if e.is_null() {
                        "unknown error".to_string()
                    } else {
                        std::ffi::CStr::from_ptr(e).to_string_lossy().into_owned()
                    }
                };
                eprintln!(
                    "warning: cannot load {}: {why}; running on the CPU",
                    path.display()
                );
                return;
            }
        }
    });
}

/// `device` after [`load_cuda`] when it is a CUDA device.
pub fn prepare(device: Device) -> Device {
    if device != Device::Cpu {
        load_cuda();
    }
    device
}

/// What `yuxuan doctor` prints about LibTorch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TorchInfo {
    pub version: Option<String>,
    pub lib_dir: Option<PathBuf>,
    pub cuda_available: bool,
    pub cuda_device_count: i64,
    pub cuda_device_names: Vec<String>,
    pub cudnn_available: bool,
    pub cudnn_version: Option<i64>,
    pub threads: i32,
    /// Why CUDA is not available, in LibTorch's words (None where it is).
    pub cuda_unavailable_because: Option<String>,
}

/// The directory of the libtorch actually loaded (from /proc/self/maps), else the one linked at
/// build time.
pub fn loaded_libtorch_dir() -> Option<PathBuf> {
    if let Ok(maps) = std::fs::read_to_string("/proc/self/maps") {
        for line in maps.lines() {
            if let Some(idx) = line.find('/') {
                let path = &line[idx..];
                if path.ends_with("/libtorch_cpu.so") {
                    return PathBuf::from(path).parent().map(|p| p.to_path_buf());
                }
            }
        }
    }
    option_env!("YUXUAN_LIBTORCH_LIB").map(PathBuf::from)
}

/// The libtorch version: `torch/version.py` of a PyTorch install, or `build-version` of a
/// standalone libtorch.
fn libtorch_version(lib_dir: &std::path::Path) -> Option<String> {
    let root = lib_dir.parent()?;
    if let Ok(s) = std::fs::read_to_string(root.join("version.py")) {
        for line in s.lines() {
            if let Some(v) = line.strip_prefix("__version__ = ") {
                return Some(v.trim().trim_matches('\'').trim_matches('"').to_string());
            }
        }
    }
    std::fs::read_to_string(root.join("build-version"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Query LibTorch (CUDA, cuDNN, threads). Touching CUDA initialises it, so this takes a moment
/// on a GPU machine.
pub fn torch_info() -> TorchInfo {
    load_cuda();
    let lib_dir = loaded_libtorch_dir();
    let cuda_available = tch::Cuda::is_available();
    let count = tch::Cuda::device_count();
    let mut names = Vec::new();
    if cuda_available {
        for i in 0..count {
            names.push(cuda_device_name(i).unwrap_or_else(|| format!("cuda:{i}")));
        }
    }
    let cudnn_available = tch::Cuda::cudnn_is_available();
    let cuda_unavailable_because = (!cuda_available).then(|| cuda_absence(lib_dir.as_deref()));
    TorchInfo {
        version: lib_dir.as_deref().and_then(libtorch_version),
        lib_dir,
        cuda_available,
        cuda_device_count: count,
        cuda_device_names: names,
        cudnn_available,
        cudnn_version: None,
        threads: tch::get_num_threads(),
        cuda_unavailable_because,
    }
}

/// Why no CUDA device can be used: a CPU-only LibTorch, or what the CUDA backend says when
/// asked for a tensor (no driver, no GPU).
fn cuda_absence(lib_dir: Option<&std::path::Path>) -> String {
    if !lib_dir.is_some_and(|d| d.join("libtorch_cuda.so").is_file()) {
        return "this LibTorch is a CPU-only build".into();
    }
    match Tensor::f_zeros([1], (tch::Kind::Float, Device::Cuda(0))) {
        Ok(_) => "a CUDA tensor could be made, yet no device is counted".into(),
        Err(e) => {
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("").trim();
            first
                .strip_prefix("Internal torch error: ")
                .unwrap_or(first)
                .to_string()
        }
    }
}

/// The GPU's name as the driver reports it (nvidia-smi), when it can be asked.
fn cuda_device_name(index: i64) -> Option<String> {
    let out = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=name",
            "--format=csv,noheader",
            &format!("--id={index}"),
        ])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

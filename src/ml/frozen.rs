//! Frozen backbones as TorchScript (issue 15): `scripts/export_backbones.py` traces and freezes
//! each backbone at setup (batch-norm folded into the convolutions, weights as constants) in
//! three forms, times them on the machine and records the fastest with every file's sha256 in
//! `<id>.torchscript.json`. Here the chosen file is loaded, checked and, for
//! [`Variant::OptimizeForInference`], passed through libtorch's `optimize_for_inference`
//! (oneDNN convolutions with prepacked weights) — what a Python user gets from
//! `torch.jit.optimize_for_inference(torch.jit.freeze(...))`; tch does not expose that pass, so
//! `native/jit_opt.cpp` calls it (built by `build.rs`). [`Variant::Fused`] goes further: that
//! pass leaves every ReLU6 as a separate clamp over the activations (17 % of MobileNetV2's time
//! on the 2-core VM), so the export rewrites each convolution into a oneDNN convolution with its
//! ReLU6 or residual add fused in, which is also what Inductor emits.
//!
//! CPU only: the optimised graph is oneDNN's. The tch-native modules stay for CUDA and for the
//! fine-tune mode. Embeddings agree with the native modules (cosine ≥ 0.9999, checked at export
//! and by a test), so cached embeddings keep their keys.

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};

use tch::Tensor;

use super::backbone::{BackboneError, BackboneNet, Embedder};

extern "C" {
    fn yx_jit_load(path: *const c_char, optimize: bool, err: *mut *mut c_char) -> *mut c_void;
    fn yx_jit_forward(
        module: *mut c_void,
        x: *const torch_sys::C_tensor,
        channels_last: bool,
        err: *mut *mut c_char,
    ) -> *mut torch_sys::C_tensor;
    fn yx_jit_free(module: *mut c_void);
    fn yx_jit_free_str(s: *mut c_char);
}

/// Why an exported backbone cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FrozenError {
    #[error("{net}: no exported TorchScript at {path}; {hint}", hint = crate::assets::SETUP_HINT)]
    Missing { net: &'static str, path: PathBuf },
    #[error("{net}: {path} does not match its recorded sha256 (damaged or replaced); {hint}", hint = crate::assets::SETUP_HINT)]
    Checksum { net: &'static str, path: PathBuf },
    #[error("{net}: cannot read {path}: {source}")]
    Io {
        net: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{net}: libtorch could not load and optimise {path}: {message}")]
    Torch {
        net: &'static str,
        path: PathBuf,
        message: String,
    },
}

impl From<FrozenError> for BackboneError {
    fn from(e: FrozenError) -> Self {
        BackboneError::Frozen(Box::new(e))
    }
}

/// The two exported forms of a backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// NCHW, optimised for inference by libtorch at load (oneDNN, prepacked weights).
    OptimizeForInference,
    /// Weights and input in channels-last memory format.
    ChannelsLast,
    /// Every convolution a oneDNN convolution with its ReLU6 or residual add fused in
    /// (`mkldnn::_convolution_pointwise`), channels-last input; loaded as saved.
    Fused,
}

impl Variant {
    pub const fn as_str(self) -> &'static str {
        match self {
            Variant::OptimizeForInference => "optimize_for_inference",
            Variant::ChannelsLast => "channels_last",
            Variant::Fused => "fused",
        }
    }

    /// Whether the module takes its input in channels-last memory format.
    pub const fn channels_last_input(self) -> bool {
        matches!(self, Variant::ChannelsLast | Variant::Fused)
    }
}

#[derive(Debug, serde::Deserialize)]
struct ManifestFile {
    file: String,
    sha256: String,
}

/// `<id>.torchscript.json`, written by the export.
#[derive(Debug, serde::Deserialize)]
struct Manifest {
    variant: Variant,
    files: std::collections::HashMap<String, ManifestFile>,
}

/// Where setup puts a net's export manifest (`<weights>/<id>.torchscript.json`).
pub fn manifest_path(net: BackboneNet) -> PathBuf {
    crate::assets::mobilenet_weights()
        .with_file_name(format!("{}.torchscript.json", file_stem(net)))
}

fn file_stem(net: BackboneNet) -> &'static str {
    match net {
        BackboneNet::MobilenetV2 => "mobilenet_v2",
        BackboneNet::EfficientnetLite0 => "efficientnet_lite0",
    }
}

fn take_err(err: *mut c_char) -> String {
    if err.is_null() {
        return "unknown error".into();
    }
    // SAFETY: the shim returns a NUL-terminated malloc'd string that we own.
    let s = unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .into_owned();
    unsafe { yx_jit_free_str(err) };
    s
}

/// A TorchScript module loaded by libtorch for CPU inference (optimised or as saved).
pub struct OptimizedModule {
    ptr: *mut c_void,
}

// SAFETY: a torch::jit::Module is a reference-counted handle; forward on one thread at a time
// (the module is not Sync) is what libtorch supports.
unsafe impl Send for OptimizedModule {}

impl std::fmt::Debug for OptimizedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OptimizedModule")
    }
}

impl OptimizedModule {
    /// Load `path` in eval mode; with `optimize`, freeze it if needed and optimise it for
    /// inference (about a second).
    pub fn load(path: &Path, optimize: bool) -> Result<OptimizedModule, String> {
        let c = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("{} contains a NUL byte", path.display()))?;
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: valid C string, out-pointer for the error.
        let ptr = unsafe { yx_jit_load(c.as_ptr(), optimize, &mut err) };
        if ptr.is_null() {
            return Err(take_err(err));
        }
        Ok(OptimizedModule { ptr })
    }

    /// `forward(x)` without autograd, `x` first made contiguous in the given memory format.
    pub fn forward(&self, x: &Tensor, channels_last: bool) -> Result<Tensor, String> {
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: self.ptr is a live module; x.as_ptr() a live tensor for the call.
        let out = unsafe { yx_jit_forward(self.ptr, x.as_ptr(), channels_last, &mut err) };
        if out.is_null() {
            return Err(take_err(err));
        }
        // SAFETY: the shim returns a new owned at::Tensor*.
        Ok(unsafe { Tensor::from_ptr(out) })
    }
}

impl Drop for OptimizedModule {
    fn drop(&mut self) {
        // SAFETY: owned pointer from yx_jit_load_optimized, freed once.
        unsafe { yx_jit_free(self.ptr) }
    }
}

/// An exported backbone: normalised `[N, 3, S, S]` → pooled features, on the CPU.
#[derive(Debug)]
pub struct FrozenBackbone {
    net: BackboneNet,
    variant: Variant,
    module: OptimizedModule,
}

impl FrozenBackbone {
    /// The installed export of `net` in the variant setup found faster on this machine,
    /// checked against its recorded sha256.
    pub fn load(net: BackboneNet) -> Result<FrozenBackbone, FrozenError> {
        Self::load_from(net, &manifest_path(net), None)
    }

    /// The export described by `manifest`, in `variant` (None: the manifest's choice).
    pub fn load_from(
        net: BackboneNet,
        manifest: &Path,
        variant: Option<Variant>,
    ) -> Result<FrozenBackbone, FrozenError> {
        let name = net.display_name();
        if !manifest.is_file() {
            return Err(FrozenError::Missing {
                net: name,
                path: manifest.to_path_buf(),
            });
        }
        let io = |path: &Path, source| FrozenError::Io {
            net: name,
            path: path.to_path_buf(),
            source,
        };
        let text = std::fs::read_to_string(manifest).map_err(|e| io(manifest, e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| FrozenError::Torch {
            net: name,
            path: manifest.to_path_buf(),
            message: format!("unreadable export manifest: {e}"),
        })?;
        let variant = variant.unwrap_or(m.variant);
        let entry = m
            .files
            .get(variant.as_str())
            .ok_or_else(|| FrozenError::Missing {
                net: name,
                path: manifest.to_path_buf(),
            })?;
        let path = manifest.with_file_name(&entry.file);
        if !path.is_file() {
            return Err(FrozenError::Missing { net: name, path });
        }
        let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
        use sha2::Digest;
        if hex(&sha2::Sha256::digest(&bytes)) != entry.sha256 {
            return Err(FrozenError::Checksum { net: name, path });
        }
        let module = OptimizedModule::load(&path, variant == Variant::OptimizeForInference)
            .map_err(|message| FrozenError::Torch {
                net: name,
                path: path.clone(),
                message,
            })?;
        Ok(FrozenBackbone {
            net,
            variant,
            module,
        })
    }

    pub fn net(&self) -> BackboneNet {
        self.net
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Embedder for FrozenBackbone {
    fn features(&self, xs: &Tensor) -> Result<Tensor, BackboneError> {
        let x = xs.to_device(tch::Device::Cpu);
        self.module
            .forward(&x, self.variant.channels_last_input())
            .map_err(|message| BackboneError::Forward {
                net: self.net.display_name(),
                message,
            })
    }
}

//! Where yuxuan finds what setup installed: the cache dir (venv, weights, data) and fonts.
//! Nothing here downloads: a missing asset is reported with the command that installs it.

use std::path::{Path, PathBuf};

/// `${YUXUAN_CACHE:-$HOME/.cache/yuxuan}`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("YUXUAN_CACHE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("yuxuan")
}

/// MobileNetV2 ImageNet weights converted to safetensors by `scripts/setup.sh`.
pub fn mobilenet_weights() -> PathBuf {
    cache_dir()
        .join("weights-v1")
        .join("mobilenet_v2.safetensors")
}

/// EfficientNet-Lite0 ImageNet weights (efficientnet-lite-pytorch's names) converted to
/// safetensors by `scripts/setup.sh`.
pub fn efficientnet_lite0_weights() -> PathBuf {
    cache_dir()
        .join("weights-v1")
        .join("efficientnet_lite0.safetensors")
}

/// The Formasaurus corpus (`index.json`, `html/`).
pub fn formasaurus_dir() -> PathBuf {
    cache_dir().join("data-v1").join("formasaurus").join("data")
}

/// The Noto emoji images (`img64/*.png`, `emoji.json`).
pub fn emoji_dir() -> PathBuf {
    cache_dir().join("data-v1").join("emoji")
}

/// scikit-image's sample photos (`chelsea.png`, `coffee.png`, `motorcycle_left.png`, ...).
pub fn photos_dir() -> PathBuf {
    cache_dir().join("data-v1").join("photos")
}

/// The Python interpreter of the LibTorch venv (used by tests that export TorchScript).
pub fn venv_python() -> PathBuf {
    if let Some(p) = std::env::var_os("YUXUAN_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    cache_dir()
        .join("venv-torch-2.13.0")
        .join("bin")
        .join("python")
}

/// The pretrained YOLO11n COCO detector installed by `scripts/setup_yolo.sh`:
/// `yolo11n.torchscript` (+ `.sha256`), the `yolo11n.pt` it was exported from (AGPL-3.0
/// weights, never committed) and ultralytics' own predictions (`reference.json`).
pub fn yolo11n_dir() -> PathBuf {
    cache_dir().join("weights-v1").join("yolo11n")
}

/// The Python interpreter of the ultralytics venv (`venv-ultralytics-8.4.190`, which sees the
/// LibTorch venv's torch through a `.pth` file). Run it with `YOLO_OFFLINE=1` and
/// `YOLO_CONFIG_DIR` set to a temp dir so that ultralytics downloads and writes nothing.
pub fn ultralytics_python() -> PathBuf {
    cache_dir()
        .join("venv-ultralytics-8.4.190")
        .join("bin")
        .join("python")
}

/// The fix to print when an asset is missing.
pub const SETUP_HINT: &str = "run `make setup` (or `bash scripts/setup.sh`) to install it";

/// A font that covers CJK: the one shipped in `assets/` first, else the system's Noto CJK.
pub fn find_cjk_font() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join("fonts");
    let candidates = [
        manifest.join("NotoSansSC-Regular.otf"),
        PathBuf::from("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
        PathBuf::from("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
        PathBuf::from("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
        PathBuf::from("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
        PathBuf::from("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
    ];
    candidates.into_iter().find(|p| p.is_file())
}

/// blake3 of a file, hex.
pub fn file_checksum(path: &Path) -> std::io::Result<String> {
    let mut h = blake3::Hasher::new();
    h.update_reader(std::fs::File::open(path)?)?;
    Ok(h.finalize().to_hex().to_string())
}

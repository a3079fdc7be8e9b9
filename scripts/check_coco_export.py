"""Check a COCO export with the reference reader: pycocotools.

Usage: python scripts/check_coco_export.py INSTANCES.json [INSTANCES.json ...]

Each file is loaded with pycocotools' COCO (which asserts its structure), and its own
annotations are evaluated as detections against it (each with score 1.0) with COCOeval
(iouType "bbox"). A faithful export scores AP (IoU .50:.95) = 1.0. The last line printed is
JSON: {"ap": {file: AP, ...}, "min_ap": lowest AP, "annotations": total}. Used by
tests/box_formats.rs; run with the LibTorch venv's python (scripts/setup_box_data.sh installs
pycocotools there).
"""

import contextlib
import io
import json
import sys

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def self_ap(path):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(path)
    anns = gt.dataset["annotations"]
    if not anns:
        return None, 0
    dets = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
        for a in anns
    ]
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    print(f"== {path}: {len(gt.getImgIds())} images, {len(anns)} boxes, "
          f"{len(gt.getCatIds())} categories")
    print("\n".join(l for l in log.getvalue().splitlines() if l.startswith(" Average Precision")))
    return float(ev.stats[0]), len(anns)


def main(paths):
    if not paths:
        sys.exit(__doc__)
    aps, total = {}, 0
    for p in paths:
        ap, n = self_ap(p)
        total += n
        if ap is not None:
            aps[p] = ap
    if not aps:
        sys.exit("no annotations in any file: nothing to evaluate")
    print(json.dumps({"ap": aps, "min_ap": min(aps.values()), "annotations": total}))


if __name__ == "__main__":
    main(sys.argv[1:])

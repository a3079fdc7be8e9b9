"""Check a YOLO export with the reference reader: ultralytics' own dataset code.

Usage: python scripts/check_yolo_export.py DATA.yaml

Loads the YAML with ultralytics' check_det_dataset (which resolves the split folders and the
class names the way `yolo train` does; its last step, fetching a plotting font, is skipped), then builds ultralytics' YOLODataset of every split,
which verifies each image and label file (verify_image_label: image readable, 5 columns,
normalised coordinates in 0-1, class ids below nc, duplicates). The last line printed is JSON:
{"nc": ..., "names": [...], "images": n, "boxes": n, "corrupt": n, "splits": {...}}.
Run with the ultralytics venv's python (scripts/setup_yolo.sh); nothing is downloaded.
"""

import contextlib
import io
import json
import os
import sys
import tempfile

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="yolo-config-"))

import ultralytics.data.utils as data_utils  # noqa: E402
from ultralytics.data.dataset import YOLODataset  # noqa: E402

# check_det_dataset ends by fetching a font for its plots (matplotlib + a download): not part
# of checking the data, and neither is available offline. Everything else runs as shipped.
data_utils.check_font = lambda *args, **kwargs: None
check_det_dataset = data_utils.check_det_dataset


def main(path):
    data = check_det_dataset(path, autodownload=False)
    out = {"nc": data["nc"], "names": [data["names"][i] for i in range(data["nc"])],
           "images": 0, "boxes": 0, "corrupt": 0, "splits": {}}
    seen = set()
    for split in ("train", "val", "test"):
        p = data.get(split)
        if not p or str(p) in seen:
            continue
        seen.add(str(p))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            ds = YOLODataset(img_path=str(p), data=data, task="detect", augment=False)
        n_img = len(ds.labels)
        n_box = int(sum(len(l["cls"]) for l in ds.labels))
        out["images"] += n_img
        out["boxes"] += n_box
        out["splits"][split] = {"images": n_img, "boxes": n_box}
        out["corrupt"] += len(ds.im_files) - n_img
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])

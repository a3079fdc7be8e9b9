"""The detect bench's Python reference: what an ultralytics user gets on the same machine, the
same images, the same TorchScript export and the same thread count, in the same run as
`yuxuan bench detect`.

usage: bench_detect_reference.py MODEL THREADS SETS_JSON
  MODEL      the ultralytics TorchScript detection export (yolo11n.torchscript)
  THREADS    torch.set_num_threads
  SETS_JSON  a file holding {"set name": ["image path", ...], ...}
Run with the ultralytics venv's python, YOLO_OFFLINE=1, YOLO_VERBOSE=False, YOLO_CONFIG_DIR in a
temp dir and an empty temp working dir (ultralytics then downloads and writes nothing).

Loads the model once (`YOLO(MODEL, task="detect")`), warms it up with one predict per set,
prints `ready {json}` (versions, threads), then for each line `pass NAME` on stdin runs

    for r in model.predict(paths, stream=True, imgsz=640, conf=0.25, iou=0.7, device="cpu",
                           verbose=False):
        boxes = r.boxes.xyxy.numpy(), r.boxes.cls.numpy(), r.boxes.conf.numpy()

over the set's images (cv2.imread, LetterBox, forward, NMS, scale_boxes: ultralytics' whole
predict path) and prints one JSON line: {"ips": images/s, "images": n, "boxes": n, "threads": n,
"peak_rss_mib": the process's peak RSS so far}.
`yuxuan bench detect` interleaves these passes with its own, so both sides see the same machine
(this VM's speed wanders by 1.5x within minutes). stream=True keeps one result at a time, as a
user labelling a folder would (a list of results keeps every decoded image in memory).
"""
import json
import resource
import sys
import time

import torch
import ultralytics
from ultralytics import YOLO

model_path, threads, sets_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(sets_file) as f:
    sets = json.load(f)
torch.set_num_threads(threads)

IMGSZ, CONF, IOU = 640, 0.25, 0.7
model = YOLO(model_path, task="detect")


def one_pass(paths):
    n = boxes = 0
    for r in model.predict(paths, stream=True, imgsz=IMGSZ, conf=CONF, iou=IOU, device="cpu",
                           verbose=False):
        b = r.boxes
        xyxy, _cls, _conf = b.xyxy.numpy(), b.cls.numpy(), b.conf.numpy()
        boxes += len(xyxy)
        n += 1
    return n, boxes


# Warm-up: the predictor's set-up, the model's warmup(), TorchScript's profiling runs.
for paths in sets.values():
    one_pass(paths[:2])
    one_pass(paths[:1])
# The predictor's set-up (select_device) set ultralytics' own thread count, min(8, cores - 1):
# the comparison is at the same count as yuxuan's.
default_threads = torch.get_num_threads()
torch.set_num_threads(threads)

print("ready " + json.dumps({
    "ultralytics": ultralytics.__version__,
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "ultralytics_default_threads": default_threads,
}), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if len(cmd) != 2 or cmd[0] != "pass" or cmd[1] not in sets:
        break
    paths = sets[cmd[1]]
    t = time.perf_counter()
    n, boxes = one_pass(paths)
    dt = time.perf_counter() - t
    print(json.dumps({"ips": n / dt, "images": n, "boxes": boxes,
                      "threads": torch.get_num_threads(),
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}),
          flush=True)

"""The prelabel-photos bench's Python reference: decode + resize + normalise time per image, one
thread, file read included, as a PyTorch user writes it with Pillow (libjpeg-turbo), in the same run as
`yuxuan bench prelabel-photos`.

usage: bench_decode_reference.py IMAGE...
Prints one JSON object, ms/image:
  draft: Image.draft("RGB", (224, 224)) first (libjpeg's DCT scaling, Pillow's fastest path),
  full:  a plain Image.open().convert("RGB"),
each followed by torchvision's Resize((224, 224)), ToTensor and Normalize.
"""
import json
import sys
import time

import torch
import torchvision.transforms as T
from PIL import Image

torch.set_num_threads(1)
paths = sys.argv[1:]
tf = T.Compose([T.Resize((224, 224)), T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])


def run(draft):
    t = time.perf_counter()
    for p in paths:
        im = Image.open(p)
        if draft:
            im.draft("RGB", (224, 224))
        tf(im.convert("RGB"))
    return (time.perf_counter() - t) * 1e3 / max(len(paths), 1)


run(True)  # warm-up
print(json.dumps({"draft": run(True), "full": run(False)}))

"""The prelabel bench's Python reference: what a PyTorch user gets on the same machine, the same
images, weights, batch and thread count, in the same run as `yuxuan bench prelabel`.

usage: bench_prelabel_reference.py WEIGHTS_DIR NET BATCH THREADS IMAGE...
  NET  mobilenet-v2 | efficientnet-lite0
Decodes the images, builds and warms up every variant, prints `ready`, then for each line
`pass` on stdin runs one pass over the images with each variant and prints one JSON line.
`yuxuan bench prelabel` interleaves these passes with its own, so both sides see the same
machine (this VM's speed wanders by 1.5x within minutes).
With YUXUAN_REF_MALLOPT=1, glibc's malloc gets the settings yuxuan gives itself at start-up
(ml::device::tune_allocator: mmap threshold 2 GB, 256 MB trim threshold), so the comparison
can be made with and without them.
Each JSON line holds images/s per variant:
  eager, channels_last, jit_freeze (torch.jit.freeze(torch.jit.trace(m))),
  optimize_for_inference (torch.jit.optimize_for_inference(torch.jit.trace(m))) — bare forward
  loops on the decoded batches — and pipeline: PIL decode + torchvision transforms in a
  DataLoader (THREADS workers) feeding the best of those modules.
"""
import ctypes
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

if os.environ.get("YUXUAN_REF_MALLOPT") == "1":
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 2**31 - 1)  # M_MMAP_THRESHOLD
    libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD

import torch
import torchvision.transforms as T
from PIL import Image

weights, net, batch, threads = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
paths = sys.argv[5:]
torch.set_num_threads(threads)

# The same model definitions as the export (one place).
spec = importlib.util.spec_from_file_location("export_backbones", Path(__file__).with_name("export_backbones.py"))
src = Path(spec.origin).read_text().split("def export(")[0]
ns = {"__name__": "export_backbones_ref"}
sys_argv = sys.argv
sys.argv = [sys.argv[0], str(weights)]
exec(compile(src, spec.origin, "exec"), ns)
sys.argv = sys_argv
torch.set_num_threads(threads)
Model = ns["MobileNetFeatures"] if net == "mobilenet-v2" else ns["LiteFeatures"]
mean, std = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]) if net == "mobilenet-v2" else ([0.498, 0.498, 0.498], [0.502, 0.502, 0.502])


def load(p):
    im = Image.open(p)
    im = im.convert("RGBA")
    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return Image.alpha_composite(bg, im).convert("RGB")


tf = T.Compose([T.Resize((224, 224)), T.ToTensor(), T.Normalize(mean, std)])


class Files(torch.utils.data.Dataset):
    def __len__(self):
        return len(paths)

    def __getitem__(self, i):
        return tf(load(paths[i]))


xs = [torch.stack([tf(load(p)) for p in paths[i:i + batch]]) for i in range(0, len(paths), batch)]


def one_pass(f, inputs):
    n = 0
    for x in inputs:
        f(x)
        n += x.shape[0]
    return n


def rate(f, inputs):
    t = time.perf_counter()
    n = one_pass(f, inputs)
    return n / (time.perf_counter() - t)


with torch.no_grad():
    m = Model().eval()
    mcl = Model().eval().to(memory_format=torch.channels_last)
    xs_cl = [x.contiguous(memory_format=torch.channels_last) for x in xs]
    frozen = torch.jit.freeze(torch.jit.trace(Model().eval(), xs[0][:1]))
    opt = torch.jit.optimize_for_inference(torch.jit.trace(Model().eval(), xs[0][:1]))
    variants = {
        "eager": (m, xs),
        "channels_last": (mcl, xs_cl),
        "jit_freeze": (frozen, xs),
        "optimize_for_inference": (opt, xs),
    }
    # Two warm-up batches each: TorchScript's profiling executor optimises on the second run.
    for f, inputs in variants.values():
        f(inputs[0])
        f(inputs[0])
    # The DataLoader pipeline feeds the faster TorchScript module (timed once here).
    best = max(["jit_freeze", "optimize_for_inference"], key=lambda k: rate(*variants[k]))
    best_m = variants[best][0]
    loader = torch.utils.data.DataLoader(Files(), batch_size=batch, num_workers=threads, persistent_workers=True)
    one_pass(best_m, loader)  # starts the workers

    print("ready", flush=True)
    while sys.stdin.readline().strip() == "pass":
        out = {k: rate(f, inputs) for k, (f, inputs) in variants.items()}
        out["pipeline"] = rate(best_m, loader)
        out["pipeline_module"] = best
        print(json.dumps(out), flush=True)

"""The prelabel bench's Python reference: what a PyTorch user gets on the same machine, the same
images, weights, batch and thread count, in the same run as `yuxuan bench prelabel`.

usage: bench_prelabel_reference.py WEIGHTS_DIR NET BATCH THREADS REPEATS IMAGE...
  NET  mobilenet-v2 | efficientnet-lite0
  REPEATS  passes over the images per variant, after two warm-up batches; the median pass
           counts (yuxuan's side of the row measures the same way)
With YUXUAN_REF_MALLOPT=1, glibc's malloc gets the settings yuxuan gives itself at start-up
(ml::device::tune_allocator: mmap threshold 2 GB, 256 MB trim threshold), so the comparison
can be made with and without them.
Prints one JSON object, images/s per variant:
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
repeats = max(1, int(sys.argv[5]))
paths = sys.argv[6:]
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


def median_pass(one_pass):
    """Images/s of the median of `repeats` passes; `one_pass()` returns the images it ran."""
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        n = one_pass()
        rates.append(n / (time.perf_counter() - t))
    return sorted(rates)[len(rates) // 2]


def bare(f, inputs):
    def one_pass():
        n = 0
        for x in inputs:
            f(x)
            n += x.shape[0]
        return n

    with torch.no_grad():
        f(inputs[0])
        f(inputs[0])
        return median_pass(one_pass)


out = {}
m = Model().eval()
out["eager"] = bare(m, xs)
mcl = Model().eval().to(memory_format=torch.channels_last)
out["channels_last"] = bare(mcl, [x.contiguous(memory_format=torch.channels_last) for x in xs])
with torch.no_grad():
    frozen = torch.jit.freeze(torch.jit.trace(Model().eval(), xs[0][:1]))
    opt = torch.jit.optimize_for_inference(torch.jit.trace(Model().eval(), xs[0][:1]))
out["jit_freeze"] = bare(frozen, xs)
out["optimize_for_inference"] = bare(opt, xs)
best = max(["jit_freeze", "optimize_for_inference"], key=lambda k: out[k])
best_m = frozen if best == "jit_freeze" else opt
loader = torch.utils.data.DataLoader(Files(), batch_size=batch, num_workers=threads, persistent_workers=True)


def pipeline_pass():
    n = 0
    for x in loader:
        best_m(x)
        n += x.shape[0]
    return n


with torch.no_grad():
    out["pipeline"] = median_pass(pipeline_pass)
out["pipeline_module"] = best
print(json.dumps(out))

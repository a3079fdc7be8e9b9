"""Export yuxuan's frozen image backbones as TorchScript for CPU inference.

usage: export_backbones.py WEIGHTS_DIR

For each backbone (MobileNetV2 from torchvision, EfficientNet-Lite0 from efficientnet-lite-pytorch,
both loaded strictly from the same safetensors files yuxuan loads), the module that maps a
normalised [N, 3, 224, 224] batch to its pooled features is traced and frozen
(`torch.jit.freeze`: batch-norm folded into the convolutions, weights as constants) in three
variants, the fastest ways PyTorch offers on a CPU:
  <id>.cpu.pt    NCHW; yuxuan passes it through `optimize_for_inference` when it loads it
                 (oneDNN with prepacked weights, which cannot be serialised: native/jit_opt.cpp);
  <id>.cl.pt     weights and input in channels-last memory format;
  <id>.fused.pt  every convolution a oneDNN convolution with its ReLU6 or residual add fused in
                 (`mkldnn::_convolution_pointwise`, what Inductor emits), channels-last input.
Each file, loaded as yuxuan runs it, must agree with the eager model (every row's cosine
similarity >= 0.9999). All three are timed here with libtorch's default thread count,
interleaved, best of 5, and `<id>.torchscript.json` records the sha256 of each file and which
variant is fastest on this machine (fused, on the 2-core dev VM). Files are written under
a temporary name and moved into place, so an interrupted export leaves nothing half-written.
"""
import ctypes
import hashlib
import io
import json
import os
import sys
import time
from pathlib import Path

# Time the variants under the malloc settings yuxuan runs with (ml::device::tune_allocator):
# they change which variant is faster.
_libc = ctypes.CDLL("libc.so.6")
_libc.mallopt(-3, 2**31 - 1)  # M_MMAP_THRESHOLD
_libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD

import torch  # noqa: E402
import torchvision  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

torch.manual_seed(0)
weights = Path(sys.argv[1])


class MobileNetFeatures(torch.nn.Module):
    def __init__(self):
        super().__init__()
        m = torchvision.models.mobilenet_v2()
        state = load_file(str(weights / "mobilenet_v2.safetensors"))
        m.load_state_dict(state, strict=True)
        self.features = m.features

    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1)


class LiteFeatures(torch.nn.Module):
    def __init__(self):
        super().__init__()
        wheel = next(weights.glob("efficientnet_lite_pytorch-*.whl"))
        sys.path.insert(0, str(wheel))
        from efficientnet_lite_pytorch import EfficientNet

        m = EfficientNet.from_name("efficientnet-lite0")
        m.load_state_dict(load_file(str(weights / "efficientnet_lite0.safetensors")), strict=True)
        self.m = m

    def forward(self, x):
        return self.m._avg_pooling(self.m.extract_features(x)).flatten(1)


def images_per_s(f, xs):
    with torch.no_grad():
        f(xs[0])
        t = time.perf_counter()
        for x in xs:
            f(x)
        return sum(x.shape[0] for x in xs) / (time.perf_counter() - t)


CONV = "%x, %w, %b, %stride, %padding, %dilation, %transposed, %output_padding, %groups, %benchmark, %deterministic, %cudnn_enabled, %allow_tf32"
POINTWISE = "mkldnn::_convolution_pointwise"
# (pattern, replacement) pairs for torch's subgraph rewriter, most specific first: a convolution
# whose only use is a residual add, then one followed by ReLU6 (hardtanh 0..6, in place or
# not), then every other convolution, all become oneDNN convolutions with the add or the clamp
# fused in (the ops Inductor emits on a CPU). optimize_for_inference leaves each ReLU6 as its
# own pass over the activations: 17 % of MobileNetV2's time here.
REWRITES = [
    (f"""graph({CONV}, %o):
  %y = aten::_convolution({CONV})
  %one : int = prim::Constant[value=1]()
  %z = aten::add({order}, %one)
  return (%z)""",
     f"""graph({CONV}, %o):
  %attr : str = prim::Constant[value="add"]()
  %one : int = prim::Constant[value=1]()
  %none : str? = prim::Constant()
  %no_scalars : Scalar?[] = prim::ListConstruct()
  %z = {POINTWISE}(%x, %o, %w, %b, %padding, %stride, %dilation, %groups, %attr, %one, %none, %no_scalars, %none)
  return (%z)""") for order in ["%o, %y", "%y, %o"]
] + [
    (f"""graph({CONV}, %lo, %hi):
  %y = aten::_convolution({CONV})
  %z = {op}(%y, %lo, %hi)
  return (%z)""",
     f"""graph({CONV}, %lo, %hi):
  %attr : str = prim::Constant[value="hardtanh"]()
  %none : str? = prim::Constant()
  %scalars : Scalar?[] = prim::ListConstruct(%lo, %hi)
  %z = {POINTWISE}(%x, %w, %b, %padding, %stride, %dilation, %groups, %attr, %scalars, %none)
  return (%z)""") for op in ["aten::hardtanh_", "aten::hardtanh"]
] + [
    (f"""graph({CONV}):
  %z = aten::_convolution({CONV})
  return (%z)""",
     f"""graph({CONV}):
  %attr : str = prim::Constant[value="none"]()
  %none : str? = prim::Constant()
  %no_scalars : Scalar?[] = prim::ListConstruct()
  %z = {POINTWISE}(%x, %w, %b, %padding, %stride, %dilation, %groups, %attr, %no_scalars, %none)
  return (%z)"""),
]


def fuse_pointwise(module):
    """Rewrite a frozen module's graph in place with REWRITES; it then takes channels-last input."""
    g = module.graph
    # The rewriter only matches a constant the pattern owns: give each `add(.., alpha=1)` its own.
    for n in list(g.nodes()):
        alpha = n.inputsAt(2) if n.kind() == "aten::add" and len(list(n.inputs())) == 3 else None
        if alpha is not None and alpha.node().kind() == "prim::Constant" and alpha.toIValue() == 1:
            with g.insert_point_guard(n):
                n.replaceInput(2, g.insertConstant(1))
    for pattern, replacement in REWRITES:
        torch._C._jit_pass_custom_pattern_based_rewrite_graph(pattern, replacement, g)
    left = [n.kind() for n in g.nodes() if n.kind() == "aten::_convolution"]
    if left:
        raise RuntimeError(f"{len(left)} convolution(s) not rewritten")
    return module


def export(name, make):
    """Three frozen variants, each checked as yuxuan will run it; the fastest one here is chosen."""
    x = torch.randn(8, 3, 224, 224)
    variants = {}
    with torch.no_grad():
        ref = make().eval()(x)
        # optimize_for_inference (oneDNN, prepacked weights) runs at load: the file is frozen NCHW.
        frozen = torch.jit.freeze(torch.jit.trace(make().eval(), x[:1]))
        # channels_last: frozen with its weights in channels-last order, fed channels-last input.
        m_cl = make().eval().to(memory_format=torch.channels_last)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        frozen_cl = torch.jit.freeze(torch.jit.trace(m_cl, x_cl[:1]))
        # fused: the NCHW frozen graph with oneDNN convolutions that apply ReLU6 or the residual
        # add themselves (fuse_pointwise), fed channels-last input.
        # An optional variant: a LibTorch without oneDNN, or a net whose graph the rewrite
        # does not cover, keeps the other two.
        try:
            copy = io.BytesIO()  # a copy of `frozen` to rewrite, through serialisation
            torch.jit.save(frozen, copy)
            copy.seek(0)
            fused = fuse_pointwise(torch.jit.load(copy))
        except RuntimeError as e:
            print(f"{name}: no fused variant ({str(e).splitlines()[0]})")
            fused = None
    todo = [("optimize_for_inference", frozen, "cpu.pt"), ("channels_last", frozen_cl, "cl.pt")]
    if fused is not None:
        todo.append(("fused", fused, "fused.pt"))
    for variant, module, suffix in todo:
        out = weights / f"{name}.{suffix}"
        tmp = out.with_name(out.name + ".tmp")
        torch.jit.save(module, str(tmp))
        loaded = torch.jit.load(str(tmp))
        run = torch.jit.optimize_for_inference(loaded) if variant == "optimize_for_inference" else loaded
        inp = x if variant == "optimize_for_inference" else x_cl
        try:
            with torch.no_grad():
                for _ in range(2):  # the profiling executor specialises on the first runs
                    got = run(inp)
            cos = torch.nn.functional.cosine_similarity(ref, got, dim=1).min().item()
        except RuntimeError as e:
            if variant != "fused":
                raise
            print(f"{name}: no fused variant ({str(e).splitlines()[0]})")
            tmp.unlink()
            continue
        if cos < 0.9999:
            tmp.unlink()
            if variant == "fused":
                print(f"{name}: no fused variant (min cosine {cos:.6f} against the eager model)")
                continue
            sys.exit(f"{name} ({variant}): the TorchScript disagrees with the eager model (min cosine {cos:.6f})")
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        os.replace(tmp, out)
        variants[variant] = {"file": out.name, "sha256": digest, "min_cosine": cos, "run": run,
                             "input": inp}
    # Time them on this machine (batches of 32, interleaved, best of 5) and keep the fastest.
    xs = [torch.randn(32, 3, 224, 224) for _ in range(2)]
    speed = {k: 0.0 for k in variants}
    for _ in range(5):
        for k, v in variants.items():
            b = xs if k == "optimize_for_inference" else [t.contiguous(memory_format=torch.channels_last) for t in xs]
            speed[k] = max(speed[k], images_per_s(v["run"], b))
    best = max(speed, key=speed.get)
    manifest = {
        "format": "yuxuan-torchscript/1",
        "torch": torch.__version__,
        "variant": best,
        "images_per_s": {k: round(v, 2) for k, v in speed.items()},
        "files": {k: {"file": v["file"], "sha256": v["sha256"], "min_cosine": v["min_cosine"]} for k, v in variants.items()},
    }
    out = weights / f"{name}.torchscript.json"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, out)
    print(f"{name}: {', '.join(f'{k} {v:.1f} img/s' for k, v in speed.items())} -> {best}")


export("mobilenet_v2", MobileNetFeatures)
export("efficientnet_lite0", LiteFeatures)

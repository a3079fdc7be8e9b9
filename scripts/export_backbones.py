"""Export yuxuan's frozen image backbones as optimised TorchScript for CPU inference.

usage: export_backbones.py WEIGHTS_DIR

For each backbone (MobileNetV2 from torchvision, EfficientNet-Lite0 from efficientnet-lite-pytorch,
both loaded strictly from the same safetensors files yuxuan loads), the module that maps a
normalised [N, 3, 224, 224] batch to its pooled features is traced and frozen
(`torch.jit.freeze`: batch-norm folded into the convolutions, weights as constants), then saved
as `<id>.cpu.pt` with a `<id>.cpu.pt.sha256` beside it. The oneDNN pass
(`torch.jit.optimize_for_inference`) prepacks weights that cannot be serialised, so yuxuan runs
it when it loads the file (native/jit_opt.cpp). yuxuan runs these with tch::CModule for
embedding on the CPU; the tch-native modules stay for fine-tuning and CUDA.

Before it is moved into place, the file, loaded and optimised as yuxuan does, is checked against the eager model on real-looking inputs:
every row's cosine similarity must be >= 0.9999. Written under a temporary name and moved into
place, so an interrupted export leaves nothing half-written.
"""
import hashlib
import os
import sys
from pathlib import Path

import torch
import torchvision
from safetensors.torch import load_file

torch.set_num_threads(min(os.cpu_count() or 1, 4))
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


def export(name, module):
    module.eval()
    x = torch.randn(8, 3, 224, 224)
    out = weights / f"{name}.cpu.pt"
    tmp = out.with_suffix(".pt.tmp")
    with torch.no_grad():
        ref = module(x)
        frozen = torch.jit.freeze(torch.jit.trace(module, x[:1]))
        torch.jit.save(frozen, str(tmp))
        # What yuxuan does with the file (native/jit_opt.cpp): load, optimise for inference.
        opt = torch.jit.optimize_for_inference(torch.jit.load(str(tmp)))
        for _ in range(2):  # the profiling executor specialises on the first runs
            got = opt(x)
    cos = torch.nn.functional.cosine_similarity(ref, got, dim=1).min().item()
    if cos < 0.9999:
        tmp.unlink()
        sys.exit(f"{name}: the optimised TorchScript disagrees with the eager model (min cosine {cos:.6f})")
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    os.replace(tmp, out)
    (weights / f"{name}.cpu.pt.sha256").write_text(digest + "\n")
    print(f"{out}: min cosine vs eager {cos:.6f}, sha256 {digest[:12]}")


export("mobilenet_v2", MobileNetFeatures())
export("efficientnet_lite0", LiteFeatures())

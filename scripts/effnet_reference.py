"""Reference outputs for src/ml/efficientnet_lite.rs: EfficientNet-Lite0 as the
efficientnet-lite-pytorch 0.1.0 package builds it (the implementation these weights were
converted for), loaded strictly from the same safetensors file that yuxuan loads.

usage: effnet_reference.py WEIGHTS.safetensors INPUT.f32 N [REF]
  INPUT.f32  N x 3 x 224 x 224 float32 (native byte order), already normalised
  REF        efficientnet-lite-pytorch's wheel (setup.sh keeps it next to the weights) or a
             folder holding the package; without it, the wheel is pip-downloaded into a temp dir
Prints one JSON object: {"features": N x 1280 (global average pool after _conv_head, _bn1,
ReLU6), "logits": N x 1000}.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

weights, inp, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ref = sys.argv[4] if len(sys.argv) > 4 else None
tmp = None
if ref is None:
    tmp = tempfile.TemporaryDirectory()
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
         "--no-deps", "--only-binary=:all:", "--dest", tmp.name,
         "efficientnet-lite-pytorch==0.1.0"],
        check=True,
    )
    ref = str(next(Path(tmp.name).glob("efficientnet_lite_pytorch-*.whl")))
# A pure-Python wheel is a zip that zipimport reads as it is.
sys.path.insert(0, ref)
from efficientnet_lite_pytorch import EfficientNet  # noqa: E402

torch.set_num_threads(2)
model = EfficientNet.from_name("efficientnet-lite0")
model.load_state_dict(load_file(weights), strict=True)
model.eval()
x = torch.from_numpy(np.fromfile(inp, dtype=np.float32).reshape(n, 3, 224, 224))
with torch.no_grad():
    feats = model._avg_pooling(model.extract_features(x)).flatten(1)
    logits = model(x)
print(json.dumps({"features": feats.tolist(), "logits": logits.tolist()}))

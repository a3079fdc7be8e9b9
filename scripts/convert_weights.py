"""Verify torchvision's MobileNetV2 checkpoint and convert it to safetensors for tch.

usage: convert_weights.py SRC.pth SHA256_PREFIX DST.safetensors
The file name of a torchvision checkpoint carries the first 8 hex digits of its sha256.
"""
import hashlib
import os
import sys

import torch
from safetensors.torch import save_file

src, prefix, dst = sys.argv[1:4]
h = hashlib.sha256()
with open(src, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
digest = h.hexdigest()
if not digest.startswith(prefix):
    sys.exit(f"checksum mismatch for {src}: sha256 {digest} does not start with {prefix}")
state = torch.load(src, map_location="cpu", weights_only=True)
state = {k: v.contiguous() for k, v in state.items()}
tmp = dst + ".tmp"
save_file(state, tmp, metadata={"source": os.path.basename(src), "source_sha256": digest})
os.replace(tmp, dst)
print(f"converted {len(state)} tensors -> {dst}")

"""The script an ML engineer writes instead of yuxuan, in half an hour: torchvision MobileNetV2
features (the same ImageNet weights) + scikit-learn logistic regression, least-confidence
batches, retrained after every batch; counts the suggestions a truth-knowing annotator would
have to correct over a full pass. The image bench row runs it on the same images in the same
run as `yuxuan simulate`.

usage: bench_images_reference.py TRUTH.csv WEIGHTS.safetensors BATCH SEED HOLDOUT
  TRUTH.csv  path,label (header)
  HOLDOUT    share of the items held out (stratified, seeded) and never labelled, as the
             simulator does
Prints one JSON object: labels, corrections, corrections_ratio, embed_seconds, seconds.
"""
import csv
import json
import sys
import time
import warnings

import numpy as np
import torch
import torchvision
from PIL import Image
from safetensors.torch import load_file
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

warnings.filterwarnings("ignore")
truth_csv, weights, batch, seed, holdout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
torch.set_num_threads(2)
rows = list(csv.DictReader(open(truth_csv)))
paths = [r["path"] for r in rows]
names = sorted({r["label"] for r in rows})
y = np.array([names.index(r["label"]) for r in rows])

t0 = time.time()
model = torchvision.models.mobilenet_v2()
model.load_state_dict(load_file(weights))
model.classifier = torch.nn.Identity()
model.eval()
tf = torchvision.transforms.Compose([
    torchvision.transforms.Resize(256),
    torchvision.transforms.CenterCrop(224),
    torchvision.transforms.ToTensor(),
    torchvision.transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
])


def load(p):
    im = Image.open(p)
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    return tf(im.convert("RGB"))


feats = []
with torch.no_grad():
    for i in range(0, len(paths), 32):
        feats.append(model(torch.stack([load(p) for p in paths[i:i + 32]])).numpy())
X = np.concatenate(feats)
embed_s = time.time() - t0

idx = np.arange(len(y))
if holdout > 0:
    idx, _ = train_test_split(idx, test_size=holdout, stratify=y, random_state=seed)
rng = np.random.default_rng(seed)
unlabelled = list(rng.permutation(idx))
labelled = []
corrections = 0
clf = None
t1 = time.time()
while unlabelled:
    if clf is None or len(set(y[labelled])) < 2:
        nxt = unlabelled[:batch]
        corrections += len(nxt)  # no model yet: every label typed by hand
    else:
        u = np.array(unlabelled)
        p = clf.predict_proba(X[u])
        order = np.argsort(p.max(1), kind="stable")[:batch]  # least confident first
        nxt = list(u[order])
        corrections += int((clf.classes_[p[order].argmax(1)] != y[nxt]).sum())
    chosen = set(nxt)
    unlabelled = [i for i in unlabelled if i not in chosen]
    labelled += nxt
    if len(set(y[labelled])) >= 2:
        clf = LogisticRegression(max_iter=1000).fit(X[labelled], y[labelled])
print(json.dumps({
    "labels": len(labelled),
    "corrections": corrections,
    "corrections_ratio": corrections / max(len(labelled), 1),
    "embed_seconds": embed_s,
    "seconds": time.time() - t0,
}))

"""Reference for `yuxuan bench suspects`: confident learning as its authors ship it (cleanlab's
`find_label_issues`, ranked by self-confidence) on out-of-fold probabilities of scikit-learn's
logistic regression, the recipe of cleanlab's own tutorials, on the same embeddings and the
same noisy labels as yuxuan.

    python bench_suspects_reference.py DIR FOLDS SEED

DIR holds `labels.csv` (row,noisy,flipped: class indices, 1 = the label was flipped) and one
`features-<backbone>.npy` per backbone (raw embeddings, rows in the order of labels.csv).
Prints JSON: per feature set, precision@k and recall@k with k = the number of flips.
"""
import csv
import glob
import json
import os
import sys
import time
import warnings

import numpy as np
from cleanlab.filter import find_label_issues
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

warnings.filterwarnings("ignore")


def main():
    d, folds, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open(os.path.join(d, "labels.csv")) as f:
        rows = list(csv.DictReader(f))
    y = np.array([int(r["noisy"]) for r in rows])
    wrong = np.array([r["flipped"] == "1" for r in rows])
    k = int(wrong.sum())
    feats = {}
    for p in sorted(glob.glob(os.path.join(d, "features-*.npy"))):
        feats[os.path.basename(p)[len("features-"):-len(".npy")]] = np.load(p)
    sets = {}
    # The textbook user's features: MobileNetV2's embedding as it comes (else the first).
    first = next((n for n in sorted(feats) if n.startswith("mobilenet")), sorted(feats)[0])
    sets[f"{first} (raw)"] = feats[first]
    if len(feats) > 1:
        # yuxuan's head features: each backbone's embedding L2-normalised, side by side.
        sets["+".join(sorted(feats)) + " (L2 per backbone)"] = np.hstack(
            [x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12) for _, x in sorted(feats.items())]
        )
    out = {"k": k, "items": len(y), "runs": {}}
    for name, X in sets.items():
        t0 = time.time()
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        probs = cross_val_predict(
            LogisticRegression(max_iter=1000), X, y, cv=cv, method="predict_proba"
        )
        issues = find_label_issues(y, probs, return_indices_ranked_by="self_confidence")
        # The issues first, then every other item by self-confidence (the same rule as yuxuan).
        rest = np.setdiff1d(np.arange(len(y)), issues)
        rest = rest[np.argsort(probs[rest, y[rest]], kind="stable")]
        ranking = np.concatenate([issues, rest]).astype(int)
        hits = int(wrong[ranking[:k]].sum())
        out["runs"][name] = {
            "precision_at_k": hits / max(k, 1),
            "recall_at_k": hits / max(k, 1),
            "flagged": int(len(issues)),
            "flagged_precision": float(wrong[issues].mean()) if len(issues) else 0.0,
            "seconds": time.time() - t0,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()

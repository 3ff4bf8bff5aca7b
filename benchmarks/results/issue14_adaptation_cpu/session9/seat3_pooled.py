"""Pooled paired effect of what the inter-OM prior carries across the K episodes
(seat3_probe.py JSONs), against the reference variant carry=none (episodes
exchangeable: every one starts from the uniform prior).

For each variant and each JSON: the per-seed least-squares slope of the focal return over the K
episodes averaged over the chosen kinds ("all": the nine), its difference from the reference
(paired: same seeds, same evaluation keys), and the difference of the mean return over the K
episodes. Pooled: JSONs that share trained seeds (the same --seed-base) are first averaged per
seed, so the pooled interval is over independent trained seeds only. 95 % t-intervals."""
import json
import sys
from collections import defaultdict

import numpy as np

from hopjax.runtime.adaptation import t_interval


def slope(y):  # [..., K] -> [...]
    k = np.arange(y.shape[-1]) - (y.shape[-1] - 1) / 2
    return (y * k).sum(-1) / (k ** 2).sum()


def ci(x):
    m, lo, hi = (float(v) for v in t_interval(np.asarray(x)))
    return f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]"


kinds = sys.argv[1].split(",")
ref = "carry=none,team_start=uniform"
groups = defaultdict(lambda: defaultdict(list))  # seed_base -> variant -> [(slope, dslope, dmean)]
for path in sys.argv[2:]:
    d = json.load(open(path))
    sb = d["args"]["seed_base"]
    cs = [d["kinds"].index(k) for k in kinds] if kinds != ["all"] else list(range(len(d["kinds"])))
    y0 = np.asarray(d["variants"][ref]["focal_return"])[:, cs] if ref in d["variants"] else None
    print(f"\n{path} (training seed base {sb}, kinds: {', '.join(d['kinds'][c] for c in cs)})")
    for v, r in d["variants"].items():
        y = np.asarray(r["focal_return"])[:, cs]  # [S, C, K]
        s = slope(y).mean(1)
        if y0 is None:
            print(f"  {v:<36} slope {ci(s)}")
            continue
        ds, dm = (slope(y) - slope(y0)).mean(1), (y.mean(-1) - y0.mean(-1)).mean(1)
        groups[sb][v].append((s, ds, dm))
        print(f"  {v:<36} slope {ci(s)}   slope - ref {ci(ds)}   mean return - ref {ci(dm)}")
print(f"\npooled over independent trained seeds (JSONs with the same seed base averaged per seed); ref = {ref}")
variants = sorted({v for g in groups.values() for v in g})
for v in variants:
    parts = [np.mean(np.stack(g[v]), 0) for g in groups.values() if v in g]  # [3, S] per seed base
    cat = np.concatenate(parts, 1)
    print(f"  {v:<36} slope {ci(cat[0])}   slope - ref {ci(cat[1])}   mean return - ref {ci(cat[2])}  (seeds {cat.shape[1]})")

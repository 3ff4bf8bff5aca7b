"""HOP's slope against the memoryless baselines' slope on the same evaluation keys.

In `hopjax eval` every algorithm plays episode k of (seed s, co-player kind c) from the same
reset key (the same layouts: adaptation.evaluate passes keys[s] to every algorithm, and HOP's
runner and play_policy both reset from split(split(key, K)[k])[0]). PPO, PPO+OMG and PPO+MOA keep
nothing across episodes, so their slope is the layouts' (and their own play's) noise. Prints,
per kind, the slope of HOP, of the baselines' mean, and HOP minus baselines (paired by seed),
95 % t-intervals over seeds."""
import json
import sys

import numpy as np

from hopjax.runtime.adaptation import t_interval


def slope(y):
    return np.array([np.polyfit(np.arange(y.shape[1]), row, 1)[0] for row in y])


def ci(x):
    m, lo, hi = (float(v) for v in t_interval(np.asarray(x)))
    return f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]"


for path in sys.argv[1:]:
    d = json.load(open(path))
    res = d["results"]
    bases = [a for a in res if not a.startswith("HOP")]
    print(f"\n{path}\n")
    print("| co-players | HOP slope | baselines' mean slope | HOP - baselines (paired) | HOP/baseline ratio slope | corr(HOP, baselines) per-episode means |")
    print("|---|---|---|---|---|---|")
    for c, k in enumerate(d["coplayers"]):
        h = np.asarray(res["HOP"]["adapt"]["focal_return"])[:, c]
        b = np.mean([np.asarray(res[a]["adapt"]["focal_return"])[:, c] for a in bases], 0)
        rel = h / b.mean(1, keepdims=True) - 0  # not used
        corr = np.corrcoef(h.mean(0), b.mean(0))[0, 1]
        print(f"| {k} | {ci(slope(h))} | {ci(slope(b))} | {ci(slope(h) - slope(b))} | {ci(slope(h / b))} | {corr:+.2f} |")

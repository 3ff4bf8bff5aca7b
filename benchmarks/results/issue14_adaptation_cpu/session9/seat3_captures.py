"""Focal seats' stag and hare captures per env and episode, per variant (seat3_probe.py JSON)."""
import json
import sys

import numpy as np

from hopjax.runtime.adaptation import t_interval


def slope(y):
    return np.array([np.polyfit(np.arange(y.shape[1]), row, 1)[0] for row in y])


def ci(x):
    m, lo, hi = (float(v) for v in t_interval(np.asarray(x)))
    return f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]"


kinds = sys.argv[1].split(",")
for path in sys.argv[2:]:
    d = json.load(open(path))
    nf = d["args"]["focal_seats"]
    print(f"\n{path}\n\n| co-players | variant | focal stags/env ep1..K | slope | focal hares/env ep1..K | slope |\n|---|---|---|---|---|---|")
    for kind in kinds:
        c = d["kinds"].index(kind)
        for v, r in d["variants"].items():
            cap = np.asarray(r["captures"])[:, c, :, :nf].sum(2)  # [S, K, 2]
            st, ha = cap[..., 0], cap[..., 1]
            print(f"| {kind} | {v} | {' '.join(f'{x:.2f}' for x in st.mean(0))} | {ci(slope(st))} | "
                  f"{' '.join(f'{x:.2f}' for x in ha.mean(0))} | {ci(slope(ha))} |")

"""Issue 14, fourteenth session: HOP's goal-model cross-entropy on each co-player kind's actions
(``goal_xent``, nats, mean over the K episodes and the seats' scored steps) and the belief
slope across K, from ``hopjax eval`` adaptation.json(.gz) files, one column pair per file:

    python benchmarks/results/issue14_adaptation_cpu/session14/xent_table.py LABEL=PATH ...

Mean and 95 % t-interval over the trained seeds; "-": no co-player step had a goal."""
import gzip
import json
import sys

import numpy as np

sys.path.insert(0, "benchmarks")
from issue14_verdict import ci, slope  # noqa: E402

cols = []
for arg in sys.argv[1:]:
    label, path = arg.split("=", 1)
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
        d = json.load(f)
    cols.append((label, d["coplayers"], d["results"]["HOP"]["adapt"]))
print("| co-players | " + " | ".join(f"{lab}: goal xent | {lab}: belief slope" for lab, _, _ in cols) + " |")
print("|---" * (1 + 2 * len(cols)) + "|")
for kind in cols[0][1]:
    row = [kind]
    for _, kinds, r in cols:
        c = kinds.index(kind)
        if "goal_xent" not in r:  # written before the metric existed
            row += ["-", ci(slope(np.asarray(r["belief_accuracy"])[:, c]))]
            continue
        gx, n = np.asarray(r["goal_xent"])[:, c], np.asarray(r["goal_xent_steps"])[:, c]
        per_seed = np.where(n.sum(1) > 0, (gx * n).sum(1) / np.maximum(n.sum(1), 1), np.nan)
        ok = np.isfinite(per_seed)
        row += [ci(per_seed[ok]) if ok.sum() > 1 else "-", ci(slope(np.asarray(r["belief_accuracy"])[:, c]))]
    print("| " + " | ".join(row) + " |")

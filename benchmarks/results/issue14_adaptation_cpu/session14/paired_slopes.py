"""Issue 14, fourteenth session: belief-accuracy and focal-return slopes per episode against
each learned kind, longer-trained members minus the shipped ones, paired by seed (the two runs
share HOP's 24 trained agents and every key: ``session12/rep_seed1_*`` and
``session14/longer_seed1_*``). From the repository root:

    python benchmarks/results/issue14_adaptation_cpu/session14/paired_slopes.py"""
import gzip
import json
import sys

import numpy as np

sys.path.insert(0, "benchmarks")
from issue14_verdict import ci, slope  # noqa: E402

R = "benchmarks/results/issue14_adaptation_cpu"
print("| setting | co-players | belief slope: shipped | longer | longer - shipped | return slope: longer - shipped |")
print("|---|---|---|---|---|---|")
for env in ("stag_hunt", "snowdrift"):
    for seats in (1, 3):
        a, b = (json.load(gzip.open(p, "rt")) for p in (f"{R}/session12/rep_seed1_{env}_seat{seats}/adaptation.json.gz",
                                                        f"{R}/session14/longer_seed1_{env}_seat{seats}/adaptation.json.gz"))
        for kind in a["coplayers"]:
            if not kind.startswith("pop:"):
                continue
            c = a["coplayers"].index(kind)
            ra, rb = a["results"]["HOP"]["adapt"], b["results"]["HOP"]["adapt"]
            sa, sb = (slope(np.asarray(r["belief_accuracy"])[:, c]) for r in (ra, rb))
            fa, fb = (slope(np.asarray(r["focal_return"])[:, c]) for r in (ra, rb))
            print(f"| {env} {seats} seat(s) | {kind} | {ci(sa)} | {ci(sb)} | {ci(sb - sa)} | {ci(fb - fa)} |")

"""Do the focal agents join a lone stag chaser's hunt more often from episode to episode?

The scripted stag chaser (``hopjax.envs.scripted.stag_chaser``) only ever chooses hunt-stag,
so its return in an episode is its share (``stag_reward / group size``) of the stag captures it
takes part in: above 0 only when focal agents joined its hunt. Per run (3 focal seats, 24
seeds) and algorithm: the chaser's return, mean over the K episodes, episode K minus episode 1,
and the least-squares slope per episode (95 % t-intervals over seeds, as
``benchmarks/issue14_verdict.py``). Run from the repository root:

    python benchmarks/results/issue14_adaptation_cpu/session18/stag_joins.py
    python benchmarks/results/issue14_adaptation_cpu/session18/stag_joins.py "NAME:SEED=FOLDER" ...

(other runs: folders relative to benchmarks/results/issue14_adaptation_cpu).
"""
import gzip
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, "benchmarks")
from issue14_verdict import ci, slope  # noqa: E402

B = Path("benchmarks/results/issue14_adaptation_cpu")
RUNS = {
    ("any + hindsight (shipped)", 4): "session15/env64_seed4_stag_hunt_seat3",
    ("any + hindsight (shipped)", 5): "session17/any_seed5_stag_hunt_seat3",
    ("kind + reached", 4): "session17/kindreached_seed4_stag_hunt_seat3",
    ("kind + reached", 5): "session17/kindreached_seed5_stag_hunt_seat3",
    ("kind + reached + goal model reached", 4): "session18/kindreached2_seed4_stag_hunt_seat3",
    ("kind + reached + goal model reached", 5): "session18/kindreached2_seed5_stag_hunt_seat3",
}
if sys.argv[1:]:
    RUNS = {}
    for arg in sys.argv[1:]:
        key, folder = arg.split("=", 1)
        name, seed = key.rsplit(":", 1)
        RUNS[(name, int(seed))] = folder


def load(folder: Path) -> dict:
    for name in ("adaptation.json.gz", "adaptation.json"):
        if (folder / name).exists():
            with (gzip.open if name.endswith(".gz") else open)(folder / name, "rt") as f:
                return json.load(f)
    raise FileNotFoundError(f"no adaptation.json(.gz) in {folder}")


print("| configuration | seed | algorithm | chaser's return, mean over K | ep K - ep 1 | slope per episode |")
print("|---|---|---|---|---|---|")
for (name, seed), folder in RUNS.items():
    d = load(B / folder)
    c = d["coplayers"].index("stag")
    for alg, res in d["results"].items():
        r = np.asarray(res["adapt"]["coplayer_return"])[:, c]  # [S, K]
        print(f"| {name} | {seed} | {alg} | {ci(r.mean(1))} | {ci(r[:, -1] - r[:, 0])} | {ci(slope(r))} |")

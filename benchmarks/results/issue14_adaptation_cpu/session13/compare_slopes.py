"""Belief-accuracy slope per episode across K (mean [95 % interval] over 24 seeds) and the
within-episode rise, per co-player kind: inter-OM `any` (eleventh session, seed 0; twelfth,
seed 1) next to `rank` (this session, seed 2: first round, labels counted at every step's
slot; second round, at the slot where their run began), read from each run's verdict.txt
(benchmarks/issue14_verdict.py). Run from the repository root. Other runs:
``compare_slopes.py "NAME=FOLDER_PATTERN" ...`` with ``{env}`` and ``{s}`` (focal seats) in
each pattern, relative to benchmarks/results/issue14_adaptation_cpu (the fifteenth session's
comparison: ``../session15/README.md``)."""
import sys
from pathlib import Path

B = Path("benchmarks/results/issue14_adaptation_cpu")
RUNS = {"any, seed 0": "session11/s11_cli24_{env}_seat{s}", "any, seed 1": "session12/rep_seed1_{env}_seat{s}",
        "rank (per step), seed 2": "session13/rank_seed2_{env}_seat{s}",
        "rank, seed 2": "session13/rank2_seed2_{env}_seat{s}"}
if sys.argv[1:]:
    RUNS = dict(a.split("=", 1) for a in sys.argv[1:])


def table(path: Path, head: tuple[str, ...], col: int) -> dict[str, str]:
    out, on = {}, False
    if not path.exists():  # a run made for one env only
        return out
    for line in path.read_text().splitlines():
        if line.startswith("| co-players") and all(h in line for h in head):
            on = True
            continue
        if on and not line.startswith("| "):
            on = False
        if on:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[1] == "HOP":
                out[cells[0]] = cells[col]
    return out


for env in ("stag_hunt", "snowdrift"):
    for s in (1, 3):
        print(f"\n{env}, {s} focal seat(s)\n")
        for title, head, col in (("belief accuracy slope per episode", ("accuracy slope",), 5),
                                 ("within the episode: belief accuracy above chance, last scored third - first third",
                                  ("| belief accuracy |", "above chance: last"), 4)):
            print(f"{title}:\n")
            cols = {name: table(B / (p.format(env=env, s=s) + "/verdict.txt"), head, col) for name, p in RUNS.items()}
            print("| co-players | " + " | ".join(cols) + " |")
            print("|---" * (len(cols) + 1) + "|")
            for kind in next((c for c in cols.values() if c), {}):  # rows from the first run that exists
                print(f"| {kind} | " + " | ".join(c.get(kind, "-") for c in cols.values()) + " |")
            print()

"""Figures of benchmarks/results/issue14_selfplay_8x8_cpu/README.md from the runs' metrics CSVs:
    python analyse.py RUNS_DIR        (hop_8x8_s<S>/metrics.csv, stag_hunt_ppo_sweep4/metrics_seed<S>.csv)
    python analyse.py THIS_FOLDER     (the stored hop_s<S>_metrics.csv.gz, ppo_s<S>_metrics.csv.gz)"""
import csv, gzip, os, sys
import numpy as np
from scipy import stats

def load(p):
    r = list(csv.DictReader(gzip.open(p, "rt") if p.endswith(".gz") else open(p)))
    return {k: np.array([float(x[k]) for x in r]) for k in r[0]}

def last10(d, k):
    n = max(1, len(d[k]) // 10)
    return d[k][-n:].mean()

def ci(x):
    x = np.asarray(x); h = stats.t.ppf(.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return f"{x.mean():.3f} [{x.mean() - h:.3f}, {x.mean() + h:.3f}]"

root = sys.argv[1]
stored = os.path.exists(f"{root}/hop_s0_metrics.csv.gz")
hop = [load(f"{root}/hop_s{s}_metrics.csv.gz" if stored else f"{root}/hop_8x8_s{s}/metrics.csv") for s in range(4)]
ppo = [load(f"{root}/ppo_s{s}_metrics.csv.gz" if stored else f"{root}/stag_hunt_ppo_sweep4/metrics_seed{s}.csv")
       for s in range(4)]
rows = {}
for name, runs in (("HOP", hop), ("PPO", ppo)):
    rows[name] = {k: [last10(d, k) for d in runs] for k in ("mean_return", "goals/stag_0")}
    print(name, "seeds", len(runs), "env steps", int(runs[0]["env_steps"][-1]))
    for k, v in rows[name].items():
        print(f"  {k}: {ci(v)}  seeds {' '.join(f'{x:.3f}' for x in v)}")
    if name == "PPO":
        v = [last10(d, "hunts/stag_0") for d in runs]; print(f"  hunts/stag_0: {ci(v)}")
    else:
        v = [last10(d, "belief_accuracy") for d in runs]; print(f"  belief_accuracy: {ci(v)}")
        v = [d["belief_accuracy"][:10].mean() for d in runs]; print(f"  belief_accuracy, first 10 updates: {ci(v)}")
        v = [d["sps"][len(d["sps"]) // 2:].mean() for d in runs]; print(f"  env steps/s (second half, 2 runs at a time): {np.mean(v):.0f}")
r = rows["HOP"]["mean_return"]
lo, hi = stats.t.interval(.95, len(r) - 1, loc=np.mean(r), scale=stats.sem(r))
print("rule 1 (HOP return vs 1.0):", "leaves" if lo > 1 else "does not" if hi < 1 else "cannot tell", f"[{lo:.3f}, {hi:.3f}]")
a, b = np.array(rows["HOP"]["goals/stag_0"]), np.array(rows["PPO"]["goals/stag_0"])
va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
d = a.mean() - b.mean(); hw = stats.t.ppf(.975, df) * np.sqrt(va + vb)
print(f"rule 2 (HOP - PPO agents catching the stag, Welch): {d:+.3f} [{d - hw:+.3f}, {d + hw:+.3f}] df {df:.1f} ->",
      "holds" if d - hw > 0 else "does not hold" if d + hw < 0 else "cannot tell")

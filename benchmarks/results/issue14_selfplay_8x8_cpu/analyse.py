"""Figures of benchmarks/results/issue14_selfplay_8x8_cpu/README.md from the runs' metrics CSVs:
    python analyse.py RUNS_DIR        (hop_8x8_s<S>/metrics.csv, stag_hunt_ppo_sweep4/metrics_seed<S>.csv)
    python analyse.py THIS_FOLDER     (the stored hop_s<S>_metrics.csv.gz, ppo_s<S>_metrics.csv.gz)
Last 10 % of updates per seed (hopjax.runtime.summary.learned), 95 % t-intervals over seeds
(hopjax.runtime.reproduce.stats); rule 2 is Welch's interval of HOP - PPO (scipy)."""
import csv, gzip, os, sys

import numpy as np
from scipy import stats

from hopjax.runtime.experiment import read_csv
from hopjax.runtime.reproduce.stats import at_least, t_interval
from hopjax.runtime.summary import learned


def rows(path):
    if not path.endswith(".gz"):
        return read_csv(path)
    with gzip.open(path, "rt") as f:  # the stored copies: read_csv's rows, through gzip
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


root = sys.argv[1]
stored = os.path.exists(f"{root}/hop_s0_metrics.csv.gz")
runs = {"HOP": [rows(f"{root}/hop_s{s}_metrics.csv.gz" if stored else f"{root}/hop_8x8_s{s}/metrics.csv") for s in range(4)],
        "PPO": [rows(f"{root}/ppo_s{s}_metrics.csv.gz" if stored else f"{root}/stag_hunt_ppo_sweep4/metrics_seed{s}.csv")
                for s in range(4)]}
final = {name: [learned(r, len(r) // 10) for r in rs] for name, rs in runs.items()}
for name, rs in runs.items():
    print(name, "seeds", len(rs), "env steps", int(rs[0][-1]["env_steps"]))
    for key, label in (("mean_return", "mean_return"), ("stag", "agents catching the stag"), ("stag_hunts", "stag hunts")):
        if key in final[name][0]:
            v = [f[key] for f in final[name]]
            print(f"  {label}: {t_interval(v)}  seeds {' '.join(f'{x:.3f}' for x in v)}")
    if name == "HOP":
        acc = [np.array([row["belief_accuracy"] for row in r]) for r in rs]
        print(f"  belief_accuracy: {t_interval([a[-(len(a) // 10):].mean() for a in acc])}")
        print(f"  belief_accuracy, first 10 updates: {t_interval([a[:10].mean() for a in acc])}")
        sps = [np.mean([row["sps"] for row in r[len(r) // 2:]]) for r in rs]
        print(f"  env steps/s (second half, 2 runs at a time): {np.mean(sps):.0f}")
ret = t_interval([f["mean_return"] for f in final["HOP"]])
print("rule 1 (HOP leaves the hare equilibrium, return above 1.0):", at_least(ret, 1.0), ret)
hop, ppo = ([f["stag"] for f in final[n]] for n in ("HOP", "PPO"))
welch = stats.ttest_ind(hop, ppo, equal_var=False)
ci = welch.confidence_interval(0.95)
d = np.mean(hop) - np.mean(ppo)
print(f"rule 2 (HOP - PPO agents catching the stag, Welch): {d:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}] df {welch.df:.1f} ->",
      "holds" if ci.low > 0 else "does not hold" if ci.high < 0 else "cannot tell")

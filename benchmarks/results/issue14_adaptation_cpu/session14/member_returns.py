"""Issue 14, fourteenth session: each population member's mean return per agent over its last
10 updates (``metrics.csv``, column mean_return), shipped population (runs/populations/<env>_any,
trained in the eleventh session from configs/populations/<env>.yaml) next to the longer one
(runs/populations/<env>_longer). From the repository root, where both were trained:

    python benchmarks/results/issue14_adaptation_cpu/session14/member_returns.py"""
import csv

print("| env | member | shipped | longer |")
print("|---|---|---|---|")
for env in ("stag_hunt", "snowdrift"):
    for m in ("ppo_s0", "ppo_s1", "prosocial_ppo_s0", "omg_s0", "moa_s0", "hop_s0"):
        vals = []
        for pop in ("any", "longer"):
            rows = list(csv.DictReader(open(f"runs/populations/{env}_{pop}/{m}/metrics.csv")))[-10:]
            vals.append(sum(float(r["mean_return"]) for r in rows) / len(rows))
        print(f"| {env} | {m} | {vals[0]:.2f} | {vals[1]:.2f} |")

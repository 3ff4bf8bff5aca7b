"""Paired comparison of seat3_probe.py variants (same seeds, same evaluation keys):
per kind, each variant's per-episode mean return and slope [95 % t-interval over seeds], and
the slope difference of each variant minus a reference variant, paired by seed."""
import json
import sys

import numpy as np

from hopjax.runtime.adaptation import t_interval


def slope(y):
    return np.array([np.polyfit(np.arange(y.shape[1]), row, 1)[0] for row in y])


def ci(x):
    m, lo, hi = (float(v) for v in t_interval(np.asarray(x)))
    return f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def main(path, kinds=("fix", "pop:prosocial_ppo"), ref=None, metric="focal_return"):
    d = json.load(open(path))
    names = list(d["variants"])
    ref = ref or names[0]
    for kind in kinds:
        c = d["kinds"].index(kind)
        print(f"\n### {kind} ({metric}; {path})\n")
        K = np.asarray(d["variants"][ref][metric]).shape[2]
        print("| variant | " + " | ".join(f"ep {k + 1}" for k in range(K)) + f" | slope | slope - {ref} (paired) |")
        print("|---" * (K + 3) + "|")
        r0 = np.asarray(d["variants"][ref][metric])[:, c]
        for n in names:
            r = np.asarray(d["variants"][n][metric])[:, c]
            cells = [f"{m:.3f}" for m in r.mean(0)]
            diff = "" if n == ref else ci(slope(r) - slope(r0))
            print(f"| {n} | " + " | ".join(cells) + f" | {ci(slope(r))} | {diff} |")


if __name__ == "__main__":
    args = sys.argv[1:]
    kinds = ("fix", "pop:prosocial_ppo")
    metric = "focal_return"
    if "--kinds" in args:
        i = args.index("--kinds"); kinds = tuple(args[i + 1].split(",")); del args[i:i + 2]
    if "--metric" in args:
        i = args.index("--metric"); metric = args[i + 1]; del args[i:i + 2]
    for p in args:
        main(p, kinds, metric=metric)

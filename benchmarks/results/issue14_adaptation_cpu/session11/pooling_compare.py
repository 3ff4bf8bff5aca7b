"""Issue 14: inter-OM pooled within kinds (``inter_om_pooling: kind``) vs over every target
(``any``, the HOP code's EMA of P(any target), the default since this comparison) vs no inter-OM
carry-over, on the same trained HOP seeds and evaluation keys.

Reads ``seat3_probe.py`` JSONs (one variant each), grouped by ``--variant LABEL FILE...``
(the files of one label hold other trained seeds and are pooled by seed, in the same order
for every label; ``FILE:VARIANT`` picks one variant of a JSON that holds several). Prints per co-player kind and averaged over the kinds: the per-episode mean
and the slope per episode (least squares over the K episodes, per seed) of the focal return
and of the belief accuracy about the unseen co-player, mean and 95 % t-interval over seeds,
and each variant's paired slope difference to the first one.

    python pooling_compare.py --variant kind K0.json K100.json --variant any A0.json A100.json
"""

from __future__ import annotations

import argparse
import gzip
import json

import numpy as np

from hopjax.runtime.reproduce.stats import t_interval


def load(spec):
    """``FILE`` (a JSON of one variant) or ``FILE:VARIANT`` (one variant of several, e.g.
    ``x.json:carry=none,team_start=uniform``)."""
    path, _, name = spec.partition(".json")
    path += ".json" + (".gz" if name.startswith(".gz") else "")
    name = name.removeprefix(".gz").removeprefix(":")
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
        d = json.load(f)
    (v,) = [d["variants"][name]] if name else d["variants"].values()
    return d["kinds"], {k: np.asarray(x) for k, x in v.items()}, d["args"]


def slope(y):  # y [..., K] -> least-squares slope per episode
    k = np.arange(y.shape[-1]) - (y.shape[-1] - 1) / 2
    return (y * k).sum(-1) / (k * k).sum()


def ci(x):
    i = t_interval(x)
    return f"{i.mean:+.3f} [{i.lo:+.3f}, {i.hi:+.3f}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", nargs="+", action="append", required=True, metavar=("LABEL", "FILE"))
    a = ap.parse_args()
    data, kinds, runs = {}, None, None
    for label, *files in a.variant:
        loaded = [load(f) for f in files]
        # Pairing: every label's files must hold the same kinds, trained seeds and keys, in order.
        these = [(x[0], x[2]["seed_base"], x[2]["eval_seed"], x[2]["seeds"], x[2]["focal_seats"]) for x in loaded]
        if runs is not None and these != runs:
            raise SystemExit(f"--variant {label}: files differ from the first variant's in kinds, seeds, "
                             f"keys or seats: {these} vs {runs}")
        runs, kinds = these, loaded[0][0]
        data[label] = {m: np.concatenate([x[1][m] for x in loaded]) for m in ("focal_return", "belief_accuracy")}
    labels = list(data)
    ref = labels[0]
    s, _, k = data[ref]["focal_return"].shape
    print(f"{s} trained seeds, {len(kinds)} co-player kinds, K = {k}; slopes per episode, "
          f"mean [95 % t-interval] over seeds; 'vs {ref}': paired slope difference")
    head = " | ".join(f"{lab}: per episode | {lab}: slope" + ("" if lab == ref else f" | {lab} vs {ref}")
                      for lab in labels)
    print(f"| co-players | metric | {head} |")
    print("|---|---|" + "---|" * (3 * len(labels) - 1))
    for c, kind in list(enumerate(kinds)) + [(None, "all kinds (mean)")]:
        for metric in ("focal_return", "belief_accuracy"):
            cells = []
            for lab in labels:
                y = data[lab][metric]
                y = y.mean(1) if c is None else y[:, c]
                yr = data[ref][metric]
                yr = yr.mean(1) if c is None else yr[:, c]
                cells += [" ".join(f"{v:.3f}" for v in y.mean(0)), ci(slope(y))]
                if lab != ref:
                    cells.append(ci(slope(y) - slope(yr)))
            print(f"| {kind} | {metric} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""Issue 14's done-when statistics from a ``hopjax eval`` adaptation.json (HOP config).

    python benchmarks/issue14_verdict.py runs/stag_hunt_hop_adapt/adaptation.json
    python benchmarks/issue14_verdict.py --summary A/adaptation.json B/adaptation.json ...

The second form prints one table of the done-when's clauses (:func:`clauses`), a column per
evaluation: for how many co-player kinds each holds, and the kinds where it does not ("no") or
cannot be told ("?": the 95 % interval contains 0).

Prints, with 95 % Student-t intervals over the trained seeds (S - 1 degrees of freedom):
HOP's mean focal return over the K episodes minus each baseline's (seed s of HOP paired with
seed s of the baseline: both are the s-th trained seed of the same command), and whether HOP's
mean is at least the best baseline's; for each HOP row,
episode K minus episode 1 and the least-squares slope per episode of the focal return and of
the belief accuracy; belief accuracy over the whole episode minus chance (1 / (targets present
+ 1)), and the accuracy above chance in the last third of the steps minus the first third, the
thirds taken over the steps 1..n that every seed scores (against hare chasers with 3 focal
seats the hare is caught, and against cleaners every drift is gone, long before the horizon).
The same for the belief mass on a scripted co-player's pursued target(s) (``pursuit_*``,
:func:`hopjax.runtime.adaptation.pursuit_accuracy`), where the adaptation.json has it.
With the control row (``adapt_no_carry: true``, row "HOP no carry"): what carrying inter-OM
over does, HOP minus the control seed by seed (:func:`hopjax.runtime.adaptation.carry_rows`),
and two more rows in the summary (the paired slopes of the return and of the accuracy).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from hopjax.runtime.adaptation import carry_markdown, carry_rows, t_interval
from hopjax.runtime.adaptation import episode_slope as slope

PURSUIT_ACROSS = "scripted kinds: belief on the pursued target rises across K"
PURSUIT_ABOVE = "scripted kinds: belief on the pursued target above chance"
PURSUIT_WITHIN = "scripted kinds: belief on the pursued target rises within episodes"
PAIRED_RETURN = "carrying over does not lower the return slope (paired with no carry)"
PAIRED_ACCURACY = "carrying over raises the accuracy slope (paired with no carry)"


def ci(x) -> str:
    m, lo, hi = (float(v) for v in t_interval(np.asarray(x)))
    return f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def best_baseline(bases: list[str], ret, c: int) -> str:
    """The baseline with the highest mean focal return against co-player kind ``c``."""
    return max(bases, key=lambda b: ret(b, c).mean())


def thirds(ad: dict, c: int, pre: str):
    """Per-step sums of kind ``c`` ("belief" or "pursuit" entries of an algorithm's ``adapt``
    results) -> (scored steps, accuracy sums, chance sums: each [S, T] summed over the K
    episodes; accuracy above chance in each third of the steps: 3 x [S], NaN for a seed without
    scored steps there; 2, the last third, or 0 where fewer than 3 steps are scored in every
    seed).

    The thirds split the steps 1..n that every seed scores (n: the first step some seed does
    not score, minus one), not the whole horizon T: against hare chasers with 3 focal seats the
    hare is caught, and nothing is scored, well before T / 3, so thirds of T left nothing to
    compare. Where every seed scores every step this is thirds of T."""
    st = ad[f"{pre}_steps_t"][:, c].sum(1)  # [S, K, T] -> [S, T]
    acc, ch = ad[f"{pre}_acc_sum_t"][:, c].sum(1), ad[f"{pre}_chance_sum_t"][:, c].sum(1)
    every = np.all(st > 0, axis=0)
    n = st.shape[1] if every.all() else int(np.argmin(every))
    parts = np.array_split(np.arange(max(n, 3)), 3)
    above = [(acc[:, p].sum(1) - ch[:, p].sum(1)) / np.where(st[:, p].sum(1) > 0, st[:, p].sum(1), np.nan)
             for p in parts]
    last = 2 if n >= 3 else 0  # fewer than 3 steps scored in every seed: nothing to compare
    return st, acc, ch, above, last


def load(path: str):
    """-> (co-player kinds, results, HOP rows, baseline rows, ``ret(algorithm, kind index)``:
    focal returns [S, K]) of one adaptation.json."""
    d = json.load(open(path))
    kinds, res = d["coplayers"], d["results"]
    res = {a: {part: {m: np.asarray(v) for m, v in r.items()} for part, r in d.items()} for a, d in res.items()}
    hops = [a for a in res if a.startswith("HOP")]
    bases = [a for a in res if a not in hops]
    return kinds, res, hops, bases, lambda a, c: np.asarray(res[a]["adapt"]["focal_return"])[:, c]


def main(path: str) -> None:
    kinds, res, hops, bases, ret = load(path)
    if not bases:
        print("no baseline in this evaluation: HOP against the best baseline cannot be told")
    else:
        print("| co-players | " + " | ".join(f"HOP - {b} (return, mean over K)" for b in bases)
              + " | best baseline (mean) | HOP >= best (means) |")
    for c, k in enumerate(kinds if bases else ()):
        best = best_baseline(bases, ret, c)
        holds = "yes" if ret("HOP", c).mean() >= ret(best, c).mean() else "**no**"
        print(f"| {k} | " + " | ".join(ci(ret("HOP", c).mean(1) - ret(b, c).mean(1)) for b in bases)
              + f" | {best} | {holds} |")
    print("\n| co-players | algorithm | return ep K - ep 1 | return slope | accuracy ep K - ep 1 | accuracy slope |")
    for a in hops:
        for c, k in enumerate(kinds):
            fr, ba = ret(a, c), np.asarray(res[a]["adapt"]["belief_accuracy"])[:, c]
            print(f"| {k} | {a} | {ci(fr[:, -1] - fr[:, 0])} | {ci(slope(fr))} | "
                  f"{ci(ba[:, -1] - ba[:, 0])} | {ci(slope(ba))} |")
    within(res, kinds, hops, "belief")
    if any("pursuit_steps" in res[a]["adapt"] for a in hops):
        print("\nBelief mass on the scripted co-players' pursued target(s):")
        print("\n| co-players | algorithm | mass ep K - ep 1 | mass slope |")
        for a in hops:
            for c, k in enumerate(kinds):
                if np.all(np.asarray(res[a]["adapt"]["pursuit_steps"])[:, c] > 0):
                    pa = np.asarray(res[a]["adapt"]["pursuit_accuracy"])[:, c]
                    print(f"| {k} | {a} | {ci(pa[:, -1] - pa[:, 0])} | {ci(slope(pa))} |")
        within(res, kinds, hops, "pursuit")
    carry = carry_rows(res, kinds)
    if carry:
        print("\n" + carry_markdown(carry, Path(path).parent.name))


def within(res, kinds, hops, pre: str) -> None:
    """Whole-episode accuracy, minus chance, and the rise of the excess over chance from the
    first third to the last third of the steps every seed scores (:func:`thirds`)."""
    print(f"\n| co-players | algorithm | {pre} accuracy | minus chance | above chance: last third - first third "
          "(of the steps every seed scores) |")
    for a in hops:
        ad = {m: np.asarray(v) for m, v in res[a]["adapt"].items()}
        if f"{pre}_steps_t" not in ad:
            continue
        for c, k in enumerate(kinds):
            if not np.all(ad[f"{pre}_steps_t"][:, c].sum((1, 2)) > 0):
                continue
            st, acc, ch, above, last = thirds(ad, c, pre)
            rise = ci(above[last] - above[0]) if last else "fewer than 3 steps scored in every seed"
            print(f"| {k} | {a} | {ci(acc.sum(1) / st.sum(1))} | {ci((acc.sum(1) - ch.sum(1)) / st.sum(1))} | {rise} |")


def verdict(lo: float, hi: float) -> str:
    """A 95 % interval's verdict: "yes" above 0, "no" below 0, "?" (cannot tell) across it."""
    return "yes" if lo > 0 else ("no" if hi < 0 else "?")


def sign(x) -> str:
    """:func:`verdict` of the t-interval over seeds of ``x`` [S]."""
    return verdict(*(float(v) for v in t_interval(np.asarray(x))[1:]))


def belief_cells(ad: dict, c: int, pre: str) -> tuple[str, str, str]:
    """Kind ``c``'s belief clauses on ``pre`` ("belief": the hindsight label, "pursuit": the
    pursued target): the slope across K, the accuracy above chance, the rise within episodes
    (:func:`thirds`; "?" with fewer than 3 steps scored in every seed)."""
    metric = "belief_accuracy" if pre == "belief" else "pursuit_accuracy"
    st, acc, ch, above, last = thirds(ad, c, pre)
    return (sign(slope(ad[metric][:, c])), sign((acc.sum(1) - ch.sum(1)) / st.sum(1)),
            sign(above[last] - above[0]) if last else "?")


def clauses(path: str) -> dict[str, dict[str, str]]:
    """The done-when's clauses per co-player kind of one adaptation.json (HOP row):
    {clause: {kind: "yes" | "no" | "?"}}; "?" = cannot tell (the 95 % interval contains 0).
    The belief clauses are scored twice: on the hindsight goal (the HOP code's label, every
    kind), and, against scripted kinds, on the target the co-player actually pursues
    (``pursuit_*``; a lone stag chaser's unjoined hunt is "no target" by hindsight and the stag
    by pursuit)."""
    kinds, res, _, bases, ret = load(path)
    ad = {m: np.asarray(v) for m, v in res["HOP"]["adapt"].items()}
    out: dict[str, dict[str, str]] = {k: {} for k in (
        "HOP >= best baseline (means)", "HOP - best > 0 (interval)", "return does not fall across K",
        "belief accuracy rises across K", "belief accuracy above chance", "rises within episodes")}
    for c, k in enumerate(kinds):
        if bases:
            best = best_baseline(bases, ret, c)
            out["HOP >= best baseline (means)"][k] = "yes" if ret("HOP", c).mean() >= ret(best, c).mean() else "no"
            out["HOP - best > 0 (interval)"][k] = sign(ret("HOP", c).mean(1) - ret(best, c).mean(1))
        fall = sign(slope(ret("HOP", c)))
        out["return does not fall across K"][k] = "no" if fall == "no" else "yes"
        (out["belief accuracy rises across K"][k], out["belief accuracy above chance"][k],
         out["rises within episodes"][k]) = belief_cells(ad, c, "belief")
    if "pursuit_steps" in ad:  # scripted kinds: the goal each co-player pursues is known
        for clause in (PURSUIT_ACROSS, PURSUIT_ABOVE, PURSUIT_WITHIN):
            out[clause] = {}
        for c, k in enumerate(kinds):
            if not np.all(ad["pursuit_steps"][:, c] > 0):
                continue  # a learned kind: its goal is unknown
            out[PURSUIT_ACROSS][k], out[PURSUIT_ABOVE][k], out[PURSUIT_WITHIN][k] = belief_cells(ad, c, "pursuit")
    carry = carry_rows(res, kinds, digits=None)  # HOP minus the control seed by seed, with intervals
    paired = lambda r, m: verdict(r[f"{m}_paired_slope_lo"], r[f"{m}_paired_slope_hi"])
    if carry:
        out[PAIRED_RETURN] = {r["coplayers"]: "no" if paired(r, "focal_return") == "no" else "yes" for r in carry}
        out[PAIRED_ACCURACY] = {r["coplayers"]: paired(r, "belief_accuracy") for r in carry}
    return out


def summary(paths: list[str]) -> None:
    """One table: per clause and run, the kinds where it holds out of all, and the others."""
    runs = [(p, clauses(p)) for p in paths]
    name = lambda p: Path(p).parent.parent.name or p  # <out>/<name>_adapt/adaptation.json -> <out>
    print("| clause | " + " | ".join(f"`{name(p)}`" for p, _ in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for clause in dict.fromkeys(c for _, cl in runs for c in cl):
        cells = []
        for _, cl in runs:
            got = cl.get(clause, {})
            if not got:
                cells.append("-")
                continue
            bad = [f"{k} ({v})" for k, v in got.items() if v != "yes"]
            cells.append(f"{len(got) - len(bad)}/{len(got)}" + (f"; not: {', '.join(bad)}" if bad else ""))
        print(f"| {clause} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        summary(sys.argv[2:])
    else:
        main(sys.argv[1])

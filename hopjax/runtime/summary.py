"""What a run learned, in one line: mean return per agent against the env's optimum and the
goals reached per episode by kind (``stag``, ``hare``, ``drift``), averaged over the rows of
the last chunk (one row per update, as in ``metrics.csv``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# goal kind -> how its per-episode count reads (the counts are agents reaching a goal of that
# kind: goals_per_episode sums info["goal"] over agents, hopjax/algos/ppo/trainer.py)
_KIND_LABELS = {
    "stag": "agents catching a stag",
    "hare": "agents catching a hare",
    "drift": "agents clearing a drift",
}


def goal_kinds(columns) -> dict[str, list[str]]:
    """CSV columns ``goals/<kind>_<i>`` grouped by kind, in first-seen order."""
    kinds: dict[str, list[str]] = {}
    for c in columns:
        if c.startswith("goals/"):
            kinds.setdefault(c[len("goals/"):].rsplit("_", 1)[0], []).append(c)
    return kinds


def learned(rows: list[dict[str, float]], last: int) -> dict[str, float]:
    """Means over the last ``last`` rows: ``mean_return`` and, per goal kind, the sum over
    that kind's goals of ``goals/<name>`` (reached per episode). Empty if ``rows`` is."""
    tail = rows[-max(1, last):]
    if not tail:
        return {}
    out = {"mean_return": float(np.mean([r["mean_return"] for r in tail]))}
    for kind, cols in goal_kinds(tail[0]).items():
        out[kind] = float(np.mean([sum(r[c] for c in cols) for r in tail]))
    return out


def learned_line(rows: list[dict[str, float]], last: int, env_params: Any = None) -> str:
    """``learned (last N updates): mean return per agent R of B (optimum); per episode: ...``.
    ``env_params``: its ``best_mean_return`` (if it has one) is the optimum shown."""
    s = learned(rows, last)
    if not s:
        return "learned: nothing (no update ran)"
    n = min(len(rows), max(1, last))
    best = getattr(env_params, "best_mean_return", None)
    ret = f"mean return per agent {s['mean_return']:.2f}"
    if best is not None:
        ret += f" of {best:.2f} (optimum)"
    goals = [f"{_KIND_LABELS.get(k, k + ' goals reached')} {v:.2f}" for k, v in s.items() if k != "mean_return"]
    per_ep = f"; per episode: {', '.join(goals)}" if goals else ""
    return f"learned (last {n} updates): {ret}{per_ep}"

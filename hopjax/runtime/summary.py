"""What a run learned, in one line: mean return per agent against the env's optimum and, per
goal kind (``stag``, ``hare``, ``drift``), the captures per episode (``hunts/<goal>`` columns:
a stag taken by a group counts once) with the agents per capture (``goals/<goal>``: agents
reaching the goal), averaged over the rows of the last chunk (one row per update, as in
``metrics.csv``). Rows without ``hunts/`` columns (HOP's) report agents reaching each kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# goal kind -> (label of captures per episode, label of agents reaching it per episode)
_KIND_LABELS = {
    "stag": ("stag hunts", "agents catching a stag"),
    "hare": ("hare hunts", "agents catching a hare"),
    "drift": ("drifts cleared", "agents clearing a drift"),
}


def goal_kinds(columns, prefix: str = "goals") -> dict[str, list[str]]:
    """CSV columns ``<prefix>/<kind>_<i>`` grouped by kind, in first-seen order (``prefix``:
    ``goals`` = agents reaching each goal, ``hunts`` = captures)."""
    kinds: dict[str, list[str]] = {}
    for c in columns:
        if c.startswith(prefix + "/"):
            kinds.setdefault(c[len(prefix) + 1:].rsplit("_", 1)[0], []).append(c)
    return kinds


def per_kind(rows: list[dict[str, float]], prefix: str = "goals") -> dict[str, np.ndarray]:
    """{kind: [rows] float64}: per row, the sum over that kind's goals of ``<prefix>/<goal>``."""
    if not rows:
        return {}
    return {kind: np.array([sum(r[c] for c in cols) for r in rows], np.float64)
            for kind, cols in goal_kinds(rows[0], prefix).items()}


def learned(rows: list[dict[str, float]], last: int) -> dict[str, float]:
    """Means over the last ``last`` rows: ``mean_return``, per goal kind ``<kind>`` (agents
    reaching it per episode) and, where the rows have ``hunts/`` columns, ``<kind>_hunts``
    (captures per episode). Empty if ``rows`` is."""
    tail = rows[-max(1, last):]
    if not tail:
        return {}
    out = {"mean_return": float(np.mean([r["mean_return"] for r in tail]))}
    out.update({k: float(v.mean()) for k, v in per_kind(tail, "goals").items()})
    out.update({f"{k}_hunts": float(v.mean()) for k, v in per_kind(tail, "hunts").items()})
    return out


def _goal_text(kind: str, s: dict[str, float]) -> str:
    hunts_label, agents_label = _KIND_LABELS.get(kind, (f"{kind} captures", f"agents reaching a {kind}"))
    if f"{kind}_hunts" not in s:
        return f"{agents_label} {s[kind]:.2f}"
    hunts = s[f"{kind}_hunts"]
    each = f" ({s[kind] / hunts:.2f} agents each)" if hunts > 0 else ""
    return f"{hunts_label} {hunts:.2f}{each}"


def learned_line(rows: list[dict[str, float]], last: int, env_params: Any = None) -> str:
    """``learned (last N updates): mean return per agent R of B (optimum); per episode: stag
    hunts A (x agents each), hare hunts B (y agents each)``. ``env_params``: its
    ``best_mean_return`` (if it has one) is the optimum shown."""
    s = learned(rows, last)
    if not s:
        return "learned: nothing (no update ran)"
    n = min(len(rows), max(1, last))
    best = getattr(env_params, "best_mean_return", None)
    ret = f"mean return per agent {s['mean_return']:.2f}"
    if best is not None:
        ret += f" of {best:.2f} (optimum)"
    goals = [_goal_text(k, s) for k in goal_kinds(rows[0])]
    per_ep = f"; per episode: {', '.join(goals)}" if goals else ""
    return f"learned (last {n} updates): {ret}{per_ep}"

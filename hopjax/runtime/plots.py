"""Figures for papers (matplotlib, headless: no pyplot, no global figure state).

Conventions of every figure here: labelled axes with units, curves smoothed by a trailing
moving average (``window`` updates, our choice: 10 by default, stated in the legend), the mean
drawn with a band (the 95 % t-interval over seeds, or the spread over agents for one run), goals
reached per episode as captures by kind (stag hunts vs hare hunts, drifts cleared), and
wall-clock time as a second x axis on top where it is known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hopjax.runtime.reproduce.stats import mean_interval
from hopjax.runtime.summary import per_kind

WINDOW = 10  # updates in the trailing moving average (our choice)
# per-episode capture label of each goal kind (summary.py's ``hunts/`` columns)
CAPTURES = {"stag": "stag hunts", "hare": "hare hunts", "drift": "drifts cleared"}


def smooth(x: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Trailing moving average along the last axis: point u is the mean of updates
    ``max(0, u - window + 1) .. u`` (the first points average what exists). Same shape."""
    x = np.asarray(x, np.float64)
    c = np.cumsum(x, axis=-1)
    w = max(1, int(window))
    lagged = np.concatenate([np.zeros_like(c[..., :w]), c[..., :-w]], axis=-1)[..., : x.shape[-1]]
    n = np.minimum(np.arange(1, x.shape[-1] + 1), w)
    return (c - lagged) / n


def band(curves: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """curves [S, U] -> (mean, lo, hi) [U]: the t-interval over the S rows at each update
    (lo = hi = mean for S = 1)."""
    mu, lo, hi = mean_interval(curves, confidence)
    if np.asarray(curves).shape[0] < 2:
        return mu, mu, mu
    return mu, lo, hi


def wall_seconds(env_steps: np.ndarray, sps: np.ndarray, seeds: int = 1) -> np.ndarray:
    """Cumulative wall-clock seconds at each CSV row (compile excluded), from its ``env_steps``
    and ``sps`` (env steps/s of the chunk; a sweep's counts all ``seeds`` together)."""
    steps = np.asarray(env_steps, np.float64)
    dt = np.diff(np.concatenate([[0.0], steps])) * seeds / np.maximum(np.asarray(sps, np.float64), 1e-9)
    return np.cumsum(dt)


def add_wall_axis(ax, env_steps: np.ndarray, wall_s: np.ndarray | None) -> None:
    """A second x axis on top of ``ax``: wall-clock time (minutes beyond 5 min, else seconds)."""
    if wall_s is None or len(wall_s) < 2:
        return
    steps, wall = np.asarray(env_steps, np.float64), np.asarray(wall_s, np.float64)
    scale, unit = (60.0, "min") if wall[-1] > 300 else (1.0, "s")
    top = ax.secondary_xaxis("top", functions=(lambda s: np.interp(s, steps, wall) / scale,
                                               lambda t: np.interp(t * scale, wall, steps)))
    top.set_xlabel(f"wall-clock time ({unit}, compile excluded)", fontsize=8)
    top.tick_params(labelsize=7)


def draw_mean_band(ax, steps, curves, label: str, color=None, window: int = WINDOW, what: str = "seeds"):
    """Smoothed mean of curves [S, U] with its 95 % band over the S ``what`` (seeds/agents)."""
    mu, lo, hi = band(smooth(curves, window))
    n = np.asarray(curves).shape[0]
    line, = ax.plot(steps, mu, color=color, lw=1.8, label=f"{label} (mean of {n} {what})" if n > 1 else label)
    if n > 1:
        ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    return line


def _finish(fig: Figure, axes, path, title: str) -> Path:
    for ax in np.ravel(axes):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


def draw_captures(ax, steps, rows_by_seed: list[list[dict[str, float]]], window: int = WINDOW) -> None:
    """Captures per episode by goal kind (``hunts/`` columns; agents reaching a goal,
    ``goals/``, where a run has no ``hunts/``), mean and band over seeds."""
    prefix = "hunts" if any(k.startswith("hunts/") for k in rows_by_seed[0][0]) else "goals"
    kinds = per_kind(rows_by_seed[0], prefix)
    for kind in kinds:
        curves = np.stack([per_kind(rows, prefix)[kind] for rows in rows_by_seed])
        label = CAPTURES.get(kind, kind) if prefix == "hunts" else f"agents reaching a {kind}"
        draw_mean_band(ax, steps, curves, label, window=window)
    ax.set_xlabel("env steps")
    ax.set_ylabel("per episode")
    ax.set_title("goals reached per episode")


def plot_learning_curves(rows: list[dict[str, float]], path: str | Path, title: str = "",
                         optimum: float | None = None) -> Path:
    """One run's ``metrics.csv`` rows -> PNG: episode return (each agent thin, the smoothed mean
    over agents with its band), goals reached per episode by kind, entropy (PPO: policy, HOP:
    search) and losses, against env steps with wall-clock time on top."""
    steps = np.array([r["env_steps"] for r in rows])
    wall = wall_seconds(steps, [r["sps"] for r in rows]) if "sps" in rows[0] else None
    fig = Figure(figsize=(16, 4))
    axes = fig.subplots(1, 4)
    agents = sorted((k for k in rows[0] if k.startswith("episode_return_")), key=lambda k: int(k.rsplit("_", 1)[1]))
    per_agent = np.array([[r[k] for r in rows] for k in agents]) if agents else np.array([[r["mean_return"] for r in rows]])
    for k, curve in zip(agents, per_agent):
        axes[0].plot(steps, curve, lw=0.6, alpha=0.5, label=k.replace("episode_return_", "agent "))
    draw_mean_band(axes[0], steps, per_agent, "mean", color="k", what="agents")
    if optimum is not None:
        axes[0].axhline(optimum, color="grey", ls=":", label=f"optimum {optimum:.2f}")
    axes[0].set(xlabel="env steps", ylabel="episode return per agent", title="episode return")
    add_wall_axis(axes[0], steps, wall)
    draw_captures(axes[1], steps, [rows])
    ent = "entropy" if "entropy" in rows[0] else "search_entropy"
    if ent in rows[0]:
        axes[2].plot(steps, smooth([r[ent] for r in rows]))
    axes[2].set(xlabel="env steps", ylabel="nats", title=ent.replace("_", " "))
    losses = [k for k in ("pg_loss", "value_loss") if k in rows[0]] or [k for k in rows[0] if k.endswith("loss")]
    for k in losses:
        axes[3].plot(steps, smooth([r[k] for r in rows]), label=k)
    axes[3].set(xlabel="env steps", ylabel="loss", title=f"losses (moving average of {WINDOW} updates)")
    return _finish(fig, axes, path, title)


def plot_sweep(steps: np.ndarray, returns: np.ndarray, path: str | Path, title: str = "",
               wall_s: np.ndarray | None = None) -> Path:
    """returns [S, U]: per-seed curves (thin) and the smoothed mean with its 95 % band over
    seeds -> PNG at ``path``; ``wall_s`` [U]: wall-clock time on top."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for s in range(returns.shape[0]):
        ax.plot(steps, returns[s], lw=0.6, alpha=0.4)
    draw_mean_band(ax, steps, returns, "mean return per agent", color="k")
    ax.set(xlabel="env steps", ylabel="mean episode return per agent")
    add_wall_axis(ax, steps, wall_s)
    return _finish(fig, ax, path, title)


def plot_seeds_figure(rows_by_seed: list[list[dict[str, float]]], path: str | Path, title: str = "",
                      seeds_together: int | None = None, thresholds=(), optimum: float | None = None) -> Path:
    """A sweep's CSV rows (one list per seed) -> two-panel PNG: mean return per agent (mean and
    95 % band over seeds, dashed ``thresholds``, dotted ``optimum``) and captures per episode
    by kind, against env steps with the sweep's wall-clock time on top (``seeds_together``:
    the seeds the ``sps`` column counts, default all)."""
    steps = np.array([r["env_steps"] for r in rows_by_seed[0]])
    n = len(rows_by_seed)
    wall = wall_seconds(steps, [r["sps"] for r in rows_by_seed[0]], seeds_together or n)
    fig = Figure(figsize=(12, 4.2))
    axes = fig.subplots(1, 2)
    ret = np.array([[r["mean_return"] for r in rows] for rows in rows_by_seed])
    draw_mean_band(axes[0], steps, ret, "mean return per agent", color="k")
    for t in thresholds:
        axes[0].axhline(t, color="tab:red", ls="--", lw=0.7, alpha=0.6)
    if optimum is not None:
        axes[0].axhline(optimum, color="grey", ls=":", label=f"optimum {optimum:.2f}")
    axes[0].set(xlabel="env steps", ylabel="mean episode return per agent", title="return")
    add_wall_axis(axes[0], steps, wall)
    draw_captures(axes[1], steps, rows_by_seed)
    add_wall_axis(axes[1], steps, wall)
    return _finish(fig, axes, path, title)


def plot_arms(steps: np.ndarray, curves: dict[str, np.ndarray], path: str | Path, ylabel: str,
              title: str = "") -> Path:
    """Several algorithms ("arms") on one axis: curves {arm: [S, U]} at the same ``steps`` [U],
    each its smoothed mean and 95 % band over seeds -> PNG."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for arm, c in curves.items():
        draw_mean_band(ax, steps, c, arm)
    ax.set(xlabel="env steps", ylabel=ylabel)
    return _finish(fig, ax, path, title)


def plot_episode_curves(curves: dict[str, np.ndarray], path: str | Path, ylabel: str, title: str = "") -> Path:
    """Per-episode curves {label: [S, K]} (e.g. focal return in adaptation episodes 1..K): mean
    and 95 % band over seeds, unsmoothed -> PNG."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for label, c in curves.items():
        k = np.arange(1, np.asarray(c).shape[1] + 1)
        draw_mean_band(ax, k, c, label, window=1)
    ax.set(xlabel="episode", ylabel=ylabel)
    return _finish(fig, ax, path, title)


def curve_styles(algos: list[str]) -> dict[str, tuple[str, str]]:
    """{algorithm: (matplotlib colour, line style)} of the adaptation curve: HOP's rows (``HOP``
    and its variants ``HOP <...>``) share colour C0 with a line style each (``-``, ``--``, ...),
    the others take C1, C2, ... in their order, whichever HOP rows there are."""
    hops = [a for a in algos if a.split(" ")[0] == "HOP"]
    style = {a: ("C0", ("-", "--", ":", "-.")[i % 4]) for i, a in enumerate(hops)}
    style.update({a: (f"C{i + 1}", "-") for i, a in enumerate(a for a in algos if a not in hops)})
    return style


def plot_adaptation_curve(rows: list[dict], path: str | Path, title: str = "", per_row: int = 5) -> Path:
    """The adaptation curve: per co-player kind (columns, at most ``per_row`` to a row of
    panels), focal return (top) and belief accuracy (below it, algorithms that report it)
    against the episode 1..K, mean with its 95 % interval band per algorithm: HOP's rows (``HOP``,
    ``HOP decay=<d>``, ``HOP no carry``) in one colour with their own line styles, each baseline
    in a colour of its own that does not depend on which HOP rows are there. ``rows``:
    :func:`hopjax.runtime.adaptation.curve_rows`."""
    kinds = list(dict.fromkeys(r["coplayers"] for r in rows))
    algos = list(dict.fromkeys(r["algorithm"] for r in rows))
    style = curve_styles(algos)
    cols = min(len(kinds), per_row)
    blocks = -(-len(kinds) // cols)
    fig = Figure(figsize=(3.6 * cols, 6.5 * blocks))
    axes = np.asarray(fig.subplots(2 * blocks, cols, squeeze=False))
    for c, kind in enumerate(kinds):
        top, bottom = axes[2 * (c // cols), c % cols], axes[2 * (c // cols) + 1, c % cols]
        for algo in algos:
            colour, line = style[algo]
            rs = [r for r in rows if r["coplayers"] == kind and r["algorithm"] == algo]
            ep = [r["episode"] for r in rs]
            for ax, m in ((top, "focal_return"), (bottom, "belief_accuracy")):
                mean = np.array([np.nan if r[m] == "" else r[m] for r in rs], float)
                if np.all(np.isnan(mean)):
                    continue
                lo = np.array([r[m + "_lo"] for r in rs], float)
                hi = np.array([r[m + "_hi"] for r in rs], float)
                ax.plot(ep, mean, marker="o", color=colour, linestyle=line, label=algo)
                ax.fill_between(ep, lo, hi, color=colour, alpha=0.15)
        top.set_title(f"vs {kind}")
        bottom.set_xlabel("episode")
    for b in range(blocks):
        axes[2 * b, 0].set_ylabel("focal return (95 % interval)")
        axes[2 * b + 1, 0].set_ylabel("belief accuracy (95 % interval)")
    for c in range(len(kinds), blocks * cols):  # unused panels of the last row
        axes[2 * (c // cols), c % cols].set_visible(False)
        axes[2 * (c // cols) + 1, c % cols].set_visible(False)
    axes[0, 0].legend(fontsize=8)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return Path(path)

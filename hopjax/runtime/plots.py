"""Learning-curve figures (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: no global backend or figure state touched


def plot_learning_curves(rows: list[dict[str, float]], path: str | Path, title: str = "") -> Path:
    """Per-agent episode return, entropy (PPO: policy, HOP: search) and losses against env
    steps -> PNG at ``path``."""
    steps = np.array([r["env_steps"] for r in rows])
    fig = Figure(figsize=(15, 4))
    axes = fig.subplots(1, 3)
    agents = sorted(k for k in rows[0] if k.startswith("episode_return_"))
    for k in agents:
        axes[0].plot(steps, [r[k] for r in rows], label=k.replace("episode_return_", "agent "))
    axes[0].plot(steps, [r["mean_return"] for r in rows], "k", lw=2, label="mean")
    axes[0].set_title("episode return")
    axes[0].legend(fontsize=8)
    # PPO: policy entropy, PG and value loss; other algorithms: their search entropy and losses
    ent = "entropy" if "entropy" in rows[0] else "search_entropy"
    losses = [k for k in ("pg_loss", "value_loss") if k in rows[0]] or [k for k in rows[0] if k.endswith("loss")]
    if ent in rows[0]:
        axes[1].plot(steps, [r[ent] for r in rows])
    axes[1].set_title(ent.replace("_", " "))
    for k in losses:
        axes[2].plot(steps, [r[k] for r in rows], label=k)
    axes[2].set_title("losses")
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return Path(path)


def plot_sweep(steps: np.ndarray, returns: np.ndarray, path: str | Path, title: str = "") -> Path:
    """returns [S, U]: per-seed curves (thin) and mean +/- std band -> PNG at ``path``."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for s in range(returns.shape[0]):
        ax.plot(steps, returns[s], lw=0.7, alpha=0.5)
    mu, sd = returns.mean(0), returns.std(0)
    ax.plot(steps, mu, "k", lw=2, label="mean")
    ax.fill_between(steps, mu - sd, mu + sd, color="k", alpha=0.15, label="+/- std")
    ax.set_xlabel("env steps")
    ax.set_ylabel("mean episode return per agent")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return Path(path)


def plot_adaptation_curve(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """The adaptation curve: per co-player kind (columns), focal return (top) and belief
    accuracy (bottom, algorithms that report it) against the episode 1..K, mean with its 95 %
    interval band per algorithm. ``rows``: :func:`hopjax.runtime.adaptation.curve_rows`."""
    kinds = list(dict.fromkeys(r["coplayers"] for r in rows))
    algos = list(dict.fromkeys(r["algorithm"] for r in rows))
    fig = Figure(figsize=(3.6 * len(kinds), 6.5))
    axes = np.asarray(fig.subplots(2, len(kinds), squeeze=False))
    for c, kind in enumerate(kinds):
        for i, algo in enumerate(algos):
            rs = [r for r in rows if r["coplayers"] == kind and r["algorithm"] == algo]
            ep = [r["episode"] for r in rs]
            for row, m in ((0, "focal_return"), (1, "belief_accuracy")):
                mean = np.array([np.nan if r[m] == "" else r[m] for r in rs], float)
                if np.all(np.isnan(mean)):
                    continue
                lo = np.array([r[m + "_lo"] for r in rs], float)
                hi = np.array([r[m + "_hi"] for r in rs], float)
                axes[row, c].plot(ep, mean, marker="o", color=f"C{i}", label=algo)
                axes[row, c].fill_between(ep, lo, hi, color=f"C{i}", alpha=0.15)
        axes[0, c].set_title(f"vs {kind}")
        axes[1, c].set_xlabel("episode")
    axes[0, 0].set_ylabel("focal return (95 % interval)")
    axes[1, 0].set_ylabel("belief accuracy (95 % interval)")
    axes[0, 0].legend(fontsize=8)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return Path(path)

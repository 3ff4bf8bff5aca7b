"""``hopjax reproduce omg`` and ``moa``: PPO against PPO with an opponent model, each arm a
vmapped seed sweep on the same config and seeds; the focal metric's final value per seed, its
95 % t-interval, and whether each model's interval lies above PPO's."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from hopjax.runtime import plots
from hopjax.runtime.reproduce import common, stats
from hopjax.runtime.reproduce.report import Report, md_table, write_csv


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One target: ``config`` (shipped, ``configs/<config>.yaml``), ``arms`` {name: --set
    overrides}, the first arm the baseline; ``metric`` a metrics.csv column compared at the end."""

    title: str
    claim: str
    config: str
    arms: dict[str, tuple[str, ...]]
    metric: str
    metric_label: str
    setting: str
    constants: tuple[tuple[str, str, str], ...]
    scales: dict[str, tuple[int, tuple[str, ...]]]  # scale -> (seeds, --set overrides of every arm)
    small_arms: tuple[str, ...] = ()  # the arms run at --scale small (default: all)


def run(target: Comparison, scale: str, seeds: int | None, out: Path, command: str,
        progress: bool = True, overrides: tuple[str, ...] = (), resume: bool = False) -> Report:
    t0 = time.perf_counter()
    n, over = target.scales[scale]
    n = seeds or n
    curves, finals, rows_out, steps = {}, {}, [], None
    arms = {a: o for a, o in target.arms.items() if scale != "small" or not target.small_arms or a in target.small_arms}
    for arm, arm_over in arms.items():
        cfg = common.config(target.config, [*over, *arm_over, *overrides, f"name={_slug(arm)}"])
        print(f"== {arm}: {n} seeds")
        rows_by_seed, _, _ = common.sweep(cfg, n, out, progress, resume)
        curves[arm] = np.array([[r[target.metric] for r in rows] for rows in rows_by_seed])
        steps = np.array([r["env_steps"] for r in rows_by_seed[0]])
        finals[arm] = stats.final(curves[arm])
        rows_out += [{"arm": arm, "seed": cfg.seed + s, target.metric: float(v)} for s, v in enumerate(finals[arm])]
    write_csv(out / "final.csv", rows_out)
    fig = plots.plot_arms(steps, curves, out / f"{_slug(target.title.split(':')[0])}.png", target.metric_label,
                          f"{target.title.split(':')[0]}: {n} seeds")
    ints = {arm: stats.t_interval(v) for arm, v in finals.items()}
    base = next(iter(target.arms))
    table = [{"arm": arm, target.metric_label: str(i), "per seed": ", ".join(f"{v:.3f}" for v in finals[arm])}
             for arm, i in ints.items()]
    verdicts = [(f"{arm} > {base} ({target.metric_label})", f"{ints[arm]} vs {ints[base]}", stats.better(ints[arm], ints[base]))
                for arm in arms if arm != base]
    return Report(
        title=target.title, claim=target.claim,
        setting=f"{target.setting} `configs/{target.config}.yaml` with {[*over, *overrides] or 'no overrides'}; {n} seeds; "
                f"{steps[-1]:.3g} env steps per seed; arms: "
                + "; ".join(f"{a} ({', '.join(o) or 'the config as is'})" for a, o in arms.items()) + "."
                + ("" if arms == target.arms else f" Not run at this scale: {', '.join(set(target.arms) - set(arms))} "
                   "(`--scale paper`)."),
        constants=list(target.constants) + [("seeds, env steps", f"{n}, {steps[-1]:.3g}",
                                             "our choice: minutes on a CPU (small), one GPU (paper)"),
                                            ("final value", "mean over the last 10 % of updates", "our choice")],
        results=md_table(table) + f"\n\nPer seed: `final.csv`; curves: `<arm>_sweep{n}/metrics_seed*.csv`.",
        verdicts=verdicts, figures=[fig.name], command=command, wall_s=time.perf_counter() - t0)


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s.lower()).strip("_")


_PPO_CONSTANTS = (
    ("env", "8x8 Markov Stag-Hunt with walls, 4 players, 1 stag, 4 hares, 35 steps",
     "HOP paper's Markov Stag-Hunt (Huang et al., ICML 2024, section 5); hopjax/envs/params.py"),
    ("co-players", "stag chaser, hare chaser, stag chaser in seats 1-3",
     "HOP code, policy/fixed_policy.py (nearest-target players); co-players with different targets: our choice"),
    ("PPO", "4 epochs, 4 minibatches, lr 2.5e-4 annealed, 64 envs, whole episodes", "CleanRL ppo.py defaults"),
    ("model sizes, buffer, training", "hidden 128, GRU 96, lr 1e-3, 256 episodes, 32 per batch, 4 steps per update",
     "OMG code sizes (Yu, Jiang, Lu, NeurIPS 2024); configs/stag_hunt_omg.yaml"),
)

OMG = Comparison(
    title="OMG: subgoal inference against co-players with different targets",
    claim="Opponent modelling by subgoal inference (OMG) gives a learner a higher return than the same "
          "learner without it, next to co-players whose goals differ, with optimistic subgoal selection "
          "in cooperative and conservative selection in general-sum games (Yu, Jiang, Lu, NeurIPS 2024).",
    config="stag_hunt_omg",
    arms={"PPO": ("opponent_model.kind=none",),
          "PPO+OMG optimistic": ("opponent_model.omg.mode=optimistic",),
          "PPO+OMG conservative": ("opponent_model.omg.mode=conservative",)},
    metric="learner_return", metric_label="learner return per episode",
    setting="A PPO learner in seat 0 next to scripted stag, hare and stag chasers (targets differ).",
    constants=_PPO_CONSTANTS + (("OMG horizon, subgoal size", "H = 5, 64", "OMG code (Yu, Jiang, Lu, NeurIPS 2024)"),),
    scales={"small": (4, ("total_steps=67200", "num_envs=64")),  # 30 updates
            "paper": (16, ("total_steps=3000000", "num_envs=256"))},
    small_arms=("PPO", "PPO+OMG optimistic"),  # one OMG compile: CPU minutes
)

INFLUENCE = 0.1  # our choice: the social-influence weight (Jaques et al. tune it per game)

MOA = Comparison(
    title="MOA: a model of other agents, with and without the social-influence reward",
    claim="Agents that model other agents' actions (MOA) and are rewarded for causally influencing them reach "
          "a higher collective return than agents without (Jaques et al., ICML 2019).",
    config="stag_hunt_moa",
    arms={"PPO": ("opponent_model.kind=none",),
          "PPO+MOA": ("opponent_model.moa.influence_coef=0",),
          "PPO+MOA+influence": (f"opponent_model.moa.influence_coef={INFLUENCE}",)},
    metric="mean_return", metric_label="mean return per agent (collective)",
    setting="Self-play: all four seats are learners (PPO, PPO+MOA or PPO+MOA+influence), as in the MOA "
            "paper's experiments, so that an agent's influence on the others can pay.",
    constants=(_PPO_CONSTANTS[0], _PPO_CONSTANTS[2],
        
        ("seats", "4 learners, independent parameters (self-play)", "Jaques et al., ICML 2019, section 5"),
        ("influence weight", str(INFLUENCE), "our choice (Jaques et al. tune it per game)"),),
    scales={"small": (4, ("agents=[]", "total_steps=67200", "num_envs=64")),
            "paper": (16, ("agents=[]", "total_steps=3000000", "num_envs=256"))},
)

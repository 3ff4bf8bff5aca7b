"""``hopjax reproduce hop-adaptation``: HOP's few-shot adaptation - a thin wrapper of
:func:`hopjax.runtime.adaptation.adaptation_table` (which trains HOP and the PPO-family
baselines in self-play and plays them next to unseen scripted co-players for K consecutive
episodes), adding the per-episode curves, 95 % intervals over seeds and verdicts."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from hopjax.algos.hop.config import HOPConfig
from hopjax.runtime import plots
from hopjax.runtime.reproduce import common, stats
from hopjax.runtime.reproduce.report import Report, md_table, write_csv

# scale -> (seeds, K episodes, envs, HOP and baseline env steps, baselines, (env, focal seats)
# settings, learned co-players: a population of configs/populations/<env>.yaml next to the scripted kinds)
SCALES = {
    "small": (3, 4, 8, 6400, ("PPO",), (("stag_hunt", 1),), False),
    "paper": (8, 10, 32, 32000, ("PPO", "PPO+OMG", "PPO+MOA"),
              (("stag_hunt", 1), ("stag_hunt", 3), ("snowdrift", 1), ("snowdrift", 3)), True),
}


def _population(env: str, out: Path, progress: bool) -> Path:
    """The learned co-players of ``env``: configs/populations/<env>.yaml trained into
    ``out/populations/<env>/`` (a rerun reuses the members it finished). -> that dir."""
    from hopjax.runtime import population

    pop_dir = out / "populations" / env
    population.train_population(common.CONFIGS / "populations" / f"{env}.yaml", pop_dir, progress=progress)
    return pop_dir


def _setting(env: str, focal: int, n: int, k: int, envs: int, steps: int, baselines, out: Path, overrides,
             pop_dir: Path | None = None):
    """One (env, focal seats) table -> {algorithm: focal return [S, K] (mean over co-player kinds)}."""
    from hopjax.runtime import adaptation

    # the no-carry control (on in the shipped configs) is off here unless --set turns it on: its
    # paired table is written next to the setting's tables (carry.md), not into this report
    hop_cfg = common.config(f"{env}_hop", [f"total_steps={steps}", "adapt_no_carry=false", *overrides], HOPConfig)
    specs = adaptation.baseline_specs(hop_cfg, common.CONFIGS, None, steps)
    specs = {name: spec for name, spec in specs.items() if name in baselines}
    res = adaptation.adaptation_table(hop_cfg, specs, n, k, envs, focal, out=out / f"{env}_focal{focal}",
                                      population=pop_dir)
    return {name: np.asarray(r["adapt"]["focal_return"]).mean(1) for name, r in res["results"].items()
            if name != adaptation.NO_CARRY}


def run(scale: str, seeds: int | None, out: Path, command: str, progress: bool = True,
        overrides: tuple[str, ...] = (), resume: bool = False) -> Report:
    del resume  # a rerun reuses or resumes the population's members (train_population); the rest runs again
    t0 = time.perf_counter()
    n, k, envs, steps, baselines, settings, learned = SCALES[scale]
    n = seeds or n
    table, rows, verdicts, figures = [], [], [], []
    pops = {env: _population(env, out, progress) for env in dict.fromkeys(e for e, _ in settings)} if learned else {}
    for env, focal in settings:
        curves = _setting(env, focal, n, k, envs, steps, baselines, out, overrides, pops.get(env))
        name = f"{env}_focal{focal}"
        figures.append(plots.plot_episode_curves(curves, out / f"{name}.png", "focal return per episode",
                                                 f"{env}, focal agent in {focal} seat(s): {n} seeds").name)
        ints = {a: stats.t_interval(c.mean(1)) for a, c in curves.items()}
        for a, c in curves.items():
            rows += [{"setting": name, "algorithm": a, "seed": s, **{f"episode {e + 1}": float(c[s, e]) for e in range(k)}}
                     for s in range(n)]
            table.append({"setting": name, "algorithm": a, "episode 1": str(stats.t_interval(c[:, 0])),
                          f"episode {k}": str(stats.t_interval(c[:, -1])), f"mean of {k}": str(ints[a])})
        verdicts += [(f"{name}: HOP > {a} (focal return, mean of {k} episodes)", f"{ints['HOP']} vs {ints[a]}",
                      stats.better(ints["HOP"], ints[a])) for a in curves if a != "HOP"]
        verdicts.append((f"{name}: HOP adapts (episode {k} > episode 1)",
                         f"{stats.t_interval(curves['HOP'][:, -1])} vs {stats.t_interval(curves['HOP'][:, 0])}",
                         stats.better(stats.t_interval(curves["HOP"][:, -1]), stats.t_interval(curves["HOP"][:, 0]))))
    write_csv(out / "focal_return.csv", rows)
    return Report(
        title="HOP: few-shot adaptation to unseen co-players",
        claim="HOP, trained only in self-play, adapts within a few episodes to co-players it never met and "
              "earns a higher focal return than PPO, PPO+OMG and PPO+MOA baselines trained the same way "
              "(Huang et al., ICML 2024, arXiv 2406.08002, section 5).",
        setting=f"`configs/<env>_hop.yaml` (a small grid and search sized for a CPU) and the baselines "
                f"`configs/<env>_ppo/_omg/_moa.yaml` retrained in self-play on HOP's env; {n} seeds, "
                f"about {steps} env steps of self-play each (whole chunks: the budget line of each table "
                f"says exactly), K = {k} episodes, {envs} envs; settings (env, focal seats): {list(settings)}; "
                f"baselines: {', '.join(baselines)}; unseen co-players: "
                "every scripted policy of the env" + (", and the learned co-players of a population "
                "(configs/populations/<env>.yaml: PPO, prosocial PPO, PPO+OMG, PPO+MOA, HOP self-play runs), "
                if learned else "; no learned co-players at this scale (`--scale paper` adds a population), ")
                + "one kind per row, focal return averaged over kinds.",
        constants=[("co-players", "stag/hare chasers, random, fix (Stag-Hunt); cleaner, random, fix (Snowdrift)",
                    "HOP code, policy/fixed_policy.py"),
                   ("focal seats", "1 or 3 of 4", "HOP paper, section 5"),
                   ("self-play env steps", str(steps), "HOP's 32k steps at paper scale (configs/stag_hunt_hop.yaml); "
                    "small: our choice (CPU minutes)"),
                   ("search", "2 trees x 16 simulations, 5x5 grid", "our choice for a CPU (HOP code: 5 x 200, 8x8)")],
        results=md_table(table) + "\n\nPer seed and episode: `focal_return.csv`; the full tables: "
                "`<setting>/adaptation.txt`.",
        verdicts=verdicts, figures=figures, command=command, wall_s=time.perf_counter() - t0)

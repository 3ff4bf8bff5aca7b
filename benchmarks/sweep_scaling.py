"""Seed sweeps: one vmapped S-seed training run vs S separate runs, for S in {1, 4, 16}.

Vmapped: ``jax.jit(jax.vmap(train))(keys)`` (what ``hopjax sweep`` does): one compile, one
call. Separate: ``jax.jit(train)`` compiled once and called S times one after another (the
best case for a loop over seeds in one process); separate processes would also pay the
compile S times, shown as "S processes". Both compute the same per-seed runs (the largest difference in
per-update mean return is reported). Run times are medians over ``--rounds`` alternating rounds;
"CPU-s ratio" compares the CPU seconds of this process, less sensitive to other processes.

"1 seed x S E envs" is the throughput reference: one seed with all S E envs, the same updates
(``--no-wide`` skips it). A vmapped sweep that runs as fast as it does the same work as well
as the device allows; one slower than it pays for the seed axis (per-seed gathers, optimisers).

Default config: ``configs/stag_hunt_ppo.yaml`` with E=16 envs and 8 updates per seed, small
enough for a 2-core CPU; raise ``--set total_steps=...`` / ``--set num_envs=...`` on a GPU.

Usage: python benchmarks/sweep_scaling.py [--seeds 1 4 16] [--set num_envs=16]
"""

from __future__ import annotations

import numpy as np
from common import (ROOT, Stopwatch, block, compile_timed, load, machine, parser, print_machine, print_table, rel,
                    write_json)

import jax

from hopjax.algos.ppo import PPOConfig
from hopjax.config import load_config
from hopjax.algos.ppo.trainer import Trainer
from hopjax.loop import Loop

DEFAULTS = ["num_envs=16", "total_steps=4480", "chunk_updates=4"]  # 16 envs x 35 steps x 8 updates


def main() -> None:
    p = parser(__doc__.split("\n")[0], "sweep_scaling")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--config", default=str(ROOT / "configs" / "stag_hunt_ppo.yaml"))
    p.add_argument("--set", action="append", default=[], help="config overrides key=value")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per S (median reported)")
    p.add_argument("--no-wide", action="store_true", help="skip the 1 seed x S E envs reference")
    args = p.parse_args()
    info = machine()
    print_machine(info)
    cfg = load_config(PPOConfig, args.config, [*DEFAULTS, *args.set])
    trainer = Trainer(cfg)
    train = Loop(trainer).train
    steps_per_seed = trainer.num_updates * trainer.steps_per_update
    print(f"E={cfg.num_envs}, {trainer.num_updates} updates = {steps_per_seed:,} env steps per seed")

    keys_all = jax.random.split(jax.random.PRNGKey(cfg.seed), max(args.seeds))
    single, single_compile = compile_timed(jax.jit(train), keys_all[0])
    block(single(keys_all[0]))  # warm
    rows = []
    for S in args.seeds:
        keys = keys_all[:S]
        vmapped, v_compile = compile_timed(jax.jit(jax.vmap(train)), keys)
        block(vmapped(keys))  # warm
        wide = None
        if not args.no_wide and S > 1:
            wcfg = load_config(PPOConfig, args.config, [*DEFAULTS, *args.set, f"num_envs={S * cfg.num_envs}",
                                                        f"total_steps={S * cfg.total_steps}"])
            wide, _ = compile_timed(jax.jit(Loop(Trainer(wcfg)).train), keys[0])
            block(wide(keys[0]))
        v, s, w = [], [], []
        for _ in range(args.rounds):  # alternate, so that load from other processes hits both
            with Stopwatch() as sw:
                _, m_v = block(vmapped(keys))
            v.append(sw)
            with Stopwatch() as sw:
                m_s = [block(single(k))[1] for k in keys]
            s.append(sw)
            if wide is not None:
                with Stopwatch() as sw:
                    block(wide(keys[0]))
                w.append(sw.wall)
        v_run, s_run = (float(np.median([x.wall for x in xs])) for xs in (v, s))
        v_cpu, s_cpu = (float(np.median([x.cpu for x in xs])) for xs in (v, s))
        # vmapped seeds compute the same runs as separate ones (up to float reassociation)
        diff = float(np.abs(np.asarray(m_v["mean_return"]) - np.stack([m["mean_return"] for m in m_s])).max())
        rows.append({
            "S": S, "vmap_compile_s": v_compile, "vmap_run_s": v_run, "vmap_total_s": v_compile + v_run,
            "sep_compile_s": single_compile, "sep_run_s": s_run, "sep_total_s": single_compile + s_run,
            "sep_processes_s": S * single_compile + s_run,
            "run_speedup": s_run / v_run, "total_speedup": (single_compile + s_run) / (v_compile + v_run),
            "vmap_cpu_s": v_cpu, "sep_cpu_s": s_cpu, "cpu_speedup": s_cpu / v_cpu,
            "vmap_steps_per_s": S * steps_per_seed / v_run, "sep_steps_per_s": S * steps_per_seed / s_run,
            "max_return_diff": diff, "load_avg_1min": load(),
            "wide_run_s": float(np.median(w)) if w else None,
            "vmap_vs_wide": v_run / float(np.median(w)) if w else None,
        })
        print(f"  S={S}: vmapped {v_compile:.1f}s compile + {v_run:.2f}s run; separate {s_run:.2f}s run "
              f"(load {load():.1f})")
    print(f"\nwall seconds, {steps_per_seed:,} env steps per seed (separate runs reuse one compile of "
          f"{single_compile:.1f}s; 'S processes' pays it S times)")
    print_table(rows, [("S", "S", "d"), ("vmap_compile_s", "vmap compile", ".1f"), ("vmap_run_s", "vmap run", ".2f"),
                       ("sep_run_s", "separate run", ".2f"), ("run_speedup", "run ratio", ".2f"),
                       ("wide_run_s", "1 seed x S E run", ".2f"), ("vmap_vs_wide", "vmap / wide", ".2f"),
                       ("cpu_speedup", "CPU-s ratio", ".2f"),
                       ("vmap_total_s", "vmap total", ".1f"), ("sep_total_s", "separate total", ".1f"),
                       ("sep_processes_s", "S processes", ".1f"), ("total_speedup", "total ratio", ".2f"),
                       ("vmap_steps_per_s", "vmap steps/s", ",.0f"),
                       ("max_return_diff", "max |diff|", ".1e")])
    write_json(args.json, {"benchmark": "sweep_scaling", "config": rel(args.config),
                           "overrides": [*DEFAULTS, *args.set],
                           "steps_per_seed": steps_per_seed, "machine": info, "rows": rows})


if __name__ == "__main__":
    main()

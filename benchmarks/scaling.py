"""Weak scaling: PPO training throughput vs device count, env batch per device fixed.

For each device count n the same config runs with ``num_envs = n x --envs-per-device`` on a
``hopjax.runtime.distributed`` mesh of ``(1 seed, n envs)`` devices: the env batch (rollout, GAE and
minibatch gradients) is split over the devices and the gradient summed across them inside the
one compiled chunk. Ideal weak scaling keeps the time per update flat, so env steps/s grows
n-fold ("efficiency" = steps/s(n) / (n x steps/s(1))). ``--one-device-baseline`` also runs
each n's whole batch on 1 device, so the "sharding overhead" column (s/update on n devices over
s/update of the same batch on 1 device) separates the cost of splitting from the cost of the
larger batch. All timed chunks alternate round by round, so load from other processes hits
all of them; the table gives medians.

``--cpu-devices N`` splits this machine's CPU into N *virtual* XLA devices
(``--xla_force_host_platform_device_count``): they share the same cores, so the figures show
that the sharded program runs and what it costs, not a speed-up. Run it on a multi-GPU machine
(without ``--cpu-devices``) for real scaling figures.

Usage: python benchmarks/scaling.py [--devices 1 2 4] [--envs-per-device 16] [--cpu-devices 4]
"""

from __future__ import annotations

import argparse
import os
import sys

# JAX fixes its device count when it starts: read --cpu-devices before anything imports jax.
_pre = argparse.ArgumentParser(add_help=False)
_pre.add_argument("--cpu-devices", type=int, default=0)
_CPU_DEVICES = _pre.parse_known_args()[0].cpu_devices
if _CPU_DEVICES:
    os.environ["XLA_FLAGS"] = (f"{os.environ.get('XLA_FLAGS', '')} "
                               f"--xla_force_host_platform_device_count={_CPU_DEVICES}").strip()
    os.environ["JAX_PLATFORMS"] = "cpu"

import numpy as np  # noqa: E402
from common import (ROOT, Stopwatch, block, compile_timed, machine, parser, print_machine,  # noqa: E402
                    print_table, write_json)

import jax  # noqa: E402

from hopjax.algos.ppo import PPOConfig  # noqa: E402
from hopjax.config import load_config  # noqa: E402
from hopjax.runtime.distributed import default_mesh  # noqa: E402
from hopjax.loop import Loop  # noqa: E402
from hopjax.algos.ppo.trainer import Trainer  # noqa: E402

DEFAULTS = ["chunk_updates=1"]  # one update per timed call


def main() -> None:
    p = parser(__doc__.split("\n")[0], "scaling")
    p.add_argument("--devices", type=int, nargs="+", default=None,
                   help="device counts to run (default: 1, 2, 4, ... up to all visible)")
    p.add_argument("--envs-per-device", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5, help="timed chunks per device count (median)")
    p.add_argument("--cpu-devices", type=int, default=0,
                   help="split the CPU into this many virtual devices (no speed-up: same cores)")
    p.add_argument("--one-device-baseline", action="store_true",
                   help="also time each n's whole env batch on a single device")
    p.add_argument("--config", default=str(ROOT / "configs" / "stag_hunt_ppo.yaml"))
    p.add_argument("--set", action="append", default=[], help="config overrides key=value")
    args = p.parse_args()

    info = machine()
    print_machine(info)
    virtual = info["backend"] == "cpu" and jax.device_count() > 1
    if virtual:
        print(f"NOTE: {jax.device_count()} *virtual* CPU devices sharing {info['cpu_cores']} cores "
              "(--xla_force_host_platform_device_count): these figures show the sharded program "
              "running and its overhead, they are not a speed-up claim.")
    counts = args.devices or [n for n in (1, 2, 4, 8, 16, 32, 64) if n <= jax.device_count()]

    plan = [(n, n) for n in counts]  # (devices, batch of n devices)
    if args.one_device_baseline:
        plan += [(1, n) for n in counts if n > 1]
    runs = []
    for devices, n in plan:
        cfg = load_config(PPOConfig, args.config,
                          [*DEFAULTS, *args.set, f"num_envs={n * args.envs_per_device}", f"mesh.devices={devices}"])
        mt = Loop(Trainer(cfg), default_mesh(cfg))
        runner = mt.start(jax.random.PRNGKey(cfg.seed))
        compiled, compile_s = compile_timed(mt.chunk, runner)
        runner, _ = block(compiled(runner))  # warm-up
        runs.append({"n": devices, "cfg": cfg, "mt": mt, "fn": compiled, "runner": runner, "compile_s": compile_s,
                     "wall": [], "cpu": []})
        print(f"{mt.describe()}, E={cfg.num_envs}, compile {compile_s:.1f}s", flush=True)

    for _ in range(args.rounds):
        for r in runs:
            with Stopwatch() as sw:
                r["runner"], _ = block(r["fn"](r["runner"]))
            r["wall"].append(sw.wall)
            r["cpu"].append(sw.cpu)

    rows = []
    for r in runs:
        steps = r["cfg"].chunk_updates * r["mt"].steps_per_update  # env steps per timed chunk
        wall = float(np.median(r["wall"]))
        rows.append({
            "devices": r["n"], "envs_per_device": args.envs_per_device, "num_envs": r["cfg"].num_envs,
            "env_steps_per_update": r["mt"].steps_per_update, "compile_s": r["compile_s"],
            "update_s": wall / r["cfg"].chunk_updates, "update_cpu_s": float(np.median(r["cpu"])) / r["cfg"].chunk_updates,
            "env_steps_per_s": steps / wall, "per_device_steps_per_s": steps / wall / r["n"],
            "wall_s_all_rounds": r["wall"],
        })
    one_dev = {row["num_envs"]: row for row in rows if row["devices"] == 1}
    rows = [row for row in rows if row["devices"] > 1 or row["num_envs"] == args.envs_per_device]
    base = one_dev.get(args.envs_per_device)
    for row in rows:
        row["efficiency"] = row["env_steps_per_s"] / (row["devices"] * base["env_steps_per_s"]) if base else None
        same = one_dev.get(row["num_envs"])
        row["one_device_update_s"] = same["update_s"] if same else None
        row["sharding_overhead"] = row["update_s"] / same["update_s"] if same else None

    print(f"\nweak scaling, {args.envs_per_device} envs per device, {args.config} "
          f"(median of {args.rounds} updates{'; VIRTUAL CPU devices, not a speed-up claim' if virtual else ''})")
    print_table(rows, [("devices", "devices", "d"), ("num_envs", "envs", "d"), ("compile_s", "compile s", ".1f"),
                       ("update_s", "s/update", ".3f"), ("update_cpu_s", "cpu s/update", ".3f"),
                       ("env_steps_per_s", "env steps/s", ",.0f"),
                       ("per_device_steps_per_s", "per device", ",.0f"), ("efficiency", "efficiency", ".2f"),
                       ("one_device_update_s", "same envs, 1 device s/update", ".3f"),
                       ("sharding_overhead", "sharding overhead", ".2f")])
    write_json(args.json, {"machine": info, "virtual_cpu_devices": virtual, "config": args.config,
                           "overrides": [*DEFAULTS, *args.set], "rows": rows,
                           "one_device_rows": list(one_dev.values())})


if __name__ == "__main__":
    sys.exit(main())

"""Full PPO training throughput vs the number of envs E: env steps per second of the jitted
training chunk (rollout -> EpisodeBatch -> masked GAE -> epochs x minibatches of PPO steps),
with compile time reported separately.

The config is ``configs/stag_hunt_ppo.yaml`` (self-play, 4 learners with independent MLP
64x64 parameters, whole-episode rollouts of 35 steps, 4 epochs x 4 minibatches) with
``num_envs = E``. Env steps count every slot of the fixed-shape batch (E x 35 per update),
as the trainer's own ``sps`` metric does; padding after early terminations is included.

Usage: python benchmarks/train_throughput.py [--envs 16 128 1024] [--chunk-updates 2] [--chunks 2]
"""

from __future__ import annotations

import numpy as np
from common import ROOT, Stopwatch, block, load, machine, parser, print_machine, print_table, rel, write_json

import jax

from hopjax.algos.ppo import PPOConfig
from hopjax.config import load_config
from hopjax.loop import Loop
from hopjax.algos.ppo.trainer import Trainer


def main() -> None:
    p = parser(__doc__.split("\n")[0], "train_throughput")
    p.add_argument("--envs", type=int, nargs="+", default=[16, 128, 1024])
    p.add_argument("--config", default=str(ROOT / "configs" / "stag_hunt_ppo.yaml"))
    p.add_argument("--chunk-updates", type=int, default=2, help="updates per jitted chunk")
    p.add_argument("--chunks", type=int, default=2, help="timed chunks per E (median reported)")
    p.add_argument("--set", action="append", default=[], help="extra config overrides key=value")
    args = p.parse_args()
    info = machine()
    print_machine(info)
    rows = []
    for E in args.envs:
        cfg = load_config(PPOConfig, args.config,
                          [f"num_envs={E}", f"chunk_updates={args.chunk_updates}", *args.set])
        trainer = Trainer(cfg)
        runner = trainer.init(jax.random.PRNGKey(cfg.seed))
        loop = Loop(trainer)
        chunk = loop.compiled_chunk(runner)
        compile_s = loop.compile_seconds
        steps = trainer.steps_per_update * cfg.chunk_updates
        walls, cpus = [], []
        for _ in range(args.chunks):
            with Stopwatch() as sw:
                runner, metrics = block(chunk(runner))
            walls.append(sw.wall)
            cpus.append(sw.cpu)
        t, c = float(np.median(walls)), float(np.median(cpus))
        rows.append({"E": E, "steps_per_chunk": steps, "compile_s": compile_s, "chunk_s": t,
                     "steps_per_s": steps / t, "updates_per_s": cfg.chunk_updates / t,
                     "steps_per_cpu_s": steps / c, "mean_return": float(metrics["mean_return"][-1]),
                     "load_avg_1min": load()})
        print(f"  E={E}: compile {compile_s:.1f}s, {steps / t:,.0f} env steps/s")
    print(f"\nPPO training chunk ({args.chunk_updates} updates; median of {args.chunks} chunks)")
    print_table(rows, [("E", "E", "d"), ("steps_per_chunk", "steps/chunk", ",d"), ("compile_s", "compile s", ".1f"),
                       ("chunk_s", "chunk s", ".2f"), ("updates_per_s", "updates/s", ".2f"),
                       ("steps_per_s", "env steps/s", ",.0f"), ("steps_per_cpu_s", "per CPU-s", ",.0f")])
    write_json(args.json, {"benchmark": "train_throughput", "config": rel(args.config), "overrides": args.set,
                           "machine": info, "rows": rows})


if __name__ == "__main__":
    main()

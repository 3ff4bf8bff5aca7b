"""``hopjax`` command line: train, sweep, eval.

    hopjax train configs/stag_hunt_ppo.yaml --set total_steps=1e6 --set env_kwargs.num_stags=2
    hopjax train runs/stag_hunt_ppo/config.yaml --resume runs/stag_hunt_ppo
    hopjax sweep configs/stag_hunt_ppo.yaml --seeds 8
    hopjax eval runs/stag_hunt_ppo
    hopjax train configs/stag_hunt_ppo.yaml --devices 4   # env batch split over 4 devices
    hopjax sweep configs/stag_hunt_ppo.yaml --seeds 8 --distributed  # every host, same command
    hopjax train-hop configs/stag_hunt_hop.yaml       # HOP self-play (goal models + planner net)
    hopjax adapt configs/stag_hunt_hop.yaml --seeds 3 # few-shot adaptation table: HOP vs baselines
"""

from __future__ import annotations

import argparse
import os
import sys

from hopjax.checkpoint import CheckpointError
from hopjax.config import ConfigError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hopjax", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def add_config(sp):
        sp.add_argument("config", help="YAML config file (configs/*.yaml)")
        sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (dotted for nested keys); repeatable")
        sp.add_argument("--out", default="runs", help="output folder (default: runs)")

    t = sub.add_parser("train", help="train one run with progress, metrics, plot and checkpoints")
    add_config(t)
    t.add_argument("--resume", default=None, help="run dir or checkpoint to continue from")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("sweep", help="train several seeds in one vmapped compile")
    add_config(s)
    s.add_argument("--seeds", type=int, default=4)

    for sp in (t, s):  # the device mesh (hopjax.distributed)
        sp.add_argument("--devices", type=int, default=None, metavar="N",
                        help="devices to use, 0 = all visible on every host (= --set devices=N)")
        sp.add_argument("--distributed", action="store_true",
                        help="multi-host: start jax.distributed first (JAX_COORDINATOR_ADDRESS, "
                             "JAX_NUM_PROCESSES, JAX_PROCESS_ID, or SLURM/Open MPI); run the same "
                             "command on every host. Implied when JAX_COORDINATOR_ADDRESS is set")

    e = sub.add_parser("eval", help="evaluate a checkpoint in self-play and against scripted co-players")
    e.add_argument("checkpoint", help="run dir or checkpoint dir")
    e.add_argument("--episodes", type=int, default=64)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--focal", type=int, default=0, help="seat of the trained agent")
    h = sub.add_parser("train-hop", help="train HOP in self-play (goal-conditioned models + planner net)")
    add_config(h)
    h.add_argument("--resume", default=None, help="run dir or checkpoint to continue from")
    h.add_argument("--no-progress", action="store_true", help="no progress bar")

    a = sub.add_parser("adapt", help="few-shot adaptation table: HOP vs PPO(+OMG/+MOA) next to unseen co-players")
    add_config(a)
    a.add_argument("--hop", default=None, help="trained HOP run dir (default: train HOP here)")
    a.add_argument("--baseline", action="append", default=None, metavar="NAME=CONFIG_OR_RUN",
                   help="a baseline (YAML config trained here, or a `hopjax train` run dir); "
                        "default: <env>_ppo/_omg/_moa.yaml next to CONFIG")
    a.add_argument("--baseline-steps", type=float, default=None, help="override the baselines' total_steps")
    a.add_argument("--seeds", type=int, default=3)
    a.add_argument("--episodes", type=int, default=5, help="K consecutive episodes per co-player group")
    a.add_argument("--envs", type=int, default=16, help="parallel envs per evaluation")
    a.add_argument("--focal", type=int, default=1, help="seats taken by the evaluated agent (paper: 1 or 3)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if getattr(args, "distributed", False) or (
                args.command in ("train", "sweep") and os.environ.get("JAX_COORDINATOR_ADDRESS")):
            from hopjax.distributed import initialize

            initialize()  # before anything starts JAX's backend
        if getattr(args, "devices", None) is not None:
            args.overrides = [*args.overrides, f"devices={args.devices}"]
        from hopjax import experiment
        from hopjax.algos.ppo import PPOConfig
        from hopjax.config import load_config

        if args.command == "train":
            cfg = load_config(PPOConfig, args.config, args.overrides)
            res = experiment.train(cfg, args.out, resume=args.resume, progress=not args.no_progress)
            return 0 if res.stopped is None else 1
        if args.command == "sweep":
            if args.seeds < 1:
                raise ConfigError("--seeds must be at least 1")
            cfg = load_config(PPOConfig, args.config, args.overrides)
            experiment.sweep(cfg, args.seeds, args.out)
            return 0
        if args.command == "train-hop":
            from hopjax.algos.hop import HOPConfig, HOPTrainer

            cfg = load_config(HOPConfig, args.config, args.overrides)
            res = experiment.train(cfg, args.out, resume=args.resume, progress=not args.no_progress,
                                   plot=False, trainer=HOPTrainer(cfg))
            return 0 if res.stopped is None else 1
        if args.command == "adapt":
            from pathlib import Path

            from hopjax import adaptation

            for key in ("seeds", "episodes", "envs", "focal"):
                if getattr(args, key) < 1:
                    raise ConfigError(f"--{key} must be at least 1")
            hop_cfg = adaptation.hop_config(args.config, args.overrides, args.hop)
            specs = adaptation.baseline_specs(hop_cfg, Path(args.config).parent, args.baseline,
                                              args.baseline_steps)
            adaptation.adaptation_table(hop_cfg, specs, args.seeds, args.episodes, args.envs, args.focal,
                                        hop_run=args.hop, out=Path(args.out) / f"{hop_cfg.name}_adapt")
            return 0
        if args.command == "eval":
            experiment.evaluate(args.checkpoint, args.episodes, args.seed, args.focal)
            return 0
    except (ConfigError, CheckpointError) as e:
        print(f"hopjax: error: {e}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())

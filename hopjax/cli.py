"""``hopjax`` command line: train, sweep, eval.

    hopjax train configs/stag_hunt_ppo.yaml --set total_steps=1e6 --set env_kwargs.num_stags=2
    hopjax train runs/stag_hunt_ppo/config.yaml --resume runs/stag_hunt_ppo
    hopjax sweep configs/stag_hunt_ppo.yaml --seeds 8
    hopjax eval runs/stag_hunt_ppo
"""

from __future__ import annotations

import argparse
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

    e = sub.add_parser("eval", help="evaluate a checkpoint in self-play and against scripted co-players")
    e.add_argument("checkpoint", help="run dir or checkpoint dir")
    e.add_argument("--episodes", type=int, default=64)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--focal", type=int, default=0, help="seat of the trained agent")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
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
        if args.command == "eval":
            experiment.evaluate(args.checkpoint, args.episodes, args.seed, args.focal)
            return 0
    except (ConfigError, CheckpointError) as e:
        print(f"hopjax: error: {e}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())

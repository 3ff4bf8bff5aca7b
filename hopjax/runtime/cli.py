"""``hopjax`` command line: train, sweep, eval.

    hopjax train configs/stag_hunt_ppo.yaml --set total_steps=1e6 --set env_kwargs.num_stags=2
    hopjax train runs/stag_hunt_ppo/config.yaml --resume runs/stag_hunt_ppo
    hopjax sweep configs/stag_hunt_ppo.yaml --seeds 8
    hopjax eval runs/stag_hunt_ppo                    # a PPO run: self-play + each scripted co-player
    hopjax train configs/stag_hunt_ppo.yaml --devices 4   # env batch split over 4 devices
    hopjax sweep configs/stag_hunt_ppo.yaml --seeds 8 --distributed  # every host, same command
    hopjax train configs/stag_hunt_hop.yaml           # the config's algo (here hop: HOP self-play);
                                                      # train-hop is an alias for HOP configs
    hopjax eval configs/stag_hunt_hop.yaml --seeds 3  # few-shot adaptation table: HOP vs baselines
    hopjax eval runs/stag_hunt_hop --baseline PPO=runs/stag_hunt_ppo   # the same from trained runs
    hopjax population train configs/populations/stag_hunt.yaml       # learned co-players, once
    hopjax eval configs/stag_hunt_hop.yaml --population runs/populations/stag_hunt  # + those rows

``hopjax eval`` picks the protocol from what it is given: a HOP config (YAML) or a HOP run dir
-> the few-shot adaptation table (``hopjax.runtime.adaptation``; ``hopjax adapt`` is an alias); a
PPO-family run dir or checkpoint -> that run's evaluation (``hopjax.runtime.experiment.evaluate``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

from hopjax import sizes
from hopjax.algos import registry
from hopjax.config import (SEED_LIMIT, ConfigError, from_stored, load_config, parse_overrides,
                           read_config_file)
from hopjax.algos.hop.config import HOPConfig, check_run_overrides
from hopjax.algos.ppo.config import PPOConfig
from hopjax.runtime import rundir, signals

# Where every config key is documented (printed by --help).
_KEYS_TAIL = ("env_kwargs: hopjax/envs/params.py (StagHuntParams, SnowdriftParams). The whole "
              "config is checked before JAX starts (types, ranges, a memory estimate); an error "
              "is one line naming the key, exit status 2.")
PPO_KEYS_DOC = ("config keys: see hopjax/algos/ppo/config.py (PPOConfig and its sections ppo:, "
                "opponent_model:, mesh:, one comment per key; a section's key is overridden as "
                "--set ppo.lr=1e-3); " + _KEYS_TAIL)
HOP_KEYS_DOC = "config keys: see hopjax/algos/hop/config.py (HOPConfig: one comment per key); " + _KEYS_TAIL


EVAL_DOC = """\
Evaluate, choosing the protocol from CONFIG_OR_RUN:

  a HOP config (configs/*_hop.yaml) or a HOP run dir (`hopjax train-hop`)
      few-shot adaptation (the HOP paper's protocol): the agent in seats 0..N-1 next to
      unseen scripted co-players for K consecutive episodes; prints the focal return per
      episode (mean +/- std over seeds) for HOP and the baselines PPO, PPO+OMG, PPO+MOA,
      HOP's belief accuracy, and self-play returns; writes <out>/<name>_adapt/.
  a PPO-family run dir or checkpoint (`hopjax train`)
      returns in self-play and next to each scripted co-player kind.

examples:
  hopjax eval configs/stag_hunt_hop.yaml --seeds 3 --episodes 5
  hopjax eval runs/stag_hunt_hop --baseline PPO=runs/stag_hunt_ppo
  hopjax eval runs/stag_hunt_ppo --episodes 64 --focal 0
"""

HOP_ONLY = ("overrides", "hop", "baseline", "baseline_steps", "seeds", "envs", "focal_seats", "out",
            "population")
PPO_ONLY = ("seed", "focal")


def _flag(key: str) -> str:
    return "--set" if key == "overrides" else "--" + key.replace("_", "-")


def _reject(args, keys, what: str) -> None:
    for key in keys:
        if getattr(args, key) not in (None, []):
            raise ConfigError(f"{_flag(key)} does not apply to {what}")


def _run_algo(run: Path) -> str:
    """The algorithm of a run dir or checkpoint, from its meta.json (``"algo"``, else its
    config's ``algo`` key). A checkpoint written before either recorded it: inferred from its
    config keys (``hop`` if it has HOP's ``num_simulations``, else ``ppo``), saying so on stderr."""
    from hopjax.runtime import checkpoint  # imports JAX; the CLI starts it only after the args are checked

    ckpt, meta = checkpoint.load_meta(run)
    if meta.get("seeds"):
        raise ConfigError(f"{str(run)!r} is a sweep of {meta['seeds']} seeds (`hopjax sweep`): eval takes "
                          "one run; train the seed you want with `hopjax train --set seed=<seed + s>` "
                          "(the same run as the sweep's seed s)")
    if "algo" in meta:
        return registry.get(meta["algo"]) and meta["algo"]
    config = meta.get("config", {})
    if "algo" in config:
        return config["algo"]
    algo = "hop" if "num_simulations" in config else "ppo"
    print(f"{ckpt}: meta.json records no algorithm (written before hopjax recorded it); "
          f"its config is read as algo: {algo}", file=sys.stderr)
    return algo


def _eval_kind(target: str) -> str:
    """-> "hop_config" | "hop_run" | "ppo_run": a run's kind is the algorithm its checkpoint
    records, a config file's its ``algo`` key (default: HOP, the only config ``eval`` takes).
    ConfigError / CheckpointError for anything else, before JAX compiles anything."""
    path = Path(target)
    if not path.exists():
        raise ConfigError(f"{target!r} does not exist (expected a HOP config, a HOP run dir "
                          "or a PPO run dir)")
    if path.is_dir():
        return f"{_run_algo(path)}_run"
    algo = read_config_file(path).get("algo", "hop")
    cls = registry.config_class(algo) if isinstance(algo, str) else HOPConfig
    load_config(cls, path)  # the config's own error first
    if cls is not HOPConfig:
        hint = (f"evaluate its run with `hopjax eval {path.parent}`"
                if (path.parent / "checkpoints").is_dir()
                else f"train it with `hopjax train {target}` and evaluate the run dir")
        raise ConfigError(f"{target!r} is a PPO config, not a HOP config: {hint}")
    return "hop_config"


def _check_eval_numbers(args) -> None:
    for key in ("episodes", "seeds", "envs", "focal_seats"):
        value = getattr(args, key)
        if value is not None and value < 1:
            raise ConfigError(f"{_flag(key)} must be at least 1")
        if value is not None and value >= 2**31:
            raise ConfigError(f"{_flag(key)} must be below 2**31, got {value}")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        raise ConfigError(f"--seed must lie in [0, 2**32), got {args.seed}")
    steps = args.baseline_steps
    if steps is not None and not (math.isfinite(steps) and 1 <= steps < 2**63):
        raise ConfigError(f"--baseline-steps must be a finite number >= 1, got {steps}")


def _eval(args) -> int:
    """``hopjax eval`` (alias ``adapt``): route to the adaptation table or a PPO run's eval."""
    kind = _eval_kind(args.target)
    _check_eval_numbers(args)
    if kind == "hop_config" and args.hop is None:  # the whole config, before JAX starts
        sizes.check_memory(load_config(HOPConfig, args.target, args.overrides))
    if kind == "ppo_run":
        return _eval_ppo_run(args)
    return _eval_hop(args, kind)


def _eval_ppo_run(args) -> int:
    """A PPO-family run: self-play and each scripted co-player (``experiment.evaluate``)."""
    _reject(args, HOP_ONLY, f"a PPO run ({args.target}); those options are for HOP configs/runs")
    # JAX starts here, after every argument is checked:
    from hopjax.envs import make
    from hopjax.runtime import experiment
    from hopjax.runtime.checkpoint import load_meta

    signals.raise_if_interrupted()  # a Ctrl-C held while JAX was imported
    cfg = from_stored(PPOConfig, load_meta(args.target)[1]["config"])
    focal = 0 if args.focal is None else args.focal
    env, env_params = make(cfg.env, **cfg.env_kwargs)
    n = env.num_agents(env_params)
    if not 0 <= focal < n:
        raise ConfigError(f"--focal must be a seat in [0, {n - 1}]")
    experiment.evaluate(args.target, args.episodes or 64, args.seed or 0, focal)
    return 0


def _eval_hop(args, kind: str) -> int:
    """A HOP config or run: the few-shot adaptation table (``hopjax.runtime.adaptation``)."""
    _reject(args, PPO_ONLY, "HOP's adaptation protocol (--focal-seats N: the agent's seats)")
    hop_run = args.hop
    if kind == "hop_run":
        if hop_run is not None:
            raise ConfigError(f"--hop given twice: {args.target!r} is already a HOP run")
        hop_run, config_dir = args.target, Path("configs")
    else:
        config_dir = Path(args.target).parent
        if hop_run is not None:
            _eval_kind_hop_run(hop_run)
    if hop_run is not None and args.overrides:
        check_run_overrides(args.overrides)
    if args.population is not None:
        from hopjax.runtime.population import read_manifest

        read_manifest(args.population)  # JAX-free: a missing or malformed population fails here
    if args.out is not None:
        rundir.check_out(args.out)
    from hopjax.runtime import adaptation  # starts JAX: only after every argument is checked

    signals.raise_if_interrupted()  # a Ctrl-C held while JAX was imported
    hop_cfg = adaptation.hop_config(args.target, args.overrides, hop_run)
    specs = adaptation.baseline_specs(hop_cfg, config_dir, args.baseline, args.baseline_steps)
    adaptation.adaptation_table(
        hop_cfg, specs, args.seeds or 3, args.episodes or 5, args.envs or 16, args.focal_seats or 1,
        hop_run=hop_run, out=Path(args.out or "runs") / f"{hop_cfg.name}_adapt", population=args.population)
    return 0


def _population(args) -> int:
    """``hopjax population train SPEC``: every member checked (spec, configs, run dirs) before
    JAX starts, then trained (:mod:`hopjax.runtime.population`)."""
    from hopjax.runtime import population

    env, _, specs = population.load_spec(args.spec)
    out = Path(args.out or Path("runs") / "populations" / env)
    rundir.check_out(out)
    population.plan_members(specs, out, args.overwrite)
    population.train_population(args.spec, out, args.overwrite, progress=not args.no_progress)
    return 0


def _eval_kind_hop_run(run: str) -> None:
    if not Path(run).is_dir() or _eval_kind(run) != "hop_run":
        raise ConfigError(f"--hop {run!r} is not a HOP run dir (made by `hopjax train-hop`)")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``hopjax: error: ...``, exit status 2)."""

    def error(self, message: str):
        self.exit(2, f"hopjax: error: {' '.join(message.split())}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="hopjax", description=__doc__.replace("``", "`"),  # the module doc, as plain text
                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    _add_train_parsers(sub)
    _add_eval_parser(sub)
    _add_population_parser(sub)
    _add_reproduce_parser(sub)
    return p


def _add_population_parser(sub) -> None:
    """``population train``: learned co-players for the adaptation protocol."""
    pp = sub.add_parser("population", help="train a population of learned co-players (PPO, prosocial "
                        "PPO, PPO+OMG, PPO+MOA, HOP) once, for `hopjax eval --population`")
    pp.add_argument("action", choices=["train"])
    pp.add_argument("spec", help="population spec (configs/populations/*.yaml)")
    pp.add_argument("--out", default=None, help="population dir (default: runs/populations/<env>)")
    pp.add_argument("--overwrite", action="store_true",
                    help="retrain members that exist (the old run dirs are moved aside, never deleted)")
    pp.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_reproduce_parser(sub) -> None:
    """``reproduce NAME``: a paper's claim with evidence (hopjax.runtime.reproduce)."""
    from hopjax.runtime.reproduce import SCALES, TARGETS

    r = sub.add_parser("reproduce", help="reproduce a paper's claim: runs/reproduce/NAME/REPORT.md, CSVs, figures",
                       description="Each target writes <out>/reproduce/NAME/: REPORT.md (setting, sources, the "
                                   "claim, our numbers with 95 % intervals over seeds, the verdict), CSVs, PNGs.")
    r.add_argument("name", choices=TARGETS, help="the claim to reproduce")
    r.add_argument("--scale", choices=SCALES, default="small",
                   help="small: minutes on a 2-core CPU (default); paper: sized for one GPU")
    r.add_argument("--seeds", type=int, default=None, help="seeds (default: the target's, per scale)")
    r.add_argument("--out", default="runs", help="output folder (default: runs)")
    r.add_argument("--overwrite", action="store_true", help="move an earlier reproduction aside (never deleted)")
    r.add_argument("--resume", action="store_true",
                   help="continue a reproduction stopped part-way (Ctrl-C, SIGTERM): finished sweeps are "
                        "reused, a stopped one resumes from its last checkpoint")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_config(sp) -> None:
    sp.add_argument("config", help="YAML config file (configs/*.yaml)")
    sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config key (dotted for nested keys); repeatable")
    sp.add_argument("--out", default="runs", help="output folder (default: runs)")


def _add_train_parsers(sub) -> None:
    """``train``, ``sweep`` and ``train-hop``."""
    add_config = _add_config
    t = sub.add_parser("train", help="train one run (the config's algo: ppo or hop) with progress, "
                       "metrics, plot and checkpoints", epilog=PPO_KEYS_DOC)
    add_config(t)
    t.add_argument("--resume", default=None, help="run dir or checkpoint to continue from")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("sweep", help="train several seeds in one vmapped compile", epilog=PPO_KEYS_DOC)
    add_config(s)
    s.add_argument("--seeds", type=int, default=4, metavar="S",
                   help="number of seeds (default 4); seed s = 0..S-1 of the sweep is the run of "
                        "`hopjax train --set seed=<seed + s>` (same init key PRNGKey(seed + s))")
    s.add_argument("--resume", default=None, help="sweep dir or checkpoint to continue from")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")

    for sp in (t, s):  # the device mesh (hopjax.runtime.distributed)
        sp.add_argument("--devices", type=int, default=None, metavar="N",
                        help="devices to use, 0 = all visible on every host (= --set mesh.devices=N)")
        sp.add_argument("--distributed", action="store_true",
                        help="multi-host: start jax.distributed first (JAX_COORDINATOR_ADDRESS, "
                             "JAX_NUM_PROCESSES, JAX_PROCESS_ID, or SLURM/Open MPI); run the same "
                             "command on every host. Implied when JAX_COORDINATOR_ADDRESS is set")

    h = sub.add_parser("train-hop", help="train HOP in self-play (goal-conditioned models + planner "
                       "net); `train` on an algo: hop config does the same",
                       epilog=HOP_KEYS_DOC)
    add_config(h)
    h.add_argument("--resume", default=None, help="run dir or checkpoint to continue from")
    h.add_argument("--no-progress", action="store_true", help="no progress bar")

    for sp in (t, s, h):  # run dirs never lose data (hopjax.runtime.rundir)
        sp.add_argument("--overwrite", action="store_true",
                        help="the run dir already holds a run: move it aside to "
                             "<dir>.old-<time> (never deleted) and start afresh")


def _add_eval_parser(sub) -> None:
    """``eval`` (alias ``adapt``): HOP's adaptation table or a PPO run's evaluation."""
    e = sub.add_parser(
        "eval", aliases=["adapt"], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="evaluate a PPO run, or HOP's few-shot adaptation table (HOP vs PPO, +OMG, +MOA)",
        description=EVAL_DOC, epilog=HOP_KEYS_DOC)
    e.add_argument("target", metavar="CONFIG_OR_RUN",
                   help="a HOP config (YAML) or HOP run dir -> adaptation table; "
                        "a PPO-family run dir or checkpoint -> its evaluation")
    e.add_argument("--episodes", type=int, default=None,
                   help="HOP: K consecutive episodes per co-player group (default 5); "
                        "PPO run: parallel episodes per row (default 64)")
    # HOP adaptation protocol only
    e.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="HOP config: override a config key (dotted for nested keys); HOP run: "
                        "only its evaluation keys (adapt_no_carry, adapt_inter_om_decay); repeatable")
    e.add_argument("--hop", default=None, metavar="RUN",
                   help="HOP config: a trained HOP run dir to evaluate (default: train HOP here); the "
                        "run's own config is used, with --set's evaluation keys, and the config file "
                        "only names the baselines' configs dir")
    e.add_argument("--baseline", action="append", default=None, metavar="NAME=CONFIG_OR_RUN",
                   help="HOP: a baseline (YAML config trained here, or a `hopjax train` run dir); "
                        "default: <env>_ppo/_omg/_moa.yaml next to the HOP config (./configs for a run dir)")
    e.add_argument("--baseline-steps", type=float, default=None, help="HOP: override the baselines' total_steps")
    e.add_argument("--seeds", type=int, default=None, help="HOP: trained seeds per algorithm (default 3)")
    e.add_argument("--envs", type=int, default=None, help="HOP: parallel envs per evaluation (default 16)")
    e.add_argument("--focal-seats", type=int, default=None, metavar="N",
                   help="HOP: seats 0..N-1 taken by the evaluated agent (default 1; paper: 1 or 3)")
    e.add_argument("--out", default=None, help="HOP: output folder of <name>_adapt/ (default: runs)")
    e.add_argument("--population", default=None, metavar="DIR",
                   help="HOP: a population dir (`hopjax population train`): its members are further "
                        "unseen co-players (rows pop:<kind>)")
    # PPO-family run only
    e.add_argument("--seed", type=int, default=None, help="PPO run: evaluation seed (default 0)")
    e.add_argument("--focal", type=int, default=None, metavar="SEAT",
                   help="PPO run: seat of the trained agent (default 0)")


def _user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean bad user input (CheckpointError only once its module, which
    imports JAX, is loaded: it cannot be raised before)."""
    errors: tuple[type[Exception], ...] = (ConfigError,)
    if "hopjax.runtime.checkpoint" in sys.modules:
        errors += (sys.modules["hopjax.runtime.checkpoint"].CheckpointError,)
    return errors


def _config_algo(args) -> str:
    """The ``algo`` key of the config file after ``--set`` overrides (default: ``ppo``, or
    ``hop`` for ``train-hop``); ConfigError if ``train-hop`` is given another algorithm."""
    default = "hop" if args.command == "train-hop" else "ppo"
    algo = {**read_config_file(args.config), **parse_overrides(args.overrides)}.get("algo", default)
    if not isinstance(algo, str):
        raise ConfigError(f"config key 'algo' must be a string (one of {', '.join(registry.ALGORITHMS)}), got {algo!r}")
    registry.get(algo)
    if args.command == "train-hop" and algo != "hop":
        raise ConfigError(f"{args.config!r} is an algo: {algo} config; `hopjax train-hop` runs HOP "
                          f"configs: use `hopjax train {args.config}`")
    return algo


def validate(args) -> Any:
    """The whole config of ``train``/``sweep``/``train-hop`` parsed with the config class of its
    ``algo`` (:mod:`hopjax.algos.registry`) and checked (types, ranges, ``env_kwargs``, a
    memory estimate) without importing JAX; ConfigError otherwise."""
    if getattr(args, "devices", None) is not None:
        args.overrides = [*args.overrides, f"mesh.devices={args.devices}"]
    seeds = args.seeds if args.command == "sweep" else 1
    if not 1 <= seeds <= 2**16:
        raise ConfigError(f"--seeds must lie in [1, 65536], got {seeds}")
    cfg = load_config(registry.config_class(_config_algo(args)), args.config, args.overrides,
                      upgrade=args.resume is not None)  # an older run's flat config.yaml resumes
    if cfg.seed + seeds > SEED_LIMIT:
        raise ConfigError(f"config key 'seed' ({cfg.seed}) + --seeds ({seeds}) must stay within 2**32")
    sizes.check_memory(cfg, seeds)
    _check_run_dir(args, f"{cfg.name}_sweep{seeds}" if args.command == "sweep" else cfg.name)
    return cfg


def _check_run_dir(args, name: str) -> None:
    """A run dir that would be refused (hopjax.runtime.rundir) is refused here too, before JAX starts.
    Multi-host runs are checked later, per process, by experiment.train/sweep."""
    if args.resume is not None and not Path(args.resume).exists():
        raise ConfigError(f"--resume {args.resume!r} does not exist (give the run dir or a checkpoint)")
    if args.resume is not None and not Path(args.resume).is_dir():
        raise ConfigError(f"--resume {args.resume!r} is a file, not a run dir or a checkpoint dir")
    rundir.check_out(args.out)
    if not (getattr(args, "distributed", False) or os.environ.get("JAX_COORDINATOR_ADDRESS")):
        rundir.check(Path(args.out) / name, args.resume, args.overwrite)


def _run(args, cfg, invocation: list[str]) -> int:
    """Start JAX (and jax.distributed if asked) and run a validated config."""
    if getattr(args, "distributed", False) or (
            args.command in ("train", "sweep") and os.environ.get("JAX_COORDINATOR_ADDRESS")):
        from hopjax.runtime.distributed import initialize  # JAX is imported only now

        initialize()  # before anything starts JAX's backend
    from hopjax.runtime import experiment  # starts JAX: the config is valid by now

    signals.raise_if_interrupted()  # a Ctrl-C held while JAX was imported: stop before any run dir

    if args.command == "sweep":
        res = experiment.sweep(cfg, args.seeds, args.out, resume=args.resume,
                               progress=not args.no_progress, overwrite=args.overwrite, argv=invocation)
        return _STATUS[res.stopped]
    res = experiment.train(cfg, args.out, resume=args.resume, progress=not args.no_progress,
                           overwrite=args.overwrite, argv=invocation)  # train, train-hop: cfg.algo's trainer
    return _STATUS[res.stopped]


def _reproduce(args, invocation: list[str]) -> int:
    from hopjax.runtime import reproduce  # JAX-free until reproduce() runs

    reproduce.check(args.name, args.scale, args.seeds, args.out, args.overwrite, args.resume)
    reproduce.reproduce(args.name, args.scale, args.seeds, args.out, args.overwrite,
                        progress=not args.no_progress, command="hopjax " + " ".join(invocation),
                        resume=args.resume)
    return 0


# Exit status of a run by how it stopped: finished, NaN (last good checkpoint kept), Ctrl-C or
# SIGTERM (checkpoint saved; 130 = 128 + SIGINT, the shell's status for a Ctrl-C).
_STATUS = {None: 0, "nan": 1, "interrupted": 130}


def main(argv: list[str] | None = None) -> int:
    """``hopjax`` entry point: parse, validate the whole config (no JAX), then run. Bad input:
    one line ``hopjax: error: ...`` on stderr and exit status 2. A run that stops on NaN exits
    with 1; Ctrl-C or SIGTERM with 130, after a training run has saved its checkpoint and said
    where (``hopjax.runtime.experiment``); a Ctrl-C before training starts or during an
    evaluation prints one line ``hopjax: interrupted`` and leaves no traceback (a SIGTERM before
    training starts ends the process at once, with the signal's own status)."""
    invocation = list(sys.argv[1:] if argv is None else argv)  # for the printed resume command
    args = _parser().parse_args(argv)
    try:
        with signals.remembered_interrupt():  # before JAX starts: a Ctrl-C it drops still stops the run
            if args.command in ("eval", "adapt"):
                return _eval(args)
            if args.command == "population":
                return _population(args)
            if args.command == "reproduce":
                return _reproduce(args, invocation)
            return _run(args, validate(args), invocation)
    except _user_errors() as e:
        print(f"hopjax: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nhopjax: interrupted", file=sys.stderr)
        return _STATUS["interrupted"]


def run() -> None:
    """The ``hopjax`` console script: :func:`main`, then exit with its status. After a Ctrl-C
    or SIGTERM (status 130) the process ends at once (``os._exit``, once stdout, stderr and the
    TensorBoard files are flushed): a jitted call it interrupted (a compile inside ``hopjax
    eval``, say) keeps running in XLA's threads, and the interpreter's teardown under them
    crashes (SIGSEGV); the run has already saved and said what it had to."""
    status = main()
    if status != _STATUS["interrupted"]:
        sys.exit(status)
    if "hopjax.runtime.tensorboard" in sys.modules:
        sys.modules["hopjax.runtime.tensorboard"].close_all()
    if "jax" in sys.modules:  # JAX's own exit handler, skipped by os._exit: leave a multi-host job
        sys.modules["jax"].distributed.shutdown()  # (nothing where jax.distributed never started)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    run()

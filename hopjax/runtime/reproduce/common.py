"""What the reproduction targets share: locating the shipped configs, and a vmapped seed sweep
(``hopjax.runtime.experiment.sweep``) whose per-seed CSV rows come back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hopjax.config import load_config
from hopjax.algos.ppo import PPOConfig

# the checkout's configs/ (an editable install or a clone); a non-editable install: ./configs
CONFIGS = Path(__file__).resolve().parents[3] / "configs"
if not CONFIGS.is_dir():
    CONFIGS = Path("configs")


def config(name: str, overrides: list[str], cls=PPOConfig) -> Any:
    """A shipped config (``configs/<name>.yaml`` of this checkout) with ``--set``-style overrides;
    ConfigError (one line, naming the key) on a bad one."""
    return load_config(cls, CONFIGS / f"{name}.yaml", overrides)


def sweep(cfg: Any, seeds: int, out: Path, progress: bool = True,
          resume: bool = False) -> tuple[list[list[dict]], float, Path]:
    """``seeds`` seeds of ``cfg`` in one vmapped compile, written to ``out/<name>_sweep<S>/``
    (``metrics_seed<s>.csv``, checkpoints, sweep.png). ``resume``: a sweep dir already there
    continues from its last checkpoint (a finished one is read back as it is; one stopped before
    its first checkpoint is moved aside and run again). -> (CSV rows per seed, compile seconds,
    sweep dir). KeyboardInterrupt if the sweep was interrupted (Ctrl-C, SIGTERM), RuntimeError
    if it stopped on NaN."""
    from hopjax.algos import registry
    from hopjax.loop import Loop
    from hopjax.runtime import checkpoint, experiment, rundir
    from hopjax.runtime.distributed import default_mesh

    d = out / f"{cfg.name}_sweep{seeds}"
    started = resume and bool(rundir.contents(d))
    try:
        saved = started and bool(checkpoint.load_meta(d))
    except checkpoint.CheckpointError:  # none yet (or unreadable): moved aside, never deleted
        saved = False
    loop = Loop(registry.build(cfg), default_mesh(cfg, seeds), seeds)
    res = experiment.sweep(cfg, seeds, out, progress=progress, loop=loop, resume=d if saved else None,
                           overwrite=started and not saved)
    if res.stopped == "interrupted":  # Ctrl-C / SIGTERM: checkpoint saved; the caller says how to go on
        raise KeyboardInterrupt
    if res.stopped is not None:
        raise RuntimeError(f"the sweep in {res.run_dir} stopped ({res.stopped}); the reproduction is incomplete")
    rows = [experiment.read_csv(res.run_dir / f"metrics_seed{s}.csv") for s in range(seeds)]
    return rows, loop.compile_seconds, res.run_dir

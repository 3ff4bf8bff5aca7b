"""Host-side drivers: chunked training with progress, CSV metrics, checkpoints and plots; seed
sweeps; evaluation against scripted co-players. Everything inside a chunk is jitted; the host
only runs between chunks.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import yaml
from tqdm.auto import tqdm

from hopjax.runtime import checkpoint, rundir, signals, tensorboard
from hopjax.algos import registry
from hopjax.algos.ppo import PPOConfig
from hopjax.config import SEED_LIMIT, ConfigError, changed_keys, from_stored, to_dict
from hopjax.runtime.distributed import default_mesh
from hopjax.loop import Algorithm, Loop
from hopjax.runtime.plots import plot_learning_curves, plot_sweep
from hopjax.runtime.summary import learned_line
from hopjax.algos.ppo.trainer import Trainer, scripted_names, scripted_policy
from hopjax.evaluation import play_policy


# [G] metrics -> CSV columns <prefix>/<goal name>: agents reaching each goal, and captures
# (events: a stag caught by a group of 3 is 3 in goals/, 1 in hunts/)
_GOAL_COLUMNS = {"goals_per_episode": "goals", "hunts_per_episode": "hunts"}


def flatten_metrics(metrics: dict[str, np.ndarray], goal_names: tuple[str, ...]) -> list[dict[str, float]]:
    """Metrics with a leading [U] axis -> one flat dict per update (per-agent arrays split)."""
    rows: list[dict[str, float]] = []
    n_rows = len(next(iter(metrics.values())))
    for i in range(n_rows):
        row: dict[str, float] = {}
        for k, v in metrics.items():
            x = np.asarray(v[i])
            if k in _GOAL_COLUMNS:
                for g, name in enumerate(goal_names):
                    row[f"{_GOAL_COLUMNS[k]}/{name}"] = float(x[g])
            elif x.ndim == 0:
                row[k] = float(x)
            else:
                for j, xj in enumerate(x.reshape(-1)):
                    row[f"{k}_{j}"] = float(xj)
        rows.append(row)
    return rows


def _write_csv(path: Path, rows: list[dict[str, float]], append: bool) -> None:
    if not rows:
        return
    new = not (append and path.exists())
    with path.open("w" if new else "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        if new:
            w.writeheader()
        w.writerows(rows)


def read_csv(path: str | Path) -> list[dict[str, float]]:
    with Path(path).open() as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def _truncate_csv(path: Path, upto_update: int) -> None:
    """Drop rows past ``upto_update`` (a resumed run rewrites them); kept rows stay as written.
    If any row is dropped, the whole file is first copied to ``<stem>.before-resume-<time>.csv``."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    col = rows[0].index("update")
    kept = [r for r in rows[1:] if float(r[col]) <= upto_update]
    if len(kept) == len(rows) - 1:
        return
    aside = rundir.aside(path.with_name(path.stem), "before-resume", ".csv")
    shutil.copy2(path, aside)
    print(f"{path.name}: rows after update {upto_update} are rewritten by this run; "
          f"the earlier file is kept at {aside}")
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + kept)


def _process_dir(name: str) -> str:
    """Multi-host runs: process 0 writes ``name``; the others write the same files (their
    share of orbax's collective checkpoint saves) under a hidden ``.name.process<i>``."""
    i = jax.process_index()
    return name if i == 0 else f".{name}.process{i}"


@dataclasses.dataclass
class SweepResult:
    """What :func:`sweep` returns. run_dir: the sweep's dir; metrics: {CSV column: [S, U]} of
    the chunks this call ran; stopped: None, "interrupted" (Ctrl-C) or "nan"."""

    run_dir: Path
    metrics: dict[str, np.ndarray]
    stopped: str | None


class TrainResult:
    def __init__(self, run_dir: Path, runner: Any, rows: list[dict[str, float]],
                 last_checkpoint: Path | None, stopped: str | None):
        self.run_dir = run_dir
        self.runner = runner
        self.rows = rows
        self.last_checkpoint = last_checkpoint
        self.stopped = stopped  # None, "interrupted" or "nan"


@dataclasses.dataclass
class _Job:
    """What the host loop needs to drive one run (``seeds=None``) or a seed sweep (runner
    states stacked on a leading [S] axis, one CSV per seed)."""

    cfg: Any
    loop: Loop  # its algorithm, mesh and seeds (None: a single run)
    run_dir: Path
    resume_cmd: str  # printed whenever the run stops early

    @property
    def seeds(self) -> int | None:
        return self.loop.seeds

    @property
    def trainer(self) -> Algorithm:
        return self.loop.algorithm

    @property
    def csv_paths(self) -> list[Path]:
        if self.seeds is None:
            return [self.run_dir / "metrics.csv"]
        return [self.run_dir / f"metrics_seed{s}.csv" for s in range(self.seeds)]

    def update(self, runner) -> int:
        return int(np.asarray(jax.device_get(runner.update)).reshape(-1)[0])


class _Saver:
    """Checkpoints of one job; the same update is saved once. A Ctrl-C during a save is
    deferred until ``last``/``update`` name the finished checkpoint."""

    def __init__(self, job: _Job):
        self.job, self.last, self.update = job, None, None

    def __call__(self, runner, chunk: int) -> Path:
        job, u = self.job, self.job.update(runner)
        if u == self.update and self.last is not None and self.last.exists():
            return self.last
        meta = {"algo": job.cfg.algo, "update": u, "chunk": chunk, "env_steps": u * job.trainer.steps_per_update,
                "config": to_dict(job.cfg)}
        if job.seeds is not None:
            meta["seeds"] = job.seeds
        with signals.deferred_interrupt():
            self.last = checkpoint.save(job.run_dir / "checkpoints", job.loop.gather(runner), meta)
            self.update = u
        return self.last


def _resume(job: _Job, resume: str | Path, runner, saver: _Saver):
    """Restore ``resume`` into ``runner``'s shapes; drop CSV rows past it. -> (runner, chunk)."""
    path, meta = checkpoint.load_meta(resume)
    if meta.get("seeds") != job.seeds:
        what = lambda n: "a single run" if n is None else f"a {n}-seed sweep"
        raise checkpoint.CheckpointError(f"{str(path)!r} is a checkpoint of {what(meta.get('seeds'))}, "
                                         f"not of {what(job.seeds)}")
    try:
        runner, meta = checkpoint.restore(path, runner)
    except checkpoint.LayoutError as e:
        changed = changed_keys(meta["config"], job.cfg)
        if not changed:
            raise
        raise checkpoint.CheckpointError(
            f"{str(path)!r} was written with another config, and its arrays do not fit this one's: "
            f"config keys that differ: {'; '.join(changed)}; resume with the checkpoint's values (the run's "
            f"config.yaml) or start a new run (another name or --out); arrays that differ, e.g. {e.arrays}"
        ) from None
    for p in job.csv_paths:
        _truncate_csv(p, meta["update"])
    saver.last, saver.update = path, meta["update"]
    print(f"resumed from {path} at update {meta['update']}")
    return job.loop.place(runner), meta["chunk"]


def _finite(runner, metrics) -> bool:
    return all(np.all(np.isfinite(v)) for v in metrics.values()) and all(
        bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(runner.params))


def _commit(job: _Job, metrics, chunk: int, sps: float) -> list[list[dict[str, float]]]:
    """Append one chunk's rows to each CSV (one per seed in a sweep). -> rows per CSV."""
    cfg, tr = job.cfg, job.trainer
    parts = [metrics] if job.seeds is None else [{k: v[s] for k, v in metrics.items()} for s in range(job.seeds)]
    out = []
    for path, part in zip(job.csv_paths, parts):
        rows = flatten_metrics(part, tr.goal_names)
        for i, row in enumerate(rows):
            u = chunk * cfg.chunk_updates + i + 1
            row.update(update=u, env_steps=u * tr.steps_per_update, sps=sps)
        rows = [{"update": r["update"], "env_steps": r["env_steps"], **r} for r in rows]
        _write_csv(path, rows, append=True)
        tensorboard.write_rows(path, rows)  # event files next to the CSV if tensorboardX is installed
        out.append(rows)
    return out


_COMPILE_NOTE = "\nstopping once XLA has compiled the training chunk (the checkpoint follows)"


def _loop(job: _Job, runner, start: int, end: int, saver: _Saver, bar) -> tuple[Any, list, str | None]:
    """Chunks ``start..end-1``: progress, CSV rows, checkpoints, NaN guard, Ctrl-C.
    -> (runner, rows per CSV, stopped: None | "nan" | "interrupted")."""
    cfg, tr = job.cfg, job.trainer
    rows: list[list[dict[str, float]]] = [[] for _ in job.csv_paths]
    try:
        signals.raise_if_interrupted()  # a Ctrl-C that Python dropped while JAX was imported or built
        if start >= end:  # nothing to run (a finished run resumed): no compile
            return runner, rows, None
        with signals.deferred_interrupt(_COMPILE_NOTE):  # an interrupted compile crashes the process at exit
            compiled = job.loop.compiled_chunk(runner)
        for chunk in range(start, end):
            signals.raise_if_interrupted()  # ... or while it compiled or ran the last chunk
            t0 = time.perf_counter()
            new_runner, metrics = compiled(runner)
            metrics = jax.device_get(metrics)
            sps = (job.seeds or 1) * tr.steps_per_update * cfg.chunk_updates / (time.perf_counter() - t0)
            if not _finite(new_runner, metrics):
                path = saver(runner, chunk)  # the state before the bad chunk
                print(f"non-finite metrics or parameters in chunk {chunk}: stopped.\n"
                      f"last good checkpoint (update {job.update(runner)}): {path}\n"
                      f"resume with: {job.resume_cmd}")
                return runner, rows, "nan"
            with signals.deferred_interrupt():  # a chunk's rows and checkpoint go together
                runner = new_runner
                for acc, new in zip(rows, _commit(job, metrics, chunk, sps)):
                    acc.extend(new)
                if (chunk + 1) % cfg.checkpoint_every_chunks == 0 or chunk + 1 == job.loop.num_chunks:
                    saver(runner, chunk + 1)
            if bar is not None:
                bar.update(cfg.chunk_updates)
                ret = np.mean([r[-1]["mean_return"] for r in rows])
                bar.set_postfix(ret=f"{ret:.2f}", sps=f"{sps:,.0f}")
    except KeyboardInterrupt:
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: this save still completes
            saver(runner, job.update(runner) // cfg.chunk_updates)
        signals.interrupt_handled()  # acted on: this Ctrl-C and any during the save
        print(f"\ninterrupted: checkpoint saved at {saver.last}\nresume with: {job.resume_cmd}")
        return runner, rows, "interrupted"
    return runner, rows, None


def _write_config(path: Path, cfg: Any) -> None:
    """Write the run's config; a different one already there (a resume with changed keys) is
    kept as ``config.before-resume-<time>.yaml``, so the record of the earlier updates stays."""
    text = yaml.safe_dump(to_dict(cfg), sort_keys=False)
    if path.exists() and path.read_text() != text:
        changed = changed_keys(path.read_text(), cfg)
        kept = rundir.aside(path.with_name(path.stem), "before-resume", ".yaml")
        path.rename(kept)
        print(f"the config differs from the run's{': ' + '; '.join(changed) if changed else ''}; "
              f"the earlier one is kept as {kept}")
        if any(c.startswith("seed:") for c in changed):
            print("seed does not change a resumed run: its random state continues from the checkpoint")
    path.write_text(text)


def _say_rounding(job: _Job) -> None:
    """One line when ``total_steps`` is not what runs: it is rounded to whole updates (down, at
    least one) and then up to whole chunks of ``chunk_updates`` updates."""
    cfg, tr, n = job.cfg, job.trainer, job.loop.num_chunks
    steps = tr.num_updates * tr.steps_per_update
    if steps != cfg.total_steps:
        print(f"total_steps {cfg.total_steps:,} rounds to whole chunks: {tr.num_updates} updates "
              f"({n} chunk{'s' * (n != 1)} of chunk_updates {cfg.chunk_updates}) x "
              f"{tr.steps_per_update:,} env steps = {steps:,} env steps")


def _drive(job: _Job, runner, resume, progress: bool, max_chunks: int | None):
    """Say how ``total_steps`` rounds (if it does), resume (if asked), then run the job's
    chunks with a progress bar.
    -> (runner, rows per CSV, saver, stopped)."""
    cfg, n = job.cfg, job.loop.num_chunks
    saver = _Saver(job)
    start = 0
    _say_rounding(job)
    if resume is not None:
        runner, start = _resume(job, resume, runner, saver)
    if start >= n:  # nothing written: a run dir given by --out is left as it was
        print(f"the run is already complete ({n} of {n} chunks): nothing to train; raise total_steps to "
              "continue it")
    else:
        _write_config(job.run_dir / "config.yaml", cfg)
    end = n if max_chunks is None else min(n, start + max_chunks)
    bar = None
    if progress:
        desc = cfg.name if job.seeds is None else f"{cfg.name} x{job.seeds} seeds"
        bar = tqdm(total=n * cfg.chunk_updates, initial=start * cfg.chunk_updates,
                   unit="upd", desc=desc)
    try:
        with signals.sigterm_as_interrupt():  # kill / SLURM's time limit: saved like Ctrl-C
            runner, rows, stopped = _loop(job, runner, start, end, saver, bar)
    finally:
        if bar is not None:
            bar.close()
    if stopped is None and end < n:
        print(f"stopped after {end} of {n} chunks; resume with: {job.resume_cmd}")
    return runner, rows, saver, stopped


def _make_loop(cfg: Any, algorithm: Algorithm | None, loop: Loop | None, seeds: int | None) -> Loop:
    """``loop``, or a Loop of ``algorithm`` (default: the registry's trainer of ``cfg.algo``)
    on ``cfg``'s default mesh (:func:`hopjax.runtime.distributed.default_mesh`)."""
    if loop is not None:
        if loop.seeds != seeds:
            raise ValueError(f"a loop over seeds={loop.seeds} cannot run seeds={seeds}")
        return loop
    return Loop(algorithm or registry.build(cfg), default_mesh(cfg, seeds or 1), seeds)


def train(cfg: Any, out: str | Path = "runs", resume: str | Path | None = None,
          progress: bool = True, max_chunks: int | None = None, plot: bool = True,
          algorithm: Algorithm | None = None, loop: Loop | None = None, overwrite: bool = False,
          argv: list[str] | None = None) -> TrainResult:
    """Train ``cfg`` (any registered algorithm, :mod:`hopjax.algos.registry`) in jitted chunks,
    logging to ``out/<name>/``.

    ``resume``: a run dir or checkpoint to continue from (bit-identical to an uninterrupted
    run). Without it, a run dir that already holds a run is refused (RunDirError) unless
    ``overwrite``, which moves the old run aside (:mod:`hopjax.runtime.rundir`); the dir is locked while
    the run writes to it. ``algorithm``: an already built trainer of ``cfg``; ``loop``: an
    already built (and compiled) :class:`~hopjax.loop.Loop` of one (default: a Loop on the
    config's mesh). ``max_chunks``: stop early after this many chunks. ``argv``: the CLI
    invocation (``sys.argv[1:]``), so that the printed resume command reproduces it.
    Ctrl-C saves a checkpoint of the last completed chunk (one during the chunk's compile takes
    effect when the compile ends: XLA's compile cannot be stopped safely); a chunk whose metrics
    hold NaN is discarded and the run stops at the last good checkpoint. Both say where it is and print the
    command that resumes the run.
    """
    run_dir = Path(out) / _process_dir(cfg.name)
    with rundir.open_run(run_dir, resume, overwrite):  # refused before anything is built
        loop = _make_loop(cfg, algorithm, loop, None)
        print(f"mesh: {loop.describe()}")
        cmd = rundir.resume_command(argv, Path(out) / cfg.name, out, ("train",))
        job = _Job(cfg, loop, run_dir, cmd)
        runner = loop.start(jax.random.PRNGKey(cfg.seed))
        runner, rows, saver, stopped = _drive(job, runner, resume, progress, max_chunks)
        rows, csv_path = rows[0], job.csv_paths[0]
        if rows:
            print(f"compile {loop.compile_seconds:.1f}s; last chunk {rows[-1]['sps']:,.0f} env steps/s; "
                  f"mean return {rows[-1]['mean_return']:.3f}")
        if plot and csv_path.exists():
            plot_learning_curves(read_csv(csv_path), run_dir / "learning_curves.png", title=cfg.name)
    if saver.last is not None and stopped is None:
        print(f"metrics: {csv_path}\n" * csv_path.exists() + f"checkpoint: {saver.last}")
    if rows:  # what the last chunk shows was learned
        print(learned_line(rows, cfg.chunk_updates, getattr(loop.algorithm, "env_params", None)))
    if stopped is not None:  # a stopped run ends on the command that continues it
        print(f"stopped ({stopped}) at {saver.last}; resume with: {cmd}")
    return TrainResult(run_dir, runner, rows, saver.last, stopped)


def sweep(cfg: Any, seeds: int, out: str | Path = "runs", plot: bool = True,
          progress: bool = True, resume: str | Path | None = None, overwrite: bool = False,
          max_chunks: int | None = None, loop: Loop | None = None,
          argv: list[str] | None = None):
    """Train ``seeds`` seeds as one run: the same compiled chunk vmapped over seeds, driven like
    :func:`train` (progress bar, ``metrics_seed<s>.csv`` rows written as each chunk ends,
    checkpoints of the stacked state, ``resume``, ``overwrite``, lock) in
    ``out/<name>_sweep<seeds>/``. Seed ``s`` starts from ``PRNGKey(cfg.seed + s)``, exactly as
    ``train`` with ``seed = cfg.seed + s`` does (equal metrics up to float rounding of the
    vmapped program). ``loop``: a ``Loop(trainer, mesh, seeds)`` of ``cfg`` to reuse.
    -> :class:`SweepResult` (``metrics``: the chunks run by this call, {column: [S, U]})."""
    if seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    if cfg.seed + seeds > SEED_LIMIT:
        raise ConfigError(f"config key 'seed' ({cfg.seed}) + --seeds ({seeds}) must stay within 2**32")
    name = f"{cfg.name}_sweep{seeds}"
    run_dir = Path(out) / _process_dir(name)
    with rundir.open_run(run_dir, resume, overwrite):  # refused before anything is built
        loop = _make_loop(cfg, None, loop, seeds)
        print(f"mesh: {loop.describe()}")
        cmd = rundir.resume_command(argv, Path(out) / name, out, ("sweep", "--seeds", str(seeds)))
        job = _Job(cfg, loop, run_dir, cmd)
        # seed s starts from PRNGKey(seed + s), as `train --set seed=<seed + s>` does
        runners = loop.start(jax.vmap(jax.random.PRNGKey)(cfg.seed + np.arange(seeds, dtype=np.uint32)))
        _, rows, _, stopped = _drive(job, runners, resume, progress, max_chunks)
        metrics = _stack_rows(rows)
        _sweep_report(job, plot, stopped)
    if stopped is not None:  # a stopped sweep ends on the command that continues it
        print(f"stopped ({stopped}); resume with: {job.resume_cmd}")
    return SweepResult(run_dir, metrics, stopped)


def _stack_rows(rows: list[list[dict[str, float]]]) -> dict[str, np.ndarray]:
    """Rows per seed -> {column: [S, U]} (empty if no chunk ran)."""
    if not rows[0]:
        return {}
    return {k: np.array([[r[k] for r in seed] for seed in rows]) for k in rows[0][0]}


def _sweep_report(job: _Job, plot: bool, stopped: str | None = None) -> None:
    """Final return per seed (so far, for a stopped sweep), from the CSVs (a resumed sweep
    included), and the sweep plot."""
    tr, seeds = job.trainer, job.seeds
    if not all(p.exists() for p in job.csv_paths):
        return
    ret = np.array([[r["mean_return"] for r in read_csv(p)] for p in job.csv_paths])  # [S, U]
    final = ret[:, -max(1, ret.shape[1] // 10):].mean(1)
    print(f"{seeds} seeds x {ret.shape[1]} of {tr.num_updates} updates; compile "
          f"{job.loop.compile_seconds:.1f}s")
    print(f"{'mean return so far' if stopped else 'final mean return'} per seed: {np.round(final, 3).tolist()}; "
          f"mean {final.mean():.3f} +/- {final.std():.3f}")
    if plot:
        steps = (np.arange(ret.shape[1]) + 1) * tr.steps_per_update
        plot_sweep(steps, ret, job.run_dir / "sweep.png", title=f"{job.cfg.name}: {seeds} seeds")
    print(f"per-seed metrics: {job.run_dir}/metrics_seed*.csv")


def evaluate(ckpt: str | Path, episodes: int = 64, seed: int = 0, focal: int = 0) -> list[dict[str, Any]]:
    """Returns of a trained checkpoint: self-play, and seat ``focal`` next to each scripted
    co-player kind in all other seats. -> table rows (also printed)."""
    path, meta = checkpoint.load_meta(ckpt)
    cfg = from_stored(PPOConfig, meta["config"])
    trainer = Trainer(cfg)
    runner, _ = checkpoint.restore(ckpt, jax.eval_shape(trainer.init, jax.random.PRNGKey(0)))
    n = trainer.env.num_agents(trainer.env_params)
    opponents = ["self-play"] + list(scripted_names(cfg.env))
    table = []
    for name in opponents:
        scripted = {}
        if name != "self-play":
            fn = scripted_policy(cfg.env, name)
            scripted = {i: fn for i in range(n) if i != focal}

        @jax.jit
        def run(key, runner):
            return play_policy(trainer, runner, episodes, scripted, key, jax.random.fold_in(key, 1))[1]

        stats = jax.device_get(run(jax.random.PRNGKey(seed), runner))
        signals.raise_if_interrupted()  # a Ctrl-C JAX dropped while it compiled or ran this
        eps = max(float(stats["episodes"]), 1.0)
        ret = stats["returns_sum"] / eps
        others = [i for i in range(n) if i != focal]
        table.append({
            "co-players": name,
            "focal_return": float(ret[focal]),
            "co-player_return": float(np.mean(ret[others])),
            "welfare": float(ret.sum()),
            "episodes": int(eps),
        })
    steps = f", {meta['env_steps']:,} env steps" if isinstance(meta.get("env_steps"), int) else ""
    print(f"{path} (update {meta['update']}{steps}): {episodes} episodes per row, "
          f"seed {seed}; mean return per episode of the trained agent in seat {focal} (focal), of the "
          f"other seats (others: its own copies in self-play, else the scripted co-players) and their "
          f"sum over all {n} seats (welfare)")
    print(f"{'co-players':<14}{'focal':>9}{'others':>9}{'welfare':>9}")
    for r in table:
        print(f"{r['co-players']:<14}{r['focal_return']:>9.3f}{r['co-player_return']:>9.3f}{r['welfare']:>9.3f}")
    return table

"""Host-side drivers: chunked training with progress, CSV metrics, checkpoints and plots; seed
sweeps; evaluation against scripted co-players. Everything inside a chunk is jitted; the host
only runs between chunks.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import yaml

from hopjax import checkpoint
from hopjax.algos.ppo import PPOConfig
from hopjax.config import to_dict
from hopjax.distributed import MeshTrainer, sweep_trainer
from hopjax.train import RunnerState, Trainer


def flatten_metrics(metrics: dict[str, np.ndarray], goal_names: tuple[str, ...]) -> list[dict[str, float]]:
    """Metrics with a leading [U] axis -> one flat dict per update (per-agent arrays split)."""
    rows: list[dict[str, float]] = []
    n_rows = len(next(iter(metrics.values())))
    for i in range(n_rows):
        row: dict[str, float] = {}
        for k, v in metrics.items():
            x = np.asarray(v[i])
            if k == "goals_per_episode":
                for g, name in enumerate(goal_names):
                    row[f"goals/{name}"] = float(x[g])
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
    """Drop rows past ``upto_update`` (a resumed run rewrites them); kept rows stay as written."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    col = rows[0].index("update")
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + [r for r in rows[1:] if float(r[col]) <= upto_update])


def _process_dir(name: str) -> str:
    """Multi-host runs: process 0 writes ``name``; the others write the same files (their
    share of orbax's collective checkpoint saves) under a hidden ``.name.process<i>``."""
    i = jax.process_index()
    return name if i == 0 else f".{name}.process{i}"


class TrainResult:
    def __init__(self, run_dir: Path, runner: RunnerState, rows: list[dict[str, float]],
                 last_checkpoint: Path | None, stopped: str | None):
        self.run_dir = run_dir
        self.runner = runner
        self.rows = rows
        self.last_checkpoint = last_checkpoint
        self.stopped = stopped  # None, "interrupted" or "nan"


def train(cfg: PPOConfig, out: str | Path = "runs", resume: str | Path | None = None,
          progress: bool = True, max_chunks: int | None = None, plot: bool = True,
          trainer: Trainer | None = None) -> TrainResult:
    """Train ``cfg`` in jitted chunks, logging to ``out/<name>/``.

    ``resume``: a run dir or checkpoint to continue from (bit-identical to an uninterrupted
    run). ``trainer``: reuse an already built (and compiled) Trainer of ``cfg``. ``max_chunks``: stop early after this many chunks (for tests and smoke runs).
    Ctrl-C saves a checkpoint of the last completed chunk; a chunk whose metrics hold NaN is
    discarded and the run stops at the last good checkpoint. Both say where it is.
    """
    trainer = trainer or MeshTrainer(cfg)  # env batch split over cfg.devices (hopjax.distributed)
    mesh = isinstance(trainer, MeshTrainer)
    place = trainer.place if mesh else (lambda r: r)
    run_dir = Path(out) / _process_dir(cfg.name)
    if mesh:
        print(f"mesh: {trainer.describe()}")
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_dir = run_dir / "checkpoints"
    (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    csv_path = run_dir / "metrics.csv"

    runner = place(trainer.init(jax.random.PRNGKey(cfg.seed)))
    start_chunk = 0
    if resume is not None:
        runner, meta = checkpoint.restore(resume, runner)
        runner = place(runner)
        start_chunk = int(meta["chunk"])
        _truncate_csv(csv_path, int(meta["update"]))
        print(f"resumed from {meta.get('path', resume)} at update {meta['update']}")
    elif csv_path.exists():
        csv_path.unlink()

    def save(r: RunnerState, chunk: int) -> Path:
        meta = {"update": int(r.update), "chunk": chunk, "env_steps": int(r.update) * trainer.steps_per_update,
                "config": to_dict(cfg)}
        return checkpoint.save(ckpt_dir, trainer.gather(r) if mesh else r, meta)

    last_ckpt = None
    stopped = None
    bar = None
    end_chunk = trainer.num_chunks if max_chunks is None else min(trainer.num_chunks, start_chunk + max_chunks)
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=trainer.num_chunks * cfg.chunk_updates, initial=start_chunk * cfg.chunk_updates,
                   unit="upd", desc=cfg.name)
    rows: list[dict[str, float]] = []
    chunk = start_chunk
    try:
        compiled = trainer.compiled_chunk(runner)
        for chunk in range(start_chunk, end_chunk):
            t0 = time.perf_counter()
            new_runner, metrics = compiled(runner)
            metrics = jax.device_get(metrics)
            dt = time.perf_counter() - t0
            if not all(np.all(np.isfinite(v)) for v in metrics.values()) or not all(
                bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(new_runner.params)
            ):
                stopped = "nan"
                last_ckpt = save(runner, chunk)  # the state before the bad chunk
                print(f"non-finite metrics or parameters in chunk {chunk}: stopped.\n"
                      f"last good checkpoint (update {int(runner.update)}): {last_ckpt}")
                break
            runner = new_runner
            first_update = chunk * cfg.chunk_updates
            chunk_rows = flatten_metrics(metrics, trainer.goal_names)
            sps = trainer.steps_per_update * cfg.chunk_updates / dt
            for i, row in enumerate(chunk_rows):
                u = first_update + i + 1
                row.update(update=u, env_steps=u * trainer.steps_per_update, sps=sps)
            ordered = [{"update": r["update"], "env_steps": r["env_steps"], **r} for r in chunk_rows]
            _write_csv(csv_path, ordered, append=True)
            rows.extend(ordered)
            if (chunk + 1) % cfg.checkpoint_every_chunks == 0 or chunk + 1 == trainer.num_chunks:
                last_ckpt = save(runner, chunk + 1)
            if bar is not None:
                bar.update(cfg.chunk_updates)
                bar.set_postfix(ret=f"{ordered[-1]['mean_return']:.2f}", sps=f"{sps:,.0f}")
    except KeyboardInterrupt:
        stopped = "interrupted"
        last_ckpt = save(runner, int(runner.update) // cfg.chunk_updates)
        print(f"\ninterrupted: checkpoint saved at {last_ckpt}\n"
              f"resume with: hopjax train {run_dir / 'config.yaml'} --resume {run_dir}")
    finally:
        if bar is not None:
            bar.close()
    if rows:
        print(f"compile {trainer.compile_seconds:.1f}s; last chunk {rows[-1]['sps']:,.0f} env steps/s; "
              f"mean return {rows[-1]['mean_return']:.3f}")
    if plot and csv_path.exists():
        from hopjax.plots import plot_learning_curves

        plot_learning_curves(read_csv(csv_path), run_dir / "learning_curves.png", title=cfg.name)
    if last_ckpt is not None and stopped is None:
        print(f"metrics: {csv_path}\ncheckpoint: {last_ckpt}")
    return TrainResult(run_dir, runner, rows, last_ckpt, stopped)


def sweep(cfg: PPOConfig, seeds: int, out: str | Path = "runs", plot: bool = True):
    """Train ``seeds`` seeds in one vmapped compile. -> (run_dir, metrics [S, U, ...])."""
    trainer = sweep_trainer(cfg, seeds)  # seeds split over devices (hopjax.distributed)
    print(f"mesh: {trainer.describe()}")
    keys = jax.random.split(jax.random.PRNGKey(cfg.seed), seeds)
    runners = trainer.start_seeds(keys)  # = vmap(init)(keys): train(key) is run(init(key))
    t0 = time.perf_counter()
    fn = trainer.sweep_fn().lower(runners).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, metrics = fn(runners)
    metrics = jax.device_get(metrics)
    run_s = time.perf_counter() - t0
    run_dir = Path(out) / _process_dir(f"{cfg.name}_sweep{seeds}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    steps = (np.arange(trainer.num_updates) + 1) * trainer.steps_per_update
    for s in range(seeds):
        rows = flatten_metrics({k: v[s] for k, v in metrics.items()}, trainer.goal_names)
        rows = [{"update": i + 1, "env_steps": float(steps[i]), **r} for i, r in enumerate(rows)]
        _write_csv(run_dir / f"metrics_seed{s}.csv", rows, append=False)
    total = seeds * trainer.num_updates * trainer.steps_per_update
    final = metrics["mean_return"][:, -max(1, trainer.num_updates // 10):].mean(1)
    print(f"{seeds} seeds x {trainer.num_updates} updates: compile {compile_s:.1f}s, run {run_s:.1f}s "
          f"({total / run_s:,.0f} env steps/s)")
    print(f"final mean return per seed: {np.round(final, 3).tolist()}; "
          f"mean {final.mean():.3f} +/- {final.std():.3f}")
    if plot:
        from hopjax.plots import plot_sweep

        plot_sweep(steps, metrics["mean_return"], run_dir / "sweep.png", title=f"{cfg.name}: {seeds} seeds")
    print(f"per-seed metrics: {run_dir}/metrics_seed*.csv")
    return run_dir, metrics


def evaluate(ckpt: str | Path, episodes: int = 64, seed: int = 0, focal: int = 0) -> list[dict[str, Any]]:
    """Returns of a trained checkpoint: self-play, and seat ``focal`` next to each scripted
    co-player kind in all other seats. -> table rows (also printed)."""
    from hopjax.config import from_dict
    from hopjax.train import scripted_names, scripted_policy
    from hopjax.rollout import Rollout

    _, meta = checkpoint.load_meta(ckpt)
    cfg = from_dict(PPOConfig, meta["config"])
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
        ro = Rollout(trainer.env, trainer.env_params, trainer.policy, episodes, 0, scripted,
                     om_hook=trainer.rollout.om_hook)

        @jax.jit
        def run(key, params, om_params):
            carry = ro.reset(key)
            _, _, stats = ro.run(jax.random.fold_in(key, 1), params, carry, om_params=om_params)
            return stats

        om_params = None if runner.om is None else runner.om.params
        stats = jax.device_get(run(jax.random.PRNGKey(seed), runner.params, om_params))
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
    print(f"{'co-players':<14}{'focal':>9}{'others':>9}{'welfare':>9}")
    for r in table:
        print(f"{r['co-players']:<14}{r['focal_return']:>9.3f}{r['co-player_return']:>9.3f}{r['welfare']:>9.3f}")
    return table

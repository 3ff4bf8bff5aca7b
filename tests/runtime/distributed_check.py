"""Multi-device equality checks, run by tests/runtime/test_distributed.py in a subprocess.

JAX fixes its device count when it starts, so this runs as
``XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m tests.runtime.distributed_check OUT``
and writes JSON to OUT: the 1-device reference (a plain Trainer's Loop without a mesh, chunk by chunk), the same run
through ``experiment.train`` with its env batch split over 4 devices (interrupted and resumed,
and uninterrupted), a 4-seed sweep over a (2 seeds x 2 envs) mesh, trace counts, shardings and
compiled-program facts. The pytest side does the asserting.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np

from hopjax.runtime import distributed, experiment
from hopjax.loop import Loop
from hopjax.config import ConfigError, updated
from hopjax.algos.ppo.trainer import Trainer
from tests.test_train import TINY

SEEDS = 4


def tolist(tree):
    return jax.tree.map(lambda x: np.asarray(x).tolist(), jax.device_get(tree))


def chunks(chunk_fn, runner, n):
    """-> (final runner, metrics [n * chunk_updates, ...]) running ``chunk_fn`` n times."""
    out = []
    for _ in range(n):
        runner, m = chunk_fn(runner)
        out.append(jax.device_get(m))
    return runner, {k: np.concatenate([o[k] for o in out]) for k in out[0]}


def mesh_shapes() -> dict[str, object]:
    """``mesh_shape`` for a few (config, seeds) cases; errors as 'ConfigError: ...'."""
    cases = {
        "run": (TINY, 1),
        "run_2dev": (updated(TINY, "mesh.devices=2"), 1),
        "run_seed_devices_ignored": (updated(TINY, "mesh.seed_devices=2"), 1),
        "sweep4": (TINY, 4),
        "sweep2": (TINY, 2),
        "sweep3": (TINY, 3),
        "sweep4_sd2": (updated(TINY, "mesh.seed_devices=2"), 4),
        "too_many_devices": (updated(TINY, "mesh.devices=8"), 1),
        "envs_not_divisible": (updated(TINY, "mesh.devices=3"), 1),
        "minibatch_not_divisible": (updated(TINY, "ppo.num_minibatches=4"), 1),
        "seed_devices_not_dividing_seeds": (updated(TINY, "mesh.seed_devices=2"), 3),
        "seed_devices_not_dividing_devices": (updated(TINY, "mesh.seed_devices=3"), 3),
    }
    out: dict[str, object] = {}
    for name, (cfg, seeds) in cases.items():
        try:
            out[name] = list(distributed.mesh_shape(cfg, seeds))
        except ConfigError as e:
            out[name] = f"ConfigError: {e}"
    return out


def collectives(hlo: str) -> dict[str, int]:
    return {op: len(re.findall(rf"= [^=\n]*\b{op}(-start)?\(", hlo))
            for op in ("all-reduce", "all-gather", "collective-permute", "all-to-all")}


def main(out_path: str) -> None:
    res: dict[str, object] = {"device_count": jax.device_count()}
    res["mesh_shapes"] = mesh_shapes()

    # -- 1-device reference: a plain Trainer (eager init, as experiment.train does), its chunk
    # jitted on the default device ----------------------------------------------------------
    plain = Trainer(TINY)
    pl = Loop(plain)  # no mesh
    keys = jax.random.split(jax.random.PRNGKey(TINY.seed), SEEDS)
    ref_runner, ref = chunks(pl.chunk, plain.init(jax.random.PRNGKey(TINY.seed)), pl.num_chunks)
    res["ref"] = tolist(ref)
    res["ref_params"] = tolist(ref_runner.params)
    seed_inits = [plain.init(k) for k in keys]
    res["ref_seeds"] = [tolist(chunks(pl.chunk, r, pl.num_chunks)[1]) for r in seed_inits]
    res["plain_flops"] = pl.chunk.lower(ref_runner).compile().cost_analysis()["flops"]

    with tempfile.TemporaryDirectory() as tmp:
        # -- the env batch over 4 devices, through experiment.train: interrupted + resumed -----
        mt = Loop(Trainer(TINY), distributed.default_mesh(TINY))
        kw = dict(progress=False, plot=False, loop=mt)
        part = experiment.train(TINY, Path(tmp) / "a", max_chunks=2, **kw)
        rest = experiment.train(TINY, Path(tmp) / "a", resume=Path(tmp) / "a" / TINY.name, **kw)
        full = experiment.train(TINY, Path(tmp) / "b", **kw)
    res["sharded"] = {
        "describe": mt.describe(),
        "part_rows": len(part.rows),
        "resumed_rows": [{k: v for k, v in r.items() if k != "sps"} for r in part.rows + rest.rows],
        "full_rows": [{k: v for k, v in r.items() if k != "sps"} for r in full.rows],
        "params": tolist(rest.runner.params),
        "full_params": tolist(full.runner.params),
        "traces": mt.trace_count,
        "env_spec": str(full.runner.env.obs.sharding.spec),
        "env_devices": len({s.device for s in full.runner.env.obs.addressable_shards}),
        "env_shard_shape": list(full.runner.env.obs.addressable_shards[0].data.shape),
        "env_shape": list(full.runner.env.obs.shape),
        "params_replicated": all(x.sharding.is_fully_replicated for x in jax.tree.leaves(full.runner.params)),
        "collectives": collectives(mt._compiled.as_text()),
        "flops_per_device": mt._compiled.cost_analysis()["flops"],
    }

    # -- a 4-seed sweep over a (2 seeds x 2 envs) mesh ------------------------------------------
    cfg = updated(TINY, "mesh.seed_devices=2")
    st = Loop(Trainer(cfg), distributed.default_mesh(cfg, SEEDS), seeds=SEEDS)
    # start(keys) would compute vmap(init)(keys); the eager inits above are the same
    runners = st.place(jax.tree.map(lambda *x: np.stack(x), *jax.device_get(seed_inits)))
    fn = st.sweep_fn()
    final, m = fn(runners)
    final2, m2 = fn(runners)
    res["sweep"] = {
        "describe": st.describe(),
        "metrics": tolist(m),
        "repeat_equal": all(np.array_equal(m[k], m2[k]) for k in m),
        "traces": st.trace_count,
        "cache_size": fn._cache_size(),
        "env_spec": str(final.env.obs.sharding.spec),
        "params_spec": str(jax.tree.leaves(final.params)[0].sharding.spec),
    }
    Path(out_path).write_text(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv[1])

"""Twelfth session: three equal-results ideas for the episode-mode PPO rollout, measured side by
side before writing any of them into hopjax (none was kept: benchmarks/RESULTS.md, "Host loop
vs jitted pipeline", twelfth session).

The rollout of ``benchmarks/baseline_hostloop.py`` (configs/stag_hunt_ppo.yaml's network, 4
learner seats, 8x8 Stag-Hunt, one 35-step episode per env from a fresh reset): the scan of
``Rollout._step`` and the rows turned into [E, T+1, ...] arrays as ``hopjax.rollout.assemble``
does, jitted whole and timed call by call in alternation (median wall and process-CPU ms):

- ``as is``: what ``Rollout.run`` does (sparse first layer, uint8 planes stored);
- ``no stored obs``: the observation fields left out of the rows (what storing them costs);
- ``obs from state``: the stored planes built from each step's env state, no float observation
  carried from step to step (checked equal to ``as is``);
- ``packed bits``: the planes stored as ``jnp.packbits`` bytes (56 instead of 448 per
  agent-step; checked to unpack to ``as is``);
- ``unrolled threefry``: the run's key as a :mod:`hopjax.algos.hop.search_rng` key (the same
  draws with the hash unrolled; checked bit-identical).

    PYTHONPATH=.:benchmarks python benchmarks/results/rollout_cpu_session12/probe.py --envs 256 --rounds 9
"""

from __future__ import annotations

import argparse
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from baseline_hostloop import BASE_CFG
from common import Stopwatch, block, load, machine, print_machine

import hopjax.rollout as R
from hopjax.algos.hop import search_rng
from hopjax.algos.ppo.trainer import Trainer
from hopjax.buffers.obs import TIME


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--envs", type=int, default=256)
    p.add_argument("--rounds", type=int, default=9)
    a = p.parse_args()
    print_machine(machine())
    E = a.envs
    cfg = dataclasses.replace(BASE_CFG, num_envs=E, ppo=dataclasses.replace(BASE_CFG.ppo, num_minibatches=1))
    tr = Trainer(cfg)
    params = tr.policy.init(jax.random.PRNGKey(0))
    ro = R.Rollout(tr.env, tr.env_params, tr.policy, E, 0, sparse_obs=True)
    env, ep = ro.env, ro.env_params
    plain_row = R.Engine.step_row

    def from_state(scheme, c, actions, t, more):
        return plain_row(scheme, c.replace(obs=jax.vmap(env.get_obs, in_axes=(0, None))(c.env_state, ep)),
                         actions, t, more)

    def packed(scheme, c, actions, t, more):
        row = plain_row(scheme, c, actions, t, more)
        planes = row["data"]["obs"]
        row["data"]["obs"] = jnp.packbits(planes.reshape(*planes.shape[:2], -1) > 0, axis=-1)
        return row

    def rollout(key, params, drop=(), step_row=plain_row, carry_obs=True, wrap=False):
        k1, k2 = jax.random.split(key)
        carry = ro.reset(k1)
        zero_obs = jnp.zeros_like(carry.obs)
        g = env.num_goals(ep)
        stats0 = {"returns_sum": jnp.zeros((ro.n,)), "episodes": jnp.zeros(()), "length_sum": jnp.zeros(()),
                  "goal_counts": jnp.zeros((ro.n, g)), "goal_events": jnp.zeros((g,))}
        sparse = ro.sparse_tables(params, carry)
        plain_step = ro.engine.step
        if not carry_obs:  # the env's float observation is not kept, so XLA drops it
            carry = carry.replace(obs=zero_obs)
            ro.engine.step = lambda k, c, act: plain_step(k, c, act).replace(obs=zero_obs)
        R.Engine.step_row = staticmethod(step_row)
        try:
            def step(state, t):
                c, stats, key = state
                key, k_act, k_env = jax.random.split(key, 3)
                c, row, stats = ro._step(params, c, stats, t, k_act, k_env, None, None, sparse)
                return (c, stats, key), dict(row, data={k: v for k, v in row["data"].items() if k not in drop})
            _, rows = jax.lax.scan(step, (carry, stats0, search_rng.wrap(k2) if wrap else k2), jnp.arange(ro.T))
        finally:
            ro.engine.step, R.Engine.step_row = plain_step, staticmethod(plain_row)

        def pad(x):  # [T, E, ...] -> [E, T+1, ...], as hopjax.rollout.assemble
            x = jnp.swapaxes(x, 0, 1)
            return jnp.concatenate([x, jnp.zeros((x.shape[0], 1, *x.shape[2:]), x.dtype)], axis=1)
        return jax.tree.map(pad, rows)

    variants = {
        "as is": {},
        "no stored obs": {"drop": ("obs", TIME)},
        "obs from state": {"step_row": from_state, "carry_obs": False},
        "packed bits": {"step_row": packed},
        "unrolled threefry": {"wrap": True},
    }
    fns = {name: jax.jit(lambda k, p, kw=kw: rollout(k, p, **kw)) for name, kw in variants.items()}
    ref = fns["as is"](jax.random.PRNGKey(7), params)
    for name in ("obs from state", "unrolled threefry"):
        out = fns[name](jax.random.PRNGKey(7), params)
        same = all(bool((x == y).all()) for x, y in zip(jax.tree.leaves(ref), jax.tree.leaves(out)))
        print(f"{name}: every field equal to 'as is': {same}")
    pk = fns["packed bits"](jax.random.PRNGKey(7), params)["data"]["obs"]
    planes = ref["data"]["obs"]
    un = jnp.unpackbits(pk, axis=-1)[..., : int(np.prod(planes.shape[3:]))].reshape(planes.shape)
    print(f"packed bits: unpack to 'as is': {bool((un == planes).all())} ({pk.shape[-1]} bytes per agent-step)")
    for f in fns.values():
        block(f(jax.random.PRNGKey(0), params))
    times = {k: [] for k in fns}
    for r in range(a.rounds):
        for name, f in fns.items():
            with Stopwatch() as sw:
                block(f(jax.random.PRNGKey(r), params))
            times[name].append((sw.wall, sw.cpu))
    print(f"\n{E} envs, {a.rounds} alternating rounds, load {load():.1f}: median ms per rollout")
    base = np.median([c for _, c in times["as is"]])
    for name, ts in times.items():
        w, c = np.median([x for x, _ in ts]) * 1e3, np.median([y for _, y in ts]) * 1e3
        print(f"{name:18s} wall {w:6.1f}  CPU {c:6.1f}  CPU vs as is {c / 1e3 / base:.2f}")


if __name__ == "__main__":
    main()

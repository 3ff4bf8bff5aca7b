"""An MLP's first dense layer on sparse observations: the kernel rows of the observation's
nonzero entries gathered and summed instead of a ``prod(obs_shape) x H`` product.

Grid observations are mostly zeros (about 10 of 512 entries set on the 8x8 Stag-Hunt, plus the
walls); :meth:`hopjax.envs.base.Environment.seat_obs_sparse` lists the set entries. HOP's tree
search (:mod:`hopjax.algos.hop.planner`) and the PPO rollout (:mod:`hopjax.rollout`) evaluate
their MLPs' first layers this way; training reads dense observations. Our choice (not in any
source); equal to the dense layer up to float rounding (``tests/models/test_sparse_first_layer.py``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def sparse_table(kernel: jax.Array, obs_shape: tuple[int, ...]) -> jax.Array:
    """The ``mlp`` trunk's first dense layer as a gather table: kernel [prod(obs_shape), H] ->
    [prod(obs_shape) + C, H], the kernel's rows followed by one row per channel ``c`` of the
    last axis, the sum of that channel's rows over all cells (a whole plane of value 1).
    Computed once per set of parameters (a tree search: once per decision)."""
    c = obs_shape[-1]
    return jnp.concatenate([kernel, kernel.reshape(-1, c, kernel.shape[-1]).sum(0)], axis=0)


def sparse_first_layer(table: jax.Array, bias: jax.Array, idx: jax.Array, val: jax.Array) -> jax.Array:
    """``obs.reshape(-1) @ kernel + bias`` from sparse entries (idx [..., P] int32, val [..., P]
    float32; :meth:`hopjax.envs.base.Environment.seat_obs_sparse`) and :func:`sparse_table`
    -> pre-activation [..., H] float32: ``sum_p val[p] * table[idx[p]] + bias``, P rows read
    instead of a ``prod(obs_shape) x H`` product. The same first layer (our choice), summed in
    another order: equal up to float rounding. The sum over P is unrolled (one gather per
    entry, P static): XLA's CPU backend fuses that into one loop, where ``sum(table[idx], -2)``
    materialises all P x H gathered rows first, which made it slower than the dense product
    (benchmarks/RESULTS.md, "fourth pass")."""
    return sum((val[..., p, None] * table[idx[..., p]] for p in range(idx.shape[-1])), bias)

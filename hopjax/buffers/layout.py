"""Batch-major <-> time-major: the one place that swaps an episode's batch and time axes.

An :class:`~hopjax.buffers.episode.EpisodeBatch` stores ``[B, T+1, ...]`` (PyMARL's layout,
oxwhirl/pymarl, src/components/episode_buffer.py); scans over time and the losses want
``[T+1, B, ...]``. Swapping axes 0 and 1 is its own inverse, so :func:`swap_batch_time` serves
both directions.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from hopjax.buffers.episode import EpisodeBatch, valid_mask
from hopjax.buffers.masked import select
from hopjax.buffers.obs import decode_fields


def swap_batch_time(tree: Any) -> Any:
    """Every leaf ``[B, T, ...] <-> [T, B, ...]`` (axes 0 and 1 swapped; its own inverse)."""
    return jax.tree.map(lambda v: jnp.swapaxes(v, 0, 1), tree)


def time_major(batch: EpisodeBatch, select_invalid: bool = True, decode_obs: bool = True) -> dict[str, jax.Array]:
    """The per-step fields of ``batch`` as ``[T+1, B, ...]`` plus ``valid`` ``[T+1, B, N]``
    (filled x alive); episode-constant fields (``[B, ...]``) are left out.

    ``select_invalid``: per-agent float fields (observations, policy features) are 0 at invalid
    entries (padding, dead agents), selected before any network sees them, so NaN/inf there
    reaches neither a model's outputs nor its gradients; integer fields are kept as stored (a
    dead co-player's last action is a legitimate model input). ``False``: every field as stored.

    ``decode_obs``: compactly stored observations (:mod:`hopjax.buffers.obs`) come back as
    float32 ``obs`` [T+1, B, N, H, W, C]; ``False``: as stored (``obs`` uint8 planes and
    ``obs_time``), for a consumer that decodes where it uses them.
    """
    valid = jnp.swapaxes(valid_mask(batch), 0, 1)
    d = {}
    for k, v in batch.data.items():
        f = batch.scheme.field(k)
        if f.episode_const:
            continue
        d[k] = jnp.swapaxes(v, 0, 1)
    if decode_obs:
        d = decode_fields(d)
    if select_invalid:
        for k, v in d.items():
            f = batch.scheme.field(k)
            if f.group == "agents" and jnp.issubdtype(v.dtype, jnp.floating):
                d[k] = select(valid, v)
    d["valid"] = valid
    return d

"""Compact observation storage: grid observations stored in their smallest exact form.

A grid world's observation (:func:`hopjax.envs._grid.build_obs`) is ``[N, H, W, C]`` float32
whose channels are 0/1 planes (players, walls, entities; zeros for a dead agent) and, with
``time_channel``, a last plane that is one constant ``t / max_steps`` (0 for a dead agent).
Stored as float32 that is ``4 H W C`` bytes per agent-step; here it is stored exactly as

* ``obs``       uint8   ``[..., H, W, C']`` - the 0/1 planes (``C' = C - time_channel``);
* ``obs_time``  float32 ``[...]``           - the time plane's value (only with a time plane),

a quarter of the bytes (less for the time plane), and :func:`decode` builds the float32
observation where a network uses it. ``decode(encode(obs)) == obs`` bit for bit for every
observation built by ``build_obs`` (our choice of layout; tested in tests/buffers/test_obs.py).
Any other env keeps float32 ``obs`` unchanged (:func:`obs_fields` decides from the params).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hopjax.buffers.episode import Field, Scheme

TIME = "obs_time"
PLANES = jnp.uint8


def is_compact(env_params: Any) -> bool:
    """True for the grid worlds (``GridParams``), whose observations :func:`encode` stores exactly."""
    from hopjax.envs.params import GridParams

    return isinstance(env_params, GridParams)


def obs_fields(obs_shape: tuple[int, ...], env_params: Any, group: str = "agents") -> dict[str, Field]:
    """The EpisodeBatch fields that store observations of ``obs_shape`` ([H, W, C] per agent)."""
    if not is_compact(env_params):
        return {"obs": Field(tuple(obs_shape), jnp.float32, group)}
    h, w, c = obs_shape
    t = int(env_params.time_channel)
    fields = {"obs": Field((h, w, c - t), PLANES, group)}
    if t:
        fields[TIME] = Field((), jnp.float32, group)
    return fields


def stored_compact(scheme: Scheme) -> bool:
    """Whether ``scheme`` stores ``obs`` as uint8 planes (then :func:`decode` rebuilds it)."""
    return "obs" in scheme.field_names and np.dtype(scheme.field("obs").dtype) == np.dtype(PLANES)


def encode(scheme: Scheme, obs: jax.Array) -> dict[str, jax.Array]:
    """float32 obs ``[..., H, W, C]`` -> the fields ``scheme`` stores (``obs`` [, ``obs_time``])."""
    if not stored_compact(scheme):
        return {"obs": obs}
    c = scheme.field("obs").shape[-1]
    out = {"obs": obs[..., :c].astype(PLANES)}
    if TIME in scheme.field_names:
        out[TIME] = obs[..., 0, 0, c]
    return out


def decode(planes: jax.Array, time: jax.Array | None) -> jax.Array:
    """uint8 planes ``[..., H, W, C']`` and time ``[...]`` (or None) -> float32 ``[..., H, W, C]``;
    float32 ``planes`` (an env that is stored as is) pass through."""
    if planes.dtype != PLANES:
        return planes
    x = planes.astype(jnp.float32)
    if time is None:
        return x
    plane = jnp.broadcast_to(time[..., None, None, None], (*x.shape[:-1], 1)).astype(jnp.float32)
    return jnp.concatenate([x, plane], axis=-1)


def decode_fields(d: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """A field dict (batch- or time-major) with ``obs`` as float32 and ``obs_time`` removed."""
    if "obs" not in d or d["obs"].dtype != PLANES:
        return d
    out = dict(d)
    out["obs"] = decode(out["obs"], out.pop(TIME, None))
    return out

"""Masked statistics over fixed-shape episode arrays (replace PyMARL's trim-then-reduce).

Masks broadcast *from the left*: a mask ``[B, T, N]`` applies to ``x`` ``[B, T, N, *rest]``
(trailing singleton axes are appended to the mask), and ordinary NumPy broadcasting then
applies. Masked-out entries are excluded with ``where`` (not multiplied), so NaN/inf in
padding never leaks into these statistics or their gradients with respect to ``x``.

That is not enough for a statistic of a *computed* ``x``: in
``masked_mean((pred - target) ** 2, mask)`` a NaN target in a padded entry leaves the mean
finite, but the backward pass multiplies that entry's zero cotangent by ``2 (pred - target)``
and ``0 * nan = nan`` reaches ``pred``'s gradient. Every loss therefore selects its *inputs*
with :func:`select` before it computes (the "double where"), so that neither the forward nor
the backward pass ever touches a padded value.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Axis = int | tuple[int, ...] | None


def _align(x: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, mask = jnp.asarray(x), jnp.asarray(mask)
    if mask.ndim > x.ndim:
        raise ValueError(f"mask has more axes ({mask.shape}) than x ({x.shape})")
    mask = mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)).astype(bool)
    try:
        shape = jnp.broadcast_shapes(x.shape, mask.shape)
    except ValueError as e:
        raise ValueError(f"mask {mask.shape} does not broadcast against x {x.shape}") from e
    return jnp.broadcast_to(x, shape), jnp.broadcast_to(mask, shape)


def select(mask: jax.Array, x: jax.Array, safe=0) -> jax.Array:
    """``x`` where ``mask`` is True, else the finite constant ``safe`` (cast to ``x.dtype``).

    The input-side guard of every masked computation: apply it to the inputs of a loss or
    statistic (and to a network's inputs), not to its result. ``mask`` broadcasts from the
    left like the statistics here; the result has the broadcast shape (``x``'s shape when the
    mask fits into it). Where ``mask`` is False the gradient with respect to ``x`` is exactly 0.
    """
    x, mask = _align(x, mask)
    return jnp.where(mask, x, jnp.asarray(safe, x.dtype))


def masked_sum(x: jax.Array, mask: jax.Array, axis: Axis = None) -> jax.Array:
    """Sum of ``x`` over ``axis`` where ``mask`` is True."""
    x, mask = _align(x, mask)
    return jnp.sum(jnp.where(mask, x, jnp.zeros((), x.dtype)), axis=axis)


def masked_count(x: jax.Array, mask: jax.Array, axis: Axis = None) -> jax.Array:
    """Number of unmasked entries of ``x`` over ``axis`` (float32)."""
    x, mask = _align(x, mask)
    return jnp.sum(mask, axis=axis, dtype=jnp.float32)


def masked_mean(x: jax.Array, mask: jax.Array, axis: Axis = None) -> jax.Array:
    """Mean of ``x`` over ``axis`` where ``mask`` is True; 0 where nothing is unmasked."""
    x, mask = _align(x, mask)
    x = x.astype(jnp.result_type(x.dtype, jnp.float32))
    total = jnp.sum(jnp.where(mask, x, 0), axis=axis)
    count = jnp.sum(mask, axis=axis, dtype=total.dtype)
    return jnp.where(count > 0, total / jnp.maximum(count, 1), 0)


def masked_returns(reward: jax.Array, mask: jax.Array) -> jax.Array:
    """Per-agent undiscounted return ``[B, N]`` from reward and mask ``[B, T, N]``.

    ``T`` may be ``T`` or ``T+1`` but must match between the two. A shared reward ``[B, T]``
    or ``[B, T, 1]`` is broadcast over agents; a trailing singleton ``[B, T, N, 1]`` is dropped.
    """
    reward, mask = jnp.asarray(reward), jnp.asarray(mask)
    if reward.ndim == 4 and reward.shape[-1] == 1:
        reward = reward[..., 0]
    if reward.ndim == 2:
        reward = reward[..., None]
    if reward.ndim != 3 or mask.ndim != 3 or reward.shape[:2] != mask.shape[:2]:
        raise ValueError(f"masked_returns: need reward/mask [B, T, N], got {reward.shape} and {mask.shape}")
    return masked_sum(reward, mask, axis=1)


def transition_mask(
    filled: jax.Array, terminated: jax.Array, alive: jax.Array | None = None
) -> jax.Array:
    """PyMARL's learner mask without trimming: ``[B, T]`` (or ``[B, T, N]`` with ``alive``).

    Step ``t`` is a transition when it is filled, the next step is filled (it holds the
    successor observation) and the previous step did not terminate:
    ``m[:, t] = filled[:, t] & filled[:, t+1] & ~terminated[:, t-1]``. PyMARL computes
    ``m = filled[:, :-1]; m[:, 1:] *= 1 - terminated[:, :-1]`` on the batch trimmed to
    ``max_t_filled``, where the trimming drops the successor-less last step of the longest
    episode; on PyMARL-consistent data (an episode ending before step ``T`` is terminated at
    its last transition) both masks are equal. ``filled`` is ``[B, T+1]``, ``terminated``
    ``[B, T+1]`` (or ``[B, T+1, 1]``); with ``alive`` ``[B, T+1, N]`` the result is also
    ``& alive[:, :-1]``.
    """
    filled = jnp.asarray(filled).astype(bool)
    term = jnp.asarray(terminated)
    if term.ndim == filled.ndim + 1 and term.shape[-1] == 1:
        term = term[..., 0]
    if term.shape != filled.shape:
        raise ValueError(f"transition_mask: terminated {term.shape} vs filled {filled.shape}")
    term = term.astype(bool)
    m = filled[:, :-1] & filled[:, 1:]
    m = m.at[:, 1:].set(m[:, 1:] & ~term[:, :-2])
    if alive is not None:
        m = m[..., None] & jnp.asarray(alive).astype(bool)[:, :-1]
    return m

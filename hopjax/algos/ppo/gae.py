"""Generalised advantage estimation with per-agent termination, truncation and padding.

Conventions (time axis first, ``T`` steps, any batch axes ``...``):

- ``reward[t]``, ``value[t]``: reward after the action at ``t`` and the value of ``obs[t]``.
- ``value[T]`` (one extra step): value of the observation after the last step, the bootstrap
  for a segment cut by the rollout length.
- ``terminated[t]``: the agent left the game at step ``t`` (its own termination, or the
  episode terminated by the rules): no bootstrap and no flow of advantage across ``t``.
- ``episode_end[t]``: the env's episode ended after step ``t`` (terminated or truncated) and
  the next stored step belongs to a new episode (auto-reset) or to padding.
- ``bootstrap_value[t]``: value of the final observation where ``episode_end[t]``; at a
  truncation this is what the agent still expected to earn, so it is bootstrapped.
- ``valid[t]``: the entry exists (env filled and agent alive at ``t``); advantages and returns
  are zero elsewhere, and nothing flows out of invalid entries: NaN/inf in an invalid entry's
  reward, value or bootstrap value changes neither the results nor their gradients.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hopjax.buffers.masked import select


def gae(
    reward: jax.Array,
    value: jax.Array,
    terminated: jax.Array,
    episode_end: jax.Array,
    bootstrap_value: jax.Array,
    valid: jax.Array,
    gamma: float,
    lam: float,
) -> tuple[jax.Array, jax.Array]:
    """-> (advantages [T, ...], returns [T, ...]).

    reward, terminated, bootstrap_value, valid: [T, ...]; value: [T+1, ...];
    episode_end: [T, ...] (broadcastable, e.g. [T, B, 1] against [T, B, N]).
    """
    f32 = jnp.float32
    valid = jnp.asarray(valid).astype(bool)
    terminated = jnp.asarray(terminated).astype(bool)
    episode_end = jnp.broadcast_to(episode_end, reward.shape)
    # Select before computing: padded/dead rewards and values, and the successor values that a
    # termination or a padded step never reads, may hold NaN/inf (see hopjax.buffers.masked).
    reward = select(valid, reward)
    value_now = select(valid, value[:-1])
    next_value = jnp.where(episode_end, bootstrap_value, value[1:])
    next_value = select(valid & ~terminated, next_value)
    not_term = 1.0 - terminated.astype(f32)
    delta = reward + gamma * not_term * next_value - value_now
    cont = gamma * lam * not_term * (1.0 - episode_end.astype(f32))

    def back(next_adv, inp):
        d, c, v = inp
        adv = jnp.where(v, d + c * next_adv, 0.0)
        return adv, adv

    _, adv = jax.lax.scan(
        back, jnp.zeros_like(reward[0]), (delta, cont, valid), reverse=True
    )
    returns = select(valid, adv + value_now)
    return adv, returns

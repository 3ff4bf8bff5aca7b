"""Environment wrappers (pure functions, like the environments they wrap)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from hopjax.envs.base import Dones, Environment


@struct.dataclass
class ResetPool:
    """Reset states drawn ahead for :meth:`AutoReset.step_pooled` (P entries, one batch-wide).

    state: env state pytree [P, ...] (``env.reset`` with P distinct fresh keys)
    obs: [P, N, *obs_shape] float32      avail: [P, N, A] bool      alive: [P, N] bool
    taken: [P] bool, entries handed out since the last refill (always a prefix: entries are
        handed out in order). Every leaf has the leading axis P, so the pool shards over envs
        like the rest of a rollout carry.
    """

    state: Any
    obs: jax.Array
    avail: jax.Array
    alive: jax.Array
    taken: jax.Array

    @property
    def size(self) -> int:
        return self.taken.shape[0]


class AutoReset(Environment):
    """Resets finished episodes inside ``step``.

    ``step`` runs the wrapped env's step; where the episode ended (``dones.episode``), the
    returned obs/state are those of a fresh ``reset`` (drawn from a split of ``key``), while

    - ``rewards`` and ``dones`` are those of the finishing step (so learners see the ending),
    - ``info["final_obs"]`` holds the true next observation (the terminal one where it ended),
    - ``info["final_dones"]`` is a copy of the finishing step's ``Dones``,
    - ``info["final_alive"]`` / ``info["final_avail_actions"]`` describe the terminal state,
    - ``info["avail_actions"]`` / ``info["alive"]`` describe the returned (reset) state,
    - ``info["goal"]`` is the goal achieved in the finishing step.
    Every other method of :class:`~hopjax.envs.base.Environment` is the wrapped env's.

    ``step`` (one env, ``vmap`` it) computes a fresh reset at every step and keeps it where the
    episode ended: under ``vmap`` every env pays a whole reset (for Stag-Hunt a wall-sampling
    ``while_loop`` with a flood fill) at every step. :meth:`step_pooled` (E envs at once) gives
    the same outputs but takes the ended envs' next states from a :class:`ResetPool` of reset
    states drawn ahead (:meth:`init_pool`), refilled (P fresh resets in one batched call) only
    when the entries left are fewer than the envs that ended; so the resets cost what they cost
    when they happen, about one per ended episode (our design: the HOP code resets one
    RLlib env object at a time, so it has no batched auto-reset to follow).
    """

    def __init__(self, env: Environment):
        self.env = env
        self.name = f"AutoReset({env.name})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AutoReset) and other.env == self.env

    def __hash__(self) -> int:
        return hash(("AutoReset", self.env))

    def __repr__(self) -> str:
        return f"AutoReset({self.env!r})"

    def default_params(self, **overrides: Any) -> Any:
        return self.env.default_params(**overrides)

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        return self.env.reset(key, params)

    def step(self, key, state, actions, params):
        k_step, k_reset = jax.random.split(key)
        obs, st, rewards, dones, info = self.env.step(k_step, state, actions, params)
        obs_r, st_r = self.env.reset(k_reset, params)
        done = dones.episode
        new_state = jax.tree_util.tree_map(lambda r, s: jnp.where(done, r, s), st_r, st)
        new_obs = jnp.where(done, obs_r, obs)
        out = _final_info(info, obs, dones)
        out["avail_actions"] = jnp.where(
            done, self.env.avail_actions(st_r, params), info["avail_actions"]
        )
        out["alive"] = jnp.where(done, self.env.alive(st_r, params), info["alive"])
        return new_obs, new_state, rewards, dones, out

    def init_pool(self, key: jax.Array, params: Any, size: int) -> ResetPool:
        """A full :class:`ResetPool` of ``size`` entries (``size`` >= the env count E of
        :meth:`step_pooled`: all E envs may end in the same step)."""
        if size < 1:
            raise ValueError(f"reset pool size must be >= 1, got {size}")
        return self.refill(key, params, size)

    def refill(self, key: jax.Array, params: Any, size: int) -> ResetPool:
        """A pool of ``size`` fresh ``env.reset`` draws (keys ``split(key, size)``)."""
        obs, state = jax.vmap(self.env.reset, in_axes=(0, None))(jax.random.split(key, size), params)
        return ResetPool(state=state, obs=obs, taken=jnp.zeros((size,), bool),
                         avail=jax.vmap(self.env.avail_actions, in_axes=(0, None))(state, params),
                         alive=jax.vmap(self.env.alive, in_axes=(0, None))(state, params))

    def step_pooled(self, key, state, actions, params, pool: ResetPool):
        """E envs at once: ``state`` [E, ...], ``actions`` [E, N] -> (obs [E, N, ...], state,
        rewards [E, N], dones (fields [E, ...]), info (as :meth:`step`, [E, ...]), pool).

        ``key`` splits into the env steps' keys and the refill's. Ended envs take the next unused
        pool entries in env order; if fewer than their number are left, the pool is first refilled (a
        ``lax.cond``: a real branch under ``jit``, but both sides run where an outer ``vmap``
        batches the pool, e.g. over seeds). Each entry is used at most once and entries are
        i.i.d. ``env.reset`` draws assigned by count alone, so every new episode starts from
        an independent fresh reset, as with :meth:`step` (in distribution, not bit for bit).
        Raises ValueError (at trace time) if the pool has fewer entries than E.
        """
        e = actions.shape[0]
        if pool.size < e:
            raise ValueError(f"reset pool has {pool.size} entries, fewer than the {e} envs")
        k_step, k_refill = jax.random.split(key)
        obs, st, rewards, dones, info = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(k_step, e), state, actions, params)
        done = dones.episode  # [E]
        n_done = jnp.sum(done, dtype=jnp.int32)
        used = jnp.sum(pool.taken, dtype=jnp.int32)
        pool, used = jax.lax.cond(used + n_done > pool.size,
                                  lambda p: (self.refill(k_refill, params, p.size), jnp.int32(0)),
                                  lambda p: (p, used), pool)
        slot = jnp.where(done, used + jnp.cumsum(done, dtype=jnp.int32) - 1, 0)

        def pick(fresh, old):
            d = done.reshape(-1, *([1] * (old.ndim - 1)))
            return jnp.where(d, fresh[slot], old)

        out = _final_info(info, obs, dones)
        out["avail_actions"] = pick(pool.avail, info["avail_actions"])
        out["alive"] = pick(pool.alive, info["alive"])
        new_state = jax.tree_util.tree_map(pick, pool.state, st)
        taken = jnp.arange(pool.size) < used + n_done
        return pick(pool.obs, obs), new_state, rewards, dones, out, pool.replace(taken=taken)

    def get_obs(self, state, params):
        return self.env.get_obs(state, params)

    def seat_obs(self, state, params, seats):
        return self.env.seat_obs(state, params, seats)

    def sparse_obs_size(self, params):
        return self.env.sparse_obs_size(params)

    def seat_obs_sparse(self, state, params, seats):
        return self.env.seat_obs_sparse(state, params, seats)

    def obs_const_sparse(self, state, params):
        return self.env.obs_const_sparse(state, params)

    def obs_const_dense(self, state, params):
        return self.env.obs_const_dense(state, params)

    def avail_actions(self, state, params):
        return self.env.avail_actions(state, params)

    def alive(self, state, params):
        return self.env.alive(state, params)

    def goal_positions(self, state, params):
        return self.env.goal_positions(state, params)

    def goals_present(self, state, params):
        return self.env.goals_present(state, params)

    def agent_positions(self, state, params):
        return self.env.agent_positions(state, params)

    def action_names(self, params=None):
        return self.env.action_names(params)

    def observation_shape(self, params):
        return self.env.observation_shape(params)

    def num_actions(self, params):
        return self.env.num_actions(params)

    def num_agents(self, params):
        return self.env.num_agents(params)

    def goal_names(self, params):
        return self.env.goal_names(params)

    def render(self, state, params, *args, **kwargs):
        return self.env.render(state, params, *args, **kwargs)

    def episode_length(self, params):
        return self.env.episode_length(params)


def _final_info(info: dict, obs: jax.Array, dones: Dones) -> dict:
    """The finishing step's info plus its terminal obs / dones / alive / avail_actions."""
    out = dict(info)
    out["final_obs"] = obs
    out["final_dones"] = Dones(agents=dones.agents, terminated=dones.terminated, truncated=dones.truncated)
    out["final_alive"] = info["alive"]
    out["final_avail_actions"] = info["avail_actions"]
    return out


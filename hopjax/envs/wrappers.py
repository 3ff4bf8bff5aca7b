"""Environment wrappers (pure functions, like the environments they wrap)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from hopjax.envs.base import Dones, Environment


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
        out = dict(info)
        out["final_obs"] = obs
        out["final_dones"] = Dones(
            agents=dones.agents, terminated=dones.terminated, truncated=dones.truncated
        )
        out["final_alive"] = info["alive"]
        out["final_avail_actions"] = info["avail_actions"]
        out["avail_actions"] = jnp.where(
            done, self.env.avail_actions(st_r, params), info["avail_actions"]
        )
        out["alive"] = jnp.where(done, self.env.alive(st_r, params), info["alive"])
        return new_obs, new_state, rewards, dones, out

    def get_obs(self, state, params):
        return self.env.get_obs(state, params)

    def avail_actions(self, state, params):
        return self.env.avail_actions(state, params)

    def alive(self, state, params):
        return self.env.alive(state, params)

    def goal_positions(self, state, params):
        return self.env.goal_positions(state, params)

    def goals_present(self, state, params):
        return self.env.goals_present(state, params)

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

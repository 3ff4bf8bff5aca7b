"""The functional environment API every hopjax environment follows.

An environment is a stateless object whose methods are pure functions of explicit state:

- ``reset(key, params) -> (obs, state)``
- ``step(key, state, actions, params) -> (obs, state, rewards, dones, info)``

Shapes (``N`` agents, ``A`` actions, ``G`` goals):

- ``obs``: ``[N, *obs_shape]`` float32; a dead agent's observation is all zeros.
- ``actions``: ``[N]`` int32; a dead agent's action is ignored.
- ``rewards``: ``[N]`` float32; zero for agents that were already dead before the step.
- ``dones``: :class:`Dones` (per-agent termination plus episode-level termination/truncation).
- ``info``: dict with at least
  ``"goal": [N] int32`` (goal achieved at this step, ``-1`` for none),
  ``"avail_actions": [N, A] bool`` (for the returned ``obs``) and
  ``"alive": [N] bool`` (who is still in the game in the returned state).

``params`` is a frozen pytree: fields that fix array shapes (grid size, agent count, entity
counts, episode length) are static (``pytree_node=False``); reward values are leaves.
``step`` never resets; auto-reset is :class:`hopjax.envs.wrappers.AutoReset`.
"""

from __future__ import annotations

import abc
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Dones:
    """Termination flags returned by ``step``.

    agents:     [N] bool - agent has left the game (terminated) at or before this step.
    terminated: [] bool - the episode ended by the rules (all agents done / nothing left).
    truncated:  [] bool - the time limit was reached before the episode terminated.
    """

    agents: jax.Array
    terminated: jax.Array
    truncated: jax.Array

    @property
    def episode(self) -> jax.Array:
        """[] bool: the episode is over, by the rules or by the time limit."""
        return jnp.logical_or(self.terminated, self.truncated)


class Environment(abc.ABC):
    """Base class: subclasses implement the pure functions; no method keeps Python state."""

    name: str = "environment"

    @abc.abstractmethod
    def default_params(self, **overrides: Any) -> Any:
        """A params pytree with the documented defaults, overridden by keyword."""

    @abc.abstractmethod
    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        """-> (obs [N, *obs_shape], state)."""

    @abc.abstractmethod
    def step(
        self, key: jax.Array, state: Any, actions: jax.Array, params: Any
    ) -> tuple[jax.Array, Any, jax.Array, Dones, dict[str, jax.Array]]:
        """-> (obs [N, *obs_shape], state, rewards [N], dones, info)."""

    @abc.abstractmethod
    def avail_actions(self, state: Any, params: Any) -> jax.Array:
        """[N, A] bool: actions each agent may take in ``state`` (dead agents: only no-op)."""

    @abc.abstractmethod
    def observation_shape(self, params: Any) -> tuple[int, ...]:
        """Per-agent observation shape."""

    @abc.abstractmethod
    def num_actions(self, params: Any) -> int:
        """Size A of the discrete action space."""

    @abc.abstractmethod
    def num_agents(self, params: Any) -> int:
        """Number of agents N."""

    @abc.abstractmethod
    def goal_names(self, params: Any) -> tuple[str, ...]:
        """Names of the G goals (``info["goal"]`` indexes this tuple; -1 is 'none')."""

    @abc.abstractmethod
    def render(self, state: Any, params: Any) -> jax.Array:
        """uint8 RGB image [H, W, 3] of ``state``."""

    def num_goals(self, params: Any) -> int:
        return len(self.goal_names(params))

    def episode_length(self, params: Any) -> int:
        """Time limit T of one episode."""
        return int(params.max_steps)

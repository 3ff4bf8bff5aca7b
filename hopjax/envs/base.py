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
import numpy as np
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
    """Base class: subclasses implement the pure functions; no method keeps Python state.

    This is the whole interface algorithms use: they call these methods and never inspect a
    state's type or fields. Methods taking ``state`` work on one unbatched state (``jax.vmap``
    them over envs) and are jittable; ``params`` is the env's params pytree.
    """

    name: str = "environment"

    @abc.abstractmethod
    def default_params(self, **overrides: Any) -> Any:
        """A params pytree with the documented defaults, overridden by keyword (ValueError
        naming an unknown key)."""

    @abc.abstractmethod
    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        """-> (obs [N, *obs_shape] float32, state)."""

    @abc.abstractmethod
    def step(
        self, key: jax.Array, state: Any, actions: jax.Array, params: Any
    ) -> tuple[jax.Array, Any, jax.Array, Dones, dict[str, jax.Array]]:
        """-> (obs [N, *obs_shape] float32, state, rewards [N] float32, dones, info) (see the
        module docstring)."""

    @abc.abstractmethod
    def get_obs(self, state: Any, params: Any) -> jax.Array:
        """[N, *obs_shape] float32: every agent's observation of ``state`` (what ``reset`` and
        ``step`` return with it; a dead agent's is all zeros)."""

    def seat_obs(self, state: Any, params: Any, seats: jax.Array | None) -> jax.Array:
        """[K, *obs_shape] float32: the observations of the seats ``seats`` ([K] int; None: all
        N), equal to ``get_obs(state, params)[seats]``. Grid envs build only those rows (a tree
        search needs one or N-1 of them per node); this default slices ``get_obs``."""
        obs = self.get_obs(state, params)
        return obs if seats is None else obs[seats]

    def sparse_obs_size(self, params: Any) -> int:
        """P, the entries per seat of :meth:`seat_obs_sparse`; 0 (this default): the env has no
        sparse form and callers use :meth:`seat_obs`."""
        return 0

    def seat_obs_sparse(self, state: Any, params: Any, seats: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The observations of the seats ``seats`` [K] as sparse entries (envs with
        ``sparse_obs_size(params) > 0``), less the part that stays constant within an episode
        (:meth:`obs_const_sparse`): (idx [K, P] int32, val [K, P] float32) over
        ``prod(obs_shape) + C`` rows - index ``i < prod(obs_shape)`` is the flat (row-major)
        observation index, ``prod(obs_shape) + c`` the whole plane of the last axis' channel
        ``c`` (every cell of it). Adding ``val`` at ``idx`` into zeros (the plane rows to all
        their cells), then ``obs_const_sparse``'s entries for live seats, gives
        ``seat_obs(state, params, seats)`` exactly. Entries with value 0 are padding. Raises
        NotImplementedError where there is no sparse form."""
        raise NotImplementedError(f"{type(self).__name__} has no sparse observations")

    def obs_const_sparse(self, state: Any, params: Any) -> tuple[jax.Array, jax.Array]:
        """The entries of every live seat's observation that stay the same for the whole
        episode (e.g. walls): (idx [M] int32, val [M] float32) in :meth:`seat_obs_sparse`'s
        index space, read once per episode or search. This default: none (M = 0)."""
        return jnp.zeros((0,), jnp.int32), jnp.zeros((0,), jnp.float32)

    def obs_const_dense(self, state: Any, params: Any) -> jax.Array:
        """:meth:`obs_const_sparse`'s entries as a dense observation [*obs_shape] float32 (what
        every live seat's observation holds that stays the same for the whole episode; one
        product with a first layer's kernel gives their share of it). This default adds the
        sparse entries into zeros (a plane entry to every cell of its channel); grid envs place
        their wall mask directly."""
        shape = tuple(self.observation_shape(params))
        size, c = int(np.prod(shape)), shape[-1]
        idx, val = self.obs_const_sparse(state, params)
        flat = jnp.zeros((size + c,), jnp.float32).at[idx].add(val)
        return flat[:size].reshape(shape) + flat[size:]

    @abc.abstractmethod
    def avail_actions(self, state: Any, params: Any) -> jax.Array:
        """[N, A] bool: actions each agent may take in ``state`` (dead agents: only no-op)."""

    @abc.abstractmethod
    def alive(self, state: Any, params: Any) -> jax.Array:
        """[N] bool: agents still in the game in ``state`` (``info["alive"]`` of the step that
        produced it)."""

    @abc.abstractmethod
    def goal_positions(self, state: Any, params: Any) -> jax.Array:
        """[G, 2] int32 (row, col) cell of every goal, in ``goal_names`` order; a goal that
        is no longer present keeps its last cell (see :meth:`goals_present`)."""

    def agent_positions(self, state: Any, params: Any) -> jax.Array:
        """[N, 2] int32 (row, col) cell of every agent (a departed one keeps its last cell).
        Needed by HOP's ``inter_om_pooling: rank`` and ``inter_om_labels`` /
        ``goal_model_labels: reached``; grid envs implement it.

        Raises NotImplementedError for envs without cells."""
        raise NotImplementedError(f"{type(self).__name__} has no agent cells (agent_positions), "
                                  "which HOP's inter_om_pooling: rank and inter_om_labels / goal_model_labels: "
                                  "reached need")

    @abc.abstractmethod
    def goals_present(self, state: Any, params: Any) -> jax.Array:
        """[G] bool: goals still reachable in ``state``, in ``goal_names`` order."""

    @abc.abstractmethod
    def observation_shape(self, params: Any) -> tuple[int, ...]:
        """Per-agent observation shape."""

    @abc.abstractmethod
    def num_actions(self, params: Any) -> int:
        """Size A of the discrete action space."""

    @abc.abstractmethod
    def action_names(self, params: Any = None) -> tuple[str, ...]:
        """The A action names, in action-index order."""

    @abc.abstractmethod
    def num_agents(self, params: Any) -> int:
        """Number of agents N."""

    @abc.abstractmethod
    def goal_names(self, params: Any) -> tuple[str, ...]:
        """Names of the G goals (``info["goal"]`` indexes this tuple; -1 is 'none')."""

    @abc.abstractmethod
    def render(self, state: Any, params: Any) -> jax.Array:
        """uint8 RGB image [H, W, 3] of ``state`` (H, W in pixels)."""

    def num_goals(self, params: Any) -> int:
        """Number of goals G (``len(goal_names(params))``)."""
        return len(self.goal_names(params))

    def episode_length(self, params: Any) -> int:
        """Time limit T of one episode."""
        return int(params.max_steps)

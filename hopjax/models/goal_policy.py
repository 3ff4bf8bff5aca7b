"""HOP's two networks: the goal-conditioned co-player policy and the focal planner net.

- :class:`GoalPolicy` models any agent's action given *its own* egocentric observation and a
  goal: ``pi(a | o, g)``. Its first layer is split into an observation part and a goal part
  (``h = act(W_o o + W_g onehot(g) + b)``), so the likelihood of an observed action under all
  ``G`` goals - what the intra-OM belief update needs at every step - costs one observation
  projection, not ``G`` forward passes. The extra "no target" goal (index ``G``) is not learned:
  it is the uniform choice among the available non-interact actions (HOP: Huang et al., ICML
  2024: a co-player without a target makes a random non-interact move, like the ``fix`` player
  of the HOP code, ``policy/fixed_policy.py``).
- :class:`PlannerNet` is the focal agent's policy/value network: MCTS prior and leaf value,
  trained AlphaZero-style (``hopjax.algos.hop``).

Sources and divergences: the HOP code's co-player model and planner net use a conv trunk
(16-32-32, 3x3) + time + goal -> FC 512; hopjax uses an MLP over the flattened observation (the
time step is the observation's ``t / max_steps`` channel) with configurable ``hidden_sizes``,
which is far cheaper inside a CPU tree search (our choice).
Both networks are shared across seats: observations are egocentric (channel 0 is "me"), so one
network serves every seat (the HOP code keeps one model per co-player).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from hopjax.envs import NUM_MOVES
from hopjax.models.policy import _ACTIVATIONS, MASKED_LOGIT, ActorCritic


class _GoalNet(nn.Module):
    """obs_flat [..., D], goal_onehot [..., G] (or the identity [G, G] with ``all_goals``) ->
    logits [..., A] (or [..., G, A])."""

    num_actions: int
    hidden_sizes: Sequence[int]
    activation: str

    @nn.compact
    def __call__(self, obs_flat: jax.Array, goal_onehot: jax.Array, all_goals: bool = False):
        act = _ACTIVATIONS[self.activation]
        init = nn.initializers.orthogonal
        h_obs = nn.Dense(self.hidden_sizes[0], kernel_init=init(np.sqrt(2)), name="obs_in")(obs_flat)
        h_goal = nn.Dense(self.hidden_sizes[0], use_bias=False, kernel_init=init(np.sqrt(2)),
                          name="goal_in")(goal_onehot)
        h = h_obs[..., None, :] + h_goal if all_goals else h_obs + h_goal
        h = act(h)
        for i, size in enumerate(self.hidden_sizes[1:]):
            h = act(nn.Dense(size, kernel_init=init(np.sqrt(2)), name=f"hidden_{i}")(h))
        return nn.Dense(self.num_actions, kernel_init=init(0.01), name="logits")(h)


def _masked_log_softmax(logits: jax.Array, avail: jax.Array) -> jax.Array:
    return jax.nn.log_softmax(jnp.where(avail, logits, MASKED_LOGIT), axis=-1)


def none_log_probs(avail: jax.Array) -> jax.Array:
    """The "no target" policy: uniform over available non-interact actions.

    avail [..., A] bool -> log-probabilities [..., A] (-inf where the probability is 0)."""
    moves = avail.at[..., NUM_MOVES:].set(False)
    count = jnp.sum(moves, axis=-1, keepdims=True)
    return jnp.where(moves, -jnp.log(jnp.maximum(count, 1).astype(jnp.float32)), -jnp.inf)


@dataclasses.dataclass(frozen=True)
class GoalPolicy:
    """Goal-conditioned policy ``pi(a | o, g)`` over ``G`` learned goals plus "no target".

    Goals are indices ``0..G-1`` (the env's ``goal_names``) and ``G`` ("no target").
    """

    obs_shape: tuple[int, ...]
    num_actions: int
    num_goals: int
    hidden_sizes: tuple[int, ...] = (128, 128)
    activation: str = "relu"

    @property
    def net(self) -> _GoalNet:
        return _GoalNet(self.num_actions, self.hidden_sizes, self.activation)

    def init(self, key: jax.Array):
        d = int(np.prod(self.obs_shape))
        return self.net.init(key, jnp.zeros((d,)), jnp.zeros((self.num_goals,)))

    def _flat(self, obs: jax.Array) -> jax.Array:
        lead = obs.shape[: obs.ndim - len(self.obs_shape)]
        if tuple(obs.shape[len(lead):]) != tuple(self.obs_shape):
            raise ValueError(f"observation of shape {obs.shape} is not [..., *{self.obs_shape}]")
        return obs.reshape(*lead, -1).astype(jnp.float32)

    def logits(self, params, obs: jax.Array, goal: jax.Array) -> jax.Array:
        """obs [..., *obs_shape], goal [...] int in [0, G) -> unmasked logits [..., A]."""
        onehot = jax.nn.one_hot(goal, self.num_goals)
        return self.net.apply(params, self._flat(obs), onehot)

    def log_probs_all_goals(self, params, obs: jax.Array, avail: jax.Array) -> jax.Array:
        """obs [..., *obs_shape], avail [..., A] -> log pi(. | o, g) [..., G+1, A] for every
        goal, the last row being "no target"."""
        eye = jnp.eye(self.num_goals)
        logits = self.net.apply(params, self._flat(obs), eye, all_goals=True)  # [..., G, A]
        learned = _masked_log_softmax(logits, avail[..., None, :])
        return jnp.concatenate([learned, none_log_probs(avail)[..., None, :]], axis=-2)

    def log_probs(self, params, obs: jax.Array, avail: jax.Array, goal: jax.Array) -> jax.Array:
        """obs [..., *obs_shape], avail [..., A], goal [...] int in [0, G] -> [..., A]."""
        learned = _masked_log_softmax(
            self.logits(params, obs, jnp.minimum(goal, self.num_goals - 1)), avail
        )
        return jnp.where((goal >= self.num_goals)[..., None], none_log_probs(avail), learned)


@dataclasses.dataclass(frozen=True)
class PlannerNet:
    """The focal agent's policy/value network (an :class:`ActorCritic` without recurrence)."""

    obs_shape: tuple[int, ...]
    num_actions: int
    hidden_sizes: tuple[int, ...] = (128, 128)
    activation: str = "relu"

    @property
    def net(self) -> ActorCritic:
        return ActorCritic(self.num_actions, self.hidden_sizes, 0, self.activation)

    def init(self, key: jax.Array):
        d = int(np.prod(self.obs_shape))
        return self.net.init(key, jnp.zeros((1,)), jnp.zeros((d,)), jnp.zeros((), bool))

    def apply(self, params, obs: jax.Array, avail: jax.Array) -> tuple[jax.Array, jax.Array]:
        """obs [..., *obs_shape], avail [..., A] -> (masked logits [..., A], value [...])."""
        lead = obs.shape[: obs.ndim - len(self.obs_shape)]
        x = obs.reshape(*lead, -1).astype(jnp.float32)
        hidden = jnp.zeros((*lead, 1))
        _, logits, value = self.net.apply(params, hidden, x, jnp.zeros(lead, bool))
        return jnp.where(avail, logits, MASKED_LOGIT), value

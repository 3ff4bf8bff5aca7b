"""HOP's two networks: the goal-conditioned co-player policy and the focal planner net.

- :class:`GoalPolicy` models any agent's action given *its own* egocentric observation and a
  *located* goal: ``pi(a | o, g)`` where ``g`` is described by its features
  ``(row / (H-1), col / (W-1), one-hot kind)`` - the target's grid cell and its kind (stag,
  hare, drift, ...). As in the HOP code, the co-player model is conditioned on the target's
  grid coordinates next to the time step, after its trunk (HOP code: Snowdrift co-player
  model; Huang et al., ICML 2024, arXiv 2406.08002); the kind one-hot is our addition (a stag
  and a hare need different actions on arrival). Same-kind targets share one observation
  channel in random order, so only the location tells them apart.
  The first fully connected layer is split into an observation part and a goal part
  (``h = act(W_o trunk(o) + W_g f(g) + b)``), so the likelihood of an observed action under all
  ``G`` goals - what the intra-OM belief update needs at every step - costs one trunk and one
  observation projection, not ``G`` forward passes. The extra "no target" goal (index ``G``) is
  not learned: it is the uniform choice among the available non-interact actions (HOP paper: a
  co-player without a target makes a random non-interact move, like the ``fix`` player of the
  HOP code, ``policy/fixed_policy.py``).
- :class:`PlannerNet` is the focal agent's policy/value network: MCTS prior and leaf value,
  trained AlphaZero-style (``hopjax.algos.hop``).

Trunks (:mod:`hopjax.models.trunk`): the HOP code uses conv 16-32-32 (3x3) + FC 512
(``conv_channels=(16, 32, 32)``, ``hidden_sizes=(512,)``); the default is an MLP over the
flattened observation, far cheaper inside a CPU tree search (our choice). The time step is the
observation's ``t / max_steps`` channel (the HOP code feeds it next to the trunk's output).
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
from hopjax.models.sparse import sparse_first_layer, sparse_table
from hopjax.models.trunk import Trunk
from hopjax.models.init import orthogonal


def goal_kinds(goal_names: Sequence[str]) -> tuple[int, ...]:
    """Kind index of every goal: goals named ``<kind>_<j>`` (``stag_0``, ``hare_3``) share a
    kind; kinds are numbered in order of first appearance. -> tuple of G ints."""
    order: dict[str, int] = {}
    return tuple(order.setdefault(n.rsplit("_", 1)[0], len(order)) for n in goal_names)


class _GoalNet(nn.Module):
    """obs [..., *obs_shape], goal features [..., F] (or [..., G, F] with ``all_goals``) ->
    logits [..., A] (or [..., G, A])."""

    num_actions: int
    hidden_sizes: Sequence[int]
    activation: str
    conv_channels: Sequence[int]
    obs_ndim: int

    @nn.compact
    def __call__(self, obs: jax.Array | None, goal_feat: jax.Array, all_goals: bool = False,
                 obs_pre: jax.Array | None = None):
        """``obs_pre`` [..., hidden_sizes[0]] (optional): ``obs_in``'s output computed by the
        caller (:meth:`GoalPolicy.log_probs_sparse`); ``obs`` is then unused."""
        act = _ACTIVATIONS[self.activation]
        init = orthogonal
        h_obs = obs_pre
        if h_obs is None:
            z = Trunk(self.conv_channels, self.activation, self.obs_ndim, name="trunk")(obs)
            h_obs = nn.Dense(self.hidden_sizes[0], kernel_init=init(np.sqrt(2)), name="obs_in")(z)
        h_goal = nn.Dense(self.hidden_sizes[0], use_bias=False, kernel_init=init(np.sqrt(2)),
                          name="goal_in")(goal_feat)
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
    """Goal-conditioned policy ``pi(a | o, g)`` over ``G`` located goals plus "no target".

    Goals are indices ``0..G-1`` (the env's ``goal_names``) and ``G`` ("no target"); a goal's
    identity for the network is its cell and kind, read from ``positions`` [..., G, 2] int
    (row, col; :meth:`hopjax.envs.base.Environment.goal_positions`). ``kinds`` [G] is the kind
    of every goal (:func:`goal_kinds`). ``obs_shape`` is ``[H, W, C]`` for grid envs (the
    positions are normalised by ``H - 1`` and ``W - 1``). ``conv_channels`` () = MLP trunk.
    """

    obs_shape: tuple[int, ...]
    num_actions: int
    kinds: tuple[int, ...]
    hidden_sizes: tuple[int, ...] = (128, 128)
    activation: str = "relu"
    conv_channels: tuple[int, ...] = ()

    @property
    def num_goals(self) -> int:
        return len(self.kinds)

    @property
    def feature_dim(self) -> int:
        """F = 2 (row, col) + number of kinds."""
        return 2 + max(self.kinds, default=-1) + 1

    @property
    def net(self) -> _GoalNet:
        return _GoalNet(self.num_actions, self.hidden_sizes, self.activation, self.conv_channels,
                        len(self.obs_shape))

    def init(self, key: jax.Array):
        return self.net.init(key, jnp.zeros(self.obs_shape), jnp.zeros((self.feature_dim,)))

    def goal_features(self, positions: jax.Array) -> jax.Array:
        """positions [..., G, 2] int (row, col) -> float32 features [..., G, F]:
        ``(row / (H-1), col / (W-1), one-hot kind)``."""
        scale = jnp.maximum(jnp.asarray(self.obs_shape[:2], jnp.float32) - 1.0, 1.0)
        rc = positions.astype(jnp.float32) / scale
        kind = jax.nn.one_hot(jnp.asarray(self.kinds), self.feature_dim - 2)
        return jnp.concatenate([rc, jnp.broadcast_to(kind, rc.shape[:-1] + kind.shape[-1:])], -1)

    def _feats(self, obs: jax.Array, positions: jax.Array) -> tuple[jax.Array, jax.Array]:
        lead = obs.shape[: obs.ndim - len(self.obs_shape)]
        if tuple(obs.shape[len(lead):]) != tuple(self.obs_shape):
            raise ValueError(f"observation of shape {obs.shape} is not [..., *{self.obs_shape}]")
        return self._lead_feats(lead, positions), lead

    def _lead_feats(self, lead: tuple[int, ...], positions: jax.Array) -> jax.Array:
        if positions.shape[-2:] != (self.num_goals, 2):
            raise ValueError(f"goal positions of shape {positions.shape} are not [..., {self.num_goals}, 2]")
        f = self.goal_features(positions)
        return jnp.broadcast_to(f, lead + f.shape[-2:])

    def logits(self, params, obs: jax.Array, goal_feat: jax.Array) -> jax.Array:
        """obs [..., *obs_shape], goal_feat [..., F] (:meth:`goal_features`) -> unmasked
        logits [..., A]."""
        return self.net.apply(params, obs, goal_feat)

    def log_probs_all_goals(self, params, obs: jax.Array, avail: jax.Array,
                            positions: jax.Array) -> jax.Array:
        """obs [..., *obs_shape], avail [..., A], positions [..., G, 2] (broadcastable to the
        observation's leading axes) -> log pi(. | o, g) [..., G+1, A] for every goal, the last
        row being "no target". One trunk pass per observation."""
        feats, _ = self._feats(obs, positions)
        logits = self.net.apply(params, obs, feats, all_goals=True)  # [..., G, A]
        learned = _masked_log_softmax(logits, avail[..., None, :])
        return jnp.concatenate([learned, none_log_probs(avail)[..., None, :]], axis=-2)

    def log_probs(self, params, obs: jax.Array, avail: jax.Array, goal: jax.Array,
                  positions: jax.Array) -> jax.Array:
        """obs [..., *obs_shape], avail [..., A], goal [...] int in [0, G], positions
        [..., G, 2] (broadcastable) -> log pi(. | o, goal) [..., A]."""
        feats, _ = self._feats(obs, positions)
        return self._goal_log_probs(self.net.apply(params, obs, self._goal_feat(feats, goal)), avail, goal)

    def _goal_feat(self, feats: jax.Array, goal: jax.Array) -> jax.Array:
        idx = jnp.clip(goal, 0, self.num_goals - 1)[..., None, None]
        return jnp.take_along_axis(feats, idx, axis=-2)[..., 0, :]

    def _goal_log_probs(self, logits: jax.Array, avail: jax.Array, goal: jax.Array) -> jax.Array:
        learned = _masked_log_softmax(logits, avail)
        return jnp.where((goal >= self.num_goals)[..., None], none_log_probs(avail), learned)

    def sparse_table(self, params) -> tuple[jax.Array, jax.Array]:
        """The ``mlp`` trunk's first layer ``obs_in`` as (table [prod(obs_shape) + C, H0],
        bias [H0]) float32 (:func:`hopjax.models.sparse.sparse_table`) for
        :meth:`log_probs_sparse`; ValueError for a conv trunk."""
        if self.conv_channels:
            raise ValueError("sparse observations need the mlp trunk, not a conv trunk")
        layer = params["params"]["obs_in"]
        return sparse_table(layer["kernel"], self.obs_shape), layer["bias"]

    def log_probs_sparse(self, params, table, idx: jax.Array, val: jax.Array, avail: jax.Array,
                         goal: jax.Array, positions: jax.Array, offset: jax.Array | None = None) -> jax.Array:
        """:meth:`log_probs` from sparse observations (idx [..., P] int32, val [..., P] float32,
        :meth:`hopjax.envs.base.Environment.seat_obs_sparse`) and ``table =
        sparse_table(params)``: the same network, its first layer a gather of ``obs_in``'s
        kernel rows (:func:`hopjax.models.sparse.sparse_first_layer`); equal up to float
        rounding. ``offset`` [..., H0] (optional) is added to that layer's output: the
        observation's entries left out of ``idx`` (``Environment.obs_const_sparse``'s, gathered
        once). -> log pi(. | o, goal) [..., A]."""
        feat = self._goal_feat(self._lead_feats(idx.shape[:-1], positions), goal)
        h_obs = sparse_first_layer(*table, idx, val)
        h_obs = h_obs if offset is None else h_obs + offset
        return self._goal_log_probs(self.net.apply(params, None, feat, obs_pre=h_obs), avail, goal)


class _PlannerModule(nn.Module):
    """obs [..., *obs_shape] -> (logits [..., A], value [...]): trunk, then an ActorCritic MLP."""

    num_actions: int
    hidden_sizes: Sequence[int]
    activation: str
    conv_channels: Sequence[int]
    obs_ndim: int

    @nn.compact
    def __call__(self, obs: jax.Array | None, first: jax.Array | None = None):
        """``first`` [..., hidden_sizes[0]] (optional): the head's first layer's pre-activation
        (:meth:`PlannerNet.apply_sparse`); ``obs`` is then unused."""
        z = None if first is not None else Trunk(self.conv_channels, self.activation, self.obs_ndim,
                                                 name="trunk")(obs)
        lead = (first if z is None else z).shape[:-1]
        ac = ActorCritic(self.num_actions, self.hidden_sizes, 0, self.activation, name="head")
        _, logits, value = ac(jnp.zeros((*lead, 1)), z, jnp.zeros(lead, bool), first=first)
        return logits, value


@dataclasses.dataclass(frozen=True)
class PlannerNet:
    """The focal agent's policy/value network: trunk (:mod:`hopjax.models.trunk`) + an
    :class:`ActorCritic` head without recurrence."""

    obs_shape: tuple[int, ...]
    num_actions: int
    hidden_sizes: tuple[int, ...] = (128, 128)
    activation: str = "relu"
    conv_channels: tuple[int, ...] = ()

    @property
    def net(self) -> _PlannerModule:
        return _PlannerModule(self.num_actions, self.hidden_sizes, self.activation,
                              self.conv_channels, len(self.obs_shape))

    def init(self, key: jax.Array):
        return self.net.init(key, jnp.zeros(self.obs_shape))

    def apply(self, params, obs: jax.Array, avail: jax.Array) -> tuple[jax.Array, jax.Array]:
        """obs [..., *obs_shape], avail [..., A] -> (masked logits [..., A], value [...])."""
        logits, value = self.net.apply(params, obs)
        return jnp.where(avail, logits, MASKED_LOGIT), value

    def sparse_table(self, params) -> tuple[jax.Array, jax.Array]:
        """The ``mlp`` trunk's first layer (the head's ``Dense_0``) as (table
        [prod(obs_shape) + C, H0], bias [H0]) float32 (:func:`hopjax.models.sparse.sparse_table`)
        for :meth:`apply_sparse`; ValueError for a conv trunk."""
        if self.conv_channels:
            raise ValueError("sparse observations need the mlp trunk, not a conv trunk")
        layer = params["params"]["head"]["Dense_0"]
        return sparse_table(layer["kernel"], self.obs_shape), layer["bias"]

    def apply_sparse(self, params, table, idx: jax.Array, val: jax.Array, avail: jax.Array,
                     offset: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """:meth:`apply` from sparse observations (idx [..., P] int32, val [..., P] float32,
        :meth:`hopjax.envs.base.Environment.seat_obs_sparse`) and ``table =
        sparse_table(params)``: the first layer a gather of its kernel rows
        (:func:`hopjax.models.sparse.sparse_first_layer`), equal up to float rounding;
        ``offset``: as in :meth:`GoalPolicy.log_probs_sparse`.
        -> (masked logits [..., A], value [...])."""
        first = sparse_first_layer(*table, idx, val)
        logits, value = self.net.apply(params, None, first=first if offset is None else first + offset)
        return jnp.where(avail, logits, MASKED_LOGIT), value

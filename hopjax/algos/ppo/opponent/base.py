"""The opponent-model protocol and the replay-trained base class behind OMG, MOA and any new model.

Per PPO update (all traced, no Python branching on data):

1. **rollout hook** - the model runs step by step next to the policy (``pre`` before acting
   gives the policy's ``extra`` input, ``post`` after acting sees the joint action); its
   recurrent state (the model's own carry type) rides in ``EnvCarry.om``.
2. **annotate** the fresh episodes with the current model: it may write its own batch fields,
   swap the policy's ``extra`` input and add a reward bonus; metrics measured here are on
   episodes the model has not trained on.
3. **update**: e.g. insert the episodes into a replay buffer held in the RunnerState and train
   under ``lax.cond`` (:class:`ReplayOpponentModel`).

The model's state lives in the RunnerState, so checkpoints and resume cover the model and its
data. A new model: one module with a class following :class:`OpponentModel` (most simply a
:class:`ReplayOpponentModel` subclass) under ``@register("name")``
(:mod:`hopjax.algos.ppo.opponent.registry`).
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from hopjax.algos.ppo.opponent.registry import NONE, get
from hopjax.buffers.episode import EpisodeBatch, Field, Scheme
from hopjax.buffers.obs import obs_fields
from hopjax.buffers.replay import ReplayBufferState, can_sample, init_buffer, insert, sample
from hopjax.models.policy import MultiPolicy


@struct.dataclass
class OMState:
    """A replay-trained model's training state (part of the RunnerState)."""

    params: Any
    opt_state: Any
    buffer: ReplayBufferState  # whole episodes [C, T+1, ...]


class OpponentModel(Protocol):
    """What the PPO trainer and the rollout call on an opponent model.

    Shapes: E envs, N agents, L learner seats (the model's ``seats``, which are the policy's
    ``extra_seats``: a scripted seat takes no model features), T steps, X = ``extra_dim``
    features per learner.
    """

    extra_dim: int  # features per agent appended to the policy input (0: none)

    def batch_fields(self) -> dict[str, Field]:
        """EpisodeBatch fields this model writes, added to the rollout's scheme."""

    def bind(self, policy: MultiPolicy) -> None:
        """Receive the PPO policy (after it is built with ``extra_dim`` inputs)."""

    def init(self, key: jax.Array) -> Any:
        """-> the model's training state; must have a ``params`` attribute."""

    def carry_init(self, num_envs: int) -> Any:
        """-> the rollout-time carry with a leading env axis [E, ...]."""

    def pre(self, params: Any, c: Any, obs: jax.Array, reset: jax.Array) -> tuple[Any, jax.Array]:
        """Before acting: obs [E, N, *obs_shape], reset [E] -> (carry, extra [E, L, X])."""

    def post(self, params: Any, c: Any, obs: jax.Array, actions: jax.Array, reset: jax.Array) -> Any:
        """After acting with ``actions`` [E, N] int32 -> carry."""

    def annotate(self, params: Any, policy_params: Any, batch: EpisodeBatch, key: jax.Array,
                 update: jax.Array) -> tuple[EpisodeBatch, Any, Any, dict[str, jax.Array]]:
        """-> (batch, PPO extra [T, E, L, X] or None, reward bonus [T, E, N] or None, metrics)."""

    def update(self, state: Any, policy_params: Any, batch: EpisodeBatch, update: jax.Array,
               key: jax.Array) -> tuple[Any, dict[str, jax.Array]]:
        """Learn from the fresh episodes ``batch`` [E, T+1, ...] -> (state, metrics)."""


class ReplayOpponentModel:
    """The shared machinery of a model trained from a replay buffer of whole episodes: the
    buffer (``obs``, ``actions``, ``goal`` and the model's own :meth:`batch_fields`), Adam with
    ``opponent_model.lr``, and :meth:`update` (insert, then every ``opponent_model.train_every``
    updates and once ``min_episodes`` are stored, ``train_steps`` gradient steps under
    ``lax.cond``).

    A subclass defines ``init_params``, ``carry_init``, ``pre``, ``post``, ``annotate`` and
    ``loss`` (and ``extra_dim``/``batch_fields`` if it has any): that is a whole new model.
    ``cfg``: the PPOConfig (its ``opponent_model`` section); ``learner_mask`` [N] bool; ``T`` episode steps.
    """

    def __init__(self, cfg, env, env_params, learner_mask: np.ndarray, T: int):
        self.cfg = cfg
        self.n = env.num_agents(env_params)
        self.num_actions = env.num_actions(env_params)
        self.num_goals = env.num_goals(env_params)
        self.obs_shape = tuple(env.observation_shape(env_params))
        self.obs_dim = int(np.prod(self.obs_shape))
        self.T = T
        self.learner_mask = jnp.asarray(learner_mask)
        # The L learner seats (static): only they use the model's features and rewards, so
        # models and candidate values are computed for them alone (scripted seats act alone).
        self.seats = tuple(int(i) for i in np.flatnonzero(np.asarray(learner_mask)))
        self.optimizer = optax.adam(cfg.opponent_model.lr)
        self.policy: MultiPolicy | None = None
        fields = {
            **obs_fields(self.obs_shape, env_params),  # compact, as the rollout stores them
            "actions": Field((), jnp.int32, "agents"),
            "goal": Field((), jnp.int32, "agents"),
            **self.batch_fields(),
        }
        self.buffer_scheme = Scheme.create(fields, {"agents": self.n}, T)

    # -- to override ------------------------------------------------------------------
    extra_dim: int = 0

    def batch_fields(self) -> dict[str, Field]:
        """Extra EpisodeBatch fields this model writes (rollout scheme and buffer)."""
        return {}

    def init_params(self, key):
        raise NotImplementedError

    def carry_init(self, num_envs: int) -> Any:
        raise NotImplementedError

    def pre(self, params, c, obs, reset):
        """Before acting: (carry, extra [E, L, X]), the learner seats' features. obs
        [E, N, *obs_shape], reset [E]."""
        raise NotImplementedError

    def post(self, params, c, obs, actions, reset):
        """After acting with ``actions`` [E, N]."""
        raise NotImplementedError

    def annotate(self, params, policy_params, batch: EpisodeBatch, key, update):
        """-> (batch, PPO extra [T, E, L, X] or None, reward bonus [T, E, N] or None, metrics)."""
        raise NotImplementedError

    def loss(self, params, policy_params, ep: EpisodeBatch, key):
        """-> (loss, metrics) on sampled episodes."""
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------
    def bind(self, policy: MultiPolicy) -> None:
        self.policy = policy

    def flat(self, obs: jax.Array) -> jax.Array:
        return obs.reshape(*obs.shape[: obs.ndim - len(self.obs_shape)], self.obs_dim)

    def init(self, key) -> OMState:
        params = self.init_params(key)
        return OMState(params, self.optimizer.init(params), init_buffer(self.buffer_scheme,
                                                                 self.cfg.opponent_model.buffer_capacity))

    def to_buffer(self, batch: EpisodeBatch) -> EpisodeBatch:
        names = self.buffer_scheme.field_names
        return EpisodeBatch({k: batch.data[k] for k in names}, batch.filled, batch.alive, self.buffer_scheme)

    def train_rounds(self, params, opt_state, buffer, policy_params, key):
        """``M`` gradient steps, each on ``opponent_model.batch_episodes`` episodes sampled from the buffer."""

        grad_fn = jax.value_and_grad(self.loss, has_aux=True)

        def one(state, k):
            p, o = state
            k_s, k_l = jax.random.split(k)
            ep = sample(buffer, k_s, self.cfg.opponent_model.batch_episodes)
            (_, aux), g = grad_fn(p, policy_params, ep, k_l)
            u, o = self.optimizer.update(g, o, p)
            return (optax.apply_updates(p, u), o), aux

        (params, opt_state), aux = jax.lax.scan(one, (params, opt_state),
                                                jax.random.split(key, self.cfg.opponent_model.train_steps))
        return params, opt_state, jax.tree.map(lambda x: x.mean(0), aux)

    def update(self, om: OMState, policy_params, batch: EpisodeBatch, update, key):
        """Insert the fresh episodes; every K updates and once the buffer can be sampled, train.
        -> (OMState, metrics). ``update``: traced int, updates done before this one."""
        cfg = self.cfg.opponent_model
        buffer = insert(om.buffer, self.to_buffer(batch))
        gate = ((update % cfg.train_every) == 0) & can_sample(buffer, cfg.min_episodes)

        def train(args):
            p, o, k = args
            return self.train_rounds(p, o, buffer, policy_params, k)

        def skip(args):
            p, o, k = args
            aux = jax.eval_shape(train, args)[2]
            return p, o, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), aux)

        params, opt_state, aux = jax.lax.cond(gate, train, skip, (om.params, om.opt_state, key))
        metrics = dict(aux)
        metrics["om_trained"] = gate.astype(jnp.float32)
        metrics["om_buffer_episodes"] = buffer.episodes_in_buffer.astype(jnp.float32)
        return OMState(params, opt_state, buffer), metrics

    def of_seats(self, x: jax.Array, axis: int) -> jax.Array:
        """The learners' rows of per-agent ``x`` (agent axis ``axis`` of size N -> L)."""
        return jnp.take(x, jnp.asarray(self.seats), axis=axis)

    def to_seats(self, x: jax.Array, axis: int = 1, fill=0) -> jax.Array:
        """Learner rows ``x`` (axis ``axis`` of size L) -> all N seats, ``fill`` elsewhere
        (what a scripted seat's unused policy input or reward holds)."""
        x = jnp.moveaxis(x, axis, 0)
        out = jnp.full((self.n, *x.shape[1:]), fill, x.dtype).at[jnp.asarray(self.seats)].set(x)
        return jnp.moveaxis(out, 0, axis)

    def learner_logits(self, policy_params, hidden0, obs, reset, extra=None) -> jax.Array:
        """The PPO policy replayed over time-major episodes for the learner seats only ->
        logits [T, B, L, A]. hidden0 [B, N, H], obs [T, B, N, *obs_shape], reset [T, B],
        extra [T, B, L, X] or None (the learners' rows, as the batch stores them). Independent
        parameters: only the learners' networks run (:meth:`MultiPolicy.for_seats`; a scripted
        seat's would be thrown away); shared: every seat (the agent id is part of the input),
        then the learners' rows."""
        pol = self.policy
        if pol.shared or len(self.seats) == self.n:
            logits, _ = pol.unroll(policy_params, hidden0, obs, reset, extra)
            return self.of_seats(logits, 2)
        sub, p, extra = pol.for_seats(self.seats, policy_params, extra)
        logits, _ = sub.unroll(p, self.of_seats(hidden0, 1), self.of_seats(obs, 2), reset, extra)
        return logits

    def focal(self, valid: jax.Array) -> jax.Array:
        """valid [..., N] -> focal mask: valid and a learner."""
        return valid & self.learner_mask


def make_opponent_model(cfg, env, env_params, learner_mask, T) -> OpponentModel | None:
    """The configured opponent model (``cfg.opponent_model.kind``, looked up in the registry), or
    None for ``"none"``."""
    if cfg.opponent_model.kind == NONE:
        return None
    return get(cfg.opponent_model.kind)(cfg, env, env_params, learner_mask, T)

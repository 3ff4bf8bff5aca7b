"""``make_train(config) -> train(key)``: the whole PPO training loop as one jittable function.

``train`` runs ``num_updates`` updates of: rollout -> EpisodeBatch -> masked GAE -> epochs of
minibatch PPO steps, inside ``lax.scan``; ``jax.vmap(train)(keys)`` is a seed sweep.
:class:`Trainer` is an :class:`hopjax.loop.Algorithm`: :class:`hopjax.loop.Loop` runs its update
as jitted *chunks* of ``chunk_updates`` updates, so the host can log, draw progress and
checkpoint between chunks.

With ``opponent_model: {kind: omg | moa}`` each update also runs the opponent model next to the policy,
annotates the fresh episodes, stores them in a replay buffer and trains the model under
``lax.cond(can_sample(...))`` (:mod:`hopjax.algos.ppo.opponent`); still one compiled function.

Inside :meth:`Trainer.update`: :meth:`Trainer.collect` (rollout + opponent-model annotation),
:meth:`Trainer.minibatch_data` (masked GAE into one time-major :class:`Minibatch` of all envs),
:meth:`Trainer.epochs` (the grad steps) and :meth:`Trainer._metrics`.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

from hopjax import envs
from hopjax.algos.ppo.config import LEARNER, PPOConfig
from hopjax.algos.ppo.gae import gae
from hopjax.algos.ppo.loss import Minibatch, make_grad_step, make_optimizer
from hopjax.algos.ppo.opponent.base import make_opponent_model
from hopjax.buffers.layout import time_major
from hopjax.config import ConfigError
from hopjax.loop import Loop
from hopjax.models.policy import MultiPolicy
from hopjax.rollout import EnvCarry, Rollout
from hopjax.sharding import constrain


@struct.dataclass
class RunnerState:
    """Everything a run needs to continue: checkpoint this and training resumes exactly."""

    params: Any
    opt_state: Any
    env: EnvCarry
    key: jax.Array
    update: jax.Array  # int32 [] updates done so far
    om: Any = None  # the opponent model's state (e.g. OMState: params, optimiser, buffer)


def scripted_names(env_name: str) -> tuple[str, ...]:
    """Names of the scripted co-players of an env."""
    from hopjax.envs.scripted import SCRIPTED

    return tuple(SCRIPTED.get(env_name, {}))


def scripted_policy(env_name: str, name: str) -> Callable:
    """The scripted co-player ``name`` of env ``env_name``; ConfigError listing the known ones."""
    from hopjax.envs.scripted import SCRIPTED

    known = scripted_names(env_name)
    if name not in known:
        raise ConfigError(
            f"config key 'agents': {name!r} is neither 'learner' nor a scripted co-player of "
            f"{env_name!r} (known: {', '.join(known)})"
        )
    return SCRIPTED[env_name][name]


def _seat_policies(cfg: PPOConfig, env_name: str, n: int) -> dict[int, Callable]:
    seats = cfg.agents or (LEARNER,) * n
    if len(seats) != n:
        raise ConfigError(f"config key 'agents' lists {len(seats)} seats, the env has {n} agents")
    if LEARNER not in seats:
        raise ConfigError("config key 'agents' must contain at least one 'learner'")
    scripted = {}
    for i, name in enumerate(seats):
        if name != LEARNER:
            scripted[i] = scripted_policy(env_name, name)
    return scripted


class Trainer:
    """The pure pieces of one PPO run, built (and validated) from a config without compiling.

    Attributes: env, env_params, policy, rollout, num_updates, steps_per_update.
    Methods: ``init(key) -> RunnerState``, ``update(runner) -> (runner, metrics)``; driven by
    :class:`hopjax.loop.Loop`.
    """

    def __init__(self, cfg: PPOConfig):
        cfg.validate()
        self.cfg = cfg
        try:
            self.env, self.env_params = envs.make(cfg.env, **cfg.env_kwargs)
        except ValueError as e:
            raise ConfigError(f"config keys 'env'/'env_kwargs': {e}") from None
        p = self.env_params
        n = self.env.num_agents(p)
        scripted = _seat_policies(cfg, cfg.env, n)
        T = self.env.episode_length(p) if cfg.rollout_length == 0 else cfg.rollout_length
        self.om = make_opponent_model(cfg, self.env, p, [i not in scripted for i in range(n)], T)
        extra_dim = self.om.extra_dim if self.om is not None and cfg.opponent_model.policy_input else 0
        learners = tuple(i for i in range(n) if i not in scripted)
        self.policy = MultiPolicy(
            num_agents=n,
            obs_shape=tuple(self.env.observation_shape(p)),
            num_actions=self.env.num_actions(p),
            hidden_sizes=tuple(cfg.hidden_sizes),
            gru_size=cfg.gru_size,
            activation=cfg.activation,
            shared=cfg.shared_params,
            extra_dim=extra_dim,
            compute_dtype=cfg.compute_dtype,
            # The model's features exist for the learners only (scripted seats never read them).
            extra_seats=learners if extra_dim and len(learners) < n else (),
        )
        hook, fields = None, None
        if self.om is not None:
            self.om.bind(self.policy)
            hook = self.om if extra_dim else None
            fields = self.om.batch_fields()
        self.rollout = Rollout(self.env, p, self.policy, cfg.num_envs, cfg.rollout_length, scripted,
                               om_hook=hook, extra_fields=fields, sparse_obs=cfg.sparse_rollout)
        self.steps_per_update = cfg.num_envs * self.rollout.T
        self.num_updates = max(1, cfg.total_steps // self.steps_per_update)
        # Whole chunks only, so that every chunk is the same compiled function.
        self.num_chunks = -(-self.num_updates // cfg.chunk_updates)
        self.num_updates = self.num_chunks * cfg.chunk_updates
        self.chunk_updates = cfg.chunk_updates
        self.optimizer = make_optimizer(cfg, self.num_updates)
        self.grad_step = make_grad_step(self.policy, cfg, self.optimizer, learners)
        # Independent parameters with scripted seats: only the learners' networks run, in the
        # rollout and in the epochs (which then read only the learners' data).
        self.update_seats = self.rollout.net_seats
        self.goal_names = self.env.goal_names(p)

    # -- pure functions -------------------------------------------------------------------
    def init(self, key: jax.Array) -> RunnerState:
        k_params, k_env, key = jax.random.split(key, 3)
        params = self.policy.init(k_params)
        if self.policy.shared:
            opt_state = self.optimizer.init(params)
        else:
            opt_state = jax.vmap(self.optimizer.init)(params)
        # The opponent model draws from its own fold of the seed: PPO-only runs are unchanged.
        om = None if self.om is None else self.om.init(jax.random.fold_in(k_params, 1))
        return RunnerState(params, opt_state, self.rollout.reset(k_env), key, jnp.zeros((), jnp.int32), om)

    def update(self, runner: RunnerState) -> tuple[RunnerState, dict[str, jax.Array]]:
        """One PPO update: rollout, GAE, ``ppo.num_epochs`` x ``ppo.num_minibatches`` grad steps (with
        an opponent model: annotate the fresh episodes, then let the model learn from them)."""
        key, k_reset, k_roll, k_epochs = jax.random.split(runner.key, 4)
        # The opponent model draws from its own fold of the key: PPO-only runs are unchanged.
        k_ann, k_om = jax.random.split(jax.random.fold_in(runner.key, 1))
        # Named scopes label each stage's operations in profiles (benchmarks/profile_ops.py).
        carry, batch, stats, extra, bonus, om_metrics = self.collect(runner, k_reset, k_roll, k_ann)
        with jax.named_scope("ppo_gae"):
            data = self.minibatch_data(batch, extra, bonus)
        with jax.named_scope("ppo_epochs"):
            params, opt_state, aux = self.epochs(runner.params, runner.opt_state, data, k_epochs)
        metrics = self._metrics(stats, aux, self.rollout.learner_mask)
        om = None
        if self.om is not None:
            with jax.named_scope("om_update"):
                om, train_metrics = self.om.update(runner.om, params, batch, runner.update, k_om)
            metrics.update({**om_metrics, **train_metrics})
        runner = RunnerState(params, opt_state, carry, key, runner.update + 1, om)
        return runner, metrics

    def collect(self, runner: RunnerState, k_reset: jax.Array, k_roll: jax.Array, k_ann: jax.Array):
        """Roll out (episode mode: from fresh envs) and let the opponent model annotate.

        -> (env carry, batch [E, T+1, ...], rollout stats, policy extra [T, E, L, X] or None
        (L = ``policy.extra_rows``),
        reward bonus [T, E, N] or None, the model's annotation metrics)."""
        ro = self.rollout
        om_params = None if self.om is None else runner.om.params
        with jax.named_scope("rollout"):
            carry = ro.reset(k_reset) if ro.episode_mode else runner.env
            carry, batch, stats = ro.run(k_roll, runner.params, constrain(carry, 0), om_params=om_params)
        carry, batch = constrain(carry, 0), constrain(batch, 0)  # env batch over a mesh's "envs"
        extra, bonus, om_metrics = None, None, {}
        if self.om is not None:
            with jax.named_scope("annotate"):
                batch, extra, bonus, om_metrics = self.om.annotate(om_params, runner.params, batch, k_ann,
                                                                   runner.update)
        return carry, batch, stats, extra, bonus, om_metrics

    def minibatch_data(self, batch, extra, bonus) -> Minibatch:
        """Masked GAE over the rollout -> every env's sequences as one :class:`Minibatch`
        ([T, E, ...]; ``mask`` = valid and a learner; ``reward + bonus`` when a bonus is given)."""
        cfg, ro, T = self.cfg, self.rollout, self.rollout.T
        # observations stay compact (uint8 planes): the loss decodes each minibatch's
        d = time_major(batch, select_invalid=False, decode_obs=False)  # [T+1, E, ...]
        valid = d["valid"][:T]  # [T, E, N]
        reward = d["reward"][:T] if bonus is None else d["reward"][:T] + bonus
        adv, ret = gae(
            reward, d["value"], d["terminated"][:T], d["episode_end"][:T, :, None],
            d["bootstrap_value"][:T], valid, cfg.ppo.gamma, cfg.ppo.gae_lambda,
        )
        if self.policy.extra_dim:
            extra = extra if extra is not None else d["extra"][:T]
        else:
            extra = None
        return Minibatch(
            hidden0=batch.data["hidden0"],  # [E, N, H]
            obs=d["obs"][:T], obs_time=d["obs_time"][:T] if "obs_time" in d else None,
            reset=d["reset"][:T], avail=d["avail_actions"][:T],
            actions=d["actions"][:T], log_prob=d["log_prob"][:T], value=d["value"][:T],
            advantages=adv, returns=ret, mask=valid & ro.learner_mask, extra=extra,
        )

    def epochs(self, params, opt_state, data: Minibatch, key: jax.Array):
        """``ppo.num_epochs`` passes, each over a fresh permutation of the envs split into
        ``ppo.num_minibatches`` minibatches -> (params, opt_state, aux [epochs, minibatches,
        ...])."""
        cfg = self.cfg
        mb_size = cfg.num_envs // cfg.ppo.num_minibatches
        if self.update_seats is not None:  # only the learners' data is gathered per minibatch
            data = data.seats(self.update_seats)

        def epoch(state, key):
            perm = jax.random.permutation(key, cfg.num_envs)

            def minibatch(state, idx):
                mb = constrain(data.take(idx), lambda path: Minibatch.batch_axis(path[0].name))
                params, opt_state, aux = self.grad_step(*state, mb)
                return (params, opt_state), aux

            return jax.lax.scan(minibatch, state, perm.reshape(cfg.ppo.num_minibatches, mb_size))

        (params, opt_state), aux = jax.lax.scan(
            epoch, (params, opt_state), jax.random.split(key, cfg.ppo.num_epochs)
        )
        return params, opt_state, aux

    def _metrics(self, stats, aux, learner_mask) -> dict[str, jax.Array]:
        episodes = jnp.maximum(stats["episodes"], 1.0)
        m = {
            "episode_return": stats["returns_sum"] / episodes,  # [N] per agent
            "episode_length": stats["length_sum"] / episodes,
            "episodes": stats["episodes"],
            "goals_per_episode": stats["goal_counts"].sum(0) / episodes,  # [G] agents reaching each
            "hunts_per_episode": stats["goal_events"] / episodes,  # [G] captures (a group's hunt: 1)
        }
        m["mean_return"] = m["episode_return"].mean()
        m["learner_return"] = (m["episode_return"] * learner_mask).sum() / learner_mask.sum()
        for k, v in aux.items():
            # [epochs, minibatches] (shared) or [epochs, minibatches, N] (independent):
            # report the last epoch's mean over minibatches and learning agents.
            last = v[-1]
            if last.ndim == 2:
                last = (last * learner_mask).sum(-1) / learner_mask.sum()
            m[k] = last.mean()
        # The ratio on the very first minibatch of the first epoch must be exactly 1: a check
        # that rollout and replay see the same policy inputs (recurrent state, masks).
        first = aux["ratio_mean"][0, 0]
        m["first_ratio"] = first if first.ndim == 0 else (first * learner_mask).sum() / learner_mask.sum()
        return m

    def env_split(self, runner: RunnerState):
        """The env carry is the env batch (leading axis E); the rest is replicated."""
        return jax.tree.map(lambda _: False, runner).replace(env=jax.tree.map(lambda _: True, runner.env))


def make_train(cfg: PPOConfig) -> Callable[[jax.Array], tuple[RunnerState, dict[str, jax.Array]]]:
    """``train(key) -> (runner_state, metrics)``: jit it, or ``jax.jit(jax.vmap(train))(keys)``."""
    return Loop(Trainer(cfg)).train

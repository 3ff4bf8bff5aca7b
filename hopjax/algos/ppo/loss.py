"""Multi-policy PPO: the minibatch type, the masked clipped loss and the minibatch update.

Every mean in the loss runs over *valid* entries only (env filled x agent alive x agent is a
learner), so padded steps of finished episodes and dead agents change nothing. The clipped
objective is Schulman et al., "Proximal Policy Optimization Algorithms" (2017), eq. 7, with the
clipped value loss of their released baselines (openai/baselines, baselines/ppo2/model.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from hopjax.algos.ppo.config import PPOConfig
from hopjax.buffers.masked import masked_mean, select
from hopjax.buffers.obs import decode as decode_obs
from hopjax.models.policy import MultiPolicy, masked_categorical


@struct.dataclass
class Minibatch:
    """Whole env sequences for one PPO gradient step, time axis first.

    hidden0 [B, N, H] float32: recurrent state before the first step (batch axis first);
    obs [T, B, N, *obs_shape] float32, or uint8 planes [T, B, N, H, W, C'] with obs_time
    [T, B, N] float32 or None (compact storage, :mod:`hopjax.buffers.obs`; the loss decodes
    them into the network's float32 input); reset [T, B] bool (step starts an episode);
    avail [T, B, N, A] bool; actions [T, B, N] int32; log_prob, value, advantages, returns
    [T, B, N] float32 (behaviour log-probability and value, GAE advantages and targets);
    mask [T, B, N] bool (valid and a learner); extra [T, B, L, X] float32 or None (the opponent
    model's policy input for the policy's ``extra_rows`` L seats, :class:`MultiPolicy`).
    """

    hidden0: jax.Array
    obs: jax.Array
    reset: jax.Array
    avail: jax.Array
    actions: jax.Array
    log_prob: jax.Array
    value: jax.Array
    advantages: jax.Array
    returns: jax.Array
    mask: jax.Array
    extra: jax.Array | None = None
    obs_time: jax.Array | None = None

    def take(self, idx: jax.Array) -> "Minibatch":
        """The sequences ``idx`` [b] of the batch axis (axis 0 of ``hidden0``, 1 elsewhere)."""
        return jax.tree.map(lambda v: v[:, idx], self.replace(hidden0=None)).replace(hidden0=self.hidden0[idx])

    def seats(self, idx) -> "Minibatch":
        """Only the agent seats ``idx`` (a static sequence of L indices): every field's agent
        axis (1 for ``hidden0``, 2 elsewhere) becomes [L]. ``extra`` with a row per seat is taken
        at ``idx`` too; otherwise its rows are the policy's ``extra_seats``' (which must be
        ``idx``) and are kept."""
        idx = np.asarray(idx, int)
        extra = self.extra
        if extra is not None and extra.shape[2] == self.mask.shape[2]:  # a row per seat
            extra = extra[:, :, idx]
        rest = jax.tree.map(lambda v: v[:, :, idx], self.replace(hidden0=None, reset=None, extra=None))
        return rest.replace(hidden0=self.hidden0[:, idx], reset=self.reset, extra=extra)

    def per_agent(self) -> "Minibatch":
        """[N] leading agent axis, each agent's own data with its agent axis kept at size 1
        (``reset`` [T, B] broadcast to every agent): the input of a vmap over agents."""
        n = self.mask.shape[2]

        def split(v):  # [T, B, N, ...] -> [N, T, B, 1, ...]
            return jnp.expand_dims(jnp.moveaxis(v, 2, 0), 3)

        rest = jax.tree.map(split, self.replace(hidden0=None, reset=None))
        return rest.replace(hidden0=jnp.expand_dims(jnp.moveaxis(self.hidden0, 1, 0), 2),
                            reset=jnp.broadcast_to(self.reset, (n, *self.reset.shape)))

    @staticmethod
    def batch_axis(name: str) -> int:
        """The batch axis of field ``name``: 0 for ``hidden0``, 1 for every other field."""
        return 0 if name == "hidden0" else 1


@dataclasses.dataclass(frozen=True)
class LossConfig:
    clip_eps: float
    vf_coef: float
    ent_coef: float
    normalize_advantages: bool


# The finite value that stands in for the masked entries of each per-step field.
_SAFE = {"obs": 0, "avail": True, "actions": 0, "log_prob": 0, "value": 0, "advantages": 0,
         "returns": 0, "extra": 0, "obs_time": 0}


def select_minibatch(mb: Minibatch) -> Minibatch:
    """Every per-step field of a minibatch with its masked entries (``mask`` [T, B, N] False)
    replaced by a finite constant (``avail``: all actions available), so that NaN/inf in
    padding or in dead agents' entries reaches neither the network nor the loss."""
    return mb.replace(**{k: select(mb.mask, getattr(mb, k), safe) for k, safe in _SAFE.items()
                         if getattr(mb, k) is not None})


def ppo_loss(policy: MultiPolicy, cfg: LossConfig, params: Any, mb: Minibatch):
    """Masked clipped PPO loss over a minibatch of whole sequences, time axis first.

    mb: a :class:`Minibatch` ([T, B, ...] fields, hidden0 [B, N, H]).
    -> (loss, aux metrics); entries with mask=0 contribute nothing to loss or gradient, even
    when they hold NaN/inf: every per-step input is selected before the network and the loss
    see it (:func:`select_minibatch`). Masked steps are followed only by masked steps until an
    episode reset (death and padding are final), so zeroing their observations changes no
    valid step's recurrent state.
    """
    if mb.extra is not None:  # every seat's row (0 outside the policy's extra_seats)
        mb = mb.replace(extra=policy.full_extra(mb.extra))
    mb = select_minibatch(mb)
    mask = mb.mask
    obs = decode_obs(mb.obs, mb.obs_time)  # selected planes decode to selected observations
    logits, value = policy.unroll(params, mb.hidden0, obs, mb.reset, mb.extra)
    dist = masked_categorical(logits, mb.avail, mask)
    log_prob = dist.log_prob(mb.actions)
    entropy = dist.entropy()
    value = select(mask, value)

    adv = mb.advantages
    if cfg.normalize_advantages:
        mu = masked_mean(adv, mask)
        var = masked_mean(jnp.square(adv - mu), mask)
        adv = (adv - mu) / (jnp.sqrt(var) + 1e-8)
    log_ratio = select(mask, log_prob - mb.log_prob)
    ratio = jnp.exp(log_ratio)
    pg1 = ratio * adv
    pg2 = jnp.clip(ratio, 1.0 - cfg.clip_eps, 1.0 + cfg.clip_eps) * adv
    pg_loss = -masked_mean(jnp.minimum(pg1, pg2), mask)

    v_clipped = mb.value + jnp.clip(value - mb.value, -cfg.clip_eps, cfg.clip_eps)
    v_loss = 0.5 * masked_mean(
        jnp.maximum(jnp.square(value - mb.returns), jnp.square(v_clipped - mb.returns)), mask
    )
    ent = masked_mean(entropy, mask)
    loss = pg_loss + cfg.vf_coef * v_loss - cfg.ent_coef * ent
    aux = {
        "loss": loss,
        "pg_loss": pg_loss,
        "value_loss": v_loss,
        "entropy": ent,
        "approx_kl": masked_mean((ratio - 1.0) - log_ratio, mask),
        "clip_frac": masked_mean((jnp.abs(ratio - 1.0) > cfg.clip_eps).astype(jnp.float32), mask),
        "ratio_mean": masked_mean(ratio, mask),
    }
    return loss, aux


def make_optimizer(cfg: PPOConfig, num_updates: int) -> optax.GradientTransformation:
    """Adam with global-norm clipping and optional linear LR annealing over all minibatch steps."""
    steps = num_updates * cfg.ppo.num_epochs * cfg.ppo.num_minibatches
    lr = optax.linear_schedule(cfg.ppo.lr, 0.0, steps) if cfg.ppo.anneal_lr else cfg.ppo.lr
    return optax.chain(optax.clip_by_global_norm(cfg.ppo.max_grad_norm), optax.adam(lr, eps=1e-5))


def make_grad_step(policy: MultiPolicy, cfg: PPOConfig, optimizer: optax.GradientTransformation,
                   learners: tuple[int, ...] | None = None):
    """-> step(params, opt_state, mb) -> (params, opt_state, aux).

    Independent agents: the loss, gradient clipping and optimiser are vmapped over the agent
    axis, so each agent's clip and Adam state are its own and agent i's loss sees only its
    own data. Only the ``learners`` seats (static indices; None: all) are computed: a scripted
    seat's entries are all masked, so its loss, gradient and Adam moments would be 0 and its
    parameters would not move; they and its optimiser state are passed through unchanged (our
    choice: the learners' updates are the same, a scripted seat's Adam step count stays put),
    and its aux entries are 0, as a masked mean of nothing is. With 1 learner among 4 seats
    the epochs do a quarter of the work. ``mb`` holds all N seats, or only the learners'
    (:meth:`Minibatch.seats`; the trainer selects them once per update, so each minibatch
    gathers only their data). Shared parameters: one loss over all agents' valid
    entries.
    """
    lcfg = LossConfig(cfg.ppo.clip_eps, cfg.ppo.vf_coef, cfg.ppo.ent_coef, cfg.ppo.normalize_advantages)

    if policy.shared:
        grad_fn = jax.value_and_grad(lambda p, mb: ppo_loss(policy, lcfg, p, mb), has_aux=True)

        def step(params, opt_state, mb):
            (_, aux), grads = grad_fn(params, mb)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, aux

        return step

    single = MultiPolicy(**{**dataclasses.asdict(policy), "num_agents": 1, "extra_seats": ()})

    def agent_loss(p, mb):
        # mb arrays carry the agent axis with size 1 (time/batch axes first).
        p1 = jax.tree.map(lambda x: x[None], p)
        return ppo_loss(single, lcfg, p1, mb)

    grad_fn = jax.value_and_grad(agent_loss, has_aux=True)

    def one_agent(p, o, mb):
        (_, aux), g = grad_fn(p, mb)
        u, o = optimizer.update(g, o, p)
        return optax.apply_updates(p, u), o, aux

    n = policy.num_agents
    seats = None if learners is None or tuple(learners) == tuple(range(n)) else np.asarray(learners)

    if seats is not None and policy.extra_dim and policy.extra_seats and tuple(policy.extra_seats) != tuple(seats):
        raise ValueError(f"the policy's extra_seats {policy.extra_seats} are not the learners {tuple(seats)}")

    def step(params, opt_state, mb: Minibatch):
        if seats is None:
            if mb.extra is not None:  # every seat's extra row, 0 where it takes none
                mb = mb.replace(extra=policy.full_extra(mb.extra))
            return jax.vmap(one_agent)(params, opt_state, mb.per_agent())

        def take(tree):
            return jax.tree.map(lambda x: x[seats], tree)

        def put(full, part):
            return jax.tree.map(lambda x, y: x.at[seats].set(y), full, part)

        if mb.mask.shape[2] != len(seats):  # all N seats given: keep the learners'
            mb = mb.seats(seats)
        p, o, aux = jax.vmap(one_agent)(take(params), take(opt_state), mb.per_agent())
        aux = jax.tree.map(lambda y: jnp.zeros((n, *y.shape[1:]), y.dtype).at[seats].set(y), aux)
        return put(params, p), put(opt_state, o), aux

    return step

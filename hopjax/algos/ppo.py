"""Multi-policy PPO: masked clipped loss and the minibatch update.

Every mean in the loss runs over *valid* entries only (env filled x agent alive x agent is a
learner), so padded steps of finished episodes and dead agents change nothing. The config
(``PPOConfig``) lives in :mod:`hopjax.algos.ppo_config` and is re-exported here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from hopjax.algos.ppo_config import LEARNER, PPOConfig  # noqa: F401 (re-export; JAX-free module)
from hopjax.buffers.masked import masked_mean, select
from hopjax.models.policy import MultiPolicy, masked_categorical

@dataclasses.dataclass(frozen=True)
class LossConfig:
    clip_eps: float
    vf_coef: float
    ent_coef: float
    normalize_advantages: bool


# Per-step minibatch fields and the finite value that stands in for their masked entries.
_STEP_FIELDS = {"obs": 0, "avail": True, "actions": 0, "log_prob": 0, "value": 0,
                "advantages": 0, "returns": 0, "extra": 0}


def select_minibatch(mb: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Every per-step field of a PPO minibatch with its masked entries (``mask`` [T, B, N]
    False) replaced by a finite constant (``avail``: all actions available), so that NaN/inf in
    padding or in dead agents' entries reaches neither the network nor the loss."""
    mask = mb["mask"]
    return {k: select(mask, v, _STEP_FIELDS[k]) if k in _STEP_FIELDS else v for k, v in mb.items()}


def ppo_loss(policy: MultiPolicy, cfg: LossConfig, params: Any, mb: dict[str, jax.Array]):
    """Masked clipped PPO loss over a minibatch of whole sequences, time axis first.

    mb: hidden0 [B, N, H], obs [T, B, N, *obs], reset [T, B], avail [T, B, N, A],
    actions/log_prob/value/advantages/returns/mask [T, B, N] (+ extra [T, B, N, X]).
    -> (loss, aux metrics); entries with mask=0 contribute nothing to loss or gradient, even
    when they hold NaN/inf: every per-step input is selected before the network and the loss
    see it (:func:`select_minibatch`). Masked steps are followed only by masked steps until an
    episode reset (death and padding are final), so zeroing their observations changes no
    valid step's recurrent state.
    """
    mb = select_minibatch(mb)
    mask = mb["mask"]
    logits, value = policy.unroll(params, mb["hidden0"], mb["obs"], mb["reset"], mb.get("extra"))
    dist = masked_categorical(logits, mb["avail"], mask)
    log_prob = dist.log_prob(mb["actions"])
    entropy = dist.entropy()
    value = select(mask, value)

    adv = mb["advantages"]
    if cfg.normalize_advantages:
        mu = masked_mean(adv, mask)
        var = masked_mean(jnp.square(adv - mu), mask)
        adv = (adv - mu) / (jnp.sqrt(var) + 1e-8)
    log_ratio = select(mask, log_prob - mb["log_prob"])
    ratio = jnp.exp(log_ratio)
    pg1 = ratio * adv
    pg2 = jnp.clip(ratio, 1.0 - cfg.clip_eps, 1.0 + cfg.clip_eps) * adv
    pg_loss = -masked_mean(jnp.minimum(pg1, pg2), mask)

    v_clipped = mb["value"] + jnp.clip(value - mb["value"], -cfg.clip_eps, cfg.clip_eps)
    v_loss = 0.5 * masked_mean(
        jnp.maximum(jnp.square(value - mb["returns"]), jnp.square(v_clipped - mb["returns"])), mask
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
    steps = num_updates * cfg.num_epochs * cfg.num_minibatches
    lr = optax.linear_schedule(cfg.lr, 0.0, steps) if cfg.anneal_lr else cfg.lr
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(lr, eps=1e-5))


def make_grad_step(policy: MultiPolicy, cfg: PPOConfig, optimizer: optax.GradientTransformation):
    """-> step(params, opt_state, mb) -> (params, opt_state, aux).

    Independent agents: the loss, gradient clipping and optimiser are vmapped over the agent
    axis, so each agent's clip and Adam state are its own and agent i's loss sees only its
    own data. Shared parameters: one loss over all agents' valid entries.
    """
    lcfg = LossConfig(cfg.clip_eps, cfg.vf_coef, cfg.ent_coef, cfg.normalize_advantages)

    if policy.shared:
        grad_fn = jax.value_and_grad(lambda p, mb: ppo_loss(policy, lcfg, p, mb), has_aux=True)

        def step(params, opt_state, mb):
            (_, aux), grads = grad_fn(params, mb)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, aux

        return step

    single = MultiPolicy(**{**dataclasses.asdict(policy), "num_agents": 1})

    def agent_loss(p, mb):
        # mb arrays carry the agent axis with size 1 (time/batch axes first).
        p1 = jax.tree.map(lambda x: x[None], p)
        return ppo_loss(single, lcfg, p1, mb)

    grad_fn = jax.value_and_grad(agent_loss, has_aux=True)

    def one_agent(p, o, mb):
        (_, aux), g = grad_fn(p, mb)
        u, o = optimizer.update(g, o, p)
        return optax.apply_updates(p, u), o, aux

    def step(params, opt_state, mb):
        n = policy.num_agents
        def split(k, v):
            # [T, B, N, ...] -> [N, T, B, 1, ...]: one agent per leading index, agent axis kept.
            if k == "reset":
                return jnp.broadcast_to(v, (n, *v.shape))
            ax = 1 if k == "hidden0" else 2
            return jnp.expand_dims(jnp.moveaxis(v, ax, 0), ax + 1)

        per_agent = {k: split(k, v) for k, v in mb.items()}
        params, opt_state, aux = jax.vmap(one_agent)(params, opt_state, per_agent)
        return params, opt_state, aux

    return step

"""Multi-policy PPO: config, masked clipped loss and the minibatch update.

Every mean in the loss runs over *valid* entries only (env filled x agent alive x agent is a
learner), so padded steps of finished episodes and dead agents change nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from hopjax.buffers.masked import masked_mean, select
from hopjax.config import ConfigError
from hopjax.models.policy import MultiPolicy, masked_categorical

LEARNER = "learner"


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Everything one PPO run needs. Units: an env step is one step of one env (all agents)."""

    name: str = "ppo"
    env: str = "stag_hunt"
    env_kwargs: dict = dataclasses.field(default_factory=dict)
    # One entry per seat: "learner" or the name of a scripted co-player of the env
    # (hopjax.envs.scripted). Empty: every seat is a learner (self-play).
    agents: tuple[str, ...] = ()
    shared_params: bool = False
    seed: int = 0
    total_steps: int = 200_000
    num_envs: int = 16
    # Steps per rollout. 0: one whole episode per rollout (every env reset at the start, envs
    # that finish early are padded with filled=0). >0: fixed-length segments that run across
    # episode boundaries with auto-reset and bootstrapping at truncation.
    rollout_length: int = 0
    num_epochs: int = 4
    num_minibatches: int = 4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    lr: float = 2.5e-4
    anneal_lr: bool = True
    max_grad_norm: float = 0.5
    normalize_advantages: bool = True
    hidden_sizes: tuple[int, ...] = (64, 64)
    gru_size: int = 0
    activation: str = "tanh"
    # Updates per jitted chunk: metrics, progress and checkpoints happen between chunks.
    chunk_updates: int = 10
    checkpoint_every_chunks: int = 1
    # Opponent model trained inside the jitted loop (hopjax.algos.opponent): "none", "omg"
    # (subgoal inference, Yu et al. 2024) or "moa" (Jaques et al. 2019). Needs rollout_length 0:
    # whole episodes go into a replay buffer of om_buffer_capacity episodes; every
    # om_train_every updates, once om_min_episodes are stored, om_train_steps gradient steps
    # run on om_batch_episodes sampled episodes.
    opponent_model: str = "none"
    om_policy_input: bool = True  # append the model's features (subgoals / action predictions)
    om_hidden: int = 128  # OMG code: hidden units
    om_gru: int = 96  # OMG code: history GRU (hidden // 4 * 3)
    om_lr: float = 5e-4
    om_buffer_capacity: int = 256
    om_min_episodes: int = 128  # OMG code: 32 x n_agents episodes (4 agents) before training
    om_batch_episodes: int = 32  # OMG code: batch of 32 episodes
    om_train_every: int = 1  # K
    om_train_steps: int = 4  # M
    omg_subgoal_dim: int = 64  # OMG code
    omg_horizon: int = 5  # H: subgoals among the co-player's next H states (paper: H <= 5)
    omg_mode: str = "optimistic"  # optimistic (cooperative games) | conservative (general-sum)
    omg_kl_weight: float = 1.0  # OMG ELBO: mean squared reconstruction + weight x KL(q || prior)
    omg_prior_kl_weight: float = 1e-4  # the prior VAE's KL weight (small: keeps it informative)
    omg_eps_start: float = 0.0  # P(policy sees the selected instead of the inferred subgoal)
    omg_eps_updates: int = 0  # ... annealed linearly to 0 over this many updates
    moa_influence_coef: float = 0.0  # > 0: add the social-influence reward (MOA only)
    # Device mesh (hopjax.distributed): results do not depend on it, up to float rounding.
    # devices: how many devices to use, 0 = all visible (on every host). seed_devices: how many
    # of them a sweep spreads seeds over, 0 = automatic; the rest split each seed's env batch.
    devices: int = 0
    seed_devices: int = 0

    def validate(self) -> None:
        positive = ("total_steps", "num_envs", "num_epochs", "num_minibatches", "chunk_updates",
                    "checkpoint_every_chunks")
        for key in positive:
            if getattr(self, key) <= 0:
                raise ConfigError(f"config key {key!r} must be positive, got {getattr(self, key)}")
        for key in ("rollout_length", "gru_size", "ent_coef", "vf_coef", "max_grad_norm", "devices",
                    "seed_devices"):
            if getattr(self, key) < 0:
                raise ConfigError(f"config key {key!r} must be >= 0, got {getattr(self, key)}")
        for key in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"config key {key!r} must lie in [0, 1], got {getattr(self, key)}")
        if self.lr <= 0 or self.clip_eps <= 0:
            raise ConfigError("config keys 'lr' and 'clip_eps' must be positive")
        if self.num_envs % self.num_minibatches:
            raise ConfigError(
                f"config key 'num_minibatches' ({self.num_minibatches}) must divide "
                f"'num_envs' ({self.num_envs}): minibatches hold whole env sequences"
            )
        if self.activation not in ("tanh", "relu", "gelu"):
            raise ConfigError(f"config key 'activation' must be tanh, relu or gelu, got {self.activation!r}")
        if any(h <= 0 for h in self.hidden_sizes):
            raise ConfigError("config key 'hidden_sizes' must hold positive sizes")
        self._validate_opponent_model()

    def _validate_opponent_model(self) -> None:
        models = ("none", "omg", "moa")
        if self.opponent_model not in models:
            raise ConfigError(f"config key 'opponent_model' must be one of {list(models)}, got {self.opponent_model!r}")
        if self.omg_mode not in ("optimistic", "conservative"):
            raise ConfigError(f"config key 'omg_mode' must be optimistic or conservative, got {self.omg_mode!r}")
        for key in ("om_hidden", "om_gru", "om_buffer_capacity", "om_min_episodes", "om_batch_episodes",
                    "om_train_every", "om_train_steps", "omg_subgoal_dim", "omg_horizon"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"config key {key!r} must be positive, got {getattr(self, key)}")
        if self.om_lr <= 0:
            raise ConfigError(f"config key 'om_lr' must be positive, got {self.om_lr}")
        for key in ("omg_kl_weight", "omg_prior_kl_weight", "omg_eps_updates", "moa_influence_coef"):
            if getattr(self, key) < 0:
                raise ConfigError(f"config key {key!r} must be >= 0, got {getattr(self, key)}")
        if not 0.0 <= self.omg_eps_start <= 1.0:
            raise ConfigError(f"config key 'omg_eps_start' must lie in [0, 1], got {self.omg_eps_start}")
        if self.opponent_model == "none":
            return
        if self.rollout_length != 0:
            raise ConfigError("config key 'rollout_length' must be 0 with an opponent model: "
                              "whole episodes go into its replay buffer")
        if not self.om_batch_episodes <= self.om_min_episodes <= self.om_buffer_capacity:
            raise ConfigError(
                "config keys 'om_batch_episodes' <= 'om_min_episodes' <= 'om_buffer_capacity' must "
                f"hold (got {self.om_batch_episodes}, {self.om_min_episodes}, {self.om_buffer_capacity})"
            )
        if self.opponent_model == "omg" and not self.om_policy_input:
            raise ConfigError("config key 'om_policy_input' must be true for omg: subgoal selection "
                              "scores candidates with the policy's value of them")
        if self.moa_influence_coef > 0 and self.opponent_model != "moa":
            raise ConfigError("config key 'moa_influence_coef' needs opponent_model: moa")


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

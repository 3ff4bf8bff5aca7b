"""``PPOConfig``: every key of a ``hopjax train`` / ``hopjax sweep`` config, documented here.

JAX-free (the CLI validates a config before JAX starts); :mod:`hopjax.algos.ppo` re-exports it.
``env_kwargs`` keys are documented in :mod:`hopjax.envs.params`.
"""

from __future__ import annotations

import dataclasses

from hopjax.config import ConfigError, check_common, env_params

LEARNER = "learner"


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Everything one PPO run needs. Units: an env step is one step of one env (all agents)."""

    # The algorithm this config is for (hopjax.algos.registry); must be 'ppo' here.
    algo: str = "ppo"
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
    # Opponent model trained inside the jitted loop (hopjax.algos.ppo.opponent): "none", "omg"
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
    # Device mesh (hopjax.runtime.distributed): results do not depend on it, up to float rounding.
    # devices: how many devices to use, 0 = all visible (on every host). seed_devices: how many
    # of them a sweep spreads seeds over, 0 = automatic; the rest split each seed's env batch.
    devices: int = 0
    seed_devices: int = 0

    def validate(self) -> None:
        """Every key's type and range, ``env_kwargs`` (via the env's params class) and
        ``agents``; ConfigError naming the key. JAX-free."""
        if self.algo != "ppo":
            raise ConfigError(f"config key 'algo' must be 'ppo' for PPOConfig, got {self.algo!r}")
        check_common(self)
        self._validate_agents(env_params(self.env, self.env_kwargs).num_agents)
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

    def _validate_agents(self, n: int) -> None:
        from hopjax.envs.params import SCRIPTED_NAMES

        if not self.agents:
            return
        if len(self.agents) != n:
            raise ConfigError(f"config key 'agents' lists {len(self.agents)} seats, the env has {n} agents")
        if LEARNER not in self.agents:
            raise ConfigError("config key 'agents' must contain at least one 'learner'")
        known = SCRIPTED_NAMES[self.env]
        for name in self.agents:
            if name != LEARNER and name not in known:
                raise ConfigError(
                    f"config key 'agents': {name!r} is neither 'learner' nor a scripted co-player of "
                    f"{self.env!r} (known: {', '.join(known)})")

    def _validate_opponent_model(self) -> None:
        from hopjax.algos.ppo.opponent.registry import names

        models = names()
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

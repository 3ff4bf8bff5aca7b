"""``PPOConfig``: every key of a ``hopjax train`` / ``hopjax sweep`` config, documented here.

Run-level keys at the top; sections ``ppo:`` (:class:`PPOUpdateConfig`), ``opponent_model:``
(:class:`OpponentModelConfig`, with ``omg:`` and ``moa:``) and ``mesh:`` (:class:`MeshConfig`),
each a frozen dataclass read by :func:`hopjax.config.from_dict` with the same strictness.
``MOVED`` maps the flat keys of older configs to their dotted key. JAX-free (the CLI validates
a config before JAX starts); :mod:`hopjax.algos.ppo` re-exports ``PPOConfig``.
``env_kwargs`` keys are documented in :mod:`hopjax.envs.params`.
"""

from __future__ import annotations

import dataclasses
import typing

from hopjax.config import ConfigError, check_common, env_params

LEARNER = "learner"


def _positive(section: str, cfg, keys) -> None:
    for key in keys:
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"config key '{section}{key}' must be positive, got {getattr(cfg, key)}")


def _non_negative(section: str, cfg, keys) -> None:
    for key in keys:
        if getattr(cfg, key) < 0:
            raise ConfigError(f"config key '{section}{key}' must be >= 0, got {getattr(cfg, key)}")


@dataclasses.dataclass(frozen=True)
class PPOUpdateConfig:
    """``ppo:``: the clipped-surrogate update (Schulman et al. 2017) and its optimiser."""

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

    def validate(self) -> None:
        _positive("ppo.", self, ("num_epochs", "num_minibatches", "lr", "clip_eps"))
        _non_negative("ppo.", self, ("ent_coef", "vf_coef", "max_grad_norm"))
        for key in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"config key 'ppo.{key}' must lie in [0, 1], got {getattr(self, key)}")


@dataclasses.dataclass(frozen=True)
class OMGConfig:
    """``opponent_model.omg:``: OMG (Yu, Jiang, Lu 2024) subgoal inference and selection."""

    subgoal_dim: int = 64  # OMG code
    horizon: int = 5  # H: subgoals among the co-player's next H states (paper: H <= 5)
    mode: str = "optimistic"  # optimistic (cooperative games) | conservative (general-sum)
    kl_weight: float = 1.0  # OMG ELBO: mean squared reconstruction + weight x KL(q || prior)
    prior_kl_weight: float = 1e-4  # the prior VAE's KL weight (small: keeps it informative)
    eps_start: float = 0.0  # P(policy sees the selected instead of the inferred subgoal)
    eps_updates: int = 0  # ... annealed linearly to 0 over this many updates
    # OMG_AM / goal-probe accuracies are measured on the first this-many fresh episodes of each
    # update (our choice: 256 episodes give thousands of labelled steps, enough for a logged
    # accuracy, and the heads' cost stops growing with the env count; with fewer envs, all).
    diagnostic_episodes: int = 256

    def validate(self) -> None:
        if self.mode not in ("optimistic", "conservative"):
            raise ConfigError("config key 'opponent_model.omg.mode' must be optimistic or "
                              f"conservative, got {self.mode!r}")
        _positive("opponent_model.omg.", self, ("subgoal_dim", "horizon", "diagnostic_episodes"))
        _non_negative("opponent_model.omg.", self, ("kl_weight", "prior_kl_weight", "eps_updates"))
        if not 0.0 <= self.eps_start <= 1.0:
            raise ConfigError(f"config key 'opponent_model.omg.eps_start' must lie in [0, 1], got {self.eps_start}")


@dataclasses.dataclass(frozen=True)
class MOAConfig:
    """``opponent_model.moa:``: MOA (Jaques et al. 2019)."""

    influence_coef: float = 0.0  # > 0: add the social-influence reward
    # Without the influence reward, moa_acc / moa_baseline are measured on the first this-many
    # fresh episodes of each update, as omg.diagnostic_episodes (with it, the unroll covers every
    # episode anyway, and so do the metrics).
    diagnostic_episodes: int = 256

    def validate(self) -> None:
        _non_negative("opponent_model.moa.", self, ("influence_coef",))
        _positive("opponent_model.moa.", self, ("diagnostic_episodes",))


@dataclasses.dataclass(frozen=True)
class OpponentModelConfig:
    """``opponent_model:``: the model trained inside the jitted loop (hopjax.algos.ppo.opponent).
    ``kind``: "none", "omg" (subgoal inference, Yu et al. 2024), "moa" (Jaques et al. 2019) or
    a registered extension. Needs rollout_length 0: whole episodes go into a replay buffer of
    buffer_capacity episodes; every train_every updates, once min_episodes are stored,
    train_steps gradient steps run on batch_episodes sampled episodes."""

    kind: str = "none"
    policy_input: bool = True  # append the model's features (subgoals / action predictions)
    hidden: int = 128  # OMG code: hidden units
    gru: int = 96  # OMG code: history GRU (hidden // 4 * 3)
    lr: float = 5e-4
    buffer_capacity: int = 256
    min_episodes: int = 128  # OMG code: 32 x n_agents episodes (4 agents) before training
    batch_episodes: int = 32  # OMG code: batch of 32 episodes
    train_every: int = 1  # K
    train_steps: int = 4  # M
    omg: OMGConfig = dataclasses.field(default_factory=OMGConfig)
    moa: MOAConfig = dataclasses.field(default_factory=MOAConfig)

    def validate(self) -> None:
        from hopjax.algos.ppo.opponent.registry import names

        if self.kind not in names():
            raise ConfigError(f"config key 'opponent_model.kind' must be one of {list(names())}, got {self.kind!r}")
        _positive("opponent_model.", self, ("hidden", "gru", "lr", "buffer_capacity", "min_episodes",
                                            "batch_episodes", "train_every", "train_steps"))
        self.omg.validate()
        self.moa.validate()
        if self.moa.influence_coef > 0 and self.kind != "moa":
            raise ConfigError("config key 'opponent_model.moa.influence_coef' needs opponent_model.kind: moa")
        if self.kind == "none":
            return
        if not self.batch_episodes <= self.min_episodes <= self.buffer_capacity:
            raise ConfigError(
                "config keys 'opponent_model.batch_episodes' <= 'opponent_model.min_episodes' <= "
                f"'opponent_model.buffer_capacity' must hold (got {self.batch_episodes}, "
                f"{self.min_episodes}, {self.buffer_capacity})")
        if self.kind == "omg" and not self.policy_input:
            raise ConfigError("config key 'opponent_model.policy_input' must be true for omg: subgoal "
                              "selection scores candidates with the policy's value of them")


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """``mesh:``: the device mesh (hopjax.runtime.distributed); results do not depend on it, up
    to float rounding. devices: how many devices to use, 0 = all visible (on every host).
    seed_devices: how many of them a sweep spreads seeds over, 0 = automatic; the rest split
    each seed's env batch."""

    devices: int = 0
    seed_devices: int = 0

    def validate(self) -> None:
        _non_negative("mesh.", self, ("devices", "seed_devices"))


_OM_KEYS = [f.name for f in dataclasses.fields(OpponentModelConfig) if f.name not in ("kind", "omg", "moa")]
# Flat keys of the configs before sections -> their dotted key now (errors, old checkpoints).
MOVED = {
    **{f.name: f"ppo.{f.name}" for f in dataclasses.fields(PPOUpdateConfig)},
    **{f"om_{k}": f"opponent_model.{k}" for k in _OM_KEYS},
    **{f"omg_{f.name}": f"opponent_model.omg.{f.name}" for f in dataclasses.fields(OMGConfig)},
    "moa_influence_coef": "opponent_model.moa.influence_coef",
    "devices": "mesh.devices", "seed_devices": "mesh.seed_devices",
}


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Everything one PPO run needs. Units: an env step is one step of one env (all agents).
    Run-level keys at the top; sections ``ppo:``, ``opponent_model:`` and ``mesh:``."""

    MOVED: typing.ClassVar[dict[str, str]] = MOVED

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
    # Training budget in env steps (one step of one env, all agents), rounded to whole updates
    # of num_envs x T steps (T: rollout_length, or the episode length when it is 0; down, at
    # least one), then up to whole chunks of chunk_updates updates; training prints the
    # updates and env steps it runs when they differ.
    total_steps: int = 200_000
    num_envs: int = 16
    # Steps per rollout. 0: one whole episode per rollout (every env reset at the start, envs
    # that finish early are padded with filled=0). >0: fixed-length segments that run across
    # episode boundaries with auto-reset and bootstrapping at truncation.
    rollout_length: int = 0
    hidden_sizes: tuple[int, ...] = (64, 64)
    gru_size: int = 0
    activation: str = "tanh"
    # The policy torso's matmul operands: float32, or bfloat16 with float32 accumulation
    # (parameters, gradients and Adam's moments stay float32; hopjax.models.policy.dense).
    compute_dtype: str = "float32"
    # The acting policy's first layer in whole-episode rollouts (rollout_length 0) from the
    # env's sparse observation entries (a gather of kernel rows instead of the dense product;
    # an MLP torso in float32; equal up to float rounding; hopjax.rollout.Rollout). false:
    # the dense product, as segment rollouts always use.
    sparse_rollout: bool = True
    # Updates per jitted chunk: metrics, progress and checkpoints happen between chunks.
    chunk_updates: int = 10
    checkpoint_every_chunks: int = 1
    ppo: PPOUpdateConfig = dataclasses.field(default_factory=PPOUpdateConfig)
    opponent_model: OpponentModelConfig = dataclasses.field(default_factory=OpponentModelConfig)
    mesh: MeshConfig = dataclasses.field(default_factory=MeshConfig)

    def validate(self) -> None:
        """Every key's type and range, sections included, ``env_kwargs`` (via the env's params
        class) and ``agents``; ConfigError naming the (dotted) key. JAX-free."""
        if self.algo != "ppo":
            raise ConfigError(f"config key 'algo' must be 'ppo' for PPOConfig, got {self.algo!r}")
        check_common(self)
        self._validate_agents(env_params(self.env, self.env_kwargs).num_agents)
        _positive("", self, ("total_steps", "num_envs", "chunk_updates", "checkpoint_every_chunks"))
        _non_negative("", self, ("rollout_length", "gru_size"))
        self.ppo.validate()
        self.mesh.validate()
        if self.num_envs % self.ppo.num_minibatches:
            raise ConfigError(
                f"config key 'ppo.num_minibatches' ({self.ppo.num_minibatches}) must divide "
                f"'num_envs' ({self.num_envs}): minibatches hold whole env sequences"
            )
        if self.activation not in ("tanh", "relu", "gelu"):
            raise ConfigError(f"config key 'activation' must be tanh, relu or gelu, got {self.activation!r}")
        if self.compute_dtype not in ("float32", "bfloat16"):
            raise ConfigError(f"config key 'compute_dtype' must be float32 or bfloat16, got {self.compute_dtype!r}")
        if any(h <= 0 for h in self.hidden_sizes):
            raise ConfigError("config key 'hidden_sizes' must hold positive sizes")
        self.opponent_model.validate()
        if self.opponent_model.kind != "none" and self.rollout_length != 0:
            raise ConfigError("config key 'rollout_length' must be 0 with an opponent model: "
                              "whole episodes go into its replay buffer")

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

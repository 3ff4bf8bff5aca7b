"""``HOPConfig``: every key of a ``hopjax train-hop`` / ``hopjax eval`` HOP config, documented here.

JAX-free (the CLI validates a config before JAX starts); :mod:`hopjax.algos.hop` re-exports it.
``env_kwargs`` keys are documented in :mod:`hopjax.envs.params`.
"""

from __future__ import annotations

import dataclasses
import typing

from hopjax.config import ConfigError, check_common, env_params, parse_overrides

# inter_om_pooling: within kinds, over every target (HOP code), or by distance rank within kinds
POOLINGS = ("kind", "any", "rank")
# inter_om_labels: what a step after a co-player's last interaction counts as
LABELS = ("hindsight", "expected", "reached")
# goal_model_labels: what the goal model is trained on for such a step
GOAL_MODEL_LABELS = ("hindsight", "reached")


def check_inter_om(pooling: str, labels: str, belief_reset_on_goal) -> None:
    """The inter-OM keys together (``HOPConfig`` and ``HOPRunner`` built without one):
    ConfigError naming the key for a pooling not in POOLINGS, labels not in LABELS, or
    ``expected`` labels with ``rank`` pooling or without ``belief_reset_on_goal: true``."""
    if pooling not in POOLINGS:
        raise ConfigError(f"config key 'inter_om_pooling' must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    if labels not in LABELS:
        raise ConfigError(f"config key 'inter_om_labels' must be one of {', '.join(LABELS)}, got {labels!r}")
    if labels == "expected" and pooling == "rank":
        raise ConfigError("config key 'inter_om_labels' is 'expected', which needs 'inter_om_pooling' "
                          "any or kind, got 'rank'")
    if labels == "expected" and belief_reset_on_goal is not True:
        raise ConfigError("config key 'inter_om_labels' is 'expected', which needs "
                          "'belief_reset_on_goal: true' (final beliefs since the last interaction)")


def check_goal_model_labels(labels: str) -> None:
    """ConfigError naming the key for ``goal_model_labels`` not in GOAL_MODEL_LABELS."""
    if labels not in GOAL_MODEL_LABELS:
        raise ConfigError(f"config key 'goal_model_labels' must be one of {', '.join(GOAL_MODEL_LABELS)}, "
                          f"got {labels!r}")


@dataclasses.dataclass(frozen=True)
class HOPConfig:
    """One HOP run. Planning/belief defaults are the HOP code's Stag-Hunt values
    (``msh_code/train.py``); the shipped YAML configs shrink the search for a CPU budget."""

    # The algorithm this config is for (hopjax.algos.registry); must be 'hop' here.
    algo: str = "hop"
    name: str = "hop"
    env: str = "stag_hunt"
    env_kwargs: dict = dataclasses.field(default_factory=dict)
    seed: int = 0
    # Self-play training budget in env steps (one step of one env, all agents), rounded to
    # whole updates of num_envs x episode length steps (down, at least one), then up to whole
    # chunks of chunk_updates updates; training prints the updates and env steps it runs when
    # they differ.
    total_steps: int = 20_000
    num_envs: int = 8
    # MCTS (HOP code): 5 trees x 200 simulations, PUCT c 1 (Stag-Hunt) / 15 (Snowdrift),
    # backup discount 0.95, act by softmax(2 * Q).
    num_simulations: int = 200
    num_trees: int = 5
    c_puct: float = 1.0
    gamma: float = 0.95
    q_temperature: float = 2.0
    # Deepest simulation (0: the episode length). Not in the HOP code, whose simulations stop
    # at terminal leaves; mctx needs a cap to keep the search linear in num_simulations.
    max_depth: int = 0
    # Beliefs: likelihood temperature of intra-OM (1 = Bayes, as in the code) and the inter-OM
    # EMA decay (HOP code: 0.995 Stag-Hunt, 0.98 Snowdrift).
    belief_temperature: float = 1.0
    inter_om_decay: float = 0.995
    # Goal renewal (hopjax.algos.hop.beliefs): a co-player's intra-OM row restarts from the
    # prior over the present goals at the step it reaches a goal, since the goal being inferred
    # (its next interaction's target) changes there. Our choice: the HOP code's belief module
    # is not in any available source. false: the evidence of its earlier walks is kept.
    belief_reset_on_goal: bool = False
    # Weight of inter-OM's uniform start, in episodes (hopjax.algos.hop.beliefs: the prior is
    # decayed pseudo-counts; 1: the uniform start counts like one observed episode). Our
    # choice: the HOP code's start is not in any available source; 1 / (1 - inter_om_decay)
    # gives a plain EMA started at uniform, which a new co-player barely moves (0.5 % per
    # episode at 0.995).
    inter_om_prior_weight: float = 1.0
    # What inter-OM carries from one episode to the next (hopjax.algos.hop.beliefs): "any"
    # keeps only whether a co-player pursues any target at all, every target weighted alike:
    # the HOP code's EMA of how often a co-player interacts (msh_code/train.py,
    # msg_code/train.py); "kind" (our extension) also keeps which kind of target it pursues.
    # Where an env has one kind of target (Snowdrift) the two are the same. "rank" (our
    # extension) keeps how near, among the targets of their kind, the co-player's targets lie
    # (the nearest, the second nearest, ...; every kind's nearest alike), so that a
    # nearest-target pursuer is recognised in the next layout (hopjax.algos.hop.beliefs).
    inter_om_pooling: str = "any"
    # What inter-OM counts for a co-player's steps after its last interaction, whose hindsight
    # label is "no target" (hopjax.algos.hop.beliefs, "Unrevealed goals"): "hindsight" counts
    # "no target" (the HOP code's count of interactions); "expected" (our extension) counts
    # intra-OM's beliefs about the co-player at the end of the episode, so that a chase that
    # never ended in an interaction (a stag hunted alone) counts as a chase (with kind pooling:
    # a stag chase), not as "no target". Needs inter_om_pooling any or kind and
    # belief_reset_on_goal: true. "reached" (our extension) counts the target whose cell the
    # co-player reaches next (the HOP paper's goal: a set of states the trajectory enters), "no
    # target" only where it reaches none: a lone stag chaser waiting on the stag counts as a
    # stag chase, a co-player that never stands on a target again as "no target" (crossing a
    # target's cell counts as pursuing it; belief accuracy keeps the hindsight labels).
    inter_om_labels: str = "hindsight"
    # What the goal model (intra-OM's co-player model) is trained on for a seat's steps after
    # its last interaction (hopjax.algos.hop.beliefs, "Unrevealed goals"): "hindsight" drops
    # them (the HOP code: they have no label); "reached" (our extension) labels them with the
    # next target whose cell the seat stands on after a step, the labels inter_om_labels:
    # reached counts, and drops only the steps where it stands on none: a lone stag hunter
    # waiting on the stag for a partner is trained as a stag step (belief accuracy keeps the
    # hindsight labels). Independent of inter_om_labels.
    goal_model_labels: str = "hindsight"
    # Stored configs without these keys were written before they existed: they read as the
    # behaviour those runs had (hopjax.config.from_stored), so resuming or evaluating an older
    # run never changes it silently (a resume with today's default names the key).
    STORED_DEFAULTS: typing.ClassVar[dict[str, typing.Any]] = {"inter_om_pooling": "kind",
                                                                   "inter_om_labels": "hindsight",
                                                                   "goal_model_labels": "hindsight"}
    # Keys that change only how a trained run is evaluated (`hopjax eval`), never its training:
    # config comparisons ignore them (hopjax.config.trained_part) and `hopjax eval RUN --set`
    # may change them.
    EVAL_ONLY: typing.ClassVar[tuple[str, ...]] = ("adapt_inter_om_decay", "adapt_no_carry")
    # Inter-OM decay for the few-shot protocol only (`hopjax eval`): when set, HOP is evaluated
    # a second time with this decay across the K adaptation episodes (row "HOP decay=<d>"), next
    # to the trained `inter_om_decay`. null: no second evaluation. Our choice, not in the HOP
    # code.
    adapt_inter_om_decay: float | None = None
    # The few-shot protocol's control (`hopjax eval`): when true, HOP is evaluated a second
    # time on the same trained seeds and keys with inter-OM reset to its uniform start before
    # every one of the K episodes (row "HOP no carry"). Its episodes are exchangeable, so its
    # slope across K is 0 in expectation, and HOP minus this row, seed by seed, is what
    # carrying inter-OM over does (carry.md). Not run in self-play; skipped with K < 2 episodes
    # (no slope across K). Our choice, not in the HOP code.
    adapt_no_carry: bool = False
    # Goal-directed training data for the goal model (our addition, not in the HOP paper or
    # code, which train it on self-play with hindsight labels only; hopjax.algos.hop.assign).
    # Each update, besides the num_envs self-play envs (unchanged: same search, same data for
    # the planner net), this many separate walker-only envs are rolled out in which every seat
    # walks to a target drawn uniformly among the present ones (redrawn when it is removed) and
    # nothing plans (no search: cheap). Their episodes, labelled with the assigned targets, go
    # to a buffer of their own (buffer_episodes * goal_walker_envs / num_envs episodes) that
    # feeds the goal model's loss only (batch_episodes * goal_walker_envs / num_envs of them
    # per minibatch, next to the self-play ones); the planner net never sees them. Changes the
    # goal model (hence beliefs, search and self-play return), not evaluation runners. An int
    # >= 0; 0 (default): off, training exactly as without it.
    goal_walker_envs: int = 0
    # Networks (hopjax.models.goal_policy, hopjax.models.trunk) and their training (Adam 5e-4:
    # HOP code). trunk: 'mlp' (flattened observation) or 'conv' (3x3 convolutions with
    # conv_channels, HOP code: 16-32-32, then FC hidden_sizes, HOP code: 512).
    trunk: str = "mlp"
    conv_channels: tuple[int, ...] = (16, 32, 32)
    hidden_sizes: tuple[int, ...] = (128, 128)
    activation: str = "relu"
    lr: float = 5e-4
    buffer_episodes: int = 256
    batch_episodes: int = 32
    sgd_steps: int = 8
    chunk_updates: int = 5
    checkpoint_every_chunks: int = 1

    def validate(self) -> None:
        """Every key's type and range and ``env_kwargs`` (via the env's params class);
        ConfigError naming the key. JAX-free."""
        if self.algo != "hop":
            raise ConfigError(f"config key 'algo' must be 'hop' for HOPConfig, got {self.algo!r}")
        check_common(self)
        env_params(self.env, self.env_kwargs)
        for key in ("total_steps", "num_envs", "num_simulations", "num_trees", "buffer_episodes",
                    "batch_episodes", "sgd_steps", "chunk_updates", "checkpoint_every_chunks"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"config key {key!r} must be positive, got {getattr(self, key)}")
        check_inter_om(self.inter_om_pooling, self.inter_om_labels, self.belief_reset_on_goal)
        check_goal_model_labels(self.goal_model_labels)
        if not isinstance(self.adapt_no_carry, bool):
            raise ConfigError(f"config key 'adapt_no_carry' must be true or false, got {self.adapt_no_carry!r}")
        if not isinstance(self.belief_reset_on_goal, bool):
            raise ConfigError(f"config key 'belief_reset_on_goal' must be true or false, got {self.belief_reset_on_goal!r}")
        w = self.goal_walker_envs
        if isinstance(w, bool) or not isinstance(w, int) or w < 0:
            raise ConfigError(f"config key 'goal_walker_envs' must be an int >= 0, got {w!r}")
        if self.max_depth < 0:
            raise ConfigError(f"config key 'max_depth' must be >= 0, got {self.max_depth}")
        for key in ("c_puct", "q_temperature", "belief_temperature", "inter_om_prior_weight", "lr"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"config key {key!r} must be > 0, got {getattr(self, key)}")
        for key in ("gamma", "inter_om_decay", "adapt_inter_om_decay"):
            if getattr(self, key) is not None and not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"config key {key!r} must lie in [0, 1], got {getattr(self, key)}")
        if self.batch_episodes > self.buffer_episodes:
            raise ConfigError("config key 'batch_episodes' must not exceed 'buffer_episodes'")
        if self.activation not in ("tanh", "relu", "gelu"):
            raise ConfigError(f"config key 'activation' must be tanh, relu or gelu, got {self.activation!r}")
        if not self.hidden_sizes or any(h <= 0 for h in self.hidden_sizes):
            raise ConfigError("config key 'hidden_sizes' must hold at least one positive size")
        if self.trunk not in ("mlp", "conv"):
            raise ConfigError(f"config key 'trunk' must be mlp or conv, got {self.trunk!r}")
        if not self.conv_channels or any(c <= 0 for c in self.conv_channels):
            raise ConfigError("config key 'conv_channels' must hold at least one positive size")

    @property
    def search(self):
        """The planner's :class:`hopjax.algos.hop.planner.SearchConfig`."""
        from hopjax.algos.hop.planner import SearchConfig

        return SearchConfig(self.num_simulations, self.num_trees, self.c_puct, self.gamma,
                            self.q_temperature, self.max_depth)


def check_run_overrides(overrides) -> None:
    """``--set`` items for a trained HOP run (``hopjax eval RUN``): only its evaluation-only keys
    (``HOPConfig.EVAL_ONLY``) can change; ConfigError naming the first other key (its training
    is in its checkpoint) or a malformed item. JAX-free."""
    parse_overrides(list(overrides))  # a malformed item's own error first
    trained = [k for k in (item.split("=", 1)[0].strip() for item in overrides) if k not in HOPConfig.EVAL_ONLY]
    if trained:
        raise ConfigError(f"--set {trained[0]}: a trained HOP run's config is in its checkpoint; only the "
                          f"evaluation keys {', '.join(HOPConfig.EVAL_ONLY)} can be set")

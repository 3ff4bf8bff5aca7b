"""Environment parameters: plain frozen dataclasses, importable without JAX.

This module is the documentation of every ``env_kwargs`` key (the comment above each field).
A params object is immutable and hashable. Fields marked ``static`` (``STATIC`` metadata) fix
array shapes (grid size, agent and entity counts, episode length) and are pytree *metadata*;
the reward values are pytree *leaves*. The env modules (:mod:`hopjax.envs.stag_hunt`,
:mod:`hopjax.envs.snowdrift`) register the classes with ``jax.tree_util.register_dataclass``
using :func:`meta_fields` / :func:`data_fields`, so the CLI validates a config (``PARAMS``:
env name -> params class, then :meth:`validate`) before JAX is imported.

Errors: :meth:`validate` raises :class:`hopjax.config.ConfigError` (a ``ValueError``) naming
the field.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import ClassVar

from hopjax.config import ConfigError

STATIC = {"static": True}  # field metadata: pytree metadata (fixes shapes), not a leaf
MAX_SIDE = 1024  # largest grid height/width accepted
MAX_AGENTS = 256
MAX_STEPS = 1_000_000
MAX_WALLS = 4096  # wall pieces (each reset draws WALL_MAX_TRIES x 3 x num_walls uniforms)
WALL_MAX_TRIES = 64  # wall layouts tried per reset (hopjax.envs._grid)


def static(default):
    return dataclasses.field(default=default, metadata=STATIC)


def meta_fields(cls) -> list[str]:
    """Names of the static fields of a params class (pytree metadata)."""
    return [f.name for f in dataclasses.fields(cls) if f.metadata.get("static")]


def data_fields(cls) -> list[str]:
    """Names of the leaf fields of a params class (pytree leaves: rewards)."""
    return [f.name for f in dataclasses.fields(cls) if not f.metadata.get("static")]


def _check(ok: bool, key: str, msg: str, value) -> None:
    if not ok:
        raise ConfigError(f"config key 'env_kwargs.{key}' {msg}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class GridParams:
    """Fields shared by the grid worlds; see the subclasses for their defaults' sources."""

    NUM_ACTIONS: ClassVar[int] = 5
    NUM_OBJECT_CHANNELS: ClassVar[int] = 1  # walls + entity kinds (subclasses)
    ENTITY_FIELDS: ClassVar[tuple[str, ...]] = ()  # the count fields of the entity kinds

    # every player receives the mean reward of all players each step (the prosocial baseline's
    # env: HOP code, msg_code/env.py; Stag-Hunt: the HOP paper's description of prosocial
    # agents, who maximise the group's reward)
    prosocial: bool = static(False)

    def replace(self, **changes):
        """A copy with ``changes`` (like ``flax.struct`` dataclasses)."""
        return dataclasses.replace(self, **changes)

    @property
    def num_entities(self) -> int:
        """Entities placed on the grid (all kinds)."""
        return sum(getattr(self, f) for f in self.ENTITY_FIELDS)

    def observation_shape(self) -> tuple[int, int, int]:
        """Per-agent observation [H, W, N + walls + entity kinds (+ time)], float32."""
        c = self.num_agents + self.NUM_OBJECT_CHANNELS + int(self.time_channel)
        return (self.height, self.width, c)

    def validate(self) -> None:
        """Types and ranges of every field; ConfigError naming ``env_kwargs.<field>``."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.type in ("bool", bool):
                _check(isinstance(v, bool), f.name, "must be true/false", v)
            elif f.type in ("int", int):
                _check(isinstance(v, numbers.Integral) and not isinstance(v, bool), f.name,
                       "must be an integer", v)
            else:
                _check(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v),
                       f.name, "must be a finite number", v)
        for key in ("height", "width"):
            _check(1 <= getattr(self, key) <= MAX_SIDE, key, f"must lie in [1, {MAX_SIDE}]",
                   getattr(self, key))
        _check(1 <= self.num_agents <= MAX_AGENTS, "num_agents", f"must lie in [1, {MAX_AGENTS}]",
               self.num_agents)
        _check(1 <= self.max_steps <= MAX_STEPS, "max_steps", f"must lie in [1, {MAX_STEPS}]",
               self.max_steps)
        _check(0 <= self.num_walls <= MAX_WALLS, "num_walls", f"must lie in [0, {MAX_WALLS}]",
               self.num_walls)
        cells = self.height * self.width
        for key in self.ENTITY_FIELDS:
            _check(getattr(self, key) >= 0, key, "must be >= 0", getattr(self, key))
        if self.num_entities + 1 > cells:
            raise ConfigError(
                f"config keys 'env_kwargs.{'/'.join(self.ENTITY_FIELDS)}': the {self.height}x{self.width} grid "
                f"has {cells} cells, too few for {self.num_entities} entities plus one cell for players")


@dataclasses.dataclass(frozen=True)
class StagHuntParams(GridParams):
    """Markov Stag-Hunt (:mod:`hopjax.envs.stag_hunt`). Actions: 5 moves, hunt-hare, hunt-stag."""

    NUM_ACTIONS: ClassVar[int] = 7
    NUM_OBJECT_CHANNELS: ClassVar[int] = 3  # walls, stags, hares
    ENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("num_stags", "num_hares")

    # grid size 8x8: HOP code, msh_code/train.py
    height: int = static(8)
    width: int = static(8)
    # 4 players: HOP paper (Huang et al., ICML 2024): 4 seats, the focal agent in 1 or 3 of them
    num_agents: int = static(4)
    # 1 stag: HOP code, msh_code/train.py (one comment there says 2)
    num_stags: int = static(1)
    # 4 hares: HOP code, msh_code/train.py
    num_hares: int = static(4)
    # up to 5 wall pieces: HOP code, msh_code/train.py (max_block_comp 5). Each piece has 3 or 4
    # cells, straight or L-shaped, at a uniform position; one that would overlap a wall is
    # skipped and the free space must stay connected (HOP code, msg_code/env.py block_build and
    # check_connectivity; rule in hopjax.envs._grid)
    num_walls: int = static(5)
    # t_max = 35: HOP code, msh_code/train.py
    max_steps: int = static(35)
    # hunting group of size >= 2 for a stag: HOP paper's Stag-Hunt (a stag needs hunters together)
    stag_min_hunters: int = static(2)
    # constant t/max_steps channel: our choice (original nets take time as an extra input)
    time_channel: bool = static(True)
    # stag reward 10, split equally among the group: HOP code, msh_code/train.py
    stag_reward: float = 10.0
    # hare reward 1, split among co-hunters: HOP code, msh_code/train.py
    hare_reward: float = 1.0

    @property
    def best_mean_return(self) -> float:
        """Highest mean return per agent of one episode (3.0 with the defaults: 2 players share
        the stag, 10 / 2 each, 2 take a hare, 1 each). Each player catches at most one animal
        (a successful hunter leaves); ``s`` groups of ``stag_min_hunters`` take ``s`` stags and
        the rest take hares. An upper bound: walls or ``max_steps`` may make it unreachable."""
        n, k = self.num_agents, self.stag_min_hunters
        return max(s * self.stag_reward + min(self.num_hares, n - s * k) * max(self.hare_reward, 0.0)
                   for s in range(min(self.num_stags, n // k) + 1)) / n

    def validate(self) -> None:
        super().validate()
        _check(1 <= self.stag_min_hunters <= MAX_AGENTS, "stag_min_hunters",
               f"must lie in [1, {MAX_AGENTS}]", self.stag_min_hunters)


@dataclasses.dataclass(frozen=True)
class SnowdriftParams(GridParams):
    """Markov Snowdrift (:mod:`hopjax.envs.snowdrift`). Actions: 5 moves, shovel."""

    NUM_ACTIONS: ClassVar[int] = 6
    NUM_OBJECT_CHANNELS: ClassVar[int] = 2  # walls, drifts
    ENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("num_drifts",)

    # grid size 8x8: HOP code, msg_code/env.py
    height: int = static(8)
    width: int = static(8)
    # 4 players: HOP code, msg_code/env.py
    num_agents: int = static(4)
    # 6 snowdrifts: HOP code, msg_code/env.py
    num_drifts: int = static(6)
    # no walls: HOP code, msg_code/train.py (max_block_comp 0); num_walls > 0 draws up to that
    # many pieces as in Stag-Hunt (HOP code, msg_code/env.py block_build)
    num_walls: int = static(0)
    # t_max = 50: HOP code, msg_code/env.py
    max_steps: int = static(50)
    # constant t/max_steps channel: our choice (original nets take time as an extra input)
    time_channel: bool = static(True)
    # +6 to every player per removed drift: HOP code, msg_code/env.py
    drift_reward: float = 6.0
    # cost 4 per drift, split by the clearing group: HOP code, msg_code/env.py
    drift_cost: float = 4.0

    @property
    def best_mean_return(self) -> float:
        """Highest mean return per agent of one episode (30.0 with the defaults): every drift
        gives each player ``drift_reward`` and costs ``drift_cost`` in all, so clearing all of
        them (if a drift is worth it to the team) gives ``num_drifts * (drift_reward -
        drift_cost / num_agents)``. An upper bound: ``max_steps`` may make it unreachable."""
        return self.num_drifts * max(self.drift_reward - self.drift_cost / self.num_agents, 0.0)


# env name -> params class (hopjax.envs.REGISTRY holds the env classes under the same names)
PARAMS: dict[str, type[GridParams]] = {"stag_hunt": StagHuntParams, "snowdrift": SnowdriftParams}

# env name -> names of its scripted co-players (hopjax.envs.scripted.SCRIPTED's keys)
SCRIPTED_NAMES: dict[str, tuple[str, ...]] = {
    "stag_hunt": ("random", "fix", "stag", "hare"),
    "snowdrift": ("random", "fix", "cleaner"),
}

"""Algorithm name (a config's ``algo`` key) -> its config class and trainer, by import path.

JAX-free: the CLI reads a config's ``algo`` and validates it with the named config class before
anything imports JAX; the trainer module (which does) is imported only to build the run.
Adding an algorithm = one entry here plus its config and trainer modules.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from hopjax.config import ConfigError


@dataclasses.dataclass(frozen=True)
class Entry:
    """``config``/``trainer``: ``"module:attribute"``; ``mesh``: the trainer marks an env batch
    that a device mesh may split (``env_split``), so ``mesh.devices``/``mesh.seed_devices`` apply."""

    config: str
    trainer: str
    mesh: bool


ALGORITHMS: dict[str, Entry] = {
    "ppo": Entry("hopjax.algos.ppo.config:PPOConfig", "hopjax.algos.ppo.trainer:Trainer", mesh=True),
    "hop": Entry("hopjax.algos.hop.config:HOPConfig", "hopjax.algos.hop.trainer:HOPTrainer", mesh=False),
}


def get(algo: str) -> Entry:
    """The entry of ``algo``; ConfigError naming the known algorithms."""
    if algo not in ALGORITHMS:
        raise ConfigError(f"config key 'algo': unknown algorithm {algo!r} (known: {', '.join(ALGORITHMS)})")
    return ALGORITHMS[algo]


def _load(path: str) -> Any:
    module, attr = path.split(":")
    return getattr(importlib.import_module(module), attr)


def config_class(algo: str) -> type:
    """The config class of ``algo`` (JAX-free)."""
    return _load(get(algo).config)


def build(cfg: Any) -> Any:
    """The trainer (an :class:`hopjax.loop.Algorithm`) of a validated config ``cfg``; imports JAX."""
    return _load(get(cfg.algo).trainer)(cfg)

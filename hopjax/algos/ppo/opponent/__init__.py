"""Opponent models trained next to PPO inside one compiled update: OMG (:mod:`.omg`), MOA
(:mod:`.moa`), each behind the one protocol of :mod:`.base` and found by name through
:mod:`.registry`. Importing this package does not import JAX."""

from hopjax.algos.ppo.opponent.registry import get, names, register

__all__ = ["get", "names", "register"]

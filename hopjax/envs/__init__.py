"""hopjax environments: functional JAX grid worlds (see ``base.py`` for the API contract).

``make(name, **overrides) -> (env, params)`` builds a registered environment with its default
params, overridden by keyword.
"""

from __future__ import annotations

import difflib
from typing import Any

from hopjax.envs.base import Dones, Environment
from hopjax.envs.snowdrift import Snowdrift, SnowdriftParams, SnowdriftState
from hopjax.envs.stag_hunt import StagHunt, StagHuntParams, StagHuntState
from hopjax.envs.wrappers import AutoReset

REGISTRY: dict[str, type[Environment]] = {
    "stag_hunt": StagHunt,
    "snowdrift": Snowdrift,
}


def make(name: str, **overrides: Any) -> tuple[Environment, Any]:
    """-> (env, params). Unknown names or parameter keys raise ValueError."""
    if name not in REGISTRY:
        known = sorted(REGISTRY)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown environment {name!r}; known: {', '.join(known)}.{hint}")
    env = REGISTRY[name]()
    return env, env.default_params(**overrides)


__all__ = [
    "REGISTRY",
    "AutoReset",
    "Dones",
    "Environment",
    "Snowdrift",
    "SnowdriftParams",
    "SnowdriftState",
    "StagHunt",
    "StagHuntParams",
    "StagHuntState",
    "make",
]

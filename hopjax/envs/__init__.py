"""hopjax environments: functional JAX grid worlds (see ``base.py`` for the API contract).

``make(name, **overrides) -> (env, params)`` builds a registered environment with its default
params, overridden by keyword. Importing this package does not import JAX: the env modules
load on first use, so :mod:`hopjax.envs.params` (every ``env_kwargs`` key, ``PARAMS``) serves
config validation before JAX starts. No env module creates a JAX array at import, so loading
one (or making an env) does not start JAX's backend either.

The grid worlds' movement actions (:mod:`hopjax.envs.moves`: ``NUM_MOVES``, ``STAY``,
``MOVE_DELTAS``, numpy) are public: actions ``0..NUM_MOVES-1`` move or stay, an env's interact
actions follow.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from hopjax.envs.moves import MOVE_DELTAS, NUM_MOVES, STAY
from hopjax.envs.params import PARAMS

# public name -> defining module (imported on first access)
_LAZY = {
    "AutoReset": "wrappers",
    "Dones": "base",
    "Environment": "base",
    "Snowdrift": "snowdrift",
    "SnowdriftParams": "snowdrift",
    "SnowdriftState": "snowdrift",
    "StagHunt": "stag_hunt",
    "StagHuntParams": "stag_hunt",
    "StagHuntState": "stag_hunt",
}
_ENV_CLASSES = {"stag_hunt": ("stag_hunt", "StagHunt"), "snowdrift": ("snowdrift", "Snowdrift")}


def _registry() -> dict[str, type]:
    return {name: getattr(importlib.import_module(f"hopjax.envs.{mod}"), cls)
            for name, (mod, cls) in _ENV_CLASSES.items()}


def __getattr__(name: str) -> Any:
    if name == "REGISTRY":
        return _registry()
    if name in _LAZY:
        return getattr(importlib.import_module(f"hopjax.envs.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'hopjax.envs' has no attribute {name!r}")


def make(name: str, **overrides: Any) -> tuple[Any, Any]:
    """-> (env, params). Unknown names or parameter keys raise ValueError."""
    if name not in PARAMS:
        known = sorted(PARAMS)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown environment {name!r}; known: {', '.join(known)}.{hint}")
    env = _registry()[name]()
    return env, env.default_params(**overrides)


__all__ = ["REGISTRY", "PARAMS", "MOVE_DELTAS", "NUM_MOVES", "STAY", *_LAZY, "make"]

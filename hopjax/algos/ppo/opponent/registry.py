"""Opponent-model names -> classes. JAX-free: config validation reads :func:`names` before JAX
starts, and a model's module (which imports JAX) is imported only when a trainer is built.

A new model is one module: a class following :class:`hopjax.algos.ppo.opponent.base.OpponentModel`
decorated with ``@register("name")``; importing the module makes ``opponent_model: {kind: name}`` valid.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

# The models shipped with hopjax, imported on first use ("module:attribute").
_BUILTIN = {
    "omg": "hopjax.algos.ppo.opponent.omg:OMGModel",
    "moa": "hopjax.algos.ppo.opponent.moa:MOAModel",
}
_REGISTERED: dict[str, Any] = {}

NONE = "none"


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make ``opponent_model: {kind: name}`` build this class. ValueError if ``name``
    is ``"none"`` or already taken by another class."""

    def deco(cls: type) -> type:
        if name == NONE or (name in _BUILTIN and not _BUILTIN[name].endswith(":" + cls.__name__)):
            raise ValueError(f"opponent model name {name!r} is reserved")
        if _REGISTERED.get(name, cls) is not cls:
            raise ValueError(f"opponent model {name!r} is already registered ({_REGISTERED[name].__name__})")
        _REGISTERED[name] = cls
        return cls

    return deco


def names() -> tuple[str, ...]:
    """Every valid ``opponent_model.kind``: ``"none"``, the shipped and the registered models."""
    return (NONE, *_BUILTIN, *(k for k in _REGISTERED if k not in _BUILTIN))


def get(name: str) -> type:
    """The model class registered as ``name``; KeyError naming the known ones."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _BUILTIN:
        module, attr = _BUILTIN[name].split(":")
        return getattr(importlib.import_module(module), attr)
    raise KeyError(f"unknown opponent model {name!r} (known: {', '.join(names()[1:])})")

"""Named sharding constraints that are the identity unless a mesh with an ``"envs"`` axis is
active: an algorithm's ``update`` marks where its env batch lives, the loop decides the mesh.

The mesh axes are ``("seeds", "envs")`` (:mod:`hopjax.runtime.distributed`). :class:`hopjax.loop.Loop`
traces an update under its mesh (``jax.sharding.use_abstract_mesh``); outside one (a plain
``jax.jit(trainer.update)``, the golden set) :func:`constrain` returns its input unchanged, so
the traced program is the one without a mesh.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
from jax.sharding import NamedSharding, PartitionSpec as P

SEEDS, ENVS = "seeds", "envs"
AXES = (SEEDS, ENVS)


def env_mesh_active() -> bool:
    """True while tracing under a mesh that has an ``"envs"`` axis."""
    mesh = jax.sharding.get_abstract_mesh()
    return not mesh.empty and ENVS in mesh.axis_names


def constrain(tree: Any, axis: int | Callable[[tuple], int]) -> Any:
    """``tree`` with every leaf split over ``"envs"`` along ``axis`` (or ``axis(path)`` for the
    leaf's key path) and replicated over the other mesh axes, via
    ``jax.lax.with_sharding_constraint``; unchanged when no mesh with ``"envs"`` is active."""
    if not env_mesh_active():
        return tree
    mesh = jax.sharding.get_abstract_mesh()

    def sharding(path, _):
        ax = axis(path) if callable(axis) else axis
        return NamedSharding(mesh, P(*([None] * ax), ENVS))

    return jax.lax.with_sharding_constraint(tree, jax.tree_util.tree_map_with_path(sharding, tree))

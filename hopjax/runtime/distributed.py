"""One training function on 1 device, N devices or many hosts: a ``jax.sharding.Mesh``.

The mesh has two named axes, ``("seeds", "envs")``. A run's env batch (the env carry and the
rollout, leading axis ``E``) and every minibatch are split over ``"envs"``; parameters,
optimiser state and keys are replicated. Everything else is ``jax.jit`` with ``NamedSharding``
annotations (:class:`hopjax.loop.Loop` given the mesh, :func:`hopjax.sharding.constrain`
inside the update): XLA partitions the rollout per device, gathers the shuffled minibatches and
all-reduces the gradient (a mean over the whole minibatch, so the sum of the per-device
parts) inside the one compiled step. A sweep vmaps the training run over seeds with
``spmd_axis_name="seeds"``, so seeds are split over ``"seeds"`` and each seed's envs over
``"envs"``. One device is a mesh of shape ``(1, 1)``: the same code path.

Random numbers do not depend on the sharding (JAX's partitionable threefry), so a run on N
devices equals the run on 1 device up to float summation order.

Multi-host: call :func:`initialize` first, before anything touches a device or imports
``hopjax.envs`` (``hopjax train|sweep --distributed`` does), and run the same command on every host;
``jax.devices()`` then lists all hosts' devices and the mesh spans them.
"""

from __future__ import annotations

import math
import os
from typing import Any

import jax
from jax.sharding import AxisType, Mesh

from hopjax.algos import registry
from hopjax.algos.ppo.config import PPOConfig
from hopjax.config import ConfigError
from hopjax.sharding import AXES


# -- multi-host ---------------------------------------------------------------------------
def initialize() -> bool:
    """Start JAX's distributed runtime for a multi-host run. -> True if it was started.

    Reads ``JAX_COORDINATOR_ADDRESS`` (host:port of process 0; JAX reads it too),
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``; without them JAX's own cluster detection
    (SLURM, Open MPI, Cloud TPU, Kubernetes) fills them in. Must run before any device use.
    """
    if jax.distributed.is_initialized():
        return False
    kw: dict[str, Any] = {}
    for env, key in (("JAX_NUM_PROCESSES", "num_processes"), ("JAX_PROCESS_ID", "process_id")):
        if os.environ.get(env, "") != "":
            try:
                kw[key] = int(os.environ[env])
            except ValueError:
                raise ConfigError(f"environment variable {env} must be an integer, got {os.environ[env]!r}") from None
    try:
        jax.distributed.initialize(**kw)
    except ValueError as e:  # nothing set and no cluster detected
        raise ConfigError(
            f"multi-host start failed ({e}): set JAX_COORDINATOR_ADDRESS (host:port of process 0), "
            "JAX_NUM_PROCESSES and JAX_PROCESS_ID on every host, or launch under SLURM/Open MPI"
        ) from None
    return True


# -- the mesh -------------------------------------------------------------------------------
def mesh_shape(cfg: PPOConfig, seeds: int = 1) -> tuple[int, int]:
    """-> (seed devices, env devices) for ``cfg`` run over ``seeds`` seeds; ConfigError if the
    device count does not fit the batch sizes. Checks only: nothing is placed or compiled."""
    visible = jax.device_count()
    n = cfg.mesh.devices or visible
    if n > visible:
        raise ConfigError(f"config key 'mesh.devices' asks for {n} devices, only {visible} "
                          f"{'is' if visible == 1 else 'are'} visible")
    if n < visible and jax.process_count() > 1:
        raise ConfigError(f"config key 'mesh.devices' must be 0 (all {visible}) in a multi-host run: "
                          "every host takes part in every step")
    s = 1 if seeds == 1 else cfg.mesh.seed_devices or math.gcd(seeds, n)  # a single run: all on envs
    if n % s:
        raise ConfigError(f"config key 'mesh.seed_devices' ({s}) must divide the device count ({n})")
    if seeds % s:
        raise ConfigError(f"config key 'mesh.seed_devices' ({s}) must divide the number of seeds ({seeds})")
    e = n // s
    mb = cfg.num_envs // cfg.ppo.num_minibatches
    if cfg.num_envs % e or mb % e:
        raise ConfigError(
            f"config key 'mesh.devices': the env batch is split over {e} devices, so {e} must divide "
            f"'num_envs' ({cfg.num_envs}) and the minibatch size num_envs/ppo.num_minibatches ({mb})"
        )
    return s, e


def make_mesh(shape: tuple[int, int]) -> Mesh:
    """A ``("seeds", "envs")`` mesh over the first ``prod(shape)`` devices (all hosts), laid
    out by ``jax.make_mesh`` (topology-aware on TPU)."""
    return jax.make_mesh(shape, AXES, (AxisType.Auto, AxisType.Auto),
                         devices=jax.devices()[: shape[0] * shape[1]])


def default_mesh(cfg: Any, seeds: int = 1) -> Mesh | None:
    """The mesh of a run (``seeds=1``) or sweep of ``cfg``: :func:`make_mesh` of
    :func:`mesh_shape` for an algorithm whose registry entry splits the env batch over devices
    (``mesh=True``), else None (the default device)."""
    if seeds < 1:
        raise ConfigError("the number of seeds must be at least 1")
    if not registry.get(cfg.algo).mesh:
        return None
    return make_mesh(mesh_shape(cfg, seeds))

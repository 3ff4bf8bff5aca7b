"""One training function on 1 device, N devices or many hosts: a ``jax.sharding.Mesh``.

The mesh has two named axes, ``("seeds", "envs")``. A run's env batch (the env carry and the
rollout, leading axis ``E``) and every minibatch are split over ``"envs"``; parameters,
optimiser state and keys are replicated. Everything else is ``jax.jit`` with ``NamedSharding``
annotations: XLA partitions the rollout per device, gathers the shuffled minibatches and
all-reduces the gradient (a mean over the whole minibatch, so the sum of the per-device
parts) inside the one compiled step. A sweep vmaps the training run over seeds with
``spmd_axis_name="seeds"``, so seeds are split over ``"seeds"`` and each seed's envs over
``"envs"``. One device is a mesh of shape ``(1, 1)``: the same code path.

Random numbers do not depend on the sharding (JAX's partitionable threefry), so a run on N
devices equals the run on 1 device up to float summation order.

Multi-host: call :func:`initialize` first, before anything touches a device (importing hopjax
creates no JAX array, so imports are safe; ``hopjax train|sweep --distributed`` does this), and
run the same command on every host;
``jax.devices()`` then lists all hosts' devices and the mesh spans them.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Callable

import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from hopjax.algos.ppo import PPOConfig
from hopjax.algos.ppo.loss import Minibatch
from hopjax.config import ConfigError
from hopjax.algos.ppo.trainer import Trainer

SEEDS, ENVS = "seeds", "envs"
AXES = (SEEDS, ENVS)


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
    n = cfg.devices or visible
    if n > visible:
        raise ConfigError(f"config key 'devices' asks for {n} devices, only {visible} are visible")
    if n < visible and jax.process_count() > 1:
        raise ConfigError(f"config key 'devices' must be 0 (all {visible}) in a multi-host run: "
                          "every host takes part in every step")
    s = 1 if seeds == 1 else cfg.seed_devices or math.gcd(seeds, n)  # a single run: all on envs
    if n % s:
        raise ConfigError(f"config key 'seed_devices' ({s}) must divide the device count ({n})")
    if seeds % s:
        raise ConfigError(f"config key 'seed_devices' ({s}) must divide the number of seeds ({seeds})")
    e = n // s
    mb = cfg.num_envs // cfg.num_minibatches
    if cfg.num_envs % e or mb % e:
        raise ConfigError(
            f"config key 'devices': the env batch is split over {e} devices, so {e} must divide "
            f"'num_envs' ({cfg.num_envs}) and the minibatch size num_envs/num_minibatches ({mb})"
        )
    return s, e


def make_mesh(shape: tuple[int, int]) -> Mesh:
    """A ``("seeds", "envs")`` mesh over the first ``prod(shape)`` devices (all hosts), laid
    out by ``jax.make_mesh`` (topology-aware on TPU)."""
    return jax.make_mesh(shape, AXES, (AxisType.Auto, AxisType.Auto),
                         devices=jax.devices()[: shape[0] * shape[1]])


def _pin(tree: Any, mesh: Mesh, axis: int | Callable[[Any], int]) -> Any:
    """Constrain every leaf of ``tree`` to be split over ``"envs"`` along ``axis`` (or
    ``axis(path)``) - replicated over everything else."""

    def spec(path, x):
        ax = axis(path) if callable(axis) else axis
        return NamedSharding(mesh, P(*([None] * ax), ENVS))

    shardings = jax.tree_util.tree_map_with_path(spec, tree)
    return jax.lax.with_sharding_constraint(tree, shardings)


def _minibatch_axis(path) -> int:
    """ppo_loss layout: ``hidden0 [B, N, H]``, every other field ``[T, B, ...]``."""
    return Minibatch.batch_axis(getattr(path[0], "name", None))


class _EnvSplitRollout:
    """The trainer's Rollout with ``run``'s env carry (in and out) and EpisodeBatch pinned to
    the ``"envs"`` axis (leading axis ``E``); everything else, ``reset`` included, is the
    Rollout's own (so ``init`` stays free of mesh constraints)."""

    def __init__(self, inner, mesh: Mesh):
        self._inner = inner
        self._mesh = mesh

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def run(self, key, params, carry, *args, **kwargs):
        carry, batch, stats = self._inner.run(key, params, _pin(carry, self._mesh, 0), *args, **kwargs)
        return _pin(carry, self._mesh, 0), _pin(batch, self._mesh, 0), stats


def _on_one_device(x: Any) -> Any:
    return jax.device_put(jax.device_get(x), jax.local_devices()[0])


class MeshTrainer:
    """A :class:`~hopjax.algos.ppo.trainer.Trainer` whose env batch is split over a mesh's ``"envs"`` axis.

    Wraps a Trainer of ``cfg`` (``.trainer``; any attribute not defined here is read from it):
    its rollout's env carry and EpisodeBatch and its minibatches are pinned to ``"envs"``, and
    its ``chunk`` is jitted with ``runner_sharding`` in and out and metrics replicated, so the
    pure functions stay the Trainer's own. ``mesh``: default ``(1, devices)`` from the config.

    Parameters are initialised on one device and then placed (:meth:`start`): orthogonal init
    runs a LAPACK QR, which deadlocks XLA:CPU's thread pool when several (virtual) CPU devices
    run it at once.

    Attributes: trainer, mesh, runner_sharding (a RunnerState of NamedShardings: ``env`` leaves
    ``P("envs")`` on axis 0, the rest replicated), replicated.
    """

    def __init__(self, cfg: PPOConfig, mesh: Mesh | None = None):
        t = self.trainer = Trainer(cfg)
        if mesh is None:
            mesh = make_mesh(mesh_shape(cfg, 1))
        e = mesh.shape[ENVS]
        if cfg.num_envs % e or (cfg.num_envs // cfg.num_minibatches) % e:
            raise ConfigError(f"config keys 'num_envs'/'num_minibatches': env batch and minibatch "
                              f"must split evenly over the mesh's {e} env devices")
        self.mesh = mesh
        self.replicated = NamedSharding(mesh, P())
        t.rollout = _EnvSplitRollout(t.rollout, mesh)
        grad_step = t.grad_step
        t.grad_step = lambda p, o, mb: grad_step(p, o, _pin(mb, mesh, _minibatch_axis))

        like = jax.eval_shape(t.init, jax.random.PRNGKey(0))
        rs = jax.tree.map(lambda _: self.replicated, like)
        env = NamedSharding(mesh, P(ENVS))
        self.runner_sharding = rs.replace(env=jax.tree.map(lambda _: env, like.env))
        self.traces = 0  # times a chunk was traced (sweep or chunk: each compiles once)

        def chunk(runner):
            self.traces += 1
            return t._chunk(runner)

        self._chunk = chunk
        # The Trainer's own chunk (and compiled_chunk) now run on the mesh.
        t.chunk = jax.jit(chunk, in_shardings=(self.runner_sharding,),
                          out_shardings=(self.runner_sharding, self.replicated))
        self._init = jax.jit(t.init)
        self._init_seeds = jax.jit(jax.vmap(t.init))
        self._gather = jax.jit(lambda r: r, out_shardings=self.replicated)
        rs_seeds = self.seed_sharding(self.runner_sharding)
        # a sweep's chunk: the same chunk vmapped over a leading seed axis split over "seeds"
        self.seed_chunk = jax.jit(jax.vmap(chunk, spmd_axis_name=SEEDS), in_shardings=(rs_seeds,),
                                  out_shardings=(rs_seeds, self.replicated))
        self._compiled_seeds = None
        self.seed_compile_seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        if "trainer" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.__dict__["trainer"], name)

    def place(self, runner: Any, seeds: bool = False) -> Any:
        """Put a RunnerState (host arrays, e.g. restored, or on any device) onto the mesh with
        ``runner_sharding`` (``seeds``: with a leading seed axis split over ``"seeds"``). Every
        host of a multi-host run must pass the same values."""
        sharding = self.seed_sharding(self.runner_sharding) if seeds else self.runner_sharding
        return jax.device_put(jax.device_get(runner), sharding)

    def start(self, key: jax.Array) -> Any:
        """``init(key)`` computed on one local device, placed on the mesh."""
        return self.place(self._init(_on_one_device(key)))

    def start_seeds(self, keys: jax.Array) -> Any:
        """``vmap(init)(keys [S, 2])`` on one local device, placed with seeds over ``"seeds"``."""
        return self.place(self._init_seeds(_on_one_device(keys)), seeds=True)

    def gather(self, runner: Any) -> Any:
        """``runner`` with every array whole on every device, so that each host can read it
        (a multi-host checkpoint); unchanged in a single-process run."""
        if jax.process_count() == 1:
            return runner
        return self._gather(runner)

    def describe(self) -> str:
        """E.g. ``"4 cpu devices: seeds 1 x envs 4 (1 host)"``."""
        d = self.mesh.devices.flat[0]
        return (f"{self.mesh.size} {d.platform} device{'s' * (self.mesh.size > 1)}: seeds "
                f"{self.mesh.shape[SEEDS]} x envs {self.mesh.shape[ENVS]} ({jax.process_count()} host"
                f"{'s' * (jax.process_count() > 1)})")

    def seed_sharding(self, tree: Any) -> Any:
        """Shardings ``tree`` with a leading seed axis split over ``"seeds"``."""
        return jax.tree.map(lambda s: NamedSharding(self.mesh, P(SEEDS, *s.spec)), tree)

    def compiled_seed_chunk(self, runners: Any) -> Callable:
        """:attr:`seed_chunk` compiled ahead of time for ``runners`` ([S, ...], from
        :meth:`place` with ``seeds=True``), once per trainer (``seed_compile_seconds``).
        -> ``runners -> (runners, metrics [S, chunk_updates, ...])``."""
        if self._compiled_seeds is None:
            t0 = time.perf_counter()
            self._compiled_seeds = self.seed_chunk.lower(runners).compile()
            self.seed_compile_seconds = time.perf_counter() - t0
        return self._compiled_seeds

    def run(self, runner: Any):
        """All ``num_chunks`` chunks from ``runner``: ``train(key)`` is ``run(init(key))``.
        -> (final RunnerState, metrics with a leading [num_updates] axis)."""
        runner, metrics = jax.lax.scan(lambda r, _: self._chunk(r), runner, None, self.num_chunks)
        return runner, jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), metrics)

    def sweep_fn(self) -> Callable:
        """``jit(vmap(run))(runners [S, ...])`` with seeds split over ``"seeds"`` (and each
        seed's envs over ``"envs"``) -> (final runners [S, ...], metrics [S, U, ...] replicated).
        Feed it :meth:`start_seeds`."""
        rs = self.seed_sharding(self.runner_sharding)
        return jax.jit(jax.vmap(self.run, spmd_axis_name=SEEDS), in_shardings=(rs,),
                       out_shardings=(rs, self.replicated))


def sweep_trainer(cfg: PPOConfig, seeds: int) -> MeshTrainer:
    """A MeshTrainer on the ``(seed devices, env devices)`` mesh for a ``seeds``-seed sweep."""
    if seeds < 1:
        raise ConfigError("the number of seeds must be at least 1")
    return MeshTrainer(cfg, make_mesh(mesh_shape(cfg, seeds)))

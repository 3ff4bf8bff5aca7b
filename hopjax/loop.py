"""One training loop for every algorithm: the :class:`Algorithm` protocol and :class:`Loop`.

An algorithm is pure functions over an explicit state (``init(key) -> state``,
``update(state) -> (state, metrics)``); :class:`Loop` turns it into the jitted chunk
(``lax.scan`` of ``update`` over ``chunk_updates``), compiled ahead of time once, and into
``train(key)`` (a ``lax.scan`` over chunks: ``jax.jit(jax.vmap(loop.train))(keys)`` is a seed
sweep, as in PureJaxRL, github.com/luchris429/purejaxrl, purejaxrl/ppo.py). Running the chunks
one after another, with or without a checkpoint/restore in between, gives bit-identical results.

With a ``jax.sharding.Mesh`` of axes ``("seeds", "envs")`` the chunk is jitted with
``NamedSharding`` in/out shardings: the leaves the algorithm marks in ``env_split`` are split
over ``"envs"`` on their leading axis, everything else is replicated, and with ``seeds`` the
chunk is vmapped with ``spmd_axis_name="seeds"``. The update is traced under the mesh, so its
:func:`hopjax.sharding.constrain` calls pin the env batch and minibatches inside.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Protocol

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from hopjax.sharding import ENVS, SEEDS


class Algorithm(Protocol):
    """What :class:`Loop` drives. ``cfg`` names its algorithm (``cfg.algo``)."""

    cfg: Any
    steps_per_update: int  # env steps (one step of one env, all agents) per update
    num_updates: int  # a whole number of chunks
    chunk_updates: int  # updates per jitted chunk
    goal_names: tuple[str, ...]  # names of the [G] axis of metrics["goals_per_episode"]

    def init(self, key: jax.Array) -> Any:
        """-> the state of a fresh run (a pytree)."""

    def update(self, state: Any) -> tuple[Any, dict[str, jax.Array]]:
        """One update: -> (state, metrics of scalars or small per-agent/per-goal arrays)."""

    def env_split(self, state: Any) -> Any:
        """``state``'s structure with one bool per leaf: True = its leading axis is the env
        batch, split over a mesh's ``"envs"`` axis; False = replicated."""


class Loop:
    """``algorithm`` as jitted chunks, optionally over a mesh and a leading seed axis.

    ``mesh``: a ``("seeds", "envs")`` mesh (None: the default device, no shardings).
    ``seeds``: the states carry a leading ``[seeds]`` axis (a sweep; split over ``"seeds"``).
    ``compiler_options``: passed to ``jax.jit``.
    Attributes: algorithm, mesh, seeds, num_chunks, chunk (jitted; ``chunk(state) -> (state,
    metrics [(seeds,) chunk_updates, ...])``), trace_count (times the chunk was traced),
    compile_seconds (of :meth:`compiled_chunk`), state_sharding (None without a mesh).
    """

    def __init__(self, algorithm: Algorithm, mesh: Mesh | None = None, seeds: int | None = None,
                 compiler_options: dict | None = None):
        self.algorithm, self.mesh, self.seeds = algorithm, mesh, seeds
        self.num_chunks = -(-algorithm.num_updates // algorithm.chunk_updates)
        self.trace_count, self.compile_seconds, self._compiled = 0, 0.0, None
        self.state_sharding = self.replicated = None
        self._seed_axis = None if mesh is None else SEEDS
        fn = self._chunk if seeds is None else jax.vmap(self._chunk, spmd_axis_name=self._seed_axis)
        kw: dict[str, Any] = {}
        if mesh is not None:
            self.replicated = NamedSharding(mesh, P())
            self.state_sharding = self._state_sharding()
            kw = dict(in_shardings=(self.state_sharding,), out_shardings=(self.state_sharding, self.replicated))
        self.chunk = jax.jit(fn, compiler_options=compiler_options, **kw)
        self._jit_kw = kw

    def _state_sharding(self) -> Any:
        like = jax.eval_shape(self.algorithm.init, jax.random.PRNGKey(0))
        lead = () if self.seeds is None else (SEEDS,)
        split = NamedSharding(self.mesh, P(*lead, ENVS))
        rest = NamedSharding(self.mesh, P(*lead))
        return jax.tree.map(lambda s: split if s else rest, self.algorithm.env_split(like))

    def _traced(self, fn: Callable, state: Any) -> Any:
        if self.mesh is None:
            return fn(state)
        with jax.sharding.use_abstract_mesh(self.mesh.abstract_mesh):
            return fn(state)

    def _chunk(self, state: Any):
        self.trace_count += 1
        scan = lambda s: jax.lax.scan(lambda c, _: self.algorithm.update(c), s, None,
                                      self.algorithm.chunk_updates)
        return self._traced(scan, state)

    def compiled_chunk(self, state: Any) -> Callable:
        """:attr:`chunk` compiled ahead of time for ``state``'s shapes, once per loop."""
        if self._compiled is None:
            t0 = time.perf_counter()
            self._compiled = self.chunk.lower(state).compile()
            self.compile_seconds = time.perf_counter() - t0
        return self._compiled

    def run(self, state: Any):
        """All chunks from one (unbatched) ``state``. Jittable, vmappable.
        -> (final state, metrics with a leading [num_updates] axis)."""
        state, metrics = jax.lax.scan(lambda s, _: self._chunk(s), state, None, self.num_chunks)
        return state, jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), metrics)

    def train(self, key: jax.Array):
        """``run(init(key))``: the whole run as one jittable, vmappable function."""
        return self.run(self.algorithm.init(key))

    def sweep_fn(self) -> Callable:
        """``jit(vmap(run))(states [S, ...])`` of a ``seeds`` loop, with its shardings (a mesh:
        seeds split over ``"seeds"``). -> (final states [S, ...], metrics [S, num_updates, ...])."""
        fn = jax.vmap(self.run, spmd_axis_name=self._seed_axis)
        return jax.jit(fn, **self._jit_kw)

    # -- host side: placing states on the mesh ---------------------------------------------
    def place(self, state: Any) -> Any:
        """``state`` (host arrays, e.g. restored) put onto the mesh with :attr:`state_sharding`;
        unchanged without a mesh. Every host of a multi-host run must pass the same values."""
        if self.mesh is None:
            return state
        return jax.device_put(jax.device_get(state), self.state_sharding)

    def start(self, key: jax.Array) -> Any:
        """The first state: ``init(key)`` (``vmap(init)(keys [S, 2])`` with ``seeds``), computed
        on one local device and then placed (the parameters are replicated or split by the
        mesh, so each device need not draw them)."""
        init = self.algorithm.init if self.seeds is None else jax.vmap(self.algorithm.init)
        one = jax.device_put(jax.device_get(key), jax.local_devices()[0])
        return self.place(jax.jit(init)(one))

    def gather(self, state: Any) -> Any:
        """``state`` whole on every device, so that each host can read it (a multi-host
        checkpoint); unchanged in a single-process run."""
        if jax.process_count() == 1 or self.mesh is None:
            return state
        return jax.jit(lambda s: s, out_shardings=self.replicated)(state)

    def describe(self) -> str:
        """E.g. ``"4 cpu devices: seeds 1 x envs 4 (1 host)"``."""
        if self.mesh is None:
            return f"1 {jax.devices()[0].platform} device (no mesh)"
        m, hosts = self.mesh, jax.process_count()
        return (f"{m.size} {m.devices.flat[0].platform} device{'s' * (m.size > 1)}: seeds "
                f"{m.shape[SEEDS]} x envs {m.shape[ENVS]} ({hosts} host{'s' * (hosts > 1)})")

"""Fixed-shape episode storage: a jit/vmap-friendly replacement for PyMARL's EpisodeBatch.

Shapes (``B`` batch, ``T`` = ``max_seq_length``, ``N`` = ``groups["agents"]``):

* time field:            ``data[name]``  ``[B, T+1, (G,), *shape]``  (``G`` = its group's size)
* episode-const field:   ``data[name]``  ``[B, (G,), *shape]``
* ``filled``             ``[B, T+1]`` bool  -- step ``t`` of episode ``b`` holds data
* ``alive``              ``[B, T+1, N]`` bool -- agent ``i`` is alive at step ``t``

Nothing is ever trimmed: PyMARL's ``batch[:, :max_t_filled()]`` becomes a mask
(:func:`valid_mask`, :mod:`hopjax.buffers.masked`), so every shape is static.

One-hot convention: a field with ``one_hot=K`` must have an integer dtype; :func:`write`
also stores ``f"{name}_onehot"`` with per-step shape ``(*shape, K)`` and dtype float32
(values outside ``[0, K)`` give an all-zero row). PyMARL's ``actions`` of vshape ``(1,)`` with
a one-hot of ``(n_actions,)`` is expressed here as ``shape=()`` -> onehot ``(K,)``. The
``_onehot`` field is derived: it appears in ``scheme.fields`` and ``data`` but cannot be
written directly.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

AGENTS = "agents"
ONEHOT_SUFFIX = "_onehot"
_RESERVED = ("filled", "alive")


@dataclasses.dataclass(frozen=True)
class Field:
    """Static description of one stored field (per step, after the group axis)."""

    shape: tuple[int, ...] = ()
    dtype: Any = jnp.float32
    group: str | None = None
    one_hot: int | None = None
    episode_const: bool = False

    def __post_init__(self) -> None:
        # Normalise so that equal specs hash equally (``np.float32`` vs ``jnp.float32``).
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "dtype", np.dtype(self.dtype))


@dataclasses.dataclass(frozen=True)
class Scheme:
    """Hashable, static layout of an :class:`EpisodeBatch`. Build with :meth:`Scheme.create`."""

    fields: tuple[tuple[str, Field], ...]
    groups: tuple[tuple[str, int], ...]
    max_seq_length: int

    @staticmethod
    def create(
        fields: Mapping[str, Field], groups: Mapping[str, int], max_seq_length: int
    ) -> "Scheme":
        """Validate ``fields``/``groups`` and add derived ``*_onehot`` fields.

        ``groups`` must contain ``"agents"`` (it sizes the ``alive`` mask).
        """
        groups = {str(k): int(v) for k, v in dict(groups).items()}
        if AGENTS not in groups:
            raise ValueError(f"groups must define {AGENTS!r} (sizes the alive mask); got {groups}")
        for g, size in groups.items():
            if size < 1:
                raise ValueError(f"group {g!r} must have size >= 1, got {size}")
        if int(max_seq_length) < 1:
            raise ValueError(f"max_seq_length must be >= 1, got {max_seq_length}")
        out: dict[str, Field] = {}
        for name, f in dict(fields).items():
            if not isinstance(f, Field):
                raise ValueError(f"field {name!r}: expected a Field, got {type(f).__name__}")
            if name in _RESERVED:
                raise ValueError(f"field {name!r}: name is reserved")
            if f.group is not None and f.group not in groups:
                raise ValueError(f"field {name!r}: group {f.group!r} not in groups {sorted(groups)}")
            if any(s < 0 for s in f.shape):
                raise ValueError(f"field {name!r}: negative dimension in shape {f.shape}")
            if f.one_hot is not None:
                if not np.issubdtype(f.dtype, np.integer):
                    raise ValueError(f"field {name!r}: one_hot needs an integer dtype, got {f.dtype}")
                if int(f.one_hot) < 1:
                    raise ValueError(f"field {name!r}: one_hot must be >= 1, got {f.one_hot}")
            out[name] = f
        for name, f in list(out.items()):
            if f.one_hot is not None:
                oh = name + ONEHOT_SUFFIX
                if oh in out:
                    raise ValueError(f"field {oh!r} clashes with the derived one-hot of {name!r}")
                out[oh] = Field((*f.shape, int(f.one_hot)), jnp.float32, f.group, None, f.episode_const)
        return Scheme(tuple(out.items()), tuple(sorted(groups.items())), int(max_seq_length))

    def field(self, name: str) -> Field:
        for n, f in self.fields:
            if n == name:
                return f
        raise ValueError(f"unknown field {name!r}; scheme has {list(self.field_names)}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.fields)

    def group_size(self, name: str) -> int:
        for g, size in self.groups:
            if g == name:
                return size
        raise ValueError(f"unknown group {name!r}; scheme has {[g for g, _ in self.groups]}")

    @property
    def n_agents(self) -> int:
        return self.group_size(AGENTS)

    def step_shape(self, name: str) -> tuple[int, ...]:
        """Per-episode-step shape of ``name`` without batch/time axes: ``((G,), *shape)``."""
        f = self.field(name)
        return ((self.group_size(f.group),) if f.group else ()) + f.shape

    def is_derived(self, name: str) -> bool:
        if not name.endswith(ONEHOT_SUFFIX):
            return False
        base = name[: -len(ONEHOT_SUFFIX)]
        return any(n == base and f.one_hot is not None for n, f in self.fields)


@flax.struct.dataclass
class EpisodeBatch:
    """Fixed-shape batch of episodes; see the module docstring for shapes."""

    data: dict[str, jax.Array]
    filled: jax.Array
    alive: jax.Array
    scheme: Scheme = flax.struct.field(pytree_node=False)

    @property
    def batch_size(self) -> int:
        return self.filled.shape[0]

    @property
    def max_seq_length(self) -> int:
        return self.scheme.max_seq_length

    def __getitem__(self, name: str) -> jax.Array:
        return self.data[name]


def init_batch(scheme: Scheme, batch_size: int) -> EpisodeBatch:
    """All-zero batch of ``batch_size`` episodes; ``filled`` and ``alive`` all False."""
    b, t1 = int(batch_size), scheme.max_seq_length + 1
    data = {}
    for name, f in scheme.fields:
        lead = (b,) if f.episode_const else (b, t1)
        data[name] = jnp.zeros(lead + scheme.step_shape(name), f.dtype)
    return EpisodeBatch(
        data=data,
        filled=jnp.zeros((b, t1), bool),
        alive=jnp.zeros((b, t1, scheme.n_agents), bool),
        scheme=scheme,
    )


def _kind(dtype: np.dtype) -> str:
    if dtype == np.bool_:
        return "bool"
    if np.issubdtype(dtype, np.integer):
        return "int"
    if np.issubdtype(dtype, np.floating):
        return "float"
    if np.issubdtype(dtype, np.complexfloating):
        return "complex"
    return str(dtype)


def _check_value(scheme: Scheme, name: str, value: Any, batch_size: int, const: bool) -> jax.Array:
    """Validate one input (static shape/dtype only) and cast it to the field's dtype.

    Dtype rule: the *kind* (bool / int / float) must match the field's; within a kind any
    width is accepted and cast (e.g. float64 -> float32, int64 -> int32).
    """
    if name not in scheme.field_names:
        raise ValueError(f"unknown field {name!r}; scheme has {list(scheme.field_names)}")
    if scheme.is_derived(name):
        raise ValueError(f"field {name!r} is derived from its one_hot source and written automatically")
    f = scheme.field(name)
    if f.episode_const != const:
        hint = "write_const" if f.episode_const else "write"
        raise ValueError(f"field {name!r}: episode_const={f.episode_const}, use {hint}()")
    x = jnp.asarray(value)
    want = (batch_size, *scheme.step_shape(name))
    if tuple(x.shape) != want:
        raise ValueError(f"field {name!r}: expected shape {want} ([B, (group,), *shape]), got {tuple(x.shape)}")
    if _kind(np.dtype(x.dtype)) != _kind(f.dtype):
        raise ValueError(f"field {name!r}: dtype {x.dtype} does not match field dtype {f.dtype}")
    return x.astype(f.dtype)


def _check_mask(mask: Any, shape: tuple[int, ...], what: str) -> jax.Array:
    m = jnp.asarray(mask)
    if tuple(m.shape) != shape:
        raise ValueError(f"{what}: expected shape {shape}, got {tuple(m.shape)}")
    if m.dtype != jnp.bool_:
        raise ValueError(f"{what}: expected dtype bool, got {m.dtype}")
    return m


def _row_where(rows: jax.Array, new: jax.Array, old: jax.Array) -> jax.Array:
    """``new`` where ``rows[b]`` else ``old``; ``rows`` is [B], ``new``/``old`` [B, ...]."""
    return jnp.where(rows.reshape(rows.shape + (1,) * (new.ndim - 1)), new, old)


def write(
    batch: EpisodeBatch,
    step_data: Mapping[str, Any],
    t: int | jax.Array,
    *,
    filled: jax.Array | None = None,
    alive: jax.Array | None = None,
    mark_filled: bool = True,
) -> EpisodeBatch:
    """Write time step ``t`` for the whole batch; ``step_data[name]`` is ``[B, (G,), *shape]``.

    ``t`` is a Python int in ``[0, T]`` or a traced int scalar (out-of-range traced ``t`` is
    dropped). Partial writes (any subset of fields) are allowed.

    * ``filled`` ([B] bool, default all True) selects the rows written: rows with False are
      left untouched (data, one-hots, filled, alive). Written rows get ``filled[b, t] = True``
      when ``mark_filled`` (PyMARL's default); a write never clears ``filled``. Pass
      ``mark_filled=False`` for a write that must not mark steps.
    * ``alive`` ([B, N] bool) sets the alive mask at ``t`` for the written rows. When omitted,
      rows whose step ``t`` becomes filled by this write get all-True; rows already filled
      keep their alive mask (so post-transition writes never resurrect dead agents).
    """
    scheme, b = batch.scheme, batch.batch_size
    if isinstance(t, (int, np.integer)):
        if not 0 <= int(t) <= scheme.max_seq_length:
            raise ValueError(f"t={int(t)} out of range [0, {scheme.max_seq_length}]")
    else:
        t = jnp.asarray(t)
        if t.shape != () or not jnp.issubdtype(t.dtype, jnp.integer):
            raise ValueError(f"t must be an integer scalar, got shape {t.shape} dtype {t.dtype}")
    rows = jnp.ones((b,), bool) if filled is None else _check_mask(filled, (b,), "filled")
    values = {k: _check_value(scheme, k, v, b, const=False) for k, v in step_data.items()}

    data = dict(batch.data)
    for name, x in values.items():
        f = scheme.field(name)
        pairs = [(name, x)]
        if f.one_hot is not None:
            pairs.append((name + ONEHOT_SUFFIX, jax.nn.one_hot(x, f.one_hot, dtype=jnp.float32)))
        for key, val in pairs:
            arr = data[key]
            data[key] = arr.at[:, t].set(_row_where(rows, val, arr[:, t]), mode="drop")

    prev_filled = batch.filled[:, t]
    if alive is None:
        new_alive = jnp.ones((b, scheme.n_agents), bool) if mark_filled else batch.alive[:, t]
        alive_rows = rows & ~prev_filled if mark_filled else jnp.zeros((b,), bool)
    else:
        new_alive = _check_mask(alive, (b, scheme.n_agents), "alive")
        alive_rows = rows
    alive_arr = batch.alive.at[:, t].set(_row_where(alive_rows, new_alive, batch.alive[:, t]), mode="drop")
    filled_arr = batch.filled
    if mark_filled:
        filled_arr = filled_arr.at[:, t].set(prev_filled | rows, mode="drop")
    return batch.replace(data=data, filled=filled_arr, alive=alive_arr)


def write_const(batch: EpisodeBatch, data: Mapping[str, Any]) -> EpisodeBatch:
    """Write episode-constant fields; ``data[name]`` is ``[B, (G,), *shape]``. No mask changes."""
    scheme, b = batch.scheme, batch.batch_size
    out = dict(batch.data)
    for name, v in data.items():
        x = _check_value(scheme, name, v, b, const=True)
        out[name] = x
        f = scheme.field(name)
        if f.one_hot is not None:
            out[name + ONEHOT_SUFFIX] = jax.nn.one_hot(x, f.one_hot, dtype=jnp.float32)
    return batch.replace(data=out)


def max_t_filled(batch: EpisodeBatch) -> jax.Array:
    """int32 scalar: the largest number of filled steps over the batch (PyMARL's max_t_filled)."""
    return jnp.max(jnp.sum(batch.filled, axis=1, dtype=jnp.int32), initial=0)


def valid_mask(batch: EpisodeBatch) -> jax.Array:
    """``[B, T+1, N]`` bool: step filled and agent alive."""
    return batch.filled[..., None] & batch.alive


def take(batch: EpisodeBatch, idx: Any) -> EpisodeBatch:
    """Gather episodes ``idx`` (int array ``[K]``) -> EpisodeBatch of size ``K``."""
    idx = jnp.asarray(idx)
    if idx.ndim != 1 or not jnp.issubdtype(idx.dtype, jnp.integer):
        raise ValueError(f"take: idx must be a 1-D integer array, got shape {idx.shape} dtype {idx.dtype}")
    return jax.tree_util.tree_map(lambda a: jnp.take(a, idx, axis=0), batch)


episode_slice = take


def concat(batches: list[EpisodeBatch]) -> EpisodeBatch:
    """Concatenate batches with the same scheme along the episode axis."""
    if not batches:
        raise ValueError("concat: need at least one batch")
    if any(b.scheme != batches[0].scheme for b in batches):
        raise ValueError("concat: all batches must share one scheme")
    return jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs, axis=0), *batches)

"""Episode replay ring buffer as a pure pytree (PyMARL's ReplayBuffer, fixed shapes).

Slots fill from 0 upwards before the ring wraps, so the stored episodes are always slots
``[0, episodes_in_buffer)``.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from hopjax.buffers.episode import EpisodeBatch, Scheme, init_batch, take


@flax.struct.dataclass
class ReplayBufferState:
    """``storage`` is an EpisodeBatch of ``capacity`` episodes ``[C, T+1, ...]``."""

    storage: EpisodeBatch
    insert_index: jax.Array  # int32 [], next slot to write
    episodes_in_buffer: jax.Array  # int32 [], min(total inserted, C)

    @property
    def capacity(self) -> int:
        return self.storage.batch_size

    @property
    def scheme(self) -> Scheme:
        return self.storage.scheme


def init_buffer(scheme: Scheme, capacity: int) -> ReplayBufferState:
    """Empty buffer of ``capacity`` episode slots."""
    if int(capacity) < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    return ReplayBufferState(
        storage=init_batch(scheme, int(capacity)),
        insert_index=jnp.zeros((), jnp.int32),
        episodes_in_buffer=jnp.zeros((), jnp.int32),
    )


def insert(state: ReplayBufferState, episodes: EpisodeBatch) -> ReplayBufferState:
    """Write ``B`` episodes at ``insert_index``, wrapping around the ring.

    Equivalent to PyMARL's split-at-the-end insertion. If ``B > capacity`` only the last
    ``capacity`` episodes of the batch are kept (exactly what sequential insertion leaves),
    and ``insert_index`` still advances by ``B`` (mod capacity).
    """
    if episodes.scheme != state.scheme:
        raise ValueError("insert: episode batch scheme differs from the buffer's scheme")
    cap, b = state.capacity, episodes.batch_size
    skip = max(b - cap, 0)
    if skip:
        episodes = take(episodes, jnp.arange(skip, b))
    slots = (state.insert_index + skip + jnp.arange(b - skip, dtype=jnp.int32)) % cap
    storage = jax.tree_util.tree_map(lambda s, e: s.at[slots].set(e), state.storage, episodes)
    return ReplayBufferState(
        storage=storage,
        insert_index=((state.insert_index + b) % cap).astype(jnp.int32),
        episodes_in_buffer=jnp.minimum(state.episodes_in_buffer + b, cap).astype(jnp.int32),
    )


def can_sample(state: ReplayBufferState, n: int) -> jax.Array:
    """Traced bool: at least ``n`` episodes stored."""
    return state.episodes_in_buffer >= n


def sample_indices(state: ReplayBufferState, key: jax.Array, n: int) -> jax.Array:
    """``[n]`` int32 slots, uniform without replacement among the stored episodes.

    If fewer than ``n`` are stored, all stored slots come first (random order) followed by
    never-written slots, whose episodes are all zeros with ``filled=False``.
    """
    cap = state.capacity
    if not 1 <= int(n) <= cap:
        raise ValueError(f"sample: n={n} must be in [1, capacity={cap}]")
    stored = jnp.arange(cap) < state.episodes_in_buffer
    # Random keys in [0, 1) for stored slots, -1 - slot for the rest (so unstored slots come
    # last, lowest index first); top_k of i.i.d. keys is a uniform draw without replacement.
    scores = jnp.where(stored, jax.random.uniform(key, (cap,)), -1.0 - jnp.arange(cap))
    return jax.lax.top_k(scores, int(n))[1].astype(jnp.int32)


def sample(state: ReplayBufferState, key: jax.Array, n: int) -> EpisodeBatch:
    """``n`` episodes (static ``n``), uniform without replacement among stored episodes.

    Under-filled buffer (fewer than ``n`` stored): every stored episode once, padded with
    empty episodes (zeros, ``filled=False``) that masked statistics ignore. Gate with
    :func:`can_sample` (e.g. under ``lax.cond``) where that matters.
    """
    return take(state.storage, sample_indices(state, key, n))

"""JAX's default PRNG (threefry-2x32, partitionable layout) with the hash unrolled: the same bits,
cheaper inside the search's loops on the CPU.

On the CPU, JAX lowers every threefry hash as a rolled loop (``jax/_src/random/threefry2x32.py``:
5 iterations of 4 rounds, to keep compile times down). mctx draws inside its traversal loop (one
``split`` and one tie-break ``uniform`` per step and tree), so each traversal step ran two inner
loops of tiny kernels: most of a search's CPU time at the paper's size (our measurement,
``benchmarks/RESULTS.md``). :data:`UNROLLED_THREEFRY` is a PRNG implementation
(``jax.extend.random.define_prng_impl``) whose ``split`` and ``random_bits`` compute the same
uint32 words with the 20 rounds written out, so XLA fuses a hash into one kernel. Integer
arithmetic is exact, so every key and every draw is bit-identical to ``jax.random``'s default
(``tests/algos/hop/test_search_rng.py``); keys wrapped with :func:`wrap` work with every
``jax.random`` function. Valid for ``jax_threefry_partitionable=True`` (JAX's default since
0.5); :func:`wrap` returns raw keys unchanged otherwise.

Source of the hash: Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
SC 2011 (Threefry-2x32, 20 rounds), as JAX implements it.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import define_prng_impl

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _rotate_left(x: jax.Array, r: int) -> jax.Array:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(k1: jax.Array, k2: jax.Array, x1: jax.Array, x2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32 (20 rounds) of the counter words ``x1``, ``x2`` (uint32, any equal shapes)
    under the key ``(k1, k2)`` (uint32 scalars) -> two uint32 arrays of that shape."""
    ks = (k1, k2, k1 ^ k2 ^ _PARITY)
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = x1 + x2
            x2 = x1 ^ _rotate_left(x2, r)
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def _hash_iota(key: jax.Array, shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """The hash of the row-major counters 0..prod(shape)-1 as 64-bit (hi, lo) words, as
    ``jax._src.random.prng.iota_2x32_shape``; hi is 0 below 2**32 elements."""
    n = math.prod(shape)
    if n >= 2**32:
        raise ValueError(f"search_rng: {n} draws from one key exceed 2**32")
    lo = jnp.arange(n, dtype=jnp.uint32).reshape(shape)
    return threefry2x32(key[0], key[1], jnp.zeros_like(lo), lo)


def _split(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    b1, b2 = _hash_iota(key, shape)
    return jnp.stack([b1, b2], axis=b1.ndim)


def _random_bits(key: jax.Array, bit_width: int, shape: tuple[int, ...]) -> jax.Array:
    b1, b2 = _hash_iota(key, shape)
    if bit_width == 64:
        return (b1.astype(jnp.uint64) << np.uint64(32)) | b2.astype(jnp.uint64)
    bits = b1 ^ b2
    return bits if bit_width == 32 else bits.astype({8: jnp.uint8, 16: jnp.uint16}[bit_width])


def _seed(seed: jax.Array) -> jax.Array:
    return jax.random.PRNGKey(seed)  # raw uint32[2] key data, the default implementation's seed


def _fold_in(key: jax.Array, data: jax.Array) -> jax.Array:
    return jax.random.fold_in(key, data)  # raw key in, raw key out (rare: not in the search's loops)


UNROLLED_THREEFRY = define_prng_impl(key_shape=(2,), seed=_seed, split=_split, random_bits=_random_bits,
                                     fold_in=_fold_in, name="threefry2x32_unrolled", tag="fryu")


def wrap(raw_key: jax.Array) -> jax.Array:
    """A raw uint32[..., 2] key as a typed key of :data:`UNROLLED_THREEFRY` (the same stream),
    or ``raw_key`` unchanged where JAX's threefry is not in its partitionable layout."""
    if not jax.config.jax_threefry_partitionable:
        return raw_key
    return jax.random.wrap_key_data(raw_key, impl=UNROLLED_THREEFRY)


def raw(key: jax.Array) -> jax.Array:
    """The uint32 key data of a typed key (a raw key unchanged)."""
    return jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key

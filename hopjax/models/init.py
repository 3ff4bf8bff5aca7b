"""Weight initialisers that are safe inside XLA:CPU's thread pool.

:func:`orthogonal` returns the same values as ``jax.nn.initializers.orthogonal`` (bit for bit:
the same normal draw and the same LAPACK QR of each matrix) but never runs a *batched* QR. On
the CPU, jaxlib 0.10's LAPACK kernels split a batched QR over XLA's intra-op thread pool and
block a pool thread until the parts finish (``ParallelBatchMap`` in
jax-ml/jax, jaxlib/cpu/lapack_kernels.cc, v0.10.2; the parallel path is compiled out of later
open-source builds): when as many batched QRs as the pool has threads run at once - two on a
2-core machine, as XLA runs independent operations of one program concurrently - every thread
waits for work that none is free to do, and the program never finishes. Initialising
per-agent or per-seed parameters under ``jax.vmap`` batches the QR, which is how hopjax's
training (``jit(Loop.train)`` with several networks) and evaluations hung. Here a vmapped
initialiser draws its matrices one after another (``jax.lax.map``, a custom batching rule), so
every QR is a single matrix; initialisation is a one-off cost, so the loop costs nothing that
matters.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def orthogonal(scale: float = 1.0, column_axis: int = -1):
    """``jax.nn.initializers.orthogonal(scale, column_axis)`` with the same values for every key,
    whose QR stays unbatched under ``jax.vmap`` (module docstring).

    -> ``init(key, shape, dtype=float32) -> [*shape] dtype``; ``shape`` needs at least 2 dims
    (ValueError otherwise, as the JAX initialiser)."""
    base = jax.nn.initializers.orthogonal(scale, column_axis)

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        @jax.custom_batching.custom_vmap
        def draw(k):
            return base(k, shape, dtype)

        @draw.def_vmap
        def _one_at_a_time(axis_size, in_batched, k):
            return jax.lax.map(draw, k), True

        return draw(key)

    return init

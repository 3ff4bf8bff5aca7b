"""search_rng's unrolled threefry draws exactly JAX's default (partitionable threefry) stream."""

import jax
import jax.numpy as jnp
import numpy as np

from hopjax.algos.hop import search_rng


def test_same_keys_and_draws_as_jax_default():
    for seed in (0, 12345):
        k = jax.random.PRNGKey(seed)
        w = search_rng.wrap(k)
        np.testing.assert_array_equal(jax.random.split(k), search_rng.raw(jax.random.split(w)))
        for n in (3, 320):
            np.testing.assert_array_equal(jax.random.split(k, n), search_rng.raw(jax.random.split(w, n)))
        for shape in ((), (7,), (3, 4)):
            np.testing.assert_array_equal(jax.random.uniform(k, shape), jax.random.uniform(w, shape))
            np.testing.assert_array_equal(jax.random.bits(k, shape, jnp.uint8), jax.random.bits(w, shape, jnp.uint8))
        np.testing.assert_array_equal(jax.random.normal(k, (5,)), jax.random.normal(w, (5,)))
        np.testing.assert_array_equal(jax.random.gamma(k, jnp.full((4,), 0.3)), jax.random.gamma(w, jnp.full((4,), 0.3)))
        np.testing.assert_array_equal(jax.random.categorical(k, jnp.zeros((3, 5))), jax.random.categorical(w, jnp.zeros((3, 5))))
        np.testing.assert_array_equal(jax.random.fold_in(k, 3), search_rng.raw(jax.random.fold_in(w, 3)))
        keys = jax.random.split(k, 6)  # batched, under jit and vmap as in the search
        draw = jax.jit(jax.vmap(lambda q: jax.random.uniform(jax.random.split(q)[1], (7,))))
        np.testing.assert_array_equal(draw(keys), draw(search_rng.wrap(keys)))

"""select() before computing: NaN/inf in masked entries reaches neither masked statistics nor
their gradients, where selecting only the result would leak NaN into the gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax.buffers.masked import masked_mean, masked_returns, masked_sum, select

BAD = (np.nan, np.inf, -np.inf)


def test_smallest_case_needs_select_before_computing():
    ret = jnp.array([0.5, jnp.nan])
    mask = jnp.array([True, False])
    x = jnp.array([1.0, 2.0])
    # the where inside masked_mean keeps the value finite but not the gradient: 0 * nan = nan
    g = jax.grad(lambda x: masked_mean((x - ret) ** 2, mask))(x)
    assert np.isnan(np.asarray(g)[1])
    g = jax.grad(lambda x: masked_mean((x - select(mask, ret)) ** 2, mask))(x)
    np.testing.assert_array_equal(g, [1.0, 0.0])


def test_select_broadcasts_from_the_left_and_blocks_gradients():
    x = jnp.arange(24.0).reshape(2, 3, 4).at[1, 2].set(jnp.nan)
    mask = jnp.array([[True, True, False], [True, False, False]])
    out = select(mask, x, -1.0)
    ref = np.where(np.asarray(mask)[..., None], np.asarray(x), -1.0)
    np.testing.assert_array_equal(out, ref)
    assert out.dtype == x.dtype and select(mask[..., None], jnp.ones((2, 3, 1), bool), True).dtype == bool
    g = jax.grad(lambda x: jnp.sum(jnp.exp(select(mask, x))))(x)
    np.testing.assert_array_equal(np.asarray(g)[~np.asarray(mask)], 0.0)
    with pytest.raises(ValueError, match="broadcast"):
        select(jnp.ones((3,), bool), jnp.ones((2, 3)))


@pytest.mark.parametrize("bad", BAD)
def test_masked_statistics_of_computed_inputs_ignore_bad_padding(bad):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5, 3)).astype(np.float32)
    target = rng.normal(size=(4, 5, 3)).astype(np.float32)
    mask = rng.random((4, 5, 3)) < 0.6
    dirty = np.where(mask, target, bad).astype(np.float32)
    clean = np.where(mask, target, 0.0).astype(np.float32)

    def stats(x, t):
        d = jnp.square(x - select(mask, t))
        return (masked_mean(d, mask) + jnp.sum(masked_mean(d, mask, axis=1))
                + jnp.sum(masked_sum(d, mask, axis=(0, 1))) + jnp.sum(masked_returns(d, mask)))

    fn = jax.jit(jax.value_and_grad(stats, argnums=(0, 1)))
    v_d, (gx_d, gt_d) = fn(x, dirty)
    v_c, (gx_c, gt_c) = fn(x, clean)
    np.testing.assert_array_equal(v_d, v_c)
    np.testing.assert_array_equal(gx_d, gx_c)
    np.testing.assert_array_equal(gt_d, gt_c)
    assert np.all(np.asarray(gx_d)[~mask] == 0) and np.all(np.isfinite(gx_d))
    # NumPy reference for the gradient of the first term: 2 (x - t) / count on valid entries
    ref_mean = np.sum(np.where(mask, (x - target) ** 2, 0)) / mask.sum()
    d_only = jax.grad(lambda x: masked_mean(jnp.square(x - select(mask, dirty)), mask))(x)
    np.testing.assert_allclose(d_only, np.where(mask, 2 * (x - target) / mask.sum(), 0), rtol=1e-5)
    np.testing.assert_allclose(masked_mean(jnp.square(x - select(mask, dirty)), mask), ref_mean, rtol=1e-5)

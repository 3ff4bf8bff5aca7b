"""hopjax.models.policy: mixed precision (compute_dtype)."""


def test_bfloat16_compute_keeps_float32_params_and_grads():
    """compute_dtype=bfloat16: same parameters (float32), outputs float32 and close to float32's."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from hopjax.models.policy import MultiPolicy

    f32 = MultiPolicy(2, (3, 3, 2), 5, (16, 16))
    bf = MultiPolicy(2, (3, 3, 2), 5, (16, 16), compute_dtype="bfloat16")
    params = f32.init(jax.random.PRNGKey(0))
    assert jax.tree.map(lambda a, b: a.shape == b.shape and b.dtype == jnp.float32, params,
                        bf.init(jax.random.PRNGKey(0)))
    obs = jax.random.uniform(jax.random.PRNGKey(1), (4, 2, 3, 3, 2))
    h, r = f32.initial_hidden((4,)), jnp.zeros((4,), bool)
    _, l32, v32 = f32.apply(params, h, obs, r)
    _, l16, v16 = bf.apply(params, h, obs, r)
    assert l16.dtype == jnp.float32 and v16.dtype == jnp.float32
    assert not np.array_equal(np.asarray(l16), np.asarray(l32))  # bfloat16 operands really used
    np.testing.assert_allclose(np.asarray(v16), np.asarray(v32), atol=0.05)
    g = jax.grad(lambda p: bf.apply(p, h, obs, r)[2].sum())(params)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(g))

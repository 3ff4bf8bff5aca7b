"""hopjax.models.policy: mixed precision (compute_dtype), the first layer without the
concatenated input, extra inputs for some seats only."""

import pytest


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


def _reference_first_layer(pol, params, obs, extra):
    """The first torso layer on the concatenated input (the network's own Dense_0)."""
    import jax

    x = pol._inputs(obs, extra)
    k = params["params"]["Dense_0"]["kernel"]
    b = params["params"]["Dense_0"]["bias"]
    if pol.shared:
        return x @ k + b
    return jax.vmap(lambda xi, ki, bi: xi @ ki + bi, in_axes=(-2, 0, 0), out_axes=-2)(x, k, b)


@pytest.mark.parametrize("shared", [False, True], ids=["independent", "shared"])
@pytest.mark.parametrize("seats", [(), (1, 2)], ids=["all-seats", "seats-1-2"])
def test_first_layer_without_concatenation_equals_concatenated_input(shared, seats):
    """first_layer (obs, extra and agent-id products summed) equals the dense layer on the
    concatenated input up to float rounding; with extra_seats (1, 2) of 3 the extra holds 2 rows
    and the third seat's input is 0, so apply equals a policy that takes all 3 rows with zeros
    in seat 0's."""
    import dataclasses

    import jax
    import jax.numpy as jnp
    import numpy as np

    from hopjax.models.policy import MultiPolicy

    pol = MultiPolicy(3, (3, 3, 2), 5, (16, 8), shared=shared, extra_dim=4, extra_seats=seats)
    params = pol.init(jax.random.PRNGKey(0))
    obs = (jax.random.uniform(jax.random.PRNGKey(1), (6, 3, 3, 3, 2)) < 0.3).astype(jnp.float32)
    extra = jax.random.normal(jax.random.PRNGKey(2), (6, pol.extra_rows, 4))
    want = _reference_first_layer(pol, params, obs, extra)
    got = pol.first_layer(params, obs, extra)
    assert got.shape == (6, 3, 16)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    h, r = pol.initial_hidden((6,)), jnp.zeros((6,), bool)
    full = dataclasses.replace(pol, extra_seats=())
    extra_full = pol.full_extra(extra)
    if seats:
        assert extra_full.shape == (6, 3, 4)
        np.testing.assert_array_equal(np.asarray(extra_full[:, 0]), 0.0)
        np.testing.assert_array_equal(np.asarray(extra_full[:, list(seats)]), np.asarray(extra))
    for a, b in zip(pol.apply(params, h, obs, r, extra), full.apply(params, h, obs, r, extra_full)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="extra inputs"):
        pol.apply(params, h, obs, r, jnp.zeros((6, pol.extra_rows + 1, 4)))

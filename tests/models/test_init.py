"""hopjax.models.init.orthogonal: JAX's orthogonal initialiser, bit for bit, without batched QRs."""

from __future__ import annotations

import jax
import jax.extend
import numpy as np
import pytest

from hopjax.models.init import orthogonal


def _qr_operand_shapes(jaxpr) -> list[tuple[int, ...]]:
    """Shapes of every QR's operand in a (closed) jaxpr, sub-jaxprs (scan bodies) included."""
    out = []
    for eqn in jaxpr.eqns:
        if "qr" in eqn.primitive.name or "geqrf" in eqn.primitive.name:
            out.append(tuple(eqn.invars[0].aval.shape))
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            out += _qr_operand_shapes(sub)
    return out


@pytest.mark.parametrize("shape,scale", [((7, 5), 1.0), ((3, 8), 0.01), ((3, 3, 4, 6), np.sqrt(2))])
def test_orthogonal_equals_jax_and_never_batches_its_qr(shape, scale):
    ours, ref = orthogonal(scale), jax.nn.initializers.orthogonal(scale)
    key = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(ours(key, shape), ref(key, shape))
    keys = jax.random.split(key, 6).reshape(2, 3, 2)  # [seeds, agents] of keys
    nested = lambda f: jax.jit(jax.vmap(jax.vmap(lambda k: f(k, shape))))
    got, want = nested(ours)(keys), nested(ref)(keys)
    assert got.shape == (2, 3, *shape)
    np.testing.assert_array_equal(got, want)
    # The reference batches its QR over [2, 3]; ours only ever sees one matrix.
    ref_shapes = _qr_operand_shapes(jax.make_jaxpr(jax.vmap(jax.vmap(lambda k: ref(k, shape))))(keys).jaxpr)
    our_shapes = _qr_operand_shapes(jax.make_jaxpr(jax.vmap(jax.vmap(lambda k: ours(k, shape))))(keys).jaxpr)
    assert ref_shapes and all(len(s) == 4 for s in ref_shapes)
    assert our_shapes and all(len(s) == 2 for s in our_shapes)
    g = np.asarray(got).reshape(6, -1, shape[-1])
    m = g if g.shape[1] >= g.shape[2] else np.swapaxes(g, 1, 2)
    np.testing.assert_allclose(np.swapaxes(m, 1, 2) @ m / scale**2, np.broadcast_to(np.eye(m.shape[2]), (6, m.shape[2], m.shape[2])), atol=1e-5)


def test_orthogonal_rejects_vectors():
    with pytest.raises(ValueError, match="at least a 2D shape"):
        orthogonal()(jax.random.PRNGKey(0), (4,))

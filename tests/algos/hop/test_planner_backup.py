"""The planner's replacements inside mctx (batched in-place backup, one selection per traversal
step) give exactly mctx's own search."""

import jax
import jax.numpy as jnp
import mctx
import numpy as np

from hopjax.algos.hop import search_rng
from hopjax.algos.hop.planner import _mctx_patches


def _search(patched: bool):
    b, a = 6, 4

    def recurrent_fn(params, key, action, emb):  # a random but deterministic toy model
        k1, k2 = jax.random.split(search_rng.raw(key))
        reward = jax.random.normal(k1, (b,)) + action
        out = mctx.RecurrentFnOutput(reward=reward, discount=jnp.where(emb > 5, 0.0, 0.9),
                                     prior_logits=jax.random.normal(k2, (b, a)), value=0.1 * emb)
        return out, emb + 1

    root = mctx.RootFnOutput(prior_logits=jnp.zeros((b, a)), value=jnp.arange(b, dtype=jnp.float32),
                             embedding=jnp.zeros((b,), jnp.int32))

    def run(key):
        key = search_rng.wrap(key) if patched else key  # the planner's unrolled-hash keys: same draws
        return mctx.muzero_policy(None, key, root, recurrent_fn, 40, max_depth=7,
                                  invalid_actions=jnp.zeros((b, a), bool).at[0, 1].set(True))

    if patched:
        with _mctx_patches():
            out = jax.jit(run)(jax.random.PRNGKey(3))
    else:
        out = jax.jit(run)(jax.random.PRNGKey(3))
    return out.search_tree


def test_batched_backup_equals_mctx():
    ref, got = _search(False), _search(True)
    for name in ("node_values", "node_visits", "children_values", "children_visits", "children_index", "parents",
                 "action_from_parent", "children_prior_logits", "children_rewards", "raw_values", "embeddings"):
        np.testing.assert_array_equal(np.asarray(getattr(got, name)), np.asarray(getattr(ref, name)), err_msg=name)
    assert int(ref.node_visits[:, 0].min()) == 41  # the search really ran: root visited 1 + 40 times


def test_muzero_pair_draws_its_noise_ahead():
    """muzero_policy's selection pair takes the carried-noise path (same PUCT arithmetic, noise
    drawn one step ahead), which test_batched_backup_equals_mctx then checks tree-wise."""
    import functools

    from mctx._src import action_selection, qtransforms

    from hopjax.algos.hop.planner import _muzero_select, _selection_and_draw

    interior = functools.partial(action_selection.muzero_action_selection, pb_c_base=1.0, pb_c_init=2.0,
                                 qtransform=qtransforms.qtransform_by_parent_and_siblings)
    select, draw = _selection_and_draw(functools.partial(interior, depth=0), interior, 4)
    assert select.func is _muzero_select and select.keywords["pb_c_init"] == 2.0
    key = jax.random.PRNGKey(1)
    np.testing.assert_array_equal(draw(key), 1e-7 * jax.random.uniform(key, (4,)))

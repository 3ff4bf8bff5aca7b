"""AutoReset.step_pooled: the same transition as the unwrapped env, ended envs start from the
next unused pool entries (each used once, refilled when short), and the starts of new episodes
are distributed as fresh resets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from hopjax.envs import AutoReset, make

E = 6


def _scan(wrapped, params, steps, seed):
    """Random available actions for ``steps`` steps of E envs -> per-step outputs."""
    env = wrapped.env

    def run(key):
        k0, k1, k2 = jax.random.split(key, 3)
        _, s0 = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k0, E), params)
        pool0 = wrapped.init_pool(k1, params, E)

        def body(c, k):
            s, pool = c
            ka, ks = jax.random.split(k)
            avail = jax.vmap(env.avail_actions, in_axes=(0, None))(s, params)
            a = jax.random.categorical(ka, jnp.where(avail, 0.0, -jnp.inf))
            plain = jax.vmap(env.step, in_axes=(0, 0, 0, None))(jax.random.split(ks, E), s, a, params)
            out = wrapped.step_pooled(ks, s, a, params, pool)
            return (out[1], out[5]), (s, pool, plain, out)

        return jax.lax.scan(body, (s0, pool0), jax.random.split(k2, steps))[1]

    return jax.device_get(jax.jit(run)(jax.random.PRNGKey(seed)))


def test_step_pooled_semantics():
    env, params = make("stag_hunt", height=4, width=4, max_steps=5, num_walls=2)
    steps = 23
    s_in, pool_in, plain, out = _scan(AutoReset(env), params, steps, seed=1)
    p_obs, p_state, p_r, p_d, p_info = plain
    obs, state, r, d, info, pool_out = out
    done = p_d.terminated | p_d.truncated  # [T, E]
    assert done.sum() >= 3 * E and done.any(1).sum() >= 4
    np.testing.assert_array_equal(info["final_obs"], p_obs)
    np.testing.assert_array_equal(info["final_alive"], p_info["alive"])
    np.testing.assert_array_equal(info["final_avail_actions"], p_info["avail_actions"])
    np.testing.assert_array_equal(r, p_r)
    np.testing.assert_array_equal(d.terminated, p_d.terminated)
    np.testing.assert_array_equal(d.truncated, p_d.truncated)
    np.testing.assert_array_equal(info["final_dones"].agents, p_d.agents)
    refills = 0
    for t in range(steps):
        used = int(pool_in.taken[t].sum())
        n = int(done[t].sum())
        refill = used + n > E
        refills += refill
        start = 0 if refill else used
        assert int(pool_out.taken[t].sum()) == start + n
        assert pool_out.taken[t].tolist() == [i < start + n for i in range(E)]  # a prefix
        src = pool_out if refill else pool_in  # the entries handed out this step
        for j, e in enumerate(np.flatnonzero(done[t])):
            slot = start + j  # ended envs take the next entries in env order
            np.testing.assert_array_equal(obs[t, e], src.obs[t, slot])
            np.testing.assert_array_equal(info["avail_actions"][t, e], src.avail[t, slot])
            for leaf, pleaf in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(src.state)):
                np.testing.assert_array_equal(leaf[t, e], pleaf[t, slot])
            assert state.t[t, e] == 0 and info["alive"][t, e].all()
        for e in np.flatnonzero(~done[t]):
            np.testing.assert_array_equal(obs[t, e], p_obs[t, e])
            for leaf, pleaf in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(p_state)):
                np.testing.assert_array_equal(leaf[t, e], pleaf[t, e])
        if not refill and t + 1 < steps:  # untouched entries stay as they were
            for leaf_in, leaf_out in zip(jax.tree_util.tree_leaves(pool_in.state), jax.tree_util.tree_leaves(pool_out.state)):
                np.testing.assert_array_equal(leaf_in[t], leaf_out[t])
    assert refills >= 2


def test_pool_smaller_than_envs_is_refused():
    env, params = make("stag_hunt", height=4, width=4)
    w = AutoReset(env)
    key = jax.random.PRNGKey(0)
    pool = jax.eval_shape(lambda k: w.init_pool(k, params, 2), key)  # shapes only: no compile
    _, s = jax.eval_shape(lambda k: jax.vmap(env.reset, in_axes=(0, None))(k, params), jax.random.split(key, 3))
    with pytest.raises(ValueError, match="2 entries, fewer than the 3 envs"):
        jax.eval_shape(lambda s, p: w.step_pooled(key, s, jnp.zeros((3, 4), jnp.int32), params, p), s, pool)
    with pytest.raises(ValueError, match="pool size"):
        w.init_pool(jax.random.PRNGKey(0), params, 0)


def test_new_episodes_distributed_as_fresh_resets():
    """Starts of new episodes under step_pooled vs fresh resets (5x5 Stag-Hunt, 3 wall pieces):
    wall-cell count, the stag's cell and player 0's cell, chi-square two-sample tests; no pool
    entry handed out twice (no two starts share a whole layout)."""
    env, params = make("stag_hunt", height=5, width=5, max_steps=4, num_walls=3, num_hares=2)
    w = AutoReset(env)
    e, steps = 64, 96

    def run(key):
        k0, k1, k2 = jax.random.split(key, 3)
        _, s0 = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k0, e), params)

        def body(c, k):
            s, pool = c
            ka, ks = jax.random.split(k)
            avail = jax.vmap(env.avail_actions, in_axes=(0, None))(s, params)
            a = jax.random.categorical(ka, jnp.where(avail, 0.0, -jnp.inf))
            _, s2, _, d, _, pool = w.step_pooled(ks, s, a, params, pool)
            return (s2, pool), (s2, d.terminated | d.truncated)

        return jax.lax.scan(body, (s0, w.init_pool(k1, params, e)), jax.random.split(k2, steps))[1]

    starts, done = jax.device_get(jax.jit(run)(jax.random.PRNGKey(5)))
    pick = lambda x: np.asarray(x)[done]  # noqa: E731
    walls, stag, p0 = pick(starts.walls), pick(starts.stag_pos)[:, 0], pick(starts.positions)[:, 0]
    n = len(walls)
    assert n >= 1500
    _, fresh = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(jax.random.split(jax.random.PRNGKey(9), n), params)
    fw, fs, fp = np.asarray(fresh.walls), np.asarray(fresh.stag_pos)[:, 0], np.asarray(fresh.positions)[:, 0]
    cell = lambda rc: rc[:, 0] * 5 + rc[:, 1]  # noqa: E731
    for a, b, m in [(walls.reshape(n, -1).sum(1), fw.reshape(n, -1).sum(1), 26),
                    (cell(stag), cell(fs), 25), (cell(p0), cell(fp), 25)]:
        table = np.array([np.bincount(a, minlength=m), np.bincount(b, minlength=m)])
        table = table[:, table.sum(0) >= 10]
        assert stats.chi2_contingency(table).pvalue > 1e-3
    layouts = {(wl.tobytes(), pick(starts.hare_pos)[i].tobytes(), pick(starts.positions)[i].tobytes(),
                stag[i].tobytes()) for i, wl in enumerate(walls)}
    assert len(layouts) >= n - 3  # distinct draws; chance repeats of a whole layout are rare

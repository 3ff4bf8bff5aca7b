"""Environment.seat_obs_sparse + obs_const_sparse: the sparse entries scatter back to seat_obs
bit for bit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax import envs
from hopjax.envs.base import Environment
from hopjax.envs.wrappers import AutoReset


def _scatter(idx, val, const_idx, const_val, live, shape: tuple[int, ...]) -> np.ndarray:
    """The contract's reading of (idx [K, P], val [K, P]) and the constant (idx [M], val [M])
    of live seats (live [K]): rows below prod(shape) are flat observation entries, the C rows
    after them whole planes of the last axis."""
    d, c = int(np.prod(shape)), shape[-1]
    out = np.zeros((idx.shape[0], d + c), np.float32)
    for k in range(idx.shape[0]):
        np.add.at(out[k], idx[k], val[k])
        if live[k]:
            np.add.at(out[k], const_idx, const_val)
    return out[:, :d].reshape(-1, *shape) + out[:, None, None, d:]


def _random_state(env, p, key):
    """A reset (walls as drawn), then random positions, deaths, removed targets and time; the
    first two targets share a cell in half the states (the dense grid counts it once)."""
    k = jax.random.split(key, 6)
    _, s = env.reset(k[0], p)
    n = env.num_agents(p)
    s = s.replace(positions=jax.random.randint(k[1], (n, 2), 0, jnp.asarray([p.height, p.width])),
                  alive=jax.random.bernoulli(k[2], 0.7, (n,)), t=jax.random.randint(k[3], (), 0, p.max_steps + 1))
    if env.name == "stag_hunt":
        hares = jax.random.bernoulli(k[4], 0.6, s.hare_alive.shape)
        pos = jnp.where(jax.random.bernoulli(k[5]), s.hare_pos.at[1].set(s.hare_pos[0]), s.hare_pos)
        return s.replace(hare_alive=hares, hare_pos=pos, stag_alive=jax.random.bernoulli(k[5], 0.5, s.stag_alive.shape))
    drifts = jax.random.bernoulli(k[4], 0.6, s.drift_alive.shape)
    pos = jnp.where(jax.random.bernoulli(k[5]), s.drift_pos.at[1].set(s.drift_pos[0]), s.drift_pos)
    return s.replace(drift_alive=drifts, drift_pos=pos)


@pytest.mark.parametrize("name,kw", [("stag_hunt", dict(height=6, width=5, num_walls=4)),
                                     ("snowdrift", dict(height=5, width=6, num_walls=3)),
                                     ("stag_hunt", dict(height=4, width=4, num_walls=0, time_channel=False))])
def test_sparse_scatters_to_seat_obs(name, kw):
    env, p = envs.make(name, **kw)
    n, shape = env.num_agents(p), env.observation_shape(p)
    states = jax.vmap(lambda k: _random_state(env, p, k))(jax.random.split(jax.random.PRNGKey(0), 24))
    assert int(jnp.sum(states.walls)) > 0 or p.num_walls == 0
    assert not bool(jnp.all(states.alive))
    for seats in (jnp.arange(n), jnp.asarray([n - 1, 1])):
        dense = jax.jit(jax.vmap(lambda s: env.seat_obs(s, p, seats)))(states)
        idx, val = jax.jit(jax.vmap(lambda s: env.seat_obs_sparse(s, p, seats)))(states)
        c_idx, c_val = jax.jit(jax.vmap(lambda s: env.obs_const_sparse(s, p)))(states)
        assert idx.dtype == c_idx.dtype == jnp.int32 and val.dtype == c_val.dtype == jnp.float32
        assert idx.shape == val.shape == (24, seats.shape[0], env.sparse_obs_size(p))
        assert c_idx.shape == c_val.shape == (24, 4 * p.num_walls)
        for i in (np.asarray(idx), np.asarray(c_idx)):
            assert np.all((i >= 0) & (i < int(np.prod(shape)) + shape[-1]))
        live = np.asarray(states.alive)[:, np.asarray(seats)]
        for e in range(24):
            got = _scatter(*(np.asarray(x[e]) for x in (idx, val, c_idx, c_val)), live[e], shape)
            np.testing.assert_array_equal(got, np.asarray(dense[e]))
    # the constant entries as a dense observation: the env's own form and the base default
    const = jax.jit(jax.vmap(lambda s: env.obs_const_dense(s, p)))(states)
    default = jax.jit(jax.vmap(lambda s: Environment.obs_const_dense(env, s, p)))(states)
    assert const.shape == (24, *shape) and const.dtype == jnp.float32
    none = np.zeros((1, 0), np.int32)
    for e in range(24):
        want = _scatter(none, none.astype(np.float32), np.asarray(c_idx[e]), np.asarray(c_val[e]), [True], shape)[0]
        np.testing.assert_array_equal(np.asarray(const[e]), want)
        np.testing.assert_array_equal(np.asarray(default[e]), want)


def test_wrapper_and_default():
    env, p = envs.make("snowdrift", height=4, width=4)
    wrapped = AutoReset(env)
    assert wrapped.sparse_obs_size(p) == env.sparse_obs_size(p) == 4 + 6 + 1
    _, s = env.reset(jax.random.PRNGKey(1), p)
    a, b = wrapped.seat_obs_sparse(s, p, jnp.asarray([2])), env.seat_obs_sparse(s, p, jnp.asarray([2]))
    np.testing.assert_array_equal(np.asarray(a[0]), np.asarray(b[0]))
    assert wrapped.obs_const_sparse(s, p)[0].shape == (0,)  # no walls in Snowdrift by default
    np.testing.assert_array_equal(np.asarray(wrapped.obs_const_dense(s, p)), np.zeros(env.observation_shape(p)))
    assert Environment.sparse_obs_size(env, p) == 0
    assert Environment.obs_const_sparse(env, s, p)[1].shape == (0,)
    with pytest.raises(NotImplementedError):
        Environment.seat_obs_sparse(env, s, p, jnp.asarray([0]))

"""GoalPolicy.log_probs_sparse / PlannerNet.apply_sparse: the MLP trunk's first layer as a gather
of weight rows equals the dense networks up to float rounding; parameters are unchanged."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax import envs
from hopjax.models.goal_policy import GoalPolicy, PlannerNet, goal_kinds
from hopjax.models.sparse import sparse_first_layer


def _states(env, p, count):
    """Resets (walls as drawn) with random deaths, removed targets and time."""
    def one(key):
        k = jax.random.split(key, 4)
        _, s = env.reset(k[0], p)
        return s.replace(alive=jax.random.bernoulli(k[1], 0.8, s.alive.shape),
                         hare_alive=jax.random.bernoulli(k[2], 0.6, s.hare_alive.shape),
                         t=jax.random.randint(k[3], (), 0, p.max_steps + 1))
    return jax.vmap(one)(jax.random.split(jax.random.PRNGKey(7), count))


def _noisy(params, key, scale=0.3):
    """Random parameters: init plus noise on every leaf (biases nonzero too)."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(tree, [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])


@pytest.fixture(scope="module")
def setup():
    env, p = envs.make("stag_hunt", height=6, width=6, num_walls=3)
    states = _states(env, p, 16)
    seats = jnp.arange(env.num_agents(p))
    obs = jax.vmap(lambda s: env.seat_obs(s, p, seats))(states)  # [E, N, H, W, C]
    idx, val = jax.vmap(lambda s: env.seat_obs_sparse(s, p, seats))(states)
    const = jax.vmap(lambda s: env.obs_const_sparse(s, p))(states)  # the walls: [E, M] each
    live = states.alive[..., None].astype(jnp.float32)  # [E, N, 1]
    avail = jax.vmap(env.avail_actions, in_axes=(0, None))(states, p)
    pos = jax.vmap(env.goal_positions, in_axes=(0, None))(states, p)[:, None]
    return env, p, obs, idx, val, avail, pos, const, live


def _offset(table, const, live):
    """The constant entries' (walls') first-layer part for live seats: [E, N, H0]."""
    return live * jax.vmap(lambda i, v: sparse_first_layer(table[0], 0.0, i, v))(*const)[:, None]


def _close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    fin = np.isfinite(b)
    assert np.array_equal(fin, np.isfinite(a))
    np.testing.assert_allclose(a[fin], b[fin], rtol=1e-5, atol=1e-5 * np.abs(b[fin]).max())


@pytest.mark.parametrize("seed", [0, 1])
def test_goal_policy_sparse_equals_dense(setup, seed):
    env, p, obs, idx, val, avail, pos, const, live = setup
    gp = GoalPolicy(env.observation_shape(p), env.num_actions(p), goal_kinds(env.goal_names(p)), (64, 32))
    params = _noisy(gp.init(jax.random.PRNGKey(seed)), jax.random.PRNGKey(seed + 10))
    goal = jax.random.randint(jax.random.PRNGKey(seed + 20), obs.shape[:2], 0, gp.num_goals + 1)
    dense = jax.jit(gp.log_probs)(params, obs, avail, goal, pos)
    table = gp.sparse_table(params)
    sparse = jax.jit(gp.log_probs_sparse)(params, table, idx, val, avail, goal, pos, _offset(table, const, live))
    assert sparse.shape == dense.shape == (*obs.shape[:2], env.num_actions(p))
    _close(sparse, dense)
    assert set(params["params"]) == {"obs_in", "goal_in", "hidden_0", "logits"}


@pytest.mark.parametrize("seed", [0, 1])
def test_planner_net_sparse_equals_dense(setup, seed):
    env, p, obs, idx, val, avail, _, const, live = setup
    pn = PlannerNet(env.observation_shape(p), env.num_actions(p), (64, 32))
    params = _noisy(pn.init(jax.random.PRNGKey(seed)), jax.random.PRNGKey(seed + 30))
    logits, value = jax.jit(pn.apply)(params, obs, avail)
    table = pn.sparse_table(params)
    s_logits, s_value = jax.jit(pn.apply_sparse)(params, table, idx, val, avail, _offset(table, const, live))
    assert s_logits.shape == logits.shape and s_value.shape == value.shape == obs.shape[:2]
    _close(s_logits, logits)
    _close(s_value, value)
    assert set(params["params"]["head"]) == {"Dense_0", "Dense_1", "Dense_2", "Dense_3"}


def test_conv_trunk_has_no_sparse_table(setup):
    env, p, *_ = setup
    pn = PlannerNet(env.observation_shape(p), env.num_actions(p), (8,), conv_channels=(4,))
    with pytest.raises(ValueError, match="mlp trunk"):
        pn.sparse_table(pn.init(jax.random.PRNGKey(0)))

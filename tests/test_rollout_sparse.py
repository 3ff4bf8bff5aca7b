"""The rollout's sparse first layer (``Rollout(sparse_obs=True)``, the default) is the dense
policy up to float rounding: the first layer's observation product equals ``obs @ K_obs`` of the
dense observations, and a whole rollout gives the dense rollout's batch (the same actions,
observations and rewards; log-probabilities and values at rounding)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax import envs
from hopjax.algos.ppo.trainer import scripted_policy
from hopjax.models.policy import MultiPolicy
from hopjax.rollout import Rollout

E = 6

# name: (env, env kwargs, rollout_length, scripted seats, shared parameters)
CASES = {
    # walls, hunters that leave the grid (dead seats), one learner among scripted seats
    "stag_hunt_walls_scripted": ("stag_hunt", dict(height=5, width=5, num_walls=2, max_steps=12), 0,
                                 {1: ("stag_hunt", "stag"), 2: ("stag_hunt", "hare")}, False),
    # shared parameters (the agent id input), drifts removed during the episode
    "snowdrift_walls_shared": ("snowdrift", dict(height=5, width=5, num_walls=2, max_steps=12), 0, {}, True),
}


def _rollouts(case):
    env_name, kw, length, scripted, shared = CASES[case]
    env, p = envs.make(env_name, **kw)
    pol = MultiPolicy(4, env.observation_shape(p), env.num_actions(p), (16,), shared=shared)
    seats = {i: scripted_policy(*s) for i, s in scripted.items()}
    params = pol.init(jax.random.PRNGKey(0))
    sparse = Rollout(env, p, pol, E, length, seats)
    dense = Rollout(env, p, pol, E, length, seats, sparse_obs=False)
    return sparse, dense, params


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    sparse, dense, params = _rollouts(request.param)
    assert sparse.sparse and not dense.sparse
    carry = sparse.reset(jax.random.PRNGKey(1))
    run = lambda ro: jax.jit(ro.run)(jax.random.PRNGKey(2), params, carry)  # noqa: E731
    return request.param, sparse, params, carry, run(sparse), run(dense)


def test_batches_equal(case):
    name, _, _, _, (c_s, b_s, st_s), (c_d, b_d, st_d) = case
    np.testing.assert_array_equal(b_s.filled, b_d.filled)
    np.testing.assert_array_equal(b_s.alive, b_d.alive)
    assert set(b_s.data) == set(b_d.data)
    for k in b_s.data:
        a, b = np.asarray(b_s.data[k]), np.asarray(b_d.data[k])
        if k in ("log_prob", "value", "bootstrap_value"):
            np.testing.assert_allclose(a, b, rtol=0, atol=2e-5, err_msg=f"{name}: {k}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"{name}: {k}")
    for k in st_s:
        np.testing.assert_allclose(st_s[k], st_d[k], rtol=1e-6, err_msg=f"{name}: stats {k}")
    # the rollouts changed the entities the sparse entries list: hunters left (dead seats) or
    # drifts were cleared
    goals = np.asarray(b_s.data["goal"])
    assert (goals >= 0).any(), name


def test_first_layer_equals_dense_product(case):
    """At every carry the rollout passes through: the running seats' sparse products equal the
    flattened dense observations times the first layer's observation rows."""
    _, ro, params, carry, _, _ = case
    pol, p, seats = ro._net_policy(params)
    k_obs = p["params"]["Dense_0"]["kernel"][..., : pol.obs_dim, :]  # [(L,) S, H0]
    tables = ro.sparse_tables(params, carry)
    key = jax.random.PRNGKey(3)
    pre, act = jax.jit(ro.sparse_obs_pre), jax.jit(ro.act)
    step = jax.jit(lambda k, c, a: c.replace(**ro.engine.advance(c, ro.engine.step(k, c, a), ro.episode_mode)))
    for _ in range(8):
        got = pre(params, tables, carry)  # [E, L, H0]
        x = carry.obs[:, seats].reshape(E, len(seats), -1)
        want = x @ k_obs if pol.shared else jnp.einsum("els,lsh->elh", x, k_obs)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        key, k_act, k_env = jax.random.split(key, 3)
        carry = step(k_env, carry, act(k_act, params, carry)[1])


def test_dense_where_sparse_cannot_stand_in():
    env, p = envs.make("stag_hunt", height=4, width=4, num_walls=0, max_steps=5)
    shape, a = env.observation_shape(p), env.num_actions(p)
    bf16 = MultiPolicy(4, shape, a, (16,), compute_dtype="bfloat16")  # other rounding of the product
    no_torso = MultiPolicy(4, shape, a, ())  # the heads read the input directly
    mlp = MultiPolicy(4, shape, a, (16,))
    assert not Rollout(env, p, bf16, 2).sparse
    assert not Rollout(env, p, no_torso, 2).sparse
    assert not Rollout(env, p, mlp, 2, rollout_length=8).sparse  # segments: walls change at auto-resets
    assert Rollout(env, p, mlp, 2).sparse


def test_config_key_chooses_the_path():
    from hopjax.algos.ppo import PPOConfig
    from hopjax.algos.ppo.trainer import Trainer
    from hopjax.config import load_config
    from tests.test_config import CONFIG_DIR

    cfg = CONFIG_DIR / "stag_hunt_4x4_ppo.yaml"
    assert Trainer(load_config(PPOConfig, cfg, [])).rollout.sparse
    assert not Trainer(load_config(PPOConfig, cfg, ["sparse_rollout=false"])).rollout.sparse

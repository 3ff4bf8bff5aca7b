"""make(), params, compile-once under vmap+jit, AutoReset, render."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopjax.envs as envs
from hopjax.envs import REGISTRY, AutoReset, Dones, Environment, make

ENV_NAMES = ("stag_hunt", "snowdrift")


def test_exports():
    assert set(REGISTRY) == set(ENV_NAMES)
    for cls in REGISTRY.values():
        assert issubclass(cls, Environment)
    assert Dones is envs.base.Dones
    assert issubclass(AutoReset, Environment)


def test_make_unknown_name_suggests():
    with pytest.raises(ValueError) as e:
        make("stag_hnt")
    msg = str(e.value)
    assert "stag_hnt" in msg and "snowdrift" in msg and "Did you mean 'stag_hunt'" in msg
    with pytest.raises(ValueError, match="known: snowdrift, stag_hunt"):
        make("zzz")


@pytest.mark.parametrize("name", ENV_NAMES)
def test_make_unknown_override(name):
    with pytest.raises(ValueError) as e:
        make(name, heigth=5)
    msg = str(e.value)
    assert "'heigth'" in msg and "height" in msg and "max_steps" in msg


def test_make_overrides_and_static_fields():
    env, p = make("stag_hunt", height=5, num_stags=2, stag_reward=8.0)
    assert (p.height, p.width, p.num_stags, p.stag_reward) == (5, 8, 2, 8.0)
    # only reward values are pytree leaves; shape-fixing fields are static
    assert jax.tree_util.tree_leaves(p) == [8.0, 1.0]
    env, p = make("snowdrift")
    assert jax.tree_util.tree_leaves(p) == [6.0, 4.0]
    assert (p.height, p.width, p.num_agents, p.num_drifts, p.max_steps) == (8, 8, 4, 6, 50)
    env, p = make("stag_hunt")
    assert (p.height, p.width, p.num_agents, p.num_stags, p.num_hares, p.max_steps) == (
        8, 8, 4, 1, 4, 35)
    with pytest.raises(ValueError):
        make("stag_hunt", height=1, width=1)  # no room for the animals


@pytest.mark.parametrize("name", ENV_NAMES)
def test_sizes_and_goal_names(name):
    env, p = make(name)
    if name == "stag_hunt":
        assert env.goal_names(p) == ("stag_0", "hare_0", "hare_1", "hare_2", "hare_3")
        assert env.num_actions(p) == 7 and env.observation_shape(p) == (8, 8, 8)
        assert env.episode_length(p) == 35
    else:
        assert env.goal_names(p) == tuple(f"drift_{i}" for i in range(6))
        assert env.num_actions(p) == 6 and env.observation_shape(p) == (8, 8, 7)
        assert env.episode_length(p) == 50
    assert env.num_agents(p) == 4 and env.num_goals(p) == len(env.goal_names(p))


@pytest.mark.parametrize("name", ENV_NAMES)
def test_vmap_1024_jit_compiles_once(name):
    env, params = make(name)
    traces = {"step": 0}

    def step(key, state, actions, p):
        traces["step"] += 1
        return env.step(key, state, actions, p)

    batch = 1024
    fstep = jax.jit(jax.vmap(step, in_axes=(0, 0, 0, None)))
    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    n, a = params.num_agents, env.num_actions(params)
    assert obs.shape == (batch, n) + env.observation_shape(params) and obs.dtype == jnp.float32
    for i in range(3):
        acts = jax.random.randint(jax.random.PRNGKey(i), (batch, n), 0, a)
        obs, state, rew, dones, info = fstep(keys, state, acts, params)
    # a new reward value (a leaf) must not retrace either
    fstep(keys, state, acts, params.replace(**{dataclasses.fields(params)[-1].name: 3.0}))
    assert traces["step"] == 1
    assert obs.shape == (batch, n) + env.observation_shape(params)
    assert rew.shape == (batch, n) and rew.dtype == jnp.float32
    assert dones.agents.shape == (batch, n) and dones.terminated.shape == (batch,)
    assert info["goal"].shape == (batch, n) and info["goal"].dtype == jnp.int32
    assert info["avail_actions"].shape == (batch, n, a) and info["avail_actions"].dtype == bool
    assert info["alive"].shape == (batch, n)
    assert int(state.t[0]) == 3


@pytest.mark.parametrize("name", ENV_NAMES)
def test_autoreset(name):
    env, params = make(name, height=3, width=3, max_steps=4)
    wrapped = AutoReset(env)
    n, a = params.num_agents, env.num_actions(params)

    def run(key, state, actions):
        def body(s, x):
            k, act = x
            obs, s2, r, d, info = wrapped.step(k, s, act, params)
            # the same transition without the wrapper
            k_step, k_reset = jax.random.split(k)
            p_obs, p_state, p_r, p_d, p_info = env.step(k_step, s, act, params)
            r_obs, r_state = env.reset(k_reset, params)
            return s2, (obs, s2, r, d, info, p_obs, p_r, p_d, r_obs, r_state)

        keys = jax.random.split(key, actions.shape[0])
        return jax.lax.scan(body, state, (keys, actions))[1]

    _, s0 = jax.jit(env.reset)(jax.random.PRNGKey(1), params)
    acts = jax.random.randint(jax.random.PRNGKey(2), (13, n), 0, a)
    out = jax.device_get(jax.jit(run)(jax.random.PRNGKey(3), s0, acts))
    obs, s, r, d, info, p_obs, p_r, p_d, r_obs, r_state = out
    done = d.terminated | d.truncated
    assert done.sum() >= 3  # max_steps=4 over 13 steps
    np.testing.assert_array_equal(info["final_obs"], p_obs)
    np.testing.assert_array_equal(r, p_r)
    np.testing.assert_array_equal(d.agents, p_d.agents)
    np.testing.assert_array_equal(info["final_dones"].truncated, p_d.truncated)
    for t in range(13):
        if done[t]:
            np.testing.assert_array_equal(obs[t], r_obs[t])
            assert s.t[t] == 0
            np.testing.assert_array_equal(s.positions[t], r_state.positions[t])
            assert info["alive"][t].all()
        else:
            np.testing.assert_array_equal(obs[t], p_obs[t])
            assert s.t[t] > 0
    assert s.t.max() <= params.max_steps - 1


@pytest.mark.parametrize("name", ENV_NAMES)
def test_render(name):
    env, params = make(name, num_walls=4)
    _, state = jax.jit(env.reset)(jax.random.PRNGKey(0), params)
    img = np.asarray(jax.jit(env.render)(state, params))
    assert img.dtype == np.uint8 and img.shape == (8 * 24, 8 * 24, 3)
    colours = {tuple(c) for c in img.reshape(-1, 3)}
    from hopjax.envs import _grid

    for i in range(params.num_agents):
        assert _grid.PLAYER_COLORS[i] in colours
    assert _grid.WALL_COLOR in colours and _grid.EMPTY_COLOR in colours
    small = np.asarray(jax.jit(env.render, static_argnames="cell")(state, params, cell=4))
    assert small.shape == (32, 32, 3)

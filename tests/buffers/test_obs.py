"""Compact observation storage (hopjax.buffers.obs): exact round trip on real grid observations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax import envs
from hopjax.buffers.episode import Scheme
from hopjax.buffers.obs import TIME, decode, encode, obs_fields


@pytest.mark.parametrize("name,time_channel", [("stag_hunt", True), ("snowdrift", True), ("stag_hunt", False)])
def test_round_trip_is_exact_over_an_episode(name, time_channel):
    env, p = envs.make(name, height=5, width=5, max_steps=12, time_channel=time_channel)
    shape = tuple(env.observation_shape(p))
    scheme = Scheme.create(obs_fields(shape, p), {"agents": env.num_agents(p)}, 1)
    assert scheme.field("obs").dtype == np.uint8 and (TIME in scheme.field_names) == time_channel
    keys = jax.random.split(jax.random.PRNGKey(3), 16)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, p)
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    seen_dead = False
    for t in range(12):
        enc = encode(scheme, obs)
        got = decode(enc["obs"], enc.get(TIME))
        assert got.dtype == jnp.float32 and got.shape == obs.shape
        np.testing.assert_array_equal(np.asarray(got), np.asarray(obs))  # bit-identical
        acts = jax.random.randint(jax.random.PRNGKey(t), (16, env.num_agents(p)), 0, env.num_actions(p))
        obs, state, _, _, info = step(jax.random.split(jax.random.PRNGKey(100 + t), 16), state, acts, p)
        seen_dead |= bool((~info["alive"]).any())
    assert seen_dead or name == "snowdrift"  # a dead agent's all-zero observation was covered


def test_other_envs_keep_float_obs():
    scheme = Scheme.create(obs_fields((3, 2), object()), {"agents": 2}, 1)
    assert scheme.field("obs").dtype == np.float32 and TIME not in scheme.field_names
    x = jnp.full((4, 2, 3, 2), 0.25)
    assert encode(scheme, x)["obs"] is x and decode(x, None) is x

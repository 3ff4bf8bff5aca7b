"""Scripted co-players: validity under vmap, and chasers reaching targets in hand-built states."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax.envs import make
from hopjax.envs.scripted import SCRIPTED, team_policy
from hopjax.envs.snowdrift import SHOVEL, SnowdriftState
from hopjax.envs.stag_hunt import HUNT_HARE, HUNT_STAG, StagHuntState


def _sh_state(positions, stags, hares, walls=None, h=5, w=5):
    n = len(positions)
    return StagHuntState(
        positions=jnp.array(positions, jnp.int32),
        alive=jnp.ones((n,), bool),
        walls=jnp.zeros((h, w), bool) if walls is None else jnp.array(walls),
        stag_pos=jnp.array(stags, jnp.int32).reshape(-1, 2),
        stag_alive=jnp.ones((len(stags),), bool),
        hare_pos=jnp.array(hares, jnp.int32).reshape(-1, 2),
        hare_alive=jnp.ones((len(hares),), bool),
        t=jnp.int32(0),
    )


def _play(env, params, state, team, steps, seed=0):
    """Python loop over a jitted (policy, step); returns per-step rewards, goals, dones."""
    act = jax.jit(team_policy(env.name, team))
    step = jax.jit(env.step)
    obs = jax.jit(env.get_obs)(state, params)
    key = jax.random.PRNGKey(seed)
    log = []
    for _ in range(steps):
        key, k1, k2 = jax.random.split(key, 3)
        a = act(k1, obs, state, params)
        obs, state, r, d, info = step(k2, state, a, params)
        log.append((np.asarray(a), np.asarray(r), np.asarray(info["goal"]), d))
        if bool(d.episode):
            break
    return state, log


def test_stag_chasers_catch_the_stag():
    env, params = make("stag_hunt", height=5, width=5, num_agents=2, num_stags=1,
                       num_hares=1, num_walls=0)
    walls = np.zeros((5, 5), bool)
    walls[1, 1] = walls[3, 3] = True  # in the way, but no pocket for a Manhattan chaser
    state = _sh_state([[0, 0], [4, 4]], [[2, 2]], [[0, 4]], walls=walls)
    final, log = _play(env, params, state, ("stag", "stag"), steps=12)
    total = sum(r for _, r, _, _ in log)
    np.testing.assert_allclose(total, [5.0, 5.0])
    assert log[-1][0].tolist() == [HUNT_STAG, HUNT_STAG]
    assert log[-1][2].tolist() == [0, 0]
    assert bool(log[-1][3].terminated) and not bool(final.stag_alive[0])
    assert bool(final.hare_alive[0])


def test_lone_stag_chaser_waits():
    env, params = make("stag_hunt", height=3, width=3, num_agents=1, num_stags=1,
                       num_hares=1, num_walls=0)
    state = _sh_state([[1, 1]], [[1, 1]], [[0, 0]], h=3, w=3)
    _, log = _play(env, params, state, ("stag",), steps=5)
    assert len(log) == 5 and all(a[0] == 4 for a, _, _, _ in log)  # no partner: waits


def test_hare_chaser_catches_nearest_hare():
    env, params = make("stag_hunt", height=5, width=5, num_agents=1, num_stags=1,
                       num_hares=2, num_walls=0)
    state = _sh_state([[2, 0]], [[2, 1]], [[2, 3], [4, 4]])
    _, log = _play(env, params, state, ("hare",), steps=6)
    assert len(log) == 4  # right (onto the stag), right, right, hunt
    assert log[-1][0].tolist() == [HUNT_HARE] and log[-1][2].tolist() == [1]
    np.testing.assert_allclose(log[-1][1], [1.0])


def test_drift_cleaner_clears_everything():
    env, params = make("snowdrift", height=4, width=4, num_agents=1, num_drifts=3)
    state = SnowdriftState(
        positions=jnp.array([[0, 0]], jnp.int32),
        alive=jnp.ones((1,), bool),
        walls=jnp.zeros((4, 4), bool),
        drift_pos=jnp.array([[0, 3], [3, 3], [3, 0]], jnp.int32),
        drift_alive=jnp.ones((3,), bool),
        t=jnp.int32(0),
    )
    final, log = _play(env, params, state, ("cleaner",), steps=20)
    assert len(log) == 12  # 3 + 1 + 3 + 1 + 3 + 1
    assert sum(a[0] == SHOVEL for a, _, _, _ in log) == 3
    np.testing.assert_allclose(sum(r for _, r, _, _ in log), [3 * (6.0 - 4.0)])
    assert bool(log[-1][3].terminated) and not bool(final.drift_alive.any())


@pytest.mark.parametrize("env_name", ["stag_hunt", "snowdrift"])
def test_policies_valid_and_vmappable(env_name):
    env, params = make(env_name, height=4, width=4, num_walls=2)
    batch, n = 64, params.num_agents
    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    obs, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    if env_name == "stag_hunt":  # make some agents dead
        states = states.replace(alive=states.alive.at[:, 0].set(False))
        obs = obs * states.alive[:, :, None, None, None]
    avail = jax.jit(jax.vmap(env.avail_actions, in_axes=(0, None)))(states, params)
    agents = jnp.arange(n)
    names = sorted(SCRIPTED[env_name])

    @jax.jit
    def all_policies(keys, obs, states):  # one compile for every policy
        agent_keys = jax.vmap(lambda k: jax.random.split(k, n))(keys)
        out = []
        for pname in names:
            per_agent = jax.vmap(SCRIPTED[env_name][pname], in_axes=(0, 0, None, None, 0))
            per_env = jax.vmap(per_agent, in_axes=(0, 0, 0, None, None))
            out.append(per_env(agent_keys, obs, states, params, agents))
        return jnp.stack(out)

    all_acts = np.asarray(all_policies(keys, obs, states))
    for pname, acts in zip(names, all_acts):
        assert acts.shape == (batch, n) and acts.dtype == np.int32
        chosen = np.take_along_axis(np.asarray(avail), acts[..., None], axis=-1)[..., 0]
        assert chosen.all(), pname
        if env_name == "stag_hunt":
            assert (acts[:, 0] == 4).all()  # dead agents stay
        if pname == "fix":
            assert (acts < 5).all()

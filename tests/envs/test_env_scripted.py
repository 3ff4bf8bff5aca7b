"""Scripted co-players: validity under vmap, and chasers reaching targets in hand-built states."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax.envs import make
from hopjax.envs.scripted import PURSUIT, SCRIPTED, team_policy
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


_KIND_OF = {"stag": "stag", "hare": "hare", "cleaner": "drift"}


@pytest.mark.parametrize("env_name", ["stag_hunt", "snowdrift"])
def test_pursuit_is_the_nearest_live_target_and_the_chase_heads_for_it(env_name):
    """PURSUIT against a numpy reference (nearest live targets of the chased kind by Manhattan
    distance, "no target" if none is left or for random / fix), and every chaser's action
    interacts on, or steps closer to, a pursued target (unless a pursued target leaves no
    closer move, where the chase may fall back to ``fix``)."""
    env, params = make(env_name, height=5, width=5)
    batch, n = 96, params.num_agents
    keys = jax.random.split(jax.random.PRNGKey(3), batch)
    _, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    # Remove a random subset of the targets, some envs all of them.
    present = jax.vmap(env.goals_present, in_axes=(0, None))(states, params)
    drop = jax.random.bernoulli(jax.random.PRNGKey(4), 0.4, present.shape)
    drop = drop.at[: batch // 8].set(True)
    if env_name == "stag_hunt":
        s = params.num_stags
        states = states.replace(stag_alive=states.stag_alive & ~drop[:, :s],
                                hare_alive=states.hare_alive & ~drop[:, s:])
    else:
        states = states.replace(drift_alive=states.drift_alive & ~drop)
    obs = jax.vmap(env.get_obs, in_axes=(0, None))(states, params)
    names = sorted(PURSUIT[env_name])
    goal_kind = [g.rsplit("_", 1)[0] for g in env.goal_names(params)]
    agents = jnp.arange(n)

    @jax.jit
    def run(keys, obs, states):
        agent_keys = jax.vmap(lambda k: jax.random.split(k, n))(keys)
        out = {}
        for pname in names:
            per = lambda f, ax: jax.vmap(jax.vmap(f, in_axes=ax[0]), in_axes=ax[1])
            pur = per(PURSUIT[env_name][pname], ((None, None, 0), (0, None, None)))(states, params, agents)
            act = per(SCRIPTED[env_name][pname], ((0, 0, None, None, 0), (0, 0, 0, None, None)))(
                agent_keys, obs, states, params, agents)
            out[pname] = (pur, act)
        return out

    out = jax.device_get(run(keys, obs, states))
    pos = np.asarray(states.positions)
    gpos = np.asarray(jax.vmap(env.goal_positions, in_axes=(0, None))(states, params))
    live = np.asarray(jax.vmap(env.goals_present, in_axes=(0, None))(states, params))
    avail = np.asarray(jax.vmap(env.avail_actions, in_axes=(0, None))(states, params))
    deltas = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)])
    checked = 0
    for pname in names:
        pur, act = (np.asarray(x) for x in out[pname])
        assert pur.shape == (batch, n, len(goal_kind) + 1) and pur.dtype == bool
        for e in range(batch):
            for i in range(n):
                ref = np.zeros(len(goal_kind) + 1, bool)
                if pname in _KIND_OF:
                    mine = live[e] & (np.array(goal_kind) == _KIND_OF[pname])
                    d = np.abs(gpos[e] - pos[e, i]).sum(-1)
                    if mine.any():
                        ref[:-1] = mine & (d == d[mine].min())
                ref[-1] = not ref[:-1].any()
                np.testing.assert_array_equal(pur[e, i], ref, err_msg=f"{pname} env {e} seat {i}")
                if pname not in _KIND_OF or ref[-1]:
                    continue
                tgt = gpos[e][ref[:-1]]
                d0 = np.abs(tgt - pos[e, i]).sum(-1).min()
                if d0 == 0:
                    assert act[e, i] >= 4, (pname, e, i)  # interact or wait on the target
                    continue
                nxt = pos[e, i] + deltas
                closer = [{a for a in range(4) if avail[e, i, a]
                           and np.abs(t - nxt[a]).sum() < d0} for t in tgt]
                if all(closer):  # else the drawn target may leave no closer move: fix
                    assert act[e, i] in set().union(*closer), (pname, e, i)
                    checked += 1
    assert checked > batch  # the chase was checked on many (env, seat) pairs

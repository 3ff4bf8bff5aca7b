"""The JAX envs stepped side by side with the plain-Python references on random action
sequences: observations, rewards, dones, goals, avail_actions and alive equal at every step.

Each configuration jits one ``vmap(reset + lax.scan(step))`` over a batch of episodes, so all
JAX work is a single compiled call per configuration.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference_snowdrift import RefSnowdrift
from reference_stag_hunt import RefStagHunt
from reference_walls import connected

from hopjax.envs import make

# name -> (env, overrides, batch size, seed)
CONFIGS = {
    "stag_hunt_tiny": ("stag_hunt", dict(height=3, width=3, num_stags=2, num_hares=2,
                                         num_walls=0, max_steps=15), 120, 0),
    "stag_hunt_small_walls": ("stag_hunt", dict(height=5, width=5, num_stags=2, num_hares=3,
                                                num_walls=3, max_steps=20), 100, 1),
    "stag_hunt_trio": ("stag_hunt", dict(height=2, width=2, num_agents=5, num_stags=1,
                                         num_hares=1, num_walls=1, stag_min_hunters=3,
                                         stag_reward=12.0, hare_reward=2.0,
                                         time_channel=False, max_steps=15), 60, 2),
    "stag_hunt_default": ("stag_hunt", {}, 12, 3),
    "snowdrift_small_walls": ("snowdrift", dict(height=4, width=4, num_drifts=5, num_walls=2,
                                                max_steps=20), 100, 4),
    "snowdrift_tiny": ("snowdrift", dict(height=3, width=3, num_agents=3, num_drifts=3,
                                         drift_reward=5.0, drift_cost=3.0, time_channel=False,
                                         max_steps=12), 80, 5),
    "snowdrift_default": ("snowdrift", {}, 12, 6),
}


def _action_probs(num_actions: int) -> np.ndarray:
    """Probabilities over the values -1, 0..A-1, A: interact actions favoured, a few
    out-of-range values to exercise the 'invalid becomes stay' rule."""
    p = np.full(num_actions + 2, 1.0)
    p[0] = p[-1] = 0.15
    interact = np.arange(5, num_actions) + 1
    p[interact] = 3.0
    return p / p.sum()


def _rollout_fn(env, params):
    def one(key, actions):
        obs0, s0 = env.reset(key, params)
        avail0 = env.avail_actions(s0, params)

        def body(s, a):
            obs, s2, r, d, info = env.step(jax.random.PRNGKey(0), s, a, params)
            out = (obs, r, d.agents, d.terminated, d.truncated, info["goal"],
                   info["avail_actions"], info["alive"])
            return s2, out

        _, outs = jax.lax.scan(body, s0, actions)
        return obs0, s0, avail0, outs

    return jax.jit(jax.vmap(one))


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def rollouts(request):
    env_name, overrides, batch, seed = CONFIGS[request.param]
    env, params = make(env_name, **overrides)
    n, a, t = params.num_agents, env.num_actions(params), params.max_steps
    rng = np.random.default_rng(seed)
    actions = rng.choice(np.arange(-1, a + 1), size=(batch, t, n), p=_action_probs(a))
    keys = jax.random.split(jax.random.PRNGKey(seed), batch)
    out = jax.device_get(_rollout_fn(env, params)(keys, jnp.asarray(actions, jnp.int32)))
    return request.param, env_name, env, params, actions, out


def _ref(env_name, params, state):
    return (RefStagHunt if env_name == "stag_hunt" else RefSnowdrift)(params, state)


def test_matches_reference(rollouts):
    name, env_name, env, params, actions, out = rollouts
    obs0, s0, avail0, (obs, rew, agent_done, term, trunc, goal, avail, alive) = out
    batch, steps = actions.shape[:2]
    n_goal_events = 0
    n_stag_events = 0
    n_ended = 0
    for b in range(batch):
        state_b = jax.tree_util.tree_map(lambda x: x[b], s0)
        ref = _ref(env_name, params, state_b)
        np.testing.assert_allclose(obs0[b], ref.obs(), rtol=0, atol=1e-6, err_msg=f"{name} ep {b}")
        np.testing.assert_array_equal(avail0[b], np.array(ref.avail()))
        ended = False
        for t in range(steps):
            r = ref.step(actions[b, t])
            where = f"{name} episode {b} step {t}"
            # atol: XLA may compute t / max_steps as t * (1 / max_steps)
            np.testing.assert_allclose(obs[b, t], r["obs"], rtol=0, atol=1e-6, err_msg=where)
            np.testing.assert_allclose(rew[b, t], r["rewards"], rtol=1e-6, err_msg=where)
            np.testing.assert_array_equal(agent_done[b, t], r["agent_dones"], err_msg=where)
            assert bool(term[b, t]) == r["terminated"], where
            assert bool(trunc[b, t]) == r["truncated"], where
            np.testing.assert_array_equal(goal[b, t], r["goal"], err_msg=where + " goal")
            np.testing.assert_array_equal(avail[b, t], np.array(r["avail"]), err_msg=where)
            np.testing.assert_array_equal(alive[b, t], r["alive"], err_msg=where)
            if not ended:
                n_goal_events += sum(g >= 0 for g in r["goal"])
                if env_name == "stag_hunt":
                    n_stag_events += sum(0 <= g < params.num_stags for g in r["goal"])
            if (r["terminated"] or r["truncated"]) and not ended:
                ended = True
                n_ended += 1
    # the random sequences must actually exercise the interesting rules
    assert n_ended == batch
    assert n_goal_events >= batch // 4, n_goal_events
    if env_name == "stag_hunt" and params.height * params.width <= 9:
        assert n_stag_events >= 3, n_stag_events


def test_dead_agents_are_inert(rollouts):
    _, env_name, env, params, _, out = rollouts
    _, _, _, (obs, rew, agent_done, term, trunc, goal, avail, alive) = out
    dead = ~alive  # [B, T, N]
    assert np.all(obs[dead] == 0)
    only_stay = np.zeros(env.num_actions(params), bool)
    only_stay[4] = True
    assert np.all(avail[dead] == only_stay)
    # reward 0 and no goal for agents dead before the step
    dead_before = np.concatenate([np.zeros_like(dead[:, :1]), dead[:, :-1]], axis=1)
    assert np.all(rew[dead_before] == 0)
    assert np.all(goal[dead_before] == -1)
    # once done, always done (within the episode); terminated and truncated exclusive
    assert np.all(agent_done[:, 1:] >= agent_done[:, :-1])
    assert not np.any(term & trunc)
    if env_name == "snowdrift":
        assert np.all(alive)


def test_reset_invariants(rollouts):
    _, env_name, env, params, _, out = rollouts
    s0 = out[1]
    batch = s0.positions.shape[0]
    saw_walls, on_drift = False, 0
    for b in range(batch):
        walls = s0.walls[b]
        saw_walls |= bool(walls.any())
        assert connected((~walls).tolist())
        if env_name == "stag_hunt":
            ents = np.concatenate([s0.stag_pos[b], s0.hare_pos[b]])
        else:
            ents = s0.drift_pos[b]
        cells = {tuple(e) for e in ents}
        assert len(cells) == len(ents), "entities on distinct cells"
        for r, c in cells:
            assert not walls[r, c]
        for r, c in s0.positions[b]:
            # Stag-Hunt: no player starts on an animal (our choice); Snowdrift: a drift may lie
            # under a player (HOP code, msg_code/env.py)
            assert not walls[r, c] and (env_name == "snowdrift" or (r, c) not in cells)
        on_drift += sum((int(r), int(c)) in cells for r, c in s0.positions[b])
        assert int(s0.t[b]) == 0
    if params.num_walls > 0 and min(params.height, params.width) >= 4:
        assert saw_walls  # (on a 2x2 grid no piece leaves room for the entities)
    if env_name == "snowdrift" and batch >= 80:
        assert on_drift > 0

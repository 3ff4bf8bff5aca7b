"""The rollout's EpisodeBatch equals replaying the recorded actions through the env by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax import envs
from hopjax.buffers.episode import max_t_filled, valid_mask
from hopjax.buffers.obs import decode_fields
from hopjax.models.policy import MultiPolicy
from hopjax.rollout import Rollout
from hopjax.algos.ppo.trainer import scripted_policy

E = 6


@pytest.fixture(scope="module")
def setup():
    env, p = envs.make("stag_hunt", height=4, width=4, num_walls=0, max_steps=10)
    pol = MultiPolicy(4, env.observation_shape(p), env.num_actions(p), (16,))
    seats = {1: scripted_policy("stag_hunt", "stag"), 2: scripted_policy("stag_hunt", "stag"),
             3: scripted_policy("stag_hunt", "hare")}
    params = pol.init(jax.random.PRNGKey(0))
    return env, p, pol, seats, params


def test_episode_mode_matches_manual_replay(setup):
    env, p, pol, seats, params = setup
    ro = Rollout(env, p, pol, E, 0, seats)
    carry0 = ro.reset(jax.random.PRNGKey(1))
    _, batch, stats = jax.jit(ro.run)(jax.random.PRNGKey(2), params, carry0)
    d = jax.device_get(decode_fields(batch.data))  # observations are stored compact
    filled, alive = np.asarray(batch.filled), np.asarray(batch.alive)
    T = ro.T
    step = jax.jit(env.step)
    total_return = np.zeros(4)
    n_episodes = 0
    for b in range(E):
        state = jax.tree.map(lambda x: x[b], carry0.env_state)
        obs = np.asarray(carry0.obs[b])
        live = np.ones(4, bool)
        ret = np.zeros(4)
        ended = False
        for t in range(T):
            assert filled[b, t] == (not ended), (b, t)
            if ended:
                assert not alive[b, t].any() and (d["reward"][b, t] == 0).all()
                continue
            np.testing.assert_array_equal(alive[b, t], live)
            np.testing.assert_allclose(d["obs"][b, t], obs)
            np.testing.assert_array_equal(d["avail_actions"][b, t], np.asarray(env.avail_actions(state, p)))
            a = d["actions"][b, t]
            assert all(d["avail_actions"][b, t, i, a[i]] for i in range(4))
            obs2, state, r, dones, info = step(jax.random.PRNGKey(0), state, jnp.asarray(a), p)
            r = np.where(live, np.asarray(r), 0.0)
            np.testing.assert_allclose(d["reward"][b, t], r)
            np.testing.assert_array_equal(d["goal"][b, t], np.where(live, np.asarray(info["goal"]), -1))
            term = live & (np.asarray(dones.agents) | bool(dones.terminated))
            np.testing.assert_array_equal(d["terminated"][b, t], term)
            assert d["episode_end"][b, t] == bool(dones.episode)
            ret += r
            live = np.asarray(info["alive"])
            obs = np.asarray(obs2)
            if bool(dones.episode):
                ended = True
                n_episodes += 1
                total_return += ret
        # index T holds the last observation only if the episode ran to the time limit
        assert filled[b, T] == (not ended or bool(d["truncated"][b, T - 1]))
    assert n_episodes == stats["episodes"] == E
    np.testing.assert_allclose(stats["returns_sum"], total_return, rtol=1e-6)
    # masks: dead agents and finished envs are padding, never trimmed
    assert batch.filled.shape == (E, T + 1)
    assert int(max_t_filled(batch)) == int(filled.sum(1).max())
    assert np.asarray(valid_mask(batch))[:, :T].sum() < E * T * 4  # somebody left early


def test_segment_mode_crosses_episode_boundaries(setup):
    env, p, pol, seats, params = setup
    ro = Rollout(env, p, pol, E, 7, seats)
    carry = ro.reset(jax.random.PRNGKey(3))
    run = jax.jit(ro.run)
    ends = 0
    for k in range(4):
        carry, batch, stats = run(jax.random.PRNGKey(10 + k), params, carry)
        d = jax.device_get(batch.data)
        assert np.asarray(batch.filled).all()  # segments are never padded
        ends += int(d["episode_end"][:, :7].sum())
        # after an episode end the next step starts a new episode: hidden reset, all alive
        e_idx, t_idx = np.nonzero(d["episode_end"][:, :6])
        assert d["reset"][e_idx, t_idx + 1].all()
        assert np.asarray(batch.alive)[e_idx, t_idx + 1].all()
        # a dead agent stays dead until its episode ends
        al = np.asarray(batch.alive)[:, :7]
        died = al[:, :-1] & ~al[:, 1:]
        assert (d["terminated"][:, :6] >= died).all()
    assert ends >= E  # 28 steps of 10-step episodes: every env finished at least one
    assert run._cache_size() == 1


@pytest.mark.parametrize("segment", [False, True], ids=["episodes", "segments"])
def test_only_learner_networks_run_and_learners_see_the_same(setup, segment):
    """With scripted seats only the learner's network runs (``net_seats``); its hidden state,
    logits and values, the actions sampled for it and the whole stored learner data equal those
    of the rollout that runs every seat's network (the values after the last step up to float
    rounding). Scripted seats keep their hidden state and get logits 0 and value 0."""
    env, p, pol, seats, params = setup
    gru = MultiPolicy(4, env.observation_shape(p), env.num_actions(p), (16,), gru_size=8)
    gparams = gru.init(jax.random.PRNGKey(3))
    ro = Rollout(env, p, gru, E, 7 if segment else 0, seats)
    assert ro.net_seats == (0,)
    full = Rollout(env, p, gru, E, 7 if segment else 0, seats)
    full.net_seats = None  # every seat's network, as before
    carry = ro.reset(jax.random.PRNGKey(1))
    hidden = jax.random.normal(jax.random.PRNGKey(4), carry.hidden.shape)
    got = ro.policy_apply(gparams, hidden, carry.obs, carry.reset)
    want = gru.apply(gparams, hidden, carry.obs, carry.reset)
    np.testing.assert_array_equal(np.asarray(got[0][:, 0]), np.asarray(want[0][:, 0]))
    np.testing.assert_array_equal(np.asarray(got[1][:, 0]), np.asarray(want[1][:, 0]))
    np.testing.assert_array_equal(np.asarray(got[2][:, 0]), np.asarray(want[2][:, 0]))
    np.testing.assert_array_equal(np.asarray(got[0][:, 1:]), np.asarray(hidden[:, 1:]))
    assert not np.asarray(got[1][:, 1:]).any() and not np.asarray(got[2][:, 1:]).any()
    _, b1, s1 = jax.jit(ro.run)(jax.random.PRNGKey(2), gparams, carry)
    _, b0, s0 = jax.jit(full.run)(jax.random.PRNGKey(2), gparams, carry)
    for k in b0.data:
        x0, x1 = np.asarray(b0.data[k]), np.asarray(b1.data[k])
        if k in ("log_prob", "value", "bootstrap_value"):  # the learner seat's alone
            x0, x1 = x0[..., 0], x1[..., 0]
        elif k == "hidden0":
            x0, x1 = x0[:, 0], x1[:, 0]
        if k in ("value", "bootstrap_value"):
            # index T's value (the final observation's, after the scan) is one product of
            # another batch shape: equal up to float rounding
            np.testing.assert_allclose(x1, x0, rtol=1e-5, atol=1e-7, err_msg=k)
        else:
            np.testing.assert_array_equal(x1, x0, err_msg=k)
    np.testing.assert_array_equal(np.asarray(b1.filled), np.asarray(b0.filled))
    for k in s0:
        np.testing.assert_array_equal(np.asarray(s1[k]), np.asarray(s0[k]), err_msg=k)

"""PettingZoo's own API checks on the ParallelEnv wrapper (and its AEC conversion)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test
from pettingzoo.utils.conversions import parallel_to_aec

from hopjax.envs import make
from hopjax.envs.pettingzoo import PettingZooEnv

ENV_NAMES = ("stag_hunt", "snowdrift")


@pytest.fixture(scope="module", params=ENV_NAMES)
def env_and_params(request):
    return make(request.param)


def test_parallel_api(env_and_params):
    env, params = env_and_params
    parallel_api_test(PettingZooEnv(env, params), num_cycles=200)


def test_parallel_seed(env_and_params):
    env, params = env_and_params
    parallel_seed_test(lambda: PettingZooEnv(env, params))


def test_aec_api(env_and_params):
    env, params = env_and_params
    with warnings.catch_warnings():
        # a Stag-Hunt player's last observation after its hunt is all zeros, by design
        warnings.filterwarnings("ignore", message="Observation numpy array is all zeros")
        api_test(parallel_to_aec(PettingZooEnv(env, params, render_mode="rgb_array")),
                 num_cycles=200)


def test_episode_semantics(env_and_params):
    env, params = env_and_params
    pz = PettingZooEnv(env, params, render_mode="rgb_array")
    obs, infos = pz.reset(seed=3)
    assert pz.agents == pz.possible_agents == [f"player_{i}" for i in range(4)]
    assert obs["player_0"].shape == pz.observation_space("player_0").shape
    assert infos["player_0"]["action_mask"].dtype == np.int8
    frame = pz.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3
    rng = np.random.default_rng(0)
    steps = 0
    while pz.agents:
        acts = {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"]))) for a in pz.agents}
        live = list(pz.agents)
        obs, rew, term, trunc, infos = pz.step(acts)
        assert set(obs) == set(live)
        for a in live:
            if term[a] or trunc[a]:
                assert a not in pz.agents
        steps += 1
    assert steps <= params.max_steps
    # a seeded reset reproduces the first observation
    o1, _ = pz.reset(seed=11)
    o2, _ = PettingZooEnv(env, params).reset(seed=11)
    np.testing.assert_array_equal(o1["player_2"], o2["player_2"])

"""``env_kwargs.prosocial``: every player receives the mean reward of all players (HOP code,
msg_code/env.py; Stag-Hunt after the HOP paper's prosocial agents). Hand-computed steps."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from hopjax.config import ConfigError
from hopjax.envs import SnowdriftState, StagHuntState, make
from hopjax.envs.params import StagHuntParams


def _stag_state():
    # players 0, 1 on the stag (1,1); player 2 on hare (0,3); player 3 left earlier
    return StagHuntState(
        positions=np.array([[1, 1], [1, 1], [0, 3], [2, 2]]),
        alive=np.array([True, True, True, False]),
        walls=np.zeros((3, 4), bool),
        stag_pos=np.array([[1, 1]]),
        stag_alive=np.array([True]),
        hare_pos=np.array([[0, 3], [2, 0], [2, 1], [2, 3]]),
        hare_alive=np.array([True, True, True, True]),
        t=np.int32(3),
    )


@pytest.mark.parametrize("prosocial", [False, True])
def test_stag_hunt_prosocial_reward(prosocial):
    env, params = make("stag_hunt", height=3, width=4, num_walls=0, prosocial=prosocial)
    actions = np.array([6, 6, 5, 4])  # two stag hunters, one hare hunter, the dead one stays
    _, _, reward, _, _ = env.step(jax.random.PRNGKey(0), _stag_state(), actions, params)
    selfish = np.array([5.0, 5.0, 1.0, 0.0])  # stag 10 split by 2, hare 1, nothing for the dead
    # prosocial: (5 + 5 + 1 + 0) / 4 = 2.75 to each player on the grid before the step
    expected = np.array([2.75, 2.75, 2.75, 0.0]) if prosocial else selfish
    np.testing.assert_allclose(np.asarray(reward), expected, rtol=1e-6)


@pytest.mark.parametrize("prosocial", [False, True])
def test_snowdrift_prosocial_reward(prosocial):
    env, params = make("snowdrift", height=2, width=3, num_walls=0, num_drifts=2, num_agents=3,
                       prosocial=prosocial)
    state = SnowdriftState(
        positions=np.array([[1, 0], [1, 0], [0, 0]]), alive=np.ones(3, bool),
        walls=np.zeros((2, 3), bool), drift_pos=np.array([[1, 0], [1, 2]]),
        drift_alive=np.array([True, True]), t=np.int32(0))
    _, _, reward, _, _ = env.step(jax.random.PRNGKey(0), state, np.array([5, 5, 4]), params)
    # one drift removed by a group of 2: +6 each, cost 4 split 2 / 2 -> [4, 4, 6]
    expected = np.full(3, 14.0 / 3) if prosocial else np.array([4.0, 4.0, 6.0])
    np.testing.assert_allclose(np.asarray(reward), expected, rtol=1e-6)


def test_prosocial_validated_before_jax():
    with pytest.raises(ConfigError, match="env_kwargs.prosocial"):
        StagHuntParams(prosocial=1).validate()

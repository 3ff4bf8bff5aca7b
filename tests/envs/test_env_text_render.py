"""Text grids (hopjax.envs.text_render): an exact hand-built case, and every cell checked
against the observation channels of states reached by random play."""

from __future__ import annotations

import numpy as np
import pytest

from hopjax.envs import SnowdriftState, StagHuntState, make
from hopjax.envs.pettingzoo import PettingZooEnv
from hopjax.envs.text_render import snowdrift_text, stag_hunt_text

TINY = dict(height=4, width=4, num_walls=2, max_steps=12)


def test_stag_hunt_exact_grid():
    _, params = make("stag_hunt", height=3, width=4, num_walls=0)
    walls = np.zeros((3, 4), bool)
    walls[0, 0] = True
    state = StagHuntState(
        positions=np.array([[1, 1], [2, 3], [2, 3], [0, 1]]),
        alive=np.array([True, True, True, False]),  # player 3 has left: not drawn
        walls=walls,
        stag_pos=np.array([[1, 1]]),
        stag_alive=np.array([True]),
        hare_pos=np.array([[0, 3], [2, 0], [1, 2], [2, 1]]),
        hare_alive=np.array([True, False, False, True]),  # captured hares are not drawn
        t=np.int32(7),
    )
    assert stag_hunt_text(state, params).splitlines() == [
        "stag_hunt t=7/35",
        "#..h",
        ".0..",
        ".h.+",
        "legend: # wall, . empty, 0-3 player, + several players, S stag, h hare",
        "stacked: (1,1) 0 S; (2,3) 1 2",
    ]


def test_snowdrift_exact_grid():
    _, params = make("snowdrift", height=2, width=3, num_walls=0, num_drifts=2)
    state = SnowdriftState(
        positions=np.array([[0, 2], [1, 0]]),
        alive=np.ones(2, bool),
        walls=np.array([[False, True, False], [False, False, False]]),
        drift_pos=np.array([[1, 0], [1, 2]]),
        drift_alive=np.array([True, True]),
        t=np.int32(0),
    )
    assert snowdrift_text(state, params).splitlines() == [
        "snowdrift t=0/50",
        ".#0",
        "1.*",
        "legend: # wall, . empty, 0-1 player, + several players, * snowdrift",
        "stacked: (1,0) 1 *",
    ]


def _expected_rows(obs: np.ndarray, me: int, n: int, kinds: str) -> list[str]:
    """Reference grid from agent `me`'s observation: channel k < n is player (me + k) mod n,
    then walls, then one channel per kind of object (chars in `kinds`)."""
    rows = []
    for r in range(obs.shape[0]):
        row = ""
        for c in range(obs.shape[1]):
            players = [(me + k) % n for k in range(n) if obs[r, c, k] > 0]
            objects = [ch for j, ch in enumerate(kinds) if obs[r, c, n + 1 + j] > 0]
            if obs[r, c, n] > 0:
                row += "#"
            elif len(players) > 1:
                row += "+"
            else:
                row += str(players[0]) if players else (objects[0] if objects else ".")
        rows.append(row)
    return rows


@pytest.mark.parametrize("name,kinds", [("stag_hunt", "Sh"), ("snowdrift", "*")])
def test_grid_matches_observations(name, kinds):
    env, params = make(name, **TINY)
    pz = PettingZooEnv(env, params, render_mode="ansi")
    rng = np.random.default_rng(0)
    checked = 0
    for seed in range(4):
        obs, infos = pz.reset(seed=seed)
        while pz.agents:
            me = int(rng.integers(len(pz.agents)))
            rows = pz.render().splitlines()[1 : 1 + params.height]
            agent = pz.agents[me]
            assert rows == _expected_rows(obs[agent], pz._index[agent], 4, kinds)
            checked += 1
            acts = {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"])))
                    for a in pz.agents}
            obs, _, _, _, infos = pz.step(acts)
    assert checked >= 4 * 3

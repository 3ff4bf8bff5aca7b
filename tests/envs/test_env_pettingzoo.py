"""PettingZoo's own API checks on the ParallelEnv wrapper (and its AEC conversion)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, render_test
from pettingzoo.utils.conversions import parallel_to_aec

from hopjax.envs import make
from hopjax.envs import pettingzoo as pz_module
from hopjax.envs.pettingzoo import PettingZooEnv

ENV_NAMES = ("stag_hunt", "snowdrift")
TINY = dict(height=4, width=4, num_walls=2, max_steps=20)


@pytest.fixture(scope="module", params=ENV_NAMES)
def env_and_params(request):
    return make(request.param)


def test_parallel_api(env_and_params):
    env, params = env_and_params
    parallel_api_test(PettingZooEnv(env, params), num_cycles=200)


def test_parallel_seed(env_and_params):
    # PettingZoo 1.27 stops this check after the first step; test_seeding_over_many_steps
    # below covers hundreds of steps and several episodes
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


@pytest.mark.parametrize("name", ENV_NAMES)
def test_render_test(name, capsys, monkeypatch):
    """PettingZoo's render_test: every mode in metadata, through the AEC conversion."""
    monkeypatch.setattr(pz_module, "_interactive_backend", lambda: False)  # as without display
    env, params = make(name, **TINY)
    pz = PettingZooEnv(env, params)
    assert pz.metadata["render_modes"] == ["human", "ansi", "rgb_array"]
    render_test(lambda render_mode=None: parallel_to_aec(PettingZooEnv(env, params, render_mode)))
    # no window: "human" printed the text grid once per render() call (5 calls)
    assert capsys.readouterr().out.count(f"{name} t=") == 5


def test_render_modes_refused():
    env, params = make("snowdrift", **TINY)
    with pytest.raises(ValueError, match="'human', 'ansi', 'rgb_array'"):
        PettingZooEnv(env, params, render_mode="rgb")


def test_human_window_updates_one_figure(monkeypatch):
    """Where a window can open (forced here on the Agg canvas), render() draws into one
    figure, its image is the rgb frame, and close() closes it."""
    import matplotlib.pyplot as plt

    plt.switch_backend("agg")  # what matplotlib picks where no display is available
    assert not pz_module._interactive_backend()
    monkeypatch.setattr(pz_module, "_interactive_backend", lambda: True)
    env, params = make("stag_hunt", **TINY)
    human = PettingZooEnv(env, params, render_mode="human")
    frames = PettingZooEnv(env, params, render_mode="rgb_array")
    before = set(plt.get_fignums())
    for pz in (human, frames):
        pz.reset(seed=5)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-interactive")
        for _ in range(3):
            assert human.render() is None
            for pz in (human, frames):
                pz.step({a: 1 for a in pz.agents})
        assert human.render() is None
    new = set(plt.get_fignums()) - before
    assert len(new) == 1
    image = plt.figure(new.pop()).axes[0].images[0]
    np.testing.assert_array_equal(np.asarray(image.get_array()), frames.render())
    human.close()
    assert set(plt.get_fignums()) == before


def _trace(pz: PettingZooEnv, seed: int, steps: int):
    """Yields every reset's and step's outputs (and agents) over `steps` steps; actions are
    drawn from each live agent's action mask by a fixed-seed generator; a new episode starts
    with reset() without a seed (the key carries on), every third one with seed + episode."""
    rng = np.random.default_rng(123)
    episode = 0
    obs, infos = pz.reset(seed=seed)
    yield "reset", list(pz.agents), obs, infos
    for _ in range(steps):
        if not pz.agents:
            episode += 1
            obs, infos = pz.reset(seed=seed + episode if episode % 3 == 0 else None)
            yield "reset", list(pz.agents), obs, infos
        acts = {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"]))) for a in pz.agents}
        out = pz.step(acts)
        infos = out[4]
        yield "step", list(pz.agents), acts, *out


@pytest.mark.parametrize("name", ENV_NAMES)
def test_seeding_over_many_steps(name):
    """Same seed -> identical traces over 300 steps and several episodes (the adapters step in
    lockstep); another seed -> a different trace."""
    env, params = make(name, **TINY)
    steps = 300
    a, b, c = (PettingZooEnv(env, params) for _ in range(3))
    trace_a, trace_c = [], []
    # zip_longest: the seed-8 trace may hold fewer resets, so it can end first
    traces = itertools.zip_longest(_trace(a, 7, steps), _trace(b, 7, steps), _trace(c, 8, steps))
    for i, (ra, rb, rc) in enumerate(traces):
        if ra is not None or rb is not None:
            assert data_equivalence(ra, rb, exact=True), f"record {i} differs"
            trace_a.append(ra)
        if rc is not None:
            trace_c.append(rc)
    kinds = [r[0] for r in trace_a]
    assert kinds.count("step") == steps and kinds.count("reset") >= 8
    if name == "stag_hunt":  # players left mid-episode
        assert {len(r[1]) for r in trace_a} > {0, 4}
    assert not data_equivalence(trace_a, trace_c)

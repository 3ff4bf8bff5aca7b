"""Importing hopjax.envs, every env module (and every hopjax module), and making an env starts
no JAX backend (no JAX array exists until an env function runs); the env contract is complete."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hopjax.envs import REGISTRY, AutoReset, Environment
from hopjax.envs.base import Environment as Base

ROOT = Path(__file__).resolve().parents[2]  # python -c puts the cwd first: this checkout

CHECK = textwrap.dedent("""
    import sys
    import hopjax.envs
    assert "jax" not in sys.modules, "import hopjax.envs imported JAX"
    from jax._src import xla_bridge
    import hopjax.envs.base, hopjax.envs.moves, hopjax.envs._grid, hopjax.envs.stag_hunt
    import hopjax.envs.snowdrift, hopjax.envs.scripted, hopjax.envs.wrappers
    import hopjax.envs.text_render, hopjax.models.goal_policy, hopjax.algos.hop.beliefs
    import hopjax.algos.hop.planner
    envs = [hopjax.envs.make(name) for name in hopjax.envs.PARAMS]
    hopjax.envs.AutoReset(envs[0][0])
    assert not xla_bridge._backends, f"backend started: {list(xla_bridge._backends)}"
    print("ok")
""")


ALL_MODULES = textwrap.dedent("""
    import importlib, pkgutil
    import hopjax
    from jax._src import xla_bridge
    names = [m.name for m in pkgutil.walk_packages(hopjax.__path__, "hopjax.")]
    for name in names:
        importlib.import_module(name)
    assert not xla_bridge._backends, f"backend started: {list(xla_bridge._backends)}"
    print(len(names))
""")


def test_importing_every_hopjax_module_starts_no_backend():
    """So hopjax.distributed.initialize() may run after any import (the reason imports used to
    sit inside functions)."""
    out = subprocess.run([sys.executable, "-c", ALL_MODULES], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0 and int(out.stdout.strip()) > 20, out.stderr[-2000:]


def test_import_and_make_start_no_backend():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


CONTRACT = ("reset", "step", "get_obs", "avail_actions", "alive", "goal_positions",
            "goals_present", "observation_shape", "num_actions", "action_names", "num_agents",
            "goal_names", "render", "default_params")


def test_contract_is_declared_abstract_and_implemented():
    assert set(CONTRACT) <= Base.__abstractmethods__
    for cls in [*REGISTRY.values(), AutoReset]:
        assert issubclass(cls, Environment) and not cls.__abstractmethods__, cls
        for name in CONTRACT:  # defined by the class itself, not inherited as abstract
            assert getattr(cls, name) is not getattr(Base, name), (cls, name)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_goal_positions_and_presence_follow_goal_names(name):
    import jax
    import numpy as np

    from hopjax.envs import make

    env, params = make(name, height=5, width=5, num_walls=0, max_steps=6)
    _, state = env.reset(jax.random.PRNGKey(3), params)
    g = env.num_goals(params)
    pos = np.asarray(env.goal_positions(state, params))
    present = np.asarray(env.goals_present(state, params))
    assert pos.shape == (g, 2) and pos.dtype == np.int32
    assert present.shape == (g,) and present.dtype == bool and present.all()
    kinds = [n.rsplit("_", 1)[0] for n in env.goal_names(params)]
    field = {"stag": "stag_pos", "hare": "hare_pos", "drift": "drift_pos"}
    for kind in dict.fromkeys(kinds):  # each kind's block, in goal_names order
        idx = [i for i, k in enumerate(kinds) if k == kind]
        np.testing.assert_array_equal(pos[idx], np.asarray(getattr(state, field[kind])))
    # the cells are those the observation shows as entities (channels after the N players)
    obs = np.asarray(env.get_obs(state, params))[0]
    n = params.num_agents
    ent = obs[..., n + 1: n + 1 + len(set(kinds))].any(-1)  # walls are channel n
    assert sorted(map(tuple, np.argwhere(ent))) == sorted(set(map(tuple, pos)))
    np.testing.assert_array_equal(env.alive(state, params), np.ones(n, bool))

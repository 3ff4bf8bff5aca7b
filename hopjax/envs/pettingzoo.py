"""Any hopjax environment as a PettingZoo ``ParallelEnv``.

- Agents are named ``"player_0" .. "player_{N-1}"``; ``possible_agents`` is fixed, and an
  agent leaves ``agents`` once it is terminated or truncated (in Stag-Hunt a player leaves
  as soon as its hunt succeeds).
- ``step(actions)`` takes a dict of ints for the live agents (missing agents play STAY) and
  returns dicts keyed by the agents that were live before the step: obs (float32 numpy),
  rewards (float), terminations / truncations (bool) and infos
  ``{"action_mask": int8 [A], "goal": int, "alive": bool}``.
- Spaces: ``Box(0, 1, obs_shape, float32)`` and ``Discrete(A)``, cached per agent.
- ``reset(seed=...)`` reseeds the internal JAX key; without a seed the key carries on.
- ``render_mode``: ``"rgb_array"`` -> ``render()`` returns the uint8 frame [H*24, W*24, 3] of
  the current state; ``"ansi"`` -> the text grid of ``hopjax.envs.text_render`` (a str);
  ``"human"`` -> shows the frame in a matplotlib window, updated in place by every
  ``render()`` call, where matplotlib's backend is interactive (a display is available),
  else prints the text grid to stdout; returns None. ``step()`` never renders by itself.
  ``close()`` closes the window. Envs without a text renderer offer only ``"rgb_array"``.

The jitted reset/step are shared by every instance wrapping an equal env (hopjax envs compare
equal by type) and recompile only for new static params.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium
import jax
import numpy as np
from pettingzoo import ParallelEnv

from hopjax.envs import _grid
from hopjax.envs.base import Environment
from hopjax.envs.text_render import TEXT_RENDERERS

RENDER_MODES = ("human", "ansi", "rgb_array")


@functools.partial(jax.jit, static_argnums=0)
def _reset(env: Environment, key: jax.Array, params: Any):
    key, sub = jax.random.split(key)
    obs, state = env.reset(sub, params)
    return key, obs, state, env.avail_actions(state, params)


@functools.partial(jax.jit, static_argnums=0)
def _step(env: Environment, key: jax.Array, state: Any, actions: jax.Array, params: Any):
    key, sub = jax.random.split(key)
    obs, state, rewards, dones, info = env.step(sub, state, actions, params)
    return key, obs, state, rewards, dones, info


@functools.partial(jax.jit, static_argnums=0)
def _render(env: Environment, state: Any, params: Any):
    return env.render(state, params)


class PettingZooEnv(ParallelEnv):
    metadata = {
        "render_modes": list(RENDER_MODES),
        "name": "hopjax",
        "is_parallelizable": True,
        "render_fps": 4,
    }

    def __init__(self, env: Environment, params: Any = None, render_mode: str | None = None):
        modes = [m for m in RENDER_MODES if m == "rgb_array" or env.name in TEXT_RENDERERS]
        if render_mode is not None and render_mode not in modes:
            raise ValueError(f"render_mode must be None or one of {modes}, got {render_mode!r}")
        self.env = env
        self.params = env.default_params() if params is None else params
        self.render_mode = render_mode
        self.metadata = {**type(self).metadata, "name": f"hopjax_{env.name}", "render_modes": modes}
        self._window = None  # human mode: (figure, image) once a window is open
        n = env.num_agents(self.params)
        self.possible_agents = [f"player_{i}" for i in range(n)]
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        self.agents: list[str] = []
        self._num_actions = env.num_actions(self.params)
        self._obs_shape = tuple(env.observation_shape(self.params))
        self._key = jax.random.PRNGKey(np.random.SeedSequence().entropy % (2**31))
        self._state = None
        self._stay = _grid.STAY  # the no-op of every hopjax grid world

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent: str) -> gymnasium.spaces.Box:
        return gymnasium.spaces.Box(0.0, 1.0, self._obs_shape, np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent: str) -> gymnasium.spaces.Discrete:
        return gymnasium.spaces.Discrete(self._num_actions)

    def _info(self, i: int, avail: np.ndarray, goal: int = -1, alive: bool = True) -> dict:
        return {"action_mask": avail[i].astype(np.int8), "goal": int(goal), "alive": bool(alive)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._key = jax.random.PRNGKey(seed)
        self._key, obs, self._state, avail = _reset(self.env, self._key, self.params)
        obs, avail = np.asarray(obs), np.asarray(avail)
        self.agents = self.possible_agents[:]
        observations = {a: obs[i] for i, a in enumerate(self.possible_agents)}
        infos = {a: self._info(i, avail) for i, a in enumerate(self.possible_agents)}
        return observations, infos

    def step(self, actions: dict[str, Any]):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        acts = np.full((len(self.possible_agents),), self._stay, np.int32)
        for agent, a in actions.items():
            if agent in self.agents and a is not None:
                acts[self._index[agent]] = int(a)
        self._key, obs, self._state, rew, dones, info = _step(
            self.env, self._key, self._state, acts, self.params
        )
        obs, rew = np.asarray(obs), np.asarray(rew)
        term_agents = np.asarray(dones.agents)
        episode_trunc = bool(dones.truncated)
        avail = np.asarray(info["avail_actions"])
        goal = np.asarray(info["goal"])
        alive = np.asarray(info["alive"])
        live = self.agents
        observations, rewards, terminations, truncations, infos = {}, {}, {}, {}, {}
        for a in live:
            i = self._index[a]
            observations[a] = obs[i]
            rewards[a] = float(rew[i])
            terminations[a] = bool(term_agents[i])
            truncations[a] = episode_trunc and not terminations[a]
            infos[a] = self._info(i, avail, goal[i], alive[i])
        self.agents = [a for a in live if not (terminations[a] or truncations[a])]
        return observations, rewards, terminations, truncations, infos

    def render(self) -> np.ndarray | str | None:
        """The current state as ``render_mode`` says (module docstring); None before reset()."""
        if self.render_mode is None or self._state is None:
            return None
        if self.render_mode == "ansi":
            return self._text()
        frame = np.asarray(_render(self.env, self._state, self.params))
        if self.render_mode == "rgb_array":
            return frame
        self._window = _show(self._window, frame, self.metadata["render_fps"])
        if self._window is None:
            print(self._text(), flush=True)
        return None

    def _text(self) -> str:
        state = jax.device_get(self._state)
        return TEXT_RENDERERS[self.env.name](state, self.params)

    def close(self):
        if self._window is not None:
            import matplotlib.pyplot as plt

            plt.close(self._window[0])
            self._window = None

    def state(self) -> np.ndarray:
        """Not provided: hopjax observations are already full views of the grid."""
        raise NotImplementedError("the hopjax PettingZoo wrapper has no global state()")


def _interactive_backend() -> bool:
    """matplotlib's backend can open windows (False for Agg, which matplotlib picks itself
    where no display is available)."""
    import matplotlib.pyplot as plt

    try:
        from matplotlib.backends import BackendFilter, backend_registry  # matplotlib >= 3.9

        interactive = backend_registry.list_builtin(BackendFilter.INTERACTIVE)
    except ImportError:
        from matplotlib.rcsetup import interactive_bk as interactive
    return plt.get_backend().lower() in {b.lower() for b in interactive}


def _show(window, frame: np.ndarray, fps: int):
    """Draws frame into window (figure, image), opening one first if there is none or the user
    closed it -> the window, or None where no window can open."""
    import matplotlib.pyplot as plt

    if window is None or not plt.fignum_exists(window[0].number):
        if not _interactive_backend():
            return None
        try:
            fig, ax = plt.subplots()
        except (ImportError, RuntimeError):  # e.g. a GUI backend forced without a display
            return None
        ax.set_axis_off()
        window = (fig, ax.imshow(frame))
        fig.show()
    fig, image = window
    image.set_data(frame)
    fig.canvas.draw_idle()
    fig.canvas.start_event_loop(1.0 / fps)  # lets the GUI draw; paces the frames
    return window

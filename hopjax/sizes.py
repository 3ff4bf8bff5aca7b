"""Memory estimate of a run, before JAX starts: refuse configs that cannot fit this machine.

The estimate is deliberately simple (a lower bound of what a run holds at once), in bytes:

- **rollout batch** (PPO): ``num_envs x (T + 1) x N x (S + A + 34)``, with ``T`` the
  rollout length (the episode length ``max_steps`` when ``rollout_length`` is 0), ``N``
  agents, ``O`` floats per observation, ``A`` actions, ``S = H W (C - time) + 4 time`` bytes
  of a stored observation (:mod:`hopjax.buffers.obs`: uint8 planes and a float32 time value,
  ``time`` = 1 with a time channel). Per agent-step: the stored observation,
  the bool action mask, int32 action and goal, float32 log-prob, value, reward, bootstrap
  value, advantage and return (4 B each), bool terminated and loss mask
  (:mod:`hopjax.rollout`'s scheme plus GAE's outputs). Plus one reset's uniforms per env,
  ``num_envs x 4 x (64 x 3 x num_walls + (N + 1) H W)`` (:mod:`hopjax.envs._grid`).
  Times ``seeds`` for a sweep.
- **opponent-model buffer** (``opponent_model.kind`` omg/moa): ``opponent_model.buffer_capacity x (T + 1) x N
  x (S + 12)`` (observation, action, goal, subgoal).
- **HOP**: self-play batch and replay buffer, ``(num_envs + buffer_episodes) x (T + 1) x N x
  (4 O + 5 A + 20)`` (observation, action mask, search policy, 5 scalars), and the search
  trees, ``num_envs x N x num_trees x (num_simulations + 1) x (H W + 12 A + 64)``.
- **networks**: 4 copies (parameters, gradients, Adam's two moments) of float32 parameters:
  dense layers ``in x out + out`` through ``hidden_sizes`` to the heads (``A`` logits + 1
  value; GRU ``3 (in + h + 1) h``), one set per agent unless ``shared_params``; HOP's goal
  policy and planner net; the opponent model's MLP.

The machine's memory is ``os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')`` (no JAX
device query): a run that needs more than that is refused with the estimate in the message.
"""

from __future__ import annotations

import os
from typing import Any

from hopjax.config import INT32_MAX, ConfigError, env_params

WALL_MAX_TRIES = 64  # hopjax.envs._grid.WALL_MAX_TRIES


def physical_memory() -> int:
    """Bytes of physical memory of this machine (0 if unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def human(n: float) -> str:
    """Bytes -> '3.1 TB' (decimal units; GiB for the machine)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB", "EB"):
        if abs(n) < 1000 or unit == "EB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.3g} EB"


def mlp_params(sizes: list[int]) -> int:
    """Parameters of dense layers through ``sizes`` (weights + biases)."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def _env_sizes(cfg: Any) -> dict[str, int]:
    p = env_params(cfg.env, cfg.env_kwargs)
    h, w, c = p.observation_shape()
    t = int(p.time_channel)
    return dict(N=p.num_agents, O=h * w * c, S=h * w * (c - t) + 4 * t, A=p.NUM_ACTIONS, HW=h * w, walls=p.num_walls,
                max_steps=p.max_steps, G=p.num_entities)


def ppo_estimate(cfg: Any, seeds: int = 1) -> dict[str, int]:
    """Bytes per part of a PPO-family run (see the module docstring); ``seeds`` of a sweep."""
    e = _env_sizes(cfg)
    n, o, a = e["N"], e["O"], e["A"]
    t = cfg.rollout_length or e["max_steps"]
    rows = cfg.num_envs * (t + 1) * n
    reset = cfg.num_envs * 4 * (WALL_MAX_TRIES * 3 * e["walls"] + (n + 1) * e["HW"])
    parts = {"rollout batch": seeds * (rows * (e["S"] + a + 34) + reset)}
    torso = mlp_params([o, *cfg.hidden_sizes])
    last = cfg.hidden_sizes[-1] if cfg.hidden_sizes else o
    if cfg.gru_size:
        torso += 3 * (last + cfg.gru_size + 1) * cfg.gru_size
        last = cfg.gru_size
    per_agent = torso + last * (a + 1) + a + 1
    nets = (1 if cfg.shared_params else n) * per_agent
    om = cfg.opponent_model
    if om.kind != "none":
        parts["opponent-model buffer"] = seeds * om.buffer_capacity * (t + 1) * n * (e["S"] + 12)
        nets += mlp_params([o, om.hidden, om.hidden, a]) + 3 * (om.hidden + om.gru + 1) * om.gru
    parts["networks"] = seeds * 4 * 4 * nets
    return parts


def hop_estimate(cfg: Any) -> dict[str, int]:
    """Bytes per part of a HOP run (see the module docstring)."""
    e = _env_sizes(cfg)
    n, o, a = e["N"], e["O"], e["A"]
    t = e["max_steps"]
    episodes = (cfg.num_envs + cfg.buffer_episodes) * (t + 1) * n
    parts = {
        "episode batch and replay buffer": episodes * (4 * o + 5 * a + 20),
        "search trees": cfg.num_envs * n * cfg.num_trees * (cfg.num_simulations + 1)
        * (e["HW"] + 12 * a + 64),
    }
    hs = list(cfg.hidden_sizes)
    goal = mlp_params([o, *hs, a]) + (e["G"] + 1) * hs[0]
    planner = mlp_params([o, *hs, a + 1])
    parts["networks"] = 4 * 4 * (goal + planner)
    return parts


def check_memory(cfg: Any, seeds: int = 1, available: int | None = None) -> dict[str, int]:
    """ConfigError if the estimate exceeds ``available`` bytes (default: physical memory),
    naming the largest part and the keys that drive it; -> the estimate otherwise."""
    hop = hasattr(cfg, "num_simulations")
    parts = hop_estimate(cfg) if hop else ppo_estimate(cfg, seeds)
    if not hop:
        t = cfg.rollout_length or env_params(cfg.env, cfg.env_kwargs).max_steps
        updates = cfg.total_steps // (cfg.num_envs * t)
        if updates > INT32_MAX:
            raise ConfigError(f"config key 'total_steps' ({cfg.total_steps}) gives {updates} updates "
                              f"of num_envs x T = {cfg.num_envs} x {t} steps; at most 2**31 - 1")
    available = physical_memory() if available is None else available
    total = sum(parts.values())
    if available and total > available:
        part = max(parts, key=parts.get)
        keys = {"rollout batch": "num_envs, env_kwargs (grid, agents, max_steps), rollout_length",
                "opponent-model buffer": "opponent_model.buffer_capacity, num_envs, env_kwargs",
                "networks": "hidden_sizes, gru_size, env_kwargs (observation size)",
                "episode batch and replay buffer": "num_envs, buffer_episodes, env_kwargs",
                "search trees": "num_envs, num_trees, num_simulations, env_kwargs"}[part]
        sweep = f" for {seeds} seeds" if seeds > 1 else ""
        raise ConfigError(f"config keys {keys}: the run needs about {human(total)}{sweep} "
                          f"({human(parts[part])} for the {part}), this machine has "
                          f"{available / 2**30:.3g} GiB")
    return parts

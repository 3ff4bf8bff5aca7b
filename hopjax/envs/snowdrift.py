"""Markov Snowdrift (MSG), the HOP paper's second mixed-motive grid world, in pure JAX.

Rules (source: the HOP code, ``msg_code/env.py``, of Huang, Liu, Kong, Yang, Zhu, Feng,
"Efficient Adaptation in Mixed-Motive Environments via Hierarchical Opponent Modeling and
Planning", ICML 2024, arXiv 2406.08002; the observation layout and the reset order are our
choice, see below):

- ``num_agents`` players and ``num_drifts`` snowdrifts on a ``height x width`` grid with
  optional wall pieces. Drifts do not move and do not respawn.
- Actions: 0 up (row-1), 1 down (row+1), 2 left (col-1), 3 right (col+1), 4 stay, 5 shovel.
  Moves are available when the target cell is in the grid and not a wall; shovel only on a
  cell holding a drift. An unavailable or out-of-range action is executed as stay.
- Step: all moves first (shovellers do not move), then shovels: the players shovelling the same
  drift form one group; each removed drift gives every player ``drift_reward`` and costs each
  group member ``drift_cost / group size``. ``prosocial=True``: every player receives the mean
  of these rewards over all players (HOP code, ``msg_code/env.py``).
- No player leaves early. The episode terminates when no drift is left and is truncated at
  ``max_steps`` otherwise.
- Goals (``goal_names``): ``drift_0..drift_{D-1}``; ``info["goal"][i]`` is the drift agent i
  helped remove this step, -1 otherwise.

Observation of agent i: float32 ``[H, W, N + 2 (+1)]`` - channel k < N is player (i + k) mod N
(channel 0 is "me"), then walls, drifts, and (``time_channel=True``) a constant plane
``t / max_steps``. Our choice: egocentric player order, so one network serves every seat (the
HOP code gives every agent the same ``(N + 2, H, W)`` state and the time step apart).

Reset (HOP code, msg_code/env.py ``reset``): optional wall pieces (none by default:
``max_block_comp`` 0 in msg_code/train.py; same pieces as Stag-Hunt, see ``hopjax.envs._grid``),
then each player uniformly on a non-wall cell (players may share cells), then the drifts on
distinct non-wall cells drawn independently of the players, so a drift may lie under a
player (who can shovel it at once).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from hopjax.envs import _grid
from hopjax.envs import params as params_mod
from hopjax.envs.base import Dones, Environment
from hopjax.envs.params import SnowdriftParams

UP, DOWN, LEFT, RIGHT, STAY, SHOVEL = range(6)
NUM_ACTIONS = SnowdriftParams.NUM_ACTIONS  # 6
ACTION_NAMES = ("up", "down", "left", "right", "stay", "shovel")

DRIFT_COLOR = (150, 200, 240)


# SnowdriftParams (JAX-free, the env_kwargs documentation) lives in hopjax.envs.params; registered
# here as a pytree: static fields are metadata, the rewards are leaves.
jax.tree_util.register_dataclass(SnowdriftParams, data_fields=params_mod.data_fields(SnowdriftParams),
                                 meta_fields=params_mod.meta_fields(SnowdriftParams))


@struct.dataclass
class SnowdriftState:
    positions: jax.Array  # [N, 2] int32 (row, col)
    alive: jax.Array  # [N] bool (always True: nobody leaves early)
    walls: jax.Array  # [H, W] bool
    drift_pos: jax.Array  # [D, 2] int32
    drift_alive: jax.Array  # [D] bool
    t: jax.Array  # [] int32


class Snowdrift(Environment):
    """Markov Snowdrift. Stateless; equal to (and hashes like) any other instance."""

    name = "snowdrift"
    params_cls = SnowdriftParams
    state_cls = SnowdriftState

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return "Snowdrift()"

    def default_params(self, **overrides: Any) -> SnowdriftParams:
        _grid.check_overrides(SnowdriftParams, overrides)
        p = SnowdriftParams(**overrides)
        p.validate()
        return p

    def observation_shape(self, params: SnowdriftParams) -> tuple[int, ...]:
        return params.observation_shape()  # [H, W, N + 2 (+1)]

    def num_actions(self, params: SnowdriftParams) -> int:
        return NUM_ACTIONS

    def num_agents(self, params: SnowdriftParams) -> int:
        return params.num_agents

    def goal_names(self, params: SnowdriftParams) -> tuple[str, ...]:
        return tuple(f"drift_{j}" for j in range(params.num_drifts))

    def action_names(self, params: SnowdriftParams | None = None) -> tuple[str, ...]:
        return ACTION_NAMES

    def reset(self, key: jax.Array, params: SnowdriftParams) -> tuple[jax.Array, SnowdriftState]:
        walls, drifts, positions = _grid.sample_layout(
            key,
            params.height,
            params.width,
            params.num_walls,
            params.num_drifts,
            params.num_agents,
            players_on_entities=True,
        )
        state = SnowdriftState(
            positions=positions,
            alive=jnp.ones((params.num_agents,), bool),
            walls=walls,
            drift_pos=drifts,
            drift_alive=jnp.ones((params.num_drifts,), bool),
            t=jnp.int32(0),
        )
        return self.get_obs(state, params), state

    def _on_drift(self, state: SnowdriftState) -> jax.Array:
        same = jnp.all(state.positions[:, None, :] == state.drift_pos[None, :, :], axis=-1)
        return same & state.alive[:, None] & state.drift_alive[None, :]  # [N, D]

    def avail_actions(self, state: SnowdriftState, params: SnowdriftParams) -> jax.Array:
        moves = _grid.move_avail(state.positions, state.walls) & state.alive[:, None]
        moves = moves.at[:, STAY].set(True)
        shovel = jnp.any(self._on_drift(state), axis=1)
        return jnp.concatenate([moves, shovel[:, None]], axis=1)

    def alive(self, state: SnowdriftState, params: SnowdriftParams) -> jax.Array:
        """[N] bool: always all True (nobody leaves early)."""
        return state.alive

    def goal_positions(self, state: SnowdriftState, params: SnowdriftParams) -> jax.Array:
        """[D, 2] int32: the drifts' cells (``goal_names`` order)."""
        return state.drift_pos

    def agent_positions(self, state: SnowdriftState, params: SnowdriftParams) -> jax.Array:
        """[N, 2] int32: the players' cells."""
        return state.positions

    def goals_present(self, state: SnowdriftState, params: SnowdriftParams) -> jax.Array:
        """[D] bool: drifts not yet removed (``goal_names`` order)."""
        return state.drift_alive

    def get_obs(self, state: SnowdriftState, params: SnowdriftParams) -> jax.Array:
        """[N, H, W, N + 2 (+1)] float32 (module docstring)."""
        return self.seat_obs(state, params, None)

    def seat_obs(self, state: SnowdriftState, params: SnowdriftParams, seats) -> jax.Array:
        """[K, H, W, N + 2 (+1)] float32: ``get_obs(state)[seats]`` built for those seats only."""
        h, w = params.height, params.width
        drifts = jnp.any(_grid.one_hot_cells(state.drift_pos, state.drift_alive, h, w), axis=0)
        extra = jnp.stack([state.walls, drifts], axis=-1)
        return _grid.build_obs(state.positions, state.alive, extra, state.t, params.max_steps,
                               params.time_channel, seats)

    def sparse_obs_size(self, params: SnowdriftParams) -> int:
        """P = N players + drifts + the time plane (the walls: :meth:`obs_const_sparse`)."""
        return params.num_agents + params.num_drifts + int(params.time_channel)

    def seat_obs_sparse(self, state: SnowdriftState, params: SnowdriftParams, seats) -> tuple[jax.Array, jax.Array]:
        """:meth:`seat_obs` less the walls as (idx [K, P] int32, val [K, P] float32) entries
        (:meth:`Environment.seat_obs_sparse`, :func:`_grid.build_obs_sparse`)."""
        w = params.width
        extra = ((1, _grid.point_cells(state.drift_pos, w), state.drift_alive),)
        return _grid.build_obs_sparse(state.positions, state.alive, extra, self.observation_shape(params)[-1],
                                      params.height, w, state.t, params.max_steps, params.time_channel, seats)

    def obs_const_sparse(self, state: SnowdriftState, params: SnowdriftParams) -> tuple[jax.Array, jax.Array]:
        """The walls' entries (idx [M] int32, val [M] float32), ``M = 4 * num_walls`` at most
        (every wall layout ``reset`` draws fits; :meth:`Environment.obs_const_sparse`)."""
        return _grid.wall_obs_sparse(state.walls, params, self.observation_shape(params)[-1])

    def obs_const_dense(self, state: SnowdriftState, params: SnowdriftParams) -> jax.Array:
        """The walls' part of a live seat's observation [H, W, C] float32
        (:meth:`Environment.obs_const_dense`, :func:`_grid.wall_obs_dense`)."""
        return _grid.wall_obs_dense(state.walls, params, self.observation_shape(params)[-1])

    def step(
        self,
        key: jax.Array,
        state: SnowdriftState,
        actions: jax.Array,
        params: SnowdriftParams,
    ) -> tuple[jax.Array, SnowdriftState, jax.Array, Dones, dict[str, jax.Array]]:
        del key  # the dynamics are deterministic
        a = _grid.sanitize_actions(actions, self.avail_actions(state, params))
        positions = _grid.apply_moves(state.positions, a)

        shovellers = self._on_drift(state) & (a == SHOVEL)[:, None]  # [N, D]
        group = jnp.sum(shovellers, axis=0)
        removed = group >= 1
        share = params.drift_cost / jnp.maximum(group, 1).astype(jnp.float32)
        n_removed = jnp.sum(removed).astype(jnp.float32)
        rewards = params.drift_reward * n_removed - jnp.sum(
            jnp.where(shovellers, share[None], 0.0), axis=1
        )
        if params.prosocial:  # every player receives the mean reward (HOP code, msg_code/env.py)
            rewards = jnp.broadcast_to(jnp.mean(rewards), rewards.shape)
        rewards = jnp.where(state.alive, rewards, 0.0)
        did = jnp.any(shovellers, axis=1)
        goal = jnp.where(did, jnp.argmax(shovellers, axis=1), -1).astype(jnp.int32)

        drift_alive = state.drift_alive & ~removed
        t = state.t + 1
        new_state = SnowdriftState(
            positions=positions,
            alive=state.alive,
            walls=state.walls,
            drift_pos=state.drift_pos,
            drift_alive=drift_alive,
            t=t,
        )
        terminated = ~jnp.any(drift_alive)
        truncated = (t >= params.max_steps) & ~terminated
        dones = Dones(
            agents=~state.alive | terminated, terminated=terminated, truncated=truncated
        )
        info = {
            "goal": goal,
            "avail_actions": self.avail_actions(new_state, params),
            "alive": state.alive,
        }
        return self.get_obs(new_state, params), new_state, rewards.astype(jnp.float32), dones, info

    def render(self, state: SnowdriftState, params: SnowdriftParams, cell: int = 24) -> jax.Array:
        """uint8 [H*cell, W*cell, 3]: walls dark grey, drifts light blue, players coloured
        squares (player i in slot i of its cell: red, blue, green, orange, ...)."""
        h, w = params.height, params.width
        drifts = jnp.any(_grid.one_hot_cells(state.drift_pos, state.drift_alive, h, w), axis=0)
        colors = jnp.broadcast_to(jnp.array(_grid.EMPTY_COLOR, jnp.int32), (h, w, 3))
        colors = jnp.where(state.walls[..., None], jnp.array(_grid.WALL_COLOR), colors)
        colors = jnp.where(drifts[..., None], jnp.array(DRIFT_COLOR), colors)
        return _grid.render_grid(colors, state.positions, state.alive, cell)

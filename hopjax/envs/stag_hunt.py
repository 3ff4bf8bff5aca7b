"""Markov Stag-Hunt (MSH), the HOP paper's first mixed-motive grid world, in pure JAX.

Rules (source: Huang, Liu, Kong, Yang, Zhu, Feng, "Efficient Adaptation in Mixed-Motive
Environments via Hierarchical Opponent Modeling and Planning", ICML 2024, arXiv 2406.08002;
the Stag-Hunt env file of the HOP code is not public, so the rules follow the paper's
description of the game and the Stag-Hunt configs of the HOP code, ``msh_code/train.py``.
Rules marked "our choice" are hopjax decisions):

- ``num_agents`` players, ``num_stags`` stags and ``num_hares`` hares on a ``height x width``
  grid with optional wall pieces. Stags and hares do not move and do not respawn.
- Actions: 0 up (row-1), 1 down (row+1), 2 left (col-1), 3 right (col+1), 4 stay,
  5 hunt-hare, 6 hunt-stag. Moves are available when the target cell is in the grid and not a
  wall; hunt-hare only on a cell holding a live hare; hunt-stag only on a cell holding a live
  stag together with at least ``stag_min_hunters`` live players (the player included).
  An unavailable or out-of-range action is executed as stay. A dead agent may only stay.
- Step: availability is judged on the state the agents observed; all moves happen first
  (hunters do not move). Then, per stag, the live players that chose hunt-stag on its cell form
  the hunting group: if the group has at least ``stag_min_hunters`` members the stag is
  captured and each member gets ``stag_reward / group size``; otherwise nothing happens to them
  (our choice: the failed hunt acts as stay - this happens when a partner walked away or
  did not hunt in the same step). Per hare, the players that chose hunt-hare on its cell
  split ``hare_reward``. ``prosocial=True``: every player still on the grid before the step
  receives the mean of that step's rewards over all N players (the HOP paper's prosocial
  agents maximise the group's reward; mean as in the HOP code's Snowdrift, ``msg_code/env.py``;
  players that left earlier receive nothing, our choice: they are out of the game).
- A player whose hunt succeeded is removed from the grid and is done (asynchronous
  termination); the others play on. The episode terminates when every player is done or (our
  addition, unreachable with the defaults) no stag/hare is left, and is truncated at
  ``max_steps`` otherwise. At termination every agent's ``dones.agents`` is True; ``alive``
  stays True for players still on the grid.
- Goals (``goal_names``): ``stag_0..stag_{S-1}, hare_0..hare_{R-1}``; ``info["goal"][i]`` is
  the index of the animal agent i captured this step, -1 otherwise.

Observation of agent i: float32 ``[H, W, N + 3 (+1)]`` - channel k < N is player (i + k) mod N
(so channel 0 is always "me"), then walls, stags, hares, and (``time_channel=True``) a
constant plane ``t / max_steps`` (the original networks receive the time step next to the
grid). Captured animals and removed players disappear from the grids; a dead agent's
observation is all zeros.

Reset: up to ``num_walls`` wall pieces of 3 or 4 cells, straight or L-shaped, a piece that
would overlap a wall skipped, the free space connected (the HOP code's wall rule,
msg_code/env.py ``block_build`` / ``check_connectivity``, with ``max_block_comp`` 5 from
msh_code/train.py; the full rule in ``hopjax.envs._grid``), then the animals on distinct free
cells, then each player uniformly on a free cell not holding an animal (players may share
cells). The Stag-Hunt env file of the HOP code is not public: its walls follow the paper's
description and that wall rule; the animal/player placement is our choice, so that no player
starts on its prey.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from hopjax.envs import _grid
from hopjax.envs import params as params_mod
from hopjax.envs.base import Dones, Environment
from hopjax.envs.params import StagHuntParams

UP, DOWN, LEFT, RIGHT, STAY, HUNT_HARE, HUNT_STAG = range(7)
NUM_ACTIONS = StagHuntParams.NUM_ACTIONS  # 7
ACTION_NAMES = ("up", "down", "left", "right", "stay", "hunt_hare", "hunt_stag")

STAG_COLOR = (139, 69, 19)
HARE_COLOR = (215, 190, 120)


# StagHuntParams (JAX-free, the env_kwargs documentation) lives in hopjax.envs.params; registered
# here as a pytree: static fields are metadata, the rewards are leaves.
jax.tree_util.register_dataclass(StagHuntParams, data_fields=params_mod.data_fields(StagHuntParams),
                                 meta_fields=params_mod.meta_fields(StagHuntParams))


@struct.dataclass
class StagHuntState:
    positions: jax.Array  # [N, 2] int32 (row, col); a dead player keeps its last cell
    alive: jax.Array  # [N] bool
    walls: jax.Array  # [H, W] bool
    stag_pos: jax.Array  # [S, 2] int32
    stag_alive: jax.Array  # [S] bool
    hare_pos: jax.Array  # [R, 2] int32
    hare_alive: jax.Array  # [R] bool
    t: jax.Array  # [] int32, steps taken


class StagHunt(Environment):
    """Markov Stag-Hunt. Stateless; equal to (and hashes like) any other instance."""

    name = "stag_hunt"
    params_cls = StagHuntParams
    state_cls = StagHuntState

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return "StagHunt()"

    # ------------------------------------------------------------------ params / sizes
    def default_params(self, **overrides: Any) -> StagHuntParams:
        _grid.check_overrides(StagHuntParams, overrides)
        p = StagHuntParams(**overrides)
        p.validate()
        return p

    def observation_shape(self, params: StagHuntParams) -> tuple[int, ...]:
        return params.observation_shape()  # [H, W, N + 3 (+1)]

    def num_actions(self, params: StagHuntParams) -> int:
        return NUM_ACTIONS

    def num_agents(self, params: StagHuntParams) -> int:
        return params.num_agents

    def goal_names(self, params: StagHuntParams) -> tuple[str, ...]:
        return tuple(f"stag_{j}" for j in range(params.num_stags)) + tuple(
            f"hare_{j}" for j in range(params.num_hares)
        )

    def action_names(self, params: StagHuntParams | None = None) -> tuple[str, ...]:
        return ACTION_NAMES

    # ------------------------------------------------------------------ dynamics
    def reset(self, key: jax.Array, params: StagHuntParams) -> tuple[jax.Array, StagHuntState]:
        n_ent = params.num_stags + params.num_hares
        walls, ent, positions = _grid.sample_layout(
            key,
            params.height,
            params.width,
            params.num_walls,
            n_ent,
            params.num_agents,
        )
        state = StagHuntState(
            positions=positions,
            alive=jnp.ones((params.num_agents,), bool),
            walls=walls,
            stag_pos=ent[: params.num_stags],
            stag_alive=jnp.ones((params.num_stags,), bool),
            hare_pos=ent[params.num_stags :],
            hare_alive=jnp.ones((params.num_hares,), bool),
            t=jnp.int32(0),
        )
        return self.get_obs(state, params), state

    def _on(self, positions, alive, ent_pos, ent_alive) -> jax.Array:
        """[N, K] bool: live player i stands on live entity k."""
        same = jnp.all(positions[:, None, :] == ent_pos[None, :, :], axis=-1)
        return same & alive[:, None] & ent_alive[None, :]

    def avail_actions(self, state: StagHuntState, params: StagHuntParams) -> jax.Array:
        alive = state.alive
        moves = _grid.move_avail(state.positions, state.walls) & alive[:, None]
        moves = moves.at[:, STAY].set(True)
        on_hare = jnp.any(self._on(state.positions, alive, state.hare_pos, state.hare_alive), 1)
        on_stag = self._on(state.positions, alive, state.stag_pos, state.stag_alive)  # [N, S]
        players_on_stag = jnp.sum(on_stag, axis=0)  # [S]
        can_stag = jnp.any(on_stag & (players_on_stag >= params.stag_min_hunters)[None], 1)
        return jnp.concatenate([moves, on_hare[:, None], can_stag[:, None]], axis=1)

    def alive(self, state: StagHuntState, params: StagHuntParams) -> jax.Array:
        """[N] bool: players still on the grid (a successful hunter leaves)."""
        return state.alive

    def goal_positions(self, state: StagHuntState, params: StagHuntParams) -> jax.Array:
        """[S + R, 2] int32: the stags' then the hares' cells (``goal_names`` order)."""
        return jnp.concatenate([state.stag_pos, state.hare_pos], axis=0)

    def agent_positions(self, state: StagHuntState, params: StagHuntParams) -> jax.Array:
        """[N, 2] int32: the players' cells (a hunter that left keeps its last cell)."""
        return state.positions

    def goals_present(self, state: StagHuntState, params: StagHuntParams) -> jax.Array:
        """[S + R] bool: live stags then live hares (``goal_names`` order)."""
        return jnp.concatenate([state.stag_alive, state.hare_alive], axis=-1)

    def get_obs(self, state: StagHuntState, params: StagHuntParams) -> jax.Array:
        """[N, H, W, N + 3 (+1)] float32 (module docstring)."""
        return self.seat_obs(state, params, None)

    def seat_obs(self, state: StagHuntState, params: StagHuntParams, seats) -> jax.Array:
        """[K, H, W, N + 3 (+1)] float32: ``get_obs(state)[seats]`` built for those seats only."""
        h, w = params.height, params.width
        stags = jnp.any(_grid.one_hot_cells(state.stag_pos, state.stag_alive, h, w), axis=0)
        hares = jnp.any(_grid.one_hot_cells(state.hare_pos, state.hare_alive, h, w), axis=0)
        extra = jnp.stack([state.walls, stags, hares], axis=-1)
        return _grid.build_obs(state.positions, state.alive, extra, state.t, params.max_steps,
                               params.time_channel, seats)

    def sparse_obs_size(self, params: StagHuntParams) -> int:
        """P = N players + stags + hares + the time plane (the walls: :meth:`obs_const_sparse`)."""
        return params.num_agents + params.num_stags + params.num_hares + int(params.time_channel)

    def seat_obs_sparse(self, state: StagHuntState, params: StagHuntParams, seats) -> tuple[jax.Array, jax.Array]:
        """:meth:`seat_obs` less the walls as (idx [K, P] int32, val [K, P] float32) entries
        (:meth:`Environment.seat_obs_sparse`, :func:`_grid.build_obs_sparse`)."""
        w = params.width
        extra = ((1, _grid.point_cells(state.stag_pos, w), state.stag_alive),
                 (2, _grid.point_cells(state.hare_pos, w), state.hare_alive))
        return _grid.build_obs_sparse(state.positions, state.alive, extra, self.observation_shape(params)[-1],
                                      params.height, w, state.t, params.max_steps, params.time_channel, seats)

    def obs_const_sparse(self, state: StagHuntState, params: StagHuntParams) -> tuple[jax.Array, jax.Array]:
        """The walls' entries (idx [M] int32, val [M] float32), ``M = 4 * num_walls`` at most
        (every wall layout ``reset`` draws fits; :meth:`Environment.obs_const_sparse`)."""
        return _grid.wall_obs_sparse(state.walls, params, self.observation_shape(params)[-1])

    def obs_const_dense(self, state: StagHuntState, params: StagHuntParams) -> jax.Array:
        """The walls' part of a live seat's observation [H, W, C] float32
        (:meth:`Environment.obs_const_dense`, :func:`_grid.wall_obs_dense`)."""
        return _grid.wall_obs_dense(state.walls, params, self.observation_shape(params)[-1])

    def step(
        self,
        key: jax.Array,
        state: StagHuntState,
        actions: jax.Array,
        params: StagHuntParams,
    ) -> tuple[jax.Array, StagHuntState, jax.Array, Dones, dict[str, jax.Array]]:
        del key  # the dynamics are deterministic
        alive = state.alive
        a = _grid.sanitize_actions(actions, self.avail_actions(state, params))
        positions = _grid.apply_moves(state.positions, a)

        # Stag hunts: hunters did not move, so their cell is the one they observed.
        on_stag = self._on(state.positions, alive, state.stag_pos, state.stag_alive)
        stag_hunters = on_stag & (a == HUNT_STAG)[:, None]  # [N, S]
        n_stag = jnp.sum(stag_hunters, axis=0)
        stag_taken = n_stag >= params.stag_min_hunters
        stag_win = stag_hunters & stag_taken[None]
        stag_share = params.stag_reward / jnp.maximum(n_stag, 1).astype(jnp.float32)

        on_hare = self._on(state.positions, alive, state.hare_pos, state.hare_alive)
        hare_hunters = on_hare & (a == HUNT_HARE)[:, None]  # [N, R]
        n_hare = jnp.sum(hare_hunters, axis=0)
        hare_taken = n_hare >= 1
        hare_share = params.hare_reward / jnp.maximum(n_hare, 1).astype(jnp.float32)

        rewards = jnp.sum(jnp.where(stag_win, stag_share[None], 0.0), axis=1) + jnp.sum(
            jnp.where(hare_hunters, hare_share[None], 0.0), axis=1
        )
        if params.prosocial:  # mean over all N players; players gone earlier receive nothing
            rewards = jnp.where(alive, jnp.mean(rewards), 0.0)
        wins = jnp.concatenate([stag_win, hare_hunters], axis=1)  # [N, G]
        hunted = jnp.any(wins, axis=1)
        goal = jnp.where(hunted, jnp.argmax(wins, axis=1), -1).astype(jnp.int32)

        new_alive = alive & ~hunted
        stag_alive = state.stag_alive & ~stag_taken
        hare_alive = state.hare_alive & ~hare_taken
        t = state.t + 1
        new_state = StagHuntState(
            positions=positions,
            alive=new_alive,
            walls=state.walls,
            stag_pos=state.stag_pos,
            stag_alive=stag_alive,
            hare_pos=state.hare_pos,
            hare_alive=hare_alive,
            t=t,
        )
        terminated = ~jnp.any(new_alive) | ~(jnp.any(stag_alive) | jnp.any(hare_alive))
        truncated = (t >= params.max_steps) & ~terminated
        dones = Dones(agents=~new_alive | terminated, terminated=terminated, truncated=truncated)
        info = {
            "goal": goal,
            "avail_actions": self.avail_actions(new_state, params),
            "alive": new_alive,
        }
        obs = self.get_obs(new_state, params)
        return obs, new_state, rewards.astype(jnp.float32), dones, info

    # ------------------------------------------------------------------ rendering
    def render(self, state: StagHuntState, params: StagHuntParams, cell: int = 24) -> jax.Array:
        """uint8 [H*cell, W*cell, 3]: walls dark grey, stags brown, hares tan, players coloured
        squares (player i in slot i of its cell: red, blue, green, orange, ...)."""
        h, w = params.height, params.width
        stags = jnp.any(_grid.one_hot_cells(state.stag_pos, state.stag_alive, h, w), axis=0)
        hares = jnp.any(_grid.one_hot_cells(state.hare_pos, state.hare_alive, h, w), axis=0)
        colors = jnp.broadcast_to(jnp.array(_grid.EMPTY_COLOR, jnp.int32), (h, w, 3))
        colors = jnp.where(state.walls[..., None], jnp.array(_grid.WALL_COLOR), colors)
        colors = jnp.where(stags[..., None], jnp.array(STAG_COLOR), colors)
        colors = jnp.where(hares[..., None], jnp.array(HARE_COLOR), colors)
        return _grid.render_grid(colors, state.positions, state.alive, cell)

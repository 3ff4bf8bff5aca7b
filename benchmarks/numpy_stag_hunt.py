"""Markov Stag-Hunt as a stateful NumPy object, the way PyMARL/RLlib-era envs are written.

Same rules as ``hopjax.envs.stag_hunt`` (see its docstring): one env per object, internal
state, ``reset() -> obs`` and ``step(actions) -> (obs, rewards, agent_dones, terminated,
truncated, info)``, vectorised over agents with NumPy but stepped one env at a time.
``baseline_hostloop.check_against_jax`` steps it side by side with the JAX env from the same
states and asserts equal observations, rewards, dones, goals, availability and alive masks.

Reset draws from the same layout distribution as the JAX env (wall pieces until the free
space is connected and large enough, animals on distinct free cells, players i.i.d. on free
cells without an animal) with NumPy's generator, so individual layouts differ from JAX's.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from hopjax.envs._grid import _piece_tables

UP, DOWN, LEFT, RIGHT, STAY, HUNT_HARE, HUNT_STAG = range(7)
NUM_ACTIONS = 7
NUM_MOVES = 5
DELTAS = np.array([[-1, 0], [1, 0], [0, -1], [0, 1], [0, 0]], np.int64)
WALL_MAX_TRIES = 64  # as hopjax.envs._grid


def _connected(free: np.ndarray) -> bool:
    """All free cells of [H, W] bool form one 4-connected region (breadth-first search)."""
    cells = np.argwhere(free)
    if len(cells) == 0:
        return True
    h, w = free.shape
    seen = np.zeros_like(free)
    r0, c0 = cells[0]
    seen[r0, c0] = True
    queue = deque([(r0, c0)])
    count = 1
    while queue:
        r, c = queue.popleft()
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            rr, cc = r + dr, c + dc
            if 0 <= rr < h and 0 <= cc < w and free[rr, cc] and not seen[rr, cc]:
                seen[rr, cc] = True
                count += 1
                queue.append((rr, cc))
    return count == len(cells)


class NumpyStagHunt:
    """One Markov Stag-Hunt env. ``params``: a ``hopjax.envs.StagHuntParams``."""

    def __init__(self, params: Any, seed: int = 0):
        self.h, self.w, self.n = params.height, params.width, params.num_agents
        self.s, self.r = params.num_stags, params.num_hares
        self.num_walls = params.num_walls
        # the wall pieces' tables (HOP code's shapes, hopjax.envs._grid.WALL_PIECES; NumPy arrays)
        self.piece_cdf, self.piece_cells, self.piece_lo, self.piece_count = _piece_tables(self.h, self.w)
        self.max_steps = params.max_steps
        self.min_hunters = params.stag_min_hunters
        self.time_channel = params.time_channel
        self.stag_reward = np.float32(params.stag_reward)
        self.hare_reward = np.float32(params.hare_reward)
        self.channels = self.n + 3 + int(self.time_channel)
        self.rng = np.random.default_rng(seed)
        # obs channel k of agent i shows player (i + k) mod N
        self.order = (np.arange(self.n)[:, None] + np.arange(self.n)[None, :]) % self.n
        # the target cell of each move from each cell, clipped into the grid, and whether it is inside
        h, w = self.h, self.w
        target = np.indices((h, w)).transpose(1, 2, 0)[:, :, None, :] + DELTAS  # [H, W, 5, 2]
        self.move_inside = (target >= 0).all(-1) & (target[..., 0] < h) & (target[..., 1] < w)
        self.move_r = np.minimum(np.maximum(target[..., 0], 0), h - 1)
        self.move_c = np.minimum(np.maximum(target[..., 1], 0), w - 1)

    # -- state -------------------------------------------------------------------------
    def _sample_walls(self) -> np.ndarray:
        h, w, k = self.h, self.w, self.num_walls
        for _ in range(WALL_MAX_TRIES):
            walls = np.zeros((h, w), bool)
            for u in self.rng.random((k, 3)):  # shape, anchor row, anchor col of each piece
                v = min(int(np.searchsorted(self.piece_cdf, u[0] * self.piece_cdf[-1], side="right")),
                        len(self.piece_cdf) - 1)
                count = self.piece_count[v]
                if (count == 0).any():
                    continue  # no room for this piece: skipped
                cells = self.piece_lo[v] + np.minimum((u[1:] * count).astype(int), count - 1) + self.piece_cells[v]
                if not walls[cells[:, 0], cells[:, 1]].any():  # an overlapping piece is skipped
                    walls[cells[:, 0], cells[:, 1]] = True
            free = ~walls
            if free.sum() >= self.s + self.r + 1 and _connected(free):
                return walls
        return np.zeros((h, w), bool)

    def reset(self) -> np.ndarray:
        """New layout -> obs [N, H, W, C]."""
        walls = self._sample_walls()
        free = np.flatnonzero(~walls)
        shuffled = self.rng.permutation(free)
        ent, rest = shuffled[: self.s + self.r], shuffled[self.s + self.r :]
        players = rest[self.rng.integers(len(rest), size=self.n)]
        to_rc = lambda idx: np.stack([idx // self.w, idx % self.w], -1).astype(np.int64)
        self._load(to_rc(players), np.ones(self.n, bool), walls, to_rc(ent[: self.s]),
                   np.ones(self.s, bool), to_rc(ent[self.s :]), np.ones(self.r, bool), 0)
        return self.obs()

    def set_state(self, state: Any) -> None:
        """Load a single (unbatched) ``StagHuntState`` (NumPy-convertible leaves)."""
        a = lambda x, dt: np.array(x, dt)
        self._load(a(state.positions, np.int64), a(state.alive, bool), a(state.walls, bool),
                   a(state.stag_pos, np.int64), a(state.stag_alive, bool), a(state.hare_pos, np.int64),
                   a(state.hare_alive, bool), int(state.t))

    def _load(self, pos, alive, walls, stag_pos, stag_alive, hare_pos, hare_alive, t) -> None:
        self.pos, self.alive, self.walls, self.t = pos, alive, walls, t
        self.stag_pos, self.stag_alive, self.hare_pos, self.hare_alive = stag_pos, stag_alive, hare_pos, hare_alive
        h, w, n = self.h, self.w, self.n
        # Lookup tables, fixed for the episode: which moves each cell allows; which live
        # stag/hare (index, -1 for none) stands on each cell; the static obs channels.
        self.move_ok = self.move_inside & ~walls[self.move_r, self.move_c]
        self.stag_at = np.full((h, w), -1, np.int64)
        self.stag_at[stag_pos[stag_alive, 0], stag_pos[stag_alive, 1]] = np.flatnonzero(stag_alive)
        self.hare_at = np.full((h, w), -1, np.int64)
        self.hare_at[hare_pos[hare_alive, 0], hare_pos[hare_alive, 1]] = np.flatnonzero(hare_alive)
        self.base = np.zeros((h, w, self.channels), np.float32)
        self.base[..., n] = walls
        self.base[..., n + 1] = self.stag_at >= 0
        self.base[..., n + 2] = self.hare_at >= 0
        self._avail = self._compute_avail()

    # -- rules -------------------------------------------------------------------------
    def _compute_avail(self) -> np.ndarray:
        r, c = self.pos[:, 0], self.pos[:, 1]
        avail = np.zeros((self.n, NUM_ACTIONS), bool)
        avail[:, :NUM_MOVES] = self.move_ok[r, c] & self.alive[:, None]
        avail[:, STAY] = True
        avail[:, HUNT_HARE] = (self.hare_at[r, c] >= 0) & self.alive
        stag = self.stag_at[r, c]
        on = (stag >= 0) & self.alive
        count = np.bincount(stag[on], minlength=self.s + 1)  # [S(+1)] live players per stag
        avail[:, HUNT_STAG] = on & (count[stag] >= self.min_hunters)
        return avail

    def avail_actions(self) -> np.ndarray:
        """[N, A] bool for the current state."""
        return self._avail

    def obs(self) -> np.ndarray:
        """[N, H, W, C] float32 (see ``hopjax.envs.stag_hunt``)."""
        n = self.n
        if self.time_channel:
            self.base[..., n + 3] = np.float32(self.t) / np.float32(self.max_steps)
        o = np.repeat(self.base[None], n, axis=0)
        ii, kk = np.nonzero(self.alive[self.order])
        p = self.order[ii, kk]
        o[ii, self.pos[p, 0], self.pos[p, 1], kk] = 1.0
        o[~self.alive] = 0.0
        return o

    def step(self, actions: np.ndarray):
        """actions [N] int -> (obs [N,H,W,C], rewards [N] f32, agent_dones [N], terminated,
        truncated, info {"goal": [N], "avail_actions": [N, A], "alive": [N]})."""
        a = np.asarray(actions, np.int64)
        a = np.where((a >= 0) & (a < NUM_ACTIONS), a, STAY)
        a = np.where(self._avail[np.arange(self.n), a], a, STAY)
        r, c = self.pos[:, 0], self.pos[:, 1]
        stag, hare = self.stag_at[r, c], self.hare_at[r, c]  # hunters do not move: observed cell
        self.pos = self.pos + DELTAS[np.minimum(a, STAY)]  # interact actions act as stay here

        stag_h = (a == HUNT_STAG) & (stag >= 0) & self.alive
        n_stag = np.bincount(stag[stag_h], minlength=self.s + 1)
        stag_taken = n_stag[: self.s] >= self.min_hunters
        stag_win = stag_h & (n_stag[stag] >= self.min_hunters)
        hare_h = (a == HUNT_HARE) & (hare >= 0) & self.alive
        n_hare = np.bincount(hare[hare_h], minlength=self.r + 1)
        hare_taken = n_hare[: self.r] > 0
        rewards = np.zeros(self.n, np.float32)
        rewards[stag_win] = self.stag_reward / n_stag[stag[stag_win]].astype(np.float32)
        rewards[hare_h] = self.hare_reward / n_hare[hare[hare_h]].astype(np.float32)
        goal = np.where(stag_win, stag, np.where(hare_h, self.s + hare, -1))

        self.alive = self.alive & ~(stag_win | hare_h)
        if stag_taken.any() or hare_taken.any():
            self.stag_alive = self.stag_alive & ~stag_taken
            self.hare_alive = self.hare_alive & ~hare_taken
            for p, taken, grid, ch in ((self.stag_pos, stag_taken, self.stag_at, self.n + 1),
                                       (self.hare_pos, hare_taken, self.hare_at, self.n + 2)):
                grid[p[taken, 0], p[taken, 1]] = -1
                self.base[p[taken, 0], p[taken, 1], ch] = 0.0
        self.t += 1
        terminated = (not self.alive.any()) or not (self.stag_alive.any() or self.hare_alive.any())
        truncated = self.t >= self.max_steps and not terminated
        agent_dones = ~self.alive | terminated
        self._avail = self._compute_avail()
        info = {"goal": goal, "avail_actions": self._avail, "alive": self.alive}
        return self.obs(), rewards, agent_dones, terminated, truncated, info

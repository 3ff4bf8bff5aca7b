"""Plain-Python reference of Markov Stag-Hunt's rules (loops and lists, no JAX).

Written from the rules in the ``hopjax.envs.stag_hunt`` docstring, independently of the JAX
code, to be stepped side by side with it.
"""

from __future__ import annotations

import numpy as np

UP, DOWN, LEFT, RIGHT, STAY, HUNT_HARE, HUNT_STAG = range(7)
DELTAS = {UP: (-1, 0), DOWN: (1, 0), LEFT: (0, -1), RIGHT: (0, 1), STAY: (0, 0)}


class RefStagHunt:
    def __init__(self, params, state):
        """``params``: a StagHuntParams; ``state``: a single (unbatched) StagHuntState."""
        self.h, self.w = params.height, params.width
        self.n = params.num_agents
        self.max_steps = params.max_steps
        self.min_hunters = params.stag_min_hunters
        self.time_channel = params.time_channel
        self.stag_reward = float(params.stag_reward)
        self.hare_reward = float(params.hare_reward)
        self.pos = [[int(v) for v in p] for p in np.asarray(state.positions)]
        self.alive = [bool(v) for v in np.asarray(state.alive)]
        self.walls = [[bool(v) for v in row] for row in np.asarray(state.walls)]
        self.stags = [[int(v) for v in p] for p in np.asarray(state.stag_pos)]
        self.stag_alive = [bool(v) for v in np.asarray(state.stag_alive)]
        self.hares = [[int(v) for v in p] for p in np.asarray(state.hare_pos)]
        self.hare_alive = [bool(v) for v in np.asarray(state.hare_alive)]
        self.t = int(state.t)

    # -- helpers
    def _players_at(self, r, c):
        return [i for i in range(self.n) if self.alive[i] and self.pos[i] == [r, c]]

    def _stag_at(self, r, c):
        for j, s in enumerate(self.stags):
            if self.stag_alive[j] and s == [r, c]:
                return j
        return None

    def _hare_at(self, r, c):
        for j, s in enumerate(self.hares):
            if self.hare_alive[j] and s == [r, c]:
                return j
        return None

    def avail(self):
        out = []
        for i in range(self.n):
            row = [False] * 7
            row[STAY] = True
            if self.alive[i]:
                r, c = self.pos[i]
                for a, (dr, dc) in DELTAS.items():
                    if a == STAY:
                        continue
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < self.h and 0 <= cc < self.w and not self.walls[rr][cc]:
                        row[a] = True
                row[HUNT_HARE] = self._hare_at(r, c) is not None
                row[HUNT_STAG] = (
                    self._stag_at(r, c) is not None
                    and len(self._players_at(r, c)) >= self.min_hunters
                )
            out.append(row)
        return out

    def obs(self):
        c_total = self.n + 3 + (1 if self.time_channel else 0)
        o = np.zeros((self.n, self.h, self.w, c_total), np.float32)
        for i in range(self.n):
            if not self.alive[i]:
                continue
            for k in range(self.n):
                p = (i + k) % self.n
                if self.alive[p]:
                    o[i, self.pos[p][0], self.pos[p][1], k] = 1.0
            for r in range(self.h):
                for c in range(self.w):
                    if self.walls[r][c]:
                        o[i, r, c, self.n] = 1.0
                    if self._stag_at(r, c) is not None:
                        o[i, r, c, self.n + 1] = 1.0
                    if self._hare_at(r, c) is not None:
                        o[i, r, c, self.n + 2] = 1.0
                    if self.time_channel:
                        o[i, r, c, self.n + 3] = np.float32(self.t) / np.float32(self.max_steps)
        return o

    def step(self, actions):
        avail = self.avail()
        acts = []
        for i in range(self.n):
            a = int(actions[i])
            if not (0 <= a < 7) or not avail[i][a] or not self.alive[i]:
                a = STAY
            acts.append(a)
        old_pos = [p[:] for p in self.pos]
        for i in range(self.n):
            if acts[i] in DELTAS:
                dr, dc = DELTAS[acts[i]]
                self.pos[i] = [self.pos[i][0] + dr, self.pos[i][1] + dc]
        rewards = [0.0] * self.n
        goals = [-1] * self.n
        caught = [False] * self.n
        # stags
        for j in range(len(self.stags)):
            if not self.stag_alive[j]:
                continue
            group = [
                i
                for i in range(self.n)
                if self.alive[i] and acts[i] == HUNT_STAG and old_pos[i] == self.stags[j]
            ]
            if len(group) >= self.min_hunters:
                self.stag_alive[j] = False
                for i in group:
                    rewards[i] += self.stag_reward / len(group)
                    goals[i] = j
                    caught[i] = True
        # hares
        for j in range(len(self.hares)):
            if not self.hare_alive[j]:
                continue
            group = [
                i
                for i in range(self.n)
                if self.alive[i] and acts[i] == HUNT_HARE and old_pos[i] == self.hares[j]
            ]
            if group:
                self.hare_alive[j] = False
                for i in group:
                    rewards[i] += self.hare_reward / len(group)
                    goals[i] = len(self.stags) + j
                    caught[i] = True
        for i in range(self.n):
            if caught[i]:
                self.alive[i] = False
        self.t += 1
        anything_left = any(self.stag_alive) or any(self.hare_alive)
        terminated = (not any(self.alive)) or (not anything_left)
        truncated = self.t >= self.max_steps and not terminated
        agent_dones = [(not self.alive[i]) or terminated for i in range(self.n)]
        return {
            "obs": self.obs(),
            "rewards": rewards,
            "agent_dones": agent_dones,
            "terminated": terminated,
            "truncated": truncated,
            "goal": goals,
            "avail": self.avail(),
            "alive": self.alive[:],
        }

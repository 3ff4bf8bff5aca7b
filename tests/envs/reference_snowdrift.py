"""Plain-Python reference of Markov Snowdrift's rules (loops and lists, no JAX).

Written from the rules in the ``hopjax.envs.snowdrift`` docstring, independently of the JAX
code, to be stepped side by side with it.
"""

from __future__ import annotations

import numpy as np

UP, DOWN, LEFT, RIGHT, STAY, SHOVEL = range(6)
DELTAS = {UP: (-1, 0), DOWN: (1, 0), LEFT: (0, -1), RIGHT: (0, 1), STAY: (0, 0)}


class RefSnowdrift:
    def __init__(self, params, state):
        self.h, self.w = params.height, params.width
        self.n = params.num_agents
        self.max_steps = params.max_steps
        self.time_channel = params.time_channel
        self.drift_reward = float(params.drift_reward)
        self.drift_cost = float(params.drift_cost)
        self.pos = [[int(v) for v in p] for p in np.asarray(state.positions)]
        self.walls = [[bool(v) for v in row] for row in np.asarray(state.walls)]
        self.drifts = [[int(v) for v in p] for p in np.asarray(state.drift_pos)]
        self.drift_alive = [bool(v) for v in np.asarray(state.drift_alive)]
        self.t = int(state.t)

    def _drift_at(self, r, c):
        for j, d in enumerate(self.drifts):
            if self.drift_alive[j] and d == [r, c]:
                return j
        return None

    def avail(self):
        out = []
        for i in range(self.n):
            row = [False] * 6
            row[STAY] = True
            r, c = self.pos[i]
            for a, (dr, dc) in DELTAS.items():
                rr, cc = r + dr, c + dc
                if a != STAY and 0 <= rr < self.h and 0 <= cc < self.w:
                    row[a] = not self.walls[rr][cc]
            row[SHOVEL] = self._drift_at(r, c) is not None
            out.append(row)
        return out

    def obs(self):
        c_total = self.n + 2 + (1 if self.time_channel else 0)
        o = np.zeros((self.n, self.h, self.w, c_total), np.float32)
        for i in range(self.n):
            for k in range(self.n):
                p = (i + k) % self.n
                o[i, self.pos[p][0], self.pos[p][1], k] = 1.0
            for r in range(self.h):
                for c in range(self.w):
                    o[i, r, c, self.n] = 1.0 if self.walls[r][c] else 0.0
                    o[i, r, c, self.n + 1] = 1.0 if self._drift_at(r, c) is not None else 0.0
                    if self.time_channel:
                        o[i, r, c, self.n + 2] = np.float32(self.t) / np.float32(self.max_steps)
        return o

    def step(self, actions):
        avail = self.avail()
        acts = []
        for i in range(self.n):
            a = int(actions[i])
            if not (0 <= a < 6) or not avail[i][a]:
                a = STAY
            acts.append(a)
        old_pos = [p[:] for p in self.pos]
        for i in range(self.n):
            if acts[i] in DELTAS:
                dr, dc = DELTAS[acts[i]]
                self.pos[i] = [self.pos[i][0] + dr, self.pos[i][1] + dc]
        rewards = [0.0] * self.n
        goals = [-1] * self.n
        for j in range(len(self.drifts)):
            if not self.drift_alive[j]:
                continue
            group = [i for i in range(self.n) if acts[i] == SHOVEL and old_pos[i] == self.drifts[j]]
            if not group:
                continue
            self.drift_alive[j] = False
            for i in range(self.n):
                rewards[i] += self.drift_reward
            for i in group:
                rewards[i] -= self.drift_cost / len(group)
                goals[i] = j
        self.t += 1
        terminated = not any(self.drift_alive)
        truncated = self.t >= self.max_steps and not terminated
        return {
            "obs": self.obs(),
            "rewards": rewards,
            "agent_dones": [terminated] * self.n,
            "terminated": terminated,
            "truncated": truncated,
            "goal": goals,
            "avail": self.avail(),
            "alive": [True] * self.n,
        }

"""Independent NumPy reference of PyMARL's EpisodeBatch / ReplayBuffer semantics.

Written from the documented behaviour (dynamic trimming to ``max_t_filled``, ``filled``
marked by transition writes, ring insertion split at the end of the buffer), not from the
hopjax implementation. Used only by tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RefField:
    vshape: tuple[int, ...]
    dtype: type
    group: str | None = None
    one_hot: int | None = None
    episode_const: bool = False


class RefEpisodeBatch:
    """Dict-of-arrays episode batch; ``filled`` is ``[B, T+1, 1]`` as in PyMARL.

    ``alive`` (``[B, T+1, N]``) is an extra transition field: vanilla PyMARL has none.
    """

    def __init__(self, scheme: dict[str, RefField], groups: dict[str, int], batch_size: int,
                 max_seq_length: int):
        self.scheme, self.groups = scheme, groups
        self.batch_size, self.t1 = batch_size, max_seq_length + 1
        self.transition: dict[str, np.ndarray] = {
            "filled": np.zeros((batch_size, self.t1, 1), np.int64),
            "alive": np.zeros((batch_size, self.t1, groups["agents"]), np.int64),
        }
        self.episode: dict[str, np.ndarray] = {}
        for k, f in scheme.items():
            shapes = [(groups[f.group], *f.vshape) if f.group else f.vshape]
            names = [k]
            dtypes = [f.dtype]
            if f.one_hot is not None:  # PyMARL's preprocess: a derived one-hot field
                shapes.append((*shapes[0], f.one_hot))
                names.append(k + "_onehot")
                dtypes.append(np.float32)
            for n, s, d in zip(names, shapes, dtypes):
                if f.episode_const:
                    self.episode[n] = np.zeros((batch_size, *s), d)
                else:
                    self.transition[n] = np.zeros((batch_size, self.t1, *s), d)

    def update(self, data: dict[str, np.ndarray], bs, ts: int, mark_filled: bool = True) -> None:
        """Write rows ``bs`` (index list) at step ``ts``; the first transition key marks filled."""
        bs = np.asarray(bs, dtype=np.int64)
        for k, v in data.items():
            v = np.asarray(v)
            if k in self.episode:
                self.episode[k][bs] = v
                target = self.episode
            else:
                if mark_filled:
                    self.transition["filled"][bs, ts] = 1
                    mark_filled = False
                self.transition[k][bs, ts] = v
                target = None
            f = self.scheme.get(k)
            if f is not None and f.one_hot is not None:
                oh = np.eye(f.one_hot, dtype=np.float32)[v]
                if target is self.episode:
                    self.episode[k + "_onehot"][bs] = oh
                else:
                    self.transition[k + "_onehot"][bs, ts] = oh

    def max_t_filled(self) -> int:
        return int(self.transition["filled"].sum(1).max(0)[0])

    def trimmed(self) -> dict[str, np.ndarray]:
        """``batch[:, :max_t_filled]``: transition fields trimmed, episode fields as they are."""
        t = self.max_t_filled()
        out = {k: v[:, :t].copy() for k, v in self.transition.items()}
        out.update({k: v.copy() for k, v in self.episode.items()})
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {**self.transition, **self.episode}

    def rows(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        return {k: v[lo:hi] for k, v in self.arrays().items()}


def learner_mask(trim: dict[str, np.ndarray]) -> np.ndarray:
    """PyMARL learners: ``[B, max_t-1]`` float mask on a trimmed batch."""
    terminated = trim["terminated"][:, :-1].astype(np.float64)
    if terminated.ndim == 3:
        terminated = terminated[..., 0]
    mask = trim["filled"][:, :-1, 0].astype(np.float64)
    mask[:, 1:] = mask[:, 1:] * (1 - terminated[:, :-1])
    return mask


def valid_mask(trim: dict[str, np.ndarray]) -> np.ndarray:
    """``[B, max_t, N]`` float: filled and alive, on the trimmed batch."""
    return trim["filled"].astype(np.float64) * trim["alive"].astype(np.float64)


def masked_mean(x: np.ndarray, mask: np.ndarray) -> float:
    m = mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
    m = np.broadcast_to(m, x.shape)
    n = m.sum()
    return float((x * m).sum() / n) if n > 0 else 0.0


def masked_sum(x: np.ndarray, mask: np.ndarray) -> float:
    m = mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
    return float((x * m).sum())


def per_agent_returns(trim: dict[str, np.ndarray]) -> np.ndarray:
    """``[B, N]``: sum over trimmed time of reward * filled * alive."""
    return (trim["reward"] * valid_mask(trim)).sum(axis=1)


class RefReplayBuffer:
    """PyMARL's ring of episodes: insertion split at the end, can_sample, sample."""

    def __init__(self, scheme: dict[str, RefField], groups: dict[str, int], buffer_size: int,
                 max_seq_length: int):
        self.storage = RefEpisodeBatch(scheme, groups, buffer_size, max_seq_length)
        self.buffer_size = buffer_size
        self.buffer_index = 0
        self.episodes_in_buffer = 0

    def insert_episode_batch(self, ep: dict[str, np.ndarray]) -> None:
        bs = len(ep["filled"])
        if self.buffer_index + bs <= self.buffer_size:
            lo, hi = self.buffer_index, self.buffer_index + bs
            for k, v in ep.items():
                store = self.storage.transition if k in self.storage.transition else self.storage.episode
                store[k][lo:hi] = v
            self.buffer_index = hi
            self.episodes_in_buffer = max(self.episodes_in_buffer, self.buffer_index)
            self.buffer_index = self.buffer_index % self.buffer_size
        else:
            left = self.buffer_size - self.buffer_index
            self.insert_episode_batch({k: v[:left] for k, v in ep.items()})
            self.insert_episode_batch({k: v[left:] for k, v in ep.items()})

    def can_sample(self, n: int) -> bool:
        return self.episodes_in_buffer >= n

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        assert self.can_sample(n)
        if self.episodes_in_buffer == n:
            idx = np.arange(n)
        else:
            idx = rng.choice(self.episodes_in_buffer, n, replace=False)
        return {k: v[idx] for k, v in self.storage.arrays().items()}


# ----------------------------------------------------------------------------------------
# Random episodes with asynchronous ends and per-agent deaths, and PyMARL's runner loop.

def ref_scheme(n_actions: int) -> dict[str, RefField]:
    return {
        "state": RefField((3,), np.float32),
        "obs": RefField((2,), np.float32, "agents"),
        "avail_actions": RefField((n_actions,), np.int32, "agents"),
        "actions": RefField((), np.int32, "agents", one_hot=n_actions),
        "reward": RefField((), np.float32, "agents"),
        "terminated": RefField((), np.bool_),
        "goal": RefField((), np.int32, "agents", episode_const=True),
    }


PRE = ("state", "obs", "avail_actions")
POST = ("reward", "terminated")


def random_raw(rng: np.random.Generator, lengths, deaths, t1: int, n_agents: int,
               n_actions: int, timeout_terminates) -> dict[str, np.ndarray]:
    """Per-step raw values ``[B, T+1, ...]`` (values at unused steps are junk on purpose)."""
    lengths = np.asarray(lengths)
    b = len(lengths)
    raw = {
        "state": rng.normal(size=(b, t1, 3)).astype(np.float32),
        "obs": rng.normal(size=(b, t1, n_agents, 2)).astype(np.float32),
        "avail_actions": rng.integers(0, 2, size=(b, t1, n_agents, n_actions)).astype(np.int32),
        "actions": rng.integers(0, n_actions, size=(b, t1, n_agents)).astype(np.int32),
        "reward": rng.normal(size=(b, t1, n_agents)).astype(np.float32),
        "goal": rng.integers(0, 5, size=(b, n_agents)).astype(np.int32),
    }
    term = np.zeros((b, t1), bool)
    for i, L in enumerate(lengths):
        # The last transition of an episode is step L-2; a time-limit ending (L == T+1) may
        # leave terminated False (PyMARL bootstraps on timeouts).
        if L >= 2 and (L < t1 or timeout_terminates[i]):
            term[i, L - 2] = True
    raw["terminated"] = term
    raw["alive"] = (np.arange(t1)[None, :, None] < np.asarray(deaths)[:, None, :])
    return raw


def ref_rollout(raw: dict[str, np.ndarray], lengths, max_seq_length: int, n_agents: int,
                n_actions: int) -> RefEpisodeBatch:
    """PyMARL-style runner: envs that are done are dropped from ``bs`` each step."""
    lengths = np.asarray(lengths)
    b = len(lengths)
    batch = RefEpisodeBatch(ref_scheme(n_actions), {"agents": n_agents}, b, max_seq_length)
    batch.update({"goal": raw["goal"]}, bs=np.arange(b), ts=0)
    for t in range(max_seq_length + 1):
        active = np.nonzero(t < lengths)[0]
        if len(active) == 0:
            break
        pre = {k: raw[k][active, t] for k in PRE}
        pre["alive"] = raw["alive"][active, t].astype(np.int64)
        batch.update(pre, bs=active, ts=t)
        batch.update({"actions": raw["actions"][active, t]}, bs=active, ts=t, mark_filled=False)
        post_rows = np.nonzero(t < lengths - 1)[0]
        if len(post_rows):
            batch.update({k: raw[k][post_rows, t] for k in POST}, bs=post_rows, ts=t)
    return batch

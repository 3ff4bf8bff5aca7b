"""Smoke demo of the fixed-shape episode storage: ``python examples/episode_buffer_demo.py``.

Writes random episodes with asynchronous per-agent deaths inside a jitted ``lax.scan``,
inserts them into a replay buffer, samples, and prints masked per-agent returns next to
the same numbers computed PyMARL-style on NumPy arrays trimmed to ``max_t_filled``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hopjax.buffers import (
    Field,
    Scheme,
    init_batch,
    init_buffer,
    insert,
    masked_returns,
    max_t_filled,
    sample,
    valid_mask,
    write,
)

B, T, N, K, CAPACITY = 4, 8, 3, 5, 16

SCHEME = Scheme.create(
    {
        "obs": Field((4,), jnp.float32, group="agents"),
        "actions": Field((), jnp.int32, group="agents", one_hot=K),
        "reward": Field((), jnp.float32, group="agents"),
        "terminated": Field((), jnp.bool_),
    },
    {"agents": N},
    T,
)


@jax.jit
def rollout(key: jax.Array):
    """B random episodes: episode b lasts ``length[b]`` steps, agent i dies at ``death[b, i]``."""
    k_len, k_die, k_steps = jax.random.split(key, 3)
    length = jax.random.randint(k_len, (B,), 2, T + 2)  # filled steps, final obs included
    death = jax.random.randint(k_die, (B, N), 1, T + 2)

    def step(batch, xs):
        t, k = xs
        k_obs, k_act, k_rew = jax.random.split(k, 3)
        active, acting = t < length, t < length - 1
        batch = write(batch, {"obs": jax.random.normal(k_obs, (B, N, 4))}, t, filled=active, alive=t < death)
        post = {
            "actions": jax.random.randint(k_act, (B, N), 0, K),
            "reward": jax.random.uniform(k_rew, (B, N)),
            "terminated": acting & (t == length - 2) & (length <= T),  # not on time-limit ends
        }
        return write(batch, post, t, filled=acting), None

    steps = (jnp.arange(T + 1), jax.random.split(k_steps, T + 1))
    batch, _ = jax.lax.scan(step, init_batch(SCHEME, B), steps)
    return batch


def trimmed_numpy_returns(batch) -> np.ndarray:
    """PyMARL-style: trim to max_t_filled, then sum reward * filled * alive over time."""
    filled = np.asarray(batch.filled)
    max_t = int(filled.sum(1).max())
    reward = np.asarray(batch["reward"])[:, :max_t]
    mask = filled[:, :max_t, None] * np.asarray(batch.alive)[:, :max_t]
    return (reward * mask).sum(1)


def main() -> None:
    key = jax.random.key(0)
    state = init_buffer(SCHEME, CAPACITY)
    insert_j = jax.jit(insert)
    for i in range(5):  # 20 episodes into 16 slots: the ring wraps
        key, sub = jax.random.split(key)
        state = insert_j(state, rollout(sub))
    print(f"buffer: {int(state.episodes_in_buffer)}/{state.capacity} episodes, next slot {int(state.insert_index)}")

    key, sub = jax.random.split(key)
    batch = jax.jit(sample, static_argnums=2)(state, sub, B)
    ours = np.asarray(jax.jit(lambda b: masked_returns(b["reward"], valid_mask(b)))(batch))
    ref = trimmed_numpy_returns(batch)
    print(f"sampled {B} episodes; max_t_filled={int(max_t_filled(batch))} of T+1={T + 1}")
    print("filled steps:", np.asarray(batch.filled).sum(1), " alive steps per agent:\n", np.asarray(valid_mask(batch)).sum(1))
    np.set_printoptions(precision=4, suppress=True)
    print("masked per-agent returns (JAX, fixed shape):\n", ours)
    print("trimmed NumPy returns:\n", ref)
    print("max abs difference:", float(np.abs(ours - ref).max()))


if __name__ == "__main__":
    main()

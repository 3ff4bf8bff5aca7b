"""Compile-once guarantees and vmap-over-seeds equivalence for the episode storage."""

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
    sample,
    valid_mask,
    write,
    write_const,
)

B, T, N, K, C = 2, 4, 3, 4, 5
T1 = T + 1
SCHEME = Scheme.create(
    {
        "obs": Field((2,), jnp.float32, group="agents"),
        "actions": Field((), jnp.int32, group="agents", one_hot=K),
        "reward": Field((), jnp.float32, group="agents"),
        "seed": Field((), jnp.int32, episode_const=True),
    },
    {"agents": N},
    T,
)


def random_episodes(key: jax.Array, seed_id: jax.Array):
    """B random episodes with random lengths and per-agent deaths, written in a scan."""
    # One uniform draw feeds everything (each distinct random op costs compile time).
    u = jax.random.uniform(key, (T1 * B * N * 4 + B + B * N,))
    cut = np.cumsum([T1 * B * N * 2, T1 * B * N, T1 * B * N, B])
    u_obs, u_act, u_rew, u_len, u_die = jnp.split(u, cut)
    obs = u_obs.reshape(T1, B, N, 2) * 2 - 1
    act = (u_act.reshape(T1, B, N) * K).astype(jnp.int32)
    rew = u_rew.reshape(T1, B, N) * 2 - 1
    lengths = 1 + (u_len * T1).astype(jnp.int32)
    deaths = 1 + (u_die.reshape(B, N) * T1).astype(jnp.int32)
    batch = write_const(init_batch(SCHEME, B), {"seed": jnp.full((B,), seed_id, jnp.int32)})

    def step(batch, xs):
        t, o, a, r = xs
        batch = write(batch, {"obs": o, "actions": a}, t, filled=t < lengths, alive=t < deaths)
        batch = write(batch, {"reward": r}, t, filled=t < lengths - 1)
        return batch, None

    batch, _ = jax.lax.scan(step, batch, (jnp.arange(T1), obs, act, rew))
    return batch


def test_each_function_compiles_once():
    traces = {"write": 0, "rollout": 0, "insert": 0}

    def counted_write(batch, data, t, filled, alive):
        traces["write"] += 1
        return write(batch, data, t, filled=filled, alive=alive)

    def counted_rollout(key, sid):
        traces["rollout"] += 1
        return random_episodes(key, sid)

    def counted_insert(state, eps):
        traces["insert"] += 1
        return insert(state, eps)

    write_j, rollout_j, insert_j = map(jax.jit, (counted_write, counted_rollout, counted_insert))

    # T steps written from Python with a traced t: one compilation.
    batch = init_batch(SCHEME, B)
    rng = np.random.default_rng(0)
    for t in range(T1):
        data = {"obs": rng.normal(size=(B, N, 2)).astype(np.float32),
                "actions": rng.integers(0, K, (B, N)).astype(np.int32)}
        batch = write_j(batch, data, jnp.int32(t), jnp.asarray(rng.random(B) < 0.7),
                        jnp.asarray(rng.random((B, N)) < 0.7))
    assert np.asarray(batch.filled).any()

    # Scan rollouts and K inserts (wrapping around the ring): one compilation each.
    state = init_buffer(SCHEME, C)
    for i in range(6):
        eps = rollout_j(jax.random.key(i), jnp.int32(i))
        state = insert_j(state, eps)
    assert int(state.episodes_in_buffer) == C and int(state.insert_index) == (6 * B) % C

    assert traces == {"write": 1, "rollout": 1, "insert": 1}
    assert write_j._cache_size() == rollout_j._cache_size() == insert_j._cache_size() == 1


def pipeline(key: jax.Array):
    """init + write + insert + sample for one seed."""
    keys = jax.random.split(key, 3)
    seeds = jnp.arange(1, 3, dtype=jnp.int32)

    def add(state, xs):  # two inserts, traced once
        return insert(state, random_episodes(*xs)), None

    state, _ = jax.lax.scan(add, init_buffer(SCHEME, C), (keys[:2], seeds))
    out = sample(state, keys[2], 3)
    return state, out, masked_returns(out["reward"], valid_mask(out))


def test_vmap_over_seeds_equals_separate_calls():
    keys = jax.random.split(jax.random.key(7), 4)
    batched = jax.device_get(jax.jit(jax.vmap(pipeline))(keys))
    single = jax.jit(pipeline)
    for i in range(4):
        one = jax.device_get(single(keys[i]))
        got = jax.tree_util.tree_map(lambda x: x[i], batched)
        flat_one, tree_one = jax.tree_util.tree_flatten(one)
        flat_got, tree_got = jax.tree_util.tree_flatten(got)
        assert tree_one == tree_got
        for a, b in zip(flat_got, flat_one):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
    # Sampled episodes really differ between seeds (the vmap is not broadcasting one seed).
    assert not np.allclose(batched[1]["obs"][0], batched[1]["obs"][1])

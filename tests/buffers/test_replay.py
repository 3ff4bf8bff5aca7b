"""ReplayBuffer ring insertion / sampling vs. the NumPy reference of PyMARL's buffer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hopjax_buffers_reference as ref
from hopjax.buffers import (
    EpisodeBatch,
    Field,
    Scheme,
    can_sample,
    init_batch,
    init_buffer,
    insert,
    masked_mean,
    sample,
    sample_indices,
    valid_mask,
)

T, N, C = 3, 2, 5
T1 = T + 1
SCHEME = Scheme.create(
    {
        "obs": Field((2,), jnp.float32, group="agents"),
        "reward": Field((), jnp.float32, group="agents"),
        "eid": Field((), jnp.int32, episode_const=True),
    },
    {"agents": N},
    T,
)
REF_SCHEME = {
    "obs": ref.RefField((2,), np.float32, "agents"),
    "reward": ref.RefField((), np.float32, "agents"),
    "eid": ref.RefField((), np.int32, episode_const=True),
}

insert_j = jax.jit(insert)
sample_j = jax.jit(sample, static_argnums=2)
can_sample_j = jax.jit(can_sample, static_argnums=1)
sample_many = jax.jit(jax.vmap(sample, in_axes=(None, 0, None)), static_argnums=2)


def make_episodes(rng: np.random.Generator, b: int, first_id: int):
    """Random filled episodes (ids first_id..) as an EpisodeBatch and a reference dict."""
    lengths = rng.integers(1, T1 + 1, size=b)
    filled = np.arange(T1)[None] < lengths[:, None]
    alive = rng.random((b, T1, N)) < 0.8
    alive &= filled[..., None]
    refd = {
        "filled": filled[..., None].astype(np.int64),
        "alive": alive.astype(np.int64),
        "obs": (rng.normal(size=(b, T1, N, 2)) * filled[..., None, None]).astype(np.float32),
        "reward": (rng.normal(size=(b, T1, N)) * filled[..., None]).astype(np.float32),
        "eid": np.arange(first_id, first_id + b, dtype=np.int32),
    }
    data = {k: jnp.asarray(refd[k]) for k in ("obs", "reward", "eid")}
    batch = EpisodeBatch(data=data, filled=jnp.asarray(filled), alive=jnp.asarray(alive), scheme=SCHEME)
    return batch, refd


def fill(sizes, seed=0):
    rng = np.random.default_rng(seed)
    state = init_buffer(SCHEME, C)
    rb = ref.RefReplayBuffer(REF_SCHEME, {"agents": N}, C, T)
    next_id = 1
    for b in sizes:
        eps, refd = make_episodes(rng, b, next_id)
        next_id += b
        state = insert_j(state, eps)
        rb.insert_episode_batch(refd)
        yield state, rb


def assert_same_storage(state, rb):
    assert int(state.insert_index) == rb.buffer_index
    assert int(state.episodes_in_buffer) == rb.episodes_in_buffer
    got = {**state.storage.data, "filled": state.storage.filled[..., None], "alive": state.storage.alive}
    for k, want in rb.storage.arrays().items():
        np.testing.assert_array_equal(np.asarray(got[k]), want.astype(np.asarray(got[k]).dtype), err_msg=k)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from([1, 2, 3, 7]), min_size=1, max_size=6), st.integers(0, 1000))
def test_insert_matches_reference_ring(sizes, seed):
    for state, rb in fill(sizes, seed):
        assert_same_storage(state, rb)
        for n in range(1, C + 1):
            assert bool(can_sample_j(state, n)) == rb.can_sample(n)


@pytest.mark.parametrize("sizes, n", [([2, 2, 3], 3), ([7], 5), ([1, 3], 2), ([4], 4)])
def test_sample_distinct_stored_episodes(sizes, n):
    *_, (state, rb) = fill(sizes)
    stored = set(rb.storage.episode["eid"][: rb.episodes_in_buffer].tolist())
    keys = jax.random.split(jax.random.key(0), 64)
    out = sample_many(state, keys, n)
    eids = np.asarray(out["eid"])  # [64, n]
    for row in eids:
        assert len(set(row.tolist())) == n
        assert set(row.tolist()) <= stored
    assert np.asarray(out.filled[..., 0]).all()  # no unfilled slot ever comes back
    # Each sampled episode equals the stored one it came from.
    slot = {int(e): i for i, e in enumerate(rb.storage.episode["eid"])}
    for k, v in rb.storage.transition.items():
        arr = np.asarray(out.filled[..., None] if k == "filled" else out.alive if k == "alive" else out[k])
        want = v[np.vectorize(slot.get)(eids)]
        np.testing.assert_array_equal(arr, want.astype(arr.dtype), err_msg=k)


def test_sample_underfilled_returns_stored_then_empty():
    *_, (state, rb) = fill([2])
    assert not bool(can_sample(state, 4))
    out = sample_j(state, jax.random.key(3), 4)
    assert set(np.asarray(out["eid"][:2]).tolist()) == {1, 2}
    assert not np.asarray(out.filled[2:]).any() and not np.asarray(out["obs"][2:]).any()
    assert float(masked_mean(out["reward"], valid_mask(out))) == pytest.approx(
        ref.masked_mean(rb.storage.transition["reward"][:2], ref.valid_mask(rb.storage.transition)[:2]),
        rel=1e-5, abs=1e-6)


def test_sample_is_uniform_without_replacement():
    cap, stored, n, draws = 6, 4, 2, 20000
    state = init_buffer(SCHEME, cap)
    eps, _ = make_episodes(np.random.default_rng(1), stored, 1)
    state = insert(state, eps)
    keys = jax.random.split(jax.random.key(42), draws)
    idx = np.asarray(jax.jit(jax.vmap(sample_indices, in_axes=(None, 0, None)), static_argnums=2)(state, keys, n))
    assert idx.max() < stored and (idx[:, 0] != idx[:, 1]).all()
    counts = np.bincount(idx.ravel(), minlength=stored)
    expected = draws * n / stored
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 25.0, (counts, chi2)  # 3 dof; P(chi2 > 25) ~ 1.6e-5
    pair = np.sort(idx, axis=1) @ np.array([stored, 1])
    _, pc = np.unique(pair, return_counts=True)
    pe = draws / len(pc)
    assert len(pc) == stored * (stored - 1) // 2
    assert ((pc - pe) ** 2 / pe).sum() < 30.0  # 5 dof; P(chi2 > 30) ~ 1.5e-5


def test_sample_gated_by_can_sample_under_cond():
    n = 3

    @jax.jit
    def mean_reward(state, key):
        def go():
            s = sample(state, key, n)
            return masked_mean(s["reward"], valid_mask(s))
        return jax.lax.cond(can_sample(state, n), go, lambda: jnp.float32(-1.0))

    states = list(fill([1, 1, 1]))
    assert float(mean_reward(states[1][0], jax.random.key(0))) == -1.0
    assert float(mean_reward(states[2][0], jax.random.key(0))) != -1.0


def test_replay_validation():
    state = init_buffer(SCHEME, C)
    other = Scheme.create({"obs": Field((2,), group="agents")}, {"agents": N}, T)
    with pytest.raises(ValueError, match="scheme"):
        insert(state, init_batch(other, 2))
    with pytest.raises(ValueError, match="capacity"):
        sample(state, jax.random.key(0), C + 1)
    with pytest.raises(ValueError, match="capacity"):
        init_buffer(SCHEME, 0)

"""EpisodeBatch writes and masked statistics vs. the trimmed NumPy reference of PyMARL."""

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
    concat,
    init_batch,
    masked_mean,
    masked_returns,
    masked_sum,
    max_t_filled,
    take,
    transition_mask,
    valid_mask,
    write,
    write_const,
)
from hopjax.buffers.masked import masked_count

B, T, N, K = 3, 5, 2, 3
T1 = T + 1
SETTINGS = settings(max_examples=40, deadline=None)

SCHEME = Scheme.create(
    {
        "state": Field((3,), jnp.float32),
        "obs": Field((2,), jnp.float32, group="agents"),
        "avail_actions": Field((K,), jnp.int32, group="agents"),
        "actions": Field((), jnp.int32, group="agents", one_hot=K),
        "reward": Field((), jnp.float32, group="agents"),
        "terminated": Field((), jnp.bool_),
        "goal": Field((), jnp.int32, group="agents", episode_const=True),
    },
    {"agents": N},
    T,
)


def _rollout(raw: dict, lengths: jax.Array, deaths: jax.Array) -> EpisodeBatch:
    """Jitted runner: pre-transition, actions (no filled mark), post-transition writes."""
    batch = write_const(init_batch(SCHEME, B), {"goal": raw["goal"]})

    def step(batch, t):
        active = t < lengths
        pre = {k: raw[k][:, t] for k in ref.PRE}
        batch = write(batch, pre, t, filled=active, alive=t < deaths)
        batch = write(batch, {"actions": raw["actions"][:, t]}, t, filled=active, mark_filled=False)
        post = {k: raw[k][:, t] for k in ref.POST}
        batch = write(batch, post, t, filled=t < lengths - 1)  # alive omitted: kept
        return batch, None

    batch, _ = jax.lax.scan(step, batch, jnp.arange(T1))
    return batch


rollout = jax.jit(_rollout)


@jax.jit
def stats(batch: EpisodeBatch) -> dict:
    vm = valid_mask(batch)
    lm = transition_mask(batch.filled, batch["terminated"])
    lm_alive = transition_mask(batch.filled, batch["terminated"], batch.alive)
    return {
        "max_t": max_t_filled(batch),
        "valid": vm,
        "learner_mask": lm,
        "obs_mean": masked_mean(batch["obs"], vm),
        "obs_sum": masked_sum(batch["obs"], vm),
        "obs_mean_per_agent": masked_mean(batch["obs"], vm, axis=(0, 1, 3)),
        "state_mean": masked_mean(batch["state"], batch.filled),
        "onehot_mean": masked_mean(batch["actions_onehot"], vm),
        "avail_sum": masked_sum(batch["avail_actions"], vm),
        "reward_td_mean": masked_mean(batch["reward"][:, :-1], lm_alive),
        "returns": masked_returns(batch["reward"], vm),
        "count": masked_count(batch["reward"], vm),
    }


def episodes(min_len: int = 1):
    return st.tuples(
        st.lists(st.integers(min_len, T1), min_size=B, max_size=B),  # filled steps per episode
        st.lists(st.lists(st.integers(1, T1), min_size=N, max_size=N), min_size=B, max_size=B),
        st.lists(st.booleans(), min_size=B, max_size=B),  # does a time-limit end terminate?
        st.integers(0, 2**31 - 1),
    )


def _make(case):
    lengths, deaths, timeout_term, seed = case
    raw = ref.random_raw(np.random.default_rng(seed), lengths, deaths, T1, N, K, timeout_term)
    refb = ref.ref_rollout(raw, lengths, T, N, K)
    jraw = {k: jnp.asarray(v) for k, v in raw.items() if k != "alive"}
    batch = rollout(jraw, jnp.asarray(lengths, jnp.int32), jnp.asarray(deaths, jnp.int32))
    return refb, batch


@SETTINGS
@given(episodes(min_len=1))
def test_contents_match_trimmed_reference(case):
    refb, batch = _make(case)
    trim = refb.trimmed()
    mt = refb.max_t_filled()
    assert int(max_t_filled(batch)) == mt
    got = {**batch.data, "filled": batch.filled[..., None], "alive": batch.alive}
    assert set(got) == set(trim)
    for k, want in trim.items():
        g = np.asarray(got[k])
        if k == "goal":
            np.testing.assert_array_equal(g, want, err_msg=k)
            continue
        np.testing.assert_array_equal(g[:, :mt], want.astype(g.dtype), err_msg=k)
        assert not np.any(g[:, mt:]), f"{k}: nonzero beyond max_t_filled"
        # Rows that are unfilled at a step hold zeros there (the write left them untouched).
        unfilled = ~np.asarray(batch.filled)
        assert not np.any(g[unfilled]), f"{k}: nonzero data at an unfilled step"


@SETTINGS
@given(episodes(min_len=2))  # PyMARL episodes always hold at least one transition
def test_masked_statistics_match_trimmed_reference(case):
    refb, batch = _make(case)
    trim = refb.trimmed()
    mt = refb.max_t_filled()
    s = jax.device_get(stats(batch))
    vm = ref.valid_mask(trim)
    np.testing.assert_array_equal(np.asarray(s["valid"])[:, :mt], vm.astype(bool))
    assert not np.asarray(s["valid"])[:, mt:].any()

    lm = ref.learner_mask(trim)  # [B, mt-1]
    full = np.zeros((B, T), bool)
    full[:, : mt - 1] = lm.astype(bool)
    np.testing.assert_array_equal(np.asarray(s["learner_mask"]), full)

    close = dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s["obs_mean"], ref.masked_mean(trim["obs"], vm), **close)
    np.testing.assert_allclose(s["obs_sum"], ref.masked_sum(trim["obs"], vm), **close)
    per_agent = [ref.masked_mean(trim["obs"][:, :, i], vm[:, :, i]) for i in range(N)]
    np.testing.assert_allclose(s["obs_mean_per_agent"], per_agent, **close)
    np.testing.assert_allclose(s["state_mean"], ref.masked_mean(trim["state"], trim["filled"][..., 0]), **close)
    np.testing.assert_allclose(s["onehot_mean"], ref.masked_mean(trim["actions_onehot"], vm), **close)
    np.testing.assert_allclose(s["avail_sum"], ref.masked_sum(trim["avail_actions"], vm), **close)
    td = lm[..., None] * trim["alive"][:, :-1]
    np.testing.assert_allclose(s["reward_td_mean"], ref.masked_mean(trim["reward"][:, :-1], td), **close)
    np.testing.assert_allclose(s["returns"], ref.per_agent_returns(trim), **close)
    assert float(s["count"]) == vm.sum()


def test_partial_writes_filled_and_alive_semantics():
    batch = init_batch(SCHEME, B)
    rows = jnp.array([True, False, True])
    alive = jnp.array([[True, False], [True, True], [False, True]])
    obs = jnp.ones((B, N, 2))
    batch = write(batch, {"obs": obs}, 2, filled=rows, alive=alive)
    np.testing.assert_array_equal(batch.filled[:, 2], rows)
    np.testing.assert_array_equal(batch.alive[:, 2], alive & rows[:, None])
    assert not np.any(batch["obs"][1])  # row not written stays zero

    # Post-transition-only write without masks: never clears filled, keeps alive of filled rows,
    # and marks the remaining row filled with all agents alive (PyMARL's default marking).
    post = {"reward": jnp.full((B, N), 2.0), "terminated": jnp.ones((B,), bool)}
    b2 = write(batch, post, 2)
    np.testing.assert_array_equal(b2.filled[:, 2], [True, True, True])
    np.testing.assert_array_equal(b2.alive[:, 2], [[True, False], [True, True], [False, True]])
    # mark_filled=False: data written, masks untouched.
    b3 = write(batch, post, 2, mark_filled=False)
    np.testing.assert_array_equal(b3.filled, batch.filled)
    np.testing.assert_array_equal(b3.alive, batch.alive)
    np.testing.assert_array_equal(b3["reward"][:, 2], np.full((B, N), 2.0))
    # filled=False rows are untouched even when given alive; a traced t works the same way.
    b4 = jax.jit(lambda b, t: write(b, post, t, filled=jnp.zeros(B, bool), alive=jnp.ones((B, N), bool)))(batch, 2)
    for a, b in zip(jax.tree_util.tree_leaves(b4), jax.tree_util.tree_leaves(batch)):
        np.testing.assert_array_equal(a, b)


def test_transition_mask_needs_a_successor_step():
    # Episode 0 is cut off (not terminated) before T; episode 1 has no transition at all.
    filled = jnp.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], bool)
    term = jnp.zeros((2, 5), bool)
    np.testing.assert_array_equal(
        transition_mask(filled, term), [[1, 1, 0, 0], [0, 0, 0, 0]]
    )
    term = term.at[0, 0].set(True)
    np.testing.assert_array_equal(transition_mask(filled, term), [[1, 0, 0, 0], [0, 0, 0, 0]])


def test_masked_mean_empty_and_nan_padding():
    x = jnp.array([[1.0, jnp.nan], [3.0, jnp.inf]])
    m = jnp.array([[True, False], [True, False]])
    assert float(masked_mean(x, m)) == 2.0
    np.testing.assert_array_equal(masked_mean(x, m, axis=0), [2.0, 0.0])  # empty column -> 0
    assert float(masked_mean(x, jnp.zeros_like(m))) == 0.0
    g = jax.grad(lambda x: masked_mean(x, m))(x)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, [[0.5, 0.0], [0.5, 0.0]])
    # integer input gives a float mean
    assert masked_mean(jnp.array([1, 2]), jnp.array([True, True])).dtype == jnp.float32
    # shared reward [B, T] broadcasts over agents
    r = masked_returns(jnp.ones((2, 3)), jnp.ones((2, 3, 4), bool))
    np.testing.assert_array_equal(r, np.full((2, 4), 3.0))


def test_take_and_concat():
    batch = init_batch(SCHEME, B)
    batch = write(batch, {"obs": jnp.arange(B * N * 2, dtype=jnp.float32).reshape(B, N, 2)}, 0,
                  filled=jnp.array([True, False, True]))
    sub = take(batch, jnp.array([2, 0]))
    assert sub.batch_size == 2 and sub.scheme == SCHEME
    np.testing.assert_array_equal(sub["obs"], batch["obs"][jnp.array([2, 0])])
    np.testing.assert_array_equal(sub.filled, batch.filled[jnp.array([2, 0])])
    both = concat([batch, sub])
    assert both.batch_size == B + 2
    np.testing.assert_array_equal(both.alive[B:], sub.alive)


# ------------------------------------------------------------------------- validation

def _bad(fn, *args):
    """Run under jit so errors must come from static (trace-time) information."""
    return jax.jit(fn)(*args)


@pytest.mark.parametrize(
    "step, field",
    [
        ({"obz": jnp.zeros((B, N, 2))}, "obz"),                              # unknown field
        ({"obs": jnp.zeros((B, 2))}, "obs"),                                 # missing group axis
        ({"obs": jnp.zeros((B, N, 3))}, "obs"),                              # wrong trailing shape
        ({"state": jnp.zeros((B + 1, 3))}, "state"),                         # wrong batch size
        ({"actions": jnp.zeros((B, N), jnp.float32)}, "actions"),            # float into int
        ({"reward": jnp.zeros((B, N), jnp.int32)}, "reward"),                # int into float
        ({"terminated": jnp.zeros((B,), jnp.int32)}, "terminated"),          # int into bool
        ({"actions_onehot": jnp.zeros((B, N, K))}, "actions_onehot"),        # derived field
        ({"goal": jnp.zeros((B, N), jnp.int32)}, "goal"),                    # const via write
    ],
)
def test_write_validation_names_field(step, field):
    batch = init_batch(SCHEME, B)
    with pytest.raises(ValueError, match=field):
        _bad(lambda b, t: write(b, step, t), batch, jnp.int32(0))


def test_write_validation_masks_and_t():
    batch = init_batch(SCHEME, B)
    ok = {"state": jnp.zeros((B, 3))}
    with pytest.raises(ValueError, match="filled"):
        write(batch, ok, 0, filled=jnp.ones((B, 1), bool))
    with pytest.raises(ValueError, match="alive"):
        write(batch, ok, 0, alive=jnp.ones((B, N + 1), bool))
    with pytest.raises(ValueError, match="out of range"):
        write(batch, ok, T1)
    with pytest.raises(ValueError, match="goal"):
        write_const(batch, {"goal": jnp.zeros((B, N), jnp.float32)})
    # Same kind, other width: cast silently.
    b = write(batch, {"state": np.zeros((B, 3), np.float64)}, 0)
    assert b["state"].dtype == jnp.float32


@pytest.mark.parametrize(
    "fields, groups, match",
    [
        ({"obs": Field((2,), group="players")}, {"agents": 2}, "obs"),          # undefined group
        ({"obs": Field((2,))}, {"players": 2}, "agents"),                       # no agents group
        ({"act": Field((), jnp.float32, one_hot=3)}, {"agents": 2}, "act"),     # one_hot on float
        ({"filled": Field(())}, {"agents": 2}, "filled"),                       # reserved name
        ({"a": Field((), jnp.int32, one_hot=2), "a_onehot": Field((2,))}, {"agents": 2}, "a_onehot"),
    ],
)
def test_scheme_validation(fields, groups, match):
    with pytest.raises(ValueError, match=match):
        Scheme.create(fields, groups, 4)


def test_scheme_is_hashable_and_static():
    again = Scheme.create(dict(SCHEME.fields[:-1]), {"agents": N}, T)  # without the derived field
    assert again == SCHEME and hash(again) == hash(SCHEME)
    assert SCHEME.n_agents == N and SCHEME.field("actions_onehot").shape == (K,)
    # usable as a static jit argument
    f = jax.jit(lambda s: init_batch(s, 2).filled, static_argnums=0)
    assert f(SCHEME).shape == (2, T1)

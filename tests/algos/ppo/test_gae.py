"""Masked GAE against a plain NumPy loop over episodes with random per-agent deaths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax.algos.ppo.gae import gae


def gae_reference(reward, value, terminated, episode_end, bootstrap, valid, gamma, lam):
    """Per env and agent, walk backwards step by step (no vectorisation, explicit cases)."""
    T, B, N = reward.shape
    adv = np.zeros((T, B, N))
    for b in range(B):
        for i in range(N):
            running = 0.0
            for t in reversed(range(T)):
                if not valid[t, b, i]:
                    running = 0.0
                    continue
                if terminated[t, b, i]:
                    delta = reward[t, b, i] - value[t, b, i]
                    running = delta
                elif episode_end[t, b]:
                    # truncation: bootstrap from the final observation, cut the trace
                    delta = reward[t, b, i] + gamma * bootstrap[t, b, i] - value[t, b, i]
                    running = delta
                else:
                    delta = reward[t, b, i] + gamma * value[t + 1, b, i] - value[t, b, i]
                    running = delta + gamma * lam * running
                adv[t, b, i] = running
    returns = (adv + value[:-1]) * valid
    return adv, returns


def random_episodes(rng, T=12, B=5, N=3):
    """Segments with auto-reset: random episode ends, random deaths inside each episode."""
    reward = rng.normal(size=(T, B, N)).astype(np.float32)
    value = rng.normal(size=(T + 1, B, N)).astype(np.float32)
    bootstrap = rng.normal(size=(T, B, N)).astype(np.float32)
    episode_end = rng.random((T, B)) < 0.15
    terminated = np.zeros((T, B, N), bool)
    valid = np.zeros((T, B, N), bool)
    for b in range(B):
        for i in range(N):
            alive = True
            for t in range(T):
                valid[t, b, i] = alive
                if alive and rng.random() < 0.1:
                    terminated[t, b, i] = True
                    alive = False
                if episode_end[t, b]:
                    alive = True  # next episode: everyone back
    # padding at the end of some envs (episode mode): nothing valid after the end
    pad_from = rng.integers(T // 2, T + 1, size=B)
    for b in range(B):
        valid[pad_from[b]:, b] = False
        if pad_from[b] < T:
            episode_end[pad_from[b] - 1, b] = True
    return reward, value, terminated, episode_end, bootstrap, valid


@pytest.fixture(scope="module")
def gae_jit():
    return jax.jit(gae, static_argnames=("gamma", "lam"))


@pytest.mark.parametrize("seed", range(20))
def test_gae_matches_numpy_loop(gae_jit, seed):
    rng = np.random.default_rng(seed)
    r, v, term, end, boot, valid = random_episodes(rng)
    adv, ret = gae_jit(r, v, term, end[..., None], boot, valid, gamma=0.97, lam=0.9)
    adv_ref, ret_ref = gae_reference(r, v, term, end, boot, valid, 0.97, 0.9)
    np.testing.assert_allclose(np.asarray(adv), adv_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ret), ret_ref, rtol=1e-5, atol=1e-5)


def test_padding_values_do_not_leak(gae_jit):
    rng = np.random.default_rng(123)
    r, v, term, end, boot, valid = random_episodes(rng)
    adv, _ = gae_jit(r, v, term, end[..., None], boot, valid, gamma=0.99, lam=0.95)
    # scribble over every invalid reward (values at invalid steps are never read either,
    # except value[t+1] right after a valid step, which the episode_end/terminated flags cut)
    r2 = np.where(valid, r, 1e6).astype(np.float32)
    adv2, _ = gae_jit(r2, v, term, end[..., None], boot, valid, gamma=0.99, lam=0.95)
    np.testing.assert_array_equal(np.asarray(adv), np.asarray(adv2))
    assert np.all(np.asarray(adv)[~valid] == 0)


def test_truncation_bootstraps_termination_does_not(gae_jit):
    # one env, one agent, two steps; step 1 ends the episode
    r = np.zeros((2, 1, 1), np.float32)
    v = np.zeros((3, 1, 1), np.float32)
    boot = np.full((2, 1, 1), 5.0, np.float32)
    valid = np.ones((2, 1, 1), bool)
    end = np.array([[False], [True]])[..., None]
    trunc, _ = gae_jit(r, v, np.zeros((2, 1, 1), bool), end, boot, valid, gamma=0.5, lam=1.0)
    term_flags = np.array([[[False]], [[True]]])
    term, _ = gae_jit(r, v, term_flags, end, boot, valid, gamma=0.5, lam=1.0)
    np.testing.assert_allclose(np.asarray(trunc)[:, 0, 0], [1.25, 2.5])
    np.testing.assert_allclose(np.asarray(term)[:, 0, 0], [0.0, 0.0])


def unread_entries(term, end, valid):
    """Which reward / value [T+1] / bootstrap entries GAE must never read: rewards and values of
    invalid steps (a value is read at t+1 only after a valid step that neither terminated nor
    ended the episode) and bootstrap values away from valid episode ends."""
    T = valid.shape[0]
    read_next = valid & ~term & ~end[..., None].repeat(valid.shape[-1], -1)
    value_read = np.concatenate([valid, np.zeros_like(valid[:1])], 0)
    value_read[1:] |= read_next
    return ~valid, ~value_read, ~(valid & end[..., None])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("field", ["reward", "value", "bootstrap", "all"])
def test_bad_values_in_unread_entries_change_neither_results_nor_gradients(field, bad):
    rng = np.random.default_rng(7)
    r, v, term, end, boot, valid = random_episodes(rng)
    unread = dict(zip(("reward", "value", "bootstrap"), unread_entries(term, end, valid)))
    clean = {"reward": r, "value": v, "bootstrap": boot}
    clean = {k: np.where(unread[k], 0.0, x).astype(np.float32) for k, x in clean.items()}
    dirty = {k: np.where(unread[k] & (field in (k, "all")), bad, x).astype(np.float32)
             for k, x in clean.items()}
    w1, w2 = (rng.normal(size=r.shape).astype(np.float32) for _ in range(2))

    @jax.jit
    def run(x):
        def f(x):
            adv, ret = gae(x["reward"], x["value"], term, end[..., None], x["bootstrap"], valid, 0.97, 0.9)
            return jnp.sum(adv * w1 + ret * w2), (adv, ret)
        return jax.value_and_grad(f, has_aux=True)(x)

    (_, (adv, ret)), g = run(dirty)
    (_, (adv_c, ret_c)), g_c = run(clean)
    np.testing.assert_array_equal(adv, adv_c)
    np.testing.assert_array_equal(ret, ret_c)
    for k in g:
        np.testing.assert_array_equal(g[k], g_c[k], err_msg=k)
        assert np.all(np.asarray(g[k])[unread[k]] == 0), k
    adv_ref, ret_ref = gae_reference(clean["reward"], clean["value"], term, end, clean["bootstrap"],
                                     valid, 0.97, 0.9)
    np.testing.assert_allclose(np.asarray(adv), adv_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ret), ret_ref, rtol=1e-5, atol=1e-5)

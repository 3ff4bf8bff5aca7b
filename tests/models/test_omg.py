"""OMG pieces against hand-built cases and NumPy references: subgoal selection never picks a
padded or dead step, the masked ELBO / cross-entropies ignore padding, hindsight goal labels,
and the rollout hook replays exactly as the training-time unroll."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax.models import omg

H = 3


def select_ref(values, valid, horizon, mode):
    """NumPy loop: values [T, H], valid [T+1] (co-player valid at each step) -> chosen step or -1."""
    t1 = valid.shape[0]
    out = []
    for t in range(t1 - 1):
        best, best_v = -1, None
        for k in range(1, horizon + 1):
            s = t + k
            if s >= t1 or not valid[s]:
                continue
            v = values[t, k - 1]
            better = best_v is None or (v > best_v if mode == "optimistic" else v < best_v)
            if better:
                best, best_v = s, v
        out.append(best)
    return np.array(out)


def run_select(values, valid, mode):
    cand = omg.future_candidates(jnp.asarray(valid), H)
    offset, found = omg.select_subgoal(jnp.asarray(values), cand, mode)
    step = np.arange(len(values)) + np.asarray(offset)
    return np.where(np.asarray(found), step, -1)


def test_selection_on_a_hand_built_episode():
    # T = 6 steps (+ final index 6). The co-player dies after step 3 (alive False from 4), so
    # steps 4..6 are invalid; step 6 is also padding. Invalid steps carry extreme values.
    valid = np.array([1, 1, 1, 1, 0, 0, 0], bool)
    values = np.array(
        # candidate k = 1, 2, 3 is step t + k
        [[1.0, 5.0, 2.0],    # t=0: steps 1,2,3 -> max at 2, min at 1
         [3.0, 0.5, 99.0],   # t=1: steps 2,3,(4 dead) -> max 2, min 3
         [-7.0, 99.0, 99.0],  # t=2: steps 3,(4),(5) -> only 3
         [99.0, 99.0, 99.0],  # t=3: 4,5,6 all invalid -> none
         [99.0, -99.0, 0.0],
         [0.0, 0.0, 0.0]],
        np.float32,
    )
    np.testing.assert_array_equal(run_select(values, valid, "optimistic"), [2, 2, 3, -1, -1, -1])
    np.testing.assert_array_equal(run_select(values, valid, "conservative"), [1, 3, 3, -1, -1, -1])
    # extremes sitting on invalid steps (dead / padded) are never chosen
    values2 = values.copy()
    values2[1, 2] = -99.0
    np.testing.assert_array_equal(run_select(values2, valid, "conservative"), [1, 3, 3, -1, -1, -1])
    with pytest.raises(ValueError, match="mode"):
        omg.select_subgoal(jnp.asarray(values), omg.future_candidates(jnp.asarray(valid), H), "greedy")


@pytest.mark.parametrize("mode", omg.MODES)
def test_selection_matches_numpy_on_random_episodes(mode):
    rng = np.random.default_rng(0)
    t1, b = 9, 16
    values = rng.normal(size=(t1 - 1, H, b)).astype(np.float32)
    # episodes of random length (filled) with a random death time (alive)
    length = rng.integers(1, t1 + 1, b)
    death = rng.integers(0, t1 + 1, b)
    t = np.arange(t1)[:, None]
    valid = (t < length) & (t < death)
    cand = omg.future_candidates(jnp.asarray(valid), H)
    offset, found = omg.select_subgoal(jnp.asarray(values), cand, mode)
    got = np.where(np.asarray(found), np.arange(t1 - 1)[:, None] + np.asarray(offset), -1)
    for e in range(b):
        ref = select_ref(values[:, :, e], valid[:, e], H, mode)
        np.testing.assert_array_equal(got[:, e], ref, err_msg=f"episode {e}")
        chosen = got[:, e][got[:, e] >= 0]
        assert valid[chosen, e].all()  # never a padded or dead step
    # gather_future picks x[t + offset]
    x = rng.normal(size=(t1, b, 2)).astype(np.float32)
    g = np.asarray(omg.gather_future(jnp.asarray(x), offset))
    idx = np.minimum(np.arange(t1 - 1)[:, None] + np.asarray(offset), t1 - 1)
    np.testing.assert_array_equal(g, x[idx, np.arange(b)[None]])


def test_masked_elbo_equals_numpy_and_ignores_padding():
    rng = np.random.default_rng(1)
    shape, d, s = (5, 4, 3), 6, 10
    mask = rng.random(shape) < 0.6
    arrs = {k: rng.normal(size=(*shape, d)).astype(np.float32) for k in ("mu", "lv", "mp", "lp")}
    recon = rng.normal(size=(*shape, s)).astype(np.float32)
    target = rng.normal(size=(*shape, s)).astype(np.float32)
    beta = 0.3

    def loss(a, r, tg):
        return [float(x) for x in omg.elbo_terms(a["mu"], a["lv"], r, tg, a["mp"], a["lp"], mask, beta)]

    # NumPy reference: loop over valid entries only
    nll, kl = [], []
    for i in zip(*np.nonzero(mask)):
        nll.append(np.mean((target[i] - recon[i]) ** 2))
        mu, lv, mp, lp = (arrs[k][i].astype(np.float64) for k in ("mu", "lv", "mp", "lp"))
        kl.append(0.5 * np.sum(lp - lv + (np.exp(lv) + (mu - mp) ** 2) / np.exp(lp) - 1))
    ref = [np.mean(nll) + beta * np.mean(kl), np.mean(nll), np.mean(kl)]
    np.testing.assert_allclose(loss(arrs, recon, target), ref, rtol=1e-5)
    # garbage (NaN/inf) in padded entries changes nothing
    pad = ~mask
    dirty = {k: np.where(pad[..., None], np.nan, v) for k, v in arrs.items()}
    r2 = np.where(pad[..., None], np.inf, recon)
    np.testing.assert_allclose(loss(dirty, r2, target), ref, rtol=1e-5)


def test_masked_cross_entropy_and_majority_baseline():
    rng = np.random.default_rng(2)
    k = 5
    logits = rng.normal(size=(7, 3, k)).astype(np.float32)
    labels = rng.integers(0, k, (7, 3))
    mask = rng.random((7, 3)) < 0.7
    labels_dirty = np.where(mask, labels, -5)  # padded labels out of range
    loss, acc = omg.masked_xent(jnp.asarray(logits), jnp.asarray(labels_dirty), jnp.asarray(mask))
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = [-lp[i, j, labels[i, j]] for i, j in zip(*np.nonzero(mask))]
    hit = [np.argmax(logits[i, j]) == labels[i, j] for i, j in zip(*np.nonzero(mask))]
    np.testing.assert_allclose(float(loss), np.mean(nll), rtol=1e-5)
    np.testing.assert_allclose(float(acc), np.mean(hit), rtol=1e-6)
    counts = np.bincount(labels[mask], minlength=k)
    base = omg.majority_baseline(jnp.asarray(labels_dirty), jnp.asarray(mask), k)
    np.testing.assert_allclose(float(base), counts.max() / counts.sum(), rtol=1e-6)


def test_next_goal_labels():
    goal = np.array([[-1, 2], [-1, -1], [1, -1], [-1, 0], [-1, -1]])  # [T, agents]
    got = np.asarray(omg.next_goal_labels(jnp.asarray(goal), 3))
    np.testing.assert_array_equal(got, [[1, 2], [1, 0], [1, 0], [3, 0], [3, 3]])


def test_coplayer_slots():
    np.testing.assert_array_equal(omg.coplayers(3), [[1, 2], [2, 0], [0, 1]])
    x = jnp.arange(3)[None] * 10  # [1, N]
    np.testing.assert_array_equal(omg.pair_take(x, 3, 1)[0], [[10, 20], [20, 0], [0, 10]])


def test_rollout_hook_replays_as_the_training_unroll():
    """Stepping the inference GRU online (as the rollout hook does) == the training-time scan."""
    spec = omg.OMGSpec(num_agents=3, obs_dim=5, num_actions=4, num_goals=2, hidden=16, gru=8, subgoal_dim=4)
    params = jax.jit(omg.init_omg, static_argnums=0)(spec, jax.random.PRNGKey(0))
    rng = np.random.default_rng(3)
    t, b, n = 6, 2, 3
    obs = jnp.asarray(rng.normal(size=(t, b, n, 5)), jnp.float32)
    actions = jnp.asarray(rng.integers(0, 4, (t, b, n)), jnp.int32)
    _, mu, _ = jax.jit(omg.unroll_inference, static_argnums=0)(spec, params, obs, actions)
    net = omg.OMGNet(spec)
    slot = jnp.broadcast_to(jnp.arange(n - 1), (b, n, n - 1))

    @jax.jit
    def step(h, o, prev, first):
        o = jnp.broadcast_to(o[:, :, None], (b, n, n - 1, 5))
        return net.apply(params, h, o, omg.pair_take(prev, n, 1), slot, jnp.broadcast_to(first, slot.shape),
                         method=omg.OMGNet.infer)

    h = jnp.zeros((b, n, n - 1, 8))
    prev = jnp.full((b, n), -1)
    for s in range(t):
        h, m, _ = step(h, obs[s], prev, jnp.asarray(s == 0))
        np.testing.assert_allclose(m, mu[s], rtol=1e-5, atol=1e-6)
        prev = actions[s]


def test_elbo_and_cross_entropy_gradients_ignore_bad_padding():
    rng = np.random.default_rng(4)
    shape, d, s, k = (5, 4, 3), 6, 10, 5
    mask = rng.random(shape) < 0.6
    names = ("mu", "lv", "recon", "target", "mp", "lp", "logits")
    sizes = dict(mu=d, lv=d, recon=s, target=s, mp=d, lp=d, logits=k)
    clean = {n: np.where(mask[..., None], rng.normal(size=(*shape, sizes[n])), 0.0).astype(np.float32)
             for n in names}
    labels = np.where(mask, rng.integers(0, k, shape), 0)

    @jax.jit
    def run(x):
        def f(x):
            elbo, nll, kl = omg.elbo_terms(x["mu"], x["lv"], x["recon"], x["target"], x["mp"], x["lp"],
                                           mask, 0.3)
            xent, acc = omg.masked_xent(x["logits"], jnp.asarray(labels), mask)
            return elbo + xent, (nll, kl, xent, acc)
        return jax.value_and_grad(f, has_aux=True)(x)

    (v, aux), g = run(clean)
    assert all(np.isfinite(a).all() for a in g.values())
    for field in (*names, "all"):
        for bad in (np.nan, np.inf, -np.inf):
            dirty = {n: np.where(mask[..., None] | (field not in (n, "all")), x, bad).astype(np.float32)
                     for n, x in clean.items()}
            (v2, aux2), g2 = run(dirty)
            np.testing.assert_array_equal(v2, v, err_msg=f"{field}={bad}")
            np.testing.assert_array_equal(np.asarray(aux2), np.asarray(aux), err_msg=f"{field}={bad}")
            for n in names:
                np.testing.assert_array_equal(g2[n], g[n], err_msg=f"{field}={bad}: d/d{n}")
                assert np.all(np.asarray(g2[n])[~mask] == 0)
    # NumPy reference of the cross-entropy gradient: softmax - onehot, over the valid count
    lg = clean["logits"].astype(np.float64)
    p = np.exp(lg - lg.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ref = (p - np.eye(k)[labels]) * mask[..., None] / mask.sum()
    g_xent = jax.grad(lambda l: omg.masked_xent(l, jnp.asarray(labels), mask)[0])(dirty["logits"])
    np.testing.assert_allclose(g_xent, ref, rtol=1e-4, atol=1e-7)


def test_focal_observation_embedded_once_equals_per_slot():
    """A focal observation [..., 1, S] (embedded once, broadcast over the co-player slots after
    the first layer) gives the same inference, OMG_AM and goal-head outputs as the observation
    copied into every slot [..., N-1, S]."""
    spec = omg.OMGSpec(num_agents=4, obs_dim=5, num_actions=4, num_goals=3, hidden=16, gru=8, subgoal_dim=4)
    params = jax.jit(omg.init_omg, static_argnums=0)(spec, jax.random.PRNGKey(1))
    rng = np.random.default_rng(0)
    b, l, r = 3, 2, 3
    o1 = jnp.asarray(rng.normal(size=(b, l, 1, 5)), jnp.float32)
    o3 = jnp.broadcast_to(o1, (b, l, r, 5))
    h = jnp.asarray(rng.normal(size=(b, l, r, 8)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(b, l, r, 4)), jnp.float32)
    prev = jnp.asarray(rng.integers(-1, 4, (b, l, r)), jnp.int32)
    slot = jnp.broadcast_to(jnp.arange(r), (b, l, r))
    reset = jnp.asarray(rng.random((b, l, r)) < 0.3)
    net = omg.OMGNet(spec)
    calls = ((omg.OMGNet.infer, lambda o: (h, o, prev, slot, reset)), (omg.OMGNet.agent_model, lambda o: (o, g)),
             (omg.OMGNet.probe, lambda o: (o, g)))
    for method, args in calls:
        once, per_slot = (net.apply(params, *args(o), method=method) for o in (o1, o3))
        jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6), once, per_slot)
        assert jax.tree.map(jnp.shape, once) == jax.tree.map(jnp.shape, per_slot)

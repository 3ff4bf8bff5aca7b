"""HOP beliefs: intra-OM / inter-OM updates and hindsight labels against NumPy references."""

import numpy as np
import jax
import jax.numpy as jnp
import pytest

from hopjax.algos.hop import beliefs as bl
from hopjax.models.goal_policy import none_log_probs

intra = jax.jit(bl.intra_update, static_argnums=5)


def bayes_reference(b, lik, present, acted, prior, temperature):
    """One Bayes step on probabilities (float64 loops): b(g) ∝ b(g) lik(g)^(1/T) on present
    goals; if nothing survives, the prior restricted to present goals (or uniform over them);
    rows that did not act are only restricted to present goals."""
    out = np.zeros_like(b)
    for j in range(b.shape[0]):
        def restricted(w):
            w = np.where(present[j], w, 0.0)
            return w / w.sum() if w.sum() > 0 else None

        fallback = restricted(prior[j])
        if fallback is None:
            fallback = restricted(np.ones_like(prior[j]))
        if acted[j]:
            post = restricted(b[j] * lik[j] ** (1.0 / temperature))
        else:
            post = restricted(b[j])
        out[j] = post if post is not None else fallback
    return out


@pytest.mark.parametrize("temperature", [1.0, 0.5, 3.0])
def test_intra_update_equals_numpy_bayes(temperature):
    rng = np.random.default_rng(0)
    m, g1, steps = 5, 6, 12
    prior = rng.dirichlet(np.ones(g1), size=m)
    present = np.ones((m, g1), bool)
    b_np = prior.copy()
    log_b = bl.initial_beliefs(jnp.asarray(prior), jnp.asarray(present))
    for t in range(steps):
        lik = rng.uniform(0.0, 1.0, (m, g1)) * (rng.uniform(size=(m, g1)) > 0.2)
        if t == 5:
            lik[0] = 0.0  # nothing explains row 0's action: reset to the prior
        if t in (3, 8):  # a goal disappears (captured by someone)
            present[:, t % (g1 - 1)] = False
        acted = rng.uniform(size=m) > 0.2
        b_np = bayes_reference(b_np, lik, present, acted, prior, temperature)
        with np.errstate(divide="ignore"):
            log_lik = np.log(lik)
        log_b = intra(log_b, jnp.asarray(log_lik, jnp.float32), jnp.asarray(present),
                                jnp.asarray(acted), jnp.asarray(prior, jnp.float32), temperature)
        np.testing.assert_allclose(np.exp(np.asarray(log_b)), b_np, rtol=2e-5, atol=1e-6, err_msg=f"t={t}")
        assert np.all(np.exp(np.asarray(log_b))[~present] == 0.0)


def test_intra_update_is_stable_for_long_products():
    """200 steps of likelihoods around 1e-30: probabilities would underflow, log space does not."""
    rng = np.random.default_rng(1)
    g1 = 4
    log_lik = np.log(1e-30) + rng.normal(0, 1.0, (200, 2, g1))
    log_b = bl.initial_beliefs(jnp.full((2, g1), 1 / g1), jnp.ones((2, g1), bool))
    for t in range(200):
        log_b = intra(log_b, jnp.asarray(log_lik[t], jnp.float32), jnp.ones((2, g1), bool),
                      jnp.ones((2,), bool), jnp.full((2, g1), 1 / g1), 1.0)
    # reference: the normalised sum of log-likelihoods (float64)
    s = log_lik.sum(0)
    ref = np.exp(s - s.max(-1, keepdims=True))
    ref /= ref.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.exp(np.asarray(log_b)), ref, rtol=1e-3, atol=1e-6)
    assert np.all(np.isfinite(np.asarray(log_b)))


def test_inter_update_equals_numpy_decayed_counts():
    rng = np.random.default_rng(2)
    t, n, g = 9, 3, 4
    labels = rng.integers(-1, g, (t, n))
    valid = rng.uniform(size=(t, n)) > 0.3
    valid[:, 2] = False  # a co-player with no valid step keeps its prior
    prior = rng.dirichlet(np.ones(g + 1), size=n)
    out = np.asarray(bl.inter_update(jnp.asarray(prior, jnp.float32), jnp.asarray(labels),
                                     jnp.asarray(valid), 0.9, axis=0))
    for j in range(n):
        counts = np.zeros(g + 1)
        for s in range(t):
            if valid[s, j]:
                counts[labels[s, j] if labels[s, j] >= 0 else g] += 1
        want = prior[j] if counts.sum() == 0 else 0.9 * prior[j] + counts / counts.sum()
        np.testing.assert_allclose(out[j], want, rtol=1e-6)
        assert abs(out[j].sum() - (1 if counts.sum() == 0 else 1.9)) < 1e-5


def test_inter_update_pools_kinds_like_numpy():
    """Kinds (1 stag, 3 hares): each goal's frequency becomes its kind's mean; none stays."""
    rng = np.random.default_rng(4)
    t, n, kinds = 12, 3, (0, 1, 1, 1)
    g = len(kinds)
    labels = rng.integers(-1, g, (t, n))
    valid = rng.uniform(size=(t, n)) > 0.2
    prior = rng.dirichlet(np.ones(g + 1), size=n)
    out = np.asarray(bl.inter_update(jnp.asarray(prior, jnp.float32), jnp.asarray(labels),
                                     jnp.asarray(valid), 0.8, axis=0, kinds=kinds))
    for j in range(n):
        freq = np.bincount(np.where(labels[valid[:, j], j] >= 0, labels[valid[:, j], j], g),
                           minlength=g + 1) / valid[:, j].sum()
        pooled = np.array([freq[0], *[freq[1:g].mean()] * 3, freq[g]])
        np.testing.assert_allclose(out[j], 0.8 * prior[j] + pooled, rtol=1e-5)
        assert abs(out[j].sum() - 1.8) < 1e-5


def test_inter_update_pooled_over_every_target_keeps_only_p_any_target():
    """One kind for every target (``inter_om_pooling: any``, the HOP code's form): each target
    gets the mean target frequency, "none" its own; P(any target) is the unpooled one."""
    rng = np.random.default_rng(6)
    t, n, g = 15, 3, 5
    labels = rng.integers(-1, g, (t, n))
    valid = rng.uniform(size=(t, n)) > 0.2
    prior = rng.dirichlet(np.ones(g + 1), size=n)
    out = np.asarray(bl.inter_update(jnp.asarray(prior, jnp.float32), jnp.asarray(labels),
                                     jnp.asarray(valid), 0.9, axis=0, kinds=(0,) * g))
    for j in range(n):
        lab = labels[valid[:, j], j]
        p_none = np.mean(lab < 0)
        want = 0.9 * prior[j] + np.array([(1 - p_none) / g] * g + [p_none])
        np.testing.assert_allclose(out[j], want, rtol=1e-5)


def slots_reference(agent, goals, present, kinds):
    """Reference for bl.distance_slots: sort each kind's present targets by (Manhattan
    distance, index); the r-th gets its kind's first slot + r."""
    first = {k: sum(1 for j in kinds if j < k) for k in kinds}
    out = np.full((len(agent), len(goals)), -1)
    for i, a in enumerate(agent):
        for k in set(kinds):
            idx = [g for g in range(len(goals)) if kinds[g] == k and present[g]]
            idx.sort(key=lambda g: (abs(a - goals[g]).sum(), g))
            for r, g in enumerate(idx):
                out[i, g] = first[k] + r
    return out


@pytest.mark.parametrize("kinds", [(0, 1, 1, 1, 1), (0,) * 6, (0, 0, 1, 1, 1), (1, 0, 1, 0, 2)])
def test_distance_slots_equal_numpy_sort(kinds):
    """Present targets: slot = kind's first slot + distance rank within the kind (ties by
    index); the present targets of an agent fill distinct slots."""
    rng = np.random.default_rng(7)
    e, n, g = 16, 4, len(kinds)
    agent = rng.integers(0, 5, (e, n, 2))
    goals = rng.integers(0, 5, (e, g, 2))  # ties and shared cells happen on a 5x5 grid
    present = rng.uniform(size=(e, g)) > 0.3
    out = np.asarray(bl.distance_slots(jnp.asarray(agent), jnp.asarray(goals), jnp.asarray(present), kinds))
    assert out.shape == (e, n, g) and out.dtype == np.int32
    for i in range(e):
        want = slots_reference(agent[i], goals[i], present[i], kinds)
        np.testing.assert_array_equal(np.where(want >= 0, out[i], -1), want)
        for j in range(n):
            assert len(set(out[i, j][present[i]])) == present[i].sum()


def test_slot_labels_take_the_slot_where_the_target_was_chosen():
    """With validity and a time axis, every step of a label's run gets the slot its target had
    at the run's first step (NumPy loop); -1 stays -1; without them, each step's own slot."""
    rng = np.random.default_rng(8)
    e, t, n, g = 6, 12, 3, 5
    labels = rng.integers(-1, g, (e, 1, n)).repeat(t, 1)
    labels[:, 5:] = rng.integers(-1, g, (e, 1, n))  # a second run from step 5
    valid = np.ones((e, t, n), bool)
    valid[0, 8:, 1] = False  # a co-player that left
    labels = np.where(valid, labels, -1)
    slots = rng.integers(0, g, (e, t, n, g))
    out = np.asarray(bl.slot_labels(jnp.asarray(labels), jnp.asarray(slots), jnp.asarray(valid), axis=1))
    per_step = np.asarray(bl.slot_labels(jnp.asarray(labels), jnp.asarray(slots)))
    want = np.full((e, t, n), -1)
    for i in range(e):
        for j in range(n):
            kept = -1
            for k in range(t):
                if valid[i, k, j] and (k == 0 or not valid[i, k - 1, j] or labels[i, k - 1, j] != labels[i, k, j]):
                    kept = slots[i, k, j, max(labels[i, k, j], 0)]
                if valid[i, k, j] and labels[i, k, j] >= 0:
                    want[i, k, j] = kept
                if labels[i, k, j] >= 0:
                    assert per_step[i, k, j] == slots[i, k, j, labels[i, k, j]]
    np.testing.assert_array_equal(out, want)
    assert (out != per_step).any()  # the slots did change within runs


def test_rank_pooling_carries_the_nearest_target_across_layouts():
    """``inter_om_pooling: rank``: a co-player that always goes for its nearest hare, seen in
    one layout, makes the nearest hare of a new layout the likeliest target; the stag (the
    nearest of its kind too) shares that group's frequency, the farther hares share theirs;
    a uniform start gives a uniform prior over the present targets whatever the layout."""
    kinds = (0, 1, 1, 1, 1)
    groups = bl.rank_groups(kinds)
    assert groups == (0, 0, 1, 2, 3)
    assert bl.rank_groups((1, 0, 1, 0, 2)) == (0, 1, 0, 1, 0)  # slots by kind: 0 0 | 1 1 | 2
    g = len(kinds)
    counts = bl.uniform_prior((1, g + 1), 1.0)
    agent = jnp.array([[0, 0]])
    layout1 = jnp.array([[4, 4], [0, 3], [1, 0], [3, 3], [2, 2]])  # nearest hare: index 2
    present = jnp.ones(g, bool)
    slots1 = bl.distance_slots(agent, layout1, present, kinds)  # [1, G]
    np.testing.assert_allclose(bl.prior_probs(bl.slot_prior(counts, slots1)), 1 / (g + 1), rtol=1e-6)
    labels = jnp.array([[2]] * 3 + [[-1]])  # [T=4, 1]: walks to hare 2, then nothing
    lab_slots = bl.slot_labels(labels, jnp.broadcast_to(slots1, (4, 1, g)))
    np.testing.assert_array_equal(np.asarray(lab_slots)[:, 0], [1, 1, 1, -1])  # hare rank 0 = slot 1
    counts = bl.inter_update(counts, lab_slots, jnp.ones((4, 1), bool), 0.9, axis=0, kinds=groups)
    # freq over slots: slot 1 (hare rank 0) 3/4, none 1/4; pooled with the stag's slot 0
    u = 1 / (g + 1)
    np.testing.assert_allclose(np.asarray(counts)[0], 0.9 * u + np.array([3 / 8, 3 / 8, 0, 0, 0, 1 / 4]),
                               rtol=1e-6)
    layout2 = jnp.array([[0, 1], [4, 4], [3, 4], [2, 1], [1, 1]])  # nearest hare now index 4
    prior2 = np.asarray(bl.prior_probs(bl.slot_prior(counts, bl.distance_slots(agent, layout2, present, kinds))))[0]
    assert np.argmax(prior2[1:g]) + 1 == 4 and prior2[4] == pytest.approx(prior2[0])
    assert prior2[4] > 2 * prior2[3] and prior2[3] == pytest.approx(prior2[1]) == pytest.approx(prior2[2])


@pytest.mark.parametrize("weight", [1.0, 3.0, 1 / (1 - 0.9)])
def test_prior_is_ema_started_from_weighted_uniform(weight):
    """K episodes from a new co-player: the prior equals sum_k d^(K-k) f_k + d^K w u over
    d^K w + sum_k d^(K-k) (numpy, float64); with w = 1 / (1 - d) that is the plain EMA
    d * p + (1 - d) * f started at uniform."""
    rng = np.random.default_rng(5)
    d, g, k_eps, t = 0.9, 3, 4, 7
    counts = bl.uniform_prior((2, g + 1), weight)
    num, den = weight * np.full((2, g + 1), 1 / (g + 1)), np.full((2, 1), weight)
    ema = np.full((2, g + 1), 1 / (g + 1))
    for _ in range(k_eps):
        labels = rng.integers(-1, g, (t, 2))
        counts = bl.inter_update(counts, jnp.asarray(labels), jnp.ones((t, 2), bool), d, axis=0)
        f = np.stack([np.bincount(np.where(labels[:, j] >= 0, labels[:, j], g), minlength=g + 1) / t
                      for j in range(2)])
        num, den = d * num + f, d * den + 1
        ema = d * ema + (1 - d) * f
    np.testing.assert_allclose(np.asarray(bl.prior_probs(counts)), num / den, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(counts).sum(-1), den[:, 0], rtol=1e-5)
    if weight > 5:
        np.testing.assert_allclose(np.asarray(bl.prior_probs(counts)), ema, rtol=1e-5)


def test_hindsight_labels_equal_numpy_loop():
    rng = np.random.default_rng(3)
    b, t, n = 4, 11, 3
    goal = np.where(rng.uniform(size=(b, t, n)) < 0.15, rng.integers(0, 5, (b, t, n)), -1)
    valid = np.ones((b, t, n), bool)
    valid[1, 6:] = False
    out = np.asarray(bl.hindsight_labels(jnp.asarray(goal), jnp.asarray(valid), axis=1))
    for i in range(b):
        for j in range(n):
            nxt = -1
            for s in reversed(range(t)):
                if valid[i, s, j] and goal[i, s, j] >= 0:
                    nxt = goal[i, s, j]
                assert out[i, s, j] == (nxt if valid[i, s, j] else -1), (i, s, j)


def test_none_policy_is_uniform_over_available_moves():
    avail = jnp.array([[True, False, True, True, True, True, False],
                       [False, False, False, False, True, False, True]])
    p = np.exp(np.asarray(none_log_probs(avail)))
    np.testing.assert_allclose(p[0], [0.25, 0, 0.25, 0.25, 0.25, 0, 0])
    np.testing.assert_allclose(p[1], [0, 0, 0, 0, 1, 0, 0])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_intra_update_ignores_bad_likelihoods_of_absent_goals_and_idle_rows(bad):
    rng = np.random.default_rng(3)
    m, g1 = 6, 5
    prior = rng.dirichlet(np.ones(g1), size=m).astype(np.float32)
    present = rng.random((m, g1)) < 0.7
    present[:, -1] = True
    acted = np.array([True, True, False, True, False, True])
    log_b = bl.initial_beliefs(jnp.asarray(prior), jnp.ones((m, g1), bool))
    log_b = log_b.at[5, :-1].set(-jnp.inf)  # a row whose only mass ...
    present[5, -1] = False  # ... is removed: nothing present explains it -> reset (no mass)
    present[5, 0] = True
    lik = rng.uniform(0.05, 1.0, (m, g1)).astype(np.float32)
    unused = ~present | ~acted[:, None]
    clean = np.where(unused, 0.0, np.log(lik)).astype(np.float32)
    dirty = np.where(unused, bad, clean).astype(np.float32)
    w = rng.normal(size=(m, g1)).astype(np.float32)

    @jax.jit
    def run(ll, lb):
        f = lambda ll, lb: jnp.sum(w * jnp.exp(bl.intra_update(lb, ll, present, acted, prior, 0.7)))
        return jax.value_and_grad(f, argnums=(0, 1))(ll, lb)

    v, (g_ll, g_lb) = run(clean, log_b)
    v2, (g_ll2, g_lb2) = run(dirty, log_b)
    np.testing.assert_array_equal(v2, v)
    np.testing.assert_array_equal(g_ll2, g_ll)
    np.testing.assert_array_equal(g_lb2, g_lb)
    assert np.all(np.isfinite(g_ll)) and np.all(np.isfinite(g_lb)) and np.all(g_ll[unused] == 0)
    # the values are the NumPy Bayes step
    b = np.exp(np.asarray(log_b, np.float64))
    ref = bayes_reference(b, lik.astype(np.float64), present, acted, prior.astype(np.float64), 0.7)
    out = np.exp(np.asarray(bl.intra_update(log_b, dirty, present, acted, prior, 0.7)))
    np.testing.assert_allclose(out, ref, rtol=2e-5, atol=1e-6)


def test_inter_update_counts_unrevealed_steps_as_the_given_beliefs():
    """``unrevealed`` (``inter_om_labels: expected``): a step without a label (-1) counts as the
    co-player's given distribution instead of a one-hot "no target"; labelled steps as before;
    then pooled like the labels (here over every target)."""
    rng = np.random.default_rng(8)
    t, n, g = 11, 3, 4
    labels = rng.integers(-1, g, (t, n))
    labels[:, 1] = -1  # a co-player that never interacts
    valid = rng.uniform(size=(t, n)) > 0.2
    prior = rng.dirichlet(np.ones(g + 1), size=n)
    final = rng.dirichlet(np.ones(g + 1), size=n)
    for kinds in (None, (0,) * g, (0, 1, 1, 1)):
        out = np.asarray(bl.inter_update(jnp.asarray(prior, jnp.float32), jnp.asarray(labels),
                                         jnp.asarray(valid), 0.9, axis=0, kinds=kinds,
                                         unrevealed=jnp.asarray(final, jnp.float32)))
        for j in range(n):
            rows = [np.eye(g + 1)[labels[s, j]] if labels[s, j] >= 0 else final[j]
                    for s in range(t) if valid[s, j]]
            freq = np.mean(rows, 0)
            if kinds is not None:  # each target gets its kind's mean
                k = np.asarray(kinds)
                freq = np.array([freq[:g][k == k[i]].mean() for i in range(g)] + [freq[g]])
            np.testing.assert_allclose(out[j], 0.9 * prior[j] + freq, rtol=1e-5)
        # the co-player without labels: its frequencies are exactly its given beliefs
        if kinds is None:
            np.testing.assert_allclose(out[1] - 0.9 * prior[1], final[1], rtol=1e-5)


def test_occupied_goals_by_hand():
    """Agents on a present target's cell get its index (the lowest where two share a cell),
    -1 on an empty cell or on a removed target's cell."""
    goal_pos = jnp.array([[0, 0], [1, 2], [1, 2], [3, 3]])
    present = jnp.array([True, False, True, False])
    agents = jnp.array([[0, 0], [1, 2], [3, 3], [2, 2]])
    np.testing.assert_array_equal(bl.occupied_goals(agents, goal_pos, present), [0, 2, -1, -1])
    np.testing.assert_array_equal(bl.occupied_goals(agents, goal_pos, jnp.ones(4, bool)), [0, 1, 3, -1])


def test_reached_labels_fill_only_unlabelled_steps_with_the_next_target_stood_on():
    """``inter_om_labels: reached`` against a NumPy loop: a labelled step keeps its label;
    an unlabelled one takes the next valid step's occupied target at or after it."""
    rng = np.random.default_rng(3)
    t, n, g = 13, 5, 4
    goal = np.where(rng.uniform(size=(t, n)) < 0.15, rng.integers(0, g, (t, n)), -1)
    occ = np.where(rng.uniform(size=(t, n)) < 0.3, rng.integers(0, g, (t, n)), -1)
    valid = rng.uniform(size=(t, n)) > 0.1
    labels = bl.hindsight_labels(jnp.asarray(goal), jnp.asarray(valid), axis=0)
    out = np.asarray(bl.reached_labels(labels, jnp.asarray(occ), jnp.asarray(valid), axis=0))
    for j in range(n):
        nxt, want = -1, np.full(t, -1)
        for s in range(t - 1, -1, -1):
            if valid[s, j] and occ[s, j] >= 0:
                nxt = occ[s, j]
            want[s] = (labels[s, j] if labels[s, j] >= 0 else nxt) if valid[s, j] else -1
        np.testing.assert_array_equal(out[:, j], want)
    # both cases occur on valid steps: a target stood on later, and none
    assert np.any(valid & (np.asarray(labels) < 0) & (out >= 0)) and np.any(valid & (out < 0))

"""Wall pieces and reset placement against the plain-Python reference (tests/envs/
reference_walls.py, written from the HOP code's rule) and against exact probabilities."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference_walls import connected, piece_distribution, sample_walls
from scipy import stats

from hopjax.envs import _grid, make


def _piece_sets(h, w, n, seed):
    u = jax.random.uniform(jax.random.PRNGKey(seed), (n, _grid.WALL_UNIFORMS))
    cells, fits = jax.device_get(jax.jit(jax.vmap(lambda x: _grid.wall_piece(x, h, w)))(u))
    return [frozenset(map(tuple, c)) if f else frozenset() for c, f in zip(cells.tolist(), fits)]


@pytest.mark.parametrize("h,w", [(5, 5), (4, 6), (3, 3)])
def test_piece_distribution_matches_exact(h, w):
    """One piece: every shape/position the HOP rule allows, with its exact probability
    (chi-square); 3x3 has no room for 4-cell straight pieces or 4-cell L's one way round."""
    exact = piece_distribution(h, w)
    n = 20000
    seen = _piece_sets(h, w, n, seed=h * 10 + w)
    counts = {k: 0 for k in exact}
    for s in seen:
        assert s in counts, f"piece {sorted(s)} is not a piece the rule can draw on {h}x{w}"
        counts[s] += 1
    keys = sorted(exact, key=lambda k: sorted(k))
    obs = np.array([counts[k] for k in keys], float)
    exp = np.array([float(exact[k]) * n for k in keys])
    assert exp.min() >= 5
    p = stats.chisquare(obs, exp).pvalue
    assert p > 1e-3, p
    sizes = {len(k) for k in keys}
    assert sizes <= {0, 3, 4} and {3, 4} <= sizes


def _pieces_uniforms(h, w, specs):
    """Uniforms that draw the given (piece index in WALL_PIECES, anchor row, anchor col)."""
    cdf, _, lo, count = _grid._piece_tables(h, w)
    rows = []
    for v, r, c in specs:
        left = cdf[v - 1] if v else 0.0
        rows.append([(left + cdf[v]) / 2, (r - lo[v, 0] + 0.5) / count[v, 0], (c - lo[v, 1] + 0.5) / count[v, 1]])
    return jnp.asarray(rows, jnp.float32)


def test_overlapping_piece_skipped_and_disconnecting_layout_redrawn():
    h = w = 6
    # try 0: 3-straight horizontal at (2, 0), then 4-straight horizontal at (2, 1): overlaps
    u0 = _pieces_uniforms(h, w, [(0, 2, 0), (6, 2, 1)])
    walls = _grid.sample_walls(jnp.broadcast_to(u0, (_grid.WALL_MAX_TRIES, 2, 3)), h, w, 2, 1)
    expect = np.zeros((h, w), bool)
    expect[2, 0:3] = True
    np.testing.assert_array_equal(np.asarray(walls), expect)
    # try 0: two 3-straight verticals cutting column 2 from top to bottom -> disconnected,
    # the whole layout is drawn again (try 1: a single 3-L)
    cut = _pieces_uniforms(h, w, [(1, 0, 2), (1, 3, 2)])
    ok = _pieces_uniforms(h, w, [(5, 0, 0), (5, 0, 0)])  # 2x2 less (1, 1); 2nd overlaps: skipped
    u = jnp.concatenate([cut[None], jnp.broadcast_to(ok, (_grid.WALL_MAX_TRIES - 1, 2, 3))])
    walls = np.asarray(_grid.sample_walls(u, h, w, 2, 1))
    assert walls.sum() == 3 and walls[:2, :2].sum() == 3
    # every try disconnects -> no walls
    walls = _grid.sample_walls(jnp.broadcast_to(cut, (_grid.WALL_MAX_TRIES, 2, 3)), h, w, 2, 1)
    assert not np.asarray(walls).any()


def test_layouts_match_reference_distribution():
    """Default Stag-Hunt (8x8, 5 pieces): wall-count histogram and per-cell wall frequency of
    the JAX resets equal the reference sampler's (chi-square two-sample tests); every layout
    connected, at most 5 x 4 cells."""
    env, p = make("stag_hunt")
    n = 3000
    _, s = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(jax.random.split(jax.random.PRNGKey(7), n), p)
    jw = np.asarray(s.walls)
    rng = np.random.default_rng(0)
    rw = np.array([sample_walls(rng, 8, 8, 5, p.num_entities + 1) for _ in range(n)])
    for walls in jw[:300]:
        assert connected((~walls).tolist())
    jc, rc = jw.reshape(n, -1).sum(1), rw.reshape(n, -1).sum(1)
    assert jc.max() <= 20 and rc.max() <= 20 and jc.min() >= 3
    bins = np.arange(21)
    table = np.array([np.bincount(jc, minlength=21), np.bincount(rc, minlength=21)])[:, bins]
    keep = table.sum(0) >= 10
    assert stats.chi2_contingency(table[:, keep]).pvalue > 1e-3
    cells = np.array([jw.sum(0).ravel(), rw.sum(0).ravel()])
    assert stats.chi2_contingency(cells).pvalue > 1e-3
    # mean wall cells agree within 3 standard errors
    se = np.sqrt(jc.var() / n + rc.var() / n)
    assert abs(jc.mean() - rc.mean()) < 3 * se, (jc.mean(), rc.mean())


def test_snowdrift_drift_under_player_probability():
    """Snowdrift reset (HOP code, msg_code/env.py): each player uniform on the F non-wall cells,
    drifts on D distinct non-wall cells drawn independently, so each player stands on a drift
    with probability D / F (binomial check, here F = 64, D = 6); drifts distinct; with walls
    nobody on a wall."""
    env, p = make("snowdrift")
    n = 2500
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    _, s = reset(jax.random.split(jax.random.PRNGKey(3), n), p)
    on = np.asarray((s.positions[:, :, None, :] == s.drift_pos[:, None, :, :]).all(-1).any(-1))
    k, m, q = int(on.sum()), on.size, p.num_drifts / (p.height * p.width)
    assert stats.binomtest(k, m, q).pvalue > 1e-3, (k / m, q)
    d = np.asarray(s.drift_pos)
    assert all(len({tuple(x) for x in row}) == p.num_drifts for row in d)
    env, p = make("snowdrift", height=5, width=5, num_walls=3)
    _, s = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(jax.random.split(jax.random.PRNGKey(4), 200), p)
    w = np.asarray(s.walls)
    assert w.any()
    b = np.arange(200)[:, None]
    for pos in (np.asarray(s.positions), np.asarray(s.drift_pos)):
        assert not w[b, pos[..., 0], pos[..., 1]].any()

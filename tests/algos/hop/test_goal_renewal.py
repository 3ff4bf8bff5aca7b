"""Goal renewal in intra-OM (``belief_reset_on_goal``, hopjax.algos.hop.beliefs): a co-player's
belief row restarts from the prior over the present goals at the step it reaches a goal;
checked against a NumPy Bayes filter and, on Snowdrift (players stay after shovelling), in the
online runner against the replayed beliefs."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax.algos.hop import HOPConfig, HOPTrainer
from hopjax.algos.hop import beliefs as bl
from hopjax.algos.hop.losses import replay_beliefs, step_mask
from hopjax.config import ConfigError, load_config

from tests.algos.hop.test_beliefs import bayes_reference
from tests.algos.hop.test_goal_assign import TINY_SD, _play


def test_intra_update_restarts_rows_that_reached_a_goal():
    """Against the NumPy Bayes step, with rows that reached a goal set to the prior restricted
    to the present goals after the step; ``achieved=None`` is the plain update."""
    rng = np.random.default_rng(3)
    m, g1 = 6, 5
    prior = rng.dirichlet(np.ones(g1), size=m)
    present = np.ones((m, g1), bool)
    b_np = prior.copy()
    log_b = bl.initial_beliefs(jnp.asarray(prior), jnp.asarray(present))
    update = jax.jit(bl.intra_update, static_argnums=5)
    restarted = 0
    for t in range(10):
        lik = rng.uniform(0.05, 1.0, (m, g1))
        if t == 4:
            present[:, 1] = False
        acted = rng.uniform(size=m) > 0.1
        achieved = acted & (rng.uniform(size=m) > 0.6)
        restarted += achieved.sum()
        b_np = bayes_reference(b_np, lik, present, acted, prior, 1.0)
        fresh = np.where(present, prior, 0.0)
        b_np[achieved] = (fresh / fresh.sum(-1, keepdims=True))[achieved]
        log_b = update(log_b, jnp.asarray(np.log(lik), jnp.float32), jnp.asarray(present), jnp.asarray(acted),
                       jnp.asarray(prior, jnp.float32), 1.0, jnp.asarray(achieved))
        np.testing.assert_allclose(np.exp(np.asarray(log_b)), b_np, rtol=2e-5, atol=1e-6, err_msg=f"t={t}")
    assert restarted > 5
    same = bl.intra_update(log_b, jnp.zeros((m, g1)), jnp.asarray(present), jnp.ones(m, bool),
                           jnp.asarray(prior, jnp.float32), 1.0, None)
    np.testing.assert_allclose(np.asarray(same), np.asarray(log_b), atol=1e-6)


@pytest.fixture(scope="module")
def renewal():
    """Self-play on the tiny Snowdrift with goal renewal on: (trainer, state, batch, trace)."""
    tr = HOPTrainer(dataclasses.replace(TINY_SD, belief_reset_on_goal=True))
    st, (batch, trace) = _play(tr, tr.runner, key=3)
    return tr, st, batch, trace


def test_online_beliefs_restart_after_a_shovel(renewal):
    """The runner's beliefs equal the replayed ones with renewal (not without it), and one step
    after a seat shovels its row is the (uniform) prior over the drifts still present."""
    tr, st, batch, trace = renewal
    online = np.exp(np.asarray(trace.log_beliefs))  # [E, T, N, G+1]
    E, T, N, G1 = online.shape
    prior = bl.uniform_prior((E, N, G1), 1.0)
    replay = {r: np.exp(np.asarray(jax.jit(
        lambda p, b, r=r: replay_beliefs(tr.goal_policy, p, b, prior, reset_on_goal=r))(st.params["goal"], batch)))
        for r in (True, False)}
    v = np.asarray(step_mask(batch))  # [E, T, N]
    np.testing.assert_allclose(replay[True][v], online[v], atol=2e-5)
    goal = np.where(v, np.asarray(batch["goal"])[:, :T], -1)
    taken = np.zeros((E, G1), bool)
    events = 0
    for t in range(T - 1):
        for g in range(G1 - 1):
            taken[:, g] |= (goal[:, t] == g).any(-1)
        for e, j in zip(*np.nonzero((goal[:, t] >= 0) & v[:, t + 1])):
            fresh = np.where(taken[e], 0.0, 1.0)
            np.testing.assert_allclose(online[e, t + 1, j], fresh / fresh.sum(), atol=1e-6)
            events += 1
    assert events >= 3, events  # shovels followed by more steps happened
    after = np.zeros_like(v)
    after[:, 1:] = (goal[:, :-1] >= 0) & v[:, 1:]
    assert np.abs(replay[False][after] - replay[True][after]).max() > 1e-3  # the option acts


def test_config_rejects_a_non_bool(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("algo: hop\nenv: snowdrift\nbelief_reset_on_goal: 1\n")
    with pytest.raises(ConfigError, match="belief_reset_on_goal"):
        load_config(HOPConfig, path)

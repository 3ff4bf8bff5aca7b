"""HOP's assigned-target walkers (``goal_assign_fraction``, hopjax.algos.hop.assign): off, the
self-play data is bit-identical to a runner without the option; on, walker seats walk to their
assigned target, are labelled with it for the goal model and leave the planner net's loss."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax.algos.hop import HOPConfig, HOPTrainer
from hopjax.algos.hop import assign as asg
from hopjax.algos.hop import beliefs as bl
from hopjax.algos.hop.losses import step_mask
from hopjax.algos.hop.trainer import HOPRunner
from hopjax.buffers.obs import decode
from hopjax.config import ConfigError, load_config
from hopjax.envs import snowdrift as sd
from hopjax.envs.moves import MOVE_DELTAS, NUM_MOVES

from tests.conftest import QUICK_COMPILE

TINY_SD = HOPConfig(
    name="tiny_sd", env="snowdrift", env_kwargs=dict(height=4, width=4, num_drifts=3, max_steps=8),
    num_envs=8, num_simulations=4, num_trees=1, hidden_sizes=(32,), buffer_episodes=16,
    batch_episodes=8, sgd_steps=2, chunk_updates=2, total_steps=4 * 8 * 8, lr=3e-3,
)


def _play(trainer, runner, key=1):
    st = trainer.init(jax.random.PRNGKey(0))
    play = jax.jit(runner.play, compiler_options=QUICK_COMPILE)
    return st, play(jax.random.PRNGKey(key), st.params, st.prior)


@pytest.fixture(scope="module")
def walkers():
    """Every seat a walker (fraction 1): (trainer, state, batch)."""
    tr = HOPTrainer(dataclasses.replace(TINY_SD, goal_assign_fraction=1.0))
    st, (batch, _) = _play(tr, tr.runner)
    return tr, st, batch


def test_fraction_zero_is_bit_identical():
    """fraction 0: the same scheme and the same self-play batch, leaf for leaf, as a runner
    built without the option."""
    tr = HOPTrainer(dataclasses.replace(TINY_SD, goal_assign_fraction=0.0))
    assert tr.runner.assign_fraction == 0.0
    plain = HOPRunner(tr.env, tr.env_params, tr.goal_policy, tr.planner_net, TINY_SD.search,
                      TINY_SD.num_envs, tuple(range(4)), None, TINY_SD.belief_temperature,
                      TINY_SD.inter_om_decay)
    assert "assigned" not in tr.runner.scheme.field_names and tr.runner.scheme.field_names == plain.scheme.field_names
    _, (b0, t0) = _play(tr, tr.runner)
    _, (b1, t1) = _play(tr, plain)
    for a, b in zip(jax.tree.leaves((b0, t0)), jax.tree.leaves((b1, t1))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_walkers_labels_and_moves(walkers):
    """fraction 1: every valid step of every seat is labelled with its assigned target (a goal
    present at that step); the walker shovels only its own target, on its cell, and otherwise
    moves one cell closer to it (a 4x4 grid without walls always has such a move)."""
    tr, _, b = walkers
    T, G = b.max_seq_length, tr.runner.G
    v = np.asarray(step_mask(b))
    assert np.asarray(b["assigned"][:, :T])[v].all()
    lab, tgt = np.asarray(b["goal_label"][:, :T]), np.asarray(b["assigned_goal"][:, :T])
    np.testing.assert_array_equal(lab[v], tgt[v])
    hind = np.asarray(bl.hindsight_labels(b["goal"][:, :T], jnp.asarray(v), axis=1))
    assert (lab[v] != hind[v]).any(), "labels must be the assigned targets, not the hindsight ones"
    # presence at step t: not taken at an earlier step
    goal = np.where(v, np.asarray(b["goal"][:, :T]), -1)
    taken = np.zeros(goal.shape[:2] + (G,), bool)
    for t in range(1, T):
        taken[:, t] = taken[:, t - 1] | (goal[:, t - 1, :, None] == np.arange(G)).any(1)
    has = v & (tgt >= 0)
    e, t, n = np.nonzero(has)
    assert len(e) > 50
    assert not taken[e, t, tgt[e, t, n]].any()
    # moves: own cell = channel 0 of the egocentric observation
    obs = np.asarray(decode(b["obs"], b.data.get("obs_time"))[:, :T, ..., 0])  # [E, T, N, H, W]
    W = obs.shape[-1]
    cell = obs.reshape(*obs.shape[:3], -1).argmax(-1)
    me = np.stack([cell // W, cell % W], -1)[e, t, n]
    gp = np.asarray(b["goal_pos"][:, :T])[e, t, tgt[e, t, n]]
    act = np.asarray(b["actions"][:, :T])[e, t, n]
    d0 = np.abs(gp - me).sum(-1)
    on = d0 == 0
    assert on.any() and (~on).any()
    np.testing.assert_array_equal(act[on], sd.SHOVEL)
    d1 = np.abs(gp - (me + MOVE_DELTAS[np.minimum(act, NUM_MOVES - 1)])).sum(-1)
    assert (act[~on] < NUM_MOVES).all() and (d1[~on] == d0[~on] - 1).all()
    done = goal[e, t, n]
    np.testing.assert_array_equal(done[done >= 0], tgt[e, t, n][done >= 0])


def test_walkers_leave_the_planner_loss(walkers):
    """fraction 1: no step is the search's, so the planner net gets no loss (and no gradient);
    the goal model trains on the walkers' labels."""
    tr, st, b = walkers
    _, aux = tr.loss(st.params, b)
    assert float(aux["policy_loss"]) == 0.0 and float(aux["value_loss"]) == 0.0
    assert float(aux["goal_loss"]) > 0.0
    g = jax.grad(lambda p: tr.loss(p, b)[0])(st.params)
    assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree.leaves(g["planner"]))


def test_fraction_half_mixes_walkers_and_hop():
    """fraction 0.5: some seats walk, the others play the search and keep hindsight labels;
    both kinds of seat appear, and the draw is per (env, seat) and per episode."""
    tr = HOPTrainer(dataclasses.replace(TINY_SD, goal_assign_fraction=0.5, num_envs=16))
    st, (b, _) = _play(tr, tr.runner)
    _, (b2, _) = _play(tr, tr.runner, key=2)
    T = b.max_seq_length
    a = np.asarray(b["assigned"][:, 0])
    assert 0.25 < a.mean() < 0.75
    assert (a != np.asarray(b2["assigned"][:, 0])).any()
    v = np.asarray(step_mask(b))
    hind = np.asarray(bl.hindsight_labels(b["goal"][:, :T], jnp.asarray(v), axis=1))
    hop = v & ~np.asarray(b["assigned"][:, :T])
    np.testing.assert_array_equal(np.asarray(b["goal_label"][:, :T])[hop], hind[hop])
    # the trainer's update runs with the option on
    st2, m = jax.jit(tr.update, compiler_options=QUICK_COMPILE)(st)
    assert np.isfinite(float(m["goal_loss"])) and np.isfinite(float(m["policy_loss"]))


def test_draw_targets_uniform_over_present():
    present = jnp.array([[True, False, True, True], [False] * 4])
    t = np.asarray(asg.draw_targets(jax.random.PRNGKey(0), present, 200))
    assert set(t[0]) <= {0, 2, 3} and (t[1] == 4).all()
    many = np.asarray(asg.draw_targets(jax.random.PRNGKey(1), jnp.broadcast_to(present[0], (3000, 4)), 1))
    assert abs((many == 0).mean() - 1 / 3) < 0.04 and not (many == 1).any()


@pytest.mark.parametrize("value", ["1.5", "-0.1", "abc"])
def test_config_rejects_bad_fraction(value):
    with pytest.raises(ConfigError, match="goal_assign_fraction"):
        load_config(HOPConfig, "configs/snowdrift_hop.yaml", [f"goal_assign_fraction={value}"]).validate()

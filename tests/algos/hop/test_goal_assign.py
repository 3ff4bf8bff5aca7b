"""HOP's walker-only episodes for the goal model (``goal_walker_envs``, hopjax.algos.hop.assign):
off, the self-play data and update are bit-identical to a trainer without the option; on, a
separate batch of envs where every seat walks to its assigned target (no search) is labelled
with the targets and reaches the goal model's loss only, never the planner net's."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax.algos.hop import HOPConfig, HOPTrainer
from hopjax.algos.hop import assign as asg
from hopjax.algos.hop import beliefs as bl
from hopjax.algos.hop.losses import goal_loss, step_mask
from hopjax.algos.hop.trainer import HOPRunner, HOPState
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
    prior = bl.uniform_prior((runner.num_envs, runner.n, runner.G + 1), TINY_SD.inter_om_prior_weight)
    play = jax.jit(runner.play, compiler_options=QUICK_COMPILE)
    return st, play(jax.random.PRNGKey(key), st.params, prior)


@pytest.fixture(scope="module")
def walkers():
    """8 walker envs next to the 8 self-play envs: (trainer, state, walker batch, its trace)."""
    tr = HOPTrainer(dataclasses.replace(TINY_SD, goal_walker_envs=8))
    st, (batch, trace) = _play(tr, tr.walker_runner)
    return tr, st, batch, trace


def _targets(trace, G):
    """A walker runner's assigned targets per step (its trace's ``pursued``, one-hot over G
    goals + none) -> [E, T, N] int, -1 for none."""
    t = np.asarray(trace.pursued).argmax(-1)
    return np.where(t < G, t, -1)


def test_zero_walker_envs_is_bit_identical():
    """goal_walker_envs 0: no walker runner or buffer; the same scheme, self-play batch and
    update (state and metrics), leaf for leaf, as a trainer built without the option."""
    tr = HOPTrainer(dataclasses.replace(TINY_SD, goal_walker_envs=0))
    ref = HOPTrainer(TINY_SD)
    assert tr.walker_runner is None and not tr.runner.walkers
    plain = HOPRunner(tr.env, tr.env_params, tr.goal_policy, tr.planner_net, TINY_SD.search,
                      TINY_SD.num_envs, tuple(range(4)), None, TINY_SD.belief_temperature,
                      TINY_SD.inter_om_decay)
    assert "assigned" not in tr.runner.scheme.field_names and tr.runner.scheme.field_names == plain.scheme.field_names
    st, (b0, t0) = _play(tr, tr.runner)
    _, (b1, t1) = _play(tr, plain)
    for a, b in zip(jax.tree.leaves((b0, t0)), jax.tree.leaves((b1, t1))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert type(st) is HOPState  # not HOPWalkerState: the same state, hence the same checkpoints
    out0 = jax.jit(tr.update, compiler_options=QUICK_COMPILE)(st)
    out1 = jax.jit(ref.update, compiler_options=QUICK_COMPILE)(ref.init(jax.random.PRNGKey(0)))
    l0, l1 = jax.tree.leaves(out0), jax.tree.leaves(out1)
    assert len(l0) == len(l1)
    for a, b in zip(l0, l1):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_walker_labels_stay_the_assigned_targets_under_goal_model_labels_reached(walkers):
    """``goal_model_labels: reached`` relabels a self-play seat's steps after its last
    interaction, never a walker's: the same walker episode keeps the assigned targets (which
    differ from the hindsight labels, and so from the reached ones, test below)."""
    _, _, b0, _ = walkers
    tr = HOPTrainer(dataclasses.replace(TINY_SD, goal_walker_envs=8, goal_model_labels="reached"))
    assert tr.runner.reached_goal_labels and tr.walker_runner.reached_goal_labels
    _, (b, _) = _play(tr, tr.walker_runner)
    np.testing.assert_array_equal(np.asarray(b["goal"]), np.asarray(b0["goal"]))
    np.testing.assert_array_equal(np.asarray(b["goal_label"]), np.asarray(b0["goal_label"]))


def test_walkers_labels_and_moves(walkers):
    """walker envs: every valid step of every seat is labelled with its assigned target (a goal
    present at that step); the walker shovels only its own target, on its cell, and otherwise
    moves one cell closer to it (a 4x4 grid without walls always has such a move)."""
    tr, _, b, trace = walkers
    T, G = b.max_seq_length, tr.runner.G
    v = np.asarray(step_mask(b))
    assert (np.asarray(trace.pursued).sum(-1) == 1)[v].all()  # every seat has a target (or none)
    lab, tgt = np.asarray(b["goal_label"][:, :T]), _targets(trace, G)
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


def test_walker_runner_does_not_plan(walkers):
    """The walker runner takes every seat, writes no search policy and leaves beliefs alone."""
    tr, _, b, _ = walkers
    assert tr.walker_runner.walkers and tr.walker_runner.num_envs == 8
    assert float(jnp.abs(b["policy"]).max()) == 0.0


def test_planner_sees_self_play_only_goal_model_sees_walkers(walkers):
    """The loss with walker episodes: the planner part equals the loss without them (same
    value, same planner gradient); the goal part is the goal loss over the self-play and
    walker steps together, so it differs from the self-play-only one."""
    tr, st, wb, _ = walkers
    _, (sp, _) = _play(tr, tr.runner, key=3)
    _, aux0 = tr.loss(st.params, sp)
    _, aux1 = tr.loss(st.params, sp, wb)
    for k in ("policy_loss", "value_loss"):
        assert float(aux0[k]) == float(aux1[k])
    assert float(aux0["goal_loss"]) != float(aux1["goal_loss"])
    g0 = jax.grad(lambda p: tr.loss(p, sp)[0])(st.params)
    g1 = jax.grad(lambda p: tr.loss(p, sp, wb)[0])(st.params)
    for a, b in zip(jax.tree.leaves(g0["planner"]), jax.tree.leaves(g1["planner"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # the goal part is the masked mean over both batches' labelled steps
    lw, _ = goal_loss(tr.goal_policy, st.params["goal"], wb)
    ls, _ = goal_loss(tr.goal_policy, st.params["goal"], sp)
    T = sp.max_seq_length
    ns = int((np.asarray(step_mask(sp)) & (np.asarray(sp["goal_label"][:, :T]) >= 0)).sum())
    nw = int((np.asarray(step_mask(wb)) & (np.asarray(wb["goal_label"][:, :T]) >= 0)).sum())
    np.testing.assert_allclose(float(aux1["goal_loss"]), (ns * float(ls) + nw * float(lw)) / (ns + nw), rtol=1e-5)


def test_update_keeps_walkers_out_of_the_self_play_buffer(walkers):
    """One update with walker envs: the self-play buffer holds exactly the episodes of a trainer
    without them (same key, same self-play), the walker buffer holds walker episodes (all
    the walker runner's, labelled with their targets), the metrics are finite, the planner net ends the
    update exactly as without walkers and the goal model does not."""
    tr = walkers[0]
    ref = HOPTrainer(TINY_SD)
    st = tr.init(jax.random.PRNGKey(0))
    assert st.walker_buffer.capacity == tr.walker_capacity == 16 and tr.walker_batch == 8
    st1, m = jax.jit(tr.update, compiler_options=QUICK_COMPILE)(st)
    r1, _ = jax.jit(ref.update, compiler_options=QUICK_COMPILE)(ref.init(jax.random.PRNGKey(0)))
    for a, b in zip(jax.tree.leaves(st1.buffer), jax.tree.leaves(r1.buffer)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(st1.prior), np.asarray(r1.prior))
    wb = st1.walker_buffer
    assert int(wb.episodes_in_buffer) == 8
    s = wb.storage
    v = np.asarray(step_mask(s))
    # the update's walker episodes: the walker runner played with the update's key (fold_in 1)
    _, k_play, _ = jax.random.split(st.key, 3)
    wr = tr.walker_runner
    prior = bl.uniform_prior((wr.num_envs, wr.n, wr.G + 1), TINY_SD.inter_om_prior_weight)
    want, wtrace = jax.jit(wr.play, compiler_options=QUICK_COMPILE)(jax.random.fold_in(k_play, 1), st.params, prior)
    for a, b in zip(jax.tree.leaves(jax.tree.map(lambda x: x[:8], s)), jax.tree.leaves(want)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert v.any() and (np.asarray(wtrace.pursued).sum(-1) == 1)[v[:8]].all()
    np.testing.assert_array_equal(np.asarray(s["goal_label"][:8, :-1])[v[:8]], _targets(wtrace, wr.G)[v[:8]])
    assert all(np.isfinite(float(m[k])) for k in ("goal_loss", "policy_loss", "value_loss"))
    # the planner net's loss and gradients depend only on its own parameters and the self-play
    # minibatches, which are the reference's: after the update its parameters are the same
    for a, b in zip(jax.tree.leaves(st1.params["planner"]), jax.tree.leaves(r1.params["planner"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert any((np.asarray(a) != np.asarray(b)).any()
               for a, b in zip(jax.tree.leaves(st1.params["goal"]), jax.tree.leaves(r1.params["goal"])))


def test_draw_targets_uniform_over_present():
    present = jnp.array([[True, False, True, True], [False] * 4])
    t = np.asarray(asg.draw_targets(jax.random.PRNGKey(0), present, 200))
    assert set(t[0]) <= {0, 2, 3} and (t[1] == 4).all()
    many = np.asarray(asg.draw_targets(jax.random.PRNGKey(1), jnp.broadcast_to(present[0], (3000, 4)), 1))
    assert abs((many == 0).mean() - 1 / 3) < 0.04 and not (many == 1).any()


@pytest.mark.parametrize("value", ["-1", "1.5", "abc", "true"])
def test_config_rejects_bad_walker_envs(value):
    with pytest.raises(ConfigError, match="goal_walker_envs"):
        load_config(HOPConfig, "configs/snowdrift_hop.yaml", [f"goal_walker_envs={value}"]).validate()


def test_config_accepts_walker_envs():
    cfg = load_config(HOPConfig, "configs/snowdrift_hop.yaml", ["goal_walker_envs=16"])
    cfg.validate()
    assert cfg.goal_walker_envs == 16

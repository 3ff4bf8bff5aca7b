"""PPO + opponent model (OMG / MOA) end to end: the model trains inside the one compiled chunk,
gated by can_sample under lax.cond; the hindsight subgoals are valid future steps;
resume is bit-identical; on a tiny Stag-Hunt with scripted co-players of two kinds (stag and
hare chasers) goal / action prediction beat their majority-class baselines."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax.runtime import experiment
from hopjax.algos.ppo import PPOConfig
from hopjax.config import ConfigError, updated
from hopjax.models.omg import coplayers

from tests.conftest import OM_CHUNK as CHUNK, OMG, loop_of


def run(tr, chunks):
    runners = [tr.init(jax.random.PRNGKey(tr.cfg.seed))]
    fn = loop_of(tr).compiled_chunk(runners[0])
    out = []
    for _ in range(chunks):
        r, m = fn(runners[-1])
        runners.append(r)
        out.append(jax.device_get(m))
    return tr, runners, {k: np.concatenate([o[k] for o in out]) for k in out[0]}


@pytest.fixture(scope="module")
def omg_run(omg_trainer):
    return run(omg_trainer, 16)


def last(m, k, n=15):
    return float(np.mean(m[k][-n:]))


def test_trigger_gates_training_and_compiles_once(omg_run):
    tr, runners, m = omg_run
    r0, r1, r2 = runners[:3]
    np.testing.assert_array_equal(m["om_buffer_episodes"][:7], [16, 32, 48, 64, 80, 96, 96])
    np.testing.assert_array_equal(m["om_trained"][:CHUNK], 0.0)  # below can_sample
    assert np.all(m["om_trained"][CHUNK:] == 1.0)
    # below can_sample the model and its optimiser are untouched; above they change
    jax.tree.map(np.testing.assert_array_equal, r0.om.params, r1.om.params)
    jax.tree.map(np.testing.assert_array_equal, r0.om.opt_state, r1.om.opt_state)
    assert not all(jax.tree.leaves(jax.tree.map(np.array_equal, r1.om.params, r2.om.params)))
    assert np.all(m["omg_loss"][:CHUNK] == 0.0) and np.all(m["omg_loss"][CHUNK:] > 0.0)
    assert loop_of(tr).trace_count == 1  # both branches of the cond live in the one compiled chunk
    # epsilon = 0: the PPO replay sees exactly the inputs the rollout acted on
    np.testing.assert_array_equal(m["first_ratio"], 1.0)
    assert np.all(np.isfinite(m["loss"])) and np.all(np.isfinite(m["omg_loss"]))


def test_selected_subgoals_are_valid_future_steps(omg_run):
    """The loss's hindsight selection on replayed episodes (the source of the omg_subgoal_*
    metrics): each chosen step is a valid future step of a live co-player within the horizon and
    the optimistic choice among them (checked against the candidate values in numpy); only the
    learner (seat 0) models its co-players; the logged metrics read this selection."""
    from hopjax.buffers.layout import time_major
    from hopjax.buffers.replay import sample
    from hopjax.models import omg as omg_lib

    tr, runners, m = omg_run
    om, r = tr.om, runners[-1]
    d = time_major(sample(r.om.buffer, jax.random.PRNGKey(3), 16))
    _, mu, _ = omg_lib.unroll_inference(om.spec, r.om.params, om.flat(d["obs"][: om.T]),
                                        d["actions"][: om.T], om.seats)
    sel = jax.device_get(jax.jit(om.select)(r.om.params, r.params, d, mu))
    off, found, mask = sel["offset"], sel["found"] & np.asarray(om._masks(d)), np.asarray(om._masks(d))
    valid, h = np.asarray(d["valid"]), OMG.opponent_model.omg.horizon
    assert om.seats == (0,) and off.shape[2] == 1  # [T, B, L=1, N-1]: the learner's pairs only
    assert found.mean() > 0.05
    assert np.all(off[found] >= 1) and np.all(off[found] <= h)
    t, b, i, j = np.nonzero(found)
    co = coplayers(om.n)[np.asarray(om.seats)[i], j]
    assert valid[t + off[t, b, i, j], b, co].all()  # never a padded or dead step
    # found iff some valid future step exists; the chosen one has the highest value among them
    cand = np.asarray(omg_lib.future_candidates(omg_lib.pair_take(d["valid"], om.n, 2, om.seats), h))
    np.testing.assert_array_equal(found, cand.any(1) & mask)
    base = np.asarray(mu)
    prior = om.net.apply(r.om.params, om.flat(jnp.take(d["obs"], jnp.asarray(om.coseats), 2)),
                         method=omg_lib.OMGNet.prior)[0]
    pm = np.take(np.asarray(prior), om.pair_rows, axis=2)
    fut = np.stack([np.concatenate([pm, np.zeros((h, *pm.shape[1:]), pm.dtype)])[1 + k : om.T + 1 + k]
                    for k in range(h)])
    v = np.asarray(om.candidate_values(r.params, d["obs"][: om.T], base, fut))  # [T, H, B, L, N-1]
    best = np.where(cand, v, -np.inf).max(1)
    np.testing.assert_allclose(v[t, off[t, b, i, j] - 1, b, i, j], best[t, b, i, j], rtol=1e-6)
    trained = m["om_trained"] == 1.0
    assert np.all(m["omg_subgoal_found"][~trained] == 0.0)
    assert np.all((m["omg_subgoal_found"][trained] > 0.05) & (m["omg_subgoal_found"][trained] <= 1.0))
    assert np.all((m["omg_subgoal_offset"][trained] >= 1.0) & (m["omg_subgoal_offset"][trained] <= h))


def test_full_omg_loss_ignores_padding(omg_run):
    """The whole OMG training loss (selection + ELBO + prior VAE + OMG_AM + goal head) on replayed
    episodes cut short at random lengths: garbage written past each cut changes neither the
    loss nor its gradient, while a change at a valid step does."""
    from hopjax.buffers.replay import sample

    tr, runners, _ = omg_run
    r = runners[-1]
    ep = sample(r.om.buffer, jax.random.PRNGKey(5), 8)
    t1 = ep.filled.shape[1]
    rng = np.random.default_rng(0)
    length = rng.integers(2, t1, ep.batch_size)  # every episode loses its tail
    cut = np.arange(t1)[None] >= length[:, None]  # [B, T+1]
    ep = ep.replace(filled=ep.filled & ~cut)
    fn = jax.jit(jax.value_and_grad(tr.om.loss, has_aux=True))
    key = jax.random.PRNGKey(6)
    (l1, _), g1 = fn(r.om.params, r.params, ep, key)

    def with_data(**kw):
        return ep.replace(data={**ep.data, **kw})

    pad = cut[:, :, None]  # [B, T+1, 1]
    obs, act, goal = (np.asarray(ep.data[k]) for k in ("obs", "actions", "goal"))
    junk = with_data(
        obs=np.where(pad.reshape(*pad.shape, *([1] * (obs.ndim - 3))), 7.0, obs).astype(obs.dtype),
        actions=np.where(pad, (act + 1) % tr.om.num_actions, act).astype(act.dtype),
        goal=np.where(pad, 0, goal).astype(goal.dtype),
    )
    (l2, _), g2 = fn(r.om.params, r.params, junk, key)
    assert np.isfinite(float(l1)) and float(l1) > 0
    np.testing.assert_allclose(float(l2), float(l1), rtol=1e-5)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6), g1, g2)
    # ... and the test can fail: the same change one step before each cut moves the loss
    before = np.zeros_like(cut)
    before[np.arange(ep.batch_size), length - 1] = True
    moved = with_data(obs=np.where(before.reshape(*before.shape, *([1] * (obs.ndim - 2))), 7.0, obs).astype(obs.dtype))
    (l3, _), _ = fn(r.om.params, r.params, moved, key)
    assert abs(float(l3) - float(l1)) > 1e-3 * abs(float(l1))


def test_omg_learns_goals_and_actions(omg_run):
    _, _, m = omg_run
    acc, base = last(m, "omg_goal_acc"), last(m, "omg_goal_baseline")
    am, am_base = last(m, "omg_am_acc"), last(m, "omg_am_baseline")
    print(f"\nOMG goal accuracy {acc:.3f} (majority {base:.3f}, chance {1 / 3:.3f}); "
          f"OMG_AM action accuracy {am:.3f} (majority {am_base:.3f})")
    assert acc > base + 0.05 and acc > 1 / 3 + 0.2
    assert am > am_base + 0.1


def test_resume_with_opponent_model_is_bit_identical(tmp_path, omg_run):
    tr = omg_run[0]
    kw = dict(progress=False, loop=loop_of(tr), plot=False)
    full = experiment.train(OMG, tmp_path / "a", max_chunks=3, **kw)
    experiment.train(OMG, tmp_path / "b", max_chunks=1, **kw)
    rest = experiment.train(OMG, tmp_path / "b", resume=tmp_path / "b" / "tiny_omg", max_chunks=2, **kw)
    rows = experiment.read_csv(tmp_path / "b" / "tiny_omg" / "metrics.csv")
    assert len(rows) == len(full.rows) == 3 * CHUNK
    for a, b in zip(full.rows, rows):
        for k in a:
            if k != "sps":
                assert a[k] == b[k], (k, a[k], b[k])
    jax.tree.map(np.testing.assert_array_equal, full.runner.om, rest.runner.om)
    assert loop_of(tr).trace_count == 1


def test_moa_learns_and_compiles_once(moa_trainer):
    tr, _, m = run(moa_trainer, 6)
    acc, base = last(m, "moa_acc", 10), last(m, "moa_baseline", 10)
    print(f"\nMOA next-action accuracy {acc:.3f} (majority {base:.3f})")
    assert acc > base + 0.1
    assert np.all(np.isfinite(m["moa_influence"])) and last(m, "moa_influence") > 0
    np.testing.assert_array_equal(m["om_trained"], np.arange(len(m["om_trained"])) >= 1)  # 2 x 16 >= 32
    assert loop_of(tr).trace_count == 1


@pytest.mark.parametrize(
    "bad, key",
    [
        ("opponent_model.kind=omgg", "'opponent_model.kind'"),
        ("opponent_model.omg.mode=greedy", "'opponent_model.omg.mode'"),
        ("rollout_length=5", "'rollout_length'"),
        ("opponent_model.min_episodes=200", "'opponent_model.min_episodes'"),
        ("opponent_model.moa.influence_coef=0.1", "'opponent_model.moa.influence_coef'"),
        ("opponent_model.policy_input=false", "'opponent_model.policy_input'"),
        ("opponent_model.omg.horizon=0", "'opponent_model.omg.horizon'"),
        ("opponent_model.unknown=1", "'opponent_model.unknown'"),
        ("om_lr=0.1", "'om_lr' moved: use opponent_model.lr"),
        ("opponent_model=omg", "'opponent_model' expects a mapping"),
    ],
)
def test_bad_opponent_model_config_names_the_key(bad, key):
    with pytest.raises(ConfigError, match=key):
        updated(OMG, bad)

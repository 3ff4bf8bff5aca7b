"""OMG and MOA inside the trainer: NaN/inf in padded or dead agents' float fields (observations,
policy features, rewards, values ...) changes neither the models' losses, their gradients, nor
the annotation (subgoal choice, accuracies, social-influence reward); OMG's epsilon-mixing and its
diagnostics subset."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax.buffers.episode import EpisodeBatch
from hopjax.algos.ppo.trainer import Trainer
from hopjax.rollout import EXTRA_SEATS

from tests.conftest import MOA, OMG


def _seat_valid(valid, scheme, name, extra_seats):
    """``valid`` [E, T+1, N] for field ``name``'s rows: the agents, or the policy's extra seats."""
    if scheme.field(name).group == EXTRA_SEATS and extra_seats:
        return valid[..., list(extra_seats)]
    return valid


def random_batch(scheme, rng, e, extra_seats=()):
    """Random episodes of the scheme: random lengths (filled) and deaths (alive); invalid
    entries of every float field hold 0 (the clean reference). ``extra_seats``: the seats the
    rows of group ``extra_seats`` belong to (empty: all)."""
    t1 = scheme.max_seq_length + 1
    n = scheme.n_agents
    filled = np.arange(t1)[None] < rng.integers(2, t1 + 1, e)[:, None]
    alive = np.arange(t1)[None, :, None] < rng.integers(1, t1 + 1, (e, 1, n))
    valid = filled[..., None] & alive
    data = {}
    for name, f in scheme.fields:
        if scheme.is_derived(name):
            continue
        shape = (e, *([] if f.episode_const else [t1]), *([scheme.group_size(f.group)] if f.group else []), *f.shape)
        if np.issubdtype(f.dtype, np.floating):
            x = rng.normal(size=shape)
        elif f.dtype == np.bool_:
            x = rng.random(shape) < 0.8
        else:
            x = rng.integers(0, 3, shape)
        if f.group in ("agents", EXTRA_SEATS) and not f.episode_const and np.issubdtype(f.dtype, np.floating):
            v = _seat_valid(valid, scheme, name, extra_seats)
            x = np.where(v.reshape(v.shape + (1,) * (x.ndim - 3)), x, 0.0)
        data[name] = jnp.asarray(x, f.dtype)
    return EpisodeBatch(data, jnp.asarray(filled), jnp.asarray(alive), scheme), valid


def plant(batch, valid, bad, fields, extra_seats=()):
    data = dict(batch.data)
    for k in fields:
        x = np.asarray(data[k])
        v = _seat_valid(valid, batch.scheme, k, extra_seats)
        data[k] = jnp.asarray(np.where(v.reshape(v.shape + (1,) * (x.ndim - 3)), x, bad), x.dtype)
    return batch.replace(data=data)


def float_agent_fields(scheme):
    """Per-step float fields with a row per agent or per extra seat."""
    return [k for k, f in scheme.fields if f.group in ("agents", EXTRA_SEATS) and not f.episode_const
            and np.issubdtype(f.dtype, np.floating) and not scheme.is_derived(k)]


@pytest.mark.parametrize("cfg", [OMG, dataclasses.replace(MOA, gru_size=8)], ids=["omg", "moa"])
def test_model_loss_and_annotation_ignore_bad_padding(cfg):
    tr = Trainer(cfg)
    om, rng = tr.om, np.random.default_rng(0)
    params = om.init_params(jax.random.PRNGKey(0))
    pparams = tr.policy.init(jax.random.PRNGKey(1))
    key = jax.random.PRNGKey(2)
    loss_fn = jax.jit(jax.value_and_grad(lambda p, b: om.loss(p, pparams, b, key), has_aux=True))
    ann_fn = jax.jit(lambda b: om.annotate(params, pparams, b, key, jnp.int32(0)))
    ep, valid = random_batch(om.buffer_scheme, rng, 8)
    seats = tr.policy.extra_seats
    full, valid_f = random_batch(tr.rollout.scheme, rng, 8, seats)
    (loss, aux), g = loss_fn(params, ep)
    ann = ann_fn(full)
    assert np.isfinite(loss) and all(np.isfinite(x).all() for x in jax.tree.leaves(g))
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(ann[1:]))
    cases = [[k] for k in float_agent_fields(tr.rollout.scheme)] + [float_agent_fields(tr.rollout.scheme)]
    for bad in (np.nan, np.inf, -np.inf):
        (loss2, aux2), g2 = loss_fn(params, plant(ep, valid, bad, float_agent_fields(om.buffer_scheme)))
        np.testing.assert_array_equal(loss2, loss, err_msg=str(bad))
        jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b, err_msg=str(bad)), (aux2, g2), (aux, g))
        for fields in cases:
            ann2 = ann_fn(plant(full, valid_f, bad, fields, seats))
            jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b, err_msg=f"{fields}={bad}"),
                         ann2[1:], ann[1:])
            np.testing.assert_array_equal(ann2[0].data.get("subgoal", 0), ann[0].data.get("subgoal", 0))


def _values_full_input(om, pparams, obs, base, fut):
    """Reference: every candidate's whole input through ``MultiPolicy.apply`` (all N seats,
    scripted seats' subgoal inputs zero), the learners' rows kept -> [T, H, B, L, N-1]."""
    pol, n, seats = dataclasses.replace(om.policy, extra_seats=()), om.n, np.array(om.seats)  # N extra rows
    t, b = base.shape[:2]
    ex = jnp.zeros((t, b, n, n - 1, base.shape[-1])).at[:, :, seats].set(base)
    reset = jnp.broadcast_to((jnp.arange(t) == 0)[:, None], (t, b))
    h = pol.initial_hidden((t, b))
    if pol.gru_size:
        _, h = jax.lax.scan(lambda hh, i: (pol.apply(pparams, hh, *i)[0], hh), pol.initial_hidden((b,)),
                            (obs, reset, ex.reshape(t, b, n, -1)))
    out = np.zeros((t, fut.shape[0], b, len(seats), n - 1))
    for k in range(fut.shape[0]):
        for r in range(n - 1):
            v = pol.apply(pparams, h, obs, reset, ex.at[:, :, seats, r].set(fut[k][:, :, :, r]).reshape(t, b, n, -1))[2]
            out[:, k, :, :, r] = np.asarray(v)[:, :, seats]
    return out


@pytest.mark.parametrize("kw", [{}, {"gru_size": 8}, {"shared_params": True, "agents": ("learner", "stag", "learner", "hare")},
                                {"hidden_sizes": ()}], ids=["mlp", "gru", "shared-2-learners", "no-hidden"])
def test_candidate_values_equal_whole_input_evaluation(kw):
    """OMG's selection values (first layer shared across candidates, learners only) equal the
    policy run on each candidate's whole input."""
    tr = Trainer(dataclasses.replace(OMG, **kw))
    om, rng = tr.om, np.random.default_rng(0)
    pparams = tr.policy.init(jax.random.PRNGKey(1))
    t, b, l, n, d, h = 5, 3, len(om.seats), om.n, om.spec.subgoal_dim, 3
    obs = jnp.asarray(rng.normal(size=(t, b, n, *om.obs_shape)), jnp.float32)
    base = jnp.asarray(rng.normal(size=(t, b, l, n - 1, d)), jnp.float32)
    fut = jnp.asarray(rng.normal(size=(h, t, b, l, n - 1, d)), jnp.float32)
    got = np.asarray(jax.jit(om.candidate_values)(pparams, obs, base, fut))
    np.testing.assert_allclose(got, _values_full_input(om, pparams, obs, base, fut), rtol=1e-5, atol=2e-6)


def test_epsilon_mixing_swaps_selected_subgoals():
    """eps_start 1 (epsilon 1 at update 0): annotate's policy input is the selected subgoal's
    prior mean wherever a subgoal is found on a valid pair, the inferred one elsewhere; eps_start
    0 (no selection in annotate): the inferred one everywhere. The accuracies do not depend on it."""
    from hopjax.buffers.layout import time_major

    cfg1 = dataclasses.replace(OMG, opponent_model=dataclasses.replace(
        OMG.opponent_model, omg=dataclasses.replace(OMG.opponent_model.omg, eps_start=1.0)))
    tr0, tr1 = Trainer(OMG), Trainer(cfg1)
    om = tr1.om
    params = om.init_params(jax.random.PRNGKey(0))
    pparams = tr1.policy.init(jax.random.PRNGKey(1))
    batch, _ = random_batch(tr1.rollout.scheme, np.random.default_rng(0), 8, tr1.policy.extra_seats)
    ann = [jax.jit(lambda b, o=t.om: o.annotate(params, pparams, b, jax.random.PRNGKey(2), jnp.int32(0)))(batch)
           for t in (tr0, tr1)]
    d = time_major(batch)
    T, n = om.T, om.n
    base = np.asarray(d["extra"][:T]).reshape(T, 8, len(om.seats), n - 1, -1)  # the learners' rows
    sel = jax.jit(om.select)(params, pparams, d, base)
    swap = np.asarray(sel["found"] & om._masks(d))
    assert 0.1 < swap.mean() < 1.0
    want = np.where(swap[..., None], sel["prior_mu"], base)
    # What PPO's epochs feed the policy: annotate's input, or the batch's when it gives None.
    got = [np.asarray(t.minibatch_data(batch, a[1], a[2]).extra).reshape(want.shape)
           for t, a in zip((tr0, tr1), ann)]
    assert ann[0][1] is None  # eps_start 0: annotate leaves the policy input to the batch
    np.testing.assert_array_equal(got[0], base)
    np.testing.assert_array_equal(got[1], want)
    assert not np.allclose(want, base)
    assert float(ann[1][3]["omg_epsilon"]) == 1.0 and float(ann[0][3]["omg_epsilon"]) == 0.0
    for k in ("omg_am_acc", "omg_goal_acc", "omg_am_baseline", "omg_goal_baseline"):
        assert ann[0][3][k] == ann[1][3][k], k


MOA_NO_INFLUENCE = dataclasses.replace(MOA, opponent_model=dataclasses.replace(
    MOA.opponent_model, moa=dataclasses.replace(MOA.opponent_model.moa, influence_coef=0.0)))


@pytest.mark.parametrize("full_cfg, section, keys", [
    (OMG, "omg", ("omg_am_acc", "omg_goal_acc", "omg_am_baseline", "omg_goal_baseline")),
    (MOA_NO_INFLUENCE, "moa", ("moa_acc", "moa_baseline")),
], ids=["omg", "moa"])
def test_diagnostics_read_the_first_episodes_only(full_cfg, section, keys):
    """<model>.diagnostic_episodes 3 on 8 fresh episodes: the accuracies are those of the first
    3 episodes alone (and differ from all 8's); the policy input still covers all 8 (OMG), and
    MOA without the influence reward gives no PPO input and no bonus."""
    om_cfg = full_cfg.opponent_model
    cfg = dataclasses.replace(full_cfg, opponent_model=dataclasses.replace(
        om_cfg, **{section: dataclasses.replace(getattr(om_cfg, section), diagnostic_episodes=3)}))
    tr, full = Trainer(cfg), Trainer(full_cfg)
    params = tr.om.init_params(jax.random.PRNGKey(0))
    pparams = tr.policy.init(jax.random.PRNGKey(1))
    batch, _ = random_batch(tr.rollout.scheme, np.random.default_rng(1), 8, tr.policy.extra_seats)

    def ann(t, b):
        return jax.jit(lambda x: t.om.annotate(params, pparams, x, jax.random.PRNGKey(2), jnp.int32(0)))(b)

    sub, first3, all8 = ann(tr, batch), ann(full, jax.tree.map(lambda x: x[:3], batch)), ann(full, batch)
    assert all(sub[3][k] == first3[3][k] for k in keys)
    assert any(sub[3][k] != all8[3][k] for k in keys)
    if section == "moa":
        assert sub[1] is None and sub[2] is None
    # the PPO input (annotate's, or the batch's when it gives None) still covers all 8 episodes
    np.testing.assert_array_equal(tr.minibatch_data(batch, sub[1], sub[2]).extra,
                                  full.minibatch_data(batch, all8[1], all8[2]).extra)


def test_learner_logits_equal_the_learner_rows_of_every_seat_logits():
    """MOA's influence reads the policy's logits for the learners only: the learners' networks
    alone give the same logits as every seat's unroll (independent parameters, scripted seats)."""
    from hopjax.buffers.layout import time_major

    tr = Trainer(dataclasses.replace(MOA, gru_size=8))
    om, pol = tr.om, tr.policy
    assert len(om.seats) < om.n and not pol.shared
    pparams = pol.init(jax.random.PRNGKey(1))
    batch, _ = random_batch(tr.rollout.scheme, np.random.default_rng(3), 8, pol.extra_seats)
    d = time_major(batch)
    T = om.T
    extra = d["extra"][:T] if pol.extra_dim else None
    got = jax.jit(om.learner_logits)(pparams, batch.data["hidden0"], d["obs"][:T], d["reset"][:T], extra)
    want, _ = pol.unroll(pparams, batch.data["hidden0"], d["obs"][:T], d["reset"][:T], extra)
    assert got.shape == (T, 8, len(om.seats), om.num_actions)
    np.testing.assert_allclose(np.asarray(got), np.asarray(om.of_seats(want, 2)), rtol=1e-5, atol=1e-6)

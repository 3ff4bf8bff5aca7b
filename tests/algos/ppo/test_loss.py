"""The PPO loss and update ignore padded entries; config validation names the key."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax.algos.ppo import PPOConfig
from hopjax.algos.ppo.config import PPOUpdateConfig
from hopjax.algos.ppo.loss import LossConfig, Minibatch, make_grad_step, make_optimizer, ppo_loss
from hopjax.config import ConfigError, load_config
from hopjax.models.policy import MultiPolicy

T, B, N, A, OBS = 6, 4, 3, 5, (2, 3)


def make_minibatch(rng, gru):
    mask = np.ones((T, B, N), bool)
    for b in range(B):
        for i in range(N):
            mask[rng.integers(1, T + 1):, b, i] = False  # tail padding: death or episode end
    avail = rng.random((T, B, N, A)) < 0.7
    avail[..., 0] = True
    actions = np.argmax(avail * rng.random((T, B, N, A)), -1)
    return {
        "hidden0": rng.normal(size=(B, N, max(gru, 1))).astype(np.float32),
        "obs": rng.normal(size=(T, B, N, *OBS)).astype(np.float32),
        "reset": np.zeros((T, B), bool),
        "avail": avail,
        "actions": actions.astype(np.int32),
        "log_prob": rng.normal(size=(T, B, N)).astype(np.float32) - 1.5,
        "value": rng.normal(size=(T, B, N)).astype(np.float32),
        "advantages": rng.normal(size=(T, B, N)).astype(np.float32),
        "returns": rng.normal(size=(T, B, N)).astype(np.float32),
        "mask": mask,
    }


def scribble(mb, rng):
    """Change every padded entry (and the actions' availability there) to garbage."""
    out = dict(mb)
    pad = ~mb["mask"]
    for k in ("log_prob", "value", "advantages", "returns"):
        out[k] = np.where(pad, rng.normal(size=mb[k].shape) * 1e3, mb[k]).astype(np.float32)
    out["obs"] = np.where(pad[..., None, None], 1e3, mb["obs"]).astype(np.float32)
    out["actions"] = np.where(pad, 0, mb["actions"]).astype(np.int32)
    return out


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("gru", [0, 8])
def test_loss_and_grads_ignore_padding(shared, gru):
    rng = np.random.default_rng(0)
    policy = MultiPolicy(N, OBS, A, (16,), gru, "tanh", shared)
    params = policy.init(jax.random.PRNGKey(1))
    lcfg = LossConfig(0.2, 0.5, 0.01, True)
    fn = jax.jit(jax.value_and_grad(lambda p, mb: ppo_loss(policy, lcfg, p, Minibatch(**mb)), has_aux=True))
    mb = make_minibatch(rng, gru)
    (loss, aux), grads = fn(params, mb)
    (loss2, aux2), grads2 = fn(params, scribble(mb, rng))
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, loss2, rtol=1e-6)
    for k in aux:
        np.testing.assert_allclose(aux[k], aux2[k], rtol=1e-5, atol=1e-7)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), grads, grads2)
    # and the loss does depend on valid entries
    mb3 = dict(mb, advantages=mb["advantages"] + mb["mask"] * 1.0 * (mb["actions"] % 2))
    (loss3, _), _ = fn(params, mb3)
    assert not np.isclose(loss, loss3)


def test_independent_update_equals_per_agent_updates():
    """Vmapped per-agent optimisation == optimising each agent's parameters on its own data."""
    rng = np.random.default_rng(3)
    cfg = PPOConfig(num_envs=4, ppo=PPOUpdateConfig(num_minibatches=1))
    policy = MultiPolicy(N, OBS, A, (16,), 0, "tanh", False)
    params = policy.init(jax.random.PRNGKey(2))
    opt = make_optimizer(cfg, 10)
    step = jax.jit(make_grad_step(policy, cfg, opt))
    mb = make_minibatch(rng, 0)
    new, _, _ = step(params, jax.vmap(opt.init)(params), Minibatch(**mb))

    single = dataclasses.replace(policy, num_agents=1)
    step1 = jax.jit(make_grad_step(single, cfg, opt))
    for i in range(N):
        p_i = jax.tree.map(lambda x: x[i : i + 1], params)
        mb_i = {k: (v[:, i : i + 1] if k == "hidden0" else v if k == "reset" else v[:, :, i : i + 1])
                for k, v in mb.items()}
        new_i, _, _ = step1(p_i, jax.vmap(opt.init)(p_i), Minibatch(**mb_i))
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b[0], rtol=1e-5, atol=1e-6), new, new_i)


def test_learner_seats_update_equals_all_seats_update():
    """With scripted seats (their entries all masked) the update computed for the learners only
    gives the learners the all-seats update's parameters and Adam state (up to float rounding:
    another batch size for the vmapped kernels), leaves the scripted seats' parameters and
    optimiser state untouched, and reports 0 for their aux entries."""
    rng = np.random.default_rng(4)
    cfg = PPOConfig(num_envs=4, ppo=PPOUpdateConfig(num_minibatches=1))
    policy = MultiPolicy(N, OBS, A, (16,), 0, "tanh", False)
    params = policy.init(jax.random.PRNGKey(5))
    opt = make_optimizer(cfg, 10)
    mb = make_minibatch(rng, 0)
    learners = (0, 2)
    mb["mask"][:, :, 1] = False  # seat 1 is scripted: none of its entries is a learner's
    state = jax.vmap(opt.init)(params)
    state = jax.tree.map(lambda x: x + 3 if x.dtype == jnp.int32 else x + 0.25, state)  # not all-zero
    new_all, opt_all, aux_all = jax.jit(make_grad_step(policy, cfg, opt))(params, state, Minibatch(**mb))
    step = jax.jit(make_grad_step(policy, cfg, opt, learners))
    new, opt_new, aux = step(params, state, Minibatch(**mb))
    # the learners' data selected beforehand (as the trainer does once per update): the same step
    pre = step(params, state, Minibatch(**mb).seats(learners))
    for a, b in zip(jax.tree.leaves(pre), jax.tree.leaves((new, opt_new, aux))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for got, want, before in ((new, new_all, params), (opt_new, opt_all, state)):
        for g, w, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), jax.tree.leaves(before)):
            np.testing.assert_allclose(np.asarray(g)[list(learners)], np.asarray(w)[list(learners)],
                                       rtol=1e-5, atol=1e-7)
            np.testing.assert_array_equal(np.asarray(g)[1], np.asarray(b)[1])  # scripted seat untouched
    moved = [np.abs(np.asarray(a) - np.asarray(b))[list(learners)].max() for a, b in
             zip(jax.tree.leaves(new), jax.tree.leaves(params))]
    assert max(moved) > 1e-6  # the learners did update (Adam steps of about lr)
    for k in aux:
        np.testing.assert_allclose(np.asarray(aux[k])[list(learners)], np.asarray(aux_all[k])[list(learners)],
                                   rtol=1e-5, atol=1e-7, err_msg=k)
        assert np.asarray(aux[k])[1] == 0 == np.asarray(aux_all[k])[1], k


@pytest.mark.parametrize(
    "bad, key",
    [
        (["num_envs=0"], "num_envs"),
        (["num_envs=6", "ppo.num_minibatches=4"], "ppo.num_minibatches"),
        (["ppo.gamma=1.5"], "ppo.gamma"),
        (["activation=swish"], "activation"),
        (["ppo.lr=-1.0"], "ppo.lr"),
    ],
)
def test_config_validation_names_key(bad, key):
    with pytest.raises(ConfigError, match=key):
        load_config(PPOConfig, None, bad)


FLOAT_FIELDS = ("obs", "log_prob", "value", "advantages", "returns", "extra")


def plant(mb, field, bad, rng):
    """Bad values in the masked entries of one field ("all": every field; ints and bools get
    out-of-range actions and no available action, as a dead agent's entries may hold)."""
    out = dict(mb)
    pad = ~mb["mask"]
    for k in FLOAT_FIELDS if field == "all" else (field,):
        if k in FLOAT_FIELDS:
            p = pad.reshape(pad.shape + (1,) * (mb[k].ndim - pad.ndim))
            out[k] = np.where(p, np.float32(bad), mb[k]).astype(np.float32)
    if field in ("all", "actions"):
        out["actions"] = np.where(pad, A + 3, mb["actions"]).astype(np.int32)
    if field in ("all", "avail"):
        out["avail"] = np.where(pad[..., None], False, mb["avail"])
    return out


@pytest.mark.parametrize("shared, gru", [(False, 8), (True, 0)])
def test_nan_and_inf_in_masked_entries_change_neither_loss_nor_gradients(shared, gru):
    rng = np.random.default_rng(5)
    policy = MultiPolicy(N, OBS, A, (16,), gru, "tanh", shared, extra_dim=2)
    params = policy.init(jax.random.PRNGKey(1))
    lcfg = LossConfig(0.2, 0.5, 0.01, True)
    fn = jax.jit(jax.value_and_grad(lambda p, mb: ppo_loss(policy, lcfg, p, Minibatch(**mb)), has_aux=True))
    mb = make_minibatch(rng, gru)
    mb["extra"] = rng.normal(size=(T, B, N, 2)).astype(np.float32)
    clean = plant(mb, "all", 0.0, rng)  # the reference: padding replaced by zeros
    (loss, aux), grads = fn(params, clean)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
    (loss_g, _), grads_g = fn(params, scribble(clean, rng))  # other finite garbage
    np.testing.assert_allclose(loss_g, loss, rtol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), grads_g, grads)
    for field in (*FLOAT_FIELDS, "actions", "avail", "all"):
        for bad in (np.nan, np.inf, -np.inf):
            (loss2, aux2), grads2 = fn(params, plant(clean, field, bad, rng))
            msg = f"{field}={bad}"
            np.testing.assert_array_equal(loss2, loss, err_msg=msg)
            for k in aux:
                np.testing.assert_array_equal(aux2[k], aux[k], err_msg=f"{msg} {k}")
            jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b, err_msg=msg), grads2, grads)

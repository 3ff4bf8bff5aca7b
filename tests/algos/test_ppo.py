"""The PPO loss and update ignore padded entries; config validation names the key."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax.algos.ppo import LossConfig, PPOConfig, make_grad_step, make_optimizer, ppo_loss
from hopjax.config import ConfigError
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
    fn = jax.jit(jax.value_and_grad(lambda p, mb: ppo_loss(policy, lcfg, p, mb), has_aux=True))
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
    cfg = PPOConfig(num_envs=4, num_minibatches=1)
    policy = MultiPolicy(N, OBS, A, (16,), 0, "tanh", False)
    params = policy.init(jax.random.PRNGKey(2))
    opt = make_optimizer(cfg, 10)
    step = jax.jit(make_grad_step(policy, cfg, opt))
    mb = make_minibatch(rng, 0)
    new, _, _ = step(params, jax.vmap(opt.init)(params), mb)

    single = dataclasses.replace(policy, num_agents=1)
    step1 = jax.jit(make_grad_step(single, cfg, opt))
    for i in range(N):
        p_i = jax.tree.map(lambda x: x[i : i + 1], params)
        mb_i = {k: (v[:, i : i + 1] if k == "hidden0" else v if k == "reset" else v[:, :, i : i + 1])
                for k, v in mb.items()}
        new_i, _, _ = step1(p_i, jax.vmap(opt.init)(p_i), mb_i)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b[0], rtol=1e-5, atol=1e-6), new, new_i)


@pytest.mark.parametrize(
    "bad, key",
    [
        ({"num_envs": 0}, "num_envs"),
        ({"num_envs": 6, "num_minibatches": 4}, "num_minibatches"),
        ({"gamma": 1.5}, "gamma"),
        ({"activation": "swish"}, "activation"),
        ({"lr": -1.0}, "lr"),
    ],
)
def test_config_validation_names_key(bad, key):
    with pytest.raises(ConfigError, match=key):
        PPOConfig(**bad).validate()

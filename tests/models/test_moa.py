"""MOA against NumPy references: next-action targets and masks with padding, masked loss,
counterfactual social influence, and online stepping == the training-time unroll."""

import jax
import jax.numpy as jnp
import numpy as np

from hopjax.models import moa

N, A, S, GRU = 3, 4, 5, 8
SPEC = moa.MOASpec(num_agents=N, obs_dim=S, num_actions=A, hidden=16, gru=GRU)
INIT = jax.jit(moa.init_moa, static_argnums=0)


def random_episodes(rng, t=6, b=4):
    obs = rng.normal(size=(t, b, N, S)).astype(np.float32)
    actions = rng.integers(0, A, (t, b, N)).astype(np.int32)
    length = rng.integers(2, t + 1, b)
    death = rng.integers(1, t + 1, (b, N))
    steps = np.arange(t)[:, None, None]
    valid = (steps < length[None, :, None]) & (steps < death[None])
    return obs, actions, valid, length


def test_targets_and_loss_equal_numpy_with_padding():
    rng = np.random.default_rng(0)
    obs, actions, valid, length = random_episodes(rng)
    t, b = actions.shape[:2]
    params = INIT(SPEC, jax.random.PRNGKey(1))

    @jax.jit
    def loss_and_grad(o, a):
        tg, m = moa.moa_targets(a, jnp.asarray(valid), N)
        f = lambda p: moa.moa_loss(moa.unroll_moa(SPEC, p, o, a)[1], tg, m)
        (loss, acc), g = jax.value_and_grad(f, has_aux=True)(params)
        return loss, acc, g, tg, m, moa.unroll_moa(SPEC, params, o, a)[1]

    loss, acc, g1, targets, mask, logits = loss_and_grad(obs, actions)
    logits = np.asarray(logits, np.float64)
    nll, hit = [], []
    for s in range(t - 1):
        for e in range(b):
            for i in range(N):
                for r in range(1, N):
                    j = (i + r) % N
                    if not (valid[s, e, i] and valid[s + 1, e, j]):
                        assert not mask[s, e, i, r - 1]
                        continue
                    assert mask[s, e, i, r - 1] and targets[s, e, i, r - 1] == actions[s + 1, e, j]
                    lg = logits[s, e, i, r - 1]
                    lp = lg - np.log(np.exp(lg).sum())
                    nll.append(-lp[actions[s + 1, e, j]])
                    hit.append(np.argmax(lg) == actions[s + 1, e, j])
    assert not np.asarray(mask)[t - 1].any()  # no target past the last step
    np.testing.assert_allclose(float(loss), np.mean(nll), rtol=1e-5)
    np.testing.assert_allclose(float(acc), np.mean(hit), rtol=1e-6)
    # padding after each episode's end (garbage observations and actions) changes neither the
    # loss nor its gradient: MOA is causal and no target lies in the padding
    ended = np.arange(t)[:, None] >= length[None]  # [T, B]
    obs2 = np.where(ended[..., None, None], 1e3, obs).astype(np.float32)
    act2 = np.where(ended[..., None], (actions + 1) % A, actions).astype(np.int32)
    l2, _, g2, _, _, _ = loss_and_grad(obs2, act2)
    np.testing.assert_allclose(loss, l2, rtol=1e-6)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7), g1, g2)


def test_social_influence_equals_numpy():
    rng = np.random.default_rng(1)
    b = 5
    params = INIT(SPEC, jax.random.PRNGKey(2))
    h = jnp.asarray(rng.normal(size=(b, N, GRU)), jnp.float32)
    obs = jnp.asarray(rng.normal(size=(b, N, S)), jnp.float32)
    actions = jnp.asarray(rng.integers(0, A, (b, N)), jnp.int32)
    probs = rng.dirichlet(np.ones(A), (b, N)).astype(np.float32)
    mask = rng.random((b, N, N - 1)) < 0.7
    got = np.asarray(jax.jit(moa.social_influence, static_argnums=0)(
        SPEC, params, h, obs, actions, jnp.asarray(probs), jnp.asarray(mask)))
    net = moa.MOANet(SPEC)
    # counterfactual predictions, one network call per own action
    predict = jax.jit(lambda own: jax.nn.softmax(net.apply(params, h, obs, actions, own)[1]))
    cf = np.stack([np.asarray(predict(jnp.full((b, N), c))) for c in range(A)])  # [A, b, N, N-1, A]
    ref = np.zeros((b, N))
    for e in range(b):
        for i in range(N):
            for r in range(N - 1):
                if not mask[e, i, r]:
                    continue
                p = cf[actions[e, i], e, i, r].astype(np.float64)
                marg = sum(probs[e, i, c] * cf[c, e, i, r] for c in range(A))
                ref[e, i] += np.sum(p * (np.log(p) - np.log(marg)))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)
    assert (got >= -1e-6).all()


def test_online_steps_equal_the_unroll():
    rng = np.random.default_rng(2)
    obs, actions, _, _ = random_episodes(rng)
    params = INIT(SPEC, jax.random.PRNGKey(3))
    _, logits = jax.jit(moa.unroll_moa, static_argnums=0)(SPEC, params, obs, actions)
    step = jax.jit(moa.MOANet(SPEC).apply)
    h = jnp.zeros((obs.shape[1], N, GRU))
    for s in range(obs.shape[0]):
        h, lg = step(params, h, obs[s], actions[s])
        np.testing.assert_allclose(lg, logits[s], rtol=1e-5, atol=1e-6)


def test_social_influence_ignores_bad_inputs_of_focal_agents_without_targets():
    rng = np.random.default_rng(4)
    b = 5
    params = INIT(SPEC, jax.random.PRNGKey(2))
    h = rng.normal(size=(b, N, GRU)).astype(np.float32)
    obs = rng.normal(size=(b, N, S)).astype(np.float32)
    actions = jnp.asarray(rng.integers(0, A, (b, N)), jnp.int32)
    probs = rng.dirichlet(np.ones(A), (b, N)).astype(np.float32)
    mask = rng.random((b, N, N - 1)) < 0.5
    mask[0, 0] = False  # focal rows without any co-player acting next
    mask[2, 1] = False
    dead = ~mask.any(-1)
    infl = jax.jit(moa.social_influence, static_argnums=0)
    ref = np.asarray(infl(SPEC, params, *(np.where(dead[..., None], 0.0, x).astype(np.float32)
                                          for x in (h, obs)), actions,
                          np.where(dead[..., None], 0.0, probs).astype(np.float32), jnp.asarray(mask)))
    assert np.all(ref[dead] == 0) and np.all(np.isfinite(ref))
    for bad in (np.nan, np.inf, -np.inf):
        h2, o2, p2 = (np.where(dead[..., None], bad, x).astype(np.float32) for x in (h, obs, probs))
        got = np.asarray(infl(SPEC, params, h2, o2, actions, p2, jnp.asarray(mask)))
        np.testing.assert_array_equal(got, ref, err_msg=str(bad))


def test_shared_counterfactual_step_equals_the_network_with_the_own_action_replaced():
    """The influence's counterfactual logits (products shared across own actions) equal
    MOANet's step with the focal agent's own action replaced by each action in turn, and the
    actual logits its step on the joint action, including a focal agent with no action (-1);
    for focal seats (0, 2) of 3."""
    rng = np.random.default_rng(7)
    params = INIT(SPEC, jax.random.PRNGKey(2))
    seats = (0, 2)
    net = moa.MOANet(SPEC, seats)
    h = jnp.asarray(rng.normal(size=(6, 2, GRU)), jnp.float32)
    obs = jnp.asarray(rng.normal(size=(6, 2, S)), jnp.float32)
    actions = jnp.asarray(rng.integers(0, A, (6, N)), jnp.int32).at[0, 0].set(-1)
    actual, cf = jax.jit(moa._counterfactual_logits, static_argnums=(0, 5))(SPEC, params, h, obs, actions, seats)
    assert actual.shape == (6, 2, N - 1, A) and cf.shape == (A, 6, 2, N - 1, A)
    np.testing.assert_allclose(np.asarray(actual), np.asarray(net.apply(params, h, obs, actions)[1]),
                               rtol=1e-5, atol=1e-6)
    for c in range(A):
        want = net.apply(params, h, obs, actions, jnp.full((6, 2), c, jnp.int32))[1]
        np.testing.assert_allclose(np.asarray(cf[c]), np.asarray(want), rtol=1e-5, atol=1e-6)

"""HOP's training losses and replayed beliefs: NaN/inf in padded or dead agents' entries
(observations, search policies, returns-to-go, goal labels, available actions) changes neither
the losses, their gradients, nor the beliefs; the losses equal a NumPy computation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax import envs
from hopjax.algos.hop import losses, trainer
from hopjax.buffers.episode import EpisodeBatch
from hopjax.models.goal_policy import GoalPolicy, PlannerNet, goal_kinds

E = 6
ENV, PARAMS = envs.make("stag_hunt", height=4, width=4, num_walls=0, max_steps=6)
SCHEME = trainer.hop_scheme(ENV, PARAMS, ENV.episode_length(PARAMS))
OBS = tuple(ENV.observation_shape(PARAMS))
A, G, N = ENV.num_actions(PARAMS), ENV.num_goals(PARAMS), ENV.num_agents(PARAMS)
GOAL = GoalPolicy(OBS, A, goal_kinds(ENV.goal_names(PARAMS)), (16,))
PLAN = PlannerNet(OBS, A, (16,))
HOP_MASK = jnp.arange(N) % 2 == 0


def random_batch(rng):
    t1 = SCHEME.max_seq_length + 1
    filled = np.arange(t1)[None] < rng.integers(2, t1 + 1, E)[:, None]
    alive = np.arange(t1)[None, :, None] < rng.integers(1, t1 + 1, (E, 1, N))
    v = filled[..., None] & alive
    avail = rng.random((E, t1, N, A)) < 0.7
    avail[..., 0] = True
    data = {
        "obs": rng.normal(size=(E, t1, N, *OBS)),
        "avail_actions": avail,
        "actions": np.argmax(avail * rng.random(avail.shape), -1),
        "reward": rng.normal(size=(E, t1, N)),
        "goal": rng.integers(-1, G, (E, t1, N)),
        "policy": rng.dirichlet(np.ones(A), (E, t1, N)),
        "goal_label": rng.integers(-1, G, (E, t1, N)),
        "return_to_go": rng.normal(size=(E, t1, N)),
    }
    data = {k: np.where(v.reshape(v.shape + (1,) * (x.ndim - 3)), x, 0).astype(SCHEME.field(k).dtype)
            for k, x in data.items()}
    data["goal_pos"] = rng.integers(0, OBS[0], (E, t1, G, 2)).astype(np.int32)  # no agent axis
    return EpisodeBatch({k: jnp.asarray(x) for k, x in data.items()}, jnp.asarray(filled),
                        jnp.asarray(alive), SCHEME), v


def plant(batch, v, field, bad):
    data = dict(batch.data)
    garbage = {"obs": bad, "policy": bad, "return_to_go": bad, "reward": bad,
               "goal_label": G + 7, "actions": A + 3, "avail_actions": False, "goal": G + 7}
    for k in garbage if field == "all" else (field,):
        x = np.asarray(data[k])
        data[k] = jnp.asarray(np.where(v.reshape(v.shape + (1,) * (x.ndim - 3)), x, garbage[k]), x.dtype)
    return batch.replace(data=data)


def loss(params, batch):
    lg, ag = losses.goal_loss(GOAL, params["goal"], batch)
    lp, ap = losses.planner_loss(PLAN, params["planner"], batch, HOP_MASK)
    return lg + lp, {**ag, **ap}


def test_losses_and_beliefs_ignore_bad_padding():
    rng = np.random.default_rng(0)
    params = {"goal": GOAL.init(jax.random.PRNGKey(0)), "planner": PLAN.init(jax.random.PRNGKey(1))}
    prior = jnp.asarray(rng.dirichlet(np.ones(G + 1), (E, N)), jnp.float32)
    fn = jax.jit(jax.value_and_grad(loss, has_aux=True))
    beliefs = jax.jit(lambda b: losses.replay_beliefs(GOAL, params["goal"], b, prior))
    batch, v = random_batch(rng)
    (l, aux), g = fn(params, batch)
    lb = beliefs(batch)
    assert np.isfinite(l) and all(np.isfinite(x).all() for x in jax.tree.leaves(g))
    assert not np.isnan(np.asarray(lb)).any()
    for field in ("obs", "policy", "return_to_go", "reward", "goal_label", "actions", "avail_actions",
                  "goal", "all"):
        for bad in (np.nan, np.inf, -np.inf):
            dirty = plant(batch, v, field, bad)
            (l2, aux2), g2 = fn(params, dirty)
            msg = f"{field}={bad}"
            np.testing.assert_array_equal(l2, l, err_msg=msg)
            jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b, err_msg=msg), (aux2, g2), (aux, g))
            np.testing.assert_array_equal(beliefs(dirty), lb, err_msg=msg)
    # NumPy reference of the planner loss: (CE to the search policy + squared error) / 2
    T = SCHEME.max_seq_length
    logits, value = PLAN.apply(params["planner"], batch["obs"][:, :T], batch["avail_actions"][:, :T])
    logits, value = np.asarray(logits, np.float64), np.asarray(value, np.float64)
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    m = v[:, :T] & np.asarray(HOP_MASK)
    ce = -(np.asarray(batch["policy"][:, :T]) * logp).sum(-1)[m].mean()
    se = ((value - np.asarray(batch["return_to_go"][:, :T])) ** 2)[m].mean()
    np.testing.assert_allclose(float(aux["policy_loss"]), ce, rtol=1e-5)
    np.testing.assert_allclose(float(aux["value_loss"]), se, rtol=1e-5)

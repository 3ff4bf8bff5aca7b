"""Goals by location (issue 14, item 1): the goal-conditioned co-player model, trained here on
scripted walkers, identifies *which* hare a co-player walks to among four on one shared
channel; a co-player without a target keeps "no target" highest; removed targets get belief 0;
the one-pass likelihood under all goals equals per-goal forward passes.

The model is trained in a module-scoped fixture on a 5x5 grid (300 Adam steps of 256 samples
from 4,096 scripted episodes, about 20 s on a CPU): seat 0 walks to a uniformly drawn target (any stag or
hare, Manhattan moves with random tie-breaks: the scripted chaser's rule), the other seats make
random non-interact moves; the label of every step is the walker's target index, its cell is
read from the state of that step.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hopjax import envs
from hopjax.algos.hop import beliefs as bl
from hopjax.envs import scripted, stag_hunt
from hopjax.models.goal_policy import GoalPolicy, goal_kinds

ENV, PARAMS = envs.make("stag_hunt", height=5, width=5, num_walls=0, max_steps=10)
N, A, G = ENV.num_agents(PARAMS), ENV.num_actions(PARAMS), ENV.num_goals(PARAMS)
S = PARAMS.num_stags
NONE = G
KINDS = goal_kinds(ENV.goal_names(PARAMS))
OBS = tuple(ENV.observation_shape(PARAMS))
CORNERS = np.array([[0, 0], [0, 4], [4, 0], [4, 4]], np.int32)


def walker(key, state, target):
    """Seat 0 walks to goal ``target`` (int [], G = no target: random non-interact moves);
    seats 1.. make random non-interact moves. -> actions [N] int32."""
    avail = ENV.avail_actions(state, PARAMS)
    k_w, k_o = jax.random.split(key)
    pos = ENV.goal_positions(state, PARAMS)
    interact = jnp.where(target < S, stag_hunt.HUNT_STAG, stag_hunt.HUNT_HARE)
    t = jnp.minimum(target, G - 1)
    a0 = scripted._chase(k_w, avail[0], state.positions[0], pos[t][None], (target < G)[None], interact)
    u = jax.random.uniform(k_o, (N, A))
    others = jnp.argmax(jnp.where(avail.at[:, 5:].set(False), u, -1.0), -1).astype(jnp.int32)
    return others.at[0].set(a0)


def rollout(key, state, target, steps):
    """-> per step: obs [T, N, *OBS], avail [T, N, A], actions [T, N], goal cells [T, G, 2],
    walker alive before the step [T], goals present after the step [T, G]."""

    def step(st, k):
        k_a, k_e = jax.random.split(k)
        obs, avail = ENV.get_obs(st, PARAMS), ENV.avail_actions(st, PARAMS)
        act = walker(k_a, st, target)
        _, st2, _, _, _ = ENV.step(k_e, st, act, PARAMS)
        out = (obs, avail, act, ENV.goal_positions(st, PARAMS), ENV.alive(st, PARAMS)[0],
               ENV.goals_present(st2, PARAMS))
        return st2, out

    return jax.lax.scan(step, state, jax.random.split(key, steps))[1]


@functools.partial(jax.jit, static_argnums=(1, 2))
def scripted_data(key, num, steps):
    k_r, k_t, k_p = jax.random.split(key, 3)
    _, states = jax.vmap(ENV.reset, in_axes=(0, None))(jax.random.split(k_r, num), PARAMS)
    targets = jax.random.randint(k_t, (num,), 0, G)
    obs, avail, act, pos, alive, _ = jax.vmap(rollout, in_axes=(0, 0, 0, None))(
        jax.random.split(k_p, num), states, targets, steps)
    return targets, (obs[:, :, 0], avail[:, :, 0], act[:, :, 0], pos, alive)  # the walker's view


@pytest.fixture(scope="module")
def trained():
    gp = GoalPolicy(OBS, A, KINDS, (128, 128))
    params = gp.init(jax.random.PRNGKey(0))
    targets, (obs, avail, act, pos, alive) = scripted_data(jax.random.PRNGKey(1), 4096, 8)
    label = jnp.broadcast_to(targets[:, None], act.shape)
    opt = optax.adam(3e-3)

    def loss(p, idx):
        lp = gp.log_probs(p, obs[idx], avail[idx], label[idx], pos[idx])
        lp = jnp.take_along_axis(lp, act[idx][..., None], -1)[..., 0]
        m = alive[idx]
        return -jnp.sum(jnp.where(m, lp, 0.0)) / jnp.maximum(m.sum(), 1)

    @jax.jit
    def train(p, key):
        def sgd(c, k):
            p, s = c
            g = jax.grad(loss)(p, jax.random.choice(k, obs.shape[0], (256,), replace=False))
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(sgd, (p, opt.init(p)), jax.random.split(key, 300))[0][0]

    return gp, train(params, jax.random.PRNGKey(2))


def corner_states(key, num):
    """Walker at the centre, the four hares on the corners in random index order, the stag at
    (0, 2), the other players anywhere (reset). -> states [num, ...]."""
    k_r, k_p = jax.random.split(key)
    _, st = jax.vmap(ENV.reset, in_axes=(0, None))(jax.random.split(k_r, num), PARAMS)
    perm = jax.vmap(lambda k: jax.random.permutation(k, 4))(jax.random.split(k_p, num))
    return st.replace(
        positions=st.positions.at[:, 0].set(jnp.array([2, 2], jnp.int32)),
        hare_pos=jnp.asarray(CORNERS)[perm],
        stag_pos=jnp.broadcast_to(jnp.array([[0, 2]], jnp.int32), st.stag_pos.shape),
    )


@functools.partial(jax.jit, static_argnums=(0, 4))
def walker_beliefs(gp, params, key, targets, steps):
    """Intra-OM beliefs about seat 0 along scripted episodes from :func:`corner_states`
    (the runner's update: likelihood under all located goals, Bayes over present goals).
    -> log-beliefs after each step [B, T, G+1], walker alive before each step [B, T]."""
    k_s, k_r = jax.random.split(key)
    states = corner_states(k_s, targets.shape[0])
    obs, avail, act, pos, alive, present = jax.vmap(rollout, in_axes=(0, 0, 0, None))(
        jax.random.split(k_r, targets.shape[0]), states, targets, steps)
    logp = gp.log_probs_all_goals(params, obs[:, :, 0], avail[:, :, 0], pos)  # [B, T, G+1, A]
    lik = jnp.take_along_axis(logp, act[:, :, 0, None, None], -1)[..., 0]
    prior = jnp.full((targets.shape[0], G + 1), 1.0 / (G + 1))
    b0 = bl.initial_beliefs(prior, jnp.ones_like(prior, bool))

    def step(b, x):
        ll, pres, acted = x
        b = bl.intra_update(b, ll, bl.with_none(pres), acted, prior)
        return b, b

    xs = (jnp.swapaxes(lik, 0, 1), jnp.swapaxes(present, 0, 1), jnp.swapaxes(alive, 0, 1))
    return jnp.swapaxes(jax.lax.scan(step, b0, xs)[1], 0, 1), alive


def test_walker_to_a_hare_is_identified_before_it_arrives(trained):
    gp, params = trained
    num = 64
    targets = S + jax.random.randint(jax.random.PRNGKey(3), (num,), 0, 4)  # a hare index
    log_b, _ = walker_beliefs(gp, params, jax.random.PRNGKey(4), targets, 6)
    # From the centre a corner is 4 moves away: after 3 moves the walker is one cell short.
    mass = np.asarray(bl.mass_on(log_b[:, 2], targets))
    frac = float(np.mean(mass >= 0.8))
    print(f"\nbelief on the walker's hare one cell before arrival: median {np.median(mass):.3f}, "
          f">= 0.8 in {frac:.2f} of {num} episodes (chance 1/{G + 1})")
    assert frac >= 0.75
    # After the hunt (step 5) the hare is removed: exactly 0 belief on it, the rest sums to 1.
    after = np.exp(np.asarray(log_b[:, 4]))
    hunted = ~np.asarray(jax.vmap(lambda b, t: jnp.isfinite(b[t]))(log_b[:, 4], targets))
    assert hunted.mean() > 0.9  # the walker did hunt in nearly every episode
    np.testing.assert_array_equal(after[hunted, np.asarray(targets)[hunted]], 0.0)


def test_walker_without_target_keeps_no_target_highest(trained):
    gp, params = trained
    num = 64
    log_b, _ = walker_beliefs(gp, params, jax.random.PRNGKey(5), jnp.full((num,), NONE, jnp.int32), 6)
    top = np.asarray(jnp.argmax(log_b[:, -1], -1))
    frac = float(np.mean(top == NONE))
    print(f"\n'no target' highest after 6 random moves in {frac:.2f} of {num} episodes")
    assert frac >= 0.75


def test_all_goals_pass_equals_per_goal_passes():
    rng = np.random.default_rng(0)
    for conv in ((), (4, 3)):
        gp = GoalPolicy(OBS, A, KINDS, (16, 8), conv_channels=conv)
        params = gp.init(jax.random.PRNGKey(1))
        obs = jnp.asarray(rng.random((3, 2, *OBS)), jnp.float32)
        avail = jnp.asarray(rng.random((3, 2, A)) < 0.7).at[..., 4].set(True)
        pos = jnp.asarray(rng.integers(0, 5, (3, 1, G, 2)), jnp.int32)  # shared by the 2 seats
        every = gp.log_probs_all_goals(params, obs, avail, pos)
        assert every.shape == (3, 2, G + 1, A)
        per_goal = jax.jit(jax.vmap(lambda g: gp.log_probs(params, obs, avail, jnp.full((3, 2), g), pos)))
        one = np.moveaxis(np.asarray(per_goal(jnp.arange(G + 1))), 0, 2)  # G+1 separate passes
        np.testing.assert_allclose(np.asarray(every), one, rtol=1e-5, atol=1e-6)
        # The location matters: moving one hare changes its row (only its row).
        moved = gp.log_probs_all_goals(params, obs, avail, pos.at[..., S, :].set(jnp.array([4, 4]) - pos[..., S, :]))
        changed = np.any(np.abs(np.asarray(moved - every)) > 1e-6, axis=(0, 1, 3))
        assert changed[S] and not changed[np.arange(G + 1) != S].any()

"""The planner's sparse first layers inside the tree (``seat_obs_sparse``, walls once per search)
equal its dense path up to float rounding: the co-players' likelihoods and the focal net per
node, and a whole small search's Q."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax import envs
from hopjax.algos.hop.planner import Planner, SearchConfig
from hopjax.models.goal_policy import GoalPolicy, PlannerNet, goal_kinds


@pytest.fixture(scope="module")
def setup():
    env, p = envs.make("stag_hunt", height=5, width=5, num_walls=2, max_steps=8)
    gp = GoalPolicy(env.observation_shape(p), env.num_actions(p), goal_kinds(env.goal_names(p)), (32, 32))
    pn = PlannerNet(env.observation_shape(p), env.num_actions(p), (32, 32))
    params = {"goal": gp.init(jax.random.PRNGKey(0)), "planner": pn.init(jax.random.PRNGKey(1))}
    keys = jax.random.split(jax.random.PRNGKey(2), 6)
    _, states = jax.vmap(env.reset, in_axes=(0, None))(keys, p)
    states = states.replace(alive=states.alive.at[::2, 1].set(False), t=jnp.arange(6) % 8)  # dead seats
    assert int(jnp.sum(states.walls)) > 0
    return env, p, gp, pn, params, states


def test_node_evaluations_match_dense(setup):
    env, p, gp, pn, params, states = setup
    planner = Planner(env, p, gp, pn, SearchConfig(num_simulations=4, num_trees=1))
    assert planner.sparse_goal and planner.sparse_planner
    tables = planner.sparse_tables(params)
    consts = planner.const_offsets(tables, states)
    assert set(consts) == {"goal", "planner"} and consts["goal"].shape == (6, 32)
    goals = jnp.asarray([0, 5, 2, 4])

    def evals(s, c_goal, c_plan, focal):  # (dense, sparse) x (co-players' log-probs, logits, value)
        avail = env.avail_actions(s, p)
        return ((planner.co_player_log_probs(params["goal"], s, avail, goals, focal),
                 *planner.focal_net(params["planner"], s, focal, avail[focal])),
                (planner.co_player_log_probs(params["goal"], s, avail, goals, focal, tables["goal"], c_goal),
                 *planner.focal_net(params["planner"], s, focal, avail[focal], tables["planner"], c_plan)))

    run = jax.jit(jax.vmap(evals, in_axes=(0, 0, 0, None)))
    for focal in (0, 1, 3):  # seat 1 is dead in even envs: its observation is zeros, walls too
        dense, sparse = run(states, consts["goal"], consts["planner"], jnp.int32(focal))
        for d, s_ in zip(dense, sparse):
            np.testing.assert_allclose(np.asarray(s_), np.asarray(d), rtol=1e-5, atol=1e-6)


def test_search_matches_dense(setup):
    env, p, gp, pn, params, states = setup
    out = {}
    for sparse in (False, True):
        planner = Planner(env, p, gp, pn, SearchConfig(num_simulations=12, num_trees=2))
        planner.sparse_goal = planner.sparse_planner = sparse
        log_b = jnp.zeros((6, env.num_agents(p), env.num_goals(p) + 1))
        out[sparse] = jax.jit(planner.plan, static_argnums=4)(jax.random.PRNGKey(3), params, states, log_b, (0, 2))
    np.testing.assert_allclose(np.asarray(out[True].q), np.asarray(out[False].q), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(out[True].visits), np.asarray(out[False].visits))

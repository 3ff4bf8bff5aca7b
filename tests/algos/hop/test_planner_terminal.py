"""The search stops at expanded terminal nodes (``planner._search``) and keeps every statistic of
every node not below a terminal equal to mctx's own search, so the root's visits and Q; and the
planner's decisions equal plain mctx's on a tiny grid near the episode's end."""


import jax
import jax.numpy as jnp
import mctx
import numpy as np
import pytest

from hopjax.algos.hop import planner as planner_mod
from hopjax.algos.hop import search_rng
from hopjax.algos.hop.planner import _mctx_patches

B, A = 6, 4


def _recurrent_fn(params, key, action, emb):
    """A random absorbing toy model: the embedding is (steps taken [B], done [B]); a step ends the
    episode after 3 steps or with probability 0.3; below a done node reward, discount and value
    are 0 (as the planner's ``_expand_one``)."""
    count, done = emb
    k1, k2, k3 = jax.random.split(search_rng.raw(key), 3)
    count2 = count + 1
    done2 = done | (count2 >= 3) | (jax.random.uniform(k3, (B,)) < 0.3)
    reward = jnp.where(done, 0.0, jax.random.normal(k1, (B,)) + action)
    out = mctx.RecurrentFnOutput(reward=reward, discount=jnp.where(done2, 0.0, 0.9),
                                 prior_logits=jax.random.normal(k2, (B, A)),
                                 value=jnp.where(done2, 0.0, 0.1 * count2))
    return out, (count2, done2)


def _tree(stop: bool, max_depth: int) -> mctx.Tree:
    root = mctx.RootFnOutput(prior_logits=jnp.zeros((B, A)), value=jnp.arange(B, dtype=jnp.float32),
                             embedding=(jnp.zeros((B,), jnp.int32), jnp.zeros((B,), bool)))

    def run(key):
        return mctx.muzero_policy(None, search_rng.wrap(key), root, _recurrent_fn, 60, max_depth=max_depth,
                                  invalid_actions=jnp.zeros((B, A), bool).at[0, 1].set(True)).search_tree

    with _mctx_patches((lambda emb: emb[1]) if stop else None):
        return jax.jit(run)(jax.random.PRNGKey(7))


@pytest.mark.parametrize("max_depth", [3, 12])
def test_stop_at_terminal_keeps_the_tree_above_terminals(max_depth):
    ref, got = jax.device_get(_tree(False, max_depth)), jax.device_get(_tree(True, max_depth))
    # The root: visits, values, Q exactly.
    np.testing.assert_array_equal(got.children_visits[:, 0], ref.children_visits[:, 0])
    np.testing.assert_array_equal(got.node_visits[:, 0], ref.node_visits[:, 0])
    np.testing.assert_array_equal(got.node_values[:, 0], ref.node_values[:, 0])
    np.testing.assert_array_equal(np.asarray(got.qvalues(jnp.zeros(B, jnp.int32))),
                                  np.asarray(ref.qvalues(jnp.zeros(B, jnp.int32))))
    # Every node the stopping search allocated is mctx's node of that index, with its statistics;
    # the non-terminal ones also with their children's.
    allocated = got.node_visits > 0
    terminal = got.embeddings[1]
    for name in ("node_visits", "node_values", "raw_values", "parents", "action_from_parent"):
        np.testing.assert_array_equal(getattr(got, name)[allocated], getattr(ref, name)[allocated], err_msg=name)
    inner = allocated & ~terminal
    for name in ("children_visits", "children_values", "children_index", "children_rewards", "children_discounts",
                 "children_prior_logits"):
        np.testing.assert_array_equal(getattr(got, name)[inner], getattr(ref, name)[inner], err_msg=name)
    # Terminal nodes got no children; mctx grew nodes below them, the stopping search skipped those.
    assert (got.children_visits[terminal] == 0).all()
    below = ref.node_visits > 0
    below &= ref.embeddings[1][np.arange(B)[:, None], np.maximum(ref.parents, 0)] & (ref.parents >= 0)
    assert below.sum() > 20 and not (allocated & below).any()
    assert (ref.node_visits[:, 0] == 61).all()


def test_planner_equals_plain_mctx_near_the_episode_end(monkeypatch):
    from hopjax.algos.hop.planner import Planner, SearchConfig
    from hopjax.algos.hop.trainer import HOPConfig, make_env, make_networks

    cfg = HOPConfig(env="stag_hunt", env_kwargs=dict(height=4, width=4, num_walls=0, max_steps=6),
                    hidden_sizes=(8,))
    env, ep = make_env(cfg)
    gp, pn = make_networks(cfg, env, ep)
    params = {"goal": gp.init(jax.random.PRNGKey(0)), "planner": pn.init(jax.random.PRNGKey(1))}
    e, n, g1 = 3, env.num_agents(ep), env.num_goals(ep) + 1
    _, states = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(2), e), ep)
    states = states.replace(t=jnp.array([0, 3, 4], jnp.int32))  # 6, 3 and 2 steps left
    log_b = jnp.log(jnp.full((e, n, g1), 1.0 / g1))
    search = SearchConfig(num_simulations=24, num_trees=2)

    def plan():
        fn = jax.jit(Planner(env, ep, gp, pn, search).plan, static_argnums=4)
        return jax.device_get(fn(jax.random.PRNGKey(4), params, states, log_b, (0, 2)))

    got = plan()
    monkeypatch.setattr(planner_mod, "_CHECKED", ())  # plain mctx.muzero_policy
    ref = plan()
    for name in ("action", "policy", "q", "value", "visits"):
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name), err_msg=name)
    assert (ref.visits.sum(-1) == 2 * 24).all()

"""HOP's planning module: batched MCTS (``mctx``) with the environment's own ``step`` as the model.

For every env ``e`` and focal seat ``f`` the planner grows ``num_trees`` trees. Each tree
samples one specific target per co-player from the current beliefs at its root (a located
goal: ``hare_2`` at its cell, or "no target"; removed targets have belief 0 and are never
drawn) and keeps it for the whole tree; every node expansion samples the co-players' actions
from the goal-conditioned policy conditioned on that target's cell and kind, read from the
node's env state (so a node's outcome is drawn once, when it is first expanded), and steps the
real env. A co-player whose target is removed inside the tree (another agent took it) moves on
without a target (our choice: the uniform non-interact policy, the model's "no target"). The focal agent's planner network gives priors and leaf values. All trees of all envs
and seats form one ``mctx`` batch ``B = E * F * num_trees``.

The search loop, traversal, PUCT selection and backup below (:func:`_search`,
:func:`_simulate`, :func:`_muzero_select`, :func:`_batched_backward`) follow mctx 0.0.71
(google-deepmind/mctx, ``mctx/_src/search.py`` and ``action_selection.py``, Apache License
2.0) step for step, so that they give mctx's numbers; they are swapped in only for that version.

The scheme (MCTS for the focal agent only; co-players' goals sampled from the beliefs, their
actions from the goal-conditioned policies) is the HOP paper's (Huang, Liu, Kong, Yang, Zhu,
Feng, ICML 2024, arXiv 2406.08002). The search constants are the HOP code's configs,
``msg_code/train.py`` (Snowdrift) and ``msh_code/train.py`` (Stag-Hunt); the selection rule
follows the paper's PUCT planner:

- PUCT selection with ``Q = W / (1 + N)`` and ``U = c_puct * sqrt(N_parent) * P / (1 + N)``:
  mctx's ``muzero_action_selection`` with ``pb_c_init = c_puct``, ``pb_c_base`` so large that
  its log term vanishes, and :func:`_shrunk_q` as the Q transform (mctx's Q is the mean ``W/N``).
  ``c_puct`` 1 (Stag-Hunt) / 15 (Snowdrift); no Dirichlet noise.
- 5 trees of 200 simulations each, backup discount ``gamma = 0.95``.
- Root: the trees' Q values are averaged and the agent acts by ``softmax(q_temperature * Q)``
  (``q_temperature = 2``); that distribution is also the planner net's policy target.
- The focal agent's reward is the env reward; a node where the focal agent is done (or the
  episode is over) is terminal: its value and later rewards are 0. A simulation stops at an
  expanded terminal node and backs up from there (:func:`_search`; the root's statistics are
  mctx's, which would keep expanding below it: a chain that grows by one node per simulation
  once search settles on a finishing line). The depth is capped at the episode length (no
  deeper node can matter) or at ``max_depth``.

Cost (our choices, results unchanged): a node builds only the observations it uses - its
co-players' for the goal model and, after the step, the focal seat's for the planner net
(``Environment.seat_obs``); the step's own observations are unused and dropped by XLA. The
co-players' actions use the same Gumbel draw per (seat, action) as sampling all seats, so they
are the same. The search is mctx's with its own loop body (:func:`_search`): a batched
traversal that stops at terminal nodes (:func:`_simulate`), the backup as one batched in-place
loop (:func:`_batched_backward`), one PUCT selection per step (:func:`_selection_without_switch`); it draws its
tie-break noise and keys with an unrolled threefry hash (:mod:`hopjax.algos.hop.search_rng`,
the same bits as ``jax.random``'s default; JAX's CPU lowering runs the hash as a rolled loop).
With an ``mlp`` trunk and an env with sparse observations (``Environment.seat_obs_sparse``) a
node builds no observation: each net's first layer is a sum of its kernel's rows at the
observation's few nonzero entries (players, targets, the time plane as one whole-plane row;
the walls, constant within an episode, gathered once per search, :meth:`Planner.const_offsets`),
the same layer summed in another order, so results equal the dense path's up to float rounding
(our choice; ``GoalPolicy.log_probs_sparse``, ``PlannerNet.apply_sparse``). The root's planner
net and all training keep the dense observations.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import mctx
from flax import struct
from mctx._src import action_selection as _mctx_selection
from mctx._src import search as _mctx_search

from hopjax.algos.hop import search_rng
from hopjax.envs.base import Environment
from hopjax.models.goal_policy import GoalPolicy, PlannerNet
from hopjax.models.policy import MASKED_LOGIT
from hopjax.models.sparse import sparse_first_layer

_PB_C_BASE = 1e30  # log((N + base + 1) / base) == 0 in float32: plain PUCT with c = pb_c_init


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    num_simulations: int = 200
    num_trees: int = 5
    c_puct: float = 1.0
    gamma: float = 0.95
    q_temperature: float = 2.0
    max_depth: int = 0  # deepest simulation; 0: the episode length


@struct.dataclass
class Node:
    """One tree node's embedding (unbatched): env state, each seat's goal for this tree
    ([N] int32, ``G`` = no target), the focal seat ([] int32), whether the focal agent's
    episode is over ([] bool) and the tree's env ([] int32, its row of the search's constant
    first-layer parts, :meth:`Planner.const_offsets`)."""

    state: Any
    goals: jax.Array
    focal: jax.Array
    done: jax.Array
    root: jax.Array


@struct.dataclass
class PlanOutput:
    """action [E, F] int32, policy [E, F, A] (softmax of the tree-averaged Q; zero on
    unavailable actions), q [E, F, A] tree-averaged Q, value [E, F] planner-net root value,
    visits [E, F, A] summed root visit counts."""

    action: jax.Array
    policy: jax.Array
    q: jax.Array
    value: jax.Array
    visits: jax.Array


def _shrunk_q(tree: mctx.Tree, node_index: jax.Array) -> jax.Array:
    """The HOP code's ``Q = W / (1 + N)`` (0 for unvisited children)."""
    n = tree.children_visits[node_index].astype(jnp.float32)
    return tree.qvalues(node_index) * n / (1.0 + n)


def _batched_backward(tree: mctx.Tree, leaf_index: jax.Array) -> mctx.Tree:
    """mctx's backup (mctx/_src/search.py ``backward``: from each leaf up to the root, update
    the parent's value mean and visit count and the child's value and visits) with the same
    arithmetic, as one loop over the batch [B] instead of ``jax.vmap`` of a per-tree loop.
    mctx 0.0.71 vmaps a ``while_loop`` that carries the tree, which turns every in-place update
    into a select over the whole batch's tree arrays ([B, S+1, A]) at every step of every
    backup: the search's cost grew with B x S per simulation. Here trees already at their root
    write nothing (their row's index is out of range and the scatter drops it), and the child's
    value is carried (it is the node value written one step below), so every array is read
    only where it is then written and XLA updates it in place without copying it (our choice;
    equal results)."""
    root = mctx.Tree.ROOT_INDEX
    rows = jnp.arange(leaf_index.shape[0])
    nowhere = tree.node_values.shape[1]  # out of range: the scatters drop these rows

    def body(c):
        tree, leaf_value, index, child_value = c
        active = index != root
        parent = jnp.where(active, tree.parents[rows, index], root)
        action = jnp.where(active, tree.action_from_parent[rows, index], 0)
        count = tree.node_visits[rows, parent]
        leaf_value = jnp.where(active, tree.children_rewards[rows, parent, action]
                               + tree.children_discounts[rows, parent, action] * leaf_value, leaf_value)
        old_value = tree.node_values[rows, parent]
        parent_value = (old_value * count + leaf_value) / (count + 1.0)
        dst = jnp.where(active, parent, nowhere)
        tree = tree.replace(
            node_values=tree.node_values.at[rows, dst].set(parent_value, mode="drop"),
            node_visits=tree.node_visits.at[rows, dst].set(count + 1, mode="drop"),
            children_values=tree.children_values.at[rows, dst, action].set(child_value, mode="drop"),
            children_visits=tree.children_visits.at[rows, dst, action].set(
                tree.children_visits[rows, parent, action] + 1, mode="drop"))
        return tree, leaf_value, jnp.where(active, parent, root), jnp.where(active, parent_value, old_value)

    leaf_index = jnp.asarray(leaf_index, jnp.int32)
    leaf_value = tree.node_values[rows, leaf_index]
    init = (tree, leaf_value, leaf_index, leaf_value)
    tree, _, _, _ = jax.lax.while_loop(lambda c: jnp.any(c[2] != root), body, init)
    return tree


def _parts(fn):  # functools.partial flattens nested partials: compare (function, args, keywords)
    return (fn.func, fn.args, fn.keywords) if isinstance(fn, functools.partial) else (fn, (), {})


def _selection_without_switch(root_action_selection_fn, interior_action_selection_fn):
    """mctx's ``switching_action_selection_wrapper`` picks the root's or the interior's selection
    with ``lax.cond(depth == 0, ...)``; under the search's ``vmap`` that runs both (two
    tie-break draws and two PUCT scores per traversal step). ``muzero_policy``'s root selection
    is the interior one at ``depth=0`` (``functools.partial``), so the interior function alone
    gives the same action at every depth; any other pair keeps mctx's switch (our choice)."""
    (rf, ra, rk), (inf, ia, ik) = _parts(root_action_selection_fn), _parts(interior_action_selection_fn)
    if rf is inf and ra == ia and rk == {**ik, "depth": 0}:
        return interior_action_selection_fn
    return _SWITCH(root_action_selection_fn, interior_action_selection_fn)


def _muzero_select(noise, tree: mctx.Tree, node_index, depth, *, pb_c_init, pb_c_base, qtransform):
    """mctx's ``muzero_action_selection`` (mctx/_src/action_selection.py, 0.0.71; the same
    arithmetic in the same order) with its tie-break noise ``1e-7 * uniform(key, [A])`` given."""
    visit_counts = tree.children_visits[node_index]
    node_visit = tree.node_visits[node_index]
    pb_c = pb_c_init + jnp.log((node_visit + pb_c_base + 1.) / pb_c_base)
    prior_probs = jax.nn.softmax(tree.children_prior_logits[node_index])
    policy_score = jnp.sqrt(node_visit) * pb_c * prior_probs / (visit_counts + 1)
    to_argmax = qtransform(tree, node_index) + policy_score + noise
    return _mctx_selection.masked_argmax(to_argmax, tree.root_invalid_actions * (depth == 0))


def _selection_and_draw(root_action_selection_fn, interior_action_selection_fn, num_actions: int):
    """-> (select(pre, tree, node, depth) -> action, draw(key) -> pre): the traversal draws
    ``pre`` from a step's selection key one step ahead (:func:`_simulate`). For
    ``muzero_policy``'s pair ``pre`` is the tie-break noise, so the hash is a kernel of its own
    instead of part of the argmax's fusion (the same draws); for any other pair ``pre`` is the
    key and the selection draws itself (:func:`_selection_without_switch`)."""
    select = _selection_without_switch(root_action_selection_fn, interior_action_selection_fn)
    fn, args, kw = _parts(select)
    if fn is _mctx_selection.muzero_action_selection and not args and "depth" not in kw:
        return (functools.partial(_muzero_select, **kw),
                lambda key: 1e-7 * jax.random.uniform(key, (num_actions,)))
    return select, lambda key: key


def _simulate(keys, tree: mctx.Tree, select, draw, max_depth, terminal):
    """mctx's traversal (mctx/_src/search.py ``simulate``: from the root, select until the chosen
    child is unvisited or ``depth == max_depth``; the same key chain per tree, one split per step)
    as one loop over the batch, which also stops where the chosen child is an expanded terminal
    node (``terminal`` [B, S+1] bool, or None: never) before the depth cap. ``select``/``draw``:
    :func:`_selection_and_draw`; step d+1's draw is made during step d and carried.
    keys [B] typed -> (parent [B] int32, action [B] int32, stopped [B] bool: ended on a terminal,
    steps [B]: selections made; the loop ran ``max(steps)`` times)."""
    rows = jnp.arange(keys.shape[0])

    def split_draw(key):  # the chain's next key, the draw from this step's selection key
        pair = jax.vmap(jax.random.split)(key)  # [B, 2]
        return pair[:, 0], jax.vmap(draw)(pair[:, 1])

    def body(s):
        key, pre, _, _, node, depth, go = s
        action = jax.vmap(select)(pre, tree, node, depth)
        child = tree.children_index[rows, node, action]
        more = (child != mctx.Tree.UNVISITED) & (depth + 1 < max_depth)
        if terminal is not None:
            more &= ~terminal[rows, jnp.maximum(child, 0)]
        new = (*split_draw(key), node, action, child, depth + 1, more)
        return jax.tree.map(lambda n, o: jnp.where(go.reshape(go.shape + (1,) * (n.ndim - 1)), n, o), new, s)

    b = keys.shape[0]
    none = jnp.full((b,), mctx.Tree.NO_PARENT, jnp.int32)
    init = (*split_draw(keys), none, none, jnp.full((b,), mctx.Tree.ROOT_INDEX, jnp.int32),
            jnp.zeros((b,), tree.children_prior_logits.dtype), jnp.ones((b,), bool))
    _, _, parent, action, child, depth, _ = jax.lax.while_loop(lambda s: jnp.any(s[6]), body, init)
    return parent, action, (child != mctx.Tree.UNVISITED) & (depth < max_depth), depth


def _expand(params, key, tree: mctx.Tree, recurrent_fn, parent, action, node, stopped) -> mctx.Tree:
    """mctx's ``expand`` (evaluate ``recurrent_fn`` at ``(parent, action)`` and write the node
    ``node`` [B]) where ``stopped`` [B] is False; where it is True (the traversal ended on the
    expanded terminal ``node``) only ``node``'s visit count grows, as a descent below it would
    have made it grow, and the writes of the node's topology are the values already there."""
    rows = jnp.arange(parent.shape[0])
    nowhere = tree.node_visits.shape[1]  # out of range: the scatters drop these rows
    emb = jax.tree.map(lambda x: x[rows, parent], tree.embeddings)
    step, emb = recurrent_fn(params, key, action, emb)
    new, from_ = jnp.where(stopped, nowhere, node), jnp.where(stopped, nowhere, parent)

    def put(x, v, *idx):
        return x.at[(rows, *idx)].set(v, mode="drop")

    return tree.replace(
        children_prior_logits=put(tree.children_prior_logits, step.prior_logits, new),
        raw_values=put(tree.raw_values, step.value, new),
        node_values=put(tree.node_values, step.value, new),
        node_visits=tree.node_visits.at[rows, node].add(1),
        embeddings=jax.tree.map(lambda t, v: put(t, v, new), tree.embeddings, emb),
        children_index=put(tree.children_index, node, parent, action),
        children_rewards=put(tree.children_rewards, step.reward, from_, action),
        children_discounts=put(tree.children_discounts, step.discount, from_, action),
        parents=put(tree.parents, parent, node),
        action_from_parent=put(tree.action_from_parent, action, node))


def _search(params, rng_key, *, root, recurrent_fn, root_action_selection_fn, interior_action_selection_fn,
            num_simulations, max_depth=None, invalid_actions=None, extra_data=None, loop_fn=jax.lax.fori_loop,
            is_terminal=None) -> mctx.Tree:
    """mctx's ``search`` (mctx/_src/search.py, 0.0.71: same signature, keys, node numbering and
    arithmetic) with its own loop body: :func:`_simulate` -> :func:`_expand` ->
    :func:`_batched_backward`, one PUCT selection per step (:func:`_selection_and_draw`).

    ``is_terminal(embeddings) -> [B, S+1] bool`` (None: mctx's search exactly) marks absorbing
    nodes: the discount into such a node is 0 and every node below it has reward, discount and
    value 0. A simulation that would descend into an already-expanded terminal node ``T`` (before
    the depth cap) stops there instead: nothing is expanded and the backup starts at ``T`` after
    ``T``'s visit count grows by 1. Every node not below a terminal keeps mctx's statistics
    exactly (``tests/algos/hop/test_planner_terminal.py``), hence the root's visits and Q:

    - the path from the root to ``T``, its selections and their keys are mctx's (a tree's key
      chain advances once per step, whatever the choices; the expansion key is split per tree);
    - mctx's backup reaches ``T`` with ``0 + 0 * v = 0`` from below and sets ``T``'s value to
      ``(0 * n + 0) / (n + 1) = 0`` and visits to ``n + 1``; here ``T``'s value is its stored 0
      and its visits ``n + 1``; above ``T`` both back up ``r + 0 * 0 = r`` with the same counts;
    - a new node is numbered ``sim + 1`` in both, so a skipped expansion only leaves that index
      unallocated (all-zero, never reached), and the node mctx would have made lies below ``T``;
    - at the depth cap mctx re-expands the selected node (terminal or not): kept as is.
    """
    select, draw = _selection_and_draw(root_action_selection_fn, interior_action_selection_fn,
                                       root.prior_logits.shape[-1])
    b = root.value.shape[0]
    rows = jnp.arange(b)
    max_depth = num_simulations if max_depth is None else max_depth
    invalid_actions = jnp.zeros_like(root.prior_logits) if invalid_actions is None else invalid_actions

    def body(sim, carry):
        key, tree = carry
        key, k_sim, k_exp = jax.random.split(key, 3)
        terminal = None if is_terminal is None else is_terminal(tree.embeddings)
        parent, action, stopped, _ = _simulate(jax.random.split(k_sim, b), tree, select, draw, max_depth, terminal)
        node = tree.children_index[rows, parent, action]
        node = jnp.where(node == mctx.Tree.UNVISITED, sim + 1, node)
        tree = _expand(params, k_exp, tree, recurrent_fn, parent, action, node, stopped)
        return key, _batched_backward(tree, node)

    tree = _mctx_search.instantiate_tree_from_root(root, num_simulations, root_invalid_actions=invalid_actions,
                                                   extra_data=extra_data)
    return loop_fn(0, num_simulations, body, (rng_key, tree))[1]


_CHECKED = ("0.0.71",)  # mctx versions whose search/backward/selection the replacements reproduce
_SWITCH = _mctx_selection.switching_action_selection_wrapper


@contextlib.contextmanager
def _mctx_patches(is_terminal=None):
    """While tracing a search: ``mctx.muzero_policy`` looks ``search.search`` up at call time; use
    :func:`_search` (mctx's search with its own loop body; ``is_terminal``: see there). Only on
    the mctx versions it was checked against (``tests/algos/hop/test_planner_backup.py``,
    ``test_planner_terminal.py``); any other version runs mctx unchanged (the same root
    statistics, slower)."""
    if (getattr(mctx, "__version__", None) not in _CHECKED or not hasattr(_mctx_search, "search")
            or not hasattr(_mctx_search, "instantiate_tree_from_root")):
        yield
        return
    old = _mctx_search.search
    _mctx_search.search = functools.partial(_search, is_terminal=is_terminal)
    try:
        yield
    finally:
        _mctx_search.search = old


class Planner:
    """Builds ``plan(key, params, states, log_beliefs, focal_seats) -> PlanOutput``.

    ``params`` is ``{"goal": GoalPolicy params, "planner": PlannerNet params}``.
    """

    def __init__(self, env: Environment, env_params: Any, goal_policy: GoalPolicy,
                 planner_net: PlannerNet, cfg: SearchConfig):
        self.env, self.env_params = env, env_params
        self.goal_policy, self.planner_net, self.cfg = goal_policy, planner_net, cfg
        self.num_actions = env.num_actions(env_params)
        self.num_goals = env.num_goals(env_params)
        self.num_agents = env.num_agents(env_params)
        self.max_depth = int(env.episode_length(env_params)) if cfg.max_depth <= 0 else cfg.max_depth
        sparse = env.sparse_obs_size(env_params) > 0
        self.sparse_goal = sparse and not goal_policy.conv_channels
        self.sparse_planner = sparse and not planner_net.conv_channels

    def sparse_tables(self, params) -> dict:
        """The mlp trunks' first layers as gather tables (``sparse_table``), once per search:
        ``{"goal": ..., "planner": ...}`` for the nets that take sparse observations inside the
        tree (an mlp trunk and an env with ``seat_obs_sparse``); empty otherwise."""
        tables = {}
        if self.sparse_goal:
            tables["goal"] = self.goal_policy.sparse_table(params["goal"])
        if self.sparse_planner:
            tables["planner"] = self.planner_net.sparse_table(params["planner"])
        return tables

    def const_offsets(self, tables: dict, states) -> dict:
        """The first-layer part of the observation entries that stay constant within an episode
        (``Environment.obs_const_sparse``: the walls), gathered once per search: ``{net: [E, H0]}``
        for the nets in ``tables`` (:meth:`sparse_tables`); empty where there are none."""
        idx, val = jax.vmap(self.env.obs_const_sparse, in_axes=(0, None))(states, self.env_params)
        if idx.shape[-1] == 0:
            return {}
        return {k: sparse_first_layer(t[0], 0.0, idx, val) for k, t in tables.items()}

    # -- the model inside the tree ----------------------------------------------------------
    def seat_obs(self, state, seats: jax.Array) -> jax.Array:
        """[K, *obs] observations of the seats ``seats`` [K] in ``state`` (``Environment.seat_obs``)."""
        return self.env.seat_obs(state, self.env_params, seats)

    def seat_obs_sparse(self, state, seats: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(idx [K, P], val [K, P]) sparse observations (``Environment.seat_obs_sparse``)."""
        return self.env.seat_obs_sparse(state, self.env_params, seats)

    def co_player_log_probs(self, params, state, avail, goals, focal, table=None, const=None) -> jax.Array:
        """log pi(. | o_i, g_i) [N, A] of every co-player ``i != focal`` under its tree goal
        (``goals`` [N], a removed target read as "no target"); the focal row is 0 (its action
        is the search's). Only the N-1 co-players' observations are built (``seat_obs``), or
        with ``table`` (:meth:`sparse_tables`) their sparse entries (``seat_obs_sparse``; the
        constant entries' part ``const`` [H0] or None, :meth:`const_offsets`)."""
        env, p, n, g, gp = self.env, self.env_params, self.num_agents, self.num_goals, self.goal_policy
        co = (focal + 1 + jnp.arange(n - 1)) % n  # [N-1] co-player seats
        present = env.goals_present(state, p)  # [G]
        goal = jnp.where(present[jnp.minimum(goals[co], g - 1)], goals[co], g)
        where = env.goal_positions(state, p)
        if table is None:
            logp = gp.log_probs(params, self.seat_obs(state, co), avail[co], goal, where)  # [N-1, A]
        else:
            offset = self._offset(state, co, const)
            logp = gp.log_probs_sparse(params, table, *self.seat_obs_sparse(state, co), avail[co], goal, where, offset)
        return jnp.zeros((n, self.num_actions), logp.dtype).at[co].set(logp)

    def focal_net(self, params, state, focal, avail, table=None, const=None) -> tuple[jax.Array, jax.Array]:
        """The planner net on the focal seat's observation of ``state`` (``focal`` [] int32,
        ``avail`` [A]) -> (masked logits [A], value []); with ``table`` (:meth:`sparse_tables`)
        from its sparse entries (``const``: as in :meth:`co_player_log_probs`)."""
        if table is None:
            return self.planner_net.apply(params, self.seat_obs(state, focal[None])[0], avail)
        idx, val = self.seat_obs_sparse(state, focal[None])
        offset = self._offset(state, focal[None], const)
        return self.planner_net.apply_sparse(params, table, idx[0], val[0], avail,
                                             None if offset is None else offset[0])

    def _offset(self, state, seats, const):
        """[K, H0] the constant entries' part for the seats (0 for dead ones: their
        observation is zeros), or None."""
        if const is None:
            return None
        return self.env.alive(state, self.env_params)[seats][:, None].astype(const.dtype) * const

    def _expand_one(self, params, key, action, node: Node):
        env, p, cfg = self.env, self.env_params, self.cfg
        avail = env.avail_actions(node.state, p)  # [N, A]
        k_co, k_env = jax.lax.optimization_barrier(jax.random.split(key))  # hashed once, not per draw
        tables = params.get("tables", {})
        const = {k: c[node.root] for k, c in params.get("consts", {}).items()}  # [H0] each
        logp = self.co_player_log_probs(params["goal"], node.state, avail, node.goals, node.focal,
                                        tables.get("goal"), const.get("goal"))
        # One Gumbel draw per (seat, action) as before: the co-players' rows are the same.
        actions = jax.random.categorical(k_co, logp).astype(jnp.int32)
        actions = actions.at[node.focal].set(action.astype(jnp.int32))
        # The step's observations are unused, so XLA drops them; only the focal one is built.
        _, state2, rewards, dones, info = env.step(search_rng.raw(k_env), node.state, actions, p)
        reward = jnp.where(node.done, 0.0, rewards[node.focal])
        done = node.done | dones.agents[node.focal] | dones.episode
        logits, value = self.focal_net(params["planner"], state2, node.focal,
                                       info["avail_actions"][node.focal], tables.get("planner"),
                                       const.get("planner"))
        out = mctx.RecurrentFnOutput(
            reward=reward,
            discount=jnp.where(done, 0.0, cfg.gamma),
            prior_logits=logits,
            value=jnp.where(done, 0.0, value),
        )
        return out, node.replace(state=state2, done=done)

    def recurrent_fn(self, params, key, action, embedding: Node):
        """mctx's recurrent function: :meth:`_expand_one` over the batch (``key``: the search's
        typed key, :mod:`search_rng`: the expansion's splits and the co-players' draws hash
        unrolled, the same bits as drawing from its raw data; the env step gets raw keys)."""
        keys = jax.lax.optimization_barrier(jax.random.split(key, action.shape[0]))
        return jax.vmap(self._expand_one, in_axes=(None, 0, 0, 0))(params, keys, action, embedding)

    # -- one decision for every env and focal seat ----------------------------------------
    def plan(self, key: jax.Array, params, states: Any, log_beliefs: jax.Array,
             focal_seats: tuple[int, ...]) -> PlanOutput:
        """states: env states [E, ...]; log_beliefs [E, N, G+1] (rows of every seat; the
        focal seat's own row is ignored); focal_seats: static seat indices (F of them)."""
        env, p, cfg = self.env, self.env_params, self.cfg
        e = log_beliefs.shape[0]
        f, k = len(focal_seats), cfg.num_trees
        focal = jnp.asarray(focal_seats, jnp.int32)
        k_goal, k_search, k_act = jax.random.split(key, 3)

        f_obs = jax.vmap(env.seat_obs, in_axes=(0, None, None))(states, p, focal)  # [E, F, *obs]
        avail = jax.vmap(env.avail_actions, in_axes=(0, None))(states, p)  # [E, N, A]
        alive = jax.vmap(env.alive, in_axes=(0, None))(states, p)  # [E, N]
        f_avail = avail[:, focal]  # [E, F, A]
        logits, value = self.planner_net.apply(params["planner"], f_obs, f_avail)  # [E, F, A]

        # Goals per tree: one draw per seat from the beliefs. [E, F, K, N]
        goals = jax.random.categorical(k_goal, log_beliefs[:, None, None], axis=-1,
                                       shape=(e, f, k, log_beliefs.shape[1])).astype(jnp.int32)
        b = e * f * k

        def tile(x):  # [E, ...] -> [B, ...]
            return jnp.broadcast_to(x[:, None, None], (e, f, k, *x.shape[1:])).reshape(b, *x.shape[1:])

        def per_tree(x):  # [E, F, ...] -> [B, ...]
            return jnp.broadcast_to(x[:, :, None], (e, f, k, *x.shape[2:])).reshape(b, *x.shape[2:])

        node = Node(
            state=jax.tree.map(tile, states),
            goals=goals.reshape(b, -1),
            focal=per_tree(jnp.broadcast_to(focal, (e, f))),
            done=per_tree(~jnp.take_along_axis(alive, jnp.broadcast_to(focal, (e, f)), 1)),
            root=tile(jnp.arange(e, dtype=jnp.int32)),
        )
        tables = self.sparse_tables(params)
        search_params = {**params, "tables": tables, "consts": self.const_offsets(tables, states)}
        root = mctx.RootFnOutput(prior_logits=per_tree(logits), value=per_tree(value), embedding=node)
        with _mctx_patches(lambda emb: emb.done):  # done nodes are absorbing (_expand_one)
            out = mctx.muzero_policy(  # same draws, an unrolled hash (search_rng)
                search_params, search_rng.wrap(k_search), root, self.recurrent_fn, cfg.num_simulations,
                invalid_actions=~per_tree(f_avail),
                max_depth=self.max_depth, qtransform=_shrunk_q, dirichlet_fraction=0.0,
                pb_c_init=cfg.c_puct, pb_c_base=_PB_C_BASE,
            )
        tree = out.search_tree
        root_idx = jnp.full((b,), mctx.Tree.ROOT_INDEX)
        q = jax.vmap(_shrunk_q)(tree, root_idx).reshape(e, f, k, -1).mean(2)  # [E, F, A]
        visits = tree.children_visits[:, mctx.Tree.ROOT_INDEX].reshape(e, f, k, -1).sum(2)
        act_logits = jnp.where(f_avail, cfg.q_temperature * q, MASKED_LOGIT)
        policy = jax.nn.softmax(act_logits, axis=-1)
        action = jax.random.categorical(k_act, act_logits).astype(jnp.int32)
        return PlanOutput(action=action, policy=policy, q=q, value=value, visits=visits)

"""Host-loop PUCT search (the way the HOP code runs it) vs hopjax's batched planner, side by side.

The reference is a PUCT tree search written as HOP's planning module runs it (Huang, Liu, Kong,
Yang, Zhu, Feng, ICML 2024, section 4.2; constants from the HOP code, msh_code/train.py): per
decision and per tree, one goal per co-player sampled from the beliefs at the root; a Python
tree of nodes (dicts of children, per-action N, W, prior P); selection by
``argmax Q + U`` with ``Q = W / (1 + N)``, ``U = c_puct * sqrt(sum N) * P / (1 + N)`` over the
available actions; at a new node ONE jitted call (:func:`expand`) samples the co-players'
actions from the goal-conditioned model under the tree's goals, steps a copy of the env state
with the jitted JAX env step on that single state, and evaluates the focal planner net (prior
and leaf value) on the new state; backup with ``gamma``; terminal nodes (focal agent done or
episode over) have value 0 and are not expanded below. At the root, Q is averaged over the
trees and the action is drawn from ``softmax(q_temperature * Q)``. Envs and focal seats are
searched one after another, as a Python agent loop does.

Both sides use the same env (8x8 Markov Stag-Hunt by default, ``--small`` 5x5), the same
randomly initialised :class:`~hopjax.models.goal_policy.GoalPolicy` and
:class:`~hopjax.models.goal_policy.PlannerNet` parameters (speed does not depend on weights)
and the same constants (trees, simulations, c_puct, gamma, q temperature, depth cap). The
reference is generous: env step, co-player model and planner net are fused into one compiled
call per node (the HOP code makes a separate network call per co-player and one for the
planner, in PyTorch). Measurements alternate host/jitted per round; medians reported.

The goal-conditioned model is called through :func:`goal_log_probs` only (one adapter: the
co-player model's conditioning may change from goal indices to goal positions).

Usage: python benchmarks/hostloop_puct.py [--envs 1 16] [--sims 200] [--trees 5] [--small]
       [--rounds 2]
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np
from common import block, compile_timed, load, machine, parser, print_machine, print_table, write_json, search_roots, hop_search_setup

import jax
import jax.numpy as jnp

from hopjax.algos.hop.planner import Planner, SearchConfig


def goal_log_probs(goal_policy, params, obs, avail, goals, state, env, env_params):
    """The co-player model's log pi(a | o, g) [N, A] for every seat under the tree's goals
    ``goals`` [N] (int, G = no target; a target removed inside the tree reads as no target, as
    in the planner), conditioned on the targets' cells read from ``state``. The one place that
    knows how goals are fed to it."""
    g = env.num_goals(env_params)
    present = env.goals_present(state, env_params)
    goals = jnp.where(present[jnp.minimum(goals, g - 1)], goals, g)
    return goal_policy.log_probs(params, obs, avail, goals, env.goal_positions(state, env_params))


def make_expand(env, env_params, goal_policy, planner_net, gamma: float):
    """-> jitted ``expand(params, key, state, goals, focal, action, done)`` for ONE node:
    (state', reward, done', prior logits [A], leaf value, avail [A] of the focal agent)."""

    def expand(params, key, state, goals, focal, action, done):
        obs = env.get_obs(state, env_params)
        avail = env.avail_actions(state, env_params)
        k_co, k_env = jax.random.split(key)
        logp = goal_log_probs(goal_policy, params["goal"], obs, avail, goals, state, env, env_params)
        actions = jax.random.categorical(k_co, logp).astype(jnp.int32).at[focal].set(action)
        obs2, state2, rewards, dones, info = env.step(k_env, state, actions, env_params)
        reward = jnp.where(done, 0.0, rewards[focal])
        done2 = done | dones.agents[focal] | dones.episode
        logits, value = planner_net.apply(params["planner"], obs2[focal], info["avail_actions"][focal])
        return state2, reward, done2, logits, jnp.where(done2, 0.0, value), info["avail_actions"][focal]

    return jax.jit(expand)


class HostNode:
    """A Python tree node: env state, focal availability, prior P, visit counts N and value
    sums W per action, children by action."""

    __slots__ = ("state", "done", "avail", "prior", "n", "w", "children", "reward", "value")

    def __init__(self, state, done, avail, logits, reward, value):
        self.state, self.done, self.reward, self.value = state, bool(done), float(reward), float(value)
        self.avail = np.asarray(avail, bool)
        lg = np.where(self.avail, np.asarray(logits, np.float64), -np.inf)
        p = np.exp(lg - lg.max())
        self.prior = p / p.sum()
        a = self.avail.shape[0]
        self.n, self.w, self.children = np.zeros(a), np.zeros(a), {}

    def select(self, c_puct: float) -> int:
        q = self.w / (1.0 + self.n)
        u = c_puct * math.sqrt(self.n.sum()) * self.prior / (1.0 + self.n)
        return int(np.argmax(np.where(self.avail, q + u, -np.inf)))


class HostPUCT:
    """The reference search for one env state and one focal seat at a time."""

    def __init__(self, env, env_params, goal_policy, planner_net, search: SearchConfig, max_depth: int):
        self.env, self.p, self.cfg, self.max_depth = env, env_params, search, max_depth
        self.expand = make_expand(env, env_params, goal_policy, planner_net, search.gamma)
        self.root_eval = jax.jit(lambda params, obs, avail: planner_net.apply(params["planner"], obs, avail))

    def decide(self, rng: np.random.Generator, params, state, beliefs: np.ndarray, focal: int) -> int:
        """beliefs [N, G+1] probabilities -> the focal agent's action."""
        cfg = self.cfg
        obs = self.env.get_obs(state, self.p)
        avail = self.env.avail_actions(state, self.p)[focal]
        logits, value = self.root_eval(params, obs[focal], avail)
        alive = bool(self.env.alive(state, self.p)[focal])
        qs = []
        for _ in range(cfg.num_trees):
            goals = np.array([rng.choice(beliefs.shape[1], p=b) for b in beliefs], np.int32)
            root = HostNode(state, not alive, avail, logits, 0.0, value)
            for _ in range(cfg.num_simulations):
                self.simulate(rng, params, root, goals, focal)
            qs.append(root.w / (1.0 + root.n))
        q = np.mean(qs, 0)
        lg = np.where(root.avail, cfg.q_temperature * q, -np.inf)
        p = np.exp(lg - lg.max())
        return int(rng.choice(len(p), p=p / p.sum()))

    def simulate(self, rng, params, root: HostNode, goals, focal: int) -> None:
        node, path = root, []
        while True:
            a = node.select(self.cfg.c_puct)
            path.append((node, a))
            child = node.children.get(a)
            if child is None:
                key = jax.random.PRNGKey(int(rng.integers(2**31)))
                out = self.expand(params, key, node.state, goals, focal, a, node.done)
                state2, reward, done2, logits, value, avail = out
                child = node.children[a] = HostNode(state2, done2, avail, logits, reward, value)
                break
            node = child
            if child.done or len(path) >= self.max_depth:
                break
        g = child.value
        for nd, a in reversed(path):
            g = nd.children[a].reward + self.cfg.gamma * g
            nd.w[a] += g
            nd.n[a] += 1


def main() -> None:
    p = parser(__doc__.splitlines()[0], "hostloop_puct")
    p.add_argument("--envs", type=int, nargs="+", default=[1, 16])
    p.add_argument("--sims", type=int, default=200)
    p.add_argument("--trees", type=int, default=5)
    p.add_argument("--small", action="store_true", help="5x5 grid, 20 steps (the CPU configs)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--host-envs-cap", type=int, default=4,
                   help="host side: time this many envs and scale (its cost is linear in envs)")
    args = p.parse_args()
    info = machine()
    print_machine(info)
    cfg, env, ep, gp, pn, params = hop_search_setup(args.small, args.sims, args.trees)
    n, g1 = env.num_agents(ep), env.num_goals(ep) + 1
    search = cfg.search
    planner = Planner(env, ep, gp, pn, search)
    host = HostPUCT(env, ep, gp, pn, search, planner.max_depth)
    print(f"stag_hunt {cfg.env_kwargs or 'default 8x8'}: {n} agents, {args.trees} trees x {args.sims} simulations, "
          f"c_puct {search.c_puct}, gamma {search.gamma}, depth cap {planner.max_depth}, focal seat 0")
    rng = np.random.default_rng(0)
    rows = []
    for e in args.envs:
        states, log_b = search_roots(env, ep, e)
        fn, c_s = compile_timed(jax.jit(planner.plan, static_argnums=4), jax.random.PRNGKey(3), params, states,
                                log_b, (0,))
        block(fn(jax.random.PRNGKey(4), params, states, log_b))
        singles = [jax.tree.map(lambda x: x[i], states) for i in range(min(e, args.host_envs_cap))]
        beliefs = np.full((n, g1), 1.0 / g1)
        host.decide(rng, params, singles[0], beliefs, 0)  # compile the node call
        jit_t, host_t = [], []
        for r in range(args.rounds):
            t0 = time.perf_counter()
            block(fn(jax.random.PRNGKey(5 + r), params, states, log_b))
            jit_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for s in singles:
                host.decide(rng, params, s, beliefs, 0)
            host_t.append((time.perf_counter() - t0) * e / len(singles))
        jt, ht = statistics.median(jit_t), statistics.median(host_t)
        row = {"envs": e, "sims": args.sims, "trees": args.trees, "compile_s": c_s,
               "host_dec_s": e / ht, "jit_dec_s": e / jt, "speedup": ht / jt,
               "jit_sim_steps_s": e * args.trees * args.sims / jt, "load": load()}
        rows.append(row)
        print(f"  envs {e:5d}: host {row['host_dec_s']:8.2f} decisions/s, hopjax {row['jit_dec_s']:10.1f} "
              f"decisions/s ({row['speedup']:.1f}x)", flush=True)
    print()
    print_table(rows, [("envs", "envs", "d"), ("trees", "trees", "d"), ("sims", "sims/tree", "d"),
                       ("host_dec_s", "host-loop dec/s", ",.2f"), ("jit_dec_s", "hopjax dec/s", ",.1f"),
                       ("speedup", "hopjax/host", ",.1f"), ("jit_sim_steps_s", "hopjax sim steps/s", ",.0f"),
                       ("compile_s", "compile s", ".1f"), ("load", "load", ".1f")])
    write_json(args.json, {"benchmark": "hostloop_puct", "machine": info, "args": vars(args), "rows": rows})


if __name__ == "__main__":
    main()

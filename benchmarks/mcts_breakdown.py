"""Where HOP's search time goes: timed variants of the planner that leave one stage out.

Each simulation of :class:`hopjax.algos.hop.planner.Planner` expands one node: the co-players'
observations of the node's state (``seat_obs``, or ``seat_obs_sparse`` with the mlp trunks) and ``avail_actions``, the goal-conditioned
co-player model's likelihoods (one forward per co-player under its tree goal), the env step,
and the focal planner net's prior and value on the focal observation of the new state; mctx does the rest (selection, backup, tree arrays:
"tree bookkeeping"). The variants replace mctx's recurrent function (a subclass, here only):

- ``full``: the planner's own recurrent function;
- ``-goal model``: co-players act uniformly among their available actions (no co-player net);
- ``-planner net``: zero prior logits and zero leaf value (no focal net);
- ``-observations``: both nets see a zero observation (no ``seat_obs``/``seat_obs_sparse``; availability kept);
- ``-env step``: the state does not change and the reward is 0 (nets and observations kept);
- ``tree only``: nothing but constants (mctx's own bookkeeping).

The cost of a stage ~ ``t(full) - t(variant without it)``; ``tree only`` is the bookkeeping
floor. Leaving a stage out changes which nodes the search visits (e.g. without the env step
no node is ever terminal), so the differences are estimates, not an exact decomposition.

Usage: python benchmarks/mcts_breakdown.py [--envs 64] [--sims 200] [--trees 5] [--small]
"""

from __future__ import annotations

import statistics
import time

import mctx
from common import block, compile_timed, load, machine, parser, print_machine, print_table, write_json, search_roots, hop_search_setup

import jax
import jax.numpy as jnp

from hopjax.algos.hop.planner import Planner

VARIANTS = {
    "full": set(),
    "-goal model": {"goal"},
    "-planner net": {"planner"},
    "-observations": {"obs"},
    "-env step": {"step"},
    "tree only": {"goal", "planner", "obs", "step"},
}


class StagePlanner(Planner):
    """The planner with some stages of node expansion left out (``skip``: names above)."""

    def __init__(self, *a, skip=frozenset(), **kw):
        super().__init__(*a, **kw)
        self.skip = frozenset(skip)

    def seat_obs(self, state, seats):
        if "obs" in self.skip:
            return jnp.zeros((seats.shape[0], *self.env.observation_shape(self.env_params)), jnp.float32)
        return super().seat_obs(state, seats)

    def seat_obs_sparse(self, state, seats):
        if "obs" in self.skip:  # a zero observation: one entry of value 0
            return jnp.zeros((seats.shape[0], 1), jnp.int32), jnp.zeros((seats.shape[0], 1), jnp.float32)
        return super().seat_obs_sparse(state, seats)

    def co_player_log_probs(self, params, state, avail, goals, focal, table=None, const=None):
        if "goal" in self.skip:  # co-players uniform among their available actions
            return jnp.where(avail, 0.0, -jnp.inf)
        return super().co_player_log_probs(params, state, avail, goals, focal, table, const)

    def _expand_variant(self, params, key, action, node):
        env, p, cfg, skip = self.env, self.env_params, self.cfg, self.skip
        avail = env.avail_actions(node.state, p)  # [N, A]
        k_co, k_env = jax.random.split(key)
        tables = params.get("tables", {})
        const = {k: c[node.root] for k, c in params.get("consts", {}).items()}
        if "obs" in skip:  # the walls' part too
            const = {k: jnp.zeros_like(c) for k, c in const.items()}
        logp = self.co_player_log_probs(params["goal"], node.state, avail, node.goals, node.focal, tables.get("goal"),
                                        const.get("goal"))
        actions = jax.random.categorical(k_co, logp).astype(jnp.int32).at[node.focal].set(action.astype(jnp.int32))
        if "step" in skip:
            state2, reward, done, avail2 = node.state, jnp.zeros(()), node.done, avail
        else:
            _, state2, rewards, dones, info = env.step(k_env, node.state, actions, p)
            reward = jnp.where(node.done, 0.0, rewards[node.focal])
            done = node.done | dones.agents[node.focal] | dones.episode
            avail2 = info["avail_actions"]
        if "planner" in skip:
            logits, value = jnp.zeros((self.num_actions,)), jnp.zeros(())
        else:
            logits, value = self.focal_net(params["planner"], state2, node.focal, avail2[node.focal],
                                           tables.get("planner"), const.get("planner"))
        out = mctx.RecurrentFnOutput(reward=reward, discount=jnp.where(done, 0.0, cfg.gamma),
                                     prior_logits=logits, value=jnp.where(done, 0.0, value))
        return out, node.replace(state=state2, done=done)

    def recurrent_fn(self, params, key, action, embedding):
        if not self.skip:
            return super().recurrent_fn(params, key, action, embedding)
        if self.skip == set(VARIANTS["tree only"]):
            b = action.shape[0]
            a = self.num_actions
            z = jnp.zeros((b,))
            return mctx.RecurrentFnOutput(reward=z, discount=z + self.cfg.gamma, prior_logits=jnp.zeros((b, a)),
                                          value=z), embedding
        keys = jax.random.split(key, action.shape[0])
        return jax.vmap(self._expand_variant, in_axes=(None, 0, 0, 0))(params, keys, action, embedding)


def main() -> None:
    p = parser(__doc__.splitlines()[0], "mcts_breakdown")
    p.add_argument("--envs", type=int, default=64)
    p.add_argument("--sims", type=int, default=200)
    p.add_argument("--trees", type=int, default=5)
    p.add_argument("--small", action="store_true", help="5x5 grid, 20 steps")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    info = machine()
    print_machine(info)
    cfg, env, ep, gp, pn, params = hop_search_setup(args.small, args.sims, args.trees)
    e = args.envs
    states, log_b = search_roots(env, ep, e)
    fns = {}
    for name, skip in VARIANTS.items():
        planner = StagePlanner(env, ep, gp, pn, cfg.search, skip=skip)
        fns[name], _ = compile_timed(jax.jit(planner.plan, static_argnums=4), jax.random.PRNGKey(3), params,
                                     states, log_b, (0,))
        block(fns[name](jax.random.PRNGKey(4), params, states, log_b))
    times = {k: [] for k in fns}
    for r in range(args.repeats):  # variants interleaved, round by round
        for name, fn in fns.items():
            t0 = time.perf_counter()
            block(fn(jax.random.PRNGKey(5 + r), params, states, log_b))
            times[name].append(time.perf_counter() - t0)
    full = statistics.median(times["full"])
    rows = []
    for name in fns:
        t = statistics.median(times[name])
        rows.append({"variant": name, "ms": 1e3 * t, "share": (full - t) / full if name not in ("full", "tree only")
                     else t / full, "dec_s": e / t})
    print(f"\n{e} envs x 1 focal seat, {args.trees} trees x {args.sims} simulations, "
          f"{'5x5' if args.small else '8x8'} Stag-Hunt (share: stage's estimated part of the full "
          f"search; 'tree only': bookkeeping floor as a part of it)")
    print_table(rows, [("variant", "variant", "s"), ("ms", "ms/call", ".1f"), ("dec_s", "decisions/s", ",.1f"),
                       ("share", "share of full", ".0%")])
    write_json(args.json, {"benchmark": "mcts_breakdown", "machine": info, "args": vars(args), "rows": rows,
                           "load": load()})


if __name__ == "__main__":
    main()

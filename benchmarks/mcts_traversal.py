"""HOP's search traversal, counted: loop steps per search with and without the stop at terminal
nodes (``planner._search``), at the paper's search size by default.

Under the batch the traversal loop runs as many steps per simulation as the deepest tree of the
batch needs, so a search costs ``sum over simulations of max over trees of the selections made``
steps. This script records, per simulation, that maximum, the mean selections per tree and the
share of trees that stopped on an expanded terminal node (``jax.debug.callback`` on
``planner._simulate``'s outputs), for the planner as it is and with the stop switched off (mctx's
traversal), and checks that both give the same decisions (actions, policies, root visits).

Usage: python benchmarks/mcts_traversal.py [--envs 64] [--sims 200] [--trees 5] [--small]
"""

from __future__ import annotations

import numpy as np

from common import parser, print_machine, machine, print_table, write_json, hop_search_setup


def count(args, stop: bool) -> tuple[dict, list]:
    import jax
    import jax.numpy as jnp

    from hopjax.algos.hop import planner

    cfg, env, ep, gp, pn, params = hop_search_setup(args.small, args.sims, args.trees)
    rec: list[tuple[float, float, float]] = []
    orig_sim, orig_patches = planner._simulate, planner._mctx_patches

    def counting(*a):
        out = orig_sim(*a)
        jax.debug.callback(lambda m, s, t: rec.append((float(m), float(s), float(t))),
                           jnp.max(out[3]), jnp.mean(out[3]), jnp.mean(out[2].astype(jnp.float32)))
        return out

    planner._simulate = counting
    if not stop:
        planner._mctx_patches = lambda is_terminal=None: orig_patches(None)
    try:
        fn = jax.jit(planner.Planner(env, ep, gp, pn, cfg.search).plan, static_argnums=4)
        n, g1 = env.num_agents(ep), env.num_goals(ep) + 1
        _, states = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(2), args.envs), ep)
        log_b = jnp.log(jnp.full((args.envs, n, g1), 1.0 / g1))
        out = jax.device_get(fn(jax.random.PRNGKey(4), params, states, log_b, (0,)))
        jax.effects_barrier()
    finally:
        planner._simulate, planner._mctx_patches = orig_sim, orig_patches
    r = np.asarray(rec)
    row = {"traversal": "stop at terminals" if stop else "mctx's (no stop)", "steps": float(r[:, 0].sum()),
           "mean_depth": float(r[:, 1].mean()), "deepest": float(r[:, 0].max()), "stopped": float(r[:, 2].mean())}
    return row, [out.action, out.policy, out.visits]


def main() -> None:
    p = parser(__doc__.splitlines()[0], "mcts_traversal")
    p.add_argument("--envs", type=int, default=64)
    p.add_argument("--sims", type=int, default=200)
    p.add_argument("--trees", type=int, default=5)
    p.add_argument("--small", action="store_true", help="5x5 grid, 20 steps")
    args = p.parse_args()
    info = machine()
    print_machine(info)
    (before, ref), (after, got) = count(args, False), count(args, True)
    equal = all(np.array_equal(a, b) for a, b in zip(ref, got))
    rows = [before, after, {"traversal": "after / before", "steps": after["steps"] / before["steps"]}]
    print(f"\n{args.envs} envs, {args.trees} trees x {args.sims} simulations, one focal seat; decisions equal: {equal}")
    print_table(rows, [("traversal", "traversal", "s"), ("steps", "loop steps per search", ",.5g"),
                       ("mean_depth", "mean selections per tree and simulation", ".2f"),
                       ("deepest", "deepest simulation", ".0f"), ("stopped", "share stopped at a terminal", ".3f")])
    write_json(args.json, {"benchmark": "mcts_traversal", "machine": info, "args": vars(args), "rows": rows,
                           "decisions_equal": equal})
    if not equal:
        raise SystemExit("mcts_traversal: the decisions differ")


if __name__ == "__main__":
    main()

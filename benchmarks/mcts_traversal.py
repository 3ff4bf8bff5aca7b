"""HOP's search traversal, counted and timed: loop steps and time per search for mctx's traversal,
with the stop at terminal nodes, and with the tie-break noise drawn a step ahead
(``planner._search``), at the paper's search size by default.

Under the batch the traversal loop runs as many steps per simulation as the deepest tree of the
batch needs, so a search costs ``sum over simulations of max over trees of the selections made``
steps. This script records, per simulation, that maximum, the mean selections per tree and the
share of trees that stopped on an expanded terminal node (``jax.debug.callback`` on
``planner._simulate``'s outputs, in a separately compiled counting copy), times the variants
interleaved in one process (median wall and CPU ms per search), and checks that all give the
same decisions (actions, policies, root visits).

Usage: python benchmarks/mcts_traversal.py [--envs 64] [--sims 200] [--trees 5] [--small] [--repeats 6]
"""

from __future__ import annotations

import contextlib
import statistics
import time

import numpy as np

from common import parser, print_machine, machine, print_table, write_json, hop_search_setup

VARIANTS = (("mctx's traversal (no stop)", False, False), ("stop at terminals", True, False),
            ("stop + noise a step ahead (planner)", True, True))


@contextlib.contextmanager
def variant(stop: bool, ahead: bool, record=None):
    """Patch the planner while tracing: no stop (``is_terminal=None``), the key carried instead
    of the noise, and/or a counting traversal appending (deepest, mean, stopped) to ``record``."""
    import jax
    import jax.numpy as jnp

    from hopjax.algos.hop import planner

    saved = planner._simulate, planner._mctx_patches, planner._selection_and_draw

    def counting(*a):
        out = saved[0](*a)
        jax.debug.callback(lambda m, s, t: record.append((float(m), float(s), float(t))),
                           jnp.max(out[3]), jnp.mean(out[3]), jnp.mean(out[2].astype(jnp.float32)))
        return out

    if record is not None:
        planner._simulate = counting
    if not stop:
        planner._mctx_patches = lambda is_terminal=None: saved[1](None)
    if not ahead:
        planner._selection_and_draw = lambda r, i, a: (planner._selection_without_switch(r, i), lambda k: k)
    try:
        yield planner
    finally:
        planner._simulate, planner._mctx_patches, planner._selection_and_draw = saved


def main() -> None:
    p = parser(__doc__.splitlines()[0], "mcts_traversal")
    p.add_argument("--envs", type=int, default=64)
    p.add_argument("--sims", type=int, default=200)
    p.add_argument("--trees", type=int, default=5)
    p.add_argument("--small", action="store_true", help="5x5 grid, 20 steps")
    p.add_argument("--repeats", type=int, default=6)
    args = p.parse_args()
    info = machine()
    print_machine(info)
    import jax
    import jax.numpy as jnp

    cfg, env, ep, gp, pn, params = hop_search_setup(args.small, args.sims, args.trees)
    n, g1 = env.num_agents(ep), env.num_goals(ep) + 1
    _, states = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(2), args.envs), ep)
    log_b = jnp.log(jnp.full((args.envs, n, g1), 1.0 / g1))
    rows, outs, fns = [], [], []
    for label, stop, ahead in VARIANTS:
        rec: list = []
        for record in (rec, None):  # a counting copy, then the timed one
            with variant(stop, ahead, record) as planner:
                fn = jax.jit(planner.Planner(env, ep, gp, pn, cfg.search).plan, static_argnums=4)
                out = jax.device_get(fn(jax.random.PRNGKey(4), params, states, log_b, (0,)))
                jax.effects_barrier()
        r = np.asarray(rec)
        rows.append({"traversal": label, "steps": float(r[:, 0].sum()), "mean_depth": float(r[:, 1].mean()),
                     "deepest": float(r[:, 0].max()), "stopped": float(r[:, 2].mean()), "wall": [], "cpu": []})
        outs.append([out.action, out.policy, out.visits])
        fns.append(fn)
    for i in range(args.repeats):  # interleaved
        for row, fn in zip(rows, fns):
            t0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(fn(jax.random.PRNGKey(5 + i), params, states, log_b, (0,)))
            row["wall"].append(1e3 * (time.perf_counter() - t0))
            row["cpu"].append(1e3 * (time.process_time() - c0))
    for row in rows:
        row["wall_ms"], row["cpu_ms"] = statistics.median(row["wall"]), statistics.median(row["cpu"])
        row["cpu_ratio"] = row["cpu_ms"] / rows[0]["cpu_ms"]
    equal = all(np.array_equal(a, b) for o in outs[1:] for a, b in zip(outs[0], o))
    print(f"\n{args.envs} envs, {args.trees} trees x {args.sims} simulations, one focal seat; "
          f"decisions equal: {equal}; medians of {args.repeats} interleaved calls")
    print_table(rows, [("traversal", "traversal", "s"), ("steps", "loop steps per search", ",.0f"),
                       ("mean_depth", "mean selections per tree and sim", ".2f"),
                       ("deepest", "deepest sim", ".0f"), ("stopped", "share stopped at a terminal", ".3f"),
                       ("wall_ms", "wall ms", ",.1f"), ("cpu_ms", "CPU ms", ",.1f"),
                       ("cpu_ratio", "CPU / no stop", ".2f")])
    write_json(args.json, {"benchmark": "mcts_traversal", "machine": info, "args": vars(args), "rows": rows,
                           "decisions_equal": equal})
    if not equal:
        raise SystemExit("mcts_traversal: the decisions differ")


if __name__ == "__main__":
    main()

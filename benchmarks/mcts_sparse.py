"""HOP's search with dense vs sparse first layers, timed interleaved in one process.

The planner's mlp trunks read sparse observations inside the tree (``Environment.seat_obs_sparse``,
``Planner.sparse_tables``; walls once per search); ``Planner.sparse_tables`` returning nothing
gives the dense path (observations built per node, dense first-layer products). Both are
compiled in one process and called alternately; the table gives median CPU and wall ms per
search (and per HOP self-play training chunk with ``--hop-envs``), the CPU-time ratio, and how
far the two searches' results are apart (they differ only by float rounding: equal actions
unless two actions' Q nearly tie).

Usage: python benchmarks/mcts_sparse.py [--envs 1 64] [--sims 200] [--trees 5] [--small] [--repeats 6]
"""

from __future__ import annotations

import contextlib
import statistics
import time

import numpy as np

from common import digest, hop_search_setup, hop_training_chunk, load, machine, parser, print_machine, print_table, search_roots, write_json


@contextlib.contextmanager
def dense_path(on: bool):
    """While tracing: ``on`` -> the planner's dense first layers (no gather tables)."""
    from hopjax.algos.hop.planner import Planner

    saved = Planner.sparse_tables
    if on:
        Planner.sparse_tables = lambda self, params: {}
    try:
        yield
    finally:
        Planner.sparse_tables = saved


def timed(calls: dict, repeats: int) -> dict:
    """{name: () -> result}, called alternately -> {name: (median CPU ms, median wall ms)}."""
    import jax

    t = {k: [] for k in calls}
    for _ in range(repeats):
        for k, f in calls.items():
            c0, w0 = time.process_time(), time.perf_counter()
            jax.block_until_ready(f())
            t[k].append((1e3 * (time.process_time() - c0), 1e3 * (time.perf_counter() - w0)))
    return {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in t.items()}


def search_row(args, envs: int) -> dict:
    import jax

    from hopjax.algos.hop.planner import Planner

    cfg, env, ep, gp, pn, params = hop_search_setup(args.small, args.sims, args.trees)
    states, log_b = search_roots(env, ep, envs)
    fns, outs = {}, {}
    for name in ("dense", "sparse"):
        with dense_path(name == "dense"):
            fns[name] = jax.jit(Planner(env, ep, gp, pn, cfg.search).plan, static_argnums=4)
            outs[name] = jax.device_get(fns[name](jax.random.PRNGKey(4), params, states, log_b, (0,)))
    ms = timed({k: (lambda f=f: f(jax.random.PRNGKey(5), params, states, log_b, (0,))) for k, f in fns.items()},
               args.repeats)
    d, s = outs["dense"], outs["sparse"]
    return {"what": f"search, {envs} envs", "dense_cpu": ms["dense"][0], "sparse_cpu": ms["sparse"][0],
            "dense_wall": ms["dense"][1], "sparse_wall": ms["sparse"][1],
            "cpu_ratio": ms["dense"][0] / ms["sparse"][0], "actions_differ": int(np.sum(d.action != s.action)),
            "visits_differ": int(np.sum(d.visits != s.visits)), "max_q_diff": float(np.max(np.abs(d.q - s.q))),
            "fingerprints": [digest(o.action, o.policy, o.visits) for o in (d, s)]}


def training_row(args) -> dict:
    import jax

    kw = dict(height=5, width=5, num_walls=0, max_steps=20) if args.small else {}
    chunks, metrics = {}, {}
    for name in ("dense", "sparse"):
        with dense_path(name == "dense"):
            _, st, metrics[name], chunk = hop_training_chunk(kw, args.hop_envs, args.sims, args.trees)
        chunks[name] = (chunk, st)
    ms = timed({k: (lambda c=c: c[0](c[1])) for k, c in chunks.items()}, max(2, args.repeats // 3))
    diff = max(float(np.max(np.abs(np.asarray(metrics["dense"][k]) - np.asarray(metrics["sparse"][k]))))
               for k in metrics["dense"])
    return {"what": f"HOP training chunk, {args.hop_envs} env(s), 4 seats", "dense_cpu": ms["dense"][0],
            "sparse_cpu": ms["sparse"][0], "dense_wall": ms["dense"][1], "sparse_wall": ms["sparse"][1],
            "cpu_ratio": ms["dense"][0] / ms["sparse"][0], "max_metric_diff": diff,
            "fingerprints": [digest(*jax.tree.leaves(metrics[k])) for k in ("dense", "sparse")]}


def main() -> None:
    p = parser(__doc__.splitlines()[0], "mcts_sparse")
    p.add_argument("--envs", type=int, nargs="+", default=[1, 64])
    p.add_argument("--sims", type=int, default=200)
    p.add_argument("--trees", type=int, default=5)
    p.add_argument("--small", action="store_true", help="5x5 grid, 20 steps")
    p.add_argument("--repeats", type=int, default=6)
    p.add_argument("--hop-envs", type=int, default=1, help="envs of the training row (0: skip it)")
    args = p.parse_args()
    info = machine()
    print_machine(info)
    rows = [search_row(args, e) for e in args.envs] + ([training_row(args)] if args.hop_envs else [])
    print(f"\n{'5x5' if args.small else '8x8'} Stag-Hunt, {args.trees} trees x {args.sims} simulations, one focal "
          f"seat; medians of interleaved calls (ms per search or chunk); fingerprints dense/sparse "
          f"as mcts_speedup.py's")
    print_table(rows, [("what", "what", "s"), ("dense_cpu", "dense CPU ms", ",.1f"),
                       ("sparse_cpu", "sparse CPU ms", ",.1f"), ("cpu_ratio", "dense / sparse CPU", ".2f"),
                       ("dense_wall", "dense wall ms", ",.1f"), ("sparse_wall", "sparse wall ms", ",.1f")])
    for r in rows:
        extra = {k: r[k] for k in ("actions_differ", "visits_differ", "max_q_diff", "max_metric_diff",
                                           "fingerprints") if k in r}
        print(f"  {r['what']}: {extra}")
    write_json(args.json, {"benchmark": "mcts_sparse", "machine": info, "args": vars(args), "rows": rows,
                           "load": load()})


if __name__ == "__main__":
    main()

"""HOP's search before/after: decisions/s, simulated env steps/s and HOP self-play training env
steps/s of this tree and of a reference commit, side by side in one run, plus an equality check.

Figures (the issue-15 table's three search rows; the paper's search size by default: 8x8
Stag-Hunt, 5 trees x 200 simulations, planner/goal nets MLP 64x64 as ``mcts_throughput.py``):

1. ``Planner.plan`` decisions/s at 1 env, one focal seat;
2. the same at ``--many`` envs, reported as simulated env steps/s (decisions x trees x sims);
3. HOP self-play training env steps/s (``HOPTrainer``'s compiled chunk, all 4 seats planning,
   ``--hop-envs`` envs).

``--ref COMMIT`` extracts that commit with ``git archive`` into a temporary folder; each tree
runs in a worker process of its own (``common.LockstepWorker``) that compiles and warms its
functions, then the two workers are timed request by request in turn (``--repeats`` requests per
figure and tree, a request being one call, or ``--one-calls`` consecutive 1-env decisions; medians
of wall and of process CPU seconds), so a change of load on a shared machine hits both trees
alike. Each tree also reports a fingerprint of its outputs at fixed seeds (the
1-env and many-env decisions' actions, policies and visits, the training chunk's metrics): equal
fingerprints = the same results.

Usage: python benchmarks/mcts_speedup.py [--ref main] [--many 64] [--hop-envs 8] [--sims 200]
       [--trees 5] [--small] [--repeats 5]
"""

from __future__ import annotations

import statistics

import functools

from common import (LockstepWorker, add_tree_args, block, code_trees, digest, hop_search_setup, hop_training_chunk,
                    machine, parser, print_machine, print_table, search_roots, serve_lockstep, use_tree, write_json)


def worker(args) -> None:
    """Compile and warm the three figures' functions in the hopjax found first on ``sys.path``
    (``--root``), report sizes and fingerprints, then serve timed calls (``serve_lockstep``)."""
    import jax

    from hopjax.algos.hop.planner import Planner

    cfg, env, ep, gp, pn, params = hop_search_setup(args.small, args.sims, args.trees)
    fn = jax.jit(Planner(env, ep, gp, pn, cfg.search).plan, static_argnums=4)
    fns, report = {}, {}
    for name, e in (("one", 1), ("many", args.many)):
        states, log_b = search_roots(env, ep, e)
        res = block(fn(jax.random.PRNGKey(4), params, states, log_b, (0,)))
        report[f"{name}_fingerprint"] = digest(res.action, res.policy, res.visits)
        report[f"{name}_envs"] = e
        call = functools.partial(fn, jax.random.PRNGKey(5), params, states, log_b, (0,))
        calls = args.one_calls if e == 1 else 1  # a 1-env decision takes milliseconds: time a run of them
        fns[name] = lambda call=call, calls=calls: [call() for _ in range(calls)]
        report[f"{name}_calls"] = calls
        block(fns[name]())
    if args.hop_envs:
        tr, st, metrics, chunk = hop_training_chunk(cfg.env_kwargs, args.hop_envs, args.sims, args.trees)
        report["hop_fingerprint"] = digest(*jax.tree.leaves(metrics))
        report["hop_steps"] = tr.steps_per_update
        fns["hop"] = functools.partial(chunk, st)
        block(fns["hop"]())
    serve_lockstep(fns, report)


def figures(r: dict, t: dict, args) -> dict:
    """Throughputs from a worker's report ``r`` and median seconds ``t`` per function."""
    one, many = t["one"] / r["one_calls"], t["many"] / r["many_calls"]  # seconds per call
    d = {"dec_1": r["one_envs"] / one, "sim_steps_many": r["many_envs"] * args.trees * args.sims / many,
         "dec_many": r["many_envs"] / many}
    if "hop" in t:
        d["hop_sps"] = r["hop_steps"] / t["hop"]
    return d


def main() -> None:
    p = parser(__doc__.splitlines()[0], "mcts_speedup")
    p.add_argument("--many", type=int, default=64, help="envs of the many-env row")
    p.add_argument("--hop-envs", type=int, default=8, help="envs of the training row (0: skip it)")
    p.add_argument("--sims", type=int, default=200)
    p.add_argument("--trees", type=int, default=5)
    p.add_argument("--small", action="store_true", help="5x5 grid, 20 steps")
    p.add_argument("--repeats", type=int, default=5, help="timed requests per figure and tree (median)")
    p.add_argument("--one-calls", type=int, default=10, help="1-env decisions per timed request")
    add_tree_args(p, "the 'before' column")
    args = p.parse_args()
    if args.worker:
        use_tree(args.root)
        return worker(args)
    info = machine()
    print_machine(info)
    argv = ["--many", str(args.many), "--hop-envs", str(args.hop_envs), "--sims", str(args.sims), "--trees",
            str(args.trees), "--one-calls", str(args.one_calls)] + ["--small"] * args.small
    names = ["one", "many"] + ["hop"] * bool(args.hop_envs)
    with code_trees(args.ref) as trees:
        workers = {label: LockstepWorker(__file__, root, argv) for label, root in trees}
        reports = {label: w.ready() for label, w in workers.items()}
        wall = {label: {n: [] for n in names} for label in workers}
        cpu = {label: {n: [] for n in names} for label in workers}
        for _ in range(args.repeats):  # call by call: each figure, each tree in turn
            for n in names:
                for label, w in workers.items():
                    t, c = w.time(n)
                    wall[label][n].append(t)
                    cpu[label][n].append(c)
        for w in workers.values():
            w.close()
    rows = []
    for label, r in reports.items():
        fig = figures(r, {n: statistics.median(v) for n, v in wall[label].items()}, args)
        cfig = figures(r, {n: statistics.median(v) for n, v in cpu[label].items()}, args)
        rows.append({"code": label, **fig, **{f"cpu_{k}": v for k, v in cfig.items()},
                     "fingerprints": " ".join(r.get(f"{k}_fingerprint", "-") for k in ("one", "many", "hop"))})
        print(f"  {label}: {fig}", flush=True)
    if len(rows) == 2:
        before, after = rows
        rows.append({"code": "after / before", **{k: after[k] / before[k] for k in before
                                                  if isinstance(before[k], float)},
                     "fingerprints": "equal" if before["fingerprints"] == after["fingerprints"] else "DIFFER"})
    size = f"{'5x5' if args.small else '8x8'} Stag-Hunt, {args.trees} trees x {args.sims} simulations"
    print(f"\n{size}; many = {args.many} envs; training = {args.hop_envs} envs, 4 seats planning")
    print_table(rows, [("code", "code", "s"), ("dec_1", "decisions/s, 1 env", ",.2f"),
                       ("dec_many", "decisions/s, many", ",.1f"), ("sim_steps_many", "sim env steps/s, many", ",.0f"),
                       ("hop_sps", "HOP train env steps/s", ",.1f"), ("fingerprints", "fingerprints 1/many/train", "s")])
    if len(rows) == 3:
        print("per CPU second (process CPU time, all threads): after / before " + ", ".join(
            f"{k} {rows[2]['cpu_' + k]:.2f}x" for k in ("dec_1", "dec_many", "hop_sps") if "cpu_" + k in rows[2]))
    write_json(args.json, {"benchmark": "mcts_speedup", "machine": info, "args": vars(args), "rows": rows,
                           "wall_s": wall, "cpu_s": cpu, "reports": reports})


if __name__ == "__main__":
    main()

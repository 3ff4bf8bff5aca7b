"""HOP's search before/after: decisions/s, simulated env steps/s and HOP self-play training env
steps/s of this tree and of a reference commit, side by side in one run, plus an equality check.

Figures (the issue-15 table's three search rows; the paper's search size by default: 8x8
Stag-Hunt, 5 trees x 200 simulations, planner/goal nets MLP 64x64 as ``mcts_throughput.py``):

1. ``Planner.plan`` decisions/s at 1 env, one focal seat;
2. the same at ``--many`` envs, reported as simulated env steps/s (decisions x trees x sims);
3. HOP self-play training env steps/s (``HOPTrainer``'s compiled chunk, all 4 seats planning,
   ``--hop-envs`` envs).

``--ref COMMIT`` extracts that commit with ``git archive`` into a temporary folder and runs the
same measurements there in a subprocess (as ``om_cost.py``); the trees run one after the other,
``--rounds`` times alternating, medians over rounds. Each tree also prints a fingerprint of its
outputs at fixed seeds (the 1-env and many-env decisions' actions and policies, the training
chunk's metrics): equal fingerprints = the same results.

Usage: python benchmarks/mcts_speedup.py [--ref main] [--many 64] [--hop-envs 8] [--sims 200]
       [--trees 5] [--small] [--rounds 2]
"""

from __future__ import annotations

import statistics

from common import (add_tree_args, block, code_trees, digest, emit_rows, hop_search_setup, hop_training_chunk, machine,
                    median_seconds, parser, print_machine, print_table, run_worker, search_roots, use_tree,
                    write_json)


def worker(args) -> dict:
    """Measure the hopjax found first on ``sys.path`` (``--root``)."""
    import jax

    from hopjax.algos.hop.planner import Planner

    cfg, env, ep, gp, pn, params = hop_search_setup(args.small, args.sims, args.trees)
    fn = jax.jit(Planner(env, ep, gp, pn, cfg.search).plan, static_argnums=4)
    out = {}
    for name, e in (("one", 1), ("many", args.many)):
        states, log_b = search_roots(env, ep, e)
        res = block(fn(jax.random.PRNGKey(4), params, states, log_b, (0,)))
        out[f"{name}_fingerprint"] = digest(res.action, res.policy, res.visits)
        out[f"{name}_s"] = median_seconds(lambda: fn(jax.random.PRNGKey(5), params, states, log_b, (0,)),
                                          args.repeats)
        out[f"{name}_envs"] = e
    if args.hop_envs:
        tr, st, metrics, chunk = hop_training_chunk(cfg.env_kwargs, args.hop_envs, args.sims, args.trees)
        out["hop_fingerprint"] = digest(*jax.tree.leaves(metrics))
        out["hop_s"] = median_seconds(lambda: chunk(st), args.repeats)
        out["hop_steps"] = tr.steps_per_update
    return out


def run_tree(root: str, args) -> dict:
    return run_worker(__file__, root, ["--many", str(args.many), "--hop-envs", str(args.hop_envs), "--sims",
                                       str(args.sims), "--trees", str(args.trees), "--repeats", str(args.repeats)]
                      + ["--small"] * args.small)


def figures(r: dict, args) -> dict:
    d = {"dec_1": r["one_envs"] / r["one_s"], "sim_steps_many": r["many_envs"] * args.trees * args.sims / r["many_s"],
         "dec_many": r["many_envs"] / r["many_s"]}
    if "hop_s" in r:
        d["hop_sps"] = r["hop_steps"] / r["hop_s"]
    return d


def main() -> None:
    p = parser(__doc__.splitlines()[0], "mcts_speedup")
    p.add_argument("--many", type=int, default=64, help="envs of the many-env row")
    p.add_argument("--hop-envs", type=int, default=8, help="envs of the training row (0: skip it)")
    p.add_argument("--sims", type=int, default=200)
    p.add_argument("--trees", type=int, default=5)
    p.add_argument("--small", action="store_true", help="5x5 grid, 20 steps")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rounds", type=int, default=1, help="alternate the trees this many times")
    add_tree_args(p, "the 'before' column")
    args = p.parse_args()
    if args.worker:
        use_tree(args.root)
        return emit_rows(worker(args))
    info = machine()
    print_machine(info)
    runs: dict[str, list[dict]] = {}
    with code_trees(args.ref) as trees:
        for _ in range(args.rounds):
            for label, root in trees:
                r = run_tree(root, args)
                runs.setdefault(label, []).append(r)
                print(f"  {label}: {figures(r, args)}", flush=True)
    rows = []
    for label, rs in runs.items():
        figs = [figures(r, args) for r in rs]
        row = {"code": label, **{k: statistics.median(f[k] for f in figs) for k in figs[0]},
               "fingerprints": " ".join(rs[0].get(f"{k}_fingerprint", "-") for k in ("one", "many", "hop"))}
        rows.append(row)
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
    write_json(args.json, {"benchmark": "mcts_speedup", "machine": info, "args": vars(args), "rows": rows,
                           "runs": runs})


if __name__ == "__main__":
    main()

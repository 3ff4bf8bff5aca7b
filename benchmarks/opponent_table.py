"""The opponent-model speed table (issue 15): every figure, measured on this machine, next to
the H200 figure of main ``cf06dbe`` (2026-11-30) and the target, with ratios.

Figures (default sizes = the issue's; ``--tiny`` shrinks everything to prove the script on a CPU):

1. MCTS decisions/s at the paper's search size (8x8 Stag-Hunt, 5 trees x 200 simulations,
   ``Planner.plan``), 1 env, one focal seat;
2. the same at 1,024 envs, and its simulated env steps/s (decisions x trees x simulations);
3. HOP self-play training env steps/s at that search size, all 4 seats planning, 128 envs
   (``HOPTrainer``'s compiled chunk; planner/goal nets MLP 64x64 as in ``mcts_throughput.py``);
4. PPO+OMG and PPO+MOA time per env step / PPO's with the same seats (one learner, three
   scripted chasers; ``configs/stag_hunt_{ppo,omg,moa}.yaml``), 4,096 envs, the model training
   every update (``om_cost.py``'s measurement).

This is the prepared GPU run: ``python benchmarks/opponent_table.py`` on the GPU machine prints
the whole table (``--json`` writes it). On a CPU use ``--tiny`` (or pick sizes by hand).

Usage: python benchmarks/opponent_table.py [--tiny] [--mcts-envs 1 1024] [--hop-envs 128]
       [--om-envs 4096] [--sims 200] [--trees 5] [--only mcts hop om]
"""

from __future__ import annotations

import argparse

from common import (block, compile_timed, hop_search_setup, hop_training_chunk, machine, median_seconds, parser,
                    print_machine, print_table, search_roots, write_json)

import jax

# (H200, main cf06dbe, 2026-11-30: the "now" column; target)
NOW_TARGET = {
    "mcts_1": (17.0, 50.0),
    "mcts_many": (1061.0, None),
    "mcts_many_sim_steps": (1.06e6, 1e7),
    "hop_train": (159.0, 2000.0),
    "omg_cost": (3.9, 1.5),
    "moa_cost": (2.2, 1.3),
}
LOWER_IS_BETTER = {"omg_cost", "moa_cost"}


def mcts_rows(args) -> list[dict]:
    from hopjax.algos.hop.planner import Planner

    cfg, env, ep, gp, pn, params = hop_search_setup(False, args.sims, args.trees, args.env_kwargs)
    planner = Planner(env, ep, gp, pn, cfg.search)
    out = []
    for i, e in enumerate(args.mcts_envs):
        states, log_b = search_roots(env, ep, e)
        fn, _ = compile_timed(jax.jit(planner.plan, static_argnums=4), jax.random.PRNGKey(3), params, states,
                              log_b, (0,))
        block(fn(jax.random.PRNGKey(4), params, states, log_b))
        dec = e / median_seconds(lambda: fn(jax.random.PRNGKey(5), params, states, log_b), args.repeats)
        size = f"{args.trees}x{args.sims}, {e} env{'s' if e > 1 else ''}"
        if i == 0:
            out.append(row("mcts_1", f"MCTS decisions/s ({size})", dec))
        else:
            out.append(row("mcts_many", f"MCTS decisions/s ({size})", dec))
            out.append(row("mcts_many_sim_steps", f"  simulated env steps/s ({size})",
                           dec * args.trees * args.sims))
    return out


def hop_rows(args) -> list[dict]:
    e = args.hop_envs
    tr, st, _, chunk = hop_training_chunk(args.env_kwargs, e, args.sims, args.trees)
    sps = tr.steps_per_update / median_seconds(lambda: chunk(st), args.repeats)
    return [row("hop_train", f"HOP self-play training env steps/s ({e} envs, 4 seats planning)", sps)]


def om_rows(args) -> list[dict]:
    from om_cost import chunk_rows, prepare

    ns = argparse.Namespace(envs=args.om_envs, chunk_updates=2, small=args.tiny, chunks=args.repeats,
                            no_stages=True)
    kinds = ("ppo", "omg", "moa")
    sps = {r["kind"]: r["steps_per_s"] for r in chunk_rows(kinds, [prepare(k, ns) for k in kinds], ns)}
    return [row("omg_cost", f"PPO+OMG cost per env step vs PPO ({args.om_envs} envs)", sps["ppo"] / sps["omg"]),
            row("moa_cost", f"PPO+MOA cost per env step vs PPO ({args.om_envs} envs)", sps["ppo"] / sps["moa"]),
            row(None, f"  (PPO {sps['ppo']:,.0f}, PPO+OMG {sps['omg']:,.0f}, PPO+MOA {sps['moa']:,.0f} env steps/s)",
                None)]


def row(key, label, value) -> dict:
    now, target = NOW_TARGET.get(key, (None, None))
    r = {"figure": label, "value": value, "h200_main": now, "target": target, "key": key}
    if value is not None and now:
        r["vs_h200_main"] = (now / value) if key in LOWER_IS_BETTER else (value / now)
    if value is not None and target:
        r["meets"] = "yes" if (value <= target if key in LOWER_IS_BETTER else value >= target) else "no"
    return r


def main() -> None:
    p = parser(__doc__.splitlines()[0], "opponent_table")
    p.add_argument("--tiny", action="store_true", help="tiny sizes (5x5/4x4 grids, few envs and simulations)")
    p.add_argument("--mcts-envs", type=int, nargs="+", default=None)
    p.add_argument("--hop-envs", type=int, default=None)
    p.add_argument("--om-envs", type=int, default=None)
    p.add_argument("--sims", type=int, default=None)
    p.add_argument("--trees", type=int, default=None)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--only", nargs="+", default=["mcts", "hop", "om"], choices=["mcts", "hop", "om"])
    args = p.parse_args()
    tiny = dict(mcts_envs=[1, 8], hop_envs=4, om_envs=32, sims=4, trees=2)
    full = dict(mcts_envs=[1, 1024], hop_envs=128, om_envs=4096, sims=200, trees=5)
    for k, v in (tiny if args.tiny else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.env_kwargs = dict(height=5, width=5, num_walls=0, max_steps=20) if args.tiny else {}
    info = machine()
    print_machine(info)
    rows = []
    for part, fn in (("mcts", mcts_rows), ("hop", hop_rows), ("om", om_rows)):
        if part in args.only:
            rows += fn(args)
            print(f"  {part} done", flush=True)
    print(f"\n{info['device']} ({info['backend']}), {info['date']}"
          f"{'  [--tiny sizes: not comparable with the H200 column]' if args.tiny else ''}")
    print_table(rows, [("figure", "figure", "s"), ("value", "this run", ",.2f"),
                       ("h200_main", "H200 main cf06dbe", ",.1f"), ("vs_h200_main", "x better", ".2f"),
                       ("target", "target", ",.1f"), ("meets", "meets", "s")])
    write_json(args.json, {"benchmark": "opponent_table", "machine": info,
                           "args": {k: v for k, v in vars(args).items()}, "rows": rows})


if __name__ == "__main__":
    main()

"""HOP planning throughput: MCTS decisions per second vs number of envs and simulations.

One *decision* is one root action chosen for one focal agent in one env: ``num_trees`` mctx
trees of ``num_simulations`` simulations each, every simulation expanding one node by sampling
the co-players' actions from the goal-conditioned policy (goals drawn from the beliefs) and
stepping the real environment, with the planner net as prior and leaf value
(``hopjax.algos.hop.planner.Planner.plan``). All envs' trees form one mctx batch. Networks are
randomly initialised (speed does not depend on their weights); states are fresh resets.

Reported per (envs, simulations): compile seconds, decisions/s, simulated env steps/s
(decisions x trees x simulations) and the median wall time of one batched call.

Usage: python benchmarks/mcts_throughput.py [--envs 1 16 64] [--sims 16 64] [--trees 2]
       [--focal 1] [--env stag_hunt] [--max-depth 0] [--small]
       (--small: the 5x5 grid of configs/*_hop.yaml; default: the paper-sized 8x8 env)
"""

from __future__ import annotations

import statistics
import time

from common import block, compile_timed, load, machine, parser, print_machine, print_table, write_json, search_roots

import jax

from hopjax.algos.hop.trainer import HOPConfig, make_env, make_networks
from hopjax.algos.hop.planner import Planner, SearchConfig


def main() -> None:
    p = parser(__doc__.splitlines()[0], "mcts_throughput")
    p.add_argument("--envs", type=int, nargs="+", default=[1, 16, 64])
    p.add_argument("--sims", type=int, nargs="+", default=[16, 64])
    p.add_argument("--trees", type=int, default=2)
    p.add_argument("--focal", type=int, default=1, help="planning seats per env (4: self-play)")
    p.add_argument("--env", default="stag_hunt")
    p.add_argument("--small", action="store_true", help="5x5 grid, 20 steps (the CPU configs)")
    p.add_argument("--max-depth", type=int, default=0, help="simulation depth cap (0: episode length)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    info = machine()
    print_machine(info)
    kw = dict(height=5, width=5, num_walls=0, max_steps=20) if args.small else {}
    cfg = HOPConfig(env=args.env, env_kwargs=kw, hidden_sizes=(64, 64))
    env, ep = make_env(cfg)
    gp, pn = make_networks(cfg, env, ep)
    params = {"goal": gp.init(jax.random.PRNGKey(0)), "planner": pn.init(jax.random.PRNGKey(1))}
    n = env.num_agents(ep)
    focal = tuple(range(args.focal))
    depth = args.max_depth or env.episode_length(ep)
    print(f"{args.env} {kw or 'default params'}: {n} agents, {args.trees} trees, focal seats {focal}, "
          f"max depth {depth}")
    rows = []
    for e in args.envs:
        states, log_b = search_roots(env, ep, e)
        for s in args.sims:
            search = SearchConfig(s, args.trees, cfg.c_puct, cfg.gamma, cfg.q_temperature, args.max_depth)
            planner = Planner(env, ep, gp, pn, search)
            fn = jax.jit(planner.plan, static_argnums=4)
            compiled, c_s = compile_timed(fn, jax.random.PRNGKey(3), params, states, log_b, focal)
            block(compiled(jax.random.PRNGKey(4), params, states, log_b))
            times = []
            for r in range(args.repeats):
                t0 = time.perf_counter()
                block(compiled(jax.random.PRNGKey(5 + r), params, states, log_b))
                times.append(time.perf_counter() - t0)
            t = statistics.median(times)
            dec = e * len(focal) / t
            rows.append({"envs": e, "sims": s, "trees": args.trees, "compile_s": c_s, "call_ms": 1e3 * t,
                         "decisions_per_s": dec, "sim_steps_per_s": dec * args.trees * s, "load": load()})
            print(f"  envs {e:4d} sims {s:4d}: {dec:10.1f} decisions/s", flush=True)
    print()
    print_table(rows, [("envs", "envs", "d"), ("sims", "sims/tree", "d"), ("trees", "trees", "d"),
                       ("compile_s", "compile s", ".1f"), ("call_ms", "ms/call", ".1f"),
                       ("decisions_per_s", "decisions/s", ",.1f"), ("sim_steps_per_s", "sim steps/s", ",.0f"),
                       ("load", "load", ".1f")])
    write_json(args.json, {"machine": info, "args": vars(args), "rows": rows})


if __name__ == "__main__":
    main()

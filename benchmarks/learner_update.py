"""PPO's networks for the learner seats only vs for every seat, with scripted co-players.

A scripted seat acts from its script and its entries are masked out of every loss, yet its
policy network used to run: forward in every rollout step, forward and backward in every epoch
(where its all-masked entries gave zero gradients). Now ``Rollout.policy_apply`` runs the
learners' networks only and ``make_grad_step(..., learners)`` computes the loss, gradient and
Adam step for the learner seats only (independent parameters). This script builds each config
twice in one process - the trainer as shipped, and the same trainer with every seat's networks
(the rollout's ``net_seats`` None and ``make_grad_step`` without ``learners``; built by
``om_cost.prepare``) - and times their compiled chunks alternately, call by call (median wall
seconds): the speed-up per config, and each opponent model's cost per env step relative to
PPO's under both (``om_cost.py``'s ratio).

Configs: ``configs/stag_hunt_{ppo,omg,moa}.yaml`` with seats ``[learner, stag, hare, stag]``
(as ``om_cost.py``), whole episodes, the model training in every timed update.

Usage: python benchmarks/learner_update.py [--envs 4096] [--kinds ppo omg moa] [--chunks 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import block, machine, parser, print_machine, print_table, write_json
from om_cost import prepare


def all_seats(tr, cfg) -> None:
    """Every seat's networks, as before: the rollout runs them all, and the update computes
    every seat's loss, gradient and Adam step (no ``learners``)."""
    from hopjax.algos.ppo.loss import make_grad_step

    tr.rollout.net_seats = None
    tr.grad_step = make_grad_step(tr.policy, cfg, tr.optimizer)
    tr.update_seats = None  # every seat's data reaches the step


def main() -> None:
    p = parser(__doc__.splitlines()[0], "learner_update")
    p.add_argument("--envs", type=int, default=4096)
    p.add_argument("--kinds", nargs="+", default=["ppo", "omg", "moa"])
    p.add_argument("--chunks", type=int, default=5, help="timed calls per variant (median), alternated")
    args = p.parse_args()
    info = machine()
    print_machine(info)
    ns = argparse.Namespace(envs=args.envs, chunk_updates=1, small=False)
    variants = {(k, v): prepare(k, ns, all_seats if v == "all seats" else None)
                for k in args.kinds for v in ("all seats", "learners")}
    times = {key: [] for key in variants}
    for _ in range(args.chunks):
        for key, (_, runner, chunk, _) in variants.items():
            t0 = time.perf_counter()
            block(chunk(runner))
            times[key].append(time.perf_counter() - t0)
    med = {key: statistics.median(t) for key, t in times.items()}
    rows = []
    for k in args.kinds:
        steps = variants[(k, "learners")][0].steps_per_update  # chunk_updates 1
        row = {"kind": k, "all_sps": steps / med[(k, "all seats")], "learner_sps": steps / med[(k, "learners")],
               "speedup": med[(k, "all seats")] / med[(k, "learners")]}
        if "ppo" in args.kinds:
            row["cost_all"] = med[(k, "all seats")] / med[("ppo", "all seats")]
            row["cost_learner"] = med[(k, "learners")] / med[("ppo", "learners")]
        rows.append(row)
    print(f"\n{args.envs} envs, 8x8 Stag-Hunt, seats [learner, stag, hare, stag]; env steps/s (median of "
          f"{args.chunks} alternated chunks) and cost per env step vs PPO with the same networks run")
    print_table(rows, [("kind", "algo", "s"), ("all_sps", "every seat's networks", ",.0f"),
                       ("learner_sps", "learners' networks only", ",.0f"), ("speedup", "speed-up", ".2f"),
                       ("cost_all", "cost vs PPO (all seats)", ".2f"),
                       ("cost_learner", "cost vs PPO (learners)", ".2f")])
    write_json(args.json, {"benchmark": "learner_update", "machine": info, "args": vars(args), "rows": rows,
                           "seconds": {f"{k} / {v}": t for (k, v), t in times.items()}})


if __name__ == "__main__":
    main()

"""PPO+OMG and PPO+MOA cost per env step vs PPO with the same seats, per stage, before/after.

Three configs with the same env and seats (``configs/stag_hunt_{ppo,omg,moa}.yaml``: one learner
next to scripted stag/hare/stag chasers; ``--small`` the 4x4 grid): for each, the trainer's
jitted chunk (``chunk_updates`` PPO updates, whole episodes) gives env steps/s, and the ratio
``time per env step / PPO's`` is the opponent model's cost factor (the issue's target: OMG at
most 1.5x, MOA at most 1.3x). ``num_envs`` >= ``min_episodes``, so the model trains in every
timed update (a worst case: the cost of training is not amortised over skipped updates). The
configs' chunks are timed alternately, call by call (``--chunks`` rounds; median wall and
process-CPU seconds), so a change of load on a shared machine hits every config alike.

Stages (each its own jitted call on the same state, ms per update; leave-one-out by
construction): ``rollout`` (env steps + policy, plus the model's rollout hook ``pre``/``post``
for OMG/MOA), ``annotate`` (OMG: hindsight subgoal selection = prior + candidate values +
heads; MOA: unroll + accuracy + influence), ``ppo`` (GAE + epochs x minibatches), ``om_train``
(the model's ``train_steps`` gradient steps on replayed episodes).

``--ref COMMIT`` (e.g. the main commit before the speed-up) measures that commit's code too,
extracted with ``git archive`` into a temporary folder and run in a subprocess with the same
arguments, one tree after the other in this one run: the "before" column.

Usage: python benchmarks/om_cost.py [--envs 256] [--small] [--ref d064aca] [--chunks 3]
"""

from __future__ import annotations

import statistics
import time

from common import ROOT, add_tree_args, code_trees, emit_rows, run_worker, use_tree, block, machine, parser, print_machine, print_table, write_json

CONFIGS = {"ppo": "stag_hunt_ppo.yaml", "omg": "stag_hunt_omg.yaml", "moa": "stag_hunt_moa.yaml"}
SEATS = "agents=[learner,stag,hare,stag]"
SMALL = ["env_kwargs={height: 4, width: 4, num_walls: 0}"]


def timed(fn, *args, repeats: int) -> float:
    """Median wall seconds of ``fn(*args)`` (compiled first, outside the timing)."""
    block(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        block(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def prepare(kind: str, args, adjust=None):
    """One config in the hopjax on ``sys.path``, compiled and run until its model trains ->
    (trainer, runner, compiled chunk, config). ``adjust(trainer, cfg)``, if given, may change the
    trainer before it is initialised (e.g. ``learner_update.py``'s all-seats update)."""
    import jax

    from hopjax.algos.ppo import PPOConfig
    from hopjax.algos.ppo.trainer import Trainer
    from hopjax.config import load_config
    from hopjax.loop import Loop

    over = [SEATS, f"num_envs={args.envs}", f"chunk_updates={args.chunk_updates}", "rollout_length=0",
            *(SMALL if args.small else [])]
    min_ep = min(max(args.envs, 32), 128)  # between the configs' batch_episodes and capacity
    if kind != "ppo":
        over.append(f"opponent_model.min_episodes={min_ep}")
    cfg = load_config(PPOConfig, str(ROOT / "configs" / CONFIGS[kind]), over)
    tr = Trainer(cfg)
    if adjust is not None:
        adjust(tr, cfg)
    runner = tr.init(jax.random.PRNGKey(0))
    chunk = Loop(tr).compiled_chunk(runner)
    for _ in range(-(-min_ep // (args.envs * cfg.chunk_updates))):  # until the model trains
        runner, _ = block(chunk(runner))
    block(chunk(runner))
    return tr, runner, chunk, cfg


def chunk_rows(kinds, prepared, args) -> list[dict]:
    """Each config's chunk timed ``args.chunks`` times, the configs interleaved call by call (so
    a change of load on this shared machine hits every config alike): median wall seconds, and
    median process CPU seconds next to them."""
    wall = {k: [] for k in kinds}
    cpu = {k: [] for k in kinds}
    for _ in range(args.chunks):
        for k, (_, runner, chunk, _) in zip(kinds, prepared):
            c0, t0 = time.process_time(), time.perf_counter()
            block(chunk(runner))
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    rows = []
    for k, (tr, _, _, cfg) in zip(kinds, prepared):
        t = statistics.median(wall[k])
        steps = tr.steps_per_update * cfg.chunk_updates
        rows.append({"kind": k, "E": args.envs, "chunk_s": t, "chunk_cpu_s": statistics.median(cpu[k]),
                     "steps_per_s": steps / t, "cpu_steps_per_s": steps / statistics.median(cpu[k]),
                     "ms_per_update": 1e3 * t / cfg.chunk_updates})
    return rows


def stages(row: dict, tr, runner, args) -> dict:
    """Per-stage ms per update, each stage its own jitted call on the same state."""
    import jax

    ro, om = tr.rollout, tr.om
    k = jax.random.PRNGKey(1)
    om_params = None if om is None else runner.om.params
    roll = jax.jit(lambda r, k: ro.run(k, r.params, ro.reset(k), om_params=om_params))
    row["rollout"] = timed(roll, runner, k, repeats=args.chunks)
    _, batch, _ = roll(runner, k)
    extra, bonus = None, None
    if om is not None:
        ann = jax.jit(lambda r, b, k: om.annotate(r.om.params, r.params, b, k, r.update))
        row["annotate"] = timed(ann, runner, batch, k, repeats=args.chunks)
        batch, extra, bonus, _ = ann(runner, batch, k)
        upd = jax.jit(lambda r, b, k: om.train_rounds(r.om.params, r.om.opt_state, r.om.buffer, r.params, k))
        row["om_train"] = timed(upd, runner, batch, k, repeats=args.chunks)
    ppo = jax.jit(lambda r, b, e, x, k: tr.epochs(r.params, r.opt_state, tr.minibatch_data(b, e, x), k))
    row["ppo"] = timed(ppo, runner, batch, extra, bonus, k, repeats=args.chunks)
    for s in ("rollout", "annotate", "ppo", "om_train"):
        if s in row:
            row[s] *= 1e3
    return row


def worker(args) -> None:
    use_tree(args.root)  # the tree to measure comes first
    prepared = [prepare(k, args) for k in args.kinds]
    rows = chunk_rows(args.kinds, prepared, args)
    if not args.no_stages:
        rows = [stages(r, tr, runner, args) for r, (tr, runner, _, _) in zip(rows, prepared)]
    emit_rows(rows)


def run_tree(root: str, label: str, args) -> list[dict]:
    rows = run_worker(__file__, root, ["--envs", str(args.envs), "--chunks", str(args.chunks), "--chunk-updates",
                                       str(args.chunk_updates), "--kinds", *args.kinds]
                      + ["--small"] * args.small + ["--no-stages"] * args.no_stages)
    base = next((r for r in rows if r["kind"] == "ppo"), None)
    for r in rows:
        r["tree"] = label
        r["cost_vs_ppo"] = base["steps_per_s"] / r["steps_per_s"] if base else None
        r["cpu_cost_vs_ppo"] = base["cpu_steps_per_s"] / r["cpu_steps_per_s"] if base else None
    print(f"  {label}: " + ", ".join(f"{r['kind']} {r['steps_per_s']:,.0f} steps/s" for r in rows), flush=True)
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0], "om_cost")
    p.add_argument("--envs", type=int, default=256)
    p.add_argument("--small", action="store_true", help="4x4 grid without walls (else 8x8, the configs)")
    p.add_argument("--chunks", type=int, default=3, help="timed repeats per measurement (median); the configs' chunks alternate call by call")
    p.add_argument("--chunk-updates", type=int, default=2)
    p.add_argument("--kinds", nargs="+", default=["ppo", "omg", "moa"])
    p.add_argument("--no-stages", action="store_true", help="chunk throughput only")
    add_tree_args(p, "the 'before' column")
    args = p.parse_args()
    if args.worker:
        return worker(args)
    info = machine()
    print_machine(info)
    rows = []
    with code_trees(args.ref) as trees:
        for label, root in trees:
            rows += run_tree(root, label, args)
    print(f"\nPer env step cost vs PPO with the same seats ({args.envs} envs, "
          f"{'4x4' if args.small else '8x8'} Stag-Hunt); stage columns: ms per update")
    print_table(rows, [("tree", "code", "s"), ("kind", "algo", "s"), ("steps_per_s", "env steps/s", ",.0f"),
                       ("cost_vs_ppo", "cost vs PPO", ".2f"), ("cpu_cost_vs_ppo", "CPU-s cost vs PPO", ".2f"),
                       ("ms_per_update", "ms/update", ".1f"),
                       ("rollout", "rollout", ".1f"), ("annotate", "annotate", ".1f"),
                       ("ppo", "ppo", ".1f"), ("om_train", "om_train", ".1f")])
    write_json(args.json, {"benchmark": "om_cost", "args": vars(args), "machine": info, "rows": rows})


if __name__ == "__main__":
    main()

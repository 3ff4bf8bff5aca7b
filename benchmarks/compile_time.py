"""Compile time of the default PPO training chunk: the first call of ``Loop.chunk`` split into
tracing (``jit(...).trace``), lowering to StableHLO (``.lower()``) and XLA's compile
(``.compile()``), each in wall and CPU seconds (``time.process_time``: all threads of the
process), plus the first state before it (``Loop.start``, as ``hopjax.runtime.cli train`` makes it:
a jitted ``Trainer.init``) and the program sizes (jaxpr equations with sub-jaxprs, StableHLO lines,
optimised HLO instructions and fusions).

Every (tree, config) runs in a fresh subprocess, so nothing is cached between measurements.
``--ref COMMIT`` extracts that commit with ``git archive`` into a temporary folder and measures
it too (as ``mcts_speedup.py``); the trees alternate, ``--rounds`` times, medians over rounds.
Each run also executes the compiled chunk once and prints a fingerprint of its metrics and
final parameters: equal fingerprints = the same numbers.

Usage: python benchmarks/compile_time.py [--ref main] [--rounds 2]
       [--configs configs/stag_hunt_ppo.yaml configs/stag_hunt_4x4_ppo.yaml] [--set key=value ...]
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time

from common import add_tree_args, code_trees, emit_rows, run_worker, use_tree, machine, parser, print_machine, print_table, write_json

CONFIGS = ["configs/stag_hunt_ppo.yaml", "configs/stag_hunt_4x4_ppo.yaml"]
STAGES = ("init", "trace", "lower", "compile")


def _eqns(jaxpr) -> int:
    """Equations of a (closed) jaxpr, sub-jaxprs (scan/cond/while bodies, pjit) included."""
    from jax.extend import core as jcore

    j = getattr(jaxpr, "jaxpr", jaxpr)
    n = 0
    for e in j.eqns:
        n += 1
        for v in e.params.values():
            for sub in v if isinstance(v, (tuple, list)) else (v,):
                if isinstance(sub, (jcore.Jaxpr, jcore.ClosedJaxpr)):
                    n += _eqns(sub)
    return n


def worker(config: str, sets: list[str]) -> dict:
    """Measure the hopjax first on ``sys.path`` for one config."""
    import jax

    from hopjax.algos.ppo import PPOConfig
    from hopjax.algos.ppo.trainer import Trainer
    from hopjax.config import load_config
    from hopjax.loop import Loop

    cfg = load_config(PPOConfig, config, sets)
    out: dict = {}

    def stage(name, fn):
        w, c = time.perf_counter(), time.process_time()
        r = jax.block_until_ready(fn())
        out[f"{name}_s"], out[f"{name}_cpu"] = time.perf_counter() - w, time.process_time() - c
        return r

    trainer = Trainer(cfg)
    loop = Loop(trainer)
    runner = stage("init", lambda: loop.start(jax.random.PRNGKey(cfg.seed)))  # as the CLI: jitted init
    traced = stage("trace", lambda: loop.chunk.trace(runner))
    lowered = stage("lower", traced.lower)
    compiled = stage("compile", lowered.compile)
    hlo = compiled.as_text()
    out.update(jaxpr_eqns=_eqns(traced.jaxpr), stablehlo_lines=lowered.as_text().count("\n"),
               hlo_instructions=sum(1 for line in hlo.splitlines() if " = " in line),
               hlo_fusions=hlo.count(" fusion("))
    state, metrics = jax.block_until_ready(compiled(runner))
    out["traces"] = loop.trace_count  # 1: the chunk was traced once, running it traced nothing
    h = hashlib.sha256()
    for a in jax.tree.leaves((metrics, state.params)):
        h.update(jax.device_get(a).tobytes())
    out["fingerprint"] = h.hexdigest()[:12]
    return out


def _median(xs: list):
    """The median of the rounds; of counts (ints), the lower middle one (an int, as printed)."""
    return statistics.median_low(xs) if all(isinstance(x, int) for x in xs) else statistics.median(xs)


def run_tree(root: str, config: str, sets: list[str]) -> dict:
    argv = ["--configs", config] + [a for s in sets for a in ("--set", s)]
    return run_worker(__file__, root, argv, {"JAX_ENABLE_COMPILATION_CACHE": "false"})


def main() -> None:
    p = parser(__doc__.splitlines()[0], "compile_time")
    p.add_argument("--configs", nargs="+", default=CONFIGS)
    p.add_argument("--set", action="append", default=[], help="config override key=value (all configs)")
    p.add_argument("--rounds", type=int, default=1, help="alternate the trees this many times")
    add_tree_args(p)
    args = p.parse_args()
    if args.worker:
        use_tree(args.root)
        return emit_rows(worker(args.configs[0], args.set))
    info = machine()
    print_machine(info)
    runs: dict[tuple[str, str], list[dict]] = {}
    with code_trees(args.ref) as trees:
        for _ in range(args.rounds):
            for config in args.configs:
                for label, root in trees:
                    r = run_tree(root, config, args.set)
                    runs.setdefault((label, config), []).append(r)
                    print(f"  {label} {config}: trace {r['trace_s']:.1f} s, lower {r['lower_s']:.1f} s, "
                          f"compile {r['compile_s']:.1f} s ({r['compile_cpu']:.1f} CPU-s)", flush=True)
    rows = []
    for (label, config), rs in runs.items():
        row = {"code": label, "config": os.path.basename(config), "fingerprint": rs[0]["fingerprint"],
               **{k: _median([r[k] for r in rs]) for k in rs[0] if k != "fingerprint"}}
        row["chunk_s"] = sum(row[f"{s}_s"] for s in STAGES[1:])
        row["chunk_cpu"] = sum(row[f"{s}_cpu"] for s in STAGES[1:])
        rows.append(row)
    print(f"\nfirst call of the jitted training chunk, median of {args.rounds} fresh process(es); "
          "s = wall seconds, cpu = CPU seconds; 'chunk' = trace + lower + compile")
    print_table(rows, [("config", "config", "s"), ("code", "code", "s"), ("init_s", "init s", ".1f"),
                       ("trace_s", "trace s", ".2f"), ("lower_s", "lower s", ".2f"),
                       ("compile_s", "compile s", ".1f"), ("chunk_s", "chunk s", ".1f"),
                       ("init_cpu", "init CPU", ".1f"), ("chunk_cpu", "chunk CPU", ".1f"),
                       ("compile_cpu", "compile CPU", ".1f"), ("traces", "traces", "d"), ("jaxpr_eqns", "jaxpr eqns", ",d"),
                       ("hlo_instructions", "HLO instr", ",d"), ("hlo_fusions", "fusions", ",d"),
                       ("fingerprint", "fingerprint", "s")])
    write_json(args.json, {"benchmark": "compile_time", "machine": info, "args": vars(args), "rows": rows,
                           "runs": {f"{k[0]} | {k[1]}": v for k, v in runs.items()}})


if __name__ == "__main__":
    main()

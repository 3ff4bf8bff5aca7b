"""Where a training update's time goes, by stage and kind of operation, from a device profile.

For each of ``configs/stag_hunt_{ppo,omg,moa}.yaml`` with the seats of ``om_cost.py`` (one
learner next to scripted stag/hare/stag chasers), the trainer's compiled chunk (one update) is
run under ``jax.profiler`` and every executed XLA operation of it (CPU: the thunk executor's
events; GPU: the device's kernel events; both are tagged with their HLO instruction) is charged
its *self time*: its duration less that of the operations nested in it on the same thread
(e.g. a ``while`` less its body). The times are then grouped two ways.

* By **stage**: the named scope the trainer puts around each part of an update
  (:meth:`hopjax.algos.ppo.trainer.Trainer.update`: ``rollout``, ``annotate``, ``ppo_gae``,
  ``ppo_epochs``, ``om_update``). An operation whose source location names no stage (XLA drops
  it from some, e.g. a gradient's products) takes its enclosing operation's stage, else the
  stage during whose span of labelled operations it ran (the stages run one after the other).
* By **kind**, from the operations the instruction runs (a fusion's whole computation):
  ``matmul`` (a dot or convolution among them), ``data movement`` (only copies, transposes,
  broadcasts, reshapes, slices, concatenations, pads, gathers, scatters, dtype converts and
  selects: one read and one write per element), ``loop`` (a ``while``/``conditional``/``call``'s
  own time, which on a CPU includes waiting for its body's operations on other threads) and
  ``other`` (fusions with arithmetic: the env, activations, losses, reductions, sampling).

It prints per config a stage x kind table and the ``--top`` operations with the source location
XLA recorded (``op_name``). Every cell is the median over ``--chunks`` profiled calls, in ms per
update, and totals are sums of the cells. On a CPU the times of the thread pool's threads add
up, so a total can exceed the wall time, and two operations that run at the same time on two
cores slow each other down.

Usage: python benchmarks/profile_ops.py [--envs 4096] [--kinds ppo omg] [--chunks 3] [--top 15]
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
import statistics
import tempfile
from pathlib import Path

import jax
from common import block, load, machine, parser, print_machine, print_table, write_json
from om_cost import prepare

STAGES = ("rollout", "annotate", "ppo_gae", "ppo_epochs", "om_update")
KINDS = ("matmul", "data movement", "loop", "other")
# Operations that move or re-type data without arithmetic: a fusion made only of these (and of
# parameters/constants) is "data movement". convert and select are included: a dtype change or a
# mask costs one read and one write per element, like a copy.
MOVE = {"copy", "transpose", "bitcast", "broadcast", "reshape", "slice", "dynamic-slice",
        "dynamic-update-slice", "concatenate", "pad", "gather", "scatter", "reverse", "convert", "select",
        "iota", "copy-start", "copy-done", "bitcast-convert"}
NEUTRAL = {"parameter", "constant", "tuple", "get-tuple-element"}
LOOPS = {"while", "conditional", "call"}
_INSTR = re.compile(r"^\s*(?:ROOT )?%(\S+) = .*?\b(fusion|while|conditional|custom-call|dot|convolution|\S+?)\(")
_CALLS = re.compile(r"calls=%([\w.\-]+)")
_APPLY = re.compile(r"(?:calls|to_apply)=%([\w.\-]+)")
_OPNAME = re.compile(r'op_name="([^"]+)"')


def hlo_index(text: str) -> dict[str, dict]:
    """HLO instruction name -> {opcode, op_name, kind} from a compiled module's text. ``kind``
    comes from the operations the instruction runs (a fusion's or custom call's whole called
    computation, nested ones included): ``matmul`` if a dot or convolution is among them (or a
    GEMM library call), ``loop`` for while/conditional/call, ``data movement`` if all are in
    :data:`MOVE`, else ``other``."""
    comps, cur = {}, None
    for line in text.splitlines():
        if line and not line.startswith(" ") and "{" in line:
            cur = (line.split(" ", 2)[1] if line.startswith("ENTRY") else line.split(" ", 1)[0]).lstrip("%")
            comps[cur] = []
        elif cur is not None:
            comps[cur].append(line)
    ops = {c: [m.group(2) for m in map(_INSTR.match, lines) if m] for c, lines in comps.items()}
    calls_of = {c: [m.group(1) for ln in lines for m in _APPLY.finditer(ln)] for c, lines in comps.items()}

    def opcodes(c, seen=()):  # every opcode a computation runs, called computations included
        out = set(ops.get(c, ()))
        for sub in calls_of.get(c, ()):
            if sub not in seen:
                out |= opcodes(sub, (*seen, c))
        return out

    # A fusion that carries no op_name of its own takes the first one inside its computation.
    inner = {c: next((m.group(1) for m in map(_OPNAME.search, lines) if m), "") for c, lines in comps.items()}
    index = {}
    for lines in comps.values():
        for ln in lines:
            m = _INSTR.match(ln)
            if not m:
                continue
            name, opcode = m.group(1), m.group(2)
            calls = _CALLS.search(ln)
            op = _OPNAME.search(ln)
            run = opcodes(calls.group(1)) if calls and opcode in ("fusion", "custom-call") else {opcode}
            if run & {"dot", "convolution"} or "gemm" in ln.lower() or "cublas" in ln.lower():
                kind = "matmul"
            elif opcode in LOOPS:
                kind = "loop"
            elif run - NEUTRAL <= MOVE:
                kind = "data movement"
            else:
                kind = "other"
            index[name] = {"opcode": opcode, "kind": kind,
                           "op_name": op.group(1) if op else inner.get(calls.group(1), "") if calls else ""}
    return index


def stage_of(op_name: str) -> str | None:
    parts = op_name.split("/")
    return next((s for s in STAGES if s in parts), None)


def self_times(trace: dict, module: str, index: dict) -> list[tuple[str, float, str | None]]:
    """[(HLO instruction, self time us, stage)] of every executed operation of ``module``. An
    operation with no stage of its own (XLA drops ``op_name`` from some, e.g. a gradient's dot)
    takes its enclosing operation's on the same thread, else the stage during whose span of
    labelled operations it ran (the stages of an update run one after the other)."""
    events = [e for e in trace["traceEvents"] if e.get("ph") == "X" and (e.get("args") or {}).get("hlo_op") in index
              and module in e["args"].get("hlo_module", module)]
    # A GPU trace tags both the host's launches and the device's kernels: keep the device's.
    devices = {e["pid"] for e in trace["traceEvents"] if e.get("ph") == "M" and e.get("name") == "process_name"
               and str((e.get("args") or {}).get("name", "")).startswith("/device:")}
    if any(e["pid"] in devices for e in events):
        events = [e for e in events if e["pid"] in devices]
    by_thread = collections.defaultdict(list)
    for e in events:
        by_thread[(e["pid"], e["tid"])].append(e)
    out = []  # [op, self us, stage, midpoint]
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [event, child time, stage]

        def close(item):
            ev, child, stage = item
            out.append([ev["args"]["hlo_op"], max(ev["dur"] - child, 0.0), stage, ev["ts"], ev["ts"] + ev["dur"]])

        for e in evs:
            while stack and stack[-1][0]["ts"] + stack[-1][0]["dur"] <= e["ts"]:
                close(stack.pop())
            if stack:
                stack[-1][1] += e["dur"]
            parent = stack[-1][2] if stack else None
            stack.append([e, 0.0, stage_of(index[e["args"]["hlo_op"]]["op_name"]) or parent])
        while stack:
            close(stack.pop())
    spans = {}
    for _, _, stage, t0, t1 in out:
        if stage is not None:
            lo, hi = spans.get(stage, (t0, t1))
            spans[stage] = (min(lo, t0), max(hi, t1))
    for row in out:
        if row[2] is None:
            mid = (row[3] + row[4]) / 2
            inside = [(hi - lo, st) for st, (lo, hi) in spans.items() if lo <= mid <= hi]
            row[2] = min(inside)[1] if inside else None
    return [(op, us, stage) for op, us, stage, _, _ in out]


def profile_kind(kind: str, args) -> dict:
    tr, runner, chunk, cfg = prepare(kind, args)
    index = hlo_index(chunk.as_text())
    runs = []
    for i in range(args.chunks):
        with tempfile.TemporaryDirectory() as d:
            with jax.profiler.trace(d):
                block(chunk(runner))
            (f,) = Path(d).glob("plugins/profile/*/*.trace.json.gz")
            runs.append(self_times(json.loads(gzip.open(f).read()), "_chunk", index))
    cells, ops = [], []
    for ev in runs:
        c, o = collections.Counter(), collections.Counter()
        for name, us, stage in ev:
            c[(stage or "(none)", index[name]["kind"])] += us / 1e3 / cfg.chunk_updates
            o[name] += us / 1e3 / cfg.chunk_updates
        cells.append(c)
        ops.append(o)
    med = lambda counters, k: statistics.median(x.get(k, 0.0) for x in counters)
    table = {k: med(cells, k) for k in set().union(*cells)}
    top = sorted(((med(ops, k), k) for k in set().union(*ops)), reverse=True)[: args.top]
    return {"kind": kind, "E": args.envs, "cells": {f"{s}|{k}": v for (s, k), v in table.items()},
            "top": [{"op": k, "ms": ms, "kind": index[k]["kind"], "op_name": index[k]["op_name"]} for ms, k in top],
            "load_avg_1min": load()}


def print_kind(row: dict) -> None:
    cells = {tuple(k.split("|")): v for k, v in row["cells"].items()}
    stages = [s for s in (*STAGES, "(none)") if any((s, k) in cells for k in KINDS)]
    rows = [{"stage": s, **{k: cells.get((s, k), 0.0) for k in KINDS},
             "total": sum(cells.get((s, k), 0.0) for k in KINDS)} for s in stages]
    rows.append({"stage": "all", **{k: sum(r[k] for r in rows) for k in KINDS}, "total": sum(r["total"] for r in rows)})
    print(f"\n{row['kind']}, {row['E']} envs: ms per update (self time of the executed operations)")
    print_table(rows, [("stage", "stage", "s"), *((k, k, ",.1f") for k in KINDS), ("total", "total", ",.1f")])
    print(f"\ntop {len(row['top'])} operations")
    top = [dict(t, op_name=t["op_name"][-90:]) for t in row["top"]]
    print_table(top, [("ms", "ms", ",.1f"), ("kind", "kind", "s"), ("op", "HLO op", "s"),
                      ("op_name", "source (op_name, last 90 characters)", "s")])


def main() -> None:
    p = parser(__doc__.split("\n")[0], "profile_ops")
    p.add_argument("--envs", type=int, default=4096)
    p.add_argument("--kinds", nargs="+", default=["ppo", "omg", "moa"], choices=["ppo", "omg", "moa"])
    p.add_argument("--chunks", type=int, default=3, help="profiled calls per config (median)")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--small", action="store_true", help="the 4x4 grid (a quick check)")
    args = p.parse_args()
    args.chunk_updates = 1
    info = machine()
    print_machine(info)
    rows = []
    for kind in args.kinds:
        row = profile_kind(kind, args)
        print_kind(row)
        rows.append(row)
    write_json(args.json, {"benchmark": "profile_ops", "machine": info, "rows": rows,
                           "args": {"envs": args.envs, "kinds": args.kinds, "chunks": args.chunks, "top": args.top,
                                    "small": args.small}})


if __name__ == "__main__":
    main()

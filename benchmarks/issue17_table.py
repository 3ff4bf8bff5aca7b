"""The core-throughput table (issue 17) in one command: every figure measured by the project's own
benchmark scripts, run one after another as subprocesses (each with its JSON), then printed
as one table with the targets.

Full sizes are the issue's (GPU): env-only at 65,536 envs (episodes mode and ``AutoReset``),
PPO training of ``configs/stag_hunt_ppo.yaml`` at 32,768 envs (and its compile time; again with
``sparse_rollout: false``, the rollout's dense first layer), 16
vmapped seeds x 1,024 envs vs one seed (same updates) with the one-seed-x-16,384-envs
reference, the host loop at 256 envs (a CPU figure), JaxMARL's IPPO loop vs hopjax
(``benchmarks/ippo_jaxmarl.py``), the first call of the default training chunk
(``benchmarks/compile_time.py``), and the roofline fractions of the measured training
throughput (``benchmarks/roofline.py``, ``--device h200`` on a GPU, measured limits on a CPU).
``--tiny`` runs every script at small sizes (a check that the whole table works, in minutes
on a CPU); its figures are not the issue's.

Usage: python benchmarks/issue17_table.py [--tiny] [--out DIR] [--skip hostloop ippo ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, parser, print_machine, write_json

HERE = ROOT / "benchmarks"

FULL = {
    "env": ["--envs", "65536", "--steps-budget", "13107200"],
    "train": ["--envs", "32768", "--chunks", "3"],
    "train_dense": ["--envs", "32768", "--chunks", "3", "--set", "sparse_rollout=false"],
    "sweep": ["--seeds", "1", "16", "--set", "num_envs=1024", "--set", "total_steps=358400",
              "--set", "chunk_updates=10"],
    "hostloop": ["--envs", "256", "--env-only-envs", "--no-train"],
    "ippo": ["--envs", "4096", "--updates", "4"],
    "compile": ["--configs", "configs/stag_hunt_ppo.yaml"],
}
TINY = {
    "env": ["--envs", "64", "--steps-budget", "4480", "--repeats", "1"],
    "train": ["--envs", "16", "--chunks", "1", "--chunk-updates", "1"],
    "train_dense": ["--envs", "16", "--chunks", "1", "--chunk-updates", "1", "--set", "sparse_rollout=false"],
    "sweep": ["--seeds", "1", "2", "--rounds", "1", "--set", "total_steps=1120", "--set", "chunk_updates=2"],
    "hostloop": ["--envs", "16", "--env-only-envs", "--no-train", "--rounds", "1"],
    "ippo": ["--envs", "16", "--updates", "1", "--rounds", "1"],
    "compile": ["--configs", "configs/stag_hunt_ppo.yaml", "--set", "num_envs=16"],
}
SCRIPTS = {"env": "env_throughput.py", "train": "train_throughput.py", "train_dense": "train_throughput.py",
           "sweep": "sweep_scaling.py",
           "hostloop": "baseline_hostloop.py", "ippo": "ippo_jaxmarl.py", "compile": "compile_time.py"}


def run(name: str, args: list[str], out: Path) -> dict | None:
    path = out / f"{name}.json"
    cmd = [sys.executable, str(HERE / SCRIPTS[name]), *args, "--json", str(path)]
    print(f"$ {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    print(f"  {'ok' if proc.returncode == 0 else 'FAILED'} in {time.perf_counter() - t0:.0f} s", flush=True)
    if proc.returncode != 0:
        print(proc.stdout[-2000:] + proc.stderr[-4000:])
        return None
    return json.loads(path.read_text())


def table(res: dict, roof: dict | None) -> list[tuple[str, str, str]]:
    rows = []
    env = res.get("env")
    if env:
        by = {r["mode"]: r for r in env["rows"] if r["E"] == max(x["E"] for x in env["rows"])}
        E = by["episodes"]["E"]
        rows.append((f"env-only Stag-Hunt, episodes mode, {E:,} envs", f"{by['episodes']['steps_per_s']:.3g} env steps/s", "3e8"))
        for mode, what, target in (("pooled", "AutoReset (step_pooled, the segment rollout's)", "within 1.5x"),
                                   ("auto_reset", "AutoReset.step (a reset every step)", "-")):
            if mode in by:
                slow = by["episodes"]["steps_per_s"] / by[mode]["steps_per_s"]
                slow_cpu = by["episodes"]["steps_per_cpu_s"] / by[mode]["steps_per_cpu_s"]
                rows.append((f"env-only with {what}, {E:,} envs", f"{by[mode]['steps_per_s']:.3g} "
                             f"({slow:.2f}x slower than episodes mode; CPU-s {slow_cpu:.2f}x)", target))
    tr = res.get("train")
    if tr:
        r = max(tr["rows"], key=lambda r: r["E"])
        rows.append((f"PPO training, default config, {r['E']:,} envs", f"{r['steps_per_s']:.3g} env steps/s", "3e7"))
        dense = res.get("train_dense")
        if dense:
            d = max(dense["rows"], key=lambda r: r["E"])
            rows.append((f"  same, the rollout's first layer dense (sparse_rollout: false)",
                         f"{d['steps_per_s']:.3g} env steps/s (sparse / dense {r['steps_per_s'] / d['steps_per_s']:.2f}x)", "-"))
        if not res.get("compile"):
            rows.append(("compile of the default training chunk", f"{r['compile_s']:.1f} s", "10 s CPU / 5 s GPU"))
    ct = res.get("compile")
    if ct:
        r = ct["rows"][0]
        rows.append(("compile of the default training chunk (first call: trace + lower + compile)",
                     f"{r['chunk_s']:.1f} s ({r['chunk_cpu']:.1f} CPU-s)", "10 s CPU / 5 s GPU"))
    sw = res.get("sweep")
    if sw:
        one = next(r for r in sw["rows"] if r["S"] == 1)
        many = max(sw["rows"], key=lambda r: r["S"])
        wide = f"; 1 seed x {many['S']} E envs: {many['wide_run_s'] / one['vmap_run_s']:.2f}x" if many.get("wide_run_s") else ""
        rows.append((f"{many['S']} vmapped seeds vs 1 seed, same updates",
                     f"{many['vmap_run_s'] / one['vmap_run_s']:.2f}x the wall time{wide}", "at most 2x"))
    hl = res.get("hostloop")
    if hl:
        r = max((r for r in hl["rows"] if r["kind"] == "rollout"), key=lambda r: r["E"])
        d = next((x for x in hl["rows"] if x["kind"] == "rollout_dense" and x["E"] == r["E"]), None)
        dense = f"; dense first layer {d['ratio']:.1f}x" if d else ""
        rows.append((f"host loop vs jitted rollout at {r['E']} envs", f"{r['ratio']:.1f}x (CPU-s {r['cpu_ratio']:.1f}x){dense}", "20x"))
    ip = res.get("ippo")
    if ip:
        r = max(ip["rows"], key=lambda r: r["E"])
        rows.append((f"JaxMARL IPPO loop time / hopjax, {r['E']} envs", f"{r['ratio']:.2f}", "> 1 (hopjax faster)"))
    if roof and "measured" in roof:
        m = roof["measured"]
        rows.append(("training: fraction of memory bandwidth (roofline)", f"{m['bandwidth_fraction']:.1%}", "-"))
        for k, v in m["flops_fraction"].items():
            rows.append((f"training: fraction of {k} FLOP/s", f"{v:.1%}", "-"))
    return rows


def main() -> None:
    p = parser(__doc__.split("\n")[0], "issue17_table")
    p.add_argument("--tiny", action="store_true", help="small sizes: check that the table runs")
    p.add_argument("--out", default=None, help="folder for the scripts' JSON (default: a temporary one)")
    p.add_argument("--skip", nargs="*", default=[], choices=list(SCRIPTS))
    args = p.parse_args()
    info = machine()
    print_machine(info)
    out = Path(args.out or tempfile.mkdtemp(prefix="issue17_"))
    out.mkdir(parents=True, exist_ok=True)
    sizes = TINY if args.tiny else FULL
    res = {k: run(k, sizes[k], out) for k in SCRIPTS if k not in args.skip}
    roof = None
    if res.get("train"):
        r = max(res["train"]["rows"], key=lambda r: r["E"])
        device = "h200" if info["backend"] == "gpu" else "cpu"
        path = out / "roofline.json"
        cmd = [sys.executable, str(HERE / "roofline.py"), "--envs", str(r["E"]), "--device", device,
               "--sps", str(r["steps_per_s"]), "--json", str(path)]
        if subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True).returncode == 0:
            roof = json.loads(path.read_text())
    rows = table(res, roof)
    print(f"\nissue 17 table ({'tiny sizes: not the issue figures' if args.tiny else 'full sizes'}; "
          f"{info['device']}, {info['date']})")
    w = max(len(r[0]) for r in rows) if rows else 10
    print(f"{'figure'.ljust(w)}  | now | target")
    for a, b, c in rows:
        print(f"{a.ljust(w)}  | {b} | {c}")
    write_json(args.json, {"benchmark": "issue17_table", "tiny": args.tiny, "machine": info,
                           "table": [dict(figure=a, now=b, target=c) for a, b, c in rows], "results": res,
                           "roofline": roof})


if __name__ == "__main__":
    main()

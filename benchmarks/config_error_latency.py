"""CPU time from `hopjax train <bad config>` to its one-line error (and of a good config's checks).

Each case runs `python -m hopjax.runtime.cli ...` (or `python -c` for the good config's validation) in
a child process from a checkout and reads the child's CPU time (user + system) from
``os.wait4``'s resource usage; median of ``--repeats`` runs. JAX-free validation should cost
well under 1 s of CPU; ``--checkout DIR`` times another checkout (e.g. an older commit) for
comparison. Writes ``benchmarks/results/config_error_latency.json``.

    python benchmarks/config_error_latency.py [--repeats 5] [--checkout DIR] [--only TEXT]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PPO = "configs/stag_hunt_ppo.yaml"
HOP = "configs/stag_hunt_hop.yaml"


def cases(tmp: Path) -> list[tuple[str, list[str]]]:
    empty, dup = tmp / "empty.yaml", tmp / "dup.yaml"
    empty.write_text("# only a comment\n")
    dup.write_text("name: x\nlr: 0.1\nlr: 0.2\n")
    cli = [sys.executable, "-m", "hopjax.runtime.cli"]
    good = ("from hopjax.runtime.cli import _parser, validate; "
            f"validate(_parser().parse_args(['train', '{PPO}']))")
    return [
        ("train --set ppo.lr=nan", [*cli, "train", PPO, "--set", "ppo.lr=nan"]),
        ("train --set env_kwargs.height=four", [*cli, "train", PPO, "--set", "env_kwargs.height=four"]),
        ("train --set num_envs=1e9 (memory)", [*cli, "train", PPO, "--set", "num_envs=1e9"]),
        ("train --set 'ppo.lr=[0.1'", [*cli, "train", PPO, "--set", "ppo.lr=[0.1"]),
        ("train --set learning_rate=1", [*cli, "train", PPO, "--set", "learning_rate=1"]),
        ("train <comments-only file>", [*cli, "train", str(empty)]),
        ("train <duplicate key>", [*cli, "train", str(dup)]),
        ("train-hop --set num_simulations=1e9", [*cli, "train-hop", HOP, "--set", "num_simulations=1e9"]),
        ("good config: validate only", [sys.executable, "-c", good]),
    ]


def cpu_seconds(cmd: list[str], cwd: Path) -> tuple[float, int, str]:
    """-> (child CPU seconds, exit status, last stderr line)."""
    with tempfile.TemporaryFile() as err:
        env = {**os.environ, "JAX_PLATFORMS": "cpu"}
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    return usage.ru_utime + usage.ru_stime, proc.returncode, lines[-1] if lines else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--checkout", default=str(ROOT), help="repository checkout to time (default: this one)")
    ap.add_argument("--only", action="append", default=None, metavar="TEXT",
                    help="only the cases whose label contains TEXT (repeatable); e.g. on an older "
                         "checkout that would start training on some of the bad configs")
    args = ap.parse_args()
    checkout = Path(args.checkout).resolve()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, cmd in cases(Path(tmp)):
            if args.only and not any(t in label for t in args.only):
                continue
            runs = [cpu_seconds(cmd, checkout) for _ in range(args.repeats)]
            cpu = statistics.median(r[0] for r in runs)
            rows.append({"case": label, "cpu_s": round(cpu, 3), "exit": runs[0][1],
                         "stderr": runs[0][2][:160], "cpu_s_all": [round(r[0], 3) for r in runs]})
            print(f"{label:40s} {cpu:7.3f} s CPU  exit {runs[0][1]}  {runs[0][2][:90]}", flush=True)
    print("\n| case | CPU s (median) | exit |\n| --- | ---: | ---: |")
    for r in rows:
        print(f"| `{r['case']}` | {r['cpu_s']:.2f} | {r['exit']} |")
    out = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "checkout": str(checkout),
           "load_avg": os.getloadavg(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
           "repeats": args.repeats, "rows": rows, "timestamp": time.time()}
    name = "config_error_latency.json" if checkout == ROOT else "config_error_latency_other.json"
    path = ROOT / "benchmarks" / "results" / name
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

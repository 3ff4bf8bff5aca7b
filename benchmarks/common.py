"""Helpers shared by the benchmark scripts: machine description, timing, tables, JSON."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

RESULTS_DIR = ROOT / "benchmarks" / "results"


def machine() -> dict[str, Any]:
    """Device, CPU model, core count, library versions and the date of this run."""
    import flax
    import numpy as np
    import optax

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dev = jax.devices()[0]
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "backend": jax.default_backend(),
        "device": getattr(dev, "device_kind", str(dev)),
        "num_devices": jax.device_count(),
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "numpy": np.__version__,
        "load_avg_1min": load(),
    }


def print_machine(info: dict[str, Any]) -> None:
    print(f"{info['date']}  backend={info['backend']} device={info['device']} x{info['num_devices']}  "
          f"cpu={info['cpu']} ({info['cpu_cores']} cores)  jax {info['jax']}, flax {info['flax']}")


def block(x: Any) -> Any:
    return jax.block_until_ready(x)


def timeit(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of ``fn()`` including waiting for its device results."""
    t0 = time.perf_counter()
    out = block(fn())
    return time.perf_counter() - t0, out


class Stopwatch:
    """``with Stopwatch() as sw: ...`` -> ``sw.wall`` and ``sw.cpu`` seconds (CPU time of all
    threads of this process: less sensitive than wall time to other processes on the machine)."""

    def __enter__(self) -> "Stopwatch":
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c


def load() -> float:
    """1-minute load average (other processes share this machine's cores)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def compile_timed(jitted, *args) -> tuple[Any, float]:
    """Ahead-of-time compile ``jitted`` for ``args`` -> (compiled, seconds)."""
    t0 = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    return compiled, time.perf_counter() - t0


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> None:
    """columns: (key, header, format spec) -> a fixed-width text table on stdout."""
    cells = [[format(r[k], f) if r.get(k) is not None else "-" for k, _, f in columns] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h, _) in enumerate(columns)]
    print("  ".join(h.rjust(w) for (_, h, _), w in zip(columns, widths)))
    for c in cells:
        print("  ".join(x.rjust(w) for x, w in zip(c, widths)))


def parser(description: str, name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", default=str(RESULTS_DIR / f"{name}.json"),
                   help="where to write the results (default: %(default)s)")
    return p


def add_tree_args(p: argparse.ArgumentParser, what: str = "the 'before' rows") -> None:
    """``--ref COMMIT`` (also measure that commit) and the hidden worker options of the scripts
    that compare two code trees in one command (:func:`code_trees`, :func:`run_worker`)."""
    p.add_argument("--ref", default=None, help=f"git commit to measure too ({what})")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)


@contextlib.contextmanager
def code_trees(ref: str | None):
    """-> [(label, root)]: ``ref`` extracted with ``git archive`` into a temporary folder (first,
    when given), then this checkout. The folder is removed on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        trees = [("this tree", str(ROOT))]
        if ref:
            arc = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=arc, check=True)
            trees.insert(0, (f"ref {ref}", tmp))
        yield trees


def use_tree(root: str) -> None:
    """Worker side: import hopjax from ``root`` (AssertionError if another copy comes first)."""
    sys.path.insert(0, root)
    import hopjax

    assert os.path.dirname(os.path.dirname(hopjax.__file__)) == os.path.abspath(root), hopjax.__file__


def emit_rows(rows: Any) -> None:
    """Worker side: hand ``rows`` (JSON) back to :func:`run_worker`."""
    print("ROWS " + json.dumps(rows), flush=True)


def run_worker(script: str, root: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Any:
    """Run ``script --worker --root ROOT *argv`` in ``root`` (PYTHONPATH=root, plus ``env``) ->
    the rows it emitted; exits with the end of its stderr if it failed."""
    env = dict(os.environ, PYTHONPATH=root, **(env or {}))
    out = subprocess.run([sys.executable, script, "--worker", "--root", root, *argv],
                         capture_output=True, text=True, cwd=root, env=env)
    if out.returncode:
        sys.exit(f"{root}: worker failed\n{out.stderr[-3000:]}")
    return json.loads(next(line for line in out.stdout.splitlines() if line.startswith("ROWS "))[5:])


class LockstepWorker:
    """``script --worker --root ROOT *argv`` in ``root`` kept running: it compiles its timed
    functions, reports (:func:`serve_lockstep`), then times one call per request, so that the
    parent can alternate two code trees call by call (a change of load on a shared machine then
    hits both alike; waiting on its input, a worker takes no CPU)."""

    def __init__(self, script: str, root: str, argv: Sequence[str]):
        env = dict(os.environ, PYTHONPATH=root)
        self.root = root
        self.proc = subprocess.Popen([sys.executable, script, "--worker", "--root", root, *argv], cwd=root, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def _line(self, prefix: str) -> str:
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return line[len(prefix):]
        sys.exit(f"{self.root}: worker exited with {self.proc.wait()} (its stderr is above)")

    def ready(self) -> Any:
        """The worker's report (JSON) once its functions are compiled and warm."""
        return json.loads(self._line("READY "))

    def time(self, name: str) -> tuple[float, float]:
        """(wall s, process CPU s) of one call of the worker's function ``name``."""
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        wall, cpu = self._line("TIMED ").split()
        return float(wall), float(cpu)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def serve_lockstep(fns: dict[str, Callable[[], Any]], report: Any) -> None:
    """Worker side of :class:`LockstepWorker`: print ``report``, then time ``fns[name]()`` for
    each name read from stdin until it closes."""
    print("READY " + json.dumps(report), flush=True)
    for line in sys.stdin:
        with Stopwatch() as sw:
            block(fns[line.strip()]())
        print(f"TIMED {sw.wall} {sw.cpu}", flush=True)


def rel(path: str | Path) -> str:
    """``path`` relative to the repository root where it lies inside it."""
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def digest(*arrays) -> str:
    """A fingerprint of arrays: the first 12 hex digits of the sha256 of their bytes."""
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a)).tobytes())
    return h.hexdigest()[:12]


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall seconds of ``repeats`` calls of ``fn()``, each waited for."""
    return statistics.median(timeit(fn)[0] for _ in range(repeats))


def hop_search_setup(small: bool, sims: int, trees: int,
                     env_kwargs: dict | None = None) -> tuple[Any, Any, Any, Any, Any, dict]:
    """The search benchmarks' shared setup: Stag-Hunt (the paper's 8x8 with walls, with
    ``small`` the CPU configs' 5x5, no walls, 20 steps, or ``env_kwargs``), HOP's networks
    (64-64 MLPs) and their initial parameters. Imports hopjax lazily (``mcts_speedup.py`` runs
    it against two checkouts). -> (cfg, env, env_params, goal_policy, planner_net, params)."""
    from hopjax.algos.hop.trainer import HOPConfig, make_env, make_networks

    kw = dict(height=5, width=5, num_walls=0, max_steps=20) if small else {}
    cfg = HOPConfig(env="stag_hunt", env_kwargs=env_kwargs if env_kwargs is not None else kw,
                    hidden_sizes=(64, 64), num_simulations=sims, num_trees=trees)
    env, ep = make_env(cfg)
    gp, pn = make_networks(cfg, env, ep)
    params = {"goal": gp.init(jax.random.PRNGKey(0)), "planner": pn.init(jax.random.PRNGKey(1))}
    return cfg, env, ep, gp, pn, params


def search_roots(env: Any, env_params: Any, num_envs: int) -> tuple[Any, jax.Array]:
    """Roots of a search benchmark: ``num_envs`` fresh episodes (reset keys from PRNGKey(2)) and
    uniform log-beliefs [E, N, G+1]. -> (env states, log-beliefs)."""
    n, g1 = env.num_agents(env_params), env.num_goals(env_params) + 1
    _, states = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(2), num_envs), env_params)
    return states, jnp.log(jnp.full((num_envs, n, g1), 1.0 / g1))


def hop_training_chunk(env_kwargs: dict, num_envs: int, sims: int, trees: int) -> tuple[Any, Any, Any, Any]:
    """HOP self-play training on Stag-Hunt with ``env_kwargs`` at the given search size (64-64
    MLPs, one update per chunk), its first chunk run (compile). -> (trainer, state after it,
    its metrics, chunk)."""
    from hopjax.algos.hop.trainer import HOPConfig, HOPTrainer
    from hopjax.loop import Loop

    cfg = HOPConfig(env="stag_hunt", env_kwargs=env_kwargs, hidden_sizes=(64, 64), num_envs=num_envs,
                    num_simulations=sims, num_trees=trees, chunk_updates=1, batch_episodes=min(32, num_envs),
                    buffer_episodes=max(256, num_envs), total_steps=10**9)
    tr = HOPTrainer(cfg)
    st = tr.init(jax.random.PRNGKey(0))
    chunk = Loop(tr).compiled_chunk(st)
    st, metrics = block(chunk(st))
    return tr, st, metrics, chunk

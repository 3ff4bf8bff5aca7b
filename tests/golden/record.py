"""The golden set: per-update metrics and final-parameter digests of tiny fixed-seed runs of
PPO (self-play, scripted seats, GRU segments), PPO+OMG, PPO+MOA and HOP, recorded before a
refactor so that the same numbers can be shown after it (``test_golden.py``).

Record (overwrites ``golden.json``; run from the repository root)::

    JAX_PLATFORMS=cpu python -m tests.golden.record [OUT.json] [--only CASE ...]

(``--only``: re-record those cases in the existing file, keeping the others.)

Cases are named by config, not by module: a refactor that renames modules, classes or
parameter paths only has to change ``build`` / ``run`` below, then show the file unchanged.
Each run is ``init(PRNGKey(cfg.seed))`` followed by ``chunks`` calls of the trainer's compiled
chunk: PPO's ahead-of-time ``Loop.compiled_chunk`` (what ``hopjax train`` runs), HOP's chunk under
``tests.conftest.QUICK_COMPILE`` (the compile the HOP tests share; XLA's backend optimisation
level changes float rounding, so it is part of the recipe).
"""

import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np

from hopjax.algos import registry
from tests.conftest import MOA, OMG, TINY, TINY_GRU, TINY_HOP, TINY_SCRIPTED, loop_of, quick_chunk

GOLDEN = Path(__file__).with_name("golden.json")
# name: (config, chunks run, the tests/conftest.py session fixture holding its trainer)
CASES = {
    "ppo_self_play": (TINY, 2, "tiny_trainer"),  # 4 updates
    "ppo_scripted_seats": (TINY_SCRIPTED, 2, "tiny_scripted_trainer"),  # 4 updates
    "ppo_gru_segments": (TINY_GRU, 2, "tiny_gru_trainer"),  # 4 updates
    "ppo_omg_optimistic": (OMG, 2, "omg_trainer"),  # 10 updates: the model trains from update 6
    "ppo_moa_influence": (MOA, 1, "moa_trainer"),  # 5 updates: the model trains from update 2
    "hop_self_play": (TINY_HOP, 2, "hop_trainer"),  # 4 updates
}


def build(cfg):
    """A trainer for ``cfg`` through the public API."""
    return registry.build(cfg)


def digest(tree) -> list[dict]:
    """Per leaf, in float64: path (for reading only), shape, sum, sum of |x|, first 4 values."""
    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        x = np.asarray(leaf, np.float64)
        out.append(dict(path=jax.tree_util.keystr(path), shape=list(x.shape), sum=float(x.sum()),
                        abs_sum=float(np.abs(x).sum()), head=x.ravel()[:4].tolist()))
    return out


def run(trainer, chunks: int) -> dict:
    """-> {"metrics": {key: nested lists [updates, ...] in float64}, "params": {role: digest}}."""
    state = trainer.init(jax.random.PRNGKey(trainer.cfg.seed))
    chunk = quick_chunk(trainer) if trainer.cfg.algo == "hop" else loop_of(trainer).compiled_chunk(state)
    out = []
    for _ in range(chunks):
        state, m = chunk(state)
        out.append(jax.device_get(m))
    metrics = {k: np.concatenate([o[k] for o in out]).astype(np.float64).tolist() for k in sorted(out[0])}
    params = {"policy": state.params}
    if getattr(state, "om", None) is not None:
        params["opponent_model"] = state.om.params
    return {"metrics": metrics, "params": {k: digest(v) for k, v in params.items()}}


def cpu_isa() -> str:
    """The widest x86 vector extension this CPU has ("avx512", "avx2", "sse"), from Linux's
    /proc/cpuinfo, else the machine name (``platform.machine()``): XLA's CPU backend compiles for
    the host's extensions, and the golden numbers differ in their last bits between them."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return platform.machine()
    return "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "sse"


def environment() -> dict:
    """Library versions, backend, commit of the code and the date: golden numbers hold for one stack."""
    import flax
    import jaxlib
    import optax

    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=GOLDEN.parent).stdout.strip()

    dirty = "+uncommitted hopjax/ changes" if git("status", "--porcelain", "--", ":/hopjax") else ""
    dev = jax.devices()[0]
    return dict(jax=jax.__version__, jaxlib=jaxlib.__version__, flax=flax.__version__, optax=optax.__version__,
                platform=dev.platform, device_kind=dev.device_kind, cpu_isa=cpu_isa(),
                commit=git("rev-parse", "HEAD") + dirty,
                date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))


def main(path: Path = GOLDEN, only: list[str] | None = None) -> None:
    """Record every case into ``path``, or with ``only`` those cases into the existing file (the
    others and the environment kept; the re-recorded cases' environment under ``rerecorded``)."""
    names = only or list(CASES)
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        raise SystemExit(f"unknown golden case(s) {unknown}; cases: {', '.join(CASES)}")
    cases = {name: run(build(CASES[name][0]), CASES[name][1]) for name in names}
    if only:
        old = json.loads(path.read_text())
        rerecorded = {**old.get("rerecorded", {}), **{n: environment() for n in names}}
        out = {"environment": old["environment"], "rerecorded": rerecorded, "cases": {**old["cases"], **cases}}
    else:
        out = {"environment": environment(), "cases": cases}
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} ({', '.join(cases)})")


if __name__ == "__main__":
    args = sys.argv[1:]
    only = args[args.index("--only") + 1:] if "--only" in args else None
    args = args[:args.index("--only")] if "--only" in args else args
    main(Path(args[0]) if args else GOLDEN, only)

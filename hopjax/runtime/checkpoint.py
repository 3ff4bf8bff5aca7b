"""Checkpoints of a whole training state with orbax, plus the config that made them.

Layout of a run directory::

    runs/<name>/
      config.yaml            the resolved config
      metrics.csv            one row per update
      checkpoints/
        update_00000100/     an orbax checkpoint of the RunnerState (+ meta.json)
        LATEST               name of the newest complete checkpoint

orbax writes each checkpoint to a temporary folder and renames it when complete, and LATEST
moves only after that, so an interrupted save never replaces the last good checkpoint. Ctrl-C
(SIGINT) during a save is deferred until the save is complete
(:func:`hopjax.runtime.signals.deferred_interrupt`), and
no checkpoint is deleted but by retention (the oldest beyond ``keep``, by update number).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from hopjax.runtime import rundir
from hopjax.runtime.signals import deferred_interrupt


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete or does not match the run it is restored into."""


class LayoutError(CheckpointError):
    """A checkpoint's arrays differ in name, shape or dtype from the state it is restored into;
    ``arrays``: the first few that differ, in words."""

    def __init__(self, path: Path, arrays: str):
        super().__init__(f"{str(path)!r} was written by a different config (or a hopjax version with "
                         f"another state layout): arrays differ, e.g. {arrays}")
        self.arrays = arrays


def _resolve(path: str | Path) -> Path:
    """A run dir, its checkpoints/ dir, or one checkpoint dir -> that checkpoint's dir.
    CheckpointError if there is no checkpoint, a run dir has none yet (no complete
    ``update_*`` and no LATEST), or it lacks meta.json or state/."""
    path = Path(path).resolve()
    if (path / "checkpoints").is_dir():
        path = path / "checkpoints"
    if (path / "LATEST").is_file():
        path = path / (path / "LATEST").read_text().strip()
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint at {str(path)!r}")
    empty_checkpoints = path.name == "checkpoints" and not _numbered(path)
    bare_run = not (path / "meta.json").exists() and any(
        (path / f).exists() for f in ("config.yaml", "metrics.csv", ".lock"))
    if empty_checkpoints or bare_run:
        run = path.parent if path.name == "checkpoints" else path
        raise CheckpointError(f"run dir {str(run)!r} has no checkpoint yet (a run writes its first "
                              "after checkpoint_every_chunks chunks of training)")
    if not (path / "meta.json").is_file() or not (path / "state").is_dir():
        raise CheckpointError(
            f"{str(path)!r} is not a complete hopjax checkpoint (meta.json or state/ missing)"
        )
    return path


_NAME = re.compile(r"update_(\d+)")
def _numbered(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root``, ``[(update, path)]`` sorted by update number."""
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if (m := _NAME.fullmatch(p.name)) and p.is_dir()]
    return sorted(found)


def save(ckpt_root: str | Path, state: Any, meta: dict[str, Any], keep: int = 3) -> Path:
    """Save ``state`` under ``ckpt_root/update_<n>`` (n = ``meta["update"]``). -> its path.

    Retention keeps the new checkpoint and the ``keep - 1`` newest before it by update number;
    checkpoints numbered after it (another timeline, e.g. resumed from an older checkpoint) are
    left alone. A checkpoint already at ``update_<n>`` is moved to ``update_<n>.replaced-<time>``
    (printed), never deleted. SIGINT is deferred until the save is complete."""
    root = Path(ckpt_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    n = int(meta["update"])
    name = f"update_{n:08d}"
    target = root / name
    with deferred_interrupt():
        tmp = root / f".{name}.partial"
        if tmp.exists():
            shutil.rmtree(tmp)  # an unfinished save of ours, never a complete checkpoint
        tmp.mkdir()
        with ocp.StandardCheckpointer() as ckptr:
            ckptr.save(tmp / "state", jax.device_get(state))
            ckptr.wait_until_finished()
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        if target.exists():
            aside = rundir.aside(target, "replaced")
            target.rename(aside)
            print(f"checkpoint {name} existed: the earlier one is kept at {aside}")
        tmp.rename(target)
        (root / "LATEST.tmp").write_text(name)
        (root / "LATEST.tmp").replace(root / "LATEST")
        older = [p for u, p in _numbered(root) if u < n]
        for old in older[: max(0, len(older) - (keep - 1))]:
            shutil.rmtree(old, ignore_errors=True)
    return target


def _check_meta(file: Path, meta: Any) -> dict[str, Any]:
    """meta.json must be a mapping with non-negative int ``update``/``chunk`` and a mapping
    ``config``; CheckpointError naming the file and the key otherwise."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{str(file)!r} must hold a JSON object, got {type(meta).__name__}")
    for key, ok, want in (("update", _count, "a non-negative integer"),
                          ("chunk", _count, "a non-negative integer"),
                          ("config", lambda v: isinstance(v, dict), "a mapping")):
        if key not in meta:
            raise CheckpointError(f"{str(file)!r} is missing key {key!r}: not a hopjax checkpoint")
        if not ok(meta[key]):
            raise CheckpointError(f"{str(file)!r}: key {key!r} must be {want}, got {meta[key]!r}")
    return meta


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def load_meta(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """-> (checkpoint dir, its meta dict) for a run dir or checkpoint dir. CheckpointError (one
    line naming the file and key) if meta.json is unreadable or lacks ``update``, ``chunk``
    (non-negative ints) or ``config`` (a mapping)."""
    path = _resolve(path)
    file = path / "meta.json"
    try:
        meta = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{str(file)!r} is corrupt: {e}") from None
    return path, _check_meta(file, meta)


def _leaf_specs(tree: Any) -> dict[tuple[str, ...], tuple[tuple[int, ...], str]]:
    """{key path (names only): (shape, dtype)} - comparable across dataclasses and dicts."""

    def name(k):
        for attr in ("name", "key", "idx"):
            if hasattr(k, attr):
                return str(getattr(k, attr))
        return str(k)

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {tuple(name(k) for k in path): (tuple(x.shape), str(x.dtype)) for path, x in leaves}


def _layout_diff(stored: dict, want: dict, most: int = 3) -> str:
    """The first ``most`` arrays in which two :func:`_leaf_specs` differ, each as
    ``path: checkpoint <shape> <dtype>, here <shape> <dtype>`` ("absent" where one lacks it)."""
    spec = lambda d, k: "absent" if k not in d else f"{d[k][0]} {d[k][1]}"
    keys = sorted(k for k in stored.keys() | want.keys() if stored.get(k) != want.get(k))
    return "; ".join(f"{'/'.join(k)}: checkpoint {spec(stored, k)}, here {spec(want, k)}" for k in keys[:most])


def restore(path: str | Path, like: Any) -> tuple[Any, dict[str, Any]]:
    """Restore a state shaped like ``like`` (arrays or ShapeDtypeStructs). -> (state, meta).
    CheckpointError (one line) if it is missing, its arrays differ from ``like``'s (LayoutError),
    or orbax cannot read it (then naming the run's newest older checkpoint that looks intact, if any)."""
    path, meta = load_meta(path)
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), like
    )
    _quiet_late_reads()  # before: the late reads of a failed restore may come at once
    try:
        with ocp.StandardCheckpointer() as ckptr:
            stored = ckptr.metadata(path / "state")
            stored = getattr(getattr(stored, "item_metadata", stored), "tree", stored)
            want, have = _leaf_specs(abstract), _leaf_specs(stored)
            if want != have:
                raise LayoutError(path, _layout_diff(have, want))
            state = ckptr.restore(path / "state", abstract)
    except CheckpointError:
        raise
    except Exception as e:  # orbax raises many types for damaged or mismatched files
        older = _older_intact(path)
        raise CheckpointError(
            f"could not restore {str(path)!r}: it is corrupt or was written by a different "
            f"config ({type(e).__name__}: {str(e)[:300]})"
            + (f"; the newest older checkpoint of this run looks intact: {older} (--resume {older} "
               "continues from it)" if older else "")
        ) from None
    return state, meta


def _late_read(args) -> bool:
    """Whether an unraisable exception is asyncio's "Event loop is closed" from a callback
    arriving after its loop closed: tensorstore finishing the other reads of a restore that
    already failed (orbax stops its loop at the first error)."""
    tb = args.exc_traceback
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return (type(args.exc_value) is RuntimeError and str(args.exc_value) == "Event loop is closed"
            and tb is not None and tb.tb_frame.f_code.co_name == "_check_closed")


def _quiet_late_reads() -> None:
    """Drop the tracebacks of a failed restore's late reads (:func:`_late_read`), which would
    follow its one-line error, from now on; every other unraisable exception goes to the
    previous ``sys.unraisablehook``. Installed once."""
    previous = sys.unraisablehook
    if getattr(previous, "_hopjax_quiet", False):
        return

    def hook(args):
        if not _late_read(args):
            previous(args)

    hook._hopjax_quiet = True
    sys.unraisablehook = hook


def _older_intact(path: Path) -> Path | None:
    """The newest checkpoint numbered before ``path`` next to it whose meta.json reads and
    whose state/ exists (worth trying; not proof that it restores); None if there is none."""
    m = _NAME.fullmatch(path.name)
    for u, older in reversed(_numbered(path.parent) if m else []):
        if u < int(m.group(1)):
            with contextlib.suppress(CheckpointError, OSError):
                return load_meta(older)[0]
    return None

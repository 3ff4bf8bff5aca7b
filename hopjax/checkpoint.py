"""Checkpoints of a whole training state with orbax, plus the config that made them.

Layout of a run directory::

    runs/<name>/
      config.yaml            the resolved config
      metrics.csv            one row per update
      checkpoints/
        update_00000100/     an orbax checkpoint of the RunnerState (+ meta.json)
        LATEST               name of the newest complete checkpoint

orbax writes each checkpoint to a temporary folder and renames it when complete, and LATEST
moves only after that, so an interrupted save never replaces the last good checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete or does not match the run it is restored into."""


def _resolve(path: str | Path) -> Path:
    """A run dir, its checkpoints/ dir, or one checkpoint dir -> that checkpoint's dir."""
    path = Path(path).resolve()
    if (path / "checkpoints").is_dir():
        path = path / "checkpoints"
    if (path / "LATEST").is_file():
        path = path / (path / "LATEST").read_text().strip()
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint at {str(path)!r}")
    if not (path / "meta.json").is_file() or not (path / "state").is_dir():
        raise CheckpointError(
            f"{str(path)!r} is not a complete hopjax checkpoint (meta.json or state/ missing)"
        )
    return path


def save(ckpt_root: str | Path, state: Any, meta: dict[str, Any], keep: int = 3) -> Path:
    """Save ``state`` under ``ckpt_root/update_<n>``; keep the newest ``keep``. -> its path."""
    root = Path(ckpt_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    name = f"update_{int(meta['update']):08d}"
    target = root / name
    if target.exists():
        shutil.rmtree(target)
    tmp = root / f".{name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(tmp / "state", jax.device_get(state))
        ckptr.wait_until_finished()
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    tmp.rename(target)
    (root / "LATEST.tmp").write_text(name)
    (root / "LATEST.tmp").replace(root / "LATEST")
    olds = sorted(p for p in root.glob("update_*") if p.is_dir())
    for old in olds[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_meta(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """-> (checkpoint dir, its meta dict) for a run dir or checkpoint dir."""
    path = _resolve(path)
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{str(path / 'meta.json')!r} is corrupt: {e}") from None
    return path, meta


def _leaf_specs(tree: Any) -> dict[tuple[str, ...], tuple[tuple[int, ...], str]]:
    """{key path (names only): (shape, dtype)} - comparable across dataclasses and dicts."""

    def name(k):
        for attr in ("name", "key", "idx"):
            if hasattr(k, attr):
                return str(getattr(k, attr))
        return str(k)

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {tuple(name(k) for k in path): (tuple(x.shape), str(x.dtype)) for path, x in leaves}


def restore(path: str | Path, like: Any) -> tuple[Any, dict[str, Any]]:
    """Restore a state shaped like ``like`` (arrays or ShapeDtypeStructs). -> (state, meta)."""
    path, meta = load_meta(path)
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), like
    )
    try:
        with ocp.StandardCheckpointer() as ckptr:
            stored = ckptr.metadata(path / "state")
            stored = getattr(getattr(stored, "item_metadata", stored), "tree", stored)
            want, have = _leaf_specs(abstract), _leaf_specs(stored)
            if want != have:
                diff = sorted(set(want.items()) ^ set(have.items()))[:4]
                raise CheckpointError(
                    f"{str(path)!r} was written by a different config: arrays differ, e.g. "
                    + "; ".join(f"{'/'.join(k)} {v}" for k, v in diff)
                )
            state = ckptr.restore(path / "state", abstract)
    except CheckpointError:
        raise
    except Exception as e:  # orbax raises many types for damaged or mismatched files
        raise CheckpointError(
            f"could not restore {str(path)!r}: it is corrupt or was written by a different "
            f"config ({type(e).__name__}: {str(e)[:300]})"
        ) from None
    return state, meta

"""TensorBoard event files next to each metrics CSV, written by tensorboardX's ``SummaryWriter``
when the ``tensorboard`` extra is installed (``pip install -e ".[tensorboard]"``); without it
nothing is written and nothing fails. Every CSV column becomes a scalar tagged by its name,
at step = the row's ``env_steps``; ``tensorboard --logdir runs`` shows every run and seed.

One writer per event directory, kept open across chunks (it appends to its own events file and
is flushed after each chunk) and closed at exit; a directory that was moved away meanwhile (a
run overwritten with ``--overwrite`` in the same process) gets a new writer, so the events of
two runs never share a file.
"""

from __future__ import annotations

import atexit
from pathlib import Path

_WRITERS: dict[Path, tuple[object, int]] = {}  # event dir -> (writer, the dir's inode)


def available() -> bool:
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        return False
    return True


def event_dir(csv_path: Path) -> Path:
    """``runs/x/metrics.csv`` -> ``runs/x/tensorboard``; ``metrics_seed3.csv`` -> ``tensorboard/seed3``."""
    stem = csv_path.stem.removeprefix("metrics").lstrip("_")
    return csv_path.parent / "tensorboard" / stem if stem else csv_path.parent / "tensorboard"


def write_rows(csv_path: str | Path, rows: list[dict[str, float]]) -> Path | None:
    """Log ``rows`` (metrics.csv rows: ``env_steps`` and scalars) as scalars -> the event dir,
    or None without tensorboardX."""
    if not rows or not available():
        return None
    from tensorboardX import SummaryWriter

    d = event_dir(Path(csv_path))
    w, inode = _WRITERS.get(d, (None, None))
    if w is not None and (not d.is_dir() or d.stat().st_ino != inode):
        w.close()  # its dir was moved aside: that run's file stays with it
        w = None
    if w is None:
        w = SummaryWriter(logdir=str(d))
        _WRITERS[d] = (w, d.stat().st_ino)
    for r in rows:
        step = int(r["env_steps"])
        for k, v in r.items():
            if k not in ("update", "env_steps"):
                w.add_scalar(k, float(v), global_step=step)
    w.flush()
    return d


@atexit.register
def close_all() -> None:
    """Close every open writer (flushes their files)."""
    while _WRITERS:
        _WRITERS.popitem()[1][0].close()

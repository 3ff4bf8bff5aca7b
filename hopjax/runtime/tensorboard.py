"""TensorBoard event files next to each metrics CSV, written by tensorboardX's ``SummaryWriter``
when the ``tensorboard`` extra is installed (``pip install -e ".[tensorboard]"``); without it
nothing is written and nothing fails. Every CSV column becomes a scalar tagged by its name,
at step = the row's ``env_steps``; ``tensorboard --logdir runs`` shows every run and seed.

One writer per event directory for the life of the process (``tensorboardX`` appends to its own
events file and flushes after each chunk); ``close_all`` runs at exit.
"""

from __future__ import annotations

import atexit
from pathlib import Path

_WRITERS: dict[Path, object] = {}


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
    w = _WRITERS.get(d)
    if w is None:
        w = _WRITERS[d] = SummaryWriter(logdir=str(d))
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
        _WRITERS.popitem()[1].close()

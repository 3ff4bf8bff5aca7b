"""Run directories that never lose data: refusal, ``--overwrite`` (move aside), a lock, and the
command that resumes a run.

Host-side only; imports nothing of JAX, so the CLI can check a run dir before JAX starts.

- A new run into a dir that already holds one (anything besides the lock file) is refused
  (:class:`RunDirError`, one line) unless it resumes (``--resume``) or ``overwrite`` is given;
  ``overwrite`` moves the old contents to ``<dir>.old-<YYYYmmdd-HHMMSS>`` and says where.
  Nothing here ever deletes a run.
- ``<dir>/.lock`` holds the owner's ``{"pid", "host"}``, created atomically with
  ``os.open(O_CREAT | O_EXCL)``, so of two processes starting on one dir exactly one wins. A lock
  of this host whose pid is gone is stale and taken over (with a message); a lock of another
  host cannot be checked from here and is refused, naming its owner and how to remove it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

from hopjax.config import ConfigError

LOCK = ".lock"


class RunDirError(ConfigError):
    """A run dir is in use, or holds a run that this command would overwrite (CLI: exit 2)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read_owner(path: Path) -> dict | None:
    """The lock's ``{"pid", "host"}``; None while it is empty (its creator is still writing it)
    or unreadable."""
    for _ in range(20):
        try:
            owner = json.loads(path.read_text())
            if isinstance(owner, dict) and isinstance(owner.get("pid"), int):
                return owner
        except FileNotFoundError:
            raise
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return None


def _try_create(path: Path, me: dict) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(me))
    return True


def acquire(run_dir: Path) -> Path:
    """Take ``run_dir/.lock`` for this process. -> the lock's path. RunDirError if another live
    process holds it (or a process of another host, or an unreadable lock)."""
    path = Path(run_dir) / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(3):
        if _try_create(path, me):
            return path
        try:
            owner = _read_owner(path)
        except FileNotFoundError:  # released meanwhile: try again
            continue
        how = f"if no process uses it, remove {path}"
        if owner is None:
            raise RunDirError(f"run dir {run_dir} is locked by an unreadable lock file; {how}")
        who = f"pid {owner['pid']} on host {owner.get('host')!r}"
        if owner.get("host") != me["host"]:
            raise RunDirError(f"run dir {run_dir} is in use by {who} (another host: cannot check "
                              f"it from here); {how}")
        if owner["pid"] == me["pid"] or _pid_alive(owner["pid"]):
            raise RunDirError(f"run dir {run_dir} is in use by {who}; wait for it to finish or "
                              "pick another --out or --set name=...")
        print(f"run dir {run_dir}: taking over the stale lock of {who} (no such process)")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    raise RunDirError(f"run dir {run_dir}: could not take its lock {path}")


def release(path: Path) -> None:
    """Remove the lock if it is still this process's own."""
    with contextlib.suppress(FileNotFoundError, ValueError, OSError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def contents(run_dir: Path) -> list[Path]:
    """What ``run_dir`` holds but its lock, sorted ([] for a missing dir)."""
    return sorted(p for p in run_dir.iterdir() if p.name != LOCK) if run_dir.is_dir() else []


def _describe(run_dir: Path) -> str:
    latest = run_dir / "checkpoints" / "LATEST"
    if latest.is_file():
        return f"a run (latest checkpoint {latest.read_text().strip()})"
    return "a run (" + ", ".join(p.name for p in contents(run_dir)[:3]) + ")"


def aside(path: Path, tag: str, suffix: str = "") -> Path:
    """A free name next to ``path`` for keeping an earlier file or dir: ``<name>.<tag>-<time>``
    plus ``suffix`` (``-1``, ``-2``, ... before the suffix if that name is taken within the same
    second), so that nothing kept earlier is replaced."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest, i = path.with_name(f"{path.name}.{tag}-{stamp}{suffix}"), 1
    while dest.exists():
        dest, i = path.with_name(f"{path.name}.{tag}-{stamp}-{i}{suffix}"), i + 1
    return dest


def move_aside(run_dir: Path) -> Path:
    """Move everything in ``run_dir`` (but the lock) to a new ``<dir>.old-<time>``. -> its path."""
    dest = aside(run_dir, "old")
    dest.mkdir()
    for p in contents(run_dir):
        p.rename(dest / p.name)
    return dest


def _inside(path: Path, run_dir: Path) -> bool:
    path, run_dir = Path(path).resolve(), run_dir.resolve()
    return path == run_dir or run_dir in path.parents


def _refuse(run_dir: Path, resume: str | Path | None, overwrite: bool) -> None:
    """RunDirError if a run in ``run_dir`` would be lost or mixed with this one."""
    if resume is not None and overwrite:
        raise RunDirError("--resume continues a run and --overwrite moves it aside: use one of them")
    if not contents(run_dir) or overwrite:
        return
    if resume is None:
        raise RunDirError(
            f"run dir {run_dir} already holds {_describe(run_dir)}: continue it with "
            f"--resume {run_dir}, write elsewhere with --set name=<new name> or --out "
            f"<dir>, or pass --overwrite to move it aside to {run_dir.name}.old-<time>")
    if not _inside(Path(resume), run_dir):
        raise RunDirError(
            f"run dir {run_dir} already holds {_describe(run_dir)}; resuming {resume} into "
            f"it would mix two runs: resume with --resume {run_dir}, or write elsewhere "
            "with --set name=<new name> or --out <dir>")


def check_out(out: str | Path, flag: str = "--out") -> None:
    """Early check (the CLI runs it before JAX starts) that run dirs can be made under ``out``:
    its nearest existing ancestor must be a directory in which a dir can be created (probed with
    an empty temporary dir, removed at once; nothing else is written). RunDirError (one line
    naming ``flag`` and ``out``) otherwise."""
    out = Path(out)
    base = out
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        why = "is not a directory" if base == out else f"cannot be created: {str(base)!r} is not a directory"
        raise RunDirError(f"{flag} {str(out)!r} {why}; give a directory to write runs into")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".hopjax-probe-", dir=base))
    except OSError as e:
        raise RunDirError(f"{flag} {str(out)!r} is not usable: cannot create a directory in "
                          f"{str(base)!r} ({e.strerror})") from None


def check(run_dir: str | Path, resume: str | Path | None = None, overwrite: bool = False) -> None:
    """Read-only early check (the CLI runs it before JAX starts): the refusals of
    :func:`open_run` and a lock held by a live process, without creating or locking anything.
    RunDirError (one line) if the run would be refused; a live lock is named first, as
    :func:`open_run` does (no ``--resume`` or ``--overwrite`` gets past it)."""
    run_dir = Path(run_dir)
    path = run_dir / LOCK
    owner = None
    with contextlib.suppress(FileNotFoundError):
        owner = _read_owner(path) if path.exists() else None
    if owner is not None and owner.get("host") == socket.gethostname() and (
            owner["pid"] == os.getpid() or _pid_alive(owner["pid"])):  # first: --resume would fail too
        raise RunDirError(f"run dir {run_dir} is in use by pid {owner['pid']} on host "
                          f"{owner.get('host')!r} (its lock {path}); wait for it to finish or pick "
                          "another --out or --set name=...")
    _refuse(run_dir, resume, overwrite)


@contextlib.contextmanager
def open_run(run_dir: str | Path, resume: str | Path | None = None,
             overwrite: bool = False) -> Iterator[Path]:
    """Create and lock ``run_dir`` for one run; the lock is released when the block ends.

    Without ``resume`` the dir must be new or empty, or ``overwrite`` moves its run aside.
    With ``resume``, a dir that holds a run must be the one resumed from (resuming another run's
    checkpoint into it would mix two runs). Raises RunDirError (one line) otherwise, and if
    ``run_dir`` cannot be created.
    """
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"cannot create run dir {run_dir}: {e.strerror}") from None
    lock = acquire(run_dir)
    try:
        _refuse(run_dir, resume, overwrite)
        if overwrite and contents(run_dir):
            print(f"--overwrite: moved the previous run in {run_dir} aside to {move_aside(run_dir)}")
        yield run_dir
    finally:
        release(lock)
        if created and not any(run_dir.iterdir()):  # e.g. a config error before anything ran
            run_dir.rmdir()


# -- the command that resumes a run --------------------------------------------------------
_VALUE_OPTIONS = ("--set", "--out", "--resume", "--devices", "--seeds")
_OPTIONS = _VALUE_OPTIONS + ("--overwrite", "--no-progress", "--distributed")


def _option(token: str) -> str | None:
    """``--ou`` / ``--out=x`` -> ``--out`` (argparse accepts unique prefixes); None if unknown."""
    name = token.split("=", 1)[0]
    hits = [o for o in _OPTIONS if o.startswith(name)]
    return name if name in _OPTIONS else (hits[0] if len(hits) == 1 else None)


def resume_command(argv: Sequence[str] | None, run_dir: Path, out: str | Path,
                   default: Sequence[str] = ("train",)) -> str:
    """The shell command that continues the run in ``run_dir``: the original invocation
    ``argv`` (``sys.argv[1:]``, e.g. ``["train", "c.yaml", "--devices", "2", "--set", "lr=1e-3"]``)
    with its config replaced by ``<run_dir>/config.yaml``, ``--out`` set to ``out``, any
    ``--resume``/``--overwrite`` dropped and ``--resume <run_dir>`` added; every other option
    (``--set``, ``--devices``, ``--seeds``, ...) is kept. ``argv=None`` (a Python call):
    ``default`` (e.g. ``["sweep", "--seeds", "4"]``) stands for it."""
    argv = list(argv) if argv is not None else [default[0], "CONFIG", *default[1:]]
    keep = [argv[0], str(Path(run_dir) / "config.yaml")]
    i, config_seen = 1, False
    while i < len(argv):
        t = argv[i]
        opt = _option(t) if t.startswith("--") else None
        takes_value = opt in _VALUE_OPTIONS and "=" not in t
        group = argv[i:i + 1 + takes_value]
        i += len(group)
        if opt in ("--resume", "--overwrite", "--out"):
            continue
        if opt is None and not t.startswith("-") and not config_seen:
            config_seen = True  # the positional config: replaced by the run's own
            continue
        keep += group
    return "hopjax " + shlex.join(keep + ["--out", str(out), "--resume", str(run_dir)])

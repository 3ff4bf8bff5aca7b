"""How a run meets Ctrl-C (SIGINT) and ``kill`` / SLURM's time limit (SIGTERM); no JAX here, so
the command line can set this up before JAX is imported.

Three guards (and :func:`raise_if_interrupted`), all no-ops outside the main thread (where
Python cannot set a signal handler) and for a signal the process ignores (``nohup`` and
background jobs ignore SIGINT):

- :func:`sigterm_as_interrupt`: SIGTERM raises KeyboardInterrupt, so a killed run checkpoints
  and stops as after Ctrl-C; it is remembered as :func:`remembered_interrupt` remembers a
  Ctrl-C, but forgotten only by :func:`interrupt_handled` or :func:`raise_if_interrupted`.
  (Before a run's loop starts, SIGTERM keeps its default: the process ends at once, having
  written nothing it could lose.)
- :func:`deferred_interrupt`: both signals are held back while a block runs (a checkpoint and
  its CSV rows are written whole; an XLA compile runs to its end) and raise KeyboardInterrupt
  after it. JAX's compile is interruptible, but XLA's compile threads run on, and the
  interpreter's teardown under them crashes the process (SIGSEGV after the run has saved and
  said where: measured with ``hopjax train`` on jax 0.10.2, CPU).
- :func:`remembered_interrupt`: Ctrl-C raises KeyboardInterrupt as Python's own handler does,
  and is also remembered. Python drops an exception raised inside a garbage-collector callback
  (it prints ``Exception ignored in ...`` and goes on): JAX runs such callbacks while it is
  imported and while it compiles, so a Ctrl-C there was lost and the run trained to its end
  (https://github.com/jax-ml/jax/issues/18246).
  While ``import jax`` runs, it is only remembered: a KeyboardInterrupt raised while jaxlib's
  C++ extensions start aborts the process (``terminate called after throwing an instance of
  'nanobind::python_error'``, or a segmentation fault). :func:`raise_if_interrupted` raises the
  remembered one where the run can stop cleanly.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_deferring = threading.local()
_seen = threading.Event()  # a remembered SIGINT or SIGTERM whose KeyboardInterrupt is unhandled


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _handling(handler, signals: tuple[int, ...]) -> Iterator[bool]:
    """``handler`` for each of ``signals`` that the process does not ignore while the block
    runs, the previous handlers after it; yields whether any was installed (none outside the
    main thread, where Python cannot set one)."""
    if not _in_main_thread():
        yield False
        return
    previous = {sig: signal.signal(sig, handler) for sig in signals if signal.getsignal(sig) is not signal.SIG_IGN}
    try:
        yield bool(previous)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM stops a run like Ctrl-C (KeyboardInterrupt: checkpoint,
    resume command), remembered for :func:`raise_if_interrupted` in case Python drops it (and
    then not printed as ``Exception ignored``, whether or not SIGINT is ignored); an ignored
    SIGTERM stays ignored; outside the main thread it does nothing."""
    with _handling(_remember_interrupt, (signal.SIGTERM,)) as on, _quiet_if(on):
        yield


@contextlib.contextmanager
def deferred_interrupt(note: str | None = None) -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C) and SIGTERM (``kill``, SLURM's time limit) while the block runs;
    a signal that arrived meanwhile raises KeyboardInterrupt when the block is done (``note``,
    if given, is printed to stderr at the first one). A signal the process ignores stays
    ignored. Nested blocks defer to the outermost one; outside the main thread it does nothing."""
    if getattr(_deferring, "on", False) or not _in_main_thread():
        yield
        return
    hit: list[int] = []

    def hold(signum, frame):
        if note is not None and not hit:
            print(note, file=sys.stderr, flush=True)
        hit.append(signum)

    with _handling(hold, STOP_SIGNALS):
        _deferring.on = True
        try:
            yield
        finally:
            _deferring.on = False
    if hit:
        raise KeyboardInterrupt


def _importing_jax() -> bool:
    """True while ``import jax`` runs (importlib marks a module ``_initializing`` until its top
    level is done)."""
    spec = getattr(sys.modules.get("jax"), "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def _remember_interrupt(signum, frame):
    _seen.set()
    if not _importing_jax():  # raised inside jaxlib's C++ extensions' start, it aborts the process
        raise KeyboardInterrupt


@contextlib.contextmanager
def _quiet_if(on: bool) -> Iterator[None]:
    """While the block runs (if ``on``), a KeyboardInterrupt that Python drops while a remembered
    signal is pending is not reported (no ``Exception ignored`` traceback: it is raised again by
    :func:`raise_if_interrupted`); anything else is reported as before."""
    if not on:
        yield
        return
    hook = sys.unraisablehook

    def quiet(unraisable):
        if not (_seen.is_set() and issubclass(unraisable.exc_type, KeyboardInterrupt)):
            hook(unraisable)

    sys.unraisablehook = quiet
    try:
        yield
    finally:
        sys.unraisablehook = hook


@contextlib.contextmanager
def remembered_interrupt() -> Iterator[None]:
    """While the block runs, Ctrl-C raises KeyboardInterrupt and is remembered until
    :func:`interrupt_handled` (or the block's end) forgets it, so that one Python dropped is
    raised again by :func:`raise_if_interrupted` (and not printed as ``Exception ignored``). A
    SIGINT the process ignores stays ignored; outside the main thread it does nothing."""
    with _handling(_remember_interrupt, (signal.SIGINT,)) as on, _quiet_if(on):
        if not on:
            yield
            return
        _seen.clear()
        try:
            yield
        finally:
            _seen.clear()


def raise_if_interrupted() -> None:
    """KeyboardInterrupt if a Ctrl-C under :func:`remembered_interrupt` or a SIGTERM under
    :func:`sigterm_as_interrupt` has not been handled (its KeyboardInterrupt was dropped);
    nothing otherwise."""
    if _seen.is_set():
        _seen.clear()
        raise KeyboardInterrupt


def interrupt_handled() -> None:
    """Forget a remembered Ctrl-C or SIGTERM: call where a KeyboardInterrupt is caught and acted on."""
    _seen.clear()

"""Ctrl-C that Python drops (inside a finaliser, as in JAX's garbage-collector callbacks) or that
arrives while JAX is imported still stops a run, without a traceback, with exit status 130."""

import gc
import os
import signal
import sys

import pytest

from hopjax.runtime import checkpoint, cli, experiment, signals
from tests.conftest import TINY, quick_loop


class _CtrlCInFinaliser:
    """Its finaliser receives a SIGINT and runs on: the KeyboardInterrupt is raised inside
    ``__del__``, where Python reports it as unraisable and drops it."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # loop back-edges: where the interpreter runs pending handlers
            pass


def _drop_a_ctrl_c():
    _CtrlCInFinaliser()  # collected at once (no reference kept)
    gc.collect()


def test_pythons_handler_drops_it_and_the_remembered_one_raises_it_later(monkeypatch, default_sigint):
    dropped = []  # what Python reports as "Exception ignored in ..." (sys.unraisablehook)
    monkeypatch.setattr(sys, "unraisablehook", lambda u: dropped.append(u.exc_type))
    _drop_a_ctrl_c()  # the reference: Python's own handler loses it
    assert dropped == [KeyboardInterrupt]
    with signals.remembered_interrupt():
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        _drop_a_ctrl_c()
        assert dropped == [KeyboardInterrupt]  # remembered, not reported
        with pytest.raises(KeyboardInterrupt):
            signals.raise_if_interrupted()
        signals.raise_if_interrupted()  # raised once
        with pytest.raises(KeyboardInterrupt):  # a Ctrl-C where it is not dropped: raised as usual
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
        signals.interrupt_handled()  # ... and forgotten once acted on
        signals.raise_if_interrupted()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_while_jax_is_imported_it_is_only_remembered(monkeypatch, default_sigint):
    monkeypatch.setattr(signals, "_importing_jax", lambda: True)
    with signals.remembered_interrupt():
        os.kill(os.getpid(), signal.SIGINT)  # raised inside jaxlib's start it would abort the process
        for _ in range(1000):
            pass
        with pytest.raises(KeyboardInterrupt):
            signals.raise_if_interrupted()


def test_an_ignored_sigint_stays_ignored():
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)  # nohup, a background job
    try:
        with signals.remembered_interrupt():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            signals.raise_if_interrupted()
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.fixture
def tiny_yaml(tmp_path):
    import yaml

    from hopjax.config import to_dict

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(to_dict(TINY)))
    return path


def test_cli_ctrl_c_dropped_while_a_chunk_runs_stops_after_it(tmp_path, tiny_yaml, capfd, monkeypatch,
                                                                tiny_trainer, default_sigint):
    """The Ctrl-C is dropped during the first chunk (as in JAX's garbage-collector callbacks):
    the run still stops after that chunk, saves it, says where, and ``hopjax train`` exits 130."""
    loop = quick_loop(tiny_trainer)

    class DropsCtrlCInFirstChunk:
        def __getattr__(self, name):
            return getattr(loop, name)

        def compiled_chunk(self, runner):
            fn, calls = loop.compiled_chunk(runner), []

            def chunk(r):
                calls.append(1)
                if len(calls) == 1:
                    _drop_a_ctrl_c()
                return fn(r)

            return chunk

    monkeypatch.setattr(experiment, "_make_loop", lambda *a: DropsCtrlCInFirstChunk())
    assert cli.main(["train", str(tiny_yaml), "--out", str(tmp_path), "--no-progress"]) == 130
    out, err = capfd.readouterr()
    ckpt = tmp_path / "tiny" / "checkpoints" / f"update_{TINY.chunk_updates:08d}"
    assert f"interrupted: checkpoint saved at {ckpt}" in out and "resume with: hopjax train" in out
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert checkpoint.load_meta(ckpt)[1]["update"] == TINY.chunk_updates
    assert len(experiment.read_csv(tmp_path / "tiny" / "metrics.csv")) == TINY.chunk_updates  # the first of 4 chunks


@pytest.mark.parametrize("sigint", [signal.default_int_handler, signal.SIG_IGN], ids=["sigint", "sigint-ignored"])
def test_a_dropped_sigterm_is_remembered_too(monkeypatch, sigint):
    """Also where SIGINT is ignored (``nohup``, a job started with ``&``), so that the SIGINT guard
    does nothing: the SIGTERM is still remembered and not reported."""
    dropped = []
    report = lambda u: dropped.append(u.exc_type)  # noqa: E731
    monkeypatch.setattr(sys, "unraisablehook", report)

    class SigtermInFinaliser:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):
                pass

    before = signal.signal(signal.SIGINT, sigint)
    before_term = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not an inherited ignored SIGTERM
    try:
        with signals.remembered_interrupt(), signals.sigterm_as_interrupt():
            SigtermInFinaliser()
            gc.collect()
            assert dropped == []  # not reported ...
            with pytest.raises(KeyboardInterrupt):  # ... but raised where the run checks
                signals.raise_if_interrupted()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back after the guard
    finally:
        signals.interrupt_handled()  # nothing left remembered for later tests if an assertion failed
        signal.signal(signal.SIGINT, before)
        signal.signal(signal.SIGTERM, before_term)
    assert sys.unraisablehook is report  # put back after the guards


def test_cli_ctrl_c_before_training_is_one_line(tmp_path, tiny_yaml, capfd, monkeypatch, default_sigint):
    def interrupted(*a):
        raise KeyboardInterrupt  # e.g. while the trainer is built

    monkeypatch.setattr(experiment, "_make_loop", interrupted)
    assert cli.main(["train", str(tiny_yaml), "--out", str(tmp_path), "--no-progress"]) == 130
    err = capfd.readouterr().err
    assert err.strip() == "hopjax: interrupted", err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_eval_stops_at_a_dropped_ctrl_c(capsys, default_sigint):
    """The adaptation protocol's trainings and evaluations (``_timed``) check after each call."""
    import jax.numpy as jnp

    from hopjax.runtime import adaptation

    def work():
        _drop_a_ctrl_c()  # as if JAX dropped it during this call's compile
        return jnp.ones(2)

    with signals.remembered_interrupt():
        assert adaptation._timed("fine", lambda: jnp.ones(2))[0].tolist() == [1.0, 1.0]
        with pytest.raises(KeyboardInterrupt):
            adaptation._timed("interrupted", work)


def test_deferred_interrupt_says_its_note_once_and_raises_after(capfd, default_sigint):
    done = False
    with pytest.raises(KeyboardInterrupt):
        with signals.deferred_interrupt("held until the block ends"):
            for _ in range(2):  # two Ctrl-C: one note
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):
                    pass
            done = True
    assert done and capfd.readouterr().err == "held until the block ends\n"


def test_a_ctrl_c_during_the_chunks_compile_waits_for_it(tmp_path, capfd, tiny_trainer, default_sigint):
    """XLA's compile threads run on after an interrupted compile and the interpreter's teardown
    under them crashes the process: the run lets the compile finish, then stops at update 0."""
    loop, finished = quick_loop(tiny_trainer), []

    class CtrlCWhileCompiling:
        def __getattr__(self, name):
            return getattr(loop, name)

        def compiled_chunk(self, runner):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
            finished.append(True)  # not reached if the Ctrl-C raised here
            return loop.compiled_chunk(runner)

    res = experiment.train(TINY, tmp_path, progress=False, plot=False, loop=CtrlCWhileCompiling())
    out, err = capfd.readouterr()
    assert finished == [True] and res.stopped == "interrupted" and res.last_checkpoint.name == "update_00000000"
    assert "stopping once XLA has compiled the training chunk" in err and "interrupted: checkpoint saved" in out


@pytest.mark.parametrize("status", [0, 2, 130])
def test_console_script_exits_with_mains_status(tmp_path, status):
    """``hopjax`` (``cli.run``) exits with main's status; after an interrupt (130) it ends the
    process at once (``os._exit``) with what was printed flushed."""
    import subprocess

    code = ("from hopjax.runtime import cli\n"
            f"def main():\n    print('said before', end='')\n    return {status}\n"
            "cli.main = main\ncli.run()\nprint('not reached')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == status and res.stdout == "said before", res

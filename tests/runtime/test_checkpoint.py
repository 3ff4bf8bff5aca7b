"""Checkpoints: round trip, corrupt files, and what a run leaves behind on NaN or Ctrl-C."""

import json
import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax.runtime import checkpoint, experiment
from hopjax.runtime.checkpoint import CheckpointError
from tests.conftest import TINY, loop_of, quick_loop


def test_round_trip_and_latest(tmp_path):
    state = {"w": jnp.arange(6.0).reshape(2, 3), "k": jax.random.PRNGKey(3), "n": jnp.int32(7)}
    for u in (1, 2, 3, 4):
        checkpoint.save(tmp_path, jax.tree.map(lambda x: x * 1, state), {"update": u, "chunk": u, "config": {}}, keep=2)
    assert sorted(p.name for p in tmp_path.glob("update_*")) == ["update_00000003", "update_00000004"]
    restored, meta = checkpoint.restore(tmp_path, state)
    assert meta["update"] == 4
    jax.tree.map(np.testing.assert_array_equal, restored, state)


def test_corrupt_checkpoints_raise_clear_errors(tmp_path):
    state = {"w": jnp.ones((3,))}
    path = checkpoint.save(tmp_path, state, {"update": 1, "chunk": 1, "config": {}})
    with pytest.raises(checkpoint.LayoutError, match=r"arrays differ, e.g. w: checkpoint \(3,\) float32, here \(4,\) float32$"):
        checkpoint.restore(tmp_path, {"w": jnp.ones((4,))})
    with pytest.raises(checkpoint.LayoutError, match=r"e.g. v: checkpoint absent, here \(3,\) float32$"):
        checkpoint.restore(tmp_path, {"w": jnp.ones((3,)), "v": jnp.ones((3,))})
    (path / "meta.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        checkpoint.restore(tmp_path, state)
    (path / "meta.json").write_text(json.dumps({"update": 1, "chunk": 1, "config": {}}))
    for f in (path / "state").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        checkpoint.restore(tmp_path, state)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        checkpoint.restore(tmp_path / "nowhere", state)


class FaultyLoop:
    """Wraps a trainer's Loop; its second chunk produces NaN params or raises KeyboardInterrupt."""

    def __init__(self, trainer, fault):
        self._t, self.fault, self.calls = loop_of(trainer), fault, 0

    def __getattr__(self, name):
        return getattr(self._t, name)

    def compiled_chunk(self, runner):
        inner = self._t.compiled_chunk(runner)

        def run(r):
            self.calls += 1
            r2, m = inner(r)
            if self.calls == 2:
                if self.fault == "interrupt":
                    raise KeyboardInterrupt
                if self.fault == "sigterm":  # kill / SLURM: stops the run like Ctrl-C
                    os.kill(os.getpid(), signal.SIGTERM)
                r2 = r2.replace(params=jax.tree.map(lambda x: x * jnp.nan, r2.params))
            return r2, m

        return run


@pytest.mark.parametrize("fault", ["nan", "interrupt", "sigterm"])
def test_faults_leave_last_good_checkpoint(tmp_path, capsys, fault, tiny_trainer):
    tr = FaultyLoop(tiny_trainer, fault)
    res = experiment.train(TINY, tmp_path, progress=False, plot=False, loop=tr)
    out = capsys.readouterr().out
    assert res.stopped == ("nan" if fault == "nan" else "interrupted")
    assert str(res.last_checkpoint) in out
    restored, meta = checkpoint.restore(res.last_checkpoint, res.runner)
    assert meta["update"] == TINY.chunk_updates  # the state after the one good chunk
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(restored.params))
    assert len(experiment.read_csv(tmp_path / "tiny" / "metrics.csv")) == TINY.chunk_updates


def meta(u):
    return {"update": u, "chunk": u, "config": {}}


def test_retention_by_update_number_keeps_the_new_checkpoint(tmp_path):
    """An older run's higher-numbered checkpoints never push out the one just written."""
    state = {"w": jnp.ones((2,))}
    for u in (36, 38, 40):
        checkpoint.save(tmp_path, state, meta(u))
    for u in (2, 4, 6, 8):
        path = checkpoint.save(tmp_path, jax.tree.map(lambda x: x * u, state), meta(u))
        assert path.is_dir() and (tmp_path / "LATEST").read_text() == path.name
        restored, m = checkpoint.restore(tmp_path, state)
        assert m["update"] == u and float(restored["w"][0]) == u
    names = sorted(p.name for p in tmp_path.glob("update_*"))
    # the newest 3 of the new run (by number, up to the one just written); 36..40 left alone
    assert names == ["update_00000004", "update_00000006", "update_00000008",
                     "update_00000036", "update_00000038", "update_00000040"]
    for u in (100, 1000, 10000):  # numbers, not strings: 10000 > 1000 > 100
        checkpoint.save(tmp_path, state, meta(u), keep=2)
    assert (tmp_path / "update_00010000").is_dir() and (tmp_path / "update_00001000").is_dir()
    assert not (tmp_path / "update_00000100").exists()


def test_resaving_an_update_keeps_the_earlier_one(tmp_path, capsys):
    checkpoint.save(tmp_path, {"w": jnp.ones((2,))}, meta(4))
    checkpoint.save(tmp_path, {"w": jnp.zeros((2,))}, meta(4))
    (aside,) = tmp_path.glob("update_00000004.replaced-*")
    assert str(aside) in capsys.readouterr().out
    assert float(checkpoint.restore(aside, {"w": jnp.ones((2,))})[0]["w"][0]) == 1.0
    assert float(checkpoint.restore(tmp_path, {"w": jnp.ones((2,))})[0]["w"][0]) == 0.0


@pytest.mark.parametrize("content, key", [
    ({}, "update"), ({"update": 4}, "chunk"), ({"update": 4, "chunk": 2}, "config"),
    ({"update": 4, "chunk": "x", "config": {}}, "chunk"), ({"update": -1, "chunk": 0, "config": {}}, "update"),
    ({"update": True, "chunk": 0, "config": {}}, "update"), ({"update": 4, "chunk": 2, "config": 3}, "config"),
    ([1, 2], None),
])
def test_bad_metadata_is_one_line_naming_file_and_key(tmp_path, content, key):
    path = checkpoint.save(tmp_path, {"w": jnp.ones((2,))}, meta(4))
    (path / "meta.json").write_text(json.dumps(content))
    with pytest.raises(CheckpointError) as e:
        checkpoint.load_meta(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and str(path / "meta.json") in msg
    assert key is None or repr(key) in msg


def test_cli_bad_metadata_exits_2(tmp_path, capsys):
    from hopjax.runtime import cli

    path = checkpoint.save(tmp_path / "run" / "checkpoints", {"w": jnp.ones((2,))}, meta(4))
    (path / "meta.json").write_text(json.dumps({"update": 4, "chunk": "x", "config": {}}))
    assert cli.main(["eval", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'chunk' must be a non-negative integer" in err


class InterruptingCheckpointer:
    """orbax's StandardCheckpointer whose save receives a real SIGINT halfway."""

    def __init__(self, real):
        self._c = real()

    def __enter__(self):
        self._c.__enter__()
        return self

    def __exit__(self, *a):
        return self._c.__exit__(*a)

    def save(self, *a, **kw):
        os.kill(os.getpid(), signal.SIGINT)
        return self._c.save(*a, **kw)

    def __getattr__(self, name):
        return getattr(self._c, name)


def test_sigint_during_save_is_deferred_until_it_is_complete(tmp_path, monkeypatch, capfd, default_sigint):
    real = checkpoint.ocp.StandardCheckpointer
    monkeypatch.setattr(checkpoint.ocp, "StandardCheckpointer", lambda: InterruptingCheckpointer(real))
    state = {"w": jnp.arange(3.0)}
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(tmp_path, state, meta(2))
    monkeypatch.setattr(checkpoint.ocp, "StandardCheckpointer", real)
    restored, m = checkpoint.restore(tmp_path, state)  # complete, and LATEST points at it
    assert m["update"] == 2
    np.testing.assert_array_equal(restored["w"], state["w"])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    out, err = capfd.readouterr()
    assert err == "" and out == ""  # no absl / asyncio noise


def test_an_ignored_sigint_stays_ignored_during_save(tmp_path, monkeypatch):
    """A run that ignores SIGINT (started with nohup or in the background) is not stopped by
    one arriving during a save, and still ignores it afterwards."""
    real = checkpoint.ocp.StandardCheckpointer
    monkeypatch.setattr(checkpoint.ocp, "StandardCheckpointer", lambda: InterruptingCheckpointer(real))
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        checkpoint.save(tmp_path, {"w": jnp.arange(3.0)}, meta(2))  # no KeyboardInterrupt
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
    monkeypatch.setattr(checkpoint.ocp, "StandardCheckpointer", real)
    assert checkpoint.restore(tmp_path, {"w": jnp.arange(3.0)})[1]["update"] == 2


def test_sigint_during_a_runs_save_stops_cleanly(tmp_path, monkeypatch, capfd, tiny_trainer, default_sigint):
    """Ctrl-C while the run saves its second chunk: that checkpoint completes, the run stops
    there with its rows, and says where; the resumed run continues from it."""
    real, calls = checkpoint.ocp.StandardCheckpointer, []

    def factory():
        calls.append(1)
        return InterruptingCheckpointer(real) if len(calls) == 2 else real()

    monkeypatch.setattr(checkpoint.ocp, "StandardCheckpointer", factory)
    res = experiment.train(TINY, tmp_path, progress=False, plot=False, loop=loop_of(tiny_trainer))
    out, err = capfd.readouterr()
    assert res.stopped == "interrupted" and res.last_checkpoint.name == "update_00000004"
    assert len(calls) == 2  # the interrupted save is not repeated
    assert "Traceback" not in out + err and "absl" not in err
    assert f"interrupted: checkpoint saved at {res.last_checkpoint}" in out
    assert len(experiment.read_csv(tmp_path / "tiny" / "metrics.csv")) == 4


def test_a_run_without_a_checkpoint_yet_says_so(tmp_path, capsys):
    """A run dir as a run leaves it before its first checkpoint (the lock, config.yaml, maybe an
    unfinished save): eval and load_meta say it has no checkpoint yet; a dir that is no run
    keeps the incomplete-checkpoint error."""
    from hopjax.runtime import cli

    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text('{"pid": 1, "host": "h"}')
    (run / "config.yaml").write_text("algo: ppo\n")
    want = f"run dir {str(run)!r} has no checkpoint yet"
    assert cli.main(["eval", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and want in err, err
    (run / "checkpoints" / ".update_00000004.partial" / "state").mkdir(parents=True)
    for path in (run, run / "checkpoints"):
        with pytest.raises(CheckpointError, match=want):
            checkpoint.load_meta(path)
    (tmp_path / "other").mkdir()
    with pytest.raises(CheckpointError, match="not a complete hopjax checkpoint"):
        checkpoint.load_meta(tmp_path / "other")


def test_a_corrupt_latest_checkpoint_names_the_newest_older_intact_one(tmp_path):
    state = {"w": jnp.arange(64.0)}
    paths = [checkpoint.save(tmp_path, jax.tree.map(lambda x: x * u, state), meta(u)) for u in (2, 4, 6)]
    for f in (paths[2] / "state").rglob("*"):
        if f.is_file() and f.parent.name == "d":  # the array data files, cut short
            os.truncate(f, 10)
    (paths[1] / "meta.json").write_text("{not json")  # not intact either
    with pytest.raises(CheckpointError) as e:
        checkpoint.restore(tmp_path, state)
    msg = str(e.value)
    assert msg.startswith(f"could not restore {str(paths[2])!r}: it is corrupt") and "\n" not in msg
    assert msg.endswith(f"the newest older checkpoint of this run looks intact: {paths[0]} "
                        f"(--resume {paths[0]} continues from it)")
    restored, m = checkpoint.restore(paths[0], state)  # and it is
    assert m["update"] == 2 and float(restored["w"][3]) == 6.0
    (paths[0] / "meta.json").unlink()  # no intact older one: no hint
    with pytest.raises(CheckpointError) as e:
        checkpoint.restore(tmp_path, state)
    assert "older" not in str(e.value)


def test_a_failed_restore_prints_no_asyncio_tracebacks(tmp_path, monkeypatch, capfd):
    """orbax stops its event loop at the first unreadable array while tensorstore still reads
    the others; their callbacks then raise "Event loop is closed" as unraisable exceptions,
    whose tracebacks would follow the one-line error. They are dropped; any other unraisable
    exception still reaches the previous hook."""
    import asyncio
    import sys
    import time
    import types

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    state = {f"a{i}": jnp.ones((20_000,)) for i in range(200)}  # many reads in flight
    path = checkpoint.save(tmp_path, state, meta(1))
    for f in (path / "state").rglob("*"):
        if f.is_file() and f.parent.name == "d":
            os.truncate(f, 10)
    with pytest.raises(CheckpointError, match="corrupt"):
        checkpoint.restore(tmp_path, state)
    time.sleep(1.0)  # the late reads
    assert "Event loop is closed" not in "".join(capfd.readouterr()) and seen == []
    loop = asyncio.new_event_loop()
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed") as late:
        loop.call_soon_threadsafe(print)  # what a late read's callback meets
    other = [RuntimeError("Event loop is closed"), ValueError("x")]  # not from asyncio: kept
    for exc in (late.value, *other):
        sys.unraisablehook(types.SimpleNamespace(exc_type=type(exc), exc_value=exc, exc_traceback=exc.__traceback__,
                                                 err_msg=None, object=None))
    assert [a.exc_value for a in seen] == other


def test_resume_with_another_config_names_the_keys(tmp_path, capsys, tiny_trainer):
    """A resume whose config changes the state's arrays: one line naming the keys that differ
    from the checkpoint's config (and a few arrays), before anything compiles."""
    import yaml

    from hopjax.config import to_dict
    from hopjax.runtime import cli

    experiment.train(TINY, tmp_path, progress=False, plot=False, loop=quick_loop(tiny_trainer))
    capsys.readouterr()
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump({**to_dict(TINY), "hidden_sizes": [16], "total_steps": 2 * TINY.total_steps}))
    run = tmp_path / "tiny"
    assert cli.main(["train", str(path), "--out", str(tmp_path), "--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hopjax: error: "), err
    assert (f"config keys that differ: total_steps: {TINY.total_steps} -> {2 * TINY.total_steps}; "
            "hidden_sizes: [32] -> [16]; resume with the checkpoint's values") in err, err
    assert "arrays that differ, e.g. " in err and "checkpoint (4, 32) float32, here (4, 16) float32" in err, err
    assert not list(run.glob("config.before-resume-*"))  # refused before the run's config was touched

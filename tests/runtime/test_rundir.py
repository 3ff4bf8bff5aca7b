"""Run directories (host side, no JAX): refusal, --overwrite moves aside, the lock, the resume
command."""

import json
import os
import shlex
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hopjax.runtime import rundir
from hopjax.config import ConfigError
from hopjax.runtime.rundir import RunDirError

ROOT = Path(__file__).resolve().parents[2]


def old_run(path: Path) -> Path:
    (path / "checkpoints" / "update_00000040").mkdir(parents=True)
    (path / "checkpoints" / "LATEST").write_text("update_00000040")
    (path / "metrics.csv").write_text("update,x\n1,0.5\n")
    return path


def test_existing_run_is_refused_in_one_line(tmp_path):
    run = old_run(tmp_path / "x")
    with pytest.raises(RunDirError) as e:
        with rundir.open_run(run):
            pass
    msg = str(e.value)
    assert isinstance(e.value, ConfigError)  # the CLI's exit 2
    assert "\n" not in msg and str(run) in msg and "update_00000040" in msg
    for way in (f"--resume {run}", "--set name=", "--out", "--overwrite"):
        assert way in msg
    assert (run / "metrics.csv").read_text() == "update,x\n1,0.5\n"
    assert not (run / rundir.LOCK).exists()  # released


def test_overwrite_moves_the_old_run_aside(tmp_path, capsys):
    run = old_run(tmp_path / "x")
    with rundir.open_run(run, overwrite=True):
        assert [p.name for p in run.iterdir()] == [rundir.LOCK]
    (aside,) = tmp_path.glob("x.old-*")
    assert f"moved the previous run in {run} aside to {aside}" in capsys.readouterr().out
    assert (aside / "metrics.csv").read_text() == "update,x\n1,0.5\n"
    assert (aside / "checkpoints" / "update_00000040").is_dir()
    with rundir.open_run(run, overwrite=True):  # empty now: nothing to move
        pass
    assert len(list(tmp_path.glob("x.old-*"))) == 1


def test_resume_rules(tmp_path):
    run = old_run(tmp_path / "x")
    with pytest.raises(RunDirError, match="use one of them"):
        with rundir.open_run(run, resume=run, overwrite=True):
            pass
    with rundir.open_run(run, resume=run / "checkpoints" / "update_00000040"):
        pass
    other = old_run(tmp_path / "y")
    with pytest.raises(RunDirError, match="would mix two runs"):
        with rundir.open_run(run, resume=other):
            pass
    with rundir.open_run(tmp_path / "fresh", resume=other):  # a new dir may start from any checkpoint
        pass


def write_lock(run: Path, pid: int, host: str) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / rundir.LOCK).write_text(json.dumps({"pid": pid, "host": host}))


def test_lock_of_a_live_process_or_another_host_is_refused(tmp_path):
    run = tmp_path / "x"
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        write_lock(run, sleeper.pid, socket.gethostname())
        with pytest.raises(RunDirError) as e:
            with rundir.open_run(run):
                pass
        assert f"in use by pid {sleeper.pid} on host {socket.gethostname()!r}" in str(e.value)
    finally:
        sleeper.kill()
        sleeper.wait()
    write_lock(run, 1, "elsewhere")
    with pytest.raises(RunDirError) as e:
        with rundir.open_run(run):
            pass
    assert "pid 1 on host 'elsewhere'" in str(e.value) and f"remove {run / rundir.LOCK}" in str(e.value)
    (run / rundir.LOCK).write_text("")
    with pytest.raises(RunDirError, match="unreadable lock"):
        with rundir.open_run(run):
            pass


def test_stale_lock_is_taken_over(tmp_path, capsys):
    run = tmp_path / "x"
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid is now free (reuse within this test is vanishingly unlikely)
    write_lock(run, dead.pid, socket.gethostname())
    with rundir.open_run(run):
        owner = json.loads((run / rundir.LOCK).read_text())
        assert owner == {"pid": os.getpid(), "host": socket.gethostname()}
    assert f"taking over the stale lock of pid {dead.pid}" in capsys.readouterr().out
    assert not (run / rundir.LOCK).exists()


def test_two_processes_one_dir(tmp_path):
    """A real second process holds the dir: this one is refused, naming it."""
    run = tmp_path / "x"
    code = textwrap.dedent(f"""
        import sys, time
        from hopjax.runtime import rundir
        with rundir.open_run({str(run)!r}):
            print("locked", flush=True)
            sys.stdin.readline()
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirError, match=f"in use by pid {holder.pid} on host"):
            with rundir.open_run(run):
                pass
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0
    with rundir.open_run(run):  # released by its owner on exit
        pass


@pytest.mark.parametrize("argv, want", [
    (["train", "c.yaml", "--out", "D", "--devices", "2", "--set", "lr=1e-3", "--set", "hidden_sizes=[8, 8]"],
     ["train", "D/x/config.yaml", "--devices", "2", "--set", "lr=1e-3", "--set", "hidden_sizes=[8, 8]"]),
    (["train", "--out=D", "c.yaml", "--overwrite", "--no-progress"],
     ["train", "D/x/config.yaml", "--no-progress"]),
    (["train", "D/x/config.yaml", "--res", "D/x/checkpoints/update_00000004", "--ou", "D"],
     ["train", "D/x/config.yaml"]),
    (["sweep", "c.yaml", "--seeds", "2", "--out", "D", "--set=seed=3"],
     ["sweep", "D/x/config.yaml", "--seeds", "2", "--set=seed=3"]),
    (None, ["train", "D/x/config.yaml"]),
])
def test_resume_command_reproduces_the_invocation(argv, want):
    cmd = rundir.resume_command(argv, Path("D") / "x", "D")
    parts = shlex.split(cmd)
    assert parts[0] == "hopjax"
    assert parts[1:] == want + ["--out", "D", "--resume", "D/x"]


def test_a_resume_with_a_changed_config_keeps_the_earlier_one(tmp_path, capsys, monkeypatch):
    """The run's config.yaml is replaced on --resume with changed keys; the earlier one stays
    next to it as config.before-resume-<time>.yaml (an unchanged one is just rewritten)."""
    import dataclasses

    from hopjax.runtime.experiment import _write_config
    from tests.conftest import TINY

    path = tmp_path / "config.yaml"
    _write_config(path, TINY)
    _write_config(path, TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]
    changed = dataclasses.replace(TINY, total_steps=2 * TINY.total_steps)
    _write_config(path, changed)
    (kept,) = tmp_path.glob("config.before-resume-*.yaml")
    stamp = kept.name[len("config.before-resume-"):-len(".yaml")]
    assert f"total_steps: {TINY.total_steps}" in kept.read_text()
    assert f"total_steps: {changed.total_steps}" in path.read_text()
    out = capsys.readouterr().out
    assert (f"the config differs from the run's: total_steps: {TINY.total_steps} -> {changed.total_steps}; "
            f"the earlier one is kept as {kept}\n") in out and "seed" not in out
    monkeypatch.setattr(rundir.time, "strftime", lambda fmt: stamp)  # the second resume in the same second
    _write_config(path, dataclasses.replace(changed, seed=5))
    assert capsys.readouterr().out.endswith(
        "seed does not change a resumed run: its random state continues from the checkpoint\n")
    kept = sorted(tmp_path.glob("config.before-resume-*.yaml"))  # two, also within one second
    assert len(kept) == 2 and {f"total_steps: {TINY.total_steps}" in k.read_text() for k in kept} == {True, False}


def test_out_that_is_not_a_usable_directory_is_one_line_naming_it(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    for out, why in ((afile, "is not a directory"),
                     (afile / "sub", f"cannot be created: {str(afile)!r} is not a directory")):
        with pytest.raises(RunDirError) as e:
            rundir.check_out(out)
        assert str(e.value).startswith(f"--out {str(out)!r} {why};") and "\n" not in str(e.value)
        with pytest.raises(RunDirError, match=f"cannot create run dir {out / 'x'}"):
            with rundir.open_run(out / "x"):
                pass
    assert afile.read_text() == "keep"
    rundir.check_out(tmp_path / "new" / "deeper")  # creatable: fine, and nothing is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_out_where_no_directory_can_be_created_is_refused():
    with pytest.raises(OSError):  # the reference: the kernel refuses a directory there
        os.mkdir("/proc/hopjax-out")
    with pytest.raises(RunDirError, match=r"^--out '/proc/hopjax-out/x' is not usable: cannot create a directory in '/proc'"):
        rundir.check_out("/proc/hopjax-out/x")


def test_a_live_lock_is_named_before_the_run_it_holds(tmp_path, capsys):
    """A second `hopjax train` into a run dir that a live process writes to is told the dir is
    in use (and by whom), not to --resume it (which that lock refuses as well)."""
    from hopjax.runtime import cli

    run = old_run(tmp_path / "stag_hunt_ppo")
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        write_lock(run, sleeper.pid, socket.gethostname())
        for resume in (None, run):
            with pytest.raises(RunDirError, match=f"^run dir {run} is in use by pid {sleeper.pid} "):
                rundir.check(run, resume)
        assert cli.main(["train", str(ROOT / "configs" / "stag_hunt_ppo.yaml"), "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"is in use by pid {sleeper.pid}" in err and "--resume" not in err, err
    finally:
        sleeper.kill()
        sleeper.wait()
    with pytest.raises(RunDirError, match="already holds a run"):  # its owner gone: the run itself
        rundir.check(run)

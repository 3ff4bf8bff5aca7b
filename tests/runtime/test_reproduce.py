"""``hopjax reproduce``: arguments refused before JAX starts, and one tiny end-to-end run of
``hop-plus`` whose report, CSVs and figure agree with the sweep's own metrics."""

import csv

import numpy as np
import pytest

from hopjax.runtime import cli, experiment
from hopjax.runtime.reproduce import collect, reproduce

TINY = ("num_envs=8", "total_steps=800", "chunk_updates=5", "hidden_sizes=[32]", "env_kwargs.max_steps=10",
        "ppo.num_minibatches=2")


@pytest.mark.parametrize("argv, msg", [
    (["reproduce", "omg", "--seeds", "1"], "--seeds must lie in [2, 4096]"),
    (["reproduce", "nope"], "invalid choice"),
    (["reproduce", "moa", "--scale", "huge"], "invalid choice"),
])
def test_bad_arguments_are_one_line_errors(argv, msg, capsys):
    with pytest.raises(SystemExit) if msg == "invalid choice" else _no_raise():
        assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("hopjax: error:") and msg in err and len(err.strip().splitlines()) == 1


def test_help_prints_a_plain_percent_sign(capsys):
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "with 95 % intervals over seeds" in text and "%%" not in text


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_an_earlier_reproduction_is_refused_then_moved_aside(tmp_path, capsys):
    d = tmp_path / "reproduce" / "omg"
    d.mkdir(parents=True)
    (d / "REPORT.md").write_text("earlier")
    assert cli.main(["reproduce", "omg", "--out", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err and (d / "REPORT.md").read_text() == "earlier"


def test_hop_plus_end_to_end(tmp_path):
    report = reproduce("hop-plus", seeds=2, out=tmp_path, progress=False, overrides=TINY)
    d = tmp_path / "reproduce" / "hop-plus"
    text = (d / "REPORT.md").read_text()
    assert report.claim in text and "| constant | value | source |" in text
    assert [v for _, _, v in report.verdicts] and all(v in ("holds", "does not hold", "cannot tell")
                                                      for _, _, v in report.verdicts)
    assert (d / "hop_plus.png").stat().st_size > 10_000
    # the report's final return is the mean over seeds of each CSV's last 10 % of updates
    rows = [experiment.read_csv(d / "stag_hunt_4x4_ppo_sweep2" / f"metrics_seed{s}.csv") for s in range(2)]
    finals = [np.mean([r["mean_return"] for r in seed[-max(1, len(seed) // 10):]]) for seed in rows]
    with (d / "final.csv").open() as f:
        got = [float(r["mean return per agent"]) for r in csv.DictReader(f)]
    np.testing.assert_allclose(got, finals)
    assert f"mean return per agent {np.mean(finals):.3f}" in text
    with (d / "thresholds.csv").open() as f:
        cross = list(csv.DictReader(f))
    assert len(cross) == 2 * 4  # seeds x thresholds
    for c in cross:  # every crossing is the first row of that seed at or above the threshold
        seed = rows[int(c["seed"])]
        first = next((r["env_steps"] for r in seed if r["mean_return"] >= float(c["threshold"])), float("nan"))
        np.testing.assert_equal(float(c["env_steps"]), first)
    # REPRODUCTIONS.md: this report's verdicts and figure; the other targets listed as not run
    md = collect(tmp_path, tmp_path).read_text()
    assert all(f"| **{v}** |" in md for _, _, v in report.verdicts)
    assert (tmp_path / "reproductions" / "hop-plus_hop_plus.png").is_file()
    assert md.count("Not run yet") == 3


def test_an_interrupted_reproduction_continues_with_resume(tmp_path, monkeypatch, capsys):
    """Ctrl-C during hop-plus's sweep: it says how to continue; ``--resume`` continues the
    sweep from its checkpoint and ends on the same metrics as an uninterrupted run."""
    from hopjax.runtime import rundir
    from hopjax.runtime.reproduce import check

    real, calls = experiment._commit, []

    def commit_then_interrupt(*a, **k):  # Ctrl-C right after the first chunk's rows are written
        rows = real(*a, **k)
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return rows

    monkeypatch.setattr(experiment, "_commit", commit_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        reproduce("hop-plus", seeds=2, out=tmp_path, progress=False, overrides=TINY, command="hopjax reproduce hop-plus")
    d = tmp_path / "reproduce" / "hop-plus"
    assert "continue it with hopjax reproduce hop-plus --resume" in capsys.readouterr().out
    assert not (d / "REPORT.md").exists()
    with pytest.raises(rundir.RunDirError, match="continue a stopped one with --resume, or pass --overwrite"):
        check("hop-plus", "small", 2, tmp_path)
    reproduce("hop-plus", seeds=2, out=tmp_path, progress=False, overrides=TINY, resume=True)
    assert "resumed from" in capsys.readouterr().out and (d / "REPORT.md").is_file()
    reproduce("hop-plus", seeds=2, out=tmp_path / "ref", progress=False, overrides=TINY)
    for s in range(2):
        got, want = (experiment.read_csv(base / "stag_hunt_4x4_ppo_sweep2" / f"metrics_seed{s}.csv")
                     for base in (d, tmp_path / "ref" / "reproduce" / "hop-plus"))
        assert [{k: v for k, v in r.items() if k != "sps"} for r in got] == \
               [{k: v for k, v in r.items() if k != "sps"} for r in want]
    assert (d / "final.csv").read_text() == (tmp_path / "ref" / "reproduce" / "hop-plus" / "final.csv").read_text()
    with pytest.raises(Exception, match="finished reproduction"):
        check("hop-plus", "small", 2, tmp_path, resume=True)


def test_a_reproduction_stopped_before_writing_says_to_run_it_again(tmp_path, monkeypatch, capsys):
    import hopjax.loop

    def interrupted(*a, **k):
        raise KeyboardInterrupt  # Ctrl-C while the first sweep's trainer is built

    monkeypatch.setattr(hopjax.loop, "Loop", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reproduce("hop-plus", seeds=2, out=tmp_path, progress=False, overrides=TINY, command="hopjax reproduce hop-plus")
    assert "stopped before it wrote anything: run hopjax reproduce hop-plus again" in capsys.readouterr().out
    assert not (tmp_path / "reproduce" / "hop-plus").exists()  # so the plain command starts afresh

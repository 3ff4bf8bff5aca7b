"""Sweeps run like runs: chunked, per-seed CSVs as they go, checkpoints, resume; seed s of a
sweep is `hopjax train --set seed=<seed + s>`."""

import dataclasses

import numpy as np
import pytest

from hopjax.runtime import cli, experiment
from hopjax.algos import registry
from hopjax.runtime.distributed import default_mesh
from hopjax.loop import Loop
from hopjax.runtime.rundir import RunDirError
from tests.conftest import TINY, loop_of

# bit-identical on this CPU; the tolerance allows vmapped (batched) matmuls to sum in another
# order on other backends
TOL = dict(rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def st():
    return Loop(registry.build(TINY), default_mesh(TINY, 2), seeds=2)


def per_seed(run_dir, s):
    return experiment.read_csv(run_dir / f"metrics_seed{s}.csv")


def test_sweep_seed_s_equals_train_with_seed_plus_s(tmp_path, st, tiny_trainer):
    res = experiment.sweep(TINY, 2, tmp_path, plot=False, progress=False, loop=st)
    run_dir, metrics = res.run_dir, res.metrics
    assert res.stopped is None
    assert run_dir == tmp_path / "tiny_sweep2" and metrics["mean_return"].shape == (2, 8)
    assert st.trace_count == 1  # one compile of the vmapped chunk
    for s in range(2):
        cfg = dataclasses.replace(TINY, seed=TINY.seed + s)
        single = experiment.train(cfg, tmp_path / f"single{s}", progress=False, plot=False, loop=loop_of(tiny_trainer))
        rows = per_seed(run_dir, s)
        assert len(rows) == len(single.rows) == 8
        for a, b in zip(single.rows, rows):
            for k in a:
                if k != "sps":
                    np.testing.assert_allclose(b[k], a[k], **TOL, err_msg=f"seed {s}: {k}")
    a, b = per_seed(run_dir, 0), per_seed(run_dir, 1)
    assert [r["loss"] for r in a] != [r["loss"] for r in b]  # the seeds really differ


def test_sweep_resumes_bit_identically_and_guards_its_dir(tmp_path, st, capsys):
    kw = dict(plot=False, progress=False, loop=st)
    full_dir = experiment.sweep(TINY, 2, tmp_path / "a", **kw).run_dir
    part_res = experiment.sweep(TINY, 2, tmp_path / "b", max_chunks=1, **kw)
    part_dir, part = part_res.run_dir, part_res.metrics
    assert part["mean_return"].shape == (2, 2)
    out = capsys.readouterr().out
    assert f"--seeds 2 --out {tmp_path / 'b'} --resume {part_dir}" in out
    assert len(per_seed(part_dir, 1)) == 2  # written as the chunk finished
    with pytest.raises(RunDirError, match="already holds a run"):
        experiment.sweep(TINY, 2, tmp_path / "b", **kw)
    experiment.sweep(TINY, 2, tmp_path / "b", resume=part_dir, **kw)
    for s in range(2):
        got = [{k: v for k, v in r.items() if k != "sps"} for r in per_seed(part_dir, s)]
        want = [{k: v for k, v in r.items() if k != "sps"} for r in per_seed(full_dir, s)]
        assert got == want
    experiment.sweep(TINY, 2, tmp_path / "b", max_chunks=1, overwrite=True, **kw)
    (aside,) = (tmp_path / "b").glob("tiny_sweep2.old-*")
    assert len(per_seed(aside, 0)) == 8


def test_sweep_help_text(capsys):
    with pytest.raises(SystemExit):
        cli.main(["sweep", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--set seed=<seed + s>" in text and "--overwrite" in text and "--resume" in text


def test_an_interrupted_sweep_says_so_and_resumes(tmp_path, st, capsys):
    """Ctrl-C in the second chunk: stopped == "interrupted", the first chunk's rows and
    checkpoint stay, and the printed resume command names the sweep dir."""

    class Interrupting:
        def __getattr__(self, name):
            return getattr(st, name)

        def compiled_chunk(self, state):
            inner, calls = st.compiled_chunk(state), []

            def run(s):
                calls.append(1)
                if len(calls) == 2:
                    raise KeyboardInterrupt
                return inner(s)

            return run

    res = experiment.sweep(TINY, 2, tmp_path, plot=False, progress=False, loop=Interrupting())
    out = capsys.readouterr().out
    assert res.stopped == "interrupted" and res.metrics["mean_return"].shape == (2, TINY.chunk_updates)
    assert f"--resume {res.run_dir}" in out
    assert (res.run_dir / "checkpoints" / "LATEST").read_text().strip() == "update_00000002"
    assert [len(per_seed(res.run_dir, s)) for s in range(2)] == [TINY.chunk_updates] * 2

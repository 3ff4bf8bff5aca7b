"""Checkpoints: round trip, corrupt files, and what a run leaves behind on NaN or Ctrl-C."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax import checkpoint, experiment
from hopjax.checkpoint import CheckpointError
from tests.conftest import TINY


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
    with pytest.raises(CheckpointError, match="different config|corrupt"):
        checkpoint.restore(tmp_path, {"w": jnp.ones((4,))})
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


class FaultyTrainer:
    """Wraps a trainer; its second chunk produces NaN params or raises KeyboardInterrupt."""

    def __init__(self, trainer, fault):
        self._t, self.fault, self.calls = trainer, fault, 0

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
                r2 = r2.replace(params=jax.tree.map(lambda x: x * jnp.nan, r2.params))
            return r2, m

        return run


@pytest.mark.parametrize("fault", ["nan", "interrupt"])
def test_faults_leave_last_good_checkpoint(tmp_path, capsys, fault, tiny_trainer):
    tr = FaultyTrainer(tiny_trainer, fault)
    res = experiment.train(TINY, tmp_path, progress=False, plot=False, trainer=tr)
    out = capsys.readouterr().out
    assert res.stopped == ("nan" if fault == "nan" else "interrupted")
    assert str(res.last_checkpoint) in out
    restored, meta = checkpoint.restore(res.last_checkpoint, res.runner)
    assert meta["update"] == TINY.chunk_updates  # the state after the one good chunk
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(restored.params))
    assert len(experiment.read_csv(tmp_path / "tiny" / "metrics.csv")) == TINY.chunk_updates

"""One code path on 1 or 4 devices: equal metrics, seeds spread over devices, one compile.

JAX fixes its device count at start-up, so the 4-device runs happen in one subprocess
(tests/runtime/distributed_check.py, 4 virtual CPU devices) that reports JSON; this file asserts on it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from hopjax.runtime import cli, distributed
from hopjax.config import ConfigError, to_dict
from hopjax.runtime.experiment import flatten_metrics
from hopjax.algos.ppo.trainer import Trainer
from tests.test_train import TINY

ROOT = Path(__file__).resolve().parents[2]
TOL = dict(rtol=1e-4, atol=1e-5)  # float summation order differs across devices


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    out = tmp_path_factory.mktemp("distributed") / "result.json"
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4".strip()
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-m", "tests.runtime.distributed_check", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads(out.read_text())
    assert res["device_count"] == 4
    return res


def ref_rows(metrics):
    """Reference metrics [U, ...] -> the rows experiment.train writes (minus update/steps/sps)."""
    goal_names = Trainer(TINY).goal_names
    return flatten_metrics({k: np.asarray(v) for k, v in metrics.items()}, goal_names)


def test_sharded_run_equals_one_device_run(multi):
    s = multi["sharded"]
    assert s["describe"] == "4 cpu devices: seeds 1 x envs 4 (1 host)"
    want = ref_rows(multi["ref"])
    got = s["resumed_rows"]  # 2 chunks, checkpoint, restore onto the mesh, 2 more chunks
    assert len(got) == len(want) == 8
    for i, (g, w) in enumerate(zip(got, want)):
        assert g["update"] == i + 1
        for k, v in w.items():
            np.testing.assert_allclose(g[k], v, **TOL, err_msg=f"update {i + 1}: {k}")
    # the runs learn something, so equality is not between two constants
    assert len({r["loss"] for r in want}) == 8
    np.testing.assert_allclose(_flat(s["params"]), _flat(multi["ref_params"]), **TOL)


def _leaves(tree):
    if isinstance(tree, dict):
        return [x for k in sorted(tree) for x in _leaves(tree[k])]
    return [np.asarray(tree)]


def _flat(tree):
    return np.concatenate([x.ravel() for x in _leaves(tree)])


def test_sharded_resume_is_bit_identical(multi):
    s = multi["sharded"]
    assert s["part_rows"] == 4
    assert s["resumed_rows"] == s["full_rows"]
    np.testing.assert_array_equal(_flat(s["params"]), _flat(s["full_params"]))


def test_env_batch_is_split_and_the_work_with_it(multi):
    s = multi["sharded"]
    assert s["env_spec"] == "P('envs',)"
    assert s["env_devices"] == 4
    assert s["env_shape"][0] == TINY.num_envs and s["env_shard_shape"][0] == TINY.num_envs // 4
    assert s["params_replicated"]
    # gradients and rollout statistics are summed across devices inside the compiled step
    assert s["collectives"]["all-reduce"] > 0
    # each device computes a part, not the whole: per-device flops well below the 1-device run
    assert s["flops_per_device"] < 0.5 * multi["plain_flops"], (s["flops_per_device"], multi["plain_flops"])


def test_sharded_step_and_sweep_compile_once(multi):
    # three experiment.train calls (2 chunks, resume, a full run) on one mesh Loop
    assert multi["sharded"]["traces"] == 1
    sw = multi["sweep"]
    assert sw["traces"] == 1 and sw["cache_size"] == 1  # called twice
    assert sw["repeat_equal"]


def test_sweep_over_devices_equals_single_seed_runs(multi):
    sw = multi["sweep"]
    assert sw["describe"] == "4 cpu devices: seeds 2 x envs 2 (1 host)"
    assert sw["env_spec"] == "P('seeds', 'envs')" and sw["params_spec"] == "P('seeds',)"
    got = {k: np.asarray(v) for k, v in sw["metrics"].items()}
    assert got["mean_return"].shape == (4, 8) and got["episode_return"].shape == (4, 8, 4)
    for s, ref in enumerate(multi["ref_seeds"]):
        for k, v in ref.items():
            np.testing.assert_allclose(got[k][s], np.asarray(v), **TOL, err_msg=f"seed {s}: {k}")
    assert not np.array_equal(got["loss"][0], got["loss"][1])  # seeds really differ


def test_mesh_shape_defaults_and_errors(multi):
    m = multi["mesh_shapes"]
    assert m["run"] == [1, 4]  # a single run: every device on the env axis
    assert m["run_2dev"] == [1, 2]
    assert m["run_seed_devices_ignored"] == [1, 4]
    assert m["sweep4"] == [4, 1]  # seeds first: gcd(seeds, devices) on the seed axis
    assert m["sweep2"] == [2, 2]
    assert m["sweep3"] == [1, 4]
    assert m["sweep4_sd2"] == [2, 2]
    assert "'mesh.devices' asks for 8 devices, only 4" in m["too_many_devices"]
    assert "'mesh.devices'" in m["envs_not_divisible"] and "'num_envs' (8)" in m["envs_not_divisible"]
    assert "minibatch size" in m["minibatch_not_divisible"]
    assert "'mesh.seed_devices' (2) must divide the number of seeds (3)" in m["seed_devices_not_dividing_seeds"]
    assert "'mesh.seed_devices' (3) must divide the device count (4)" in m["seed_devices_not_dividing_devices"]


# -- in this process (1 device): errors before anything compiles ----------------------------
def test_cli_devices_beyond_visible_is_a_clean_error(tmp_path, capsys):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(to_dict(TINY)))
    rc = cli.main(["train", str(cfg), "--devices", "2", "--out", str(tmp_path), "--no-progress"])
    assert rc == 2
    assert "config key 'mesh.devices' asks for 2 devices, only 1 is visible" in capsys.readouterr().err
    rc = cli.main(["sweep", str(cfg), "--seeds", "2", "--set", "mesh.seed_devices=-1", "--out", str(tmp_path)])
    assert rc == 2
    assert "'mesh.seed_devices' must be >= 0" in capsys.readouterr().err


def test_initialize_reads_the_standard_env_vars(monkeypatch):
    calls = []
    monkeypatch.setattr(distributed.jax.distributed, "initialize", lambda **kw: calls.append(kw))
    monkeypatch.setenv("JAX_NUM_PROCESSES", "2")
    monkeypatch.setenv("JAX_PROCESS_ID", "1")
    assert distributed.initialize()
    assert calls == [{"num_processes": 2, "process_id": 1}]  # JAX reads JAX_COORDINATOR_ADDRESS itself
    monkeypatch.setenv("JAX_PROCESS_ID", "one")
    with pytest.raises(ConfigError, match="JAX_PROCESS_ID"):
        distributed.initialize()

    def no_cluster(**kw):
        raise ValueError("coordinator_address should be defined.")

    monkeypatch.setattr(distributed.jax.distributed, "initialize", no_cluster)
    monkeypatch.delenv("JAX_PROCESS_ID")
    monkeypatch.delenv("JAX_NUM_PROCESSES")
    with pytest.raises(ConfigError, match="JAX_COORDINATOR_ADDRESS"):
        distributed.initialize()

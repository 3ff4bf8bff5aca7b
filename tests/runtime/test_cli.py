"""The config names its algorithm: ``hopjax train`` runs whichever ``algo`` a config names,
checkpoints record it, and ``hopjax eval`` reads it (old checkpoints: inferred once, said so)."""

import dataclasses
import json

import pytest
import yaml

from hopjax.algos import registry
from hopjax.algos.hop.config import HOPConfig
from hopjax.algos.ppo.config import PPOConfig
from hopjax.config import ConfigError, to_dict
from hopjax.runtime import cli, experiment
from tests.conftest import TINY, TINY_HOP, quick_loop


def test_configs_name_their_algorithm():
    assert PPOConfig().algo == "ppo" and HOPConfig().algo == "hop"
    with pytest.raises(ConfigError, match="'algo' must be 'ppo' for PPOConfig"):
        dataclasses.replace(TINY, algo="hop").validate()
    with pytest.raises(ConfigError, match="'algo' must be 'hop' for HOPConfig"):
        dataclasses.replace(TINY_HOP, algo="ppo").validate()
    with pytest.raises(ConfigError, match="unknown algorithm 'sac' .known: ppo, hop"):
        registry.get("sac")
    assert registry.config_class("hop") is HOPConfig and registry.config_class("ppo") is PPOConfig


@pytest.mark.parametrize("command, algo, msg", [
    ("train", "sac", "unknown algorithm 'sac'"),
    ("train", "[1]", "'algo' must be a string"),
    ("train-hop", "ppo", "`hopjax train-hop` runs HOP configs"),
])
def test_bad_algo_is_one_line_before_jax(tmp_path, capsys, command, algo, msg):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**to_dict(TINY), "algo": yaml.safe_load(algo)}))
    assert cli.main([command, str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1, err


def test_train_runs_the_configs_algorithm_and_eval_reads_it(tmp_path, capsys, monkeypatch, hop_trainer):
    """``hopjax train`` on an ``algo: hop`` config trains HOP (the session's compiled HOP
    trainer, same config); meta.json records ``algo: hop``; eval routes the run to HOP."""
    built = []

    def make_loop(cfg, algorithm, loop, seeds):
        built.append(cfg)
        assert isinstance(cfg, HOPConfig) and cfg == TINY_HOP and algorithm is loop is seeds is None
        assert type(registry.build(cfg)) is type(hop_trainer)  # what the CLI would have built
        return quick_loop(hop_trainer)

    monkeypatch.setattr(experiment, "_make_loop", make_loop)
    path = tmp_path / "hop.yaml"
    path.write_text(yaml.safe_dump(to_dict(TINY_HOP)))
    assert cli.main(["train", str(path), "--out", str(tmp_path), "--no-progress"]) == 0
    run = tmp_path / TINY_HOP.name
    meta = json.loads((run / "checkpoints" / "update_00000004" / "meta.json").read_text())
    assert meta["algo"] == "hop" and meta["update"] == 4 and len(built) == 1
    assert (run / "learning_curves.png").stat().st_size > 1000
    assert cli._eval_kind(str(run)) == "hop_run"


def _old_run(path, cfg):
    """A run dir as written before checkpoints recorded the algorithm (no "algo" anywhere)."""
    config = {k: v for k, v in to_dict(cfg).items() if k != "algo"}
    ckpt = path / "checkpoints" / "update_00000001"
    (ckpt / "state").mkdir(parents=True)
    (ckpt / "meta.json").write_text(json.dumps({"update": 1, "chunk": 1, "env_steps": 1, "config": config}))
    (path / "checkpoints" / "LATEST").write_text(ckpt.name)
    return path


def test_old_checkpoints_without_algo_are_inferred_once_and_said(tmp_path, capsys):
    assert cli._eval_kind(str(_old_run(tmp_path / "h", TINY_HOP))) == "hop_run"
    assert "meta.json records no algorithm" in capsys.readouterr().err
    assert cli._eval_kind(str(_old_run(tmp_path / "p", TINY))) == "ppo_run"
    assert "its config is read as algo: ppo" in capsys.readouterr().err


def test_eval_of_a_sweep_dir_is_one_clear_line(tmp_path, capsys):
    import json

    ckpt = tmp_path / "tiny_sweep2" / "checkpoints" / "update_00000002"
    (ckpt / "state").mkdir(parents=True)
    (ckpt / "meta.json").write_text(json.dumps({"algo": "ppo", "update": 2, "chunk": 1, "env_steps": 160,
                                                "seeds": 2, "config": {}}))
    (ckpt.parent / "LATEST").write_text(ckpt.name)
    assert cli.main(["eval", str(tmp_path / "tiny_sweep2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a sweep of 2 seeds" in err[0]


@pytest.mark.parametrize("argv", [
    ["train", "configs/stag_hunt_ppo.yaml", "--set", "total_steps=10"],
    ["sweep", "configs/stag_hunt_ppo.yaml"],
    ["population", "train", "configs/populations/stag_hunt.yaml"],
    ["reproduce", "omg"],
])
def test_out_that_is_a_file_is_one_line_before_anything_runs(tmp_path, capsys, monkeypatch, argv):
    from hopjax.runtime import reproduce

    def ran(*a, **k):
        raise AssertionError("ran")

    for module, fn in ((experiment, "train"), (experiment, "sweep"), (reproduce, "reproduce")):
        monkeypatch.setattr(module, fn, ran)
    afile = tmp_path / "afile"
    afile.write_text("keep")
    assert cli.main([*argv, "--out", str(afile)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hopjax: error: --out {str(afile)!r} is not a directory") and err.count("\n") == 1, err
    assert afile.read_text() == "keep"

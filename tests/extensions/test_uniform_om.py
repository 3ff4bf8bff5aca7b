"""The extension claim: an opponent model written in one file outside the package
(uniform_om.py) plus a YAML config trains through the CLI entry point."""

import csv
import importlib
import math
from pathlib import Path

import numpy as np
import pytest

from hopjax.algos.ppo import opponent
from hopjax.config import ConfigError, load_config

HERE = Path(__file__).parent
CONFIG = HERE / "uniform_om.yaml"


def test_unregistered_name_is_a_config_error_until_the_module_is_imported():
    from hopjax.algos.ppo import PPOConfig

    if "uniform" not in opponent.names():
        with pytest.raises(ConfigError, match="opponent_model"):
            load_config(PPOConfig, CONFIG, [])
    importlib.import_module("tests.extensions.uniform_om")
    assert "uniform" in opponent.names()
    load_config(PPOConfig, CONFIG, []).validate()
    with pytest.raises(ValueError, match="reserved"):
        opponent.register("omg")(type("Other", (), {}))


def test_uniform_model_trains_through_the_cli(tmp_path, capsys):
    from hopjax.runtime.cli import main

    importlib.import_module("tests.extensions.uniform_om")
    assert main(["train", str(CONFIG), "--out", str(tmp_path), "--no-progress"]) == 0, capsys.readouterr().err
    with open(tmp_path / "tiny_uniform" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4  # 2 chunks x 2 updates
    trained = [float(r["om_trained"]) for r in rows]
    assert trained == [0.0, 1.0, 1.0, 1.0]  # 8 episodes per update, training from 16 on
    losses = [float(r["uniform_loss"]) for r in rows]
    # Untrained rows report 0. The prediction starts uniform (cross-entropy log A, A = 7 moves
    # of Stag-Hunt) and is fitted to the co-players' action frequencies: each update's mean
    # loss over its gradient steps lies below log A and falls.
    a = 7
    assert losses[0] == 0.0 and all(0.0 < x < math.log(a) for x in losses[1:])
    assert losses[1] > losses[2] > losses[3]
    assert np.isfinite([float(r["uniform_acc"]) for r in rows]).all()

"""Config loading: YAML + overrides, strict keys and types, every shipped config loads."""

from pathlib import Path

import pytest

from hopjax.algos.ppo import PPOConfig
from hopjax.cli import main
from hopjax.config import ConfigError, load_config, parse_overrides, to_dict
from hopjax.train import Trainer

CONFIG_DIR = Path(__file__).parents[1] / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*_ppo.yaml"))


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load_and_build(path):
    if path.stem.endswith("_hop"):
        from hopjax.algos.hop import HOPConfig

        assert load_config(HOPConfig, path).name == path.stem
        return
    cfg = load_config(PPOConfig, path)
    assert cfg.name == path.stem
    assert cfg.opponent_model == {"ppo": "none"}.get(path.stem.rsplit("_", 1)[1], path.stem.rsplit("_", 1)[1])
    tr = Trainer(cfg)  # builds env, policy, optimiser (and opponent model); compiles nothing
    assert tr.num_updates >= 1 and tr.steps_per_update == cfg.num_envs * tr.rollout.T


def test_overrides_and_types(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nnum_envs: 8\nenv_kwargs: {height: 5}\nhidden_sizes: [16, 16]\n")
    cfg = load_config(PPOConfig, p, ["total_steps=1e6", "env_kwargs.width=6", "lr=3e-4", "agents=[learner, stag, hare, random]"])
    assert cfg.total_steps == 1_000_000 and isinstance(cfg.total_steps, int)
    assert cfg.env_kwargs == {"height": 5, "width": 6}
    assert cfg.hidden_sizes == (16, 16) and cfg.lr == 3e-4
    assert cfg.agents == ("learner", "stag", "hare", "random")
    assert load_config(PPOConfig, None, [], **to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    "override, match",
    [
        ("num_env=3", "unknown config key 'num_env'. Did you mean 'num_envs'"),
        ("num_envs=abc", "'num_envs' expects an integer"),
        ("total_steps=1.5", "'total_steps' expects an integer"),
        ("anneal_lr=3", "'anneal_lr' expects true/false"),
        ("hidden_sizes=64", "'hidden_sizes' expects a list"),
        ("num_minibatches=5", "'num_minibatches'"),
        ("lr", "key=value"),
    ],
)
def test_bad_values_name_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(PPOConfig, CONFIGS[0], [override])


def test_bad_env_and_env_kwargs_are_config_errors():
    with pytest.raises(ConfigError, match="Did you mean 'stag_hunt'"):
        Trainer(load_config(PPOConfig, CONFIGS[0], ["env=stag"]))
    with pytest.raises(ConfigError, match="num_stag"):
        Trainer(load_config(PPOConfig, CONFIGS[0], ["env_kwargs.num_stag=2"]))


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    assert main(["train", str(CONFIGS[0]), "--set", "num_env=3", "--out", str(tmp_path)]) == 2
    assert "unknown config key 'num_env'" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert main(["eval", str(tmp_path)]) == 2
    assert "not a complete hopjax checkpoint" in capsys.readouterr().err


def test_parse_overrides_nested():
    assert parse_overrides(["a.b.c=1", "a.d=[1, 2]", "e=true"]) == {"a": {"b": {"c": 1}, "d": [1, 2]}, "e": True}

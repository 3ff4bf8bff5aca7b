"""configs/paper/: the HOP code's scale loads, validates and traces (shapes only: nothing is
compiled or run here; the paper-scale runs are GPU runs)."""

from pathlib import Path

import jax
import pytest

from hopjax.algos.hop import HOPConfig
from hopjax.algos.hop.trainer import HOPTrainer
from hopjax.config import ConfigError, load_config

PAPER = sorted((Path(__file__).parents[3] / "configs" / "paper").glob("*.yaml"))
TINY = ["num_envs=1", "num_simulations=2", "num_trees=2", "buffer_episodes=1", "batch_episodes=1",
        "sgd_steps=1"]


def test_there_are_paper_configs():
    assert {p.stem for p in PAPER} == {"stag_hunt_hop", "snowdrift_hop"}


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_paper_config_builds_conv_nets_and_traces(path):
    cfg = load_config(HOPConfig, path)
    assert cfg.name == f"paper_{path.stem}"
    assert (cfg.num_simulations, cfg.num_trees, cfg.gamma, cfg.trunk) == (200, 5, 0.95, "conv")
    assert cfg.c_puct == {"stag_hunt": 1.0, "snowdrift": 15.0}[cfg.env]
    tr = HOPTrainer(load_config(HOPConfig, path, TINY))
    h, w, c = tr.env.observation_shape(tr.env_params)
    assert (h, w) == (8, 8) and tr.runner.T == {"stag_hunt": 35, "snowdrift": 50}[cfg.env]
    st = jax.eval_shape(tr.init, jax.random.PRNGKey(0))
    for net in ("goal", "planner"):
        trunk = st.params[net]["params"]["trunk"]
        assert [trunk[f"conv_{i}"]["kernel"].shape for i in range(3)] == [
            (3, 3, c, 16), (3, 3, 16, 32), (3, 3, 32, 32)]
    assert st.params["goal"]["params"]["obs_in"]["kernel"].shape == (h * w * 32, 512)
    assert st.params["planner"]["params"]["head"]["Dense_0"]["kernel"].shape == (h * w * 32, 512)
    new, metrics = jax.eval_shape(tr.update, st)
    assert jax.tree.map(lambda x: (x.shape, x.dtype), new) == jax.tree.map(lambda x: (x.shape, x.dtype), st)
    assert metrics["belief_accuracy"].shape == ()


def test_trunk_keys_are_validated():
    with pytest.raises(ConfigError, match="'trunk'"):
        HOPConfig(trunk="resnet").validate()
    with pytest.raises(ConfigError, match="'conv_channels'"):
        HOPConfig(trunk="conv", conv_channels=(16, 0)).validate()

"""Config loading: YAML + overrides, strict keys and types, every shipped config loads."""

from pathlib import Path

import pytest

from hopjax.algos.ppo import PPOConfig
from hopjax.runtime.cli import main
from hopjax.config import ConfigError, load_config, parse_overrides, to_dict
from hopjax.algos.ppo.trainer import Trainer

CONFIG_DIR = Path(__file__).parents[1] / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*_ppo.yaml"))
STAG = CONFIG_DIR / "stag_hunt_ppo.yaml"


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load_and_build(path):
    if path.stem.endswith("_hop"):
        from hopjax.algos.hop import HOPConfig

        assert load_config(HOPConfig, path).name == path.stem
        return
    cfg = load_config(PPOConfig, path)
    assert cfg.name == path.stem
    assert cfg.opponent_model.kind == {"ppo": "none"}.get(path.stem.rsplit("_", 1)[1], path.stem.rsplit("_", 1)[1])
    tr = Trainer(cfg)  # builds env, policy, optimiser (and opponent model); compiles nothing
    assert tr.num_updates >= 1 and tr.steps_per_update == cfg.num_envs * tr.rollout.T


def test_overrides_and_types(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nnum_envs: 8\nenv_kwargs: {height: 5}\nhidden_sizes: [16, 16]\n")
    cfg = load_config(PPOConfig, p, ["total_steps=1e6", "env_kwargs.width=6", "ppo.lr=3e-4", "agents=[learner, stag, hare, random]"])
    assert cfg.total_steps == 1_000_000 and isinstance(cfg.total_steps, int)
    assert cfg.env_kwargs == {"height": 5, "width": 6}
    assert cfg.hidden_sizes == (16, 16) and cfg.ppo.lr == 3e-4
    assert cfg.agents == ("learner", "stag", "hare", "random")
    assert load_config(PPOConfig, None, [], **to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    "override, match",
    [
        ("num_env=3", "unknown config key 'num_env'. Did you mean 'num_envs'"),
        ("num_envs=abc", "'num_envs' expects an integer"),
        ("total_steps=1.5", "'total_steps' expects an integer"),
        ("ppo.anneal_lr=3", "'ppo.anneal_lr' expects true/false"),
        ("hidden_sizes=64", "'hidden_sizes' expects a list"),
        ("ppo.num_minibatches=5", "'ppo.num_minibatches'"),
        ("ppo.lrr=1", "unknown config key 'ppo.lrr'. Did you mean 'ppo.lr'"),
        ("learning_rate=1", "unknown config key 'learning_rate'. Did you mean 'ppo.lr'"),
        ("lr=1", "config key 'lr' moved: use ppo.lr"),
        ("omg_mode=x", "config key 'omg_mode' moved: use opponent_model.omg.mode"),
        ("devices=2", "config key 'devices' moved: use mesh.devices"),
        ("ppo=3", "config key 'ppo' expects a mapping"),
        ("opponent_model.omg.kl_weight=.nan", "'opponent_model.omg.kl_weight' must be a finite"),
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


_NO_JAX = """
import sys
from hopjax.runtime.cli import main
good = main(["train", {good!r}, "--set", "num_envs=1e9"])  # a valid config refused for its size
bad = main(["train", {good!r}, "--set", "env_kwargs.height=four"])
hop = main(["train-hop", {hop!r}, "--set", "lr=nan"])
ev = main(["eval", {hop!r}, "--set", "num_simulations=1e9"])
from hopjax.runtime.cli import validate, _parser
cfg = validate(_parser().parse_args(["train", {good!r}, "--set", "env_kwargs.max_steps=1e2"]))
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("jax", "jaxlib", "flax", "optax"))
print(good, bad, hop, ev, cfg.env_kwargs, loaded)
"""


def test_cli_validates_without_importing_jax():
    """Good and bad configs of train, train-hop and eval are checked with no JAX module loaded."""
    import subprocess
    import sys

    code = _NO_JAX.format(good=str(CONFIGS[0]), hop=str(CONFIG_DIR / "stag_hunt_hop.yaml"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "2 2 2 2 {'max_steps': 100} []", out.stdout
    err = out.stderr.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("hopjax: error: ") for line in err), err
    assert "num_envs" in err[0] and "env_kwargs.height" in err[1] and "'lr'" in err[2]


def test_env_kwargs_converted_and_checked_by_the_params_type(tmp_path):
    cfg = load_config(PPOConfig, STAG, ["env_kwargs.max_steps=1e2", "env_kwargs.stag_reward=8"])
    assert cfg.env_kwargs == {"max_steps": 100, "stag_reward": 8.0}
    assert type(cfg.env_kwargs["max_steps"]) is int and type(cfg.env_kwargs["stag_reward"]) is float
    for item, key in [("max_steps=4.5", "env_kwargs.max_steps"), ("height=four", "env_kwargs.height"),
                      ("width=null", "env_kwargs.width"), ("time_channel='yes'", "env_kwargs.time_channel"),
                      ("num_agents=2.5", "env_kwargs.num_agents"), ("stag_reward=ten", "env_kwargs.stag_reward"),
                      ("hare_reward=.nan", "env_kwargs.hare_reward"), ("heigth=5", "Did you mean 'height'")]:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_config(PPOConfig, STAG, [f"env_kwargs.{item}"])


def test_params_registry_matches_the_envs():
    import jax

    from hopjax.envs import PARAMS, REGISTRY, make
    from hopjax.envs.params import SCRIPTED_NAMES, data_fields, meta_fields
    from hopjax.envs.scripted import SCRIPTED

    assert sorted(PARAMS) == sorted(REGISTRY) == sorted(SCRIPTED)
    for name, cls in PARAMS.items():
        env, p = make(name)
        assert env.params_cls is cls and type(p) is cls
        assert SCRIPTED_NAMES[name] == tuple(SCRIPTED[name])
        assert env.num_actions(p) == cls.NUM_ACTIONS
        leaves, treedef = jax.tree_util.tree_flatten(p)
        assert leaves == [getattr(p, f) for f in data_fields(cls)]
        assert all(isinstance(getattr(p, f), (int, bool)) for f in meta_fields(cls))
        assert jax.tree_util.tree_unflatten(treedef, leaves) == p


@pytest.mark.parametrize("body, match", [
    ("", "is empty"), ("# nothing\n", "is empty"), ("null\n", "is empty"), ("{}\n", "is empty"),
    ("- a\n- b\n", "must hold a mapping"), ("lr: 0.1\nlr: 0.2\n", "duplicate key 'lr' on line 2"),
    ("env_kwargs:\n  height: 5\n  height: 6\n", "duplicate key 'height' on line 3"),
    ("lr: [0.1\n", "not valid YAML"),
])
def test_bad_files_are_one_line_errors(tmp_path, body, match):
    p = tmp_path / "c.yaml"
    p.write_text(body)
    with pytest.raises(ConfigError, match=match) as e:
        load_config(PPOConfig, p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_non_utf8_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(PPOConfig, p)


def test_memory_estimate_by_hand():
    """stag_hunt defaults: 8x8 grid, N=4, obs 8x8x(4+3+1)=512 floats (stored as 8x8x7 uint8
    planes + a float32 time = 452 bytes), A=7, T=35, 5 walls."""
    from hopjax.algos.hop import HOPConfig
    from hopjax.sizes import check_memory, hop_estimate, ppo_estimate

    cfg = PPOConfig(num_envs=16, hidden_sizes=(64, 64))
    rows = 16 * 36 * 4
    reset = 16 * 4 * (64 * 3 * 5 + 5 * 64)  # 3 uniforms per wall piece per try
    policy = (512 * 64 + 64) + (64 * 64 + 64) + (64 * 7 + 7) + (64 * 1 + 1)
    assert ppo_estimate(cfg) == {"rollout batch": rows * (452 + 7 + 34) + reset,
                                 "networks": 4 * 4 * 4 * policy}
    assert ppo_estimate(cfg, seeds=3)["rollout batch"] == 3 * (rows * (452 + 7 + 34) + reset)
    hop = HOPConfig(num_envs=8, buffer_episodes=256, num_trees=5, num_simulations=200,
                    hidden_sizes=(128, 128))
    goal = (512 * 128 + 128) + (128 * 128 + 128) + (128 * 7 + 7) + 6 * 128
    planner = (512 * 128 + 128) + (128 * 128 + 128) + (128 * 8 + 8)
    assert hop_estimate(hop) == {"episode batch and replay buffer": 264 * 36 * 4 * (4 * 512 + 35 + 20),
                                 "search trees": 8 * 4 * 5 * 201 * (64 + 84 + 64),
                                 "networks": 16 * (goal + planner)}
    total = sum(ppo_estimate(cfg).values())
    assert check_memory(cfg, available=total) == ppo_estimate(cfg)
    with pytest.raises(ConfigError, match=r"needs about .* for the networks.*this machine has"):
        check_memory(cfg, available=total - 1)


def test_aliases_and_help(capsys):
    for alias, key in [("learning_rate", "ppo.lr"), ("n_envs", "num_envs"), ("entropy_coef", "ppo.ent_coef"),
                       ("clip_range", "ppo.clip_eps"), ("lam", "ppo.gae_lambda"),
                       ("ppo.entropy_coef", "ppo.ent_coef"), ("opponent_model.learning_rate", "opponent_model.lr")]:
        with pytest.raises(ConfigError, match=f"Did you mean '{key}'"):
            load_config(PPOConfig, CONFIGS[0], [f"{alias}=1"])
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "hopjax/algos/ppo/config.py (PPOConfig" in out and "hopjax/envs/params.py" in out


def test_a_flat_config_of_an_older_checkpoint_is_upgraded():
    """Checkpoint metadata written before sections (flat ``om_*``/``omg_*``/``lr``/``devices``)
    loads as the same config, nested."""
    from hopjax.config import from_stored

    flat = {"name": "old", "lr": 1e-3, "num_minibatches": 2, "num_envs": 8, "opponent_model": "omg",
            "om_lr": 2e-3, "om_min_episodes": 64, "omg_mode": "conservative", "devices": 1}
    cfg = from_stored(PPOConfig, flat)
    assert (cfg.ppo.lr, cfg.ppo.num_minibatches, cfg.mesh.devices) == (1e-3, 2, 1)
    assert (cfg.opponent_model.kind, cfg.opponent_model.lr, cfg.opponent_model.min_episodes) == ("omg", 2e-3, 64)
    assert cfg.opponent_model.omg.mode == "conservative"
    assert from_stored(PPOConfig, to_dict(cfg)) == cfg  # a nested one comes back unchanged
    with pytest.raises(ConfigError, match="config key 'lr' moved: use ppo.lr"):
        load_config(PPOConfig, None, [], **flat)


def test_resume_reads_an_older_runs_flat_config_yaml(tmp_path):
    """``hopjax train RUN/config.yaml --resume RUN`` of a run written before config sections:
    its flat keys are moved into the sections (without --resume they are refused)."""
    from hopjax.runtime import cli

    flat = tmp_path / "config.yaml"
    (tmp_path / "old").mkdir()
    flat.write_text("algo: ppo\nname: old\nlr: 0.001\nom_lr: 0.002\nopponent_model: moa\n"
                    "moa_influence_coef: 0.1\nrollout_length: 0\ndevices: 1\n")
    args = cli._parser().parse_args(["train", str(flat), "--resume", str(tmp_path / "old"),
                                     "--out", str(tmp_path)])
    cfg = cli.validate(args)
    assert (cfg.ppo.lr, cfg.opponent_model.lr, cfg.opponent_model.kind) == (0.001, 0.002, "moa")
    assert (cfg.opponent_model.moa.influence_coef, cfg.mesh.devices) == (0.1, 1)
    args = cli._parser().parse_args(["train", str(flat), "--out", str(tmp_path)])
    with pytest.raises(ConfigError, match="moved: use ppo.lr"):
        cli.validate(args)


def test_changed_keys_names_what_differs_from_a_stored_config():
    import dataclasses

    from hopjax.config import changed_keys
    from tests.conftest import TINY

    stored = to_dict(TINY)
    assert changed_keys(stored, TINY) == []
    cfg = dataclasses.replace(TINY, num_envs=16, ppo=dataclasses.replace(TINY.ppo, lr=1e-4))
    assert changed_keys(stored, cfg) == ["num_envs: 8 -> 16", f"ppo.lr: {TINY.ppo.lr} -> 0.0001"]
    older = {k: v for k, v in stored.items() if k != "sparse_rollout"}  # written before the key existed
    assert changed_keys(older, TINY) == []  # read at its default: no change
    grid = dataclasses.replace(TINY, env_kwargs={"height": 4})  # width, walls, ... left at the env's defaults
    assert changed_keys(stored, grid) == [f"env_kwargs.{k}: {v} -> (absent)" for k, v in TINY.env_kwargs.items()
                                          if k != "height"]


def test_a_stored_hop_config_from_before_inter_om_pooling_reads_as_kind():
    """HOP runs written before ``inter_om_pooling`` existed pooled within kinds: their stored
    config reads as ``kind`` (``HOPConfig.STORED_DEFAULTS``), not today's default ``any``, so a
    resume or evaluation never switches it silently and a resume with today's config names it."""
    from hopjax.algos.hop import HOPConfig
    from hopjax.config import changed_keys, from_stored
    from tests.conftest import TINY_HOP

    stored = to_dict(TINY_HOP)
    assert stored["inter_om_pooling"] == "any" and "STORED_DEFAULTS" not in stored
    assert from_stored(HOPConfig, stored) == TINY_HOP
    older = {k: v for k, v in stored.items() if k != "inter_om_pooling"}
    assert from_stored(HOPConfig, older).inter_om_pooling == "kind"
    assert changed_keys(older, TINY_HOP) == ["inter_om_pooling: kind -> any"]
    assert load_config(HOPConfig, None, [], **older).inter_om_pooling == "any"  # a user's YAML: today's default


def test_resume_of_a_missing_path_or_a_file_is_one_line_before_jax(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("a note, not a run")
    for path, msg in [(tmp_path / "nowhere", "does not exist"), (afile, "is a file, not a run dir")]:
        assert main(["train", str(STAG), "--resume", str(path), "--out", str(tmp_path / "runs")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"--resume {str(path)!r} {msg}" in err, err
    assert not (tmp_path / "runs").exists() and afile.read_text() == "a note, not a run"

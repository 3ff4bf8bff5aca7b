"""Config fuzz: hundreds of generated bad configs through ``hopjax.runtime.cli.main`` in-process.

Every case must end with exit status 2 and exactly one stderr line ``hopjax: error: ...`` that
names the key, the override or the file, before JAX compiles or creates anything: ``jax.jit``,
PRNG keys and ``jax.numpy`` array constructors are patched to raise. The cases are generated
from the config dataclasses' fields (``PPOConfig``, ``HOPConfig``, the env params classes), so
a new key is fuzzed automatically. Run with ``-s`` to see the counts (clear / unclear /
traceback / accepted); set ``HOPJAX_FUZZ_REPORT=path.json`` to write them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from hopjax.algos.hop import HOPConfig
from hopjax.algos.ppo import PPOConfig
from hopjax.runtime.cli import main
from hopjax.envs import SnowdriftParams, StagHuntParams

CONFIGS = Path(__file__).parents[1] / "configs"
PPO_YAML = CONFIGS / "stag_hunt_ppo.yaml"
HOP_YAML = CONFIGS / "stag_hunt_hop.yaml"
SNOW_YAML = CONFIGS / "snowdrift_ppo.yaml"

# alias -> the key it should suggest (independent of hopjax.config's table)
ALIASES = {
    "learning_rate": "ppo.lr", "n_envs": "num_envs", "num_env": "num_envs", "seed_value": "seed",
    "lam": "ppo.gae_lambda", "gae_lamda": "ppo.gae_lambda", "entropy_coef": "ppo.ent_coef",
    "clip_range": "ppo.clip_eps", "value_coef": "ppo.vf_coef", "discount": "ppo.gamma",
    "n_epochs": "ppo.num_epochs", "total_timesteps": "total_steps", "n_steps": "rollout_length",
    "environment": "env", "grad_clip": "ppo.max_grad_norm", "n_simulations": "num_simulations",
    "ppo.learning_rate": "ppo.lr", "opponent_model.learning_rate": "opponent_model.lr",
}
ENV_ALIASES = {"n_agents": "num_agents", "episode_length": "max_steps", "heigth": "height"}


class Started(Exception):
    """Raised by the patched JAX entry points: the config got past validation."""


def _fields(cls):
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.init]


def _kind(tp) -> str:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return "section"
    if tp is bool:
        return "bool"
    if tp is int:
        return "int"
    if tp is float:
        return "float"
    if tp is str:
        return "str"
    if tp is dict or typing.get_origin(tp) is dict:
        return "dict"
    return "tuple"


ILL_TYPED = {
    "int": ["abc", "4.5", "true", "[1]", "null"],
    "float": ["ten", "true", "[1]", "null"],
    "bool": ["3", "'yes'", "null"],
    "str": ["3", "[a]", "{a: 1}"],
    "tuple": ["64", "[[1]]", "{a: 1}"],
    "dict": ["3", "[1]"],
    "section": ["3", "[1]", "abc"],
}
ENV_ILL_TYPED = {"int": ["four", "4.5", "null", "true"], "bool": ["'yes'", "1"],
                 "float": ["ten", "null", ".nan", ".inf", "-.inf"]}


def _set(cmd, yaml_path, item, names):
    return (cmd, [str(yaml_path), "--set", item], names)


def _key_cases(cmd, cls, yaml_path, prefix=""):
    """Per key of ``cls`` and of its sections (dotted keys): non-finite floats, ill-typed
    values, int32 overflow, typos."""
    out = []
    for field, tp in _fields(cls):
        name, kind = prefix + field, _kind(tp)
        if kind == "section":
            out += _key_cases(cmd, tp, yaml_path, f"{name}.")
        if kind == "float":
            out += [_set(cmd, yaml_path, f"{name}={v}", [name]) for v in ("nan", ".inf", "-.inf", "1e999")]
        if kind == "int" and name not in ("seed", "total_steps"):
            out.append(_set(cmd, yaml_path, f"{name}={2**31}", [name]))
        if kind == "int":
            out.append(_set(cmd, yaml_path, f"{name}={2**64}", [name]))
        out += [_set(cmd, yaml_path, f"{name}={v}", [name]) for v in ILL_TYPED[kind]]
        out.append(_set(cmd, yaml_path, f"{name}x=1", [f"{name}x"]))  # unknown near name
    for old, new in getattr(cls, "MOVED", {}).items():  # flat keys of the configs before sections
        out.append(_set(cmd, yaml_path, f"{old}=1", [f"'{old}' moved: use {new}"]))
    return out


def _env_cases(cmd, cls, yaml_path):
    out = []
    for name, tp in _fields(cls):
        key = f"env_kwargs.{name}"
        out += [_set(cmd, yaml_path, f"{key}={v}", [key]) for v in ENV_ILL_TYPED[_kind(tp)]]
        if _kind(tp) == "int":
            out += [_set(cmd, yaml_path, f"{key}={v}", [name]) for v in ("-1e7", "1e7", str(2**64))]
    for alias, target in ENV_ALIASES.items():
        out.append(_set(cmd, yaml_path, f"env_kwargs.{alias}=3", [alias, f"Did you mean {target!r}"]))
    return out


def _file_cases(tmp: Path):
    """Bad files: YAML syntax, encoding, empty / null / non-mapping, duplicate keys."""
    bodies = {
        "unclosed.yaml": "name: x\nlr: [0.1\n",
        "colon.yaml": "name: x\nlr: a: b\n",
        "at.yaml": "name: x\nlr: @x\n",
        "tab.yaml": "name: x\n\tlr: 1\n",
        "empty.yaml": "",
        "comments.yaml": "# only a comment\n# another\n",
        "null.yaml": "null\n",
        "tilde.yaml": "~\n",
        "list.yaml": "- name: x\n- lr: 1\n",
        "scalar.yaml": "42\n",
        "string.yaml": "just text\n",
        "emptymap.yaml": "{}\n",
        "dup.yaml": "name: x\nlr: 0.1\nlr: 0.2\n",
        "dup_env.yaml": "name: x\nenv_kwargs:\n  height: 5\n  height: 6\n",
        "unhashable.yaml": "? [a, b]\n: 1\n",
        "nan_lr.yaml": "name: x\nppo:\n  lr: .nan\n",
        "inf_gamma.yaml": "name: x\nppo: {gamma: .inf}\n",
        "dup_section.yaml": "name: x\nppo:\n  lr: 0.1\n  lr: 0.2\n",
        "om_str.yaml": "name: x\nopponent_model: omg\n",
        "om_typo.yaml": "name: x\nopponent_model:\n  kind: omg\n  omg: {horizn: 3}\n",
        "height_str.yaml": "name: x\nenv_kwargs: {height: four}\n",
        "width_null.yaml": "name: x\nenv_kwargs: {width: null}\n",
        "seed_big.yaml": "name: x\nseed: 18446744073709551616\n",
        "steps_huge.yaml": "name: x\ntotal_steps: 1e30\n",
    }
    names = {"height_str.yaml": "env_kwargs.height", "width_null.yaml": "env_kwargs.width",
             "nan_lr.yaml": "ppo.lr", "inf_gamma.yaml": "ppo.gamma", "om_str.yaml": "opponent_model",
             "om_typo.yaml": "opponent_model.omg.horizn", "seed_big.yaml": "seed",
             "steps_huge.yaml": "total_steps"}
    out = []
    for fname, body in bodies.items():
        path = tmp / fname
        path.write_text(body)
        out.append(("train", [str(path)], [names.get(fname, fname)]))
    bad = tmp / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    out.append(("train", [str(bad)], ["latin1.yaml"]))
    out.append(("train", [str(tmp / "missing.yaml")], ["missing.yaml"]))
    out.append(("train", [str(tmp)], [tmp.name]))  # a directory
    out.append(("train-hop", [str(tmp / "empty.yaml")], ["empty.yaml"]))
    out.append(("train-hop", [str(tmp / "dup.yaml")], ["dup.yaml"]))
    return out


def _special_cases():
    p = PPO_YAML
    out = [
        # bad override syntax
        ("train", [str(p), "--set", "ppo.lr=[0.1"], ["ppo.lr=[0.1"]),
        ("train", [str(p), "--set", "ppo.lr=="], ["ppo.lr=="]),
        ("train", [str(p), "--set", "ppo.lr=@x"], ["ppo.lr=@x"]),
        ("train", [str(p), "--set", "ppo.lr=a: b"], ["ppo.lr"]),
        ("train", [str(p), "--set", "ppo.lr=!!python/object:os.system x"], ["ppo.lr"]),
        ("train", [str(p), "--set", "ppo.lr"], ["ppo.lr"]),
        ("train", [str(p), "--set", "=3"], ["=3"]),
        ("train", [str(p), "--set", "a..b=1"], ["a..b=1"]),
        ("train", [str(p), "--set", "ppo.lr=1", "--set", "ppo.lr.x=2"], ["ppo.lr"]),
        ("train", [str(p), "--set", "env_kwargs=3"], ["env_kwargs"]),
        # ranges
        ("train", [str(p), "--set", "seed=-1"], ["seed"]),
        ("train", [str(p), "--set", f"seed={2**32}"], ["seed"]),
        ("train", [str(p), "--set", "seed=1.5"], ["seed"]),
        ("train", [str(p), "--set", "total_steps=0"], ["total_steps"]),
        ("train", [str(p), "--set", "total_steps=1e30"], ["total_steps"]),
        ("train", [str(p), "--set", "total_steps=1e18"], ["total_steps"]),
        ("train", [str(p), "--set", "ppo.gamma=1.5"], ["ppo.gamma"]),
        ("train", [str(p), "--set", "ppo.gae_lambda=-0.1"], ["ppo.gae_lambda"]),
        ("train", [str(p), "--set", "ppo.lr=0"], ["ppo.lr"]),
        ("train", [str(p), "--set", "ppo.clip_eps=-1"], ["ppo.clip_eps"]),
        ("train", [str(p), "--set", "ppo.num_minibatches=5"], ["ppo.num_minibatches"]),
        ("train", [str(p), "--set", "env=stag"], ["env", "Did you mean 'stag_hunt'"]),
        ("train", [str(p), "--set", "activation=sigmoid"], ["activation"]),
        ("train", [str(p), "--set", "compute_dtype=float16"], ["compute_dtype"]),
        ("train", [str(p), "--set", "opponent_model.kind=omgg"], ["opponent_model.kind"]),
        ("train", [str(p), "--set", "agents=[learner, wolf, hare, random]"], ["agents"]),
        ("train", [str(p), "--set", "agents=[learner]"], ["agents"]),
        ("train", [str(p), "--set", "name=a/b"], ["name"]),
        ("train", [str(p), "--set", "hidden_sizes=[0]"], ["hidden_sizes"]),
        ("train", [str(p), "--set", "hidden_sizes=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, "
                   "15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, "
                   "35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, "
                   "55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65]"], ["hidden_sizes"]),
        # sizes: refused by the memory estimate or by range checks
        ("train", [str(p), "--set", "num_envs=1e9"], ["num_envs"]),
        ("train", [str(p), "--set", "hidden_sizes=[1000000000]"], ["hidden_sizes"]),
        ("train", [str(p), "--set", "env_kwargs.height=1e6"], ["env_kwargs.height"]),
        ("train", [str(p), "--set", "env_kwargs.num_walls=10000000"], ["env_kwargs.num_walls"]),
        ("train", [str(p), "--set", "env_kwargs.max_steps=1e9"], ["env_kwargs.max_steps"]),
        ("train", [str(p), "--set", "env_kwargs.num_agents=1e5"], ["env_kwargs.num_agents"]),
        ("train", [str(p), "--set", "env_kwargs.num_stags=64", "--set", "env_kwargs.height=2"],
         ["env_kwargs.num_stags"]),
        ("train", [str(p), "--set", "opponent_model.kind=omg", "--set", "opponent_model.buffer_capacity=1e9",
                   "--set", "opponent_model.min_episodes=128"], ["opponent_model.buffer_capacity"]),
        ("train", [str(p), "--set", "gru_size=1e6"], ["gru_size"]),
        ("train", [str(p), "--set", "num_envs=1e6", "--set", "rollout_length=1e4"], ["num_envs"]),
        ("sweep", [str(p), "--seeds", "0"], ["--seeds"]),
        ("sweep", [str(p), "--seeds", "-3"], ["--seeds"]),
        ("sweep", [str(p), "--seeds", "1000000000"], ["--seeds"]),
        ("sweep", [str(p), "--seeds", "4", "--set", f"seed={2**32 - 2}"], ["seed"]),
        ("sweep", [str(p), "--seeds", "4096", "--set", "num_envs=4096"], ["num_envs"]),
        ("sweep", [str(p), "--set", "ppo.lr=.nan"], ["ppo.lr"]),
        ("train", [str(p), "--devices", "-1"], ["mesh.devices"]),
        ("train", [str(p), "--set", "mesh.seed_devices=-2"], ["mesh.seed_devices"]),
        ("train", [str(p), "--set", "opponent_model.kind=moa", "--set", "rollout_length=5"],
         ["rollout_length"]),
        ("train", [str(p), "--set", "opponent_model.moa.influence_coef=0.5"],
         ["opponent_model.moa.influence_coef"]),
        ("train", [str(p), "--set", "opponent_model.omg.mode=greedy"], ["opponent_model.omg.mode"]),
        ("train", [str(p), "--set", "opponent_model.omg.diagnostic_episodes=0"],
         ["opponent_model.omg.diagnostic_episodes"]),
        ("train", [str(p), "--set", "opponent_model.moa.diagnostic_episodes=0"],
         ["opponent_model.moa.diagnostic_episodes"]),
        ("train", [str(p), "--devices", str(2**40)], ["mesh.devices"]),
        # HOP: sizes and ranges, train-hop and eval of a HOP config
        ("train-hop", [str(HOP_YAML), "--set", "num_simulations=1e9"], ["num_simulations"]),
        ("train-hop", [str(HOP_YAML), "--set", "buffer_episodes=1e9", "--set", "batch_episodes=32"],
         ["buffer_episodes"]),
        ("train-hop", [str(HOP_YAML), "--set", "inter_om_decay=1.5"], ["inter_om_decay"]),
        ("eval", [str(HOP_YAML), "--set", "adapt_inter_om_decay=-0.1"], ["adapt_inter_om_decay"]),
        ("eval", [str(HOP_YAML), "--set", "adapt_inter_om_decay=fast"], ["adapt_inter_om_decay"]),
        ("eval", [str(HOP_YAML), "--set", "adapt_no_carry=2"], ["adapt_no_carry"]),
        ("train-hop", [str(HOP_YAML), "--set", "c_puct=0"], ["c_puct"]),
        ("train-hop", [str(HOP_YAML), "--set", "hidden_sizes=[]"], ["hidden_sizes"]),
        ("train-hop", [str(HOP_YAML), "--set", "env_kwargs.height=four"], ["env_kwargs.height"]),
        ("eval", [str(HOP_YAML), "--set", "lr=nan"], ["lr"]),
        ("eval", [str(HOP_YAML), "--set", "env_kwargs.width=null"], ["env_kwargs.width"]),
        ("eval", [str(HOP_YAML), "--set", "num_simulations=1e9"], ["num_simulations"]),
        ("eval", [str(HOP_YAML), "--set", "learning_rate=1"], ["learning_rate", "Did you mean 'lr'"]),
        ("eval", [str(HOP_YAML), "--set", "lr=[0.1"], ["lr=[0.1"]),
        # the Snowdrift params type checks its own keys
        ("train", [str(SNOW_YAML), "--set", "env_kwargs.num_stags=2"], ["env_kwargs.num_stags"]),
        ("train", [str(SNOW_YAML), "--set", "env_kwargs.num_drifts=100"], ["env_kwargs.num_drifts"]),
    ]
    for alias, target in ALIASES.items():
        cmd, path = ("train-hop", HOP_YAML) if target in ("num_simulations",) else ("train", p)
        out.append((cmd, [str(path), "--set", f"{alias}=1"], [alias, f"Did you mean {target!r}"]))
    return out


def generate(tmp: Path) -> list[tuple[str, list[str], list[str]]]:
    """-> [(command, argv after the command, strings the error line must contain)]."""
    cases = _key_cases("train", PPOConfig, PPO_YAML) + _key_cases("train-hop", HOPConfig, HOP_YAML)
    cases += _env_cases("train", StagHuntParams, PPO_YAML)
    cases += _env_cases("train-hop", SnowdriftParams, CONFIGS / "snowdrift_hop.yaml")
    return cases + _file_cases(tmp) + _special_cases()


def _boom(*args, **kwargs):
    raise Started("JAX was asked to compile or create an array")


def _run_case(cmd, argv, out_dir, capsys) -> tuple[str, str]:
    """-> (outcome, stderr): clear | unclear | traceback | accepted."""
    capsys.readouterr()
    full = [cmd, *argv] + (["--out", str(out_dir)] if cmd != "eval" else [])
    try:
        rc = main(full)
    except Started:
        return "accepted", ""
    except SystemExit as e:
        rc = e.code
    except BaseException as e:  # noqa: BLE001 - a traceback is what the fuzz counts
        return "traceback", f"{type(e).__name__}: {e}"
    err = capsys.readouterr().err
    if rc == 0:
        return "accepted", err
    lines = err.strip().splitlines()
    if rc == 2 and len(lines) == 1 and lines[0].startswith("hopjax: error: "):
        return "clear", lines[0]
    return "unclear", f"rc={rc} {err!r}"


def test_config_fuzz(tmp_path, capsys, monkeypatch):
    for mod, names in ((jax, ("jit", "pmap")), (jax.random, ("PRNGKey", "key")),
                       (jnp, ("array", "asarray", "zeros", "ones", "full", "arange", "empty"))):
        for name in names:
            monkeypatch.setattr(mod, name, _boom)
    cases = generate(tmp_path)
    counts = {"clear": 0, "unclear": 0, "traceback": 0, "accepted": 0}
    problems = []
    for cmd, argv, names in cases:
        outcome, text = _run_case(cmd, argv, tmp_path / "runs", capsys)
        if outcome == "clear" and not all(n in text for n in names):
            outcome = "unclear"
        counts[outcome] += 1
        if outcome != "clear":
            problems.append(f"{outcome}: hopjax {cmd} {' '.join(argv)} -> {text[:200]} (wants {names})")
    with capsys.disabled():
        print(f"\nconfig fuzz: {len(cases)} cases: {counts}")
    if os.environ.get("HOPJAX_FUZZ_REPORT"):
        Path(os.environ["HOPJAX_FUZZ_REPORT"]).write_text(
            json.dumps({"cases": len(cases), "counts": counts, "problems": problems}, indent=1))
    assert len(cases) >= 200
    assert counts["clear"] == len(cases), "\n".join(problems[:40])

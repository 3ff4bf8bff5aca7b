"""Typed run configuration: dataclasses loaded from YAML, with ``--set key=value`` overrides.

Every algorithm has one config dataclass (``PPOConfig`` in :mod:`hopjax.algos.ppo.config`,
``HOPConfig`` in :mod:`hopjax.algos.hop.config`); ``env_kwargs`` keys are the fields of the
env's params class (:mod:`hopjax.envs.params`). This module holds the generic machinery, all
JAX-free so that a config is checked before JAX starts: strict YAML (duplicate keys refused),
type conversion of every key, ``env_kwargs`` included (``1e2`` -> 100 for an int, 4.5 refused;
floats must be finite; integers bounded), nested sections (a field whose type is a config
dataclass, read from a mapping with the same rules; errors name the dotted key such as
``opponent_model.lr``), unknown keys with "did you mean" (near names and common aliases such
as ``learning_rate`` -> ``ppo.lr``), keys that moved into a section (a config class's
``MOVED`` table: ``om_lr`` -> ``opponent_model.lr``), and dotted overrides. Every problem is
a ``ConfigError`` whose one-line message names the key, the override or the file.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

C = TypeVar("C")

INT_LIMIT = 2**63  # |int| of any key (int64); tighter per-key ranges: check_common
INT32_MAX = 2**31 - 1
SEED_LIMIT = 2**32  # seeds lie in [0, 2**32)
MAX_LIST = 64  # longest list of any key (hidden_sizes, agents)

# Common names from other RL libraries -> the hopjax key (suggested for unknown keys).
ALIASES = {
    "learning_rate": "lr", "lr_rate": "lr", "step_size": "lr",
    "n_envs": "num_envs", "num_env": "num_envs", "nenvs": "num_envs", "n_env": "num_envs",
    "num_environments": "num_envs", "n_parallel": "num_envs",
    "seed_value": "seed", "random_seed": "seed", "rng_seed": "seed", "seeds": "seed",
    "lam": "gae_lambda", "lmbda": "gae_lambda", "lambda": "gae_lambda", "gae_lam": "gae_lambda",
    "gae_lamda": "gae_lambda", "lambda_gae": "gae_lambda",
    "entropy_coef": "ent_coef", "entropy_coeff": "ent_coef", "ent_coeff": "ent_coef",
    "entropy_cost": "ent_coef", "entropy_weight": "ent_coef",
    "clip_range": "clip_eps", "clip_param": "clip_eps", "clip_epsilon": "clip_eps",
    "clip_ratio": "clip_eps", "clip_coef": "clip_eps", "epsilon": "clip_eps",
    "value_coef": "vf_coef", "vf_coeff": "vf_coef", "value_loss_coef": "vf_coef",
    "value_coeff": "vf_coef", "value_loss_coeff": "vf_coef",
    "grad_clip": "max_grad_norm", "max_grad": "max_grad_norm", "clip_grad_norm": "max_grad_norm",
    "grad_norm_clip": "max_grad_norm",
    "discount": "gamma", "discount_factor": "gamma",
    "epochs": "num_epochs", "n_epochs": "num_epochs", "update_epochs": "num_epochs",
    "ppo_epochs": "num_epochs",
    "minibatches": "num_minibatches", "n_minibatches": "num_minibatches",
    "num_minibatch": "num_minibatches", "num_mini_batch": "num_minibatches",
    "total_timesteps": "total_steps", "timesteps": "total_steps", "num_steps_total": "total_steps",
    "n_steps": "rollout_length", "num_steps": "rollout_length", "rollout_len": "rollout_length",
    "unroll_length": "rollout_length",
    "hidden": "hidden_sizes", "hidden_size": "hidden_sizes", "hidden_dims": "hidden_sizes",
    "hidden_layers": "hidden_sizes", "net_arch": "hidden_sizes", "layers": "hidden_sizes",
    "environment": "env", "env_name": "env", "env_id": "env",
    "env_args": "env_kwargs", "env_params": "env_kwargs", "env_config": "env_kwargs",
    "n_simulations": "num_simulations", "num_sims": "num_simulations", "simulations": "num_simulations",
    "n_trees": "num_trees", "puct": "c_puct", "c": "c_puct", "pb_c_init": "c_puct",
    "buffer_size": "buffer_episodes", "batch_size": "batch_episodes",
    # env_kwargs
    "n_agents": "num_agents", "num_players": "num_agents", "n_players": "num_agents",
    "players": "num_agents", "agents_count": "num_agents",
    "episode_length": "max_steps", "max_episode_steps": "max_steps", "horizon": "max_steps",
    "time_limit": "max_steps", "grid_height": "height", "grid_width": "width",
}


class ConfigError(ValueError):
    """A config file or override is wrong; the (one-line) message names the key or file."""


def _suggest(key: str, known: list[str], moved: Mapping[str, str] = {}, prefix: str = "") -> str:
    """" Did you mean ...? Known keys: ..." for an unknown ``key`` among ``known`` (the keys of
    one section); ``moved`` (old flat key -> new dotted key) points near names at their section."""
    alias = ALIASES.get(key.lower())
    if alias in known or alias in moved:
        close = [alias]
    else:
        close = difflib.get_close_matches(key, known + list(moved), n=1)
    close = [moved.get(c, prefix + c) for c in close if c != key]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"{hint} Known keys: {', '.join(sorted(known))}."


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key that appears twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise ConfigError(f"line {key_node.start_mark.line + 1}: a key must be a "
                                  f"plain value, got {key!r}") from None
            if key in seen:
                raise ConfigError(f"duplicate key {key!r} on line {key_node.start_mark.line + 1} "
                                  f"(first on line {seen[key]})")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def _yaml_problem(e: yaml.YAMLError) -> str:
    """One line from a PyYAML error: the problem and its line/column."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or getattr(e, "context", None) or str(e)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def parse_yaml(text: str, what: str) -> Any:
    """YAML text -> Python value (safe, duplicate keys refused); ConfigError naming ``what``."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except ConfigError as e:
        raise ConfigError(f"{what}: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{what} is not valid YAML: {_yaml_problem(e)}") from None
    except (ValueError, OverflowError, RecursionError) as e:  # e.g. a bad timestamp or int
        raise ConfigError(f"{what} is not valid YAML: {' '.join(str(e).split())}") from None


def _bad(key: str, what: str, value: Any) -> ConfigError:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return ConfigError(f"config key {key!r} expects {what}, got {text}")


def _to_int(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise _bad(key, "an integer", value)
    if isinstance(value, int):
        out = value
    else:
        try:
            f = float(value) if isinstance(value, (float, str)) else math.nan
        except (ValueError, OverflowError):
            f = math.nan
        if not (math.isfinite(f) and f.is_integer()):
            raise _bad(key, "an integer", value)
        out = int(f)
    if not -INT_LIMIT < out < INT_LIMIT:
        raise ConfigError(f"config key {key!r} is out of range: {value!r} (|value| < 2**63)")
    return out


def _to_float(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _bad(key, "a number", value)
    try:
        out = float(value)
    except (ValueError, OverflowError):
        raise _bad(key, "a finite number", value) from None
    if not math.isfinite(out):
        raise ConfigError(f"config key {key!r} must be a finite number, got {value!r}")
    return out


def _coerce_seq(key: str, value: Any, origin: Any, args: tuple) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise _bad(key, "a list", value)
    if len(value) > MAX_LIST:
        raise ConfigError(f"config key {key!r} holds {len(value)} items, at most {MAX_LIST}")
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return tuple(_coerce(f"{key}[{i}]", v, args[0]) for i, v in enumerate(value))
    if origin is tuple and args:
        if len(args) != len(value):
            raise _bad(key, f"{len(args)} items", value)
        return tuple(_coerce(f"{key}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args)))
    return tuple(value)


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert lossless cases (1e6 -> int);
    floats must be finite, integers |x| < 2**63."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, value, arg)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: got {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"config key {key!r} must be one of {list(args)}, got {value!r}")
        return value
    if origin in (tuple, list):
        return _coerce_seq(key, value, origin, args)
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise _bad(key, "a mapping", value)
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _bad(key, "true/false", value)
    if tp is int:
        return _to_int(key, value)
    if tp is float:
        return _to_float(key, value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _bad(key, "a string", value)
    raise ConfigError(f"config key {key!r}: unsupported type {tp!r}")


def env_params(env: str, env_kwargs: Mapping[str, Any]):
    """The env's validated params object (:mod:`hopjax.envs.params`) from raw ``env_kwargs``:
    converted like top-level keys, unknown keys with "did you mean"; ConfigError naming
    ``env`` or ``env_kwargs.<key>``. JAX-free."""
    from hopjax.envs.params import PARAMS

    if not isinstance(env, str) or env not in PARAMS:
        raise ConfigError(f"config key 'env': unknown environment {env!r}."
                          + _suggest(str(env), list(PARAMS)).replace("keys", "environments"))
    if not isinstance(env_kwargs, Mapping):
        raise _bad("env_kwargs", "a mapping", env_kwargs)
    cls = PARAMS[env]
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in env_kwargs.items():
        if key not in known:
            raise ConfigError(f"unknown config key 'env_kwargs.{key}' for env {env!r}."
                              + _suggest(str(key), known))
        kwargs[key] = _coerce(f"env_kwargs.{key}", value, hints[key])
    params = cls(**kwargs)
    params.validate()
    return params


def is_section(tp: Any) -> bool:
    """True for a field type that is itself a config dataclass (a nested section)."""
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _section(key: str, cls: type, value: Any, moved: Mapping[str, str]) -> Any:
    if not isinstance(value, Mapping):
        kind = " (sections are mappings: write it as {kind: ...})" if "kind" in typing.get_type_hints(cls) else ""
        raise ConfigError(f"config key {key!r} expects a mapping of keys to values, got {value!r}{kind}")
    return _from_mapping(cls, value, f"{key}.", moved)


def _from_mapping(cls: type[C], data: Mapping[str, Any], prefix: str, moved: Mapping[str, str]) -> C:
    """``cls`` from a mapping, sections recursively; keys named ``prefix + key`` in errors."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            if not prefix and key in moved:
                raise ConfigError(f"config key {key!r} moved: use {moved[key]}")
            near = moved if not prefix else {}
            raise ConfigError(f"unknown config key {dotted!r}." + _suggest(str(key), list(fields), near, prefix))
        tp = hints[key]
        kwargs[key] = _section(dotted, tp, value, {}) if is_section(tp) else _coerce(dotted, value, tp)
    if "env_kwargs" in fields and "env" in fields:
        env = kwargs.get("env", fields["env"].default)
        params = env_params(env, kwargs.get("env_kwargs", {}))
        kwargs["env_kwargs"] = {k: getattr(params, k) for k in kwargs.get("env_kwargs", {})}
    try:
        return cls(**kwargs)
    except TypeError as e:  # missing required keys
        raise ConfigError(str(e)) from None


def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
    """Build ``cls`` from a mapping, rejecting unknown keys and ill-typed values; a field whose
    type is a config dataclass is a section, read from a nested mapping with the same rules
    (errors name the dotted key, e.g. ``opponent_model.lr``); a key listed in ``cls.MOVED``
    (old flat name -> new dotted name) is refused with its new name; ``env_kwargs`` are
    converted and checked by the env's params class; then ``cls.validate()``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a config must be a mapping of keys to values, got {type(data).__name__}")
    cfg = _from_mapping(cls, data, "", getattr(cls, "MOVED", {}))
    validate = getattr(cfg, "validate", None)
    if validate is not None:
        validate()
    return cfg


def upgrade_flat(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """A config mapping written before sections existed (flat keys such as ``om_lr``, as
    stored in an older checkpoint's metadata) -> the nested mapping, by ``cls.MOVED``; a
    mapping without moved keys comes back unchanged."""
    moved = getattr(cls, "MOVED", {})
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {k: v for k, v in data.items() if k not in moved}
    for key, value in out.items():  # a section that was a plain string, e.g. opponent_model: omg
        if isinstance(value, str) and is_section(hints.get(key)) and "kind" in typing.get_type_hints(hints[key]):
            out[key] = {"kind": value}
    for key, value in data.items():
        if key in moved:
            *path, leaf = moved[key].split(".")
            node = out
            for p in path:
                node = node.setdefault(p, {})
            node[leaf] = value
    return out


def _check_ranges(cfg: Any, prefix: str = "") -> None:
    """Finite floats and int32 integers (``seed``/``total_steps`` aside) in ``cfg`` and its
    sections, errors naming the dotted key."""
    for f in dataclasses.fields(cfg):
        v, key = getattr(cfg, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(v):
            _check_ranges(v, f"{key}.")
        elif isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"config key {key!r} must be a finite number, got {v!r}")
        elif isinstance(v, int) and not isinstance(v, bool) and key not in ("seed", "total_steps"):
            if not -INT32_MAX - 1 <= v <= INT32_MAX:
                raise ConfigError(f"config key {key!r} is out of range: {v} (int32: |value| < 2**31)")


def check_common(cfg: Any) -> None:
    """Checks every config class shares (call from ``validate``): finite floats, integers in
    int32 (``total_steps`` in int64), sections included, ``seed`` in [0, 2**32), ``name`` a
    plain folder name."""
    _check_ranges(cfg)
    if not 0 <= cfg.seed < SEED_LIMIT:
        raise ConfigError(f"config key 'seed' must lie in [0, 2**32), got {cfg.seed}")
    if not 0 < cfg.total_steps < INT_LIMIT:
        raise ConfigError(f"config key 'total_steps' must lie in [1, 2**63), got {cfg.total_steps}")
    name = cfg.name
    if not name or name in (".", "..") or any(c in name for c in "/\\\0") or name != name.strip():
        raise ConfigError(f"config key 'name' must be a plain folder name (no '/', not empty), "
                          f"got {name!r}")


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["lr=3e-4", "env_kwargs.num_stags=2"]`` -> nested dict (values parsed as YAML);
    ConfigError naming the override for a malformed one."""
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(p.strip() for p in parts):
            raise ConfigError(f"override {item!r}: the key must look like name or name.sub")
        value = parse_yaml(raw, f"override {item!r}") if raw.strip() else ""
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {key.strip()!r} conflicts with an earlier "
                                  f"override of {p!r}")
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(merged.get(k), Mapping):
            merged[k] = _merge(dict(merged[k]), v)
        else:
            merged[k] = v
    return merged


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A config file's mapping: UTF-8 YAML holding a non-empty mapping; ConfigError naming
    the file (missing, unreadable, not UTF-8, bad YAML, duplicate key, empty, not a mapping)."""
    path = Path(path)
    what = f"config file {str(path)!r}"
    if path.is_dir():
        raise ConfigError(f"{what} is a directory, not a YAML file (a run's config is <run dir>/config.yaml)")
    if not path.is_file():
        raise ConfigError(f"{what} does not exist")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{what} cannot be read: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{what} is not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r})") from None
    data = parse_yaml(text, what)
    if data is None:
        raise ConfigError(f"{what} is empty (no keys; write at least e.g. `name: my_run`)")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what} must hold a mapping of keys to values at top level, "
                          f"got a {type(data).__name__}")
    if not data:
        raise ConfigError(f"{what} is empty (no keys; write at least e.g. `name: my_run`)")
    return dict(data)


def load_config(cls: type[C], path: str | Path | None = None, overrides=(), upgrade: bool = False,
                **kwargs: Any) -> C:
    """Load ``cls`` from a YAML file, then apply ``key=value`` overrides and keyword overrides.

    ``upgrade``: the file may have the flat layout of a run written before config sections
    existed (``om_lr`` for ``opponent_model.lr``): its keys are moved first (:func:`upgrade_flat`);
    the CLI sets it for ``--resume``, so an older run's ``config.yaml`` still resumes."""
    data: dict[str, Any] = read_config_file(path) if path is not None else {}
    if upgrade:
        data = upgrade_flat(cls, data)
    data = _merge(data, parse_overrides(list(overrides)))
    data = _merge(data, kwargs)
    return from_dict(cls, data)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A YAML-safe dict of a config dataclass (tuples become lists, sections nested dicts)."""

    def conv(v):
        if dataclasses.is_dataclass(v):
            return to_dict(v)
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return {f.name: conv(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


def updated(cfg: C, *overrides: str) -> C:
    """``cfg`` with ``key=value`` overrides (dotted keys reach into sections, as ``--set``),
    re-validated: e.g. ``updated(cfg, "mesh.devices=2", "ppo.lr=1e-3")``."""
    return from_dict(type(cfg), _merge(to_dict(cfg), parse_overrides(list(overrides))))


def from_stored(cls: type[C], data: Mapping[str, Any]) -> C:
    """:func:`from_dict` of a config stored in a checkpoint's metadata or a run's
    ``config.yaml``, older flat layouts upgraded first (:func:`upgrade_flat`). A key of
    ``cls.STORED_DEFAULTS`` that the stored config lacks (it was written before the key
    existed) takes the value listed there, the behaviour such a run was trained with, not
    today's default (e.g. HOP's ``inter_om_pooling: kind``)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a stored config must be a mapping, got {type(data).__name__}")
    data = upgrade_flat(cls, data)
    for key, value in getattr(cls, "STORED_DEFAULTS", {}).items():
        data.setdefault(key, value)
    return from_dict(cls, data)


def trained_part(cfg: C) -> C:
    """``cfg`` with the keys of its class's ``EVAL_ONLY`` (keys that change only how a trained
    run is evaluated, never what it trains, e.g. HOP's ``adapt_no_carry``) at their defaults:
    two configs with the same ``trained_part`` train the same run, so a population member is
    not retrained or refused as another config for them (``hopjax.runtime.population``), and a
    trained HOP run is evaluated with other values of them (``hopjax eval RUN --set``)."""
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    return dataclasses.replace(cfg, **{k: fields[k].default for k in getattr(cfg, "EVAL_ONLY", ())})


def trained_changes(stored: Mapping[str, Any] | str, cfg: Any) -> list[str]:
    """:func:`changed_keys` without the evaluation-only keys (``EVAL_ONLY``,
    :func:`trained_part`): the keys in which ``cfg`` trains another run than ``stored``."""
    eval_only = getattr(cfg, "EVAL_ONLY", ())
    return [c for c in changed_keys(stored, cfg) if c.split(":", 1)[0] not in eval_only]


def changed_keys(stored: Mapping[str, Any] | str, cfg: Any) -> list[str]:
    """The keys in which ``cfg`` differs from a stored config (a checkpoint's ``config``, or a
    run's ``config.yaml`` text), as ``"key: stored -> now"`` with dotted keys for sections
    (``(absent)`` for a key one side does not set, e.g. an ``env_kwargs`` entry), in the config
    class's field order. The stored config is read with ``from_stored`` first, so keys added to
    the class since it was written count at their defaults; one that no longer reads is compared
    as stored; text that is not YAML gives [] (nothing can be said)."""
    if isinstance(stored, str):
        try:
            stored = parse_yaml(stored, "config.yaml")
        except ConfigError:
            return []
    try:
        old = to_dict(from_stored(type(cfg), stored))
    except ConfigError:
        old = dict(stored) if isinstance(stored, Mapping) else {}

    def flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, Mapping) else {f"{prefix}{k}": v})
        return out

    before, now = flat(old), flat(to_dict(cfg))
    keys = list(now) + [k for k in before if k not in now]  # e.g. env_kwargs.height set there, default here
    say = lambda d, k: d[k] if k in d else "(absent)"
    return [f"{k}: {say(before, k)} -> {say(now, k)}" for k in keys
            if k not in before or k not in now or before[k] != now[k]]

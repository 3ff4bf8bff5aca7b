"""Learned co-player populations: trained once, saved as ordinary run dirs, reused by every
adaptation evaluation.

The HOP paper (Huang et al., ICML 2024, section 5) and its code evaluate few-shot adaptation
against learned co-players as well as scripted ones: A3C, prosocial A3C, LOLA, social influence
and HOP agents themselves (HOP code, ``msg_code/train.py``: the ``train*``, ``prosocial*``,
``lola*``, ``social*`` and ``ToM*`` policies). hopjax's population holds its own learners in
their place: PPO, prosocial PPO (PPO on the env with ``env_kwargs.prosocial: true``), PPO+OMG,
PPO+MOA (the social-influence family, Jaques et al., ICML 2019) and HOP. LOLA has no hopjax
implementation and is left out.

A population **spec** (YAML, ``configs/populations/*.yaml``) names the env and its kwargs once
and, per member kind, a config file, the seeds and optional ``--set``-style overrides::

    env: stag_hunt
    env_kwargs: {height: 5, width: 5, num_walls: 0, max_steps: 20}
    members:
      ppo: {config: configs/stag_hunt_ppo.yaml, seeds: [0, 1], set: [total_steps=4e4]}
      prosocial_ppo: {config: configs/stag_hunt_ppo.yaml, prosocial: true, seeds: [0]}
      hop: {config: configs/stag_hunt_hop.yaml, seeds: [0]}

Every member is a self-play run (``agents: []``) on the spec's env, trained by
:func:`hopjax.runtime.experiment.train` into ``<out>/<kind>_s<seed>/`` (metrics, checkpoints,
resume as any run). A rerun reuses the members it finished with the same config and resumes
the ones that stopped part-way; a member dir holding a run of another config is refused unless
``overwrite`` (every old run is then moved aside, never deleted). ``<out>/population.json`` lists the members. Config paths are relative to the
current directory (or, failing that, to the checkout a shipped ``configs/populations/`` spec is in).
Everything in a spec is checked before JAX starts (:func:`load_spec`).

As a co-player (:func:`coplayer_policy`), a member acts in seat ``j`` with its own seat-``j``
policy (members are trained with independent parameters per seat), statelessly, in the
signature of :mod:`hopjax.envs.scripted`, so the HOP runner and the PPO rollout seat it like a
scripted player:

- PPO / prosocial PPO: samples from its masked policy (feed-forward policies only; a GRU member
  is refused by :func:`load_spec`).
- PPO+OMG / PPO+MOA: samples from its policy, whose opponent-model input is computed from the
  current step alone (the co-player interface carries no recurrent state between steps: our
  choice; the trained members saw the whole episode history).
- HOP: acts greedily (argmax) from its planner net's masked policy head, without the tree
  search: our choice, a search per co-player seat would multiply the evaluation's cost by the
  number of co-player seats.

With ``M`` members of a kind, co-player seat ``j`` (focal seats first) holds member
``(j - num_focal) mod M``: every evaluation row meets the same individuals (our choice).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

from hopjax.algos import registry
from hopjax.config import (ConfigError, from_stored, load_config, parse_yaml, read_config_file, trained_changes,
                           trained_part)

SPEC_KEYS = ("env", "env_kwargs", "members")
MEMBER_KEYS = ("config", "seeds", "set", "prosocial")
MANIFEST = "population.json"
# Why a PPO-family member with a GRU policy is refused (load_spec; load_population for older dirs).
STATELESS = "co-players act statelessly, train its members with gru_size: 0"


@dataclasses.dataclass(frozen=True)
class MemberSpec:
    """One member run: ``kind`` (spec key), ``seed``, and its full validated config."""

    kind: str
    seed: int
    config: Any

    @property
    def name(self) -> str:
        return f"{self.kind}_s{self.seed}"


def _member_configs(kind: str, item: Any, env: str, env_kwargs: dict, root: Path) -> list[MemberSpec]:
    where = f"population spec key 'members.{kind}'"
    if not isinstance(item, dict) or "config" not in item:
        raise ConfigError(f"{where} must be a mapping with at least a 'config' key")
    if isinstance(item["config"], str) and not Path(item["config"]).exists() and (root / item["config"]).is_file():
        item = dict(item, config=str(root / item["config"]))  # a shipped spec run from elsewhere
    unknown = sorted(set(item) - set(MEMBER_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(MEMBER_KEYS)})")
    seeds = item.get("seeds", [0])
    seeds = list(range(seeds)) if isinstance(seeds, int) and not isinstance(seeds, bool) else seeds
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**31 for s in seeds):
        raise ConfigError(f"{where[:-1]}.seeds' must be a count >= 1 or a list of seeds in [0, 2**31)")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise ConfigError(f"{where[:-1]}.seeds' lists seed {twice[0]} more than once: each seed is "
                          "one member run")
    overrides = item.get("set", [])
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(f"{where[:-1]}.set' must be a list of KEY=VALUE strings")
    prosocial = item.get("prosocial", False)
    if not isinstance(prosocial, bool):
        raise ConfigError(f"{where[:-1]}.prosocial' must be true/false, got {prosocial!r}")
    algo = read_config_file(item["config"]).get("algo", "ppo")
    cls = registry.config_class(algo) if isinstance(algo, str) else None
    if cls is None:
        raise ConfigError(f"{where}: config {item['config']!r} has no valid 'algo'")
    kw = dict(env_kwargs, prosocial=True) if prosocial else dict(env_kwargs)
    out = []
    for seed in seeds:
        extra = dict(env=env, env_kwargs=kw, seed=seed, name=f"{kind}_s{seed}")
        if algo == "ppo":
            extra["agents"] = []  # self-play: every seat a learner
        try:
            cfg = load_config(cls, item["config"], overrides, **extra)
            cfg.validate()
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        if algo == "ppo" and cfg.gru_size:
            raise ConfigError(f"{where}: gru_size {cfg.gru_size} is a GRU policy: {STATELESS}")
        out.append(MemberSpec(kind, seed, cfg))
    return out


def _checkout_of(spec: str | Path) -> Path:
    """The dir a ``<checkout>/configs/populations/<spec>.yaml`` lives in (its member configs
    are relative to it); the current directory for a spec elsewhere."""
    parents = Path(spec).resolve().parents
    return parents[2] if len(parents) > 2 and parents[0].name == "populations" else Path(".")


def _training_keys() -> set[str]:
    """The top-level keys of every algorithm's training config."""
    return {f.name for algo in registry.ALGORITHMS for f in dataclasses.fields(registry.config_class(algo))}


def load_spec(path: str | Path) -> tuple[str, dict, list[MemberSpec]]:
    """A population spec -> (env, env_kwargs, members). JAX-free; ConfigError naming the file
    and key for anything wrong (member configs are fully validated, memory estimate included;
    a seed listed twice in a member's ``seeds``, and a PPO-family member with a GRU policy
    (``gru_size > 0``: co-players act statelessly), are refused)."""
    from hopjax import sizes
    from hopjax.config import env_params

    data = read_config_file(path)
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if "members" not in data and set(unknown) & _training_keys():  # e.g. configs/stag_hunt_ppo.yaml
        raise ConfigError(f"{str(path)!r} is a training config, not a population spec (a spec has 'env' "
                          "and 'members': configs/populations/*.yaml); train it with `hopjax train`")
    if unknown:
        raise ConfigError(f"population spec {str(path)!r}: unknown key {unknown[0]!r} (known: {', '.join(SPEC_KEYS)})")
    env, env_kwargs, members = data.get("env"), data.get("env_kwargs", {}) or {}, data.get("members")
    env_params(env, env_kwargs)  # ConfigError naming env / env_kwargs.<key>
    if not isinstance(members, dict) or not members:
        raise ConfigError(f"population spec {str(path)!r}: 'members' must map member kinds to their configs")
    specs = []
    for kind, item in members.items():
        if not isinstance(kind, str) or not kind.replace("_", "").isalnum():
            raise ConfigError(f"population spec 'members': kind {kind!r} must be letters, digits and _")
        specs.extend(_member_configs(kind, item, env, dict(env_kwargs), _checkout_of(path)))
    for m in specs:
        sizes.check_memory(m.config)
    return env, dict(env_kwargs), specs


def _config_text(cfg: Any) -> str:
    """The member's config as its run dir stores it (``config.yaml``), for comparison."""
    import yaml

    from hopjax.config import to_dict

    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def _same_config(stored: str | None, cfg: Any) -> bool:
    """Whether a run's stored ``config.yaml`` text trains ``cfg``: the same text, or the same
    config once read back (keys added to the config class since, at their defaults, key order,
    and evaluation-only keys (``EVAL_ONLY``, :func:`hopjax.config.trained_part`) do not make a
    run another config)."""
    if stored is None:
        return False
    if stored == _config_text(cfg):
        return True
    try:
        return trained_part(from_stored(type(cfg), parse_yaml(stored, "config.yaml"))) == trained_part(cfg)
    except ConfigError:
        return False


def _changes(stored: str | None, cfg: Any) -> str:
    """`` (keys that differ: ...)`` between a run's stored ``config.yaml`` text and ``cfg``
    (evaluation-only keys left out), or nothing where the stored text is missing or
    unreadable."""
    changed = trained_changes(stored, cfg) if stored is not None else []
    return f" (keys that differ: {'; '.join(changed)})" if changed else ""


def _done(out: Path) -> dict[str, str]:
    """{member name: config text} of the members a previous ``train_population`` finished."""
    path = out / MANIFEST
    if not path.is_file():
        return {}
    data = parse_yaml(path.read_text(), f"{path}")
    return data.get("done", {}) if isinstance(data, dict) and isinstance(data.get("done"), dict) else {}


def plan_members(specs: list[MemberSpec], out: str | Path, overwrite: bool) -> dict[str, str]:
    """What ``train_population`` will do with each member (JAX-free, nothing is written):
    {name: "train" | "reuse" | "resume"}. A member finished earlier with the same config is
    reused (populations are trained once); one whose run stopped part-way is resumed from its
    last checkpoint; ``overwrite`` retrains every member (the old runs are moved aside, never
    deleted). RunDirError (one line) for a member dir that holds a run of another config, a run
    without a checkpoint, or a run in use by another process."""
    from hopjax.runtime import rundir

    out, done, plan = Path(out), _done(Path(out)), {}
    for m in specs:
        d = out / m.name
        try:
            rundir.check(d, None, overwrite)
            plan[m.name] = "train"
            continue
        except rundir.RunDirError:
            pass
        stored = (d / "config.yaml").read_text() if (d / "config.yaml").is_file() else None
        if not _same_config(stored, m.config):
            raise rundir.RunDirError(f"population member {m.name} in {d} was trained with another "
                                     f"config than the spec's{_changes(stored, m.config)}; --overwrite retrains "
                                     "it (the old run is moved aside)")
        if _same_config(done.get(m.name), m.config):
            plan[m.name] = "reuse"
            continue
        if not any((d / "checkpoints").glob("*/meta.json")):
            raise rundir.RunDirError(f"population member {m.name} in {d} stopped before its first "
                                     "checkpoint; --overwrite retrains it (the old run is moved aside)")
        rundir.check(d, d, False)  # a lock held by a live process
        plan[m.name] = "resume"
    return plan


def _write_manifest(out: Path, env: str, env_kwargs: dict, specs: list[MemberSpec], done: dict) -> Path:
    kinds: dict[str, dict] = {}
    for m in specs:
        if m.name in done:
            kinds.setdefault(m.kind, {"algo": m.config.algo, "runs": []})["runs"].append(m.name)
    manifest = out / MANIFEST
    manifest.write_text(json.dumps({"env": env, "env_kwargs": env_kwargs, "members": kinds,
                                    "done": done}, indent=1))
    return manifest


def train_population(spec_path: str | Path, out: str | Path, overwrite: bool = False,
                     progress: bool = True) -> Path:
    """Train (or reuse, or resume: :func:`plan_members`) every member of the spec into
    ``out/<kind>_s<seed>/``; ``out/population.json`` lists the finished members and is
    rewritten as each one finishes. -> that manifest's path. ConfigError naming the member and
    its resume command if a member's run stops (Ctrl-C, NaN)."""
    from hopjax.runtime import experiment

    env, env_kwargs, specs = load_spec(spec_path)
    out = Path(out)
    plan = plan_members(specs, out, overwrite)
    done = {} if overwrite else {k: v for k, v in _done(out).items() if plan.get(k) == "reuse"}
    for m in specs:
        what = plan[m.name]
        print(f"population member {m.name} ({m.config.algo}, {m.config.total_steps} env steps): "
              f"{ {'train': 'training', 'reuse': 'trained earlier, reused', 'resume': 'resuming'}[what] }")
        if what != "reuse":
            res = experiment.train(m.config, out, resume=out / m.name if what == "resume" else None,
                                   progress=progress, overwrite=overwrite)
            if res.stopped is not None:
                msg = (f"member {m.name} stopped ({res.stopped}); run the same `hopjax population train` "
                       "again to resume it")
                if res.stopped == "interrupted":  # Ctrl-C / SIGTERM: stop like one, saying how to go on
                    print(msg)
                    raise KeyboardInterrupt
                raise ConfigError(msg)
            done[m.name] = _config_text(m.config)
            _write_manifest(out, env, env_kwargs, specs, done)
    manifest = _write_manifest(out, env, env_kwargs, specs, done)
    print(f"population of {len(specs)} members: {manifest}")
    return manifest


# ---------------------------------------------------------------------------- loading (JAX)
@dataclasses.dataclass
class Kind:
    """The members of one kind: ``algo``, one trainer (built from the first member's config)
    and every member's parameters (``states``: the restored train states, in manifest order)."""

    name: str
    algo: str
    trainer: Any
    states: list


def read_manifest(pop_dir: str | Path) -> dict:
    """``population.json`` of a population dir; ConfigError if it is missing or malformed."""
    path = Path(pop_dir) / MANIFEST
    if not path.is_file():
        raise ConfigError(f"--population {str(pop_dir)!r}: no {MANIFEST} there (train one with "
                          "`hopjax population train SPEC --out DIR`)")
    data = parse_yaml(path.read_text(), f"{path}")
    if not isinstance(data, dict) or not isinstance(data.get("members"), dict) or not data["members"]:
        raise ConfigError(f"{path}: expected env, env_kwargs and a non-empty members mapping")
    return data


def load_population(pop_dir: str | Path, env_name: str, env_params: Any) -> list[Kind]:
    """Restore every member of a population trained on ``env_name`` with ``env_params`` (apart
    from ``prosocial``); ConfigError naming the population otherwise. Imports JAX."""
    import jax

    from hopjax import envs
    from hopjax.runtime import checkpoint

    data = read_manifest(pop_dir)
    _, pop_params = envs.make(data["env"], **data["env_kwargs"])
    if data["env"] != env_name or pop_params.replace(prosocial=False) != env_params.replace(prosocial=False):
        raise ConfigError(f"--population {str(pop_dir)!r} was trained on {data['env']} "
                          f"{data['env_kwargs']}, the evaluation's env differs ({env_name} {env_params})")
    kinds = []
    for kind, entry in data["members"].items():
        runs = [Path(pop_dir) / r for r in entry["runs"]]
        _, meta = checkpoint.load_meta(runs[0])
        cls = registry.config_class(entry["algo"])
        trainer = registry.build(from_stored(cls, meta["config"]))
        like = jax.eval_shape(trainer.init, jax.random.PRNGKey(0))
        states = [checkpoint.restore(r, like)[0] for r in runs]
        if entry["algo"] == "ppo" and trainer.policy.gru_size:
            raise ConfigError(f"population member kind {kind!r} has a GRU policy: {STATELESS}")
        kinds.append(Kind(kind, entry["algo"], trainer, states))
    return kinds


def _ppo_logits(trainer, state, obs, seat):
    """The seat's logits [A] of a PPO-family member from every seat's observation [N, ...]."""
    import jax.numpy as jnp

    pol, om = trainer.policy, trainer.om
    extra = None
    if pol.extra_dim:  # the opponent model's features from this step alone (see module doc)
        _, extra = om.pre(state.om.params, om.carry_init(1), obs[None], jnp.ones((1,), bool))
        extra = extra[0]
    _, logits, _ = pol.apply(state.params, pol.initial_hidden(()), obs, jnp.ones((), bool), extra)
    return logits[seat]


def coplayer_policy(kind: Kind, num_focal: int) -> Callable:
    """A co-player policy ``(key, obs, state, env_params, seat) -> action`` (the signature of
    :mod:`hopjax.envs.scripted`) playing ``kind``'s member ``(seat - num_focal) mod M`` with its
    own seat's policy; it reads the observations and available actions from the env state."""
    import jax
    import jax.numpy as jnp

    from hopjax.models.policy import masked_categorical

    env = kind.trainer.env
    m = len(kind.states)
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *kind.states)

    def policy(key, obs, state, env_params, seat):
        del obs  # recomputed from the state: every seat's observation
        member = jax.tree.map(lambda x: x[(seat - num_focal) % m], stacked)
        all_obs = env.get_obs(state, env_params)
        avail = env.avail_actions(state, env_params)[seat]
        if kind.algo == "hop":
            logits, _ = kind.trainer.planner_net.apply(member.params["planner"], all_obs[seat], avail)
            return jnp.argmax(jnp.where(avail, logits, -jnp.inf)).astype(jnp.int32)
        logits = _ppo_logits(kind.trainer, member, all_obs, seat)
        return masked_categorical(logits, avail).sample(seed=key).astype(jnp.int32)

    return policy


def describe(kinds: list[Kind]) -> str:
    return ", ".join(f"{k.name} ({k.algo}, {len(k.states)} member{'s' * (len(k.states) > 1)})" for k in kinds)


__all__ = ["MemberSpec", "Kind", "load_spec", "plan_members", "train_population", "read_manifest",
           "load_population", "coplayer_policy", "describe"]

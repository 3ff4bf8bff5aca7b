"""Learned co-player populations (hopjax.runtime.population): spec checks before JAX, the
refusal to retrain, and members seated as co-players (seat -> member rule, HOP greedy)."""

from __future__ import annotations

import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax.config import ConfigError
from hopjax.runtime.rundir import RunDirError
from hopjax.envs import stag_hunt as sh
from hopjax.evaluation import play_policy
from hopjax.runtime import population as pop
from hopjax.runtime.cli import main

from tests.conftest import QUICK_COMPILE

SPEC = """\
env: stag_hunt
env_kwargs: {height: 5, width: 5, num_walls: 0, max_steps: 20}
members:
  ppo: {config: configs/stag_hunt_ppo.yaml, seeds: [0, 3], set: [total_steps=1e4]}
  prosocial_ppo: {config: configs/stag_hunt_ppo.yaml, prosocial: true}
  hop: {config: configs/stag_hunt_hop.yaml, seeds: 1}
"""


def _write(tmp_path, text, name="pop.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_spec_builds_self_play_members_on_the_spec_env(tmp_path):
    env, kw, specs = pop.load_spec(_write(tmp_path, SPEC))
    assert env == "stag_hunt" and kw["height"] == 5
    assert [m.name for m in specs] == ["ppo_s0", "ppo_s3", "prosocial_ppo_s0", "hop_s0"]
    ppo, _, ps, hop = specs
    assert ppo.config.agents == () and ppo.config.total_steps == 10_000 and specs[1].config.seed == 3
    assert ps.config.env_kwargs["prosocial"] is True and "prosocial" not in ppo.config.env_kwargs
    assert hop.config.algo == "hop" and hop.config.env_kwargs == kw


@pytest.mark.parametrize("bad, match", [
    (SPEC.replace("seeds: [0, 3]", "seeds: [0, -1]"), "members.ppo.seeds"),
    (SPEC.replace("seeds: [0, 3]", "seeds: [3, 0, 3]"), "members.ppo.seeds' lists seed 3 more than once"),
    (SPEC.replace("prosocial: true", "prosocial: 1"), "members.prosocial_ppo.prosocial"),
    (SPEC.replace("prosocial: true", "prosocial: true, set: [gru_size=8]"),
     "members.prosocial_ppo': gru_size 8 is a GRU policy: co-players act statelessly"),
    (SPEC.replace("num_walls: 0", "num_wals: 0"), "env_kwargs.num_wals"),
    (SPEC.replace("total_steps=1e4", "ppo.lr=-1"), "members.ppo': .*ppo.lr"),
    (SPEC.replace("members:", "member:"), "unknown key 'member'"),
    ("env: stag_hunt\nalgo: ppo\nactivation: tanh\n", "is a training config, not a population spec"),
    (SPEC.replace("configs/stag_hunt_hop.yaml", "nowhere.yaml"), "nowhere.yaml"),
])
def test_bad_spec_is_one_line_error_before_jax(tmp_path, capsys, bad, match):
    with pytest.raises(ConfigError, match=match):
        pop.load_spec(_write(tmp_path, bad))
    assert main(["population", "train", str(tmp_path / "pop.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("hopjax: error:")


def test_existing_member_of_another_config_is_refused_without_overwrite(tmp_path, capsys):
    out = tmp_path / "pop"
    (out / "prosocial_ppo_s0").mkdir(parents=True)
    (out / "prosocial_ppo_s0" / "metrics.csv").write_text("update\n")
    assert main(["population", "train", str(_write(tmp_path, SPEC)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "prosocial_ppo_s0" in err and "another config" in err and "--overwrite" in err
    assert sorted(p.name for p in out.iterdir()) == ["prosocial_ppo_s0"]  # nothing trained


def test_rerun_reuses_finished_members_and_resumes_stopped_ones(tmp_path):
    _, _, specs = pop.load_spec(_write(tmp_path, SPEC))
    out = tmp_path / "pop"
    finished, stopped, bare = specs[0], specs[1], specs[2]
    for m in (finished, stopped, bare):
        (out / m.name).mkdir(parents=True)
        (out / m.name / "config.yaml").write_text(pop._config_text(m.config))
    (out / stopped.name / "checkpoints" / "4").mkdir(parents=True)
    (out / stopped.name / "checkpoints" / "4" / "meta.json").write_text("{}")
    pop._write_manifest(out, "stag_hunt", {}, specs, {finished.name: pop._config_text(finished.config)})
    with pytest.raises(RunDirError,
                       match=f"{bare.name} .*before its first checkpoint"):
        pop.plan_members(specs, out, overwrite=False)
    (out / bare.name / "config.yaml").unlink()
    (out / bare.name).rmdir()
    assert pop.plan_members(specs, out, overwrite=False) == {
        finished.name: "reuse", stopped.name: "resume", bare.name: "train", specs[3].name: "train"}
    assert set(pop.plan_members(specs, out, overwrite=True).values()) == {"train"}
    assert pop.read_manifest(out)["members"] == {"ppo": {"algo": "ppo", "runs": [finished.name]}}


def _reused_until_lr_changes(out, hop, specs, text: str, match: str) -> None:
    """The finished member ``hop`` stored as ``text`` (config.yaml and the manifest) is reused;
    with its stored lr changed it is refused, the error matching ``match``."""
    (out / hop.name / "config.yaml").write_text(text)
    pop._write_manifest(out, "stag_hunt", {}, specs, {hop.name: text})
    assert pop.plan_members([hop], out, overwrite=False) == {hop.name: "reuse"}
    (out / hop.name / "config.yaml").write_text(text.replace("lr: 0.0005", "lr: 0.001"))
    with pytest.raises(RunDirError, match=match):
        pop.plan_members([hop], out, overwrite=False)


def test_member_stored_before_a_key_existed_is_the_same_config(tmp_path):
    """A finished member whose stored config lacks a key added to the config class since is
    read with that key at its default (what the run did before the key existed): reused when
    the spec's value is the default, refused when it is not; a changed value is refused."""
    import yaml

    _, _, specs = pop.load_spec(_write(tmp_path, SPEC))
    out, hop = tmp_path / "pop", specs[3]
    stored = yaml.safe_load(pop._config_text(hop.config))
    assert stored.pop("goal_walker_envs") == 0  # the class default
    assert stored["belief_reset_on_goal"] is True  # not the class default (False)
    (out / hop.name).mkdir(parents=True)
    (out / hop.name / "config.yaml").write_text(yaml.safe_dump(
        {k: v for k, v in stored.items() if k != "belief_reset_on_goal"}, sort_keys=False))
    with pytest.raises(RunDirError, match=f"{hop.name} .*another config than the spec's "
                                          r"\(keys that differ: belief_reset_on_goal: False -> True\)"):
        pop.plan_members([hop], out, overwrite=False)
    old_text = yaml.safe_dump(stored, sort_keys=False)
    (out / hop.name / "checkpoints" / "4").mkdir(parents=True)
    (out / hop.name / "checkpoints" / "4" / "meta.json").write_text("{}")
    _reused_until_lr_changes(out, hop, specs, old_text, f"{hop.name} .*another config .*keys that differ: "
                                                       r"lr: 0.001 -> 0.0005\)")


def test_evaluation_only_keys_do_not_make_a_member_another_config(tmp_path):
    """A finished HOP member stored with other values of the evaluation-only keys (the few-shot
    protocol's ``adapt_no_carry`` / ``adapt_inter_om_decay``, HOPConfig.EVAL_ONLY) trains the
    same run: reused, and a training key that differs as well is named alone."""
    import yaml

    _, _, specs = pop.load_spec(_write(tmp_path, SPEC))
    out, hop = tmp_path / "pop", specs[3]
    assert hop.config.adapt_no_carry is True and hop.config.adapt_inter_om_decay is None  # the shipped config
    stored = dict(yaml.safe_load(pop._config_text(hop.config)), adapt_no_carry=False, adapt_inter_om_decay=0.5)
    text = yaml.safe_dump(stored, sort_keys=False)
    (out / hop.name).mkdir(parents=True)
    _reused_until_lr_changes(out, hop, specs, text, r"another config than the spec's \(keys that differ: "
                                                     r"lr: 0.001 -> 0.0005\);")


# ------------------------------------------------------------------ members as co-players
def _stay_params(params, num_actions):
    """Zero every weight and make the policy head's bias favour STAY by 30 nats."""
    def leaf(x):
        x = jnp.zeros_like(x)
        return x.at[..., sh.STAY].set(30.0) if x.ndim == 2 and x.shape[-1] == num_actions else x
    return jax.tree.map(leaf, params)


def test_ppo_members_take_co_player_seats_by_the_seating_rule(tiny_trainer):
    """Member 0 always stays, member 1 plays its random init: with the learner in seat 0,
    seats 1 and 3 hold member 0 ((j - 1) mod 2 = 0) and never move, seat 2 holds member 1."""
    tr = tiny_trainer
    a = tr.env.num_actions(tr.env_params)
    s0 = tr.init(jax.random.PRNGKey(0))
    stay = s0.replace(params=_stay_params(s0.params, a))
    kind = pop.Kind("ppo", "ppo", tr, [stay, tr.init(jax.random.PRNGKey(1))])
    fn = pop.coplayer_policy(kind, num_focal=1)
    play = jax.jit(lambda k1, k2: play_policy(tr, s0, 32, {1: fn, 2: fn, 3: fn}, k1, k2),
                   compiler_options=QUICK_COMPILE)
    batch, _ = play(jax.random.PRNGKey(2), jax.random.PRNGKey(3))
    T = batch.max_seq_length  # index T holds the final observation, no action
    valid = (np.asarray(batch.filled)[..., None] & np.asarray(batch.alive))[:, :T]
    acts = np.asarray(batch["actions"])[:, :T]
    assert valid[..., 1].sum() > 100
    assert np.all(acts[..., 1][valid[..., 1]] == sh.STAY) and np.all(acts[..., 3][valid[..., 3]] == sh.STAY)
    assert np.mean(acts[..., 2][valid[..., 2]] != sh.STAY) > 0.3


def test_hop_member_acts_greedily_from_its_planner_net(hop_trainer):
    tr = hop_trainer
    st = tr.init(jax.random.PRNGKey(4))
    kind = pop.Kind("hop", "hop", tr, [st])
    fn = pop.coplayer_policy(kind, num_focal=1)  # eager: a few small ops
    _, state = tr.env.reset(jax.random.PRNGKey(5), tr.env_params)
    obs = tr.env.get_obs(state, tr.env_params)
    avail = np.asarray(tr.env.avail_actions(state, tr.env_params))
    for seat in (1, 2, 3):
        logits, _ = tr.planner_net.apply(st.params["planner"], obs[seat], avail[seat])
        expected = int(np.argmax(np.where(avail[seat], np.asarray(logits), -np.inf)))
        for k in range(3):  # greedy: the key does not matter
            assert int(fn(jax.random.PRNGKey(k), obs, state, tr.env_params, seat)) == expected


def test_population_of_another_env_is_refused(tmp_path, tiny_trainer):
    (tmp_path / "population.json").write_text(
        '{"env": "stag_hunt", "env_kwargs": {"height": 5}, "members": {"ppo": {"algo": "ppo", "runs": ["x"]}}}')
    with pytest.raises(ConfigError, match="trained on stag_hunt"):
        pop.load_population(tmp_path, "stag_hunt", tiny_trainer.env_params)


def test_eval_population_option_is_checked_before_jax(tmp_path, capsys, monkeypatch):
    """``hopjax eval --population``: a dir without population.json is one line, exit 2, and
    nothing compiles; a well-formed one reaches adaptation_table."""
    from hopjax.runtime import adaptation

    monkeypatch.setattr(jax, "jit", lambda *a, **k: (_ for _ in ()).throw(AssertionError("compiled")))
    assert main(["eval", "configs/stag_hunt_hop.yaml", "--population", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no population.json" in err and err.count("\n") == 1
    (tmp_path / "population.json").write_text('{"env": "stag_hunt", "env_kwargs": {}, "members": {}}')
    assert main(["eval", "configs/stag_hunt_hop.yaml", "--population", str(tmp_path)]) == 2
    assert "non-empty members" in capsys.readouterr().err
    calls = []
    monkeypatch.setattr(adaptation, "adaptation_table", lambda *a, **k: calls.append(k))
    (tmp_path / "population.json").write_text(
        '{"env": "stag_hunt", "env_kwargs": {}, "members": {"ppo": {"algo": "ppo", "runs": ["ppo_s0"]}}}')
    assert main(["eval", "configs/stag_hunt_hop.yaml", "--population", str(tmp_path)]) == 0
    assert calls[0]["population"] == str(tmp_path)

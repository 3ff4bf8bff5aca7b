"""The adaptation curve's statistics, table and figure (hopjax.runtime.adaptation, plots)."""

from __future__ import annotations

import numpy as np
import pytest

from hopjax.runtime import adaptation
from hopjax.runtime.plots import curve_styles, plot_adaptation_curve


def test_t_interval_matches_hand_computation():
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])  # 3 seeds, 2 episodes
    mean, lo, hi = adaptation.t_interval(x)
    # t_{0.975, 2} = 4.302653; sd(ddof=1) = 2 and 3.605551; half = t * sd / sqrt(3)
    np.testing.assert_allclose(mean, [3.0, 5.0])
    np.testing.assert_allclose(hi - mean, [4.302653 * 2 / np.sqrt(3), 4.302653 * 3.605551 / np.sqrt(3)], rtol=1e-5)
    np.testing.assert_allclose(mean - lo, hi - mean)
    _, lo1, hi1 = adaptation.t_interval(x[:1])
    assert np.all(np.isnan(lo1)) and np.all(np.isnan(hi1))


def _results():
    # [S=2, kinds=2, K=3]
    fr = np.arange(12, dtype=float).reshape(2, 2, 3)
    return {"HOP": {"adapt": {"focal_return": fr, "belief_accuracy": fr / 20}},
            "PPO": {"adapt": {"focal_return": fr + 1}}}


def test_curve_rows_table_and_png(tmp_path):
    rows = adaptation.curve_rows(_results(), ("stag", "pop:ppo"))
    assert len(rows) == 2 * 2 * 3
    r = next(r for r in rows if r["coplayers"] == "pop:ppo" and r["algorithm"] == "HOP" and r["episode"] == 2)
    assert r["focal_return"] == (4 + 10) / 2 and r["belief_accuracy"] == 0.35 and r["seeds"] == 2
    assert r["focal_return_lo"] < 7 < r["focal_return_hi"]
    ppo = [r for r in rows if r["algorithm"] == "PPO"]
    assert all(r["belief_accuracy"] == "" for r in ppo) and ppo[0]["focal_return"] == 4.0
    md = adaptation.curve_markdown(rows, "test").splitlines()
    assert md[2].startswith("| co-players | algorithm | metric | ep 1 | ep 2 | ep 3 |")
    assert sum("belief accuracy" in line for line in md) == 2  # HOP rows only
    assert "| stag | HOP | focal return | 3.00 [" in md[4]
    png = plot_adaptation_curve(rows, tmp_path / "curve.png", "t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_curve_styles_keep_each_baselines_colour_whichever_hop_rows_there_are():
    plain = curve_styles(["HOP", "PPO", "PPO+OMG"])
    more = curve_styles(["HOP", "HOP decay=0.5", adaptation.NO_CARRY, "PPO", "PPO+OMG"])
    assert plain == {"HOP": ("C0", "-"), "PPO": ("C1", "-"), "PPO+OMG": ("C2", "-")}
    assert {k: more[k] for k in plain} == plain
    assert more["HOP decay=0.5"] == ("C0", "--") and more[adaptation.NO_CARRY] == ("C0", ":")


def test_evaluation_keys_do_not_depend_on_the_other_kinds_or_the_seed_count():
    """A kind's episodes are the same with and without a population's kinds next to it, and
    for the first seeds of a longer run; self-play does not reuse any kind's key."""
    import jax

    keys, sp = adaptation.evaluation_keys(3, 4, ("stag", "hare", "random", "fix", "pop:ppo"))
    assert keys.shape == (4, 5, 2) and sp.shape == (4, 2)
    alone, sp_alone = adaptation.evaluation_keys(3, 2, ("hare",))
    np.testing.assert_array_equal(keys[:2, 1], alone[:, 0])
    np.testing.assert_array_equal(sp[:2], sp_alone)
    every = np.concatenate([np.asarray(keys).reshape(-1, 2), np.asarray(sp)])
    assert len({tuple(k) for k in every}) == len(every)  # all distinct
    other, _ = adaptation.evaluation_keys(4, 4, ("stag",))  # another config seed: other episodes
    assert not np.array_equal(other[:, 0], keys[:, 0])
    want = jax.random.fold_in(jax.random.split(jax.random.PRNGKey(4), 4)[2], 0x7FFFFFFF & __import__("zlib").crc32(b"hare"))
    np.testing.assert_array_equal(adaptation.evaluation_keys(3, 4, ("hare",))[0][2, 0], want)


def test_evaluation_keys_refuse_a_non_partitionable_threefry():
    """With ``jax_threefry_partitionable`` off, ``split(k, 2)`` is not ``split(k, 4)[:2]``, so a
    kind's episodes would change with ``--seeds``: a ConfigError naming the flag instead."""
    import jax

    from hopjax.config import ConfigError

    with jax.threefry_partitionable(False):
        k = jax.random.PRNGKey(0)
        assert not np.array_equal(jax.random.split(k, 2), jax.random.split(k, 4)[:2])
        with pytest.raises(ConfigError, match="jax_threefry_partitionable"):
            adaptation.evaluation_keys(3, 4, ("stag",))


def test_episode_slope_is_the_least_squares_slope():
    y = np.array([[1.0, 3.0, 2.0, 5.0], [0.0, 0.0, 0.0, 0.0], [4.0, 3.0, 2.0, 1.0]])
    want = [np.polyfit(np.arange(4), row, 1)[0] for row in y]
    np.testing.assert_allclose(adaptation.episode_slope(y), want, atol=1e-12)


def test_carry_rows_pair_hop_with_its_no_carry_control_seed_by_seed():
    """HOP minus the control, seed by seed: slopes and means over K; counted by hand."""
    rng = np.random.default_rng(0)
    hop = rng.normal(size=(3, 2, 4))  # [S, kinds, K]
    ctl = hop - np.arange(4) * np.array([0.1, 0.2, 0.3])[:, None, None]  # HOP gains 0.1-0.3 per episode
    res = {"HOP": {"adapt": {"focal_return": hop, "belief_accuracy": hop / 10}},
           adaptation.NO_CARRY: {"adapt": {"focal_return": ctl, "belief_accuracy": ctl / 10}},
           "PPO": {"adapt": {"focal_return": hop}}}
    rows = adaptation.carry_rows(res, ("stag", "hare"))
    assert [r["coplayers"] for r in rows] == ["stag", "hare"] and rows[0]["seeds"] == 3
    paired = np.array([0.1, 0.2, 0.3])  # per seed, independent of the kind
    # t_{0.975, 2} = 4.302653; sd(ddof=1) of 0.1, 0.2, 0.3 = 0.1: an interval a pairing of
    # seed s with another seed would not give (its per-seed differences spread otherwise)
    half = 4.302653 * 0.1 / np.sqrt(3)
    for c, r in enumerate(rows):
        np.testing.assert_allclose([r["focal_return_paired_slope" + e] for e in ("", "_lo", "_hi")],
                                   [0.2, 0.2 - half, 0.2 + half], atol=1e-4)
        np.testing.assert_allclose([r["belief_accuracy_paired_slope" + e] for e in ("", "_lo", "_hi")],
                                   [0.02, 0.02 - half / 10, 0.02 + half / 10], atol=1e-4)
        np.testing.assert_allclose([r["focal_return_paired_mean" + e] for e in ("", "_lo", "_hi")],
                                   [0.3, 0.3 - 1.5 * half, 0.3 + 1.5 * half], atol=1e-4)  # mean of 0..3 = 1.5
        own = [np.polyfit(np.arange(4), hop[s, c], 1)[0] for s in range(3)]
        ctl_own = [np.polyfit(np.arange(4), ctl[s, c], 1)[0] for s in range(3)]
        assert abs(r["focal_return_slope"] - np.mean(own)) < 1e-4
        assert abs(r["focal_return_control_slope"] - np.mean(ctl_own)) < 1e-4
    md = adaptation.carry_markdown(rows, "t").splitlines()
    assert len(md) == 4 + 2 * 2 and md[4].startswith("| stag | return | ")
    assert adaptation.carry_rows({"HOP": res["HOP"]}, ("stag", "hare")) == []
    one = {k: {"adapt": {m: v[..., :1] for m, v in r["adapt"].items()}} for k, r in res.items()}
    assert adaptation.carry_rows(one, ("stag", "hare")) == []  # K = 1: no slope across K


def test_within_rows_pool_episodes_and_seeds_by_counts():
    # [S=2, kinds=1, K=2, T=3] per-step sums; step 3 has nobody alive in seed 0
    steps = np.array([[[[2.0, 2.0, 0.0], [2.0, 1.0, 0.0]]], [[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]]])
    acc = np.array([[[[0.4, 1.0, 0.0], [0.6, 0.8, 0.0]]], [[[0.3, 0.7, 0.9], [0.3, 0.5, 0.7]]]])
    res = {"HOP": {"adapt": {"belief_acc_sum_t": acc, "belief_steps_t": steps,
                             "belief_chance_sum_t": steps / 4}},
           "PPO": {"adapt": {"focal_return": np.zeros((2, 1, 2))}}}
    rows = adaptation.within_rows(res, ("stag",))
    assert [r["step"] for r in rows] == [1, 2, 3] and all(r["algorithm"] == "HOP" for r in rows)
    # seed 0 step 1: (0.4 + 0.6) / 4 = 0.25; seed 1: 0.6 / 2 = 0.3 -> mean 0.275
    assert rows[0]["belief_accuracy"] == 0.275 and rows[0]["scored"] == 6 and rows[0]["chance"] == 0.25
    assert rows[1]["belief_accuracy"] == round((1.8 / 3 + 1.2 / 2) / 2, 4)
    assert np.isnan(rows[2]["belief_accuracy"]) and rows[2]["scored"] == 2  # one seed has no step 3
    md = adaptation.within_markdown(rows).splitlines()
    assert md[2] == "| co-players | algorithm | step 1 | step 2 | step 3 |"
    assert md[4].startswith("| stag | HOP | 0.28 [") and "(chance 0.25)" in md[4]


def test_pursuit_rows_only_where_the_target_is_known():
    """The pursued-target mass enters the curve and the within-episode tables for scripted kinds
    (scored steps in every seed) and stays empty for learned ones (no scored step)."""
    res = _results()
    a = res["HOP"]["adapt"]
    a["pursuit_accuracy"] = a["belief_accuracy"] + 0.1
    a["pursuit_steps"] = np.array([[[5.0] * 3, [0.0] * 3]] * 2)  # stag known, pop:ppo not
    rows = adaptation.curve_rows(res, ("stag", "pop:ppo"))
    hop = {(r["coplayers"], r["episode"]): r for r in rows if r["algorithm"] == "HOP"}
    assert hop[("stag", 1)]["pursuit_accuracy"] == round((0.0 + 6 / 20) / 2 + 0.1, 4)
    assert hop[("pop:ppo", 1)]["pursuit_accuracy"] == ""
    md = adaptation.curve_markdown(rows, "t")
    assert md.count("pursuit accuracy") == 1 and "| stag | HOP | pursuit accuracy | 0.25 [" in md
    # within the episode: [S=2, kinds=2, K=1, T=3]
    ones = np.ones((2, 2, 1, 3))
    known = ones * np.array([1.0, 0.0])[None, :, None, None]
    a.update(belief_acc_sum_t=ones / 2, belief_steps_t=ones, belief_chance_sum_t=ones / 4,
             pursuit_acc_sum_t=known * 0.8, pursuit_steps_t=known, pursuit_chance_sum_t=known / 3)
    within = adaptation.within_rows(res, ("stag", "pop:ppo"))
    stag = [r for r in within if r["coplayers"] == "stag"]
    assert all(r["pursuit_accuracy"] == 0.8 and r["pursuit_scored"] == 2 for r in stag)
    assert all(np.isnan(r["pursuit_accuracy"]) for r in within if r["coplayers"] == "pop:ppo")
    tables = adaptation.within_markdown(within).split("\n\n")
    assert len(tables) == 4 and "pursued target" in tables[2]  # title, table, title, table
    assert tables[3].splitlines()[2:] == ["| stag | HOP | 0.80 [0.80, 0.80] (chance 0.33) | "
                                          "0.80 [0.80, 0.80] (chance 0.33) | 0.80 [0.80, 0.80] (chance 0.33) |"]


def _fake_hop_adaptation(calls: list):
    """hop_adaptation's stand-in: episodes of uniform noise on the key, plus 0.25 per episode
    when inter-OM carries over; records (protocol or self-play, carry) per call."""
    import jax
    import jax.numpy as jnp

    def fake(trainer, episodes, num_envs, num_focal=1, coplayers=None, with_episodes=False,
             inter_om_decay=None, carry=True):
        calls.append(("self-play" if coplayers is None else "protocol", carry))

        def fn(key, params, kind):
            noise = jax.random.uniform(key, (episodes,))
            gain = 0.25 * jnp.arange(episodes) if carry else jnp.zeros(episodes)
            lead = jax.tree.leaves(params)[0].ravel()[0] * 0  # params of any shape: a trained run's
            return {"focal_return": noise + gain + lead + kind, "belief_accuracy": noise / 2 + gain / 10,
                    "welfare": noise}
        return fn
    return fake


def test_adaptation_table_runs_the_control_on_hops_seeds_and_keys(tmp_path, monkeypatch, capsys):
    """adaptation_table's wiring, with HOP's training and episodes stubbed: the control row
    (``adapt_no_carry``) evaluates the same trained seeds on the same keys as HOP (same first
    episode), is not run in self-play, and carry.csv gives HOP minus it (here exactly the gain
    the stub adds per episode when it carries over); off, or with K = 1, there is no control."""
    import csv
    import dataclasses
    import types

    import jax
    import jax.numpy as jnp

    from tests.conftest import TINY_HOP

    calls = []
    monkeypatch.setattr(adaptation, "hop_adaptation", _fake_hop_adaptation(calls))
    monkeypatch.setattr(adaptation, "hop_agents", lambda cfg, seeds, run: (
        types.SimpleNamespace(cfg=cfg), [jnp.float32(s) for s in range(seeds)], "stub"))
    cfg = dataclasses.replace(TINY_HOP, adapt_no_carry=True)
    out = adaptation.adaptation_table(cfg, {}, seeds=3, episodes=4, num_envs=2, out=tmp_path / "a")
    res, kinds = out["results"], len(adaptation.COPLAYERS["stag_hunt"])
    assert calls == [("protocol", True), ("self-play", True), ("protocol", False)]
    hop, ctl = res["HOP"]["adapt"]["focal_return"], res[adaptation.NO_CARRY]["adapt"]["focal_return"]
    assert hop.shape == ctl.shape == (3, kinds, 4) and "self_play" not in res[adaptation.NO_CARRY]
    np.testing.assert_array_equal(hop[..., 0], ctl[..., 0])  # same seeds, same keys
    np.testing.assert_allclose(hop - ctl, np.broadcast_to(0.25 * np.arange(4), hop.shape), atol=1e-6)
    rows = list(csv.DictReader(open(tmp_path / "a" / "carry.csv")))
    assert len(rows) == kinds and (tmp_path / "a" / "carry.md").is_file()
    for r in rows:
        for e in ("", "_lo", "_hi"):
            assert abs(float(r["focal_return_paired_slope" + e]) - 0.25) < 1e-4
        assert abs(float(r["focal_return_control_slope"])) < 0.2  # uniform noise only, no gain
    assert "HOP no carry" not in out["table"].split("self-play")[1]  # no self-play row for the control

    calls.clear()
    off = adaptation.adaptation_table(dataclasses.replace(cfg, adapt_no_carry=False), {}, seeds=2, episodes=4,
                                      num_envs=2)
    assert adaptation.NO_CARRY not in off["results"] and off["carry"] == [] and ("protocol", False) not in calls
    one = adaptation.adaptation_table(cfg, {}, seeds=2, episodes=1, num_envs=2)
    assert adaptation.NO_CARRY not in one["results"] and one["carry"] == []
    assert "needs K >= 2 episodes" in capsys.readouterr().out


def test_a_trained_runs_evaluation_keys_follow_set(tmp_path, monkeypatch):
    """``hopjax eval RUN --set adapt_no_carry=true --set adapt_inter_om_decay=0.5`` on a run
    trained without them: the restored checkpoint is evaluated with both rows (HOP's episodes
    stubbed); a config that differs from the checkpoint's in a trained key is refused."""
    import dataclasses

    import jax

    from hopjax.algos.hop.trainer import HOPTrainer
    from hopjax.config import ConfigError, to_dict
    from hopjax.runtime import checkpoint
    from tests.conftest import TINY_HOP

    assert not TINY_HOP.adapt_no_carry and TINY_HOP.adapt_inter_om_decay is None
    state = HOPTrainer(TINY_HOP).init(jax.random.PRNGKey(0))
    run = tmp_path / "hop_run"
    checkpoint.save(run / "checkpoints", state, {"update": 1, "chunk": 1, "env_steps": 1, "algo": "hop",
                                                  "config": to_dict(TINY_HOP)})
    cfg = adaptation.hop_config(None, ["adapt_no_carry=true", "adapt_inter_om_decay=0.5"], run)
    calls = []
    monkeypatch.setattr(adaptation, "hop_adaptation", _fake_hop_adaptation(calls))
    out = adaptation.adaptation_table(cfg, {}, seeds=2, episodes=3, num_envs=2, hop_run=run)
    assert list(out["results"]) == ["HOP", "HOP decay=0.5", adaptation.NO_CARRY]
    assert ("protocol", False) in calls and len(out["carry"]) == len(adaptation.COPLAYERS["stag_hunt"])
    with pytest.raises(ConfigError, match="trained with another config than the one given .*lr: 0.003 -> 1.0"):
        adaptation.hop_agents(dataclasses.replace(cfg, lr=1.0), 1, run)
    with pytest.raises(ConfigError, match="--set env_kwargs.max_steps: a trained HOP run's config"):
        adaptation.hop_config(None, ["adapt_no_carry=true", "env_kwargs.max_steps=5"], run)

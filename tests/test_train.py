"""End-to-end PPO training: compiles once, deterministic, resumable bit for bit, learns."""

import csv
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax import experiment
from hopjax.algos.ppo import PPOConfig
from hopjax.config import ConfigError
from hopjax.rollout import Rollout
from hopjax.train import Trainer, make_train, scripted_policy

from tests.conftest import TINY


@pytest.fixture(scope="module")
def trainer(tiny_trainer):
    return tiny_trainer


def run_chunks(trainer, n, seed=0, aot=False):
    """``n`` chunks from ``init(PRNGKey(seed))`` through ``trainer.chunk`` (jit) or, with
    ``aot``, through ``trainer.compiled_chunk`` (the one ``experiment.train`` runs)."""
    r = trainer.init(jax.random.PRNGKey(seed))
    chunk = trainer.compiled_chunk(r) if aot else trainer.chunk
    out = []
    for _ in range(n):
        r, m = chunk(r)
        out.append(jax.device_get(m))
    return r, {k: np.concatenate([o[k] for o in out]) for k in out[0]}


def test_chunks_compile_once_and_are_deterministic(trainer):
    _, m1 = run_chunks(trainer, 3)
    _, m2 = run_chunks(trainer, 3)
    assert trainer.chunk._cache_size() == 1
    for k in m1:
        np.testing.assert_array_equal(m1[k], m2[k], err_msg=k)
    assert m1["episode_return"].shape == (6, 4)
    assert m1["goals_per_episode"].shape == (6, 5)
    # the rollout and the first replayed minibatch see the same policy: ratio exactly 1
    np.testing.assert_array_equal(m1["first_ratio"], 1.0)
    assert np.all(np.isfinite(m1["loss"]))


def test_recurrent_segments_ratio_is_exactly_one(tiny_gru_trainer):
    """GRU + fixed-length segments across episode boundaries (auto-reset): the hidden state
    resets on replay exactly where it reset in the rollout."""
    _, m = run_chunks(tiny_gru_trainer, 2, aot=True)
    np.testing.assert_array_equal(m["first_ratio"], 1.0)
    assert m["episodes"].sum() > 0  # segments of 7 steps in 10-step episodes cross boundaries


def test_resume_is_bit_identical(tmp_path, trainer):
    kw = dict(progress=False, trainer=trainer)
    full = experiment.train(TINY, tmp_path / "a", plot=False, **kw)
    assert full.stopped is None and len(full.rows) == 8
    part = experiment.train(TINY, tmp_path / "b", plot=False, max_chunks=2, **kw)
    assert len(part.rows) == 4
    rest = experiment.train(TINY, tmp_path / "b", resume=tmp_path / "b" / "tiny", plot=True, **kw)
    rows = experiment.read_csv(tmp_path / "b" / "tiny" / "metrics.csv")
    assert len(rows) == 8
    raw = lambda run: [r["update"] for r in csv.DictReader((tmp_path / run / "tiny" / "metrics.csv").open())]
    assert raw("b") == raw("a")  # the rows kept on resume are not rewritten ("4", not "4.0")
    for a, b in zip(full.rows, rows):
        for k in a:
            if k != "sps":
                assert a[k] == b[k], (k, a[k], b[k])
    jax.tree.map(np.testing.assert_array_equal, full.runner.params, rest.runner.params)
    assert (tmp_path / "b" / "tiny" / "learning_curves.png").stat().st_size > 1000


def test_vmapped_sweep_gives_per_seed_curves():
    cfg = dataclasses.replace(TINY, total_steps=8 * 10 * 4)
    train = make_train(cfg)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    _, m = jax.jit(jax.vmap(train))(keys)
    assert m["mean_return"].shape == (2, 4)
    assert m["episode_return"].shape == (2, 4, 4)
    assert not np.array_equal(m["mean_return"][0], m["mean_return"][1])
    _, m0 = jax.jit(train)(keys[0])
    np.testing.assert_allclose(m["mean_return"][0], m0["mean_return"], rtol=1e-4, atol=1e-4)


def test_scripted_coplayers_and_bad_seats(tiny_scripted_trainer):
    tr = tiny_scripted_trainer
    np.testing.assert_array_equal(np.asarray(tr.rollout.learner_mask), [True, False, False, False])
    with pytest.raises(ConfigError, match="agents"):
        Trainer(dataclasses.replace(TINY, agents=("learner", "stagg", "hare", "random")))
    with pytest.raises(ConfigError, match="agents"):
        Trainer(dataclasses.replace(TINY, agents=("learner", "stag")))


def random_baseline(trainer, episodes=256):
    """Mean return per agent when every seat plays uniformly random valid actions."""
    fn = scripted_policy("stag_hunt", "random")
    ro = Rollout(trainer.env, trainer.env_params, trainer.policy, episodes, 0, {i: fn for i in range(4)})
    params = trainer.policy.init(jax.random.PRNGKey(0))
    _, _, stats = jax.jit(ro.run)(jax.random.PRNGKey(1), params, ro.reset(jax.random.PRNGKey(2)))
    return float(stats["returns_sum"].mean() / stats["episodes"])


def test_ppo_self_play_beats_random():
    cfg = dataclasses.replace(TINY, num_envs=32, total_steps=32 * 10 * 60, chunk_updates=10)
    tr = Trainer(cfg)
    baseline = random_baseline(tr)
    _, m = jax.jit(tr.train)(jax.random.PRNGKey(0))
    final = float(np.mean(m["mean_return"][-10:]))
    assert baseline < 0.5
    assert final > 2.0 * baseline, (final, baseline)

"""End-to-end PPO training: compiles once, deterministic, resumable bit for bit, learns."""

import csv
import dataclasses
import shlex

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

from hopjax.runtime import experiment
from hopjax.algos.ppo import PPOConfig
from hopjax.algos.ppo.config import MeshConfig
from hopjax.config import ConfigError, to_dict
from hopjax.loop import Loop
from hopjax.rollout import Rollout
from hopjax.algos.ppo.trainer import Trainer, make_train, scripted_policy

from tests.conftest import TINY, loop_of


@pytest.fixture(scope="module")
def trainer(tiny_trainer):
    return tiny_trainer


def run_chunks(trainer, n, seed=0, aot=False):
    """``n`` chunks from ``init(PRNGKey(seed))`` through the trainer's ``Loop.chunk`` (jit) or,
    with ``aot``, through ``Loop.compiled_chunk`` (the one ``experiment.train`` runs)."""
    r = trainer.init(jax.random.PRNGKey(seed))
    chunk = loop_of(trainer).compiled_chunk(r) if aot else loop_of(trainer).chunk
    out = []
    for _ in range(n):
        r, m = chunk(r)
        out.append(jax.device_get(m))
    return r, {k: np.concatenate([o[k] for o in out]) for k in out[0]}


def test_chunks_compile_once_and_are_deterministic(trainer):
    _, m1 = run_chunks(trainer, 3)
    _, m2 = run_chunks(trainer, 3)
    assert loop_of(trainer).chunk._cache_size() == 1
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
    kw = dict(progress=False, loop=loop_of(trainer))
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
    _, m = jax.jit(Loop(tr).train)(jax.random.PRNGKey(0))
    final = float(np.mean(m["mean_return"][-10:]))
    assert baseline < 0.5
    assert final > 2.0 * baseline, (final, baseline)


# -- run directories never lose data (issue 12) ---------------------------------------------
def test_new_run_into_a_finished_run_is_refused_or_moved_aside(tmp_path, trainer, capsys):
    kw = dict(progress=False, plot=False, loop=loop_of(trainer))
    first = experiment.train(TINY, tmp_path, **kw)
    run = tmp_path / "tiny"
    before = (run / "metrics.csv").read_bytes()
    with pytest.raises(experiment.rundir.RunDirError, match="already holds a run"):
        experiment.train(TINY, tmp_path, max_chunks=1, **kw)
    assert (run / "metrics.csv").read_bytes() == before
    assert first.last_checkpoint.is_dir()
    capsys.readouterr()
    again = experiment.train(TINY, tmp_path, max_chunks=1, overwrite=True, **kw)
    (aside,) = tmp_path.glob("tiny.old-*")
    assert str(aside) in capsys.readouterr().out
    assert (aside / "metrics.csv").read_bytes() == before
    assert sorted(p.name for p in (aside / "checkpoints").glob("update_*")) == [
        "update_00000004", "update_00000006", "update_00000008"]
    # the new run's checkpoint exists, is LATEST, and resumes
    assert again.last_checkpoint == run / "checkpoints" / "update_00000002" and again.last_checkpoint.is_dir()
    assert (run / "checkpoints" / "LATEST").read_text() == "update_00000002"
    assert len(experiment.read_csv(run / "metrics.csv")) == 2


def test_resume_from_an_older_checkpoint_keeps_what_it_replaces(tmp_path, trainer, capsys):
    kw = dict(progress=False, plot=False, loop=loop_of(trainer))
    full = experiment.train(TINY, tmp_path, **kw)
    run = tmp_path / "tiny"
    rest = experiment.train(TINY, tmp_path, resume=run / "checkpoints" / "update_00000004", **kw)
    out = capsys.readouterr().out
    (csv_aside,) = run.glob("metrics.before-resume-*.csv")
    assert str(csv_aside) in out and len(experiment.read_csv(csv_aside)) == 8
    assert {p.name.split(".")[0] for p in (run / "checkpoints").glob("*.replaced-*")} == {
        "update_00000006", "update_00000008"}
    jax.tree.map(np.testing.assert_array_equal, full.runner.params, rest.runner.params)


def test_printed_resume_command_continues_the_same_run(tmp_path, trainer, monkeypatch, capsys):
    """Ctrl-C through the CLI prints a command; run as printed, it continues in the same dir
    and ends where an uninterrupted run ends."""
    from hopjax.runtime import cli
    from tests.runtime.test_checkpoint import FaultyLoop

    made = []

    def build(cfg, algorithm, loop, seeds):  # the CLI's loop: the session's compiled one
        if loop is not None:  # the reference run below brings its own
            return loop
        assert dataclasses.replace(cfg, mesh=MeshConfig()) == TINY and algorithm is None and seeds is None, cfg
        made.append(cfg)
        return FaultyLoop(trainer, "interrupt") if len(made) == 1 else loop_of(trainer)

    monkeypatch.setattr(experiment, "_make_loop", build)
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(to_dict(TINY)))
    out = tmp_path / "elsewhere"
    rc = cli.main(["train", str(cfg_file), "--out", str(out), "--devices", "1", "--set", "ppo.lr=0.003",
                   "--no-progress"])
    assert rc == 130  # 128 + SIGINT, as a shell reports a Ctrl-C
    line = [l for l in capsys.readouterr().out.splitlines() if l.startswith("resume with: ")][0]
    argv = shlex.split(line[len("resume with: "):])
    assert argv[0] == "hopjax" and "--overwrite" not in argv
    assert argv[argv.index("--out") + 1] == str(out) and argv[argv.index("--resume") + 1] == str(out / "tiny")
    assert argv[argv.index("--devices") + 1] == "1" and argv[argv.index("--set") + 1] == "ppo.lr=0.003"
    monkeypatch.chdir(tmp_path)  # a command that forgot --out would write ./runs here
    assert cli.main(argv[1:]) == 0
    assert not (tmp_path / "runs").exists()
    assert "resumed from" in capsys.readouterr().out
    rows = experiment.read_csv(out / "tiny" / "metrics.csv")
    ref = experiment.train(TINY, tmp_path / "ref", progress=False, plot=False, loop=loop_of(trainer))
    assert [r["update"] for r in rows] == list(range(1, 9))
    for a, b in zip(ref.rows, rows):
        assert {k: v for k, v in a.items() if k != "sps"} == {k: v for k, v in b.items() if k != "sps"}


def test_total_steps_rounded_to_whole_chunks_is_said_once(tmp_path, trainer, capsys):
    """total_steps = 7 updates' worth runs 8 (whole chunks of 2): one line says so, and the
    metrics end at those env steps; a total_steps that runs as given says nothing."""
    cfg = dataclasses.replace(TINY, total_steps=7 * trainer.steps_per_update)
    ref = Trainer(cfg)  # what the config's own trainer runs (the shared loop's is the same)
    assert (ref.num_updates, ref.steps_per_update) == (trainer.num_updates, trainer.steps_per_update) == (8, 80)
    experiment.train(cfg, tmp_path, progress=False, plot=False, loop=loop_of(trainer))
    said = lambda: [l for l in capsys.readouterr().out.splitlines() if "rounds to whole chunks" in l]
    assert said() == ["total_steps 560 rounds to whole chunks: 8 updates (4 chunks of chunk_updates 2) "
                     "x 80 env steps = 640 env steps"]
    assert experiment.read_csv(tmp_path / "tiny" / "metrics.csv")[-1]["env_steps"] == 640
    experiment.train(TINY, tmp_path / "exact", progress=False, plot=False, loop=loop_of(trainer), max_chunks=1)
    assert said() == []


def test_resuming_a_complete_run_elsewhere_writes_nothing(tmp_path, trainer, capsys):
    """A finished run resumed into another --out: it says so and leaves that dir without a
    config.yaml (which would refuse a later run there), and names no metrics file it lacks."""
    done = experiment.train(TINY, tmp_path / "a", progress=False, plot=False, loop=loop_of(trainer))
    capsys.readouterr()
    again = experiment.train(TINY, tmp_path / "b", resume=done.run_dir, progress=False, plot=False,
                             loop=loop_of(trainer))
    out = capsys.readouterr().out
    assert "the run is already complete (4 of 4 chunks): nothing to train" in out and again.stopped is None
    assert "metrics:" not in out and f"checkpoint: {done.last_checkpoint}" in out
    assert not (tmp_path / "b" / "tiny" / "config.yaml").exists()
    experiment.rundir.check(tmp_path / "b" / "tiny", None, False)  # a new run may go there


def test_eval_of_a_ppo_run_says_what_it_measured(tmp_path, trainer, capsys):
    """``hopjax eval RUN``: a line naming the checkpoint, episodes, seed and columns, then one
    row per co-player kind; welfare is the sum over the 4 seats (focal + 3 x others)."""
    from hopjax.algos.ppo.trainer import scripted_names
    from hopjax.runtime import cli

    done = experiment.train(TINY, tmp_path, progress=False, plot=False, loop=loop_of(trainer))
    capsys.readouterr()
    assert cli.main(["eval", str(done.run_dir), "--episodes", "8", "--seed", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{done.last_checkpoint} (update 8, 640 env steps): 8 episodes per row, seed 3; ")
    assert out[1].split() == ["co-players", "focal", "others", "welfare"]
    rows = [line.split() for line in out[2:]]
    assert [r[0] for r in rows] == ["self-play", *scripted_names(TINY.env)]
    for _, focal, others, welfare in rows:
        assert abs(float(focal) + 3 * float(others) - float(welfare)) < 2e-3  # printed to 3 decimals

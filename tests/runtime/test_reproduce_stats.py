"""The pieces of ``hopjax reproduce`` that need no training: t-intervals and verdicts, threshold
crossings, and the figures' smoothing, bands and wall-clock axis, against hand-computed values."""

import numpy as np
import pytest

from hopjax.runtime import plots
from hopjax.runtime.reproduce import stats
from hopjax.runtime.reproduce.hop_plus import crossings


def test_t_interval_matches_the_textbook_formula():
    x = [1.0, 2.0, 3.0, 4.0]  # mean 2.5, sd 1.2910, t_{0.975, 3} = 3.182446
    i = stats.t_interval(x)
    half = 3.182446305 * np.std(x, ddof=1) / 2.0
    assert (i.mean, i.n) == (2.5, 4)
    assert i.lo == pytest.approx(2.5 - half, abs=1e-8) and i.hi == pytest.approx(2.5 + half, abs=1e-8)
    one = stats.t_interval([0.7])
    assert (one.lo, one.hi, one.n) == (0.7, 0.7, 1) and "no interval" in str(one)
    with pytest.raises(ValueError):
        stats.t_interval([1.0, float("nan")])


def test_verdicts_need_separated_intervals():
    a, b = stats.Interval(1.0, 0.9, 1.1, 4), stats.Interval(1.3, 1.2, 1.4, 4)
    assert stats.better(b, a) == stats.HOLDS and stats.better(a, b) == stats.FAILS
    overlap = stats.Interval(1.05, 1.0, 1.2, 4)
    assert stats.better(overlap, a) == stats.UNSURE
    assert stats.better(b, stats.Interval(0.0, 0.0, 0.0, 1)) == stats.UNSURE  # one seed: never separates
    assert stats.at_least(stats.Interval(2.85, 2.81, 2.89, 3), 2.8) == stats.HOLDS
    assert stats.at_least(stats.Interval(2.7, 2.6, 2.79, 3), 2.8) == stats.FAILS
    assert stats.at_least(stats.Interval(2.8, 2.7, 2.9, 3), 2.8) == stats.UNSURE
    np.testing.assert_allclose(stats.final(np.arange(40.0).reshape(2, 20)), [18.5, 38.5])  # last 2 of 20


def test_crossings_are_the_first_update_at_or_above_each_threshold():
    ret = [0.5, 1.6, 1.4, 2.1, 2.6, 2.79, 2.8]
    rows = [{"mean_return": r, "env_steps": 100.0 * (u + 1)} for u, r in enumerate(ret)]
    wall = np.arange(1.0, 8.0) * 10
    got = {c["threshold"]: (c["env_steps"], c["wall_s"]) for c in crossings(rows, wall)}
    assert got == {1.5: (200.0, 20.0), 2.0: (400.0, 40.0), 2.5: (500.0, 50.0), 2.8: (700.0, 70.0)}
    never = crossings(rows[:3], wall[:3])
    assert np.isnan(never[-1]["env_steps"]) and np.isnan(never[-1]["wall_s"])


def test_smoothing_band_and_wall_time():
    np.testing.assert_allclose(plots.smooth([1.0, 3.0, 5.0, 7.0], 2), [1.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(plots.smooth(np.array([[2.0, 4.0, 6.0]]), 10), [[2.0, 3.0, 4.0]])
    mu, lo, hi = plots.band(np.array([[1.0, 2.0], [3.0, 2.0]]))
    half = 12.7062047 * np.sqrt(2.0) / np.sqrt(2.0)  # t_{0.975, 1} * sd / sqrt(2), sd = sqrt(2)
    np.testing.assert_allclose(mu, [2.0, 2.0])
    np.testing.assert_allclose(hi - mu, [half, 0.0], rtol=1e-6)
    # 100 env steps per row at 50, then 100 steps/s; a 2-seed sweep's sps counts both seeds
    np.testing.assert_allclose(plots.wall_seconds([100, 200, 300], [50, 50, 100]), [2.0, 4.0, 5.0])
    np.testing.assert_allclose(plots.wall_seconds([100, 200], [50, 100], seeds=2), [4.0, 6.0])


def test_paper_figures_draw(tmp_path):
    rng = np.random.default_rng(0)
    rows = [[{"env_steps": 100.0 * (u + 1), "sps": 1000.0, "mean_return": float(u) / 10 + rng.normal() * 0.1,
              "hunts/stag_0": 0.5, "hunts/hare_0": 0.2, "hunts/hare_1": 0.3, "goals/stag_0": 1.0,
              "goals/hare_0": 0.2, "goals/hare_1": 0.3} for u in range(30)] for _ in range(3)]
    p = plots.plot_seeds_figure(rows, tmp_path / "f.png", "t", thresholds=(1.5, 2.8), optimum=3.0)
    q = plots.plot_arms(np.arange(30.0), {"A": rng.normal(size=(3, 30)), "B": rng.normal(size=(3, 30))},
                        tmp_path / "a.png", "return")
    r = plots.plot_episode_curves({"HOP": rng.normal(size=(3, 5))}, tmp_path / "e.png", "focal return")
    assert all(f.stat().st_size > 10_000 for f in (p, q, r))


def test_tensorboard_events_hold_the_csv_rows(tmp_path):
    pytest.importorskip("tensorboardX")
    from tensorboardX.proto.event_pb2 import Event
    from hopjax.runtime import tensorboard

    rows = [{"update": 1.0, "env_steps": 80.0, "mean_return": 0.5}, {"update": 2.0, "env_steps": 160.0, "mean_return": 0.75}]
    def scalars(d):
        got = []
        for f in d.iterdir():  # TFRecord: u64 length, u32 crc, the Event proto, u32 crc
            data = f.read_bytes()
            while data:
                n = int.from_bytes(data[:8], "little")
                ev = Event.FromString(data[12:12 + n])
                data = data[12 + n + 4:]
                got += [(ev.step, v.tag, v.simple_value) for v in ev.summary.value]
        return got

    d = tensorboard.write_rows(tmp_path / "metrics_seed1.csv", rows[:1])
    assert d == tmp_path / "tensorboard" / "seed1"
    assert tensorboard.event_dir(tmp_path / "metrics.csv") == tmp_path / "tensorboard"
    tensorboard.write_rows(tmp_path / "metrics_seed1.csv", rows[1:])  # the same writer, appending
    aside = tmp_path / "aside"
    d.rename(aside)  # --overwrite moved the run away: the next run's events go to a new file
    tensorboard.write_rows(tmp_path / "metrics_seed1.csv", rows[:1])
    tensorboard.close_all()
    assert scalars(aside) == [(80, "mean_return", 0.5), (160, "mean_return", 0.75)]
    assert scalars(d) == [(80, "mean_return", 0.5)]

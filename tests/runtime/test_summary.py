"""The one line ``hopjax train`` ends with: what the last chunk shows was learned."""

import re

import numpy as np
import pytest

from hopjax.envs.params import SnowdriftParams, StagHuntParams
from hopjax.runtime import experiment
from hopjax.runtime.summary import learned_line
from tests.conftest import TINY, loop_of


def test_train_ends_with_what_the_last_chunk_learned(tmp_path, tiny_trainer, capsys):
    experiment.train(TINY, tmp_path, progress=False, plot=False, loop=loop_of(tiny_trainer))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    rows = experiment.read_csv(tmp_path / TINY.name / "metrics.csv")[-TINY.chunk_updates:]
    ret = np.mean([r["mean_return"] for r in rows])
    stag = np.mean([r["goals/stag_0"] for r in rows])
    hare = np.mean([sum(r[f"goals/hare_{i}"] for i in range(4)) for r in rows])
    stag_hunts = np.mean([r["hunts/stag_0"] for r in rows])
    hare_hunts = np.mean([sum(r[f"hunts/hare_{i}"] for i in range(4)) for r in rows])
    each = lambda agents, hunts: f" ({agents / hunts:.2f} agents each)" if hunts > 0 else ""
    expected = (f"learned (last {TINY.chunk_updates} updates): mean return per agent {ret:.2f} of 3.00 "
                f"(optimum); per episode: stag hunts {stag_hunts:.2f}{each(stag, stag_hunts)}, "
                f"hare hunts {hare_hunts:.2f}{each(hare, hare_hunts)}")
    assert last == expected
    # a group's capture counts once: never more captures than agents catching, and the one stag
    # (each of the 4 hares) is caught at most once per episode
    for r in rows:
        for g in ("stag_0", "hare_0", "hare_1", "hare_2", "hare_3"):
            assert r[f"hunts/{g}"] <= min(r[f"goals/{g}"], 1.0) + 1e-6


def test_learned_line_groups_goals_by_kind_over_the_last_rows():
    rows = [{"mean_return": 9.0, "goals/drift_0": 9.0, "goals/drift_1": 9.0},
            {"mean_return": 1.0, "goals/drift_0": 0.5, "goals/drift_1": 1.0},
            {"mean_return": 2.0, "goals/drift_0": 1.5, "goals/drift_1": 0.0}]
    line = learned_line(rows, 2, SnowdriftParams())
    assert line == ("learned (last 2 updates): mean return per agent 1.50 of 30.00 (optimum); "
                    "per episode: agents clearing a drift 1.50")
    assert learned_line(rows[:1], 5) == ("learned (last 1 updates): mean return per agent 9.00; "
                                         "per episode: agents clearing a drift 18.00")
    assert learned_line([], 5) == "learned: nothing (no update ran)"


def test_learned_line_counts_hunts_not_agents():
    """A stag caught by 3 agents once per episode: 1 stag hunt, 3 agents each."""
    rows = [{"mean_return": 2.0, "goals/stag_0": 3.0, "hunts/stag_0": 1.0,
             "goals/hare_0": 1.0, "hunts/hare_0": 1.0, "goals/hare_1": 0.0, "hunts/hare_1": 0.0}]
    assert learned_line(rows, 1, StagHuntParams()) == (
        "learned (last 1 updates): mean return per agent 2.00 of 3.00 (optimum); "
        "per episode: stag hunts 1.00 (3.00 agents each), hare hunts 1.00 (1.00 agents each)")
    rows = [{"mean_return": 0.0, "goals/drift_0": 0.0, "hunts/drift_0": 0.0}]
    assert learned_line(rows, 1).endswith("per episode: drifts cleared 0.00")


@pytest.mark.parametrize("kw, best", [
    ({}, 3.0),                                   # 2 share the stag (5 each), 2 take a hare
    ({"num_stags": 2}, 5.0),                     # two pairs, two stags
    ({"stag_min_hunters": 3}, 11 / 4),           # 3 share the stag, 1 hare
    ({"stag_min_hunters": 5}, 1.0),              # no stag can be taken: 4 hares
    ({"num_hares": 1, "stag_reward": 1.0}, 0.5), # a pair takes the stag (1), one the hare (1)
])
def test_stag_hunt_optimum(kw, best):
    assert StagHuntParams(**kw).best_mean_return == pytest.approx(best)


def test_snowdrift_optimum():
    assert SnowdriftParams().best_mean_return == pytest.approx(6 * (6.0 - 4.0 / 4))  # all 6 cleared
    assert SnowdriftParams(drift_reward=0.5).best_mean_return == 0.0  # a drift costs more than it gives

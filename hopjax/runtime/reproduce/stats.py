"""95 % t-intervals over seeds and the verdict of a claim (host-side, NumPy/SciPy only).

A claim "B beats A" *holds* only if the two 95 % intervals separate in the claimed direction,
*does not hold* if they separate the other way, and otherwise we *cannot tell* (our choice: the
plain, conservative reading of "the intervals separate"; with few seeds most comparisons end in
"cannot tell", which is the honest answer at that budget).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats as _st

HOLDS, FAILS, UNSURE = "holds", "does not hold", "cannot tell"


@dataclasses.dataclass(frozen=True)
class Interval:
    """Mean and 95 % t-interval ``[lo, hi]`` of ``n`` per-seed values (lo = hi = mean if n = 1:
    no spread can be estimated, so no comparison with it ever separates)."""

    mean: float
    lo: float
    hi: float
    n: int

    def __str__(self) -> str:
        if self.n < 2:
            return f"{self.mean:.3f} (1 seed, no interval)"
        return f"{self.mean:.3f} [{self.lo:.3f}, {self.hi:.3f}]"


def mean_interval(x, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x [S, ...] -> (mean, lo, hi) [...]: the t-interval of the mean over the leading seed
    axis, mean +/- t_{S-1} * sd / sqrt(S) (Student's t, sd with ddof=1); lo = hi = NaN for a
    single seed (no spread can be estimated)."""
    x = np.asarray(x, np.float64)
    mean = x.mean(0)
    if x.shape[0] < 2:
        nan = np.full_like(mean, np.nan)
        return mean, nan, nan
    half = _st.t.ppf(0.5 + confidence / 2, x.shape[0] - 1) * x.std(0, ddof=1) / np.sqrt(x.shape[0])
    return mean, mean - half, mean + half


def t_interval(values, confidence: float = 0.95) -> Interval:
    """values [S] (one number per seed, finite) -> :class:`Interval`: mean +/- t_{S-1} * sd / sqrt(S)
    (Student's t, sd with ddof=1). ValueError if there is no value or one is not finite."""
    x = np.asarray(values, np.float64).reshape(-1)
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"t_interval needs finite values, got {x.tolist()}")
    m, lo, hi = (float(v) for v in mean_interval(x, confidence))
    if x.size < 2:
        return Interval(m, m, m, 1)
    return Interval(m, lo, hi, int(x.size))


def better(b: Interval, a: Interval) -> str:
    """Verdict of the claim "b > a": holds / does not hold / cannot tell (see the module doc)."""
    if b.n < 2 or a.n < 2:
        return UNSURE
    if b.lo > a.hi:
        return HOLDS
    if b.hi < a.lo:
        return FAILS
    return UNSURE


def at_least(x: Interval, level: float) -> str:
    """Verdict of the claim "the mean reaches ``level``": holds if the whole interval is at or
    above it, does not hold if the whole interval is below, else cannot tell."""
    if x.n < 2:
        return UNSURE
    if x.lo >= level:
        return HOLDS
    if x.hi < level:
        return FAILS
    return UNSURE


def final(curves: np.ndarray, frac: float = 0.1) -> np.ndarray:
    """curves [S, U] -> [S]: each seed's mean over its last ``max(1, frac * U)`` updates (the
    final value that ``hopjax sweep`` prints)."""
    curves = np.asarray(curves, np.float64)
    k = max(1, int(curves.shape[1] * frac))
    return curves[:, -k:].mean(1)

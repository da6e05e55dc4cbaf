"""Agreement between predicted scores and MOS: SRCC, KRCC, PLCC (raw and after the VQEG logistic
mapping) and RMSE, as small pure functions of two 1-D sequences.

Every function takes ``(predictions, mos)``: equal-length sequences of finite numbers, at least
:data:`MIN_PAIRS` of them; anything else raises :class:`MetricError` saying what is wrong. A
correlation with a constant side is undefined and comes back as NaN; :func:`compute` gives every
metric at once with the reason for each NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

MIN_PAIRS = 3
"""Fewest (prediction, MOS) pairs a metric is computed on: with two, every correlation is +-1."""


MAX_EVALUATIONS = 2000
"""Function evaluations a logistic fit may take. A fit with a finite optimum converges in well under
a hundred; one whose optimum lies at infinity would otherwise run on for seconds per try."""


class MetricError(ValueError):
    """The inputs of a metric are not two equal-length sequences of finite numbers."""


def _pairs(predictions: Sequence[float], mos: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(predictions, dtype=np.float64).ravel()
    y = np.asarray(mos, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise MetricError(f"{x.size} predictions but {y.size} MOS values; they must pair up one to one.")
    if x.size < MIN_PAIRS:
        raise MetricError(f"{x.size} pairs; the metrics need at least {MIN_PAIRS}.")
    for label, values in (("prediction", x), ("MOS", y)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise MetricError(f"{label} {values[bad[0]]} at position {bad[0]} is not a finite number "
                              f"({bad.size} such values); drop failed images before computing metrics.")
    return x, y


def _constant(values: np.ndarray) -> bool:
    return bool(np.ptp(values) == 0)


def srcc(predictions: Sequence[float], mos: Sequence[float]) -> float:
    """Spearman rank-order correlation in [-1, 1] (ties get average ranks); NaN if a side is constant."""
    from scipy.stats import spearmanr

    x, y = _pairs(predictions, mos)
    if _constant(x) or _constant(y):
        return math.nan
    return float(spearmanr(x, y).statistic)


def krcc(predictions: Sequence[float], mos: Sequence[float]) -> float:
    """Kendall rank correlation (tau-b, which accounts for ties) in [-1, 1]; NaN if a side is constant."""
    from scipy.stats import kendalltau

    x, y = _pairs(predictions, mos)
    if _constant(x) or _constant(y):
        return math.nan
    return float(kendalltau(x, y).statistic)


def plcc(predictions: Sequence[float], mos: Sequence[float]) -> float:
    """Pearson linear correlation of the raw predictions, in [-1, 1]; NaN if a side is constant."""
    x, y = _pairs(predictions, mos)
    if _constant(x) or _constant(y):
        return math.nan
    return _pearson(x, y)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    # Centred, scaled float64 sums: exact for 1-D data and free of scipy's warnings on near-constant input.
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(np.clip((dx @ dy) / denominator, -1.0, 1.0)) if denominator > 0 else math.nan


def rmse(predictions: Sequence[float], mos: Sequence[float]) -> float:
    """Root-mean-square difference, in MOS units. Meaningful only when the predictions are on the
    MOS scale (a model trained on this scale, or predictions mapped by :func:`fit_logistic`)."""
    x, y = _pairs(predictions, mos)
    return float(np.sqrt(np.mean((x - y) ** 2)))


def logistic(x, beta1: float, beta2: float, beta3: float, beta4: float):
    """The VQEG 4-parameter logistic: ``beta2 + (beta1 - beta2) / (1 + exp(-(x - beta3) / |beta4|))``.

    beta1 and beta2 are the upper and lower asymptotes (swapped for a decreasing curve), beta3 the
    midpoint and |beta4| the width of the transition.
    """
    z = -(np.asarray(x, dtype=np.float64) - beta3) / max(abs(beta4), 1e-300)
    # exp overflows past ~709; the curve is flat there anyway.
    return beta2 + (beta1 - beta2) / (1.0 + np.exp(np.clip(z, -700.0, 700.0)))


def _logistic_jacobian(x, beta1, beta2, beta3, beta4):
    """(n, 4) partial derivatives of :func:`logistic`. Analytic, because finite differences scale
    their step with the parameter and stall when the midpoint starts at 0."""
    width = max(abs(beta4), 1e-300)
    s = 1.0 / (1.0 + np.exp(np.clip(-(x - beta3) / width, -700.0, 700.0)))  # the sigmoid, (n,)
    slope = (beta1 - beta2) * s * (1.0 - s)
    return np.stack([s, 1.0 - s, -slope / width, -slope * (x - beta3) / width**2 * np.sign(beta4)], axis=1)


def _fit(z: np.ndarray, y: np.ndarray, p0: list[float], options: dict) -> tuple[np.ndarray | None, str | None]:
    """curve_fit of :func:`logistic`: (beta, None), or (None, why it failed)."""
    from scipy.optimize import OptimizeWarning, curve_fit

    try:
        with warnings.catch_warnings():
            # The covariance estimate (unused) may be inestimable or overflow; the fit itself is fine.
            warnings.simplefilter("ignore", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            beta = curve_fit(logistic, z, y, p0=p0, jac=_logistic_jacobian, maxfev=MAX_EVALUATIONS, **options)[0]
    except (RuntimeError, ValueError, TypeError) as err:  # no convergence within maxfev / bad input
        return None, f"the logistic fit did not converge ({str(err).splitlines()[0]})"
    if not np.all(np.isfinite(beta)):
        return None, "the logistic fit gave non-finite parameters"
    return beta, None


@dataclass(frozen=True)
class LogisticFit:
    """A fitted mapping from predictions to the MOS scale.

    ``method`` is ``"logistic"`` (the VQEG curve with ``beta`` = (beta1..beta4)) or ``"linear"``,
    the fallback when no logistic fit converges (``beta`` = (slope, intercept)). ``reason`` says
    why a fallback (a bounded refit, or the linear map) was needed; None for a plain fit.
    """

    method: str
    beta: tuple[float, ...]
    reason: str | None = None

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.method == "logistic":
            return logistic(x, *self.beta)
        slope, intercept = self.beta
        return slope * x + intercept


def fit_logistic(predictions: Sequence[float], mos: Sequence[float]) -> LogisticFit:
    """Least-squares fit of :func:`logistic` mapping predictions to MOS.

    Start: asymptotes at the MOS extremes (ordered by the sign of the rank correlation, so
    decreasing relations fit too), midpoint at the mean prediction, width one standard deviation of
    the predictions (the right scale whatever the predictions' units). When the plain fit does not
    converge it is repeated with bounded asymptotes; when that fails too, or the curve is non-finite
    or flat, a linear least-squares fit is returned. ``reason`` says which of these happened.
    """
    from scipy.stats import spearmanr

    x, y = _pairs(predictions, mos)
    if _constant(x):
        return LogisticFit("linear", (0.0, float(y.mean())), "predictions are constant")
    if x.size <= 4:
        slope, intercept = np.polyfit(x, y, 1)
        return LogisticFit("linear", (float(slope), float(intercept)),
                           f"{x.size} points are too few to fit the 4-parameter logistic")
    # Fit on standardised predictions: the optimiser then sees the same scale whatever the
    # predictions' units (zero-shot scores span hundredths, trained ones the MOS range).
    centre, scale = float(x.mean()), float(x.std())
    z = (x - centre) / scale
    high, low = float(y.max()), float(y.min())
    rising = _constant(y) or spearmanr(x, y).statistic >= 0
    p0 = [high, low, 0.0, 1.0] if rising else [low, high, 0.0, 1.0]
    spread = high - low or 1.0
    # First the plain least-squares fit (the VQEG practice). When its optimum lies at infinity (a
    # convex or concave cloud that no finite S-curve fits best), fit again with the asymptotes kept
    # within two MOS ranges of the data and the midpoint within ten standard deviations.
    bounds = ([low - 2 * spread, low - 2 * spread, -10.0, 1e-3], [high + 2 * spread, high + 2 * spread, 10.0, 100.0])
    reason = None
    for attempt in ({}, {"bounds": bounds, "method": "trf"}):
        beta, problem = _fit(z, y, p0, attempt)
        if problem is None:
            b1, b2, b3, b4 = beta
            mapped = (float(b1), float(b2), centre + scale * float(b3), scale * float(b4))
            fitted = logistic(x, *mapped)
            if not np.all(np.isfinite(fitted)):
                problem = "the logistic fit gave non-finite values"
            elif _constant(fitted):
                problem = "the fitted logistic is flat over the predictions"
            else:
                note = None if not attempt else f"{reason}; refitted with bounded asymptotes"
                return LogisticFit("logistic", mapped, note)
        reason = reason or problem
    slope, intercept = np.polyfit(x, y, 1)
    return LogisticFit("linear", (float(slope), float(intercept)), reason)


def plcc_logistic(predictions: Sequence[float], mos: Sequence[float]) -> float:
    """Pearson correlation after mapping the predictions with :func:`fit_logistic` (the VQEG
    practice); NaN if a side is constant. The mapping follows the direction of the relation, so this
    is normally >= 0 even for predictions that fall as MOS rises: read the sign off :func:`srcc`."""
    x, y = _pairs(predictions, mos)
    if _constant(x) or _constant(y):
        return math.nan
    return _pearson(fit_logistic(x, y)(x), y)


@dataclass(frozen=True)
class Metrics:
    """Every metric of one evaluation. NaN values have their reason in ``notes`` (metric -> text).

    ``rmse`` compares raw predictions with MOS; ``rmse_logistic`` the logistic-mapped ones (in MOS
    units, the figure to quote for an untrained or differently scaled model).
    """

    n: int
    srcc: float
    krcc: float
    plcc: float
    plcc_logistic: float
    rmse: float
    rmse_logistic: float
    fit: LogisticFit | None
    notes: dict[str, str] = field(default_factory=dict)

    NAMES = ("srcc", "krcc", "plcc", "plcc_logistic", "rmse", "rmse_logistic")

    def values(self) -> dict[str, float | None]:
        """metric -> value, None for NaN (JSON has no NaN)."""
        return {k: (None if math.isnan(v) else v) for k, v in ((k, getattr(self, k)) for k in self.NAMES)}


def compute(predictions: Sequence[float], mos: Sequence[float]) -> Metrics:
    """All metrics with reasons for the undefined ones; never raises for constant or too few inputs
    (non-finite values still raise :class:`MetricError`)."""
    n = len(predictions)
    if n != len(mos):
        raise MetricError(f"{n} predictions but {len(mos)} MOS values; they must pair up one to one.")
    nan = math.nan
    if n < MIN_PAIRS:
        reason = "no image was scored" if n == 0 else f"only {n} scored image{'s' if n != 1 else ''}; " \
                 f"the metrics need at least {MIN_PAIRS}"
        return Metrics(n, nan, nan, nan, nan, nan, nan, None, {k: reason for k in Metrics.NAMES})
    x, y = _pairs(predictions, mos)
    notes = {}
    constant = "predictions are constant" if _constant(x) else ("MOS values are constant" if _constant(y) else None)
    if constant:
        notes.update({k: f"{constant}, so the correlation is undefined" for k in ("srcc", "krcc", "plcc", "plcc_logistic")})
    fit = fit_logistic(x, y)
    rank = srcc(x, y)
    if not constant and rank < 0:
        notes["plcc_logistic"] = ("predictions fall as MOS rises (SRCC < 0); the fitted mapping absorbs the sign, "
                                  "so PLCC after it measures only the strength of the relation")
    if fit.reason:
        notes["fit"] = fit.reason if fit.method == "logistic" else f"{fit.reason}; a linear fit maps the predictions instead"
    mapped = fit(x)
    return Metrics(n=int(x.size), srcc=rank, krcc=krcc(x, y), plcc=plcc(x, y),
                   plcc_logistic=nan if constant else _pearson(mapped, y),
                   rmse=rmse(x, y), rmse_logistic=rmse(mapped, y), fit=fit, notes=notes)


__all__ = ["MIN_PAIRS", "MetricError", "srcc", "krcc", "plcc", "plcc_logistic", "rmse", "logistic", "LogisticFit",
           "fit_logistic", "Metrics", "compute"]

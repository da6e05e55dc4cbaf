"""Metrics against scipy's reference values and known cases."""

import math

import numpy as np
import pytest
from scipy import stats

from genziqa.core.evaluation import (
    MetricError, compute, fit_logistic, krcc, logistic, plcc, plcc_logistic, rmse, srcc,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=200)
Y = 3.0 + 1.5 / (1.0 + np.exp(-(X - 0.3) / 0.5)) + RNG.normal(scale=0.1, size=200)


def test_match_scipy():
    assert srcc(X, Y) == pytest.approx(stats.spearmanr(X, Y).statistic, abs=1e-12)
    assert krcc(X, Y) == pytest.approx(stats.kendalltau(X, Y).statistic, abs=1e-12)
    assert plcc(X, Y) == pytest.approx(stats.pearsonr(X, Y).statistic, abs=1e-12)
    assert rmse(X, Y) == pytest.approx(math.sqrt(np.mean((X - Y) ** 2)))


def test_ties_use_tau_b_and_average_ranks():
    x, y = [1, 2, 2, 3, 4, 4], [1, 3, 2, 4, 5, 5]
    assert krcc(x, y) == pytest.approx(stats.kendalltau(x, y, variant="b").statistic)
    assert srcc(x, y) == pytest.approx(stats.pearsonr(stats.rankdata(x), stats.rankdata(y)).statistic)


def test_perfect_monotone_and_reversed():
    x = np.linspace(0, 1, 30)
    y = np.exp(3 * x)  # monotone, not linear, and no finite logistic is its best fit
    assert srcc(x, y) == pytest.approx(1.0) and krcc(x, y) == pytest.approx(1.0)
    assert srcc(-x, y) == pytest.approx(-1.0) and krcc(-x, y) == pytest.approx(-1.0)
    assert plcc(x, y) < 0.94  # the raw PLCC sees the curvature
    # The logistic (refitted with bounded asymptotes here) straightens it out; a decreasing curve is
    # fitted as such, so after the mapping the correlation is positive either way.
    assert plcc_logistic(x, y) > 0.999 and plcc_logistic(-x, y) > 0.999
    assert "bounded" in fit_logistic(x, y).reason
    assert "SRCC < 0" in compute(-x, y).notes["plcc_logistic"] and "plcc_logistic" not in compute(x, y).notes
    line = 2.0 * x + 1.0
    assert plcc(x, line) == pytest.approx(1.0) and plcc(-x, line) == pytest.approx(-1.0)
    assert rmse(line, line) == 0.0


@pytest.mark.parametrize("scale, shift", [(1.0, 0.0), (1e-3, 5.0), (200.0, -40.0)])
def test_logistic_fit_recovers_a_known_curve_in_any_units(scale, shift):
    beta = (80.0, 20.0, 0.4, 0.6)
    x = np.linspace(-3, 3, 60)
    y = logistic(x, *beta)
    fit = fit_logistic(x * scale + shift, y)  # the same curve, with predictions in other units
    assert fit.method == "logistic" and fit.reason is None
    b1, b2, b3, b4 = fit.beta
    assert (b1, b2) == pytest.approx(beta[:2], rel=1e-6)
    assert b3 == pytest.approx(beta[2] * scale + shift, rel=1e-6, abs=1e-9)
    assert abs(b4) == pytest.approx(beta[3] * scale, rel=1e-6)
    assert np.allclose(fit(x * scale + shift), y)


def test_logistic_formula():
    assert logistic(0.5, 4.0, 1.0, 0.5, 2.0) == pytest.approx(2.5)  # the midpoint
    assert logistic(1e6, 4.0, 1.0, 0.0, 1.0) == pytest.approx(4.0)  # no overflow far out
    assert logistic(-1e6, 4.0, 1.0, 0.0, -1.0) == pytest.approx(1.0)  # |beta4|


def test_constant_predictions_give_nan_with_reason():
    m = compute([2.0] * 5, [1, 2, 3, 4, 5])
    assert all(math.isnan(getattr(m, k)) for k in ("srcc", "krcc", "plcc", "plcc_logistic"))
    assert "predictions are constant" in m.notes["srcc"]
    assert m.values()["srcc"] is None
    assert m.fit.method == "linear" and "constant" in m.notes["fit"]
    assert m.rmse_logistic == pytest.approx(math.sqrt(2.0))  # the mean of the MOS is the best flat guess
    assert math.isnan(srcc([1, 2, 3], [4, 4, 4]))


def test_fallback_when_the_fit_fails(monkeypatch):
    import scipy.optimize

    def fail(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found: Number of calls to function has reached maxfev = 2000.")

    monkeypatch.setattr(scipy.optimize, "curve_fit", fail)
    fit = fit_logistic(X, Y)
    assert fit.method == "linear" and "did not converge" in fit.reason
    m = compute(X, Y)
    assert m.plcc_logistic == pytest.approx(abs(plcc(X, Y)))
    assert "linear fit" in m.notes["fit"]


def test_bad_inputs_are_explained():
    with pytest.raises(MetricError, match="3 predictions but 4 MOS"):
        srcc([1, 2, 3], [1, 2, 3, 4])
    with pytest.raises(MetricError, match="at least 3"):
        plcc([1, 2], [1, 2])
    with pytest.raises(MetricError, match="prediction nan at position 1"):
        krcc([1, float("nan"), 3], [1, 2, 3])
    with pytest.raises(MetricError, match="MOS inf at position 2"):
        rmse([1, 2, 3], [1, 2, float("inf")])
    small = compute([1.0, 2.0, 4.0, 3.0], [1.0, 2.0, 3.0, 5.0])  # fewer points than a logistic needs
    assert small.fit.method == "linear" and "too few" in small.notes["fit"] and small.srcc == pytest.approx(0.8)
    assert compute([1.0, 2.0, 3.0], [2.0, 1.0, 3.0]).plcc_logistic == pytest.approx(0.5)
    few = compute([1.0, 2.0], [1.0, 2.0])
    assert few.n == 2 and math.isnan(few.srcc) and "only 2 scored images" in few.notes["srcc"]
    assert "no image was scored" in compute([], []).notes["plcc"]

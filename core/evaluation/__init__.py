"""Correlation metrics and evaluation reports; no torch here.

:mod:`.metrics`: srcc, krcc, plcc, plcc_logistic, rmse and the VQEG logistic fit as pure
functions. :func:`evaluate`: score a data set's rows with a scorer and write report.json,
predictions.csv and scatter.png.
"""

from .metrics import (
    MIN_PAIRS, LogisticFit, MetricError, Metrics, compute, fit_logistic, krcc, logistic, plcc, plcc_logistic, rmse, srcc,
)
from .report import OUTPUTS, Evaluation, Selection, check_out_dir, evaluate, select

__all__ = [
    "srcc", "krcc", "plcc", "plcc_logistic", "rmse", "logistic", "fit_logistic", "LogisticFit", "Metrics", "compute",
    "MetricError", "MIN_PAIRS", "evaluate", "Evaluation", "select", "Selection", "check_out_dir", "OUTPUTS",
]

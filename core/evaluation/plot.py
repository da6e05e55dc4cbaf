"""The scatter plot of an evaluation: prediction against MOS, with the fitted logistic curve.

Drawn on matplotlib's Agg canvas directly (no pyplot), so it neither needs a display nor changes
the backend of a host program that imported matplotlib already.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .metrics import LogisticFit


def scatter(path: str | os.PathLike, predictions: Sequence[float], mos: Sequence[float], *, title: str,
            mos_label: str, fit: LogisticFit | None = None, caption: str = "") -> Path:
    """Write a PNG scatter of ``predictions`` (x) against ``mos`` (y) to ``path``.

    ``fit`` adds its curve over the range of the predictions; ``caption`` is a second title line
    (metrics, data set). With no points the plot says so instead of being blank.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x = np.asarray(predictions, dtype=np.float64)
    y = np.asarray(mos, dtype=np.float64)
    figure = Figure(figsize=(6.4, 5.2), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if x.size:
        # Many thousands of points (FLIVE, KonIQ) would merge into one blot without transparency.
        alpha = float(np.clip(30.0 / np.sqrt(x.size), 0.15, 0.9))
        axes.scatter(x, y, s=10, alpha=alpha, color="tab:blue", edgecolors="none", label=f"{x.size} images")
        if fit is not None and np.ptp(x) > 0:
            grid = np.linspace(x.min(), x.max(), 200)
            why = (fit.reason or "no logistic fit").split(";")[0]
            name = "logistic fit" if fit.method == "logistic" else f"linear fit ({why[:60]})"
            axes.plot(grid, fit(grid), color="tab:red", linewidth=2, label=name)
        axes.legend(loc="best", fontsize="small")
    else:
        axes.text(0.5, 0.5, "no image could be scored", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("GenzIQA prediction")
    axes.set_ylabel(mos_label)
    axes.set_title(title + (f"\n{caption}" if caption else ""), fontsize="medium")
    axes.grid(True, alpha=0.3)
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    figure.savefig(partial, format="png")
    os.replace(partial, target)
    return target


__all__ = ["scatter"]

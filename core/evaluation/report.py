"""Evaluating a scorer on a data set: score the rows, compute the metrics, write the report.

``evaluate`` writes four files into its output folder:

- ``scores.csv``: the scores as ``genziqa score`` writes them (``path, score, model, run, error``),
  appended as they come: an interrupted evaluation run again with the same model and ``--out``
  scores only the images it had not reached (another model's file there is started afresh).
- ``report.json``: metrics (NaN as null, with the reason), image counts, bad rows and failed
  images with reasons, model label, data set, split, genziqa version.
- ``predictions.csv``: ``path, mos, prediction, error``, one line per selected image in table
  order (``prediction`` empty and ``error`` set where the image could not be scored).
- ``scatter.png``: prediction against MOS with the fitted logistic curve.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..data import ALL, DEFAULT_FRACTIONS, Dataset, DatasetError, Row, split_name
from ..data import split as split_rows
from ..folders import writable_folder
from .metrics import Metrics, compute
from .plot import scatter

REPORT, PREDICTIONS, SCATTER, SCORES = "report.json", "predictions.csv", "scatter.png", "scores.csv"
OUTPUTS = (REPORT, PREDICTIONS, SCATTER, SCORES)


@dataclass(frozen=True)
class Selection:
    """The rows an evaluation scores and how they were chosen.

    ``kind``: ``"all"`` (every row), ``"official"`` (the data set's own split) or ``"seeded"``
    (a split by content drawn with ``seed`` and ``fractions``).
    """

    rows: tuple[Row, ...]
    name: str
    kind: str
    seed: int | None = None
    fractions: tuple[float, ...] | None = None

    def describe(self) -> str:
        if self.kind == "all":
            return "all images"
        if self.kind == "official":
            return f"the official {self.name} split"
        return f"the {self.name} split drawn by content (seed {self.seed}, fractions {', '.join(map(str, self.fractions))})"

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "seed": self.seed,
                "fractions": list(self.fractions) if self.fractions else None, "description": self.describe()}


def select(dataset: Dataset, split_: str | None = None, *, seed: int = 0,
           fractions: Sequence[float] = DEFAULT_FRACTIONS) -> Selection:
    """The rows of ``split_`` (None or ``"all"``: every row). Raises ``DatasetError`` for an unknown
    split name or an empty selection. Cheap: call it before loading a model."""
    name = ALL if split_ is None else split_name(split_)
    rows = tuple(split_rows(dataset, name, seed=seed, fractions=fractions))
    if not rows:
        raise DatasetError(f"the {name} split of {dataset.title} is empty; use another split or other fractions.")
    if name == ALL:
        return Selection(rows, name, "all")
    if dataset.official_split:
        return Selection(rows, name, "official")
    return Selection(rows, name, "seeded", seed, tuple(float(f) for f in fractions))


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` if needed and make sure files can be written there (cheap; call it
    before loading a model). Raises ``OSError`` with the folder's name otherwise."""
    return writable_folder(out_dir, holds=", ".join(OUTPUTS))


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` found and wrote."""

    metrics: Metrics
    selection: Selection
    scored: int
    failed: tuple[tuple[str, str], ...]
    """(path, error) of every selected image that could not be scored."""
    out_dir: Path
    report: dict
    reused: int = 0
    """Scores taken from the ``scores.csv`` of an interrupted earlier run instead of scored again."""

    @property
    def ok(self) -> bool:
        return not self.failed and self.scored > 0


def evaluate(scorer, dataset: Dataset, split: str | None = None, out_dir: str | os.PathLike = "evaluation", *,
             seed: int = 0, fractions: Sequence[float] = DEFAULT_FRACTIONS, progress=False,
             run_id: str | None = None) -> Evaluation:
    """Score the rows of ``split`` with ``scorer.score_each`` and write report.json,
    predictions.csv and scatter.png into ``out_dir``.

    ``scorer``: anything with ``score_each(paths, progress=...)`` returning one result per path
    with ``.score`` and ``.error``, and a ``label`` (a :class:`genziqa.Scorer`). ``split``: None or
    ``"all"`` for every row, else ``train``/``validation``/``test`` (official, or drawn by content
    with ``seed`` and ``fractions``). Images that fail are reported, never fatal.
    """
    # 1. What to score, and where the files go: both cheap, both before any scoring.
    selection = select(dataset, split, seed=seed, fractions=fractions)
    out = check_out_dir(out_dir)

    # 2. Score every selected image; the scorer reports per-image errors instead of raising.
    results, reused = _score(scorer, [row.path for row in selection.rows], out / SCORES, progress)
    if len(results) != len(selection.rows):
        raise RuntimeError(f"the scorer returned {len(results)} results for {len(selection.rows)} images.")
    scored = [(row, float(r.score)) for row, r in zip(selection.rows, results) if r.error is None]
    failed = tuple((row.path, str(r.error)) for row, r in zip(selection.rows, results) if r.error is not None)

    # 3. Metrics on the images that were scored.
    metrics = compute([s for _, s in scored], [row.mos for row, _ in scored])

    # 4. The three files.
    _write_predictions(out / PREDICTIONS, selection.rows, results)
    label = str(getattr(scorer, "label", "unknown model"))
    _draw(out / SCATTER, scored, metrics, dataset, selection, label)
    report = _report(dataset, selection, metrics, scored, failed, label, getattr(scorer, "zero_shot", None), run_id)
    _write_text(out / REPORT, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return Evaluation(metrics=metrics, selection=selection, scored=len(scored), failed=failed, out_dir=out, report=report,
                      reused=reused)


def _score(scorer, paths: list[str], work: Path, progress) -> tuple[list, int]:
    """(one result per path, how many came from ``work``). A scorer with a run identity (a
    :class:`genziqa.Scorer`) scores through the local engine into ``work``, resumably; any other
    is simply called."""
    run = getattr(scorer, "run_id", None)
    if run is None:
        return scorer.score_each(paths, progress=progress), 0
    from ..engines.local import read_results, score_to_file

    if any(r.run != run for r in read_results(work)):
        work.unlink()  # another model's scores: this evaluation starts afresh
    summary = score_to_file(scorer, paths, work, progress=bool(progress))
    latest = {r.source: r for r in read_results(work)}
    return [latest[os.path.abspath(p)] for p in paths], summary.skipped


def _report(dataset: Dataset, selection: Selection, metrics: Metrics, scored, failed, label: str,
            zero_shot: bool | None, run_id: str | None) -> dict:
    from ... import __version__

    fit = metrics.fit
    return {
        "genziqa_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": label,
        "zero_shot": zero_shot,
        "run_id": run_id,
        "dataset": {
            "name": dataset.name, "title": dataset.title, "root": str(dataset.root),
            "mos": {"column": dataset.mos_column, "range": list(dataset.mos_range), "higher_is_better": True},
            "official_split": dataset.official_split, "notes": list(dataset.notes),
        },
        "split": selection.to_dict(),
        "images": {"in_table": len(dataset.rows), "selected": len(selection.rows), "scored": len(scored),
                   "failed": len(failed), "bad_rows": len(dataset.bad_rows)},
        "metrics": {"n": metrics.n, **metrics.values()},
        "metric_notes": metrics.notes,
        "fit": None if fit is None else {"method": fit.method, "beta": list(fit.beta), "reason": fit.reason},
        "bad_rows": [{"ref": b.ref, "reason": b.reason} for b in dataset.bad_rows],
        "failed_images": [{"path": p, "error": e} for p, e in failed],
        "files": {"predictions": PREDICTIONS, "scatter": SCATTER},
    }


def _write_predictions(path: Path, rows: Sequence[Row], results) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "mos", "prediction", "error"])
    for row, result in zip(rows, results):
        score = "" if result.error is not None else repr(float(result.score))
        writer.writerow([row.path, repr(row.mos), score, "" if result.error is None else str(result.error)])
    _write_text(path, buffer.getvalue())


def _draw(path: Path, scored, metrics: Metrics, dataset: Dataset, selection: Selection, label: str) -> None:
    def show(value: float) -> str:
        return "n/a" if math.isnan(value) else f"{value:.3f}"

    caption = (f"{dataset.title}, {selection.describe()}: SRCC {show(metrics.srcc)}, "
               f"PLCC {show(metrics.plcc_logistic)} (logistic), n = {metrics.n}")
    scatter(path, [s for _, s in scored], [row.mos for row, _ in scored], title=label,
            mos_label=f"MOS: {dataset.mos_column}", fit=metrics.fit, caption=caption)


def _write_text(path: Path, text: str) -> None:
    # Whole files or nothing: a crash mid-write leaves the previous version, never half of one.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


__all__ = ["REPORT", "PREDICTIONS", "SCATTER", "SCORES", "OUTPUTS", "Selection", "select", "check_out_dir", "Evaluation",
           "evaluate"]

"""The row every engine writes: ``path, score, model, run, error`` (one :class:`ScoredImage`).

``model`` is the scorer's human-readable label; ``run`` is what identifies the numbers
(:mod:`genziqa.core.identity`): a file, or a folder of shards, holds one run only, and resuming
checks it. Scores are written with :data:`SCORE_DECIMALS` decimals: float32 rounding (about
4e-6 on a full-size trained score near 48) stays below the last digit written.
"""

from __future__ import annotations

import math

from ..identity import differences
from ..results import ScoredImage

FIELDS = ("path", "score", "model", "run", "error")
SCORE_DECIMALS = 5


class RowError(ValueError):
    """A stored row is malformed; the message says how."""


def written_score(score: float) -> float:
    """``score`` as it is written: rounded to :data:`SCORE_DECIMALS` decimals."""
    return round(float(score), SCORE_DECIMALS)


def outcome_row(path: str, result: ScoredImage, *, model: str, run: str) -> ScoredImage:
    """The row for ``result`` of the image at ``path``: a finite score, or one line of error."""
    if result.ok and result.score is not None and math.isfinite(result.score):
        return ScoredImage(source=path, score=written_score(result.score), model=model, run=run)
    if result.ok:  # a broken backbone or a dtype overflow; a rerun retries it
        error = f"{path}: the score is {result.score} (the model produced non-finite values)"
    else:
        # One line per row in every format: an error message never spans lines.
        error = " ".join(str(result.error).splitlines()) or f"{path}: unknown error"
    return ScoredImage(source=path, score=None, error=error, model=model, run=run)


def to_record(row: ScoredImage) -> dict:
    """The row as a dict with the keys :data:`FIELDS`."""
    return {"path": row.source, "score": row.score, "model": row.model, "run": row.run, "error": row.error}


def from_record(record: dict) -> ScoredImage:
    """A row from a dict with the keys :data:`FIELDS`; :class:`RowError` if malformed."""
    if not isinstance(record, dict) or set(record) != set(FIELDS):
        raise RowError(f"not a record with the fields {list(FIELDS)}")
    path, score, model, run, error = (record[k] for k in FIELDS)
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
        raise RowError(f"score {score!r} is not a number")
    score = None if score is None else float(score)
    if not all(isinstance(v, str) and v for v in (path, model, run)):
        raise RowError("empty path, model or run")
    if (score is None) == (error is None) or not (error is None or isinstance(error, str)):
        raise RowError("a row needs exactly one of score and error")
    if score is not None and not math.isfinite(score):
        raise RowError(f"score {score} is not finite")
    return ScoredImage(source=path, score=score, error=error, model=model, run=run)


def check_same_run(where: str, stored_runs: set[str], run: str, *, error=ValueError) -> None:
    """Refuse to add rows of ``run`` to ``where`` if it holds rows of another run, saying what differs."""
    others = sorted(r for r in stored_runs if r != run)
    if not others:
        return
    diff = "; ".join(differences(run, others[0])) or f"run {others[0]!r}"
    raise error(
        f"{where} holds scores made differently from this run ({diff}). Scores made differently must "
        "not share a file: write to another output, run with the settings the file was made with, or "
        "delete it to start over."
    )

"""The batch tab's bookkeeping: opening uploads (zips included), ranking, statistics, the CSV.

Uploads arrive as files on disk. A zip is opened member by member with limits checked while
reading (a member's declared size is not trusted), so an archive cannot fill the disk. Results
are written with the row schema every engine uses (:mod:`genziqa.core.engines.rows`), so the
CSV reads like one from ``genziqa score --out``.
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.engines.local import write_results
from ..core.engines.rows import outcome_row
from ..core.results import ScoredImage
from ..core.selection import ranking

MAX_BATCH_IMAGES = 32
"""Images scored per batch request (about 40 minutes on a 2-core CPU, seconds on a GPU)."""

MAX_MEMBER_BYTES = 50 * 1024 * 1024
"""Largest file taken out of a zip (the same as the upload limit for a single file)."""

MAX_ZIP_BYTES = 500 * 1024 * 1024
"""Most bytes taken out of the zips of one request, all members together."""

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Upload:
    """One file to score: ``name`` as the user knows it (``photos.zip/a.jpg``), ``path`` on disk."""

    name: str
    path: str


@dataclass(frozen=True)
class Problem:
    """A file that was not scored: ``message`` says why in one line, starting with ``name``."""

    name: str
    message: str


def expand_uploads(paths: list[str], workdir: str | os.PathLike) -> tuple[list[Upload], list[Problem]]:
    """The uploaded files with every zip replaced by its members (extracted into ``workdir``).

    Members in ``__MACOSX/`` (macOS resource forks) and folders are skipped; a member over
    :data:`MAX_MEMBER_BYTES`, or past :data:`MAX_ZIP_BYTES` in total, or beyond
    :data:`MAX_BATCH_IMAGES` files, is reported as a :class:`Problem` instead.
    """
    uploads: list[Upload] = []
    problems: list[Problem] = []
    budget = [MAX_ZIP_BYTES]
    for path in paths:
        name = Path(path).name
        if zipfile.is_zipfile(path):
            _open_zip(path, name, Path(workdir), uploads, problems, budget)
        else:
            uploads.append(Upload(name, str(path)))
    uploads = _unique_names(uploads)
    kept, extra = uploads[:MAX_BATCH_IMAGES], uploads[MAX_BATCH_IMAGES:]
    problems += [Problem(u.name, f"{u.name}: not scored: one batch takes at most {MAX_BATCH_IMAGES} images; "
                                 "score the rest in another batch") for u in extra]
    return kept, problems


def _unique_names(uploads: list[Upload]) -> list[Upload]:
    """Two uploads called ``img.jpg`` become ``img.jpg`` and ``img.jpg (2)``: the gallery, the
    captions and the CSV tell them apart."""
    seen: dict[str, int] = {}
    out = []
    for upload in uploads:
        count = seen[upload.name] = seen.get(upload.name, 0) + 1
        out.append(upload if count == 1 else Upload(f"{upload.name} ({count})", upload.path))
    return out


def _open_zip(path: str, name: str, workdir: Path, uploads: list[Upload], problems: list[Problem],
              budget: list[int]) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        problems.append(Problem(name, f"{name}: is not a readable zip archive ({err})"))
        return
    with archive:
        for info in archive.infolist():
            member = info.filename
            if info.is_dir() or member.startswith("__MACOSX/") or Path(member).name.startswith("._"):
                continue
            shown = f"{name}/{member}"
            if len(uploads) >= MAX_BATCH_IMAGES:
                uploads.append(Upload(shown, ""))  # reported by the caller as over the batch limit
                continue
            target = workdir / f"{len(uploads):04d}_{_safe_name(member)}"
            try:
                written = _extract(archive, info, target, min(MAX_MEMBER_BYTES, budget[0]))
            except _TooLarge:
                limit = (f"the {_size(MAX_MEMBER_BYTES)} limit per file" if budget[0] >= MAX_MEMBER_BYTES
                         else f"the {_size(MAX_ZIP_BYTES)} limit per batch")
                problems.append(Problem(shown, f"{shown}: is larger than {limit} once unpacked; not scored"))
                continue
            except (zipfile.BadZipFile, RuntimeError, OSError, NotImplementedError) as err:
                problems.append(Problem(shown, f"{shown}: could not be unpacked ({err})"))
                continue
            budget[0] -= written
            uploads.append(Upload(shown, str(target)))


def _size(count: int) -> str:
    """``"50 MB"``, ``"33 KB"``, ``"12 bytes"``."""
    for unit, scale in (("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.0f} {unit}"
    return f"{count} bytes"


class _TooLarge(Exception):
    pass


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limit: int) -> int:
    """Copy one member to ``target``, stopping past ``limit`` bytes; returns the bytes written."""
    if info.file_size > limit:
        raise _TooLarge
    written = 0
    with archive.open(info) as source, open(target, "wb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > limit:  # the header under-stated the size
                out.close()
                target.unlink()
                raise _TooLarge
            out.write(chunk)
    return written


def _safe_name(member: str) -> str:
    """The member's base name with anything but letters, digits, ``.-_`` replaced (no path parts)."""
    base = Path(member.replace("\\", "/")).name or "file"
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in base)[-100:]


@dataclass(frozen=True)
class Ranking:
    """Scores in rank order (best first) and the files that could not be scored."""

    ranked: tuple[tuple[str, float], ...]
    """(name, score), highest score first; ties keep upload order."""
    failed: tuple[Problem, ...]


def rank(uploads: list[Upload], results: list[ScoredImage]) -> Ranking:
    """Pair each upload with its result and sort the scored ones, best first."""
    scored = [(u.name, r.score) for u, r in zip(uploads, results) if r.ok]
    failed = [Problem(u.name, _renamed(r.error, u)) for u, r in zip(uploads, results) if not r.ok]
    order = ranking([score for _, score in scored])  # best first; equal scores keep upload order
    return Ranking(tuple(scored[i] for i in order), tuple(failed))


def _renamed(error: str | None, upload: Upload) -> str:
    """A core message names the temporary path; the user knows the upload's name."""
    return (error or f"{upload.path}: could not be scored").replace(upload.path, upload.name)


def summary(scores: list[float]) -> dict[str, float]:
    """Count, mean, median, standard deviation (n - 1; 0 for one image), min and max."""
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        return {"images": 0}
    return {
        "images": int(values.size), "mean": float(values.mean()), "median": float(np.median(values)),
        "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
        "min": float(values.min()), "max": float(values.max()),
    }


def histogram(scores: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """(counts, edges) of up to 10 equal-width bins over the scores (one bin when all are equal)."""
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        return np.zeros(0, dtype=int), np.zeros(0)
    bins = 1 if values.min() == values.max() else min(10, max(2, math.ceil(math.sqrt(values.size)) + 1))
    counts, edges = np.histogram(values, bins=bins)
    return counts.astype(int), edges


def write_csv(path: str | os.PathLike, ranking: Ranking, problems: list[Problem], *, model: str, run: str) -> Path:
    """Write ``path, score, model, run, error`` rows: ranked scores first, then every failure."""
    rows = [outcome_row(name, ScoredImage(source=name, score=score), model=model, run=run)
            for name, score in ranking.ranked]
    rows += [outcome_row(p.name, ScoredImage(source=p.name, score=None, error=p.message), model=model, run=run)
             for p in (*ranking.failed, *problems)]
    return write_results(path, rows)

"""The local engine: score large collections into one results file that survives crashes and resumes.

The file holds one row per image, ``path, score, model, run, error`` (:mod:`.rows`), as CSV or
JSON Lines (chosen by the suffix). Rows are appended after every UNet call's worth of images and
fsync'ed, so after a crash at any instant the file holds only complete rows (at most a torn last
line, which the next run drops). A rerun skips images that already have a score and retries the
ones that failed; a file of another run (other backbone content, weights, method numbers,
resolution or dtype) is refused before anything is loaded, naming what differs. At the end the
file is rewritten once, atomically, with one row per path in path order.

Paths are stored absolute, so a rerun from another working directory still recognises them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..results import ScoredImage
from .rows import FIELDS, RowError, check_same_run, from_record, outcome_row, to_record

log = logging.getLogger(__name__)

__all__ = [
    "IMAGE_SUFFIXES", "FORMATS", "FIELDS", "BatchError", "BatchSummary",
    "collect_images", "output_format", "read_results", "check_output", "score_to_file", "write_results", "fsync_dir",
]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
"""Suffixes (lower case) picked up when a folder is searched; explicit file arguments are kept
whatever their suffix."""

FORMATS = {".csv": "csv", ".jsonl": "jsonl"}
_JSONL_START = '{"path": '  # how json.dumps begins every row we write
_OLD_FIELDS = ["path", "score", "model", "error"]  # genziqa 0.1 files, which carry no run identity


class BatchError(ValueError):
    """The inputs or the results file cannot be used; the message says which and what to do."""


@dataclass(frozen=True)
class BatchSummary:
    """What one :func:`score_to_file` run did. ``total == scored + failed + skipped``."""

    total: int
    """Images collected from the inputs."""
    scored: int
    """Scored by this run."""
    failed: int
    """Could not be scored by this run (their rows carry the error)."""
    skipped: int
    """Already had a score in the file from an earlier run; not scored again."""
    out: Path
    failures: tuple[ScoredImage, ...] = ()
    """This run's failures, each with its source path and reason."""


def collect_images(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The image files named by ``paths``, absolute, deduplicated, in a deterministic order.

    A folder contributes every file under it with an image suffix (:data:`IMAGE_SUFFIXES`,
    any case), searched recursively in sorted order, skipping hidden files and folders (names
    starting with ``.``). A file argument is kept as given, whatever its suffix, so an unreadable
    one is reported as a failed image rather than silently dropped. Raises :class:`BatchError`
    naming every path that does not exist, or when nothing was found.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    missing = [os.fspath(p) for p in paths if not os.path.lexists(p)]
    if missing:
        raise BatchError(
            f"not found: {', '.join(repr(m) for m in missing)}. Check the spelling; relative paths "
            f"are resolved from {os.getcwd()}."
        )
    found: list[Path] = []
    seen: set[Path] = set()
    for arg in paths:
        here = Path(os.path.abspath(arg))
        for path in _images_under(here) if here.is_dir() else [here]:
            if path not in seen:
                seen.add(path)
                found.append(path)
    if not found:
        raise BatchError(
            f"no images found in {[os.fspath(p) for p in paths]}: folders are searched for "
            f"{', '.join(sorted(IMAGE_SUFFIXES))} files (hidden ones skipped)."
        )
    return found


def output_format(out: str | os.PathLike) -> str:
    """``"csv"`` or ``"jsonl"`` from the suffix of ``out``; :class:`BatchError` otherwise."""
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise BatchError(
            f"cannot write results to {os.fspath(out)!r}: unknown suffix {suffix or '(none)'!r}; "
            f"use one of {', '.join(FORMATS)}."
        )
    return FORMATS[suffix]


def read_results(out: str | os.PathLike) -> list[ScoredImage]:
    """The rows of a results file in file order (a torn last line dropped); ``[]`` if absent.

    A path may appear more than once in a file left by an interrupted run: the last row wins.
    Raises :class:`BatchError` if the file is not a genziqa results file.
    """
    return _read(Path(out), output_format(out))[0]


def check_output(out: str | os.PathLike, run: str) -> list[ScoredImage]:
    """The rows already in ``out``, after checking that this run may add to it: ``out`` is not a
    folder, has a known suffix, is a genziqa results file, and holds no other run's scores.
    Cheap; call it before loading a model."""
    rows = read_results(out)
    check_same_run(os.fspath(out), {r.run for r in rows}, run, error=BatchError)
    return rows


def write_results(out: str | os.PathLike, rows: Sequence[ScoredImage]) -> Path:
    """Write ``rows`` as a whole results file (``.csv`` or ``.jsonl``), atomically, in the order given."""
    out = Path(out)
    fmt = output_format(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.touch(exist_ok=True)  # _rewrite keeps the file's mode
    _rewrite(out, fmt, list(rows))
    return out


def score_to_file(scorer, paths: Sequence[str | os.PathLike], out: str | os.PathLike, *,
                  progress: bool = True, save_every: int | None = None) -> BatchSummary:
    """Score every image under ``paths`` into ``out`` (``.csv`` or ``.jsonl``), resumably.

    ``scorer``: a :class:`~genziqa.core.scoring.Scorer` (anything with ``label``, ``run_id`` and
    ``score_each``). Every row carries its ``label`` and ``run_id``; a file holding another run's
    rows is refused with :class:`BatchError`, before anything is scored. Images with a score in
    ``out`` are skipped; earlier failures are retried. ``save_every``: images per scorer call, i.e.
    how often rows are saved and progress moves (default: the images of one UNet call, so one
    image on CPU).
    """
    fmt = output_format(out)
    out = Path(out)
    save_every = getattr(scorer, "images_per_call", 1) if save_every is None else save_every
    if save_every < 1:
        raise ValueError(f"save_every={save_every} must be at least 1 (images per scorer call).")
    images = [str(p) for p in collect_images(paths)]
    model, run = scorer.label, scorer.run_id

    rows, clean_bytes = _read(out, fmt)
    check_same_run(os.fspath(out), {r.run for r in rows}, run, error=BatchError)
    latest = {r.source: r for r in rows}
    todo = [p for p in images if latest.get(p) is None or latest[p].score is None]

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and clean_bytes < out.stat().st_size:
        log.warning("%s: dropped a torn last row left by an interrupted run.", out)
        os.truncate(out, clean_bytes)  # append only after complete rows

    failures: list[ScoredImage] = []
    bar = _progress_bar(len(todo), progress)
    try:
        with open(out, "ab") as f:
            if clean_bytes == 0:
                _append(f, _header(fmt))
                fsync_dir(out.parent)
            for start in range(0, len(todo), save_every):
                part = todo[start:start + save_every]
                new = [outcome_row(path, r, model=model, run=run) for path, r in zip(part, scorer.score_each(part))]
                _append(f, "".join(_format(r, fmt) for r in new))
                for r in new:
                    latest[r.source] = r
                    if r.score is None:
                        failures.append(r)
                if bar is not None:
                    bar.update(len(new))
    finally:
        if bar is not None:
            bar.close()

    _rewrite(out, fmt, sorted(latest.values(), key=lambda r: r.source))
    return BatchSummary(total=len(images), scored=len(todo) - len(failures), failed=len(failures),
                        skipped=len(images) - len(todo), out=out, failures=tuple(failures))


def _progress_bar(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="img", desc="genziqa")


# -- rows ------------------------------------------------------------------------------------


def _header(fmt: str) -> str:
    return _csv_line(FIELDS) if fmt == "csv" else ""


def _format(row: ScoredImage, fmt: str) -> str:
    if fmt == "csv":
        score = "" if row.score is None else repr(row.score)
        return _csv_line((row.source, score, row.model, row.run, row.error or ""))
    # Non-ASCII (file names, labels) stays readable; json.dumps still escapes any newline.
    return json.dumps(to_record(row), ensure_ascii=False) + "\n"


def _csv_line(fields: Iterable[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue()


def _parse(record, fmt: str) -> ScoredImage:
    """A row from one CSV record (list) or JSONL line (str); ValueError if malformed."""
    if fmt == "csv":
        if len(record) != len(FIELDS):
            raise ValueError(f"{len(record)} fields instead of {len(FIELDS)}")
        data = dict(zip(FIELDS, record))
        try:
            data["score"] = float(data["score"]) if data["score"] else None
        except ValueError:
            raise ValueError(f"score {data['score']!r} is not a number") from None
        data["error"] = data["error"] or None
    else:
        data = json.loads(record)
    try:
        return from_record(data)
    except RowError as err:
        raise ValueError(str(err)) from None


# -- reading ---------------------------------------------------------------------------------


def _read(out: Path, fmt: str) -> tuple[list[ScoredImage], int]:
    """(rows, byte length of the complete rows) of ``out``; ``([], 0)`` when absent or empty.

    Rows are written whole and ``\\n``-terminated, so an interrupted write leaves at most an
    unterminated tail (or, in CSV, a quoted field cut after a newline inside it): that is dropped.
    Anything else malformed means the file is not ours or was damaged: :class:`BatchError`.
    """
    try:
        data = out.read_bytes()
    except FileNotFoundError:
        return [], 0
    except IsADirectoryError:
        raise BatchError(f"{out} is a folder; give a file name ending in {' or '.join(FORMATS)}.") from None
    # surrogateescape: any byte sequence (e.g. a non-UTF-8 file name) round-trips exactly.
    text = data.decode("utf-8", "surrogateescape")
    lines = text.split("\n")[:-1]  # the piece after the last newline is an unterminated tail
    ends = [0]  # ends[i]: characters in lines[:i], newlines included
    for line in lines:
        ends.append(ends[-1] + len(line) + 1)

    def damaged(number: int, problem) -> BatchError:
        return BatchError(
            f"{out} is not a genziqa results file, or was damaged: line {number} is malformed "
            f"({problem}). Write to another file (--out), or repair or delete this one."
        )

    rows: list[ScoredImage] = []
    clean = 0  # characters of complete, valid records
    if fmt == "csv":
        header = _csv_line(FIELDS)
        reader = csv.reader((line + "\n" for line in lines), strict=True)
        seen_header = False
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                if reader.line_num >= len(lines):
                    break  # a quoted field cut by the crash: a torn last row
                raise damaged(reader.line_num, err) from None
            if record and not seen_header:
                if record == _OLD_FIELDS:
                    raise BatchError(
                        f"{out} was written by genziqa 0.1, whose rows do not record how their scores "
                        "were made, so this run cannot safely add to it. Write to another file (--out), "
                        "or delete this one to start over."
                    )
                if record != list(FIELDS):
                    raise BatchError(
                        f"{out} is not a genziqa results file: its first line is "
                        f"{','.join(record)!r}, expected {header.strip()!r}. Write to another file (--out)."
                    )
                seen_header = True
            elif record:
                try:
                    rows.append(_parse(record, fmt))
                except ValueError as err:
                    raise damaged(reader.line_num, err) from None
            clean = ends[reader.line_num]
        ours = seen_header or header.startswith(text.strip())
    else:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    rows.append(_parse(line, fmt))
                except ValueError as err:
                    raise damaged(number, err) from None
            clean = ends[number]
        tail = text[clean:].strip()
        ours = tail.startswith(_JSONL_START) or _JSONL_START.startswith(tail)
    if not ours:
        raise damaged(1 if fmt == "csv" else len(lines) + 1, "not written by genziqa")
    return rows, len(text[:clean].encode("utf-8", "surrogateescape"))


# -- writing ---------------------------------------------------------------------------------


def _append(f, text: str) -> None:
    """Append complete rows in one write and make them durable before going on."""
    f.write(text.encode("utf-8", "surrogateescape"))
    f.flush()
    os.fsync(f.fileno())


def _rewrite(out: Path, fmt: str, rows: list[ScoredImage]) -> None:
    """Replace ``out`` atomically: readers see the old file or the new one, never a mix."""
    text = _header(fmt) + "".join(_format(r, fmt) for r in rows)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            _append(f, text)
        os.chmod(tmp, out.stat().st_mode)  # mkstemp makes 0600; keep the file's own mode
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(out.parent)


def fsync_dir(folder: Path) -> None:
    """Make a new or renamed directory entry durable (POSIX; a no-op where folders can't be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _images_under(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(root, name) for name in files
                     if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES)
    return sorted(found)

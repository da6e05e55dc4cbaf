"""The Ray engine: score millions of images on a Ray cluster into a folder of parquet shards.

Sources are folders of images, image files, text files of paths (one a line) and parquet / CSV
tables with a path column, on local disks or any filesystem pyarrow understands (``s3://``,
``gs://``, ``hdfs://``, ``file://``); so is the output folder. The job runs in three steps:

1. **Paths, on the driver.** The sources are listed, deduplicated and compared with the rows
   already in the output, so a rerun sends only what is left. A path costs ~100 bytes, an image
   ~100 kB and seconds of compute: a global view of a few million paths is cheap, and it is what
   makes "one row per image" and the counts exact.
2. **Decoding, in Ray tasks.** Each image is read and decoded by :func:`~genziqa.core.images.load_image`
   and resized by :func:`~genziqa.core.images.to_model_input`, the very functions the scorer
   uses, so the scores equal the local engine's. The blocks that travel hold fixed-size pixels
   at the model's resolution (3 MB per image at 512 px), never full-size images. With GPU actors
   the tasks run on CPUs next to them, so the GPU never waits for a JPEG; with CPU actors Ray
   fuses them into the actors (equal resources), where the model dwarfs decoding anyway.
3. **Scoring, in an actor pool.** Each actor loads the scorer once (one GPU per actor when the
   cluster has GPUs, CPU actors otherwise) and, for every batch, writes one shard: the batch's
   rows (``path, score, model, run, error``, :mod:`.rows`) as ``part-<digest>.parquet``.

Nothing is lost, nothing is doubled:

- A shard is complete or absent: it is written under a hidden temporary name and renamed (a
  server-side copy on object stores, whose objects appear whole). Leftover temporaries of a
  killed run are removed by the next one.
- A shard's name is a digest of its paths, so a batch that Ray retries after a worker died
  rewrites the same file instead of adding one.
- Unreadable images become rows with an error; a rerun retries them and drops the old row. At
  the end of every run the folder is compacted to one row per path (a score beats an error, a
  newer shard beats an older one), whatever a crash left behind.
- Every row carries the run identity; a folder holding another run's rows is refused before
  any model is loaded.

This module imports ray only inside its functions: :func:`read_shards` needs only pyarrow.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import math
import os
import posixpath
import re
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from ..messages import first_line
from ..results import ScoredImage
from .local import IMAGE_SUFFIXES, collect_images, fsync_dir
from .rows import FIELDS, check_same_run, outcome_row


__all__ = [
    "ShardError", "JobFailed", "ShardSummary", "RayJob", "LIST_SUFFIXES", "TABLE_SUFFIXES",
    "list_sources", "prepare_job", "score_to_shards", "read_shards",
]

LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})
"""Sources read as text files of paths, one a line."""
TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
"""Sources read as tables with a path column."""

SHARD_PREFIX, SHARD_SUFFIX = "part-", ".parquet"
_TMP_SUFFIX = ".tmp"  # temporaries are ".part-<digest>.parquet.<uuid>.tmp": hidden, and no *.parquet glob sees them

# Images per actor call (= rows per shard). On an H200 a float16 image takes ~0.05 s
# (benchmarks/results.md), so 128 images are ~6 s of work per shard and 384 MB of 512 px pixels
# per block; on CPU an image takes a minute or more, so a few per shard bound what a crash costs.
GPU_BATCH, CPU_BATCH = 128, 4
CPU_ACTOR_CPUS = 4  # torch threads per CPU actor; throughput per core flattens beyond a few
_RAY_DATA_LOG = logging.getLogger("ray.data")
_TEST_FAULTS = "GENZIQA_RAY_TEST_FAULTS"  # JSON {"crash_once": marker path, "pause_s": s}; tests only


class ShardError(ValueError):
    """The sources, the output folder or the options cannot be used; the message says what to do."""


class JobFailed(RuntimeError):
    """The Ray job stopped (not an image's fault). Complete shards are kept; rerun to resume."""


@dataclass(frozen=True)
class ShardSummary:
    """What one run did. ``total == scored + failed + skipped``."""

    total: int
    """Images named by the sources (deduplicated)."""
    scored: int
    """Scored by this run."""
    failed: int
    """Could not be scored by this run (their rows carry the error)."""
    skipped: int
    """Already had a score in the output folder; not scored again."""
    out: str
    shards: int
    """Shard files in the folder after the run."""
    failures: tuple[ScoredImage, ...] = ()
    """This run's failures, each with its path and reason."""


# -- sources ---------------------------------------------------------------------------------


def list_sources(sources: Sequence[str | os.PathLike] | str | os.PathLike, *, path_column: str = "path") -> list[str]:
    """The image paths named by ``sources``, deduplicated, in source order.

    Each source is a folder (every image under it, as :func:`~.local.collect_images` finds
    them), an image file, a text file of paths (:data:`LIST_SUFFIXES`, one a line, blank lines
    skipped) or a table (:data:`TABLE_SUFFIXES`) with a ``path_column``. Local paths become
    absolute; paths inside a list or table are relative to the file's folder. URIs
    (``s3://bucket/key``) stay as written. Raises :class:`ShardError` naming what cannot be read.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    paths: list[str] = []
    for source in map(os.fspath, sources):
        suffix = _suffix(source)
        if _is_uri(source):
            paths.extend(_list_uri(source, suffix, path_column))
        elif os.path.isdir(source):
            paths.extend(str(p) for p in collect_images([source]))
        elif not os.path.exists(source):
            raise ShardError(f"source not found: {source!r}. Relative paths are resolved from {os.getcwd()}.")
        elif suffix in LIST_SUFFIXES or suffix in TABLE_SUFFIXES:
            base = os.path.dirname(os.path.abspath(source))
            paths.extend(_absolute(p, base) for p in _read_listing(source, None, suffix, path_column))
        else:
            paths.append(os.path.abspath(source))
    unique = list(dict.fromkeys(paths))
    if not unique:
        raise ShardError(f"no images in {list(map(os.fspath, sources))}.")
    return unique


def _list_uri(uri: str, suffix: str, path_column: str) -> list[str]:
    fs, where = _filesystem(uri)
    info = _info(fs, where, uri)
    if info.type.name == "NotFound":
        raise ShardError(f"source not found: {uri!r}.")
    if info.type.name == "Directory":
        return _list_remote_folder(uri, fs, where)
    if suffix in LIST_SUFFIXES or suffix in TABLE_SUFFIXES:
        base = uri.rsplit("/", 1)[0]
        return [_absolute(p, base) for p in _read_listing(where, fs, suffix, path_column, name=uri)]
    return [uri]


def _list_remote_folder(uri: str, fs, where: str) -> list[str]:
    import pyarrow.fs as pafs

    prefix = _uri_prefix(uri, where)
    found = []
    for info in fs.get_file_info(pafs.FileSelector(where, recursive=True)):
        parts = posixpath.relpath(info.path, where).split("/")
        if (info.type.name == "File" and not any(p.startswith(".") for p in parts)
                and _suffix(info.path) in IMAGE_SUFFIXES):
            found.append(prefix + info.path)
    return sorted(found)


def _read_listing(where: str, fs, suffix: str, path_column: str, *, name: str | None = None) -> list[str]:
    """The paths in a list file or a table (``fs`` None: local)."""
    import pyarrow as pa

    name = name or where
    try:
        if suffix in LIST_SUFFIXES:
            with _open(fs, where) as f:
                text = f.read().decode("utf-8")
            return [line.strip() for line in text.splitlines() if line.strip()]
        if TABLE_SUFFIXES[suffix] == "parquet":
            import pyarrow.parquet as pq

            schema = pq.read_schema(where, filesystem=fs)
            _check_column(schema.names, path_column, name)
            table = pq.read_table(where, columns=[path_column], filesystem=fs)
        else:
            import pyarrow.csv as pcsv

            with _open(fs, where) as f:
                # Paths such as 0001 would otherwise be read as numbers.
                table = pcsv.read_csv(f, convert_options=pcsv.ConvertOptions(column_types={path_column: pa.string()}))
            _check_column(table.column_names, path_column, name)
    except (OSError, UnicodeDecodeError, pa.ArrowInvalid) as err:
        kind = "a list of paths" if suffix in LIST_SUFFIXES else "a table"
        raise ShardError(f"cannot read {name!r} as {kind}: {err}.") from None
    column = table.column(path_column)
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        raise ShardError(f"{name!r}: column {path_column!r} holds {column.type}, not path strings.")
    return [p for p in column.to_pylist() if p]


def _check_column(names: list[str], path_column: str, source: str) -> None:
    if path_column not in names:
        raise ShardError(f"{source!r} has no column {path_column!r} (its columns: {', '.join(names)}); "
                         "name the column of image paths with --path-column.")


def _absolute(path: str, base: str) -> str:
    """``path`` from a list or table in the folder ``base`` (a URI, or an absolute local path)."""
    if _is_uri(path):
        return path
    if _is_uri(base):
        return posixpath.join(base, path)  # an absolute path stays as it is
    return os.path.abspath(os.path.join(base, path))


# -- filesystems -----------------------------------------------------------------------------


def _is_uri(path: str) -> bool:
    return "://" in path


def _suffix(path: str) -> str:
    return posixpath.splitext(path.rstrip("/"))[1].lower()


def _filesystem(uri: str):
    """``(pyarrow filesystem, path inside it)`` for a URI; :class:`ShardError` if pyarrow has none."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as err:
        raise ShardError(f"{uri!r}: pyarrow cannot open this URI ({err}). Install the filesystem's support "
                         "(e.g. pyarrow built with S3) or give a local path.") from None


def _uri_prefix(uri: str, where: str) -> str:
    """What turns a filesystem path back into a URI: ``s3://`` for ``s3://bucket/key``."""
    stripped = uri.rstrip("/")
    if not stripped.endswith(where.rstrip("/")):
        raise ShardError(f"{uri!r}: cannot map the files of this URI back to URIs; list them in a text file instead.")
    return stripped[: len(stripped) - len(where.rstrip("/"))]


def _info(fs, where: str, name: str):
    try:
        return fs.get_file_info(where)
    except OSError as err:
        raise ShardError(f"cannot reach {name!r}: {err}.") from None


def _open(fs, where: str):
    return open(where, "rb") if fs is None else fs.open_input_stream(where)


class _Folder:
    """The output folder: local, or on a pyarrow filesystem. Shards are written whole or not at all."""

    def __init__(self, out: str | os.PathLike):
        out = os.fspath(out)
        self.name = out
        """As the user wrote it, for messages."""
        if _is_uri(out):
            self.fs, self.root = _filesystem(out)
            self.local = False
            self.location = out
        else:
            import pyarrow.fs as pafs

            self.fs, self.root = pafs.LocalFileSystem(), os.path.abspath(out)
            self.local = True
            self.location = self.root
        """What any process may open: Ray workers do not share the driver's working directory."""

    def check(self) -> None:
        info = _info(self.fs, self.root, self.name)
        if info.type.name == "File":
            raise ShardError(f"{self.name} is a file; --engine ray writes a folder of parquet shards. "
                             "Give a folder name (it is created if missing).")

    def create(self) -> None:
        try:
            self.fs.create_dir(self.root, recursive=True)
        except OSError as err:
            raise ShardError(f"cannot create the output folder {self.name}: {err}.") from None

    def entries(self):
        """``(shards, temporaries)``: FileInfo of ``part-*.parquet`` and of leftover temporaries."""
        import pyarrow.fs as pafs

        if _info(self.fs, self.root, self.name).type.name == "NotFound":
            return [], []
        infos = self.fs.get_file_info(pafs.FileSelector(self.root, recursive=False))
        shards = sorted((i for i in infos if i.type.name == "File" and i.base_name.startswith(SHARD_PREFIX)
                         and i.base_name.endswith(SHARD_SUFFIX)), key=lambda i: i.base_name)
        temps = [i for i in infos if i.type.name == "File" and i.base_name.startswith("." + SHARD_PREFIX)
                 and i.base_name.endswith(_TMP_SUFFIX)]
        return shards, temps

    def write(self, name: str, table) -> None:
        """Write ``table`` as ``name``: under a temporary name first, then renamed."""
        import pyarrow.parquet as pq

        final = f"{self.root}/{name}"
        tmp = f"{self.root}/.{name}.{uuid.uuid4().hex}{_TMP_SUFFIX}"
        try:
            if self.local:
                # Local disks: durable before the rename, so a machine crash cannot leave an
                # empty file under the final name.
                with open(tmp, "wb") as f:
                    pq.write_table(table, f)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, final)
                fsync_dir(Path(self.root))
            else:
                with self.fs.open_output_stream(tmp) as f:
                    pq.write_table(table, f)
                self.fs.move(tmp, final)
        except BaseException:
            try:
                self.fs.delete_file(tmp)
            except OSError:
                pass
            raise

    def delete(self, name: str) -> None:
        self.fs.delete_file(f"{self.root}/{name}")


# -- shards ----------------------------------------------------------------------------------


def _schema():
    import pyarrow as pa

    return pa.schema([("path", pa.string()), ("score", pa.float64()), ("model", pa.string()),
                      ("run", pa.string()), ("error", pa.string())])


def _shard_name(paths: Iterable[str]) -> str:
    """Named by its paths: a retried batch rewrites its own shard instead of adding another."""
    digest = hashlib.sha256("\n".join(paths).encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return f"{SHARD_PREFIX}{digest}{SHARD_SUFFIX}"


def _shard_table(rows: Sequence[ScoredImage]):
    import pyarrow as pa

    return pa.table({"path": [r.source for r in rows], "score": [r.score for r in rows],
                     "model": [r.model for r in rows], "run": [r.run for r in rows],
                     "error": [r.error for r in rows]}, schema=_schema())


@dataclass
class _Contents:
    """The shards of a folder: every table as stored, and the row that counts for each path."""

    tables: dict[str, object]  # shard name -> pyarrow.Table
    winners: dict[str, tuple[str, int]]  # path -> (shard name, row index)
    runs: set[str]
    scored: set[str]  # paths whose counting row has a score

    def done(self) -> set[str]:
        """Paths whose counting row has a score."""
        return self.scored

    def kept(self) -> dict[str, tuple[object, int]]:
        """Shard name -> (its table without the rows another row outranks, how many those were)."""
        import pyarrow as pa

        out = {}
        for name, table in self.tables.items():
            keep = [self.winners[path] == (name, i) for i, path in enumerate(table.column("path").to_pylist())]
            dropped = keep.count(False)
            out[name] = (table.filter(pa.array(keep)) if dropped else table, dropped)
        return out


def _read_folder(folder: _Folder) -> _Contents:
    """Every complete shard of ``folder``, checked; :class:`ShardError` for anything not ours."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    shards, _ = folder.entries()

    def read(info):
        try:
            table = pq.read_table(info.path, filesystem=folder.fs)
        except (OSError, pa.ArrowInvalid) as err:
            raise ShardError(f"{folder.name}: {info.base_name} cannot be read ({err}); it was damaged outside "
                             "genziqa. Delete it (its images are scored again) and rerun.") from None
        if table.column_names != list(FIELDS):
            raise ShardError(f"{folder.name}: {info.base_name} is not a genziqa shard (columns "
                             f"{table.column_names}, expected {list(FIELDS)}). Write to another folder.")
        return table.cast(_schema())

    # Object stores answer each request in tens of milliseconds: read shards concurrently.
    with ThreadPoolExecutor(max_workers=16) as pool:
        tables = dict(zip((i.base_name for i in shards), pool.map(read, shards)))
    mtimes = {i.base_name: i.mtime.timestamp() if i.mtime else 0.0 for i in shards}
    winners: dict[str, tuple[str, int]] = {}
    best: dict[str, tuple] = {}
    runs: set[str] = set()
    for name, table in tables.items():
        runs.update(table.column("run").unique().to_pylist())
        scored = table.column("score").is_valid().to_pylist()
        for i, (path, valid) in enumerate(zip(table.column("path").to_pylist(), scored)):
            rank = (valid, mtimes[name], name, i)  # a score beats an error; then the newer shard
            if path not in best or rank > best[path]:
                best[path], winners[path] = rank, (name, i)
    return _Contents(tables=tables, winners=winners, runs=runs, scored={p for p, rank in best.items() if rank[0]})


def _compact(folder: _Folder) -> tuple[_Contents, int]:
    """Drop outranked rows so the folder holds one row per path; ``(contents after, rows dropped)``.

    Only rows that another complete shard outranks are dropped, and each shard is rewritten
    atomically, so a crash here loses nothing: the next run compacts again.
    """
    contents = _read_folder(folder)
    total = 0
    for name, (table, dropped) in contents.kept().items():
        if not dropped:
            continue
        total += dropped
        if table.num_rows:
            folder.write(name, table)
        else:
            folder.delete(name)
    return (_read_folder(folder) if total else contents), total


def read_shards(out: str | os.PathLike):
    """The results in the shard folder ``out`` as one ``pyarrow.Table`` (columns :data:`.rows.FIELDS`),
    one row per path, sorted by path (rows that compaction would drop are left out).

    Needs pyarrow only, no Ray. Raises :class:`ShardError` if ``out`` holds foreign or damaged shards.
    """
    import pyarrow as pa

    folder = _Folder(out)
    folder.check()
    tables = [table for table, _ in _read_folder(folder).kept().values()]
    return pa.concat_tables(tables).sort_by("path") if tables else _schema().empty_table()


# -- the job ---------------------------------------------------------------------------------


@dataclass
class _Resources:
    gpus: float  # per actor; 0 for CPU actors
    cpus: float  # per actor
    actors: int
    device: str  # what the actors load the model on


@dataclass
class RayJob:
    """A checked job, made by :func:`prepare_job`: nothing loaded yet. Call :meth:`run`."""

    paths: list[str]
    todo: list[str]
    out: str
    run_id: str
    zero_shot: bool
    device: str
    dtype: str
    resolution: int
    resize: str
    batch_size: int
    resources: _Resources
    load_options: dict
    _folder: _Folder
    _started_ray: bool

    @property
    def actors(self) -> int:
        """Actors the run starts (never more than there are batches)."""
        return max(1, min(self.resources.actors, math.ceil(len(self.todo) / self.batch_size)))

    def describe(self) -> str:
        """One line: what scores, where, on how many actors."""
        r = self.resources
        each = f"{r.gpus:g} GPU" if r.gpus else f"{r.cpus:g} CPU{'s' if r.cpus != 1 else ''}"
        kind = "zero-shot" if self.zero_shot else "trained"
        return (f"genziqa {kind} on Ray: {self.actors} actor{'s' if self.actors != 1 else ''} x {each}, "
                f"{self.device} in {self.dtype}, {self.batch_size} images per shard")

    def run(self, *, progress: bool = True) -> ShardSummary:
        """Score :attr:`todo` into the folder, then compact it to one row per path.

        Raises :class:`JobFailed` if the job stops (a model error, a lost cluster); complete
        shards are kept, and running the same job again resumes.
        """
        import ray

        try:
            self._folder.create()
            _shards, temps = self._folder.entries()
            for info in temps:  # a killed run's half-written shards
                self._folder.delete(info.base_name)
            new = self._execute(progress) if self.todo else {}
            contents, _ = _compact(self._folder)
        finally:
            if self._started_ray:
                ray.shutdown()
        missing = [p for p in self.todo if p not in contents.winners]
        if missing:
            raise JobFailed(f"{len(missing)} images have no row in {self.out} after the job (e.g. {missing[0]}); "
                            "rerun the same command to score them.")
        failures = tuple(new[p] for p in self.todo if p in new and new[p].score is None)
        scored = sum(1 for p in self.todo if p in new and new[p].score is not None)
        return ShardSummary(total=len(self.paths), scored=scored, failed=len(failures),
                            skipped=len(self.paths) - len(self.todo), out=self.out,
                            shards=len(contents.tables), failures=failures)

    def _execute(self, progress: bool) -> dict[str, ScoredImage]:
        import pyarrow as pa
        import ray
        import ray.data

        r = self.resources
        step = self.batch_size
        blocks = [pa.table({"path": self.todo[i:i + step]}) for i in range(0, len(self.todo), step)]
        # With CPU actors the decode tasks ask for the same resources, so Ray fuses them into the
        # actors; with GPU actors they run as CPU tasks alongside.
        decode_cpus = r.cpus if not r.gpus else 1
        faults = json.loads(os.environ.get(_TEST_FAULTS, "null"))
        dataset = (
            ray.data.from_arrow(blocks)
            .map_batches(_decode, batch_size=None, batch_format="numpy", num_cpus=decode_cpus,
                         fn_kwargs={"resolution": self.resolution, "resize": self.resize})
            .map_batches(_ShardWriter, batch_size=self.batch_size, batch_format="numpy",
                         # Scaling from one actor up lets the job start on a busy or autoscaling
                         # cluster instead of waiting until every actor fits.
                         compute=ray.data.ActorPoolStrategy(min_size=1, max_size=self.actors),
                         num_cpus=r.cpus, num_gpus=r.gpus or None,
                         fn_constructor_kwargs={"load_options": self.load_options, "run_id": self.run_id,
                                                "out": self._folder.location, "faults": faults,
                                                "threads": None if r.gpus else max(1, round(r.cpus))})
        )
        context = ray.data.DataContext.get_current()
        saved = context.enable_progress_bars, _RAY_DATA_LOG.level
        # Ours counts images; Ray's bars (or, without them, its INFO progress lines) count blocks.
        context.enable_progress_bars = False
        _RAY_DATA_LOG.setLevel(logging.WARNING)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(self.todo), unit="img", desc="genziqa")
        new: dict[str, ScoredImage] = {}
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                for path, score, error in zip(batch["path"], batch["score"], batch["error"]):
                    new[str(path)] = ScoredImage(source=str(path), score=None if error else float(score),
                                                 error=str(error) or None)
                if bar is not None:
                    bar.update(len(batch["path"]))
        except Exception as err:  # noqa: BLE001 - whatever stopped the job, the shards so far are kept
            name, message = _job_error(err)
            if name in ("ShardError", "BackboneError", "WeightsError"):  # the model or the options, not the job
                raise ShardError(message) from None
            raise JobFailed(f"the Ray job stopped: {name}: {message}. Every complete "
                            f"shard in {self.out} is kept: rerun the same command to resume (a smaller "
                            "--batch-size helps if memory ran out).") from err
        finally:
            context.enable_progress_bars = saved[0]
            _RAY_DATA_LOG.setLevel(saved[1])
            if bar is not None:
                bar.close()
        return new


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _job_error(err: BaseException) -> tuple[str, str]:
    """``(error class name, message)`` of what stopped a job.

    An actor that failed in ``__init__`` reaches the driver as text only (Ray keeps the remote
    traceback, not the exception), so its last line, ``module.Class: message``, is parsed.
    """
    import ray.exceptions

    for inner in _chain(err):
        if isinstance(inner, ray.exceptions.RayActorError) and getattr(inner, "actor_init_failed", False):
            last = [line for line in _ANSI.sub("", str(inner)).strip().splitlines() if line.strip()][-1]
            name, _, message = last.partition(": ")
            return name.rsplit(".", 1)[-1], message or last
    cause = _chain(err)[-1]
    return type(cause).__name__, first_line(cause)


def _chain(err: BaseException) -> list[BaseException]:
    """``err`` and the errors that caused it, outermost first (Ray's own ``cause`` included)."""
    found = [err]
    while len(found) < 20:
        inner = getattr(found[-1], "cause", None) or found[-1].__cause__
        if not isinstance(inner, BaseException) or inner in found:
            break
        found.append(inner)
    return found


def prepare_job(
    sources, out: str | os.PathLike, *, path_column: str = "path", address: str | None = None,
    concurrency: int | None = None, batch_size: int | None = None, gpus_per_actor: float | None = None,
    cpus_per_actor: float | None = None, **load_options,
) -> RayJob:
    """Check everything and plan the job without loading a model; :meth:`RayJob.run` scores.

    ``sources``: see :func:`list_sources`. ``out``: the shard folder (local or a URI that every
    node can reach). ``address``: the Ray cluster (default: ``RAY_ADDRESS``, else a local
    instance; one already initialised in this process is used as is). ``concurrency``: actors
    (default: every GPU / ``gpus_per_actor``, else the cluster's CPUs / ``cpus_per_actor``).
    ``batch_size``: images per actor call and per shard (default 128 on GPUs, 4 on CPUs).
    ``gpus_per_actor``: default 1 where the cluster has GPUs (and ``device`` is ``"auto"`` or
    ``"cuda"``); ``cpus_per_actor``: default 1 beside a GPU, else 4 (capped at the largest node).
    ``load_options``: the arguments of :func:`genziqa.load` (``weights``, ``backbone``,
    ``device``, ``dtype``, ...); paths in them must exist on every node.

    Order: options, sources and the output folder are checked first; then Ray is reached, the
    scorer is planned (:func:`genziqa.core.api.prepare`; for GPU actors by a task on a GPU
    node) and a folder holding another run's rows is refused.
    """
    _check_options(concurrency, batch_size, gpus_per_actor, cpus_per_actor, load_options)
    paths = list_sources(sources, path_column=path_column)
    folder = _Folder(out)
    folder.check()
    contents = _read_folder(folder)

    started = _connect(address)
    try:
        resources = _plan_resources(load_options.get("device", "auto"), concurrency, gpus_per_actor, cpus_per_actor)
        options = {**_absolute_options(load_options), "device": resources.device}
        plan = _plan_scorer(options, resources)
        check_same_run(folder.name, contents.runs, plan["run_id"], error=ShardError)
    except BaseException:
        if started:
            import ray

            ray.shutdown()
        raise
    done = contents.done()
    batch = batch_size or (GPU_BATCH if resources.gpus else CPU_BATCH)
    return RayJob(paths=paths, todo=[p for p in paths if p not in done], out=os.fspath(out), run_id=plan["run_id"],
                  zero_shot=plan["zero_shot"], device=plan["device"], dtype=plan["dtype"],
                  resolution=plan["resolution"], resize=plan["resize"], batch_size=batch, resources=resources,
                  load_options=options, _folder=folder, _started_ray=started)


def score_to_shards(sources, out: str | os.PathLike, *, progress: bool = True, **options) -> ShardSummary:
    """:func:`prepare_job` then :meth:`RayJob.run`: score ``sources`` into the shard folder ``out``.

    Rerunning it skips every image with a score in ``out`` and retries the failed ones.
    """
    return prepare_job(sources, out, **options).run(progress=progress)


def _check_options(concurrency, batch_size, gpus_per_actor, cpus_per_actor, load_options) -> None:
    for name, value in (("concurrency", concurrency), ("batch_size", batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ShardError(f"{name}={value!r} must be a whole number of at least 1.")
    for name, value in (("gpus_per_actor", gpus_per_actor), ("cpus_per_actor", cpus_per_actor)):
        if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
            raise ShardError(f"{name}={value!r} must be a number above 0.")
    from ..api import prepare

    known = set(inspect.signature(prepare).parameters)
    unknown = sorted(set(load_options) - known)
    if unknown:
        raise ShardError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                         f"the model options are those of genziqa.load: {', '.join(sorted(known))}.")
    device = str(load_options.get("device") or "auto")
    if device.startswith("cuda:"):
        raise ShardError(f"device={device!r}: Ray gives each actor its own GPUs, so name no index; "
                         "use device='cuda' (or 'auto').")


def _absolute_options(options: dict) -> dict:
    """Local paths made absolute: Ray workers do not share this process's working directory."""
    fixed = dict(options)
    for key in ("weights", "backbone", "backbone_config"):
        value = fixed.get(key)
        if isinstance(value, (str, os.PathLike)) and os.path.exists(value):
            fixed[key] = os.path.abspath(value)
    return fixed


def _connect(address: str | None) -> bool:
    """Reach Ray; True if this call started it (and the job must shut it down)."""
    try:
        import ray
    except ImportError:
        raise ShardError("--engine ray needs Ray: pip install 'genziqa[ray]' (Ray Data with pyarrow).") from None
    if ray.is_initialized():
        return False
    try:
        # No dashboard for an instance started here: it needs more packages and is not needed.
        ray.init(address=address, logging_level=logging.WARNING, include_dashboard=False)
    except (ConnectionError, ValueError, RuntimeError) as err:
        where = address or os.environ.get("RAY_ADDRESS") or "a new local instance"
        raise ShardError(f"cannot reach the Ray cluster at {where}: {first_line(err)}. Pass --address "
                         "HOST:PORT (or ray://HOST:10001), or start one with `ray start --head`.") from None
    return True


def _plan_resources(device, concurrency, gpus_per_actor, cpus_per_actor) -> _Resources:
    import ray

    device = str(device or "auto")
    total = ray.cluster_resources()
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    gpus_total = float(total.get("GPU", 0))
    use_gpus = device in ("auto", "cuda") and gpus_total > 0
    if device == "cuda" and not gpus_total:
        raise ShardError("device='cuda' but the Ray cluster has no GPUs; use device='auto' or 'cpu' for CPU actors.")
    if gpus_per_actor is not None and not use_gpus:
        raise ShardError(f"gpus_per_actor={gpus_per_actor} but the actors run on CPUs "
                         f"({'the cluster has no GPUs' if not gpus_total else f'device={device!r}'}).")
    largest_cpus = max((float(n.get("CPU", 0)) for n in nodes), default=float(total.get("CPU", 1)))
    if use_gpus:
        gpus = float(gpus_per_actor or 1)
        largest_gpus = max(float(n.get("GPU", 0)) for n in nodes)
        if gpus > largest_gpus:
            raise ShardError(f"gpus_per_actor={gpus:g} but no node has more than {largest_gpus:g} GPUs.")
        cpus = float(cpus_per_actor or 1)
        actors = concurrency or max(1, int(gpus_total // gpus))
        actor_device = "cuda"
    else:
        gpus = 0.0
        cpus = float(cpus_per_actor or min(CPU_ACTOR_CPUS, largest_cpus))
        actors = concurrency or max(1, int(float(total.get("CPU", 1)) // cpus))
        actor_device = "cpu" if device == "auto" else device
    if cpus > largest_cpus:
        raise ShardError(f"cpus_per_actor={cpus:g} but no node has more than {largest_cpus:g} CPUs.")
    return _Resources(gpus=gpus, cpus=cpus, actors=actors, device=actor_device)


def _plan_scorer(options: dict, resources: _Resources) -> dict:
    """:func:`~genziqa.core.api.prepare` for the actors, without loading a model.

    CPU actors plan here (the identity depends on file contents and the dtype, both the same on
    every node that shares the files); GPU actors in one Ray task on a GPU node, since "cuda" and
    the float16 default resolve only where a GPU is. Each actor plans again and refuses to score
    if its identity differs.
    """
    if not resources.gpus:
        try:
            return _plan(options)
        except (ValueError, OSError) as err:
            raise ShardError(str(err)) from None
    import ray

    task = ray.remote(_plan).options(num_cpus=min(resources.cpus, 1), num_gpus=resources.gpus, max_retries=0)
    try:
        return ray.get(task.remote(options))
    except Exception as err:  # noqa: BLE001 - the task's own error says what is wrong
        cause = _chain(err)[-1]
        if isinstance(cause, (ValueError, OSError)):  # a bad backbone, weights file or option
            raise ShardError(str(cause)) from None
        raise


def _plan(options: dict) -> dict:
    from ..api import prepare

    plan = prepare(**options)
    return {"run_id": plan.run_id, "zero_shot": plan.zero_shot, "device": str(plan.device),
            "dtype": str(plan.dtype).removeprefix("torch."), "resolution": plan.config.resolution,
            "resize": plan.config.resize}


# -- in the workers --------------------------------------------------------------------------


def _decode(batch: dict, *, resolution: int, resize: str) -> dict:
    """Ray task: paths -> ``pixels`` ``(B, 3, R, R) float32 in [0, 1]`` and ``error`` ("" when read).

    A path that cannot be read, for any reason, becomes its row's error; the job goes on.
    """
    import numpy as np

    from ..images import ImageError, load_image, to_model_input

    paths = [str(p) for p in batch["path"]]
    pixels = np.zeros((len(paths), 3, resolution, resolution), dtype=np.float32)
    errors = [""] * len(paths)
    filesystems: dict[str, tuple] = {}
    for i, path in enumerate(paths):
        try:
            if _is_uri(path):
                loaded = _load_remote(path, filesystems, load_image)
            else:
                loaded = load_image(path, path)
            pixels[i] = to_model_input([loaded], resolution, resize=resize)[0].numpy()
        except ImageError as err:
            errors[i] = str(err)
        except Exception as err:  # noqa: BLE001 - an unreadable image is a row, never a failed job
            errors[i] = f"{path}: cannot be read ({type(err).__name__}: {first_line(err)})."
    return {"path": np.array(paths, dtype=object), "pixels": pixels, "error": np.array(errors, dtype=object)}


def _load_remote(uri: str, filesystems: dict, load_image):
    """Fetch ``uri`` into a local temporary file and load it there, so every check of
    :func:`~genziqa.core.images.load_image` applies and its messages name ``uri``.

    ``filesystems`` caches ``(filesystem, URI prefix)`` per scheme and host: making an object
    store client costs a round trip, and one task reads many images from the same bucket.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    key = (parts.scheme, parts.netloc)
    if key not in filesystems:
        fs, where = _filesystem(uri)
        filesystems[key] = (fs, _uri_prefix(uri, where))
    fs, prefix = filesystems[key]
    with fs.open_input_stream(uri[len(prefix):]) as f:
        data = f.read()
    with tempfile.NamedTemporaryFile(suffix=_suffix(uri)) as tmp:
        tmp.write(data)
        tmp.flush()
        return load_image(tmp.name, uri)


class _ShardWriter:
    """Ray actor: loads the scorer once, then scores each batch and writes it as one shard."""

    def __init__(self, load_options: dict, run_id: str, out: str, threads: int | None, faults: dict | None):
        import torch

        from ..api import prepare

        if threads:
            torch.set_num_threads(threads)
        plan = prepare(**load_options)
        if plan.run_id != run_id:
            import socket

            raise ShardError(f"the model on node {socket.gethostname()} ({plan.run_id}) differs from the one "
                             f"planned for the job ({run_id}). Every node must see the same backbone and "
                             "weights files.")
        self.scorer = plan.load()
        self.folder = _Folder(out)
        self.faults = faults or {}

    def __call__(self, batch: dict) -> dict:
        import numpy as np
        import torch

        paths = [str(p) for p in batch["path"]]
        errors = [str(e) for e in batch["error"]]
        readable = [i for i, e in enumerate(errors) if not e]
        results = dict(zip(readable, self.scorer.score_each([torch.tensor(batch["pixels"][i]) for i in readable])))
        model, run = self.scorer.label, self.scorer.run_id
        rows = []
        for i, path in enumerate(paths):
            if i in results:
                result = results[i]
                if result.error and result.error.startswith(result.source):
                    # The scorer names the pixels it was given ("image 0 (torch tensor)"): name the file.
                    result = replace(result, error=path + result.error[len(result.source):])
            else:
                result = ScoredImage(source=path, score=None, error=errors[i])
            rows.append(outcome_row(path, result, model=model, run=run))
        self.folder.write(_shard_name(paths), _shard_table(rows))
        self._inject_faults()
        return {"path": np.array(paths, dtype=object),
                "score": np.array([math.nan if r.score is None else r.score for r in rows], dtype=np.float64),
                "error": np.array([r.error or "" for r in rows], dtype=object)}

    def _inject_faults(self) -> None:
        """Tests only (:data:`_TEST_FAULTS`): die once right after a shard is written, or slow down."""
        marker = self.faults.get("crash_once")
        if marker and not os.path.exists(marker):
            Path(marker).write_text("crashed once after writing a shard\n")
            os._exit(1)
        if self.faults.get("pause_s"):
            time.sleep(float(self.faults["pause_s"]))

"""The model behind the demo: one scorer, loaded on first use, serving one request at a time.

The scorer is injected or planned (:func:`genziqa.core.api.prepare`, cheap) and loaded by the
first request that needs it, so the page is up at once. Every model call goes through
:func:`_on_device`, the one function that touches the accelerator: on Hugging Face ZeroGPU
hardware (the ``spaces`` package present) it is wrapped in ``spaces.GPU``, which attaches a GPU
only while it runs, in a forked worker; elsewhere the wrapper is the function itself. Because the
worker is a fork, the function takes only picklable arguments and finds its model in the
module-level :data:`_MODELS` registry; on ZeroGPU the model must therefore be loaded before the
server starts (:meth:`DemoModel.load_now`).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

# Seconds per UNet row for a 512 px image on a full-size SD 2.1-base-shaped model
# (benchmarks/results.md, run 5 and the second GPU run), VAE encode included: CPU = 2 cores.
# They are only the first guess: once a request has run here, its measured rate replaces them.
_BENCHMARK_SECONDS_PER_ROW = {
    ("cpu", "float32"): 78.1 / 16,
    ("cpu", "bfloat16"): 49.5 / 16,
    ("cpu", "float16"): 49.5 / 16,
    ("cuda", "float16"): 0.049 / 16,
    ("cuda", "bfloat16"): 0.051 / 16,
    ("cuda", "float32"): 0.498 / 16,
}
_BENCHMARK_RESOLUTION = 512

ANALYSIS_CACHE_SIZE = 8
"""Analyses kept by image content, so a second map of the same image needs no model call."""

_MODELS: dict[int, DemoModel] = {}
_KEYS = itertools.count()

ProgressFn = Callable[..., object]
"""A ``gr.Progress`` (or anything called like one): ``progress((done, total), desc=..., unit=...)``."""


class DemoModel:
    """The scorer a demo serves.

    ``scorer``: an already loaded :class:`~genziqa.core.scoring.Scorer`; or ``plan``: a
    :class:`~genziqa.core.api.LoadPlan` loaded on first use (exactly one of the two).
    """

    def __init__(self, scorer=None, *, plan=None):
        if (scorer is None) == (plan is None):
            raise ValueError("DemoModel needs exactly one of scorer= (loaded) and plan= (loaded on first use).")
        self._scorer = scorer
        self._plan = plan
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()  # one model call at a time, whatever the queue does
        self._cache: OrderedDict[str, object] = OrderedDict()  # sha256 of the file -> Analysis
        self._cache_lock = threading.Lock()
        self._seconds_per_row: float | None = None  # measured on this machine
        self.key = next(_KEYS)
        _MODELS[self.key] = self

    # -- what it is, before or after loading -------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._scorer is not None

    @property
    def label(self) -> str:
        """The model label (starts with ``zero-shot`` when untrained)."""
        if self._scorer is not None:
            return self._scorer.label
        return self._plan.label_hint

    @property
    def zero_shot(self) -> bool:
        return self._scorer.zero_shot if self._scorer is not None else self._plan.zero_shot

    @property
    def device_type(self) -> str:
        """``"cpu"``, ``"cuda"`` or ``"mps"``."""
        device = self._scorer.backbone.device if self._scorer is not None else self._plan.device
        return device.type

    @property
    def dtype_name(self) -> str:
        dtype = self._scorer.backbone.dtype if self._scorer is not None else self._plan.dtype
        return str(dtype).removeprefix("torch.")

    @property
    def run_id(self) -> str:
        """What identifies the numbers this model makes (see :mod:`genziqa.core.identity`)."""
        return getattr(self._scorer or self._plan, "run_id", "") or ""

    @property
    def resolution(self) -> int:
        return (self._scorer or self._plan).config.resolution

    @property
    def rows_per_image(self) -> int:
        """UNet rows one image costs: timesteps x (good, bad) prompts."""
        return 2 * len((self._scorer or self._plan).config.timesteps)

    # -- loading -------------------------------------------------------------------------------

    def scorer(self, progress: ProgressFn | None = None):
        """The loaded scorer; the first call loads it (minutes for a full-size model on CPU).

        A failed load raises and is tried again by the next request.
        """
        if self._scorer is not None:
            return self._scorer
        with self._load_lock:
            if self._scorer is None:
                if progress is not None:
                    progress(0.0, desc="Loading the model (first request only)")
                self._scorer = self._plan.load()
        return self._scorer

    def load_now(self) -> None:
        """Load before serving (ZeroGPU needs the weights in the main process before any fork)."""
        self.scorer()

    def load_in_background(self) -> threading.Thread:
        """Start loading now without holding the page back; the first request waits for it.

        A failure here is not lost: the first request loads again and shows the error.
        """
        def load() -> None:
            try:
                self.scorer()
            except Exception:  # noqa: BLE001 - reported by the request that retries the load
                pass

        thread = threading.Thread(target=load, name="genziqa-load", daemon=True)
        thread.start()
        return thread

    # -- the work ------------------------------------------------------------------------------

    def has_analysis(self, path: str) -> bool:
        """Whether :meth:`analyze` of this file would come from the cache."""
        with self._cache_lock:
            return _digest(path) in self._cache

    def analyze(self, path: str, progress: ProgressFn | None = None):
        """:class:`~genziqa.core.results.Analysis` of the image file at ``path``; an image seen
        recently (same bytes) comes from the cache without a model call."""
        key = _digest(path)
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        analysis = self._call("analyze", [path], progress)
        with self._cache_lock:
            self._cache[key] = analysis
            while len(self._cache) > ANALYSIS_CACHE_SIZE:
                self._cache.popitem(last=False)
        return analysis

    def score_each(self, paths: Sequence[str], progress: ProgressFn | None = None) -> list:
        """One :class:`~genziqa.core.results.ScoredImage` per file, in order."""
        return self._call("score", list(paths), progress) if paths else []

    def _call(self, task: str, paths: list[str], progress: ProgressFn | None):
        with self._run_lock:
            was_loaded = self.loaded
            start = time.monotonic()
            result = _on_device(self.key, task, tuple(paths), progress)
            if was_loaded:  # a run that also loaded the model would overstate the rate
                rate = (time.monotonic() - start) / (len(paths) * self.rows_per_image)
                self._seconds_per_row = rate if self._seconds_per_row is None else 0.5 * (self._seconds_per_row + rate)
            return result

    # -- how long it takes ---------------------------------------------------------------------

    def seconds_per_image(self) -> tuple[float | None, bool]:
        """(seconds, measured): measured here once a request has run, else the benchmark's
        figure scaled to this resolution, or None when no benchmark matches this hardware."""
        if self._seconds_per_row is not None:
            return self._seconds_per_row * self.rows_per_image, True
        per_row = _BENCHMARK_SECONDS_PER_ROW.get((self.device_type, self.dtype_name))
        if per_row is None:
            return None, False
        scale = (self.resolution / _BENCHMARK_RESOLUTION) ** 2  # the UNet's work grows with pixels
        return per_row * self.rows_per_image * scale, False


def benchmark_source(device_type: str) -> str:
    """Where the first-guess timings come from, in words."""
    return "benchmarked on a 2-core CPU" if device_type == "cpu" else "benchmarked on an H200 GPU"


def _digest(path: str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _row_reporter(progress: ProgressFn | None, what: str) -> Callable[[int, int], None] | None:
    """The core's ``progress(rows_done, rows_total)`` as a progress bar with the time left."""
    if progress is None:
        return None
    start = time.monotonic()

    def report(done: int, total: int) -> None:
        elapsed = time.monotonic() - start
        left = f" · about {format_seconds(elapsed / done * (total - done))} left" if 0 < done < total else ""
        progress((done, total), desc=f"{what}: UNet passes{left}", unit="passes")

    return report


def format_seconds(seconds: float) -> str:
    """``"0.04 s"``, ``"4.2 s"``, ``"42 s"``, ``"3 min 5 s"``, ``"1 h 2 min"``."""
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _gpu_seconds(key: int, task: str, paths: tuple[str, ...], progress=None) -> int:
    """ZeroGPU's time budget for one call: start-up plus a generous second per image."""
    return 30 + 2 * len(paths)


def _run(key: int, task: str, paths: tuple[str, ...], progress: ProgressFn | None = None):
    """The one function that runs the model (see the module docstring)."""
    model = _MODELS[key]
    scorer = model.scorer(progress)
    if task == "analyze":
        return scorer.analyze(paths[0], progress=_row_reporter(progress, "Scoring and mapping") or False)
    if task == "score":
        return scorer.score_each(list(paths), progress=_row_reporter(progress, "Scoring") or False)
    raise ValueError(f"unknown task {task!r}; expected 'analyze' or 'score'.")


def _gpu(fn):
    """``spaces.GPU`` where the ``spaces`` package is installed (it is a no-op off ZeroGPU), else ``fn``."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=_gpu_seconds)(fn)


_on_device = _gpu(_run)


def on_zero_gpu() -> bool:
    """True on Hugging Face ZeroGPU hardware (which sets ``SPACES_ZERO_GPU``)."""
    import os

    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")

"""The demo's callbacks: convert Gradio values, call the model or a cached result, convert back.

Uploads are taken as files (the event's preprocessing is off), so the core decodes them itself:
a 16-bit PNG keeps its precision, and a broken file reaches the core's checks, whose message
names the upload. Page callbacks show a failure in the page and return; API callbacks raise
``gr.Error``, which a ``gradio_client`` caller receives as the error's message.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from ..core.heatmaps import DEFAULT_ALPHA
from ..core.images import ImageError, LoadedImage, load_image
from ..core.messages import first_line
from . import batch, render
from .model import DemoModel, benchmark_source, format_seconds

QUALITY = "quality"
"""The ``/heatmap`` token that asks for the spatial quality map instead of a token's attention."""

API_SIDE = 4096
"""Longest side of the ``/heatmap`` PNG (the map is computed at the image's size, then shrunk)."""


@dataclass(frozen=True)
class Shown:
    """What the page keeps per visitor for re-drawing without the model: the analysis of the
    image on screen and that image as drawn."""

    analysis: object
    picture: Image.Image


def upload_file(value) -> tuple[str, str] | None:
    """(path on disk, name the user knows) of an image value, or None when there is none.

    With preprocessing off, an image arrives as Gradio's file record (a dict with ``path`` and
    ``orig_name``); examples and tests may pass a plain path.
    """
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value), Path(value).name
    path = value.get("path") if isinstance(value, dict) else None
    if not path:
        return None
    return path, value.get("orig_name") or Path(path).name


def _failure(err: BaseException, model: DemoModel) -> str:
    """One line for the page or an API error, naming the input or the model at fault."""
    if isinstance(err, ImageError):
        return str(err)
    if not model.loaded:
        return f"The model could not be loaded: {first_line(err)}."
    return f"{first_line(err)}."


# -- single image ------------------------------------------------------------------------------

class SingleImage:
    """Callbacks of the single-image tab (bound to one model)."""

    def __init__(self, model: DemoModel):
        self.model = model

    def analyze(self, value, token: str | None, opacity: float, progress=gr.Progress()):
        """Upload -> (card, quality map, token map, token picker, timestep plot, layer plot, state)."""
        upload = upload_file(value)
        if upload is None:
            return (render.idle_card(self.model.label, self.model.zero_shot), None, None,
                    gr.update(choices=[], value=None), None, None, None)
        path, name = upload
        started = time.monotonic()
        try:
            loaded = load_image(path, name)  # bad files fail here, before any model is loaded
            cached = self.model.has_analysis(path)
            analysis = self.model.analyze(path, progress)
        except (ImageError, ValueError, OSError, RuntimeError, FloatingPointError) as err:
            return (render.error_card(_failure(err, self.model)), None, None,
                    gr.update(choices=[], value=None), None, None, None)
        picture = render.display_image(loaded)
        choices = render.token_choices(analysis)
        words = [word for _, word in choices]
        token = token if token in words else ("good" if "good" in words else words[0])
        width, height = analysis.image_size
        took = "seen before: from the cache" if cached else f"scored in {format_seconds(time.monotonic() - started)}"
        detail = f"{name} · {width}×{height} px · {took}"
        return (
            render.score_card(analysis.score, analysis.model, analysis.zero_shot, detail),
            render.quality_overlay(analysis, picture, opacity),
            render.token_overlay(analysis, picture, token, opacity),
            gr.update(choices=choices, value=token),
            render.timestep_table(analysis),
            _layer_plot(analysis),
            Shown(analysis, picture),
        )

    @staticmethod
    def redraw(shown: Shown | None, token: str | None, opacity: float):
        """Token or opacity changed -> (quality map, token map) from the kept analysis; no model call."""
        if shown is None or not token:
            return gr.skip(), gr.skip()
        return (render.quality_overlay(shown.analysis, shown.picture, opacity),
                render.token_overlay(shown.analysis, shown.picture, token, opacity))


# -- API -----------------------------------------------------------------------------------------

class Api:
    """The named endpoints (``/score``, ``/heatmap``, ``/analyze``); failures raise ``gr.Error``."""

    def __init__(self, model: DemoModel):
        self.model = model

    def _checked(self, value) -> tuple[str, str, LoadedImage]:
        upload = upload_file(value)
        if upload is None:
            raise gr.Error("No image was sent: pass a file, e.g. handle_file('photo.jpg').")
        path, name = upload
        try:
            return path, name, load_image(path, name)
        except ImageError as err:
            raise gr.Error(str(err)) from None

    def score(self, image, progress=gr.Progress()) -> dict:
        """Score one image. Returns ``{"score", "model", "zero_shot", "image"}``; higher = better."""
        path, name, _ = self._checked(image)
        try:
            (result,) = self.model.score_each([path], progress)
        except (ValueError, OSError, RuntimeError) as err:
            raise gr.Error(_failure(err, self.model)) from None
        if not result.ok:
            raise gr.Error(str(result.error).replace(path, name))
        return {"score": result.score, "model": self.model.label, "zero_shot": self.model.zero_shot, "image": name}

    def _analysis(self, path: str, progress):
        try:
            return self.model.analyze(path, progress)
        except (ValueError, OSError, RuntimeError, FloatingPointError) as err:
            raise gr.Error(_failure(err, self.model)) from None

    def heatmap(self, image, token: str, opacity: float = DEFAULT_ALPHA, progress=gr.Progress()) -> Image.Image:
        """The image under one map, as PNG: a prompt token's attention (``good``, ``bad``, ``photo``,
        ``x``, ``<end>``) or ``quality`` for the spatial quality map. ``opacity`` 0..1."""
        path, name, loaded = self._checked(image)
        if not 0.0 <= float(opacity) <= 1.0:
            raise gr.Error(f"opacity {opacity} is outside 0..1.")
        analysis = self._analysis(path, progress)
        picture = render.display_image(loaded, side=API_SIDE)
        token = (token or "").strip()
        if token.lower() == QUALITY:
            return render.quality_overlay(analysis, picture, opacity)
        try:
            return render.token_overlay(analysis, picture, token, opacity)
        except ValueError as err:
            raise gr.Error(f"{err} Or {QUALITY!r} for the spatial quality map.") from None

    def analyze(self, image, progress=gr.Progress()) -> dict:
        """Score, per-timestep and per-layer numbers and the prompt tokens of one image (JSON)."""
        path, name, _ = self._checked(image)
        record = self._analysis(path, progress).to_dict()
        record["source"] = name
        return record


# -- batch ---------------------------------------------------------------------------------------

class Batch:
    """Callbacks of the batch tab."""

    DOWNLOAD_LIFETIME = 600
    """Seconds a CSV stays where it was written; Gradio serves its own copy, made on return."""

    def __init__(self, model: DemoModel):
        self.model = model
        self._downloads: list[tuple[float, str]] = []
        self._downloads_lock = threading.Lock()

    def _new_download(self, filename: str) -> Path:
        """A path in a fresh temporary folder; folders of earlier requests are removed once old."""
        now = time.monotonic()
        with self._downloads_lock:
            for made, folder in [d for d in self._downloads if now - d[0] > self.DOWNLOAD_LIFETIME]:
                shutil.rmtree(folder, ignore_errors=True)
                self._downloads.remove((made, folder))
            folder = tempfile.mkdtemp(prefix="genziqa-csv-")
            self._downloads.append((now, folder))
        return Path(folder) / filename

    def estimate(self, files) -> str:
        """Files chosen -> how many images that is and about how long it will take here."""
        paths = [f for f in (files or []) if f]
        if not paths:
            return ""
        count = sum(_zip_members(p) if zipfile.is_zipfile(p) else 1 for p in paths)
        shown = min(count, batch.MAX_BATCH_IMAGES)
        over = f" (the first {batch.MAX_BATCH_IMAGES} are scored)" if count > batch.MAX_BATCH_IMAGES else ""
        seconds, measured = self.model.seconds_per_image()
        if seconds is None:
            return f"{count} files{over}."
        how = "measured here" if measured else benchmark_source(self.model.device_type)
        return (f"{count} files{over}: about {format_seconds(seconds * shown)} to score "
                f"({format_seconds(seconds)} per image, {how}).")

    def score(self, files, progress=gr.Progress()):
        """Files -> (gallery, histogram, summary, problems, CSV file)."""
        paths = [f for f in (files or []) if f]
        if not paths:
            return [], None, "Choose some images (or a .zip of images) first.", "", None
        with tempfile.TemporaryDirectory(prefix="genziqa-batch-") as workdir:
            uploads, problems = batch.expand_uploads(paths, workdir)
            readable, thumbs = [], {}
            for upload in uploads:
                try:
                    thumbs[upload.name] = render.display_image(load_image(upload.path, upload.name), side=256)
                    readable.append(upload)
                except ImageError as err:
                    problems.append(batch.Problem(upload.name, str(err)))
            try:
                results = self.model.score_each([u.path for u in readable], progress)
            except (ValueError, OSError, RuntimeError) as err:
                return [], None, _failure(err, self.model), _problem_list(problems), None
            ranking = batch.rank(readable, results)
        stats = batch.summary([score for _, score in ranking.ranked])
        gallery = [(thumbs[name], f"#{i} · {score:.4f} · {name}") for i, (name, score) in enumerate(ranking.ranked, 1)]
        csv_path = self._new_download("genziqa-scores.csv")
        batch.write_csv(csv_path, ranking, problems, model=self.model.label, run=self.model.run_id or "demo")
        return (
            gallery,
            _histogram([score for _, score in ranking.ranked]),
            _summary_text(stats, ranking, self.model),
            _problem_list([*ranking.failed, *problems]),
            str(csv_path),
        )


def _layer_plot(analysis):
    """The per-layer bar plot's value, bars in UNet order (a plot sorts names alphabetically)."""
    table = render.layer_table(analysis)
    if table is None:
        return None
    return gr.BarPlot(value=table, sort=list(table["layer"]))


def _histogram(scores: list[float]):
    """A small matplotlib figure of the score histogram (whole-number counts), or None."""
    if not scores:
        return None
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    counts, edges = batch.histogram(scores)
    figure = Figure(figsize=(6.0, 2.6), layout="constrained")
    axes = figure.add_subplot()
    axes.stairs(counts, edges, fill=True, color="#6366f1", edgecolor="white")
    axes.set_title("Score histogram", fontsize=11)
    axes.set_xlabel("score (higher = better)")
    axes.set_ylabel("images")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def _zip_members(path: str) -> int:
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(1 for i in archive.infolist()
                       if not i.is_dir() and not i.filename.startswith("__MACOSX/"))
    except (zipfile.BadZipFile, OSError):
        return 1


def _summary_text(stats: dict, ranking: batch.Ranking, model: DemoModel) -> str:
    if not stats["images"]:
        return "No image could be scored; the reasons are listed below."
    best, worst = ranking.ranked[0], ranking.ranked[-1]
    lines = [
        f"**{stats['images']} scored** with `{model.label}`"
        + (" — **zero-shot**: compare these scores with each other, not with a quality scale." if model.zero_shot else "."),
        "",
        "| mean | median | std | min | max |",
        "|---:|---:|---:|---:|---:|",
        f"| {stats['mean']:.4f} | {stats['median']:.4f} | {stats['std']:.4f} | {stats['min']:.4f} | {stats['max']:.4f} |",
        "",
        f"Best: `{best[0]}` ({best[1]:.4f}) · worst: `{worst[0]}` ({worst[1]:.4f})",
    ]
    return "\n".join(lines)


def _problem_list(problems: list[batch.Problem]) -> str:
    """HTML list of the files that were not scored (empty when all were)."""
    import html

    if not problems:
        return ""
    count = len(problems)
    items = "".join(f"<li>{html.escape(p.message)}</li>" for p in problems)
    title = f"{count} file{'s' if count != 1 else ''} not scored (the others were):"
    return (f'<div data-testid="genziqa-problems" style="border:2px solid #b91c1c;background:#fef2f2;color:#450a0a;'
            f'border-radius:10px;padding:10px 14px"><b>{title}</b><ul style="margin:6px 0 0 18px">{items}</ul></div>')

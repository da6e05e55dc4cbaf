"""The demo as its users meet it: the named API through gradio_client against a launched app on a
tiny backbone, the page's callbacks, bad uploads, concurrency and the serving limits."""

from __future__ import annotations

import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio", reason="the demo needs gradio (pip install 'genziqa[demo]')")
gradio_client = pytest.importorskip("gradio_client", reason="API tests need gradio_client")

import genziqa  # noqa: E402
from genziqa.gradio_app import build_demo, launch  # noqa: E402
from genziqa.gradio_app import app as app_module  # noqa: E402
from genziqa.gradio_app import batch, callbacks, model as model_module  # noqa: E402


# -- files a user might upload -----------------------------------------------------------------

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png_header(path: Path, side: int = 100_000) -> Path:
    """A small file whose PNG header claims ``side`` x ``side`` pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 3 * side) * 2)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def files(photos, tmp_path_factory) -> dict[str, Path]:
    """Four good photos of different content, and one of each kind of bad upload."""
    folder = tmp_path_factory.mktemp("uploads")
    out = {}
    for name, photo in zip(("astronaut", "chelsea", "coffee", "rocket"), photos):
        out[name] = folder / f"{name}.png"
        Image.fromarray(photo).resize((96, 80)).save(out[name])
    gray16 = (photos[0][..., 0].astype(np.uint16) * 257)[::4, ::4]  # [128, 128] uint16
    out["deep16"] = folder / "deep16.png"
    Image.fromarray(gray16).save(out["deep16"])
    out["notes"] = folder / "notes.png"
    out["notes"].write_text("these are my notes, not an image")
    out["empty"] = folder / "empty.png"
    out["empty"].write_bytes(b"")
    out["dot"] = folder / "dot.png"
    Image.new("RGB", (1, 1), (200, 20, 20)).save(out["dot"])
    out["huge"] = huge_png_header(folder / "huge.png")
    return out


@pytest.fixture(scope="module")
def scorer(tiny_sd2_dir, tiny_config):
    return genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config, device="cpu")


@pytest.fixture(scope="module")
def served(scorer):
    """(demo, url) of the demo on the tiny scorer, served on localhost for this module."""
    demo = build_demo(scorer)
    _, url, _ = launch(demo, prevent_thread_lock=True, quiet=True)
    yield demo, url
    demo.close()


@pytest.fixture(scope="module")
def client(served):
    return gradio_client.Client(served[1], verbose=False)


# -- the named API -------------------------------------------------------------------------------

def test_api_lists_the_named_endpoints(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/score", "/heatmap", "/analyze"} <= set(named)
    assert not any(name.startswith("/page_") for name in named), "page-only events must stay private"


def test_score_endpoint_equals_scorer_score(client, scorer, files):
    for name in ("astronaut", "chelsea", "deep16"):
        result = client.predict(gradio_client.handle_file(str(files[name])), api_name="/score")
        assert result["score"] == scorer.score([files[name]])[0]
        assert result["model"] == scorer.label and result["model"].startswith("zero-shot")
        assert result["zero_shot"] is True
        assert result["image"] == files[name].name


def test_sixteen_bit_png_keeps_its_precision(client, scorer, files):
    """The upload reaches the core as the file itself: its score is that of the 16-bit pixels,
    not of an 8-bit copy."""
    deep = np.asarray(Image.open(files["deep16"]))  # [H, W] uint16
    assert deep.dtype == np.uint16
    as_8_bit = (deep // 257).astype(np.uint8)
    served = client.predict(gradio_client.handle_file(str(files["deep16"])), api_name="/score")["score"]
    assert served == scorer.score([deep])[0]
    assert served != scorer.score([as_8_bit])[0]


def test_heatmap_endpoint_returns_the_overlay_png(client, scorer, files):
    path = files["chelsea"]
    analysis = scorer.analyze(path)
    base = Image.open(path).convert("RGB")
    for token in ("good", "photo", "quality"):
        png = client.predict(gradio_client.handle_file(str(path)), token, 0.6, api_name="/heatmap")
        served = Image.open(png)
        assert served.format == "PNG" and served.size == base.size
        heat = analysis.quality_map() if token == "quality" else analysis.token_map(token)
        expected = genziqa.core.heatmaps.overlay(base, heat, alpha=0.6, symmetric=token == "quality",
                                                 cmap="RdBu" if token == "quality" else "inferno")
        assert np.abs(np.asarray(served.convert("RGB"), np.int16) - np.asarray(expected, np.int16)).max() <= 1
    good = client.predict(gradio_client.handle_file(str(path)), "good", 1.0, api_name="/heatmap")
    bad = client.predict(gradio_client.handle_file(str(path)), "bad", 1.0, api_name="/heatmap")
    assert not np.array_equal(np.asarray(Image.open(good)), np.asarray(Image.open(bad)))


def test_heatmap_opacity_defaults_and_unknown_token_lists_the_choices(client, files):
    png = client.predict(gradio_client.handle_file(str(files["coffee"])), api_name="/heatmap")
    assert Image.open(png).format == "PNG"
    with pytest.raises(Exception, match=r"zebra.*choose one of.*'good'.*quality"):
        client.predict(gradio_client.handle_file(str(files["coffee"])), "zebra", 0.5, api_name="/heatmap")


def test_analyze_endpoint_returns_the_numbers(client, scorer, files):
    record = client.predict(gradio_client.handle_file(str(files["rocket"])), api_name="/analyze")
    expected = scorer.analyze(files["rocket"])
    assert record["score"] == pytest.approx(expected.score, rel=1e-6)
    assert record["source"] == "rocket.png"
    assert len(record["per_timestep"]) == 8 and len(record["layer_stats"]) == 8
    assert record["model"].startswith("zero-shot")


@pytest.mark.parametrize("bad, says", [
    ("notes", "notes.png: cannot be read as an image"),
    ("empty", "empty.png: is an empty file"),
    ("dot", "dot.png: is 1x1 pixels"),
    ("huge", "huge.png: is 10,000,000,000 pixels, far over the limit"),
])
def test_bad_upload_is_refused_with_its_reason_and_the_app_keeps_serving(client, scorer, files, bad, says):
    with pytest.raises(Exception, match=says):
        client.predict(gradio_client.handle_file(str(files[bad])), api_name="/score")
    result = client.predict(gradio_client.handle_file(str(files["coffee"])), api_name="/score")
    assert result["score"] == scorer.score([files["coffee"]])[0]


def test_four_concurrent_clients_each_get_their_own_result(served, scorer, files):
    names = ("astronaut", "chelsea", "coffee", "rocket")
    expected = {name: scorer.score([files[name]])[0] for name in names}
    assert len(set(expected.values())) == 4, "the four photos must score differently for this test to mean anything"
    got: dict[str, float] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(names))

    def ask(name: str) -> None:
        try:
            own = gradio_client.Client(served[1], verbose=False)
            start.wait()
            for _ in range(2):  # twice each, so requests interleave in the queue
                result = own.predict(gradio_client.handle_file(str(files[name])), api_name="/score")
                assert result["image"] == files[name].name
                got.setdefault(name, result["score"])
                assert result["score"] == got[name]
        except BaseException as err:  # noqa: BLE001 - re-raised in the main thread
            errors.append(err)

    threads = [threading.Thread(target=ask, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert got == expected


# -- serving limits ------------------------------------------------------------------------------

def test_model_events_share_one_slot_and_the_queue_is_bounded(served):
    demo, _ = served
    model_events = [fn for fn in demo.fns.values() if fn.concurrency_id == "model"]
    names = {fn.api_name for fn in model_events}
    assert {"score", "heatmap", "analyze", "page_analyze", "page_rank"} <= names
    assert all(fn.concurrency_limit == 1 for fn in model_events)
    assert demo._queue.max_size == app_module.QUEUE_SIZE


def test_localhost_only_and_uploads_are_capped(served):
    import httpx

    demo, url = served
    assert demo.server_name == "127.0.0.1"
    assert demo.max_file_size == 50 * 1024 * 1024
    too_big = b"\0" * (demo.max_file_size + 1)
    response = httpx.post(f"{url.rstrip('/')}/gradio_api/upload", files={"files": ("big.png", too_big)}, timeout=60)
    assert response.status_code == 413


# -- the page's callbacks ------------------------------------------------------------------------

@pytest.fixture()
def demo_model(scorer):
    return model_module.DemoModel(scorer)


def test_switching_token_or_opacity_redraws_without_the_model(demo_model, files, monkeypatch):
    page = callbacks.SingleImage(demo_model)
    outputs = page.analyze({"path": str(files["chelsea"]), "orig_name": "cat.png"}, None, 0.6)
    card, quality, word_map, token_update, timesteps, layers, shown = outputs
    assert "cat.png" in card and "ZERO-SHOT" in card
    assert token_update["value"] == "good"
    assert [w for _, w in token_update["choices"]] == ["good", "photo", "bad", "<end>"]

    def no_model(*args, **kwargs):
        raise AssertionError("the model was called to redraw a map")

    monkeypatch.setattr(model_module, "_on_device", no_model)
    start = time.perf_counter()
    quality_2, word_map_2 = page.redraw(shown, "bad", 0.6)
    quality_3, word_map_3 = page.redraw(shown, "bad", 0.9)
    took = time.perf_counter() - start
    assert took < 1.0, f"two redraws took {took:.2f} s"
    assert np.array_equal(np.asarray(quality), np.asarray(quality_2))
    assert not np.array_equal(np.asarray(word_map), np.asarray(word_map_2))
    assert not np.array_equal(np.asarray(word_map_2), np.asarray(word_map_3))
    assert not np.array_equal(np.asarray(quality_2), np.asarray(quality_3))
    # The same image again comes from the analysis cache: still no model call.
    again = page.analyze({"path": str(files["chelsea"]), "orig_name": "cat.png"}, "bad", 0.6)
    assert "from the cache" in again[0]


def test_page_shows_a_bad_upload_in_the_card(demo_model, files):
    page = callbacks.SingleImage(demo_model)
    for bad, says in (("notes", "cannot be read as an image"), ("dot", "1x1"), ("huge", "far over the limit")):
        card, quality, word_map, *_ , shown = page.analyze({"path": str(files[bad]), "orig_name": f"{bad}.png"}, None, 0.5)
        assert "could not be scored" in card and says in card and f"{bad}.png" in card
        assert quality is None and word_map is None and shown is None


def test_a_failed_load_is_shown_and_retried(files, tiny_sd2_dir, tiny_config):
    from genziqa.core.api import prepare

    plan = prepare(backbone=str(tiny_sd2_dir), config=tiny_config, device="cpu")
    calls = []

    class FlakyPlan:
        """The real plan, whose first load fails as a full disk would."""

        def __getattr__(self, name):
            return getattr(plan, name)

        def load(self):
            calls.append(1)
            if len(calls) == 1:
                raise OSError("No space left on device")
            return plan.load()

    page = callbacks.SingleImage(model_module.DemoModel(plan=FlakyPlan()))
    card = page.analyze(str(files["coffee"]), None, 0.5)[0]
    assert "The model could not be loaded: No space left on device" in card
    card = page.analyze(str(files["coffee"]), None, 0.5)[0]
    assert "data-testid=\"genziqa-score\"" in card and len(calls) == 2


def test_batch_ranks_lists_failures_and_writes_engine_rows(demo_model, scorer, files, tmp_path):
    from genziqa.core.engines.local import read_results

    archive = tmp_path / "more.zip"
    import zipfile

    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(files["rocket"], "holiday/rocket.png")
        zf.writestr("__MACOSX/holiday/._rocket.png", b"resource fork")
        zf.writestr("holiday/readme.txt", "not an image")
    uploads = [str(files[n]) for n in ("astronaut", "chelsea", "notes")] + [str(archive)]
    gallery, histogram, summary, problems, csv_path = callbacks.Batch(demo_model).score(uploads, progress=None)

    expected = {name: scorer.score([files[name]])[0] for name in ("astronaut", "chelsea", "rocket")}
    order = sorted(expected, key=lambda n: -expected[n])
    captions = [caption for _, caption in gallery]
    shown_names = [c.split(" · ")[2] for c in captions]
    assert shown_names == [f"more.zip/holiday/{n}.png" if n == "rocket" else f"{n}.png" for n in order]
    assert captions[0].startswith("#1 · ")
    assert "3 scored" in summary and "zero-shot" in summary
    assert "2 files not scored" in problems
    assert "notes.png: cannot be read as an image" in problems and "more.zip/holiday/readme.txt" in problems
    assert "__MACOSX" not in problems

    rows = read_results(csv_path)
    assert [r.source for r in rows[:3]] == shown_names
    assert [r.score for r in rows[:3]] == [round(expected[n], 5) for n in order]
    assert {r.source for r in rows[3:]} == {"notes.png", "more.zip/holiday/readme.txt"}
    assert all(r.error for r in rows[3:]) and all(r.model == scorer.label for r in rows)


def test_batch_estimate_counts_zip_members_and_says_where_the_figure_comes_from(demo_model, files, tmp_path):
    import zipfile

    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(files["rocket"], "a.png")
        zf.write(files["coffee"], "b.png")
    text = callbacks.Batch(demo_model).estimate([str(files["astronaut"]), str(archive)])
    assert text.startswith("3 files: about ") and "per image" in text


def test_zip_limits(tmp_path, files, monkeypatch):
    import zipfile

    archive = tmp_path / "many.zip"
    photo = files["coffee"].read_bytes()
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(4):
            zf.writestr(f"../../escape{i}.png", photo)  # a name that tries to leave the folder
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    monkeypatch.setattr(batch, "MAX_BATCH_IMAGES", 3)
    monkeypatch.setattr(batch, "MAX_MEMBER_BYTES", len(photo) - 1)
    uploads, problems = batch.expand_uploads([str(archive)], work)
    assert uploads == [] and len(problems) == 4
    assert all("is larger than the" in p.message and "limit per file" in p.message for p in problems)

    monkeypatch.setattr(batch, "MAX_MEMBER_BYTES", 10**9)
    uploads, problems = batch.expand_uploads([str(archive)], work)
    assert [u.name for u in uploads] == [f"many.zip/../../escape{i}.png" for i in range(3)]
    assert all(Path(u.path).parent == work for u in uploads)
    assert [p.message for p in problems] == ["many.zip/../../escape3.png: not scored: one batch takes at most 3 "
                                             "images; score the rest in another batch"]
    assert not list(tmp_path.rglob("escape*"))  # nothing written outside the work folder under its own name


def test_summary_and_histogram():
    stats = batch.summary([1.0, 2.0, 4.0])
    assert stats == {"images": 3, "mean": pytest.approx(7 / 3), "median": 2.0,
                     "std": pytest.approx(np.std([1, 2, 4], ddof=1)), "min": 1.0, "max": 4.0}
    counts, edges = batch.histogram([1.0, 2.0, 4.0])
    assert counts.sum() == 3 and edges[0] == 1.0 and edges[-1] == 4.0 and len(edges) == len(counts) + 1
    counts, edges = batch.histogram([0.5, 0.5])
    assert counts.tolist() == [2] and edges[0] < 0.5 < edges[1]


# -- ZeroGPU wiring ------------------------------------------------------------------------------

def test_gpu_work_is_wrapped_by_spaces_when_present(monkeypatch):
    import sys
    import types

    seen = {}
    fake = types.ModuleType("spaces")

    def GPU(duration=None):
        seen["duration"] = duration

        def wrap(fn):
            seen["fn"] = fn
            return lambda *args, **kwargs: ("on the GPU", fn(*args, **kwargs))

        return wrap

    fake.GPU = GPU
    monkeypatch.setitem(sys.modules, "spaces", fake)

    def work(key, task, paths, progress=None):
        return len(paths)

    wrapped = model_module._gpu(work)
    assert wrapped(0, "score", ("a", "b")) == ("on the GPU", 2) and seen["fn"] is work
    assert seen["duration"](0, "score", ("a",) * 32) > seen["duration"](0, "score", ("a",))

    monkeypatch.setitem(sys.modules, "spaces", None)  # not installed: the function itself
    assert model_module._gpu(work) is work


def test_zero_gpu_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert not model_module.on_zero_gpu()
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert model_module.on_zero_gpu()


def test_wait_estimate_uses_the_benchmark_until_measured(scorer, files):
    model = model_module.DemoModel(scorer)
    seconds, measured = model.seconds_per_image()
    assert not measured and seconds == pytest.approx(78.1 * (64 / 512) ** 2)
    model.score_each([str(files["coffee"])])
    seconds, measured = model.seconds_per_image()
    assert measured and 0 < seconds < 60
    assert model_module.format_seconds(78.1) == "1 min 18 s" and model_module.format_seconds(0.04) == "0.04 s"


def test_progress_follows_the_unet_rows_and_says_when_the_model_loads(tiny_sd2_dir, tiny_config, files):
    from genziqa.core.api import prepare

    calls = []

    def progress(value, desc=None, unit="steps"):
        calls.append((value, desc, unit))

    model = model_module.DemoModel(plan=prepare(backbone=str(tiny_sd2_dir), config=tiny_config, device="cpu"))
    model.analyze(str(files["astronaut"]), progress)
    assert calls[0] == (0.0, "Loading the model (first request only)", "steps")
    rows = [value for value, _, unit in calls[1:] if unit == "passes"]
    assert rows[-1] == (16, 16) and all(total == 16 for _, total in rows)
    assert [done for done, _ in rows] == sorted(done for done, _ in rows)
    assert all("UNet passes" in desc for _, desc, unit in calls[1:] if unit == "passes")

    calls.clear()
    model.score_each([str(files["chelsea"]), str(files["coffee"])], progress)
    assert calls[-1][0] == (32, 32), "two images are 32 UNet rows"
    assert any("left" in desc for _, desc, _ in calls[:-1]), "the bar says how long is left"


def test_uploads_with_the_same_name_stay_apart(files, tmp_path):
    # Two files called img.png (from two folders) must not share a thumbnail, caption or CSV row.
    first, second = tmp_path / "a" / "img.png", tmp_path / "b" / "img.png"
    for path, source in ((first, files["coffee"]), (second, files["chelsea"])):
        path.parent.mkdir()
        path.write_bytes(source.read_bytes())
    uploads, problems = batch.expand_uploads([str(first), str(second)], tmp_path)
    assert [u.name for u in uploads] == ["img.png", "img.png (2)"] and problems == []
    assert [u.path for u in uploads] == [str(first), str(second)]

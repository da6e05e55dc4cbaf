"""The demo page in a real headless Chromium (Debian's ``chromium`` driven by Playwright).

One visit, as a newcomer would make it: upload a photo and wait for the score, switch the word
and see the map change, try every kind of bad upload, then rank a batch of three and fetch the
CSV. Screenshots of both tabs go to ``$GENZIQA_SCREENSHOTS`` (default: the test's temporary
folder); ``docs/images/demo-*.png`` are made this way.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio", reason="the demo needs gradio (pip install 'genziqa[demo]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright: pip install playwright")


def _chromium() -> str | None:
    for candidate in (os.environ.get("GENZIQA_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium to drive: install Debian's (apt-get install chromium) or set GENZIQA_CHROMIUM",
)

import genziqa  # noqa: E402
from genziqa.gradio_app import build_demo, launch  # noqa: E402

WAIT_MS = 45_000


@pytest.fixture(scope="module")
def scorer(tiny_sd2_dir, tiny_config):
    return genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config, device="cpu")


@pytest.fixture(scope="module")
def url(scorer):
    demo = build_demo(scorer)
    _, address, _ = launch(demo, prevent_thread_lock=True, quiet=True)
    yield address
    demo.close()


@pytest.fixture(scope="module")
def uploads(photos, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("page_uploads")
    out = {}
    for name, photo in zip(("astronaut", "chelsea", "coffee", "rocket"), photos):
        out[name] = folder / f"{name}.jpg"
        Image.fromarray(photo).save(out[name], quality=92)
    out["deep16"] = folder / "deep16.png"
    Image.fromarray((photos[0][::4, ::4, 1].astype(np.uint16) * 257)).save(out["deep16"])
    out["notes"] = folder / "notes.png"
    out["notes"].write_text("these are my notes, not an image")
    out["empty"] = folder / "empty.png"
    out["empty"].write_bytes(b"")
    out["dot"] = folder / "dot.png"
    Image.new("RGB", (1, 1)).save(out["dot"])
    out["huge"] = folder / "huge.png"
    side = 100_000
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data  # noqa: E731
                                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    out["huge"].write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
                            + chunk(b"IDAT", zlib.compress(b"\0" * 600_002)) + chunk(b"IEND", b""))
    return out


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("GENZIQA_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def page(url):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.set_default_timeout(WAIT_MS)
        tab.goto(url)
        tab.wait_for_selector("#genziqa-image")
        yield tab
        browser.close()


def _upload_cleared(page) -> None:
    """Clear the image input (the card goes back to its invitation)."""
    clear = page.locator("#genziqa-image button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
        page.wait_for_selector("#genziqa-card >> text=Upload an image")


def _upload(page, path: Path) -> None:
    """Put ``path`` into the image input, clearing what is there first."""
    _upload_cleared(page)
    page.locator("#genziqa-image input[type=file]").set_input_files(str(path))


def _card_for(page, name: str) -> str:
    """The card's text once it speaks about the upload called ``name``."""
    page.wait_for_function(
        "name => { const c = document.querySelector('#genziqa-card'); return c && c.innerText.includes(name); }",
        arg=name)
    return page.locator("#genziqa-card").inner_text()


def _word_map_src(page) -> str:
    return page.locator("#genziqa-token-map img").first.get_attribute("src") or ""


def test_single_image_score_maps_and_token_switch(page, scorer, uploads, shots):
    _upload(page, uploads["chelsea"])
    card = _card_for(page, "chelsea.jpg")
    assert f"{scorer.score([uploads['chelsea']])[0]:.4f}" in card
    assert "ZERO-SHOT" in card and "zero-shot" in card
    page.wait_for_selector("#genziqa-quality img")
    page.wait_for_selector("#genziqa-token-map img")
    before_src = _word_map_src(page)
    before = page.locator("#genziqa-token-map img").first.screenshot()

    page.locator("#genziqa-token label", has_text="Bad").click()
    page.wait_for_function(
        "old => { const i = document.querySelector('#genziqa-token-map img'); return i && i.src && i.src !== old; }",
        arg=before_src)
    page.wait_for_timeout(300)  # let the new picture paint
    after = page.locator("#genziqa-token-map img").first.screenshot()
    assert after != before, "switching the word did not change the word map"
    page.screenshot(path=str(shots / "demo-single.png"), full_page=True)


def test_picking_an_example_scores_it(page, scorer):
    from genziqa.gradio_app.app import EXAMPLES

    _upload_cleared(page)
    page.locator("img[src*='coffee_blur.jpg']").first.click()
    card = _card_for(page, "coffee_blur.jpg")
    assert f"{scorer.score([EXAMPLES / 'coffee_blur.jpg'])[0]:.4f}" in card


@pytest.mark.parametrize("bad, says", [
    ("notes", "cannot be read as an image"),
    ("empty", "is an empty file"),
    ("dot", "is 1x1 pixels"),
    ("huge", "far over the limit"),
])
def test_bad_upload_shows_its_message_in_the_page(page, uploads, bad, says):
    _upload(page, uploads[bad])
    card = _card_for(page, f"{bad}.png")
    assert "could not be scored" in card and says in card


def test_sixteen_bit_png_is_scored_and_the_page_keeps_serving(page, scorer, uploads):
    _upload(page, uploads["deep16"])
    card = _card_for(page, "deep16.png")
    assert f"{scorer.score([uploads['deep16']])[0]:.4f}" in card
    _upload(page, uploads["coffee"])
    assert f"{scorer.score([uploads['coffee']])[0]:.4f}" in _card_for(page, "coffee.jpg")


def test_batch_of_three_ranks_and_offers_the_csv(page, scorer, uploads, shots):
    names = ("astronaut", "rocket", "chelsea")
    expected = sorted(names, key=lambda n: -scorer.score([uploads[n]])[0])
    page.get_by_role("tab", name="Batch ranking").click()
    page.locator("#genziqa-files input[type=file]").set_input_files([str(uploads[n]) for n in names])
    page.wait_for_function("() => document.querySelector('#genziqa-estimate').innerText.includes('3 files')")
    page.locator("#genziqa-rank").click()
    page.wait_for_selector("#genziqa-csv a")
    captions = page.locator("#genziqa-gallery").inner_text()
    positions = [captions.index(f"{n}.jpg") for n in expected]
    assert positions == sorted(positions), f"gallery order {captions!r} is not {expected}"
    assert "#1 · " in captions and "3 scored" in page.locator("#genziqa-summary").inner_text()

    href = page.locator("#genziqa-csv a").first.get_attribute("href")
    response = page.request.get(href)
    assert response.ok
    rows = list(csv.DictReader(io.StringIO(response.text())))
    assert [r["path"] for r in rows] == [f"{n}.jpg" for n in expected]
    assert [float(r["score"]) for r in rows] == [round(scorer.score([uploads[n]])[0], 5) for n in expected]
    assert all(r["model"] == scorer.label for r in rows)
    page.wait_for_timeout(500)  # the histogram draws after the data arrives
    page.screenshot(path=str(shots / "demo-batch.png"), full_page=True)

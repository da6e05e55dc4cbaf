"""The repository as a Hugging Face Space: ``app.py`` serves the demo from a plain, uninstalled
checkout; the front matter and the requirements are what a Space build needs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the demo needs gradio (pip install 'genziqa[demo]')")
gradio_client = pytest.importorskip("gradio_client", reason="the Space check calls the API with gradio_client")

ROOT = Path(__file__).resolve().parents[1]
# What a Space checkout needs to run the demo (the rest of the repository is not imported).
PACKAGE_PARTS = ("__init__.py", "app.py", "core", "comfy_nodes", "gradio_app")

_DRIVER = """
import runpy, sys
namespace = runpy.run_path("app.py", run_name="space")  # what `python app.py` runs, less the launch
import genziqa
print("PACKAGE", genziqa.__file__, flush=True)
namespace["launch"](namespace["demo"])
"""


@pytest.fixture()
def space_copy(tmp_path) -> Path:
    """The files of a Space checkout, in a folder named like a Space's (``/home/user/app``)."""
    folder = tmp_path / "app"
    folder.mkdir()
    for part in PACKAGE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, folder / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, folder / part)
    return folder


def test_app_py_serves_the_demo_from_an_uninstalled_checkout(space_copy, tiny_sd2_dir, tmp_path):
    env = {**os.environ, "GENZIQA_BACKBONE": str(tiny_sd2_dir), "GENZIQA_DEVICE": "cpu", "GENZIQA_RESOLUTION": "64",
           "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    env.pop("GRADIO_SERVER_NAME", None)
    log = tmp_path / "space.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-c", _DRIVER], cwd=space_copy, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        url = None
        deadline = time.monotonic() + 180
        while url is None and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.5)
            found = re.search(r"Running on local URL:\s+(http://\S+)", log.read_text())
            url = found.group(1) if found else None
        text = log.read_text()
        assert url, f"app.py did not start serving:\n{text}"
        package = re.search(r"PACKAGE (\S+)", text).group(1)
        assert Path(package).resolve() == (space_copy / "__init__.py").resolve(), "app.py imported another genziqa"
        assert url.startswith("http://127.0.0.1:"), "without GRADIO_SERVER_NAME the demo must stay on localhost"
        client = gradio_client.Client(url, verbose=False)
        photo = ROOT / "gradio_app" / "examples" / "chelsea_clean.jpg"
        result = client.predict(gradio_client.handle_file(str(photo)), api_name="/score")
        assert isinstance(result["score"], float) and result["model"].startswith("zero-shot")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def _front_matter() -> dict | None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return None
    import yaml

    return yaml.safe_load(text.split("---\n", 2)[1])


def test_readme_front_matter_configures_the_space():
    meta = _front_matter()
    if meta is None:
        pytest.skip("README.md has no Hugging Face Space front matter yet")
    from importlib.metadata import version

    from huggingface_hub import SpaceHardware

    from genziqa.core.backbone import DEFAULT_BACKBONE, PINNED_REVISIONS

    assert meta["sdk"] == "gradio"
    from packaging.version import Version

    sdk, tested = Version(str(meta["sdk_version"])), Version(version("gradio"))
    assert sdk.major == tested.major and sdk <= tested, f"the Space's Gradio {sdk} is not the {tested} tests ran"
    assert meta["app_file"] == "app.py" and (ROOT / meta["app_file"]).is_file()
    assert re.fullmatch(r"3\.\d+(\.\d+)?", str(meta["python_version"]))
    assert meta["suggested_hardware"] in {h.value for h in SpaceHardware}
    assert DEFAULT_BACKBONE in meta["models"]
    (preload,) = [p for p in meta["preload_from_hub"] if p.split()[0] == DEFAULT_BACKBONE]
    repo, files, revision = preload.split()
    assert revision == PINNED_REVISIONS[DEFAULT_BACKBONE], "preload the revision the scorer pins"
    wanted = {"unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
              "text_encoder/model.safetensors", "tokenizer/vocab.json", "scheduler/scheduler_config.json"}
    assert wanted <= set(files.split(","))


def test_space_requirements_install_torch_first_and_comfyui_requirements_stay_without_it():
    pinned = [line for line in (ROOT / "pre-requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert len(pinned) == 1 and re.fullmatch(r"torch==\d+\.\d+\.\d+", pinned[0])
    requirements = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert not any(re.match(r"torch\b", line) for line in requirements), "requirements.txt is ComfyUI's: no torch"


def test_screenshots_in_the_docs_stay_small():
    shots = sorted((ROOT / "docs" / "images").glob("demo*.png"))
    assert shots, "docs/images/demo-*.png: screenshots of the demo's tabs"
    for shot in shots:
        assert shot.stat().st_size < 300 * 1024, f"{shot.name} is {shot.stat().st_size // 1024} KiB"

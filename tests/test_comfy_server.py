"""The pack in a real ComfyUI server on the CPU, driven over HTTP (needs COMFYUI_DIR).

Set ``COMFYUI_DIR`` to a ComfyUI checkout (0.8.0 was used) and ``COMFYUI_PYTHON`` to the Python
that has its requirements and genziqa's (default: this one). The test lays out a fresh ComfyUI
base folder (``--base-directory``) with the pack in ``custom_nodes/``, a tiny single-file
checkpoint in ``models/checkpoints`` (its configs in ``models/diffusers``) and real photographs in
``input/``, starts ``main.py --cpu``, and runs the three example workflows, their image generation
swapped for Load Image (no real Stable Diffusion checkpoint exists here), the Load node set to the
tiny backbone at 64 px.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

COMFYUI_DIR = os.environ.get("COMFYUI_DIR")
pytestmark = pytest.mark.skipif(
    not COMFYUI_DIR, reason="COMFYUI_DIR is not set: point it at a ComfyUI checkout (and COMFYUI_PYTHON at its "
                            "Python) to run the example workflows in a real server")


import comfy_host_fixtures as fx  # registered by conftest.py

harness = fx.harness
workflow_api = fx.load_helper("workflow_api")
EXAMPLES = harness.REPO / "example_workflows"
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
GENERATION = {"CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "KSampler", "VAEDecode"}
TINY = {"backbone": "tiny_sd1.safetensors", "backbone_config": "tiny-sd1", "resolution": fx.RESOLUTION}


class Server:
    def __init__(self, base: Path, port: int, process: subprocess.Popen, log: Path):
        self.base, self.url, self.process, self.log = base, f"http://127.0.0.1:{port}", process, log

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            body = response.read()
            return json.loads(body) if response.headers.get_content_type() == "application/json" else body.decode()

    def run(self, prompt: dict, workflow: dict, timeout: float = 600) -> dict:
        """Queue a prompt as the front end does and wait for its history entry."""
        data = json.dumps({"prompt": prompt, "client_id": uuid.uuid4().hex,
                           "extra_data": {"extra_pnginfo": {"workflow": workflow}}}).encode()
        request = urllib.request.Request(self.url + "/prompt", data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                prompt_id = json.loads(response.read())["prompt_id"]
        except urllib.error.HTTPError as err:
            raise AssertionError(f"/prompt refused the workflow: {err.read().decode()}") from None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            history = self.get(f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id]["status"].get("completed") is not None:
                return history[prompt_id]
            time.sleep(0.5)
        raise AssertionError(f"prompt {prompt_id} did not finish in {timeout} s; log: {self.log}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_sd1_dir, tiny_sd1_file, photos):
    from PIL import Image

    base = tmp_path_factory.mktemp("comfy_base")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "genziqa").symlink_to(harness.REPO, target_is_directory=True)
    (base / "models" / "checkpoints").mkdir(parents=True)
    shutil.copy(tiny_sd1_file, base / "models" / "checkpoints" / "tiny_sd1.safetensors")
    shutil.copytree(tiny_sd1_dir, base / "models" / "diffusers" / "tiny-sd1")
    (base / "input").mkdir()
    for name, photo in zip(PHOTOS, photos):
        Image.fromarray(photo).save(base / "input" / f"{name}.png")
    port, log = free_port(), base / "server.log"
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as out:
        process = subprocess.Popen(
            [python, "main.py", "--cpu", "--disable-auto-launch", "--listen", "127.0.0.1", "--port", str(port),
             "--base-directory", str(base)],
            cwd=COMFYUI_DIR, stdout=out, stderr=subprocess.STDOUT, env=env)
    running = Server(base, port, process, log)
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                running.get("/system_stats")
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"ComfyUI did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(1)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def specs(server):
    return server.get("/object_info")


def prepared(name: str, specs: dict, **loader) -> tuple[dict, dict]:
    """An example workflow as an API prompt, generation swapped for a batch of loaded photos."""
    workflow = json.loads((EXAMPLES / name).read_text())
    assert workflow_api.check(workflow, workflow_api.relaxed(specs)) == [], name
    prompt = workflow_api.to_prompt(workflow, specs)
    decoded = [i for i, n in prompt.items() if n["class_type"] == "VAEDecode"]
    prompt = {i: n for i, n in prompt.items() if n["class_type"] not in GENERATION}
    if decoded:
        for k, photo in enumerate(PHOTOS):
            prompt[f"10{k}"] = {"class_type": "LoadImage", "inputs": {"image": f"{photo}.png"}}
        batch = "100"
        for k in range(1, len(PHOTOS)):
            prompt[f"20{k}"] = {"class_type": "ImageBatch", "inputs": {"image1": [batch, 0], "image2": [f"10{k}", 0]}}
            batch = f"20{k}"
        for node in prompt.values():
            for key, value in list(node["inputs"].items()):
                if isinstance(value, list) and value[0] in decoded:
                    node["inputs"][key] = [batch, 0]
                elif isinstance(value, list) and value[0] not in prompt:
                    del node["inputs"][key]  # the KSampler's latent: there is none without generation
    for node in prompt.values():
        if node["class_type"] == "GenzIQALoader":
            node["inputs"].update({**TINY, **loader})
        if node["class_type"] == "LoadImage" and node["inputs"]["image"] == "example.png":
            node["inputs"]["image"] = "astronaut.png"
    return prompt, workflow


def node_of(prompt: dict, class_type: str) -> str:
    return next(i for i, n in prompt.items() if n["class_type"] == class_type)


def saved_files(server, outputs: dict, node_id: str) -> list[Path]:
    return [server.base / e["type"] / e["subfolder"] / e["filename"] for e in outputs[node_id]["images"]]


def test_server_loads_the_pack_light_and_serves_docs_and_script(server, specs):
    assert {"GenzIQALoader", "GenzIQAScore", "GenzIQAFilter", "GenzIQARank", "GenzIQAHeatmap", "GenzIQASaveImage"} <= set(specs)
    loader = specs["GenzIQALoader"]
    assert loader["category"] == "image/quality/GenzIQA" and loader["description"]
    assert loader["input"]["required"]["backbone"][0] == ["tiny_sd1.safetensors", "diffusers/tiny-sd1"]
    assert specs["GenzIQAFilter"]["output_tooltips"][0].startswith("The images that passed")
    assert "/extensions/genziqa/js/genziqa.js" in server.get("/extensions")
    assert server.get("/extensions/genziqa/docs/GenzIQAFilter.md").startswith("# GenzIQA Filter")
    log = server.log.read_text()
    line = next(row for row in log.splitlines() if row.rstrip().endswith("custom_nodes/genziqa"))
    assert float(line.split()[0]) < 1.0, line  # import time: no torch, no model at start-up


def test_score_filter_save(server, specs):
    from PIL import Image

    prompt, workflow = prepared("genziqa_score_filter_save.json", specs)
    entry = server.run(prompt, workflow)
    assert entry["status"]["status_str"] == "success", entry["status"]
    outputs = entry["outputs"]
    score_text = outputs[node_of(prompt, "GenzIQAScore")]["text"][0]
    assert "zero-shot · tiny_sd1.safetensors" in score_text and "#3  " in score_text
    filter_text = outputs[node_of(prompt, "GenzIQAFilter")]["text"][0]
    assert filter_text.startswith("2 of 4 images passed (best 50%)")
    files = saved_files(server, outputs, node_of(prompt, "GenzIQASaveImage"))
    assert len(files) == 2 and len(saved_files(server, outputs, node_of(prompt, "PreviewImage"))) == 2
    for path in files:
        png = Image.open(path)
        chunk = json.loads(png.text["genziqa"])
        assert chunk["zero_shot"] and chunk["model"] == "zero-shot · tiny_sd1.safetensors"
        saved_prompt = json.loads(png.text["prompt"])  # ComfyUI's own copy of what was queued
        assert {i: n["class_type"] for i, n in saved_prompt.items()} == {i: n["class_type"] for i, n in prompt.items()}
        assert json.loads(png.text["workflow"]) == workflow
    kept = sorted(json.loads(Image.open(p).text["genziqa"])["score"] for p in files)
    listed = sorted(float(row.split()[1]) for row in filter_text.splitlines() if row.endswith("kept"))
    assert [round(s, 4) for s in kept] == listed


def test_an_empty_side_skips_its_nodes_and_the_run_succeeds(server, specs):
    prompt, workflow = prepared("genziqa_score_filter_save.json", specs)
    prompt[node_of(prompt, "GenzIQAFilter")]["inputs"].update(mode="score >= threshold", threshold=999.0)
    entry = server.run(prompt, workflow)
    assert entry["status"]["status_str"] == "success", entry["status"]
    outputs = entry["outputs"]
    assert node_of(prompt, "GenzIQASaveImage") not in outputs  # fed by the empty kept side: skipped
    assert len(outputs[node_of(prompt, "PreviewImage")]["images"]) == 4  # everything was rejected
    assert outputs[node_of(prompt, "GenzIQAFilter")]["text"][0].startswith("none of 4 images passed")
    messages = [m[0] for m in entry["status"]["messages"]]
    assert "execution_error" not in messages


def test_rank_top_k_save(server, specs):
    from PIL import Image

    prompt, workflow = prepared("genziqa_rank_top_k_save.json", specs)
    entry = server.run(prompt, workflow)
    assert entry["status"]["status_str"] == "success", entry["status"]
    outputs = entry["outputs"]
    files = saved_files(server, outputs, node_of(prompt, "GenzIQASaveImage"))
    scores = [json.loads(Image.open(p).text["genziqa"])["score"] for p in files]
    assert len(files) == 2 and scores == sorted(scores, reverse=True)
    assert all(p.name.endswith(f"_{s:.4f}_.png") for p, s in zip(files, scores))  # score in the file name
    ranking = outputs[node_of(prompt, "GenzIQARank")]["text"][0].splitlines()
    assert ranking[0] == "2 images of 4, best first — zero-shot · tiny_sd1.safetensors"


def test_heatmap_of_a_loaded_image(server, specs):
    from PIL import Image

    prompt, workflow = prepared("genziqa_heatmap.json", specs)
    entry = server.run(prompt, workflow)
    assert entry["status"]["status_str"] == "success", entry["status"]
    outputs = entry["outputs"]
    heatmap = outputs[node_of(prompt, "GenzIQAHeatmap")]
    assert [e["type"] for e in heatmap["images"]] == ["temp"]  # previewed on the node
    assert heatmap["text"][0].startswith("GenzIQA quality map — zero-shot · tiny_sd1.safetensors")
    (overlay,) = saved_files(server, outputs, node_of(prompt, "SaveImage"))
    assert Image.open(overlay).size == (512, 512)  # the astronaut's own size


def test_a_damaged_checkpoint_is_reported_by_the_load_node(server, specs):
    (server.base / "models" / "checkpoints" / "broken.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00not json")
    prompt, workflow = prepared("genziqa_heatmap.json", specs, backbone="broken.safetensors", backbone_config="auto")
    entry = server.run(prompt, workflow)
    assert entry["status"]["status_str"] == "error"
    errors = [m[1] for m in entry["status"]["messages"] if m[0] == "execution_error"]
    assert errors[0]["node_type"] == "GenzIQALoader"
    assert "not a readable safetensors file" in errors[0]["exception_message"]
    assert "In this node: pick another file in backbone" in errors[0]["exception_message"]

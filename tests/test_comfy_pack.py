"""The pack as ComfyUI loads it: imported under a foreign name, light, every node well declared."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import comfy_host_fixtures as fx  # registered by conftest.py

harness = fx.harness
comfy_root, host, pack, nodes = fx.comfy_root, fx.host, fx.pack, fx.nodes

NODE_IDS = ["GenzIQALoader", "GenzIQAScore", "GenzIQAFilter", "GenzIQARank", "GenzIQAHeatmap", "GenzIQASaveImage"]


def test_pack_registers_the_six_nodes_under_a_foreign_module_name(pack):
    assert not pack.__name__.startswith("genziqa")  # relative imports had to work under ComfyUI's name
    assert sorted(pack.NODE_CLASS_MAPPINGS) == sorted(NODE_IDS)
    assert sorted(pack.NODE_DISPLAY_NAME_MAPPINGS) == sorted(NODE_IDS)
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["GenzIQALoader"] == "Load GenzIQA"
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["GenzIQASaveImage"] == "Save Image With Quality"


@pytest.mark.parametrize("node_id", NODE_IDS)
def test_every_node_is_declared_completely(nodes, node_id):
    harness.check_declaration(node_id, nodes[node_id])
    # /object_info serialises INPUT_TYPES to JSON for the front end.
    json.dumps(nodes[node_id].INPUT_TYPES())


def test_output_types_chain(nodes):
    model = nodes["GenzIQALoader"].RETURN_TYPES[0]
    scores = nodes["GenzIQAScore"].RETURN_TYPES[2]
    assert (model, scores) == ("GENZIQA_MODEL", "GENZIQA_SCORES")
    for node_id in ("GenzIQAFilter", "GenzIQARank"):
        optional = nodes[node_id].INPUT_TYPES()["optional"]
        assert optional["genziqa_model"][0] == model and optional["genziqa_scores"][0] == scores
        assert optional["latent"][0] == "LATENT" and optional["mask"][0] == "MASK"
    assert nodes["GenzIQASaveImage"].INPUT_TYPES()["hidden"] == {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
    assert nodes["GenzIQAScore"].OUTPUT_IS_LIST == (True, False, False, False)


def test_loader_lists_comfyui_model_folders(nodes, host, comfy_root):
    required = nodes["GenzIQALoader"].INPUT_TYPES()["required"]
    optional = nodes["GenzIQALoader"].INPUT_TYPES()["optional"]
    # Only safetensors files: a pickled .ckpt is never offered.
    assert required["backbone"][0] == ["broken.safetensors", "sd2/tiny_sd2.safetensors", "tiny_sd1.safetensors",
                                       "diffusers/tiny-sd1", "diffusers/tiny-sd2"]
    assert required["weights"][0] == ["zero-shot", "trained-sd2"]
    assert optional["backbone_config"][0] == ["auto", "tiny-sd1", "tiny-sd2"]
    assert optional["resolution"][1]["default"] == 512  # the method's size stays the users' default
    # The pack registered models/genziqa as a ComfyUI model folder (extra_model_paths.yaml can add more).
    assert host.get_folder_paths("genziqa") == [str(comfy_root / "models" / "genziqa")]


def test_extra_model_paths_add_weight_folders(nodes, host, tmp_path, trained_sd2):
    import shutil

    shutil.copytree(trained_sd2, tmp_path / "elsewhere" / "my-weights")
    host.add_model_folder_path("genziqa", str(tmp_path / "elsewhere"))  # what extra_model_paths.yaml does
    try:
        assert "my-weights" in nodes["GenzIQALoader"].INPUT_TYPES()["required"]["weights"][0]
    finally:
        host.folder_names_and_paths["genziqa"][0].remove(str(tmp_path / "elsewhere"))


def test_import_and_node_listing_stay_light(comfy_root):
    # ComfyUI imports the pack at start-up and calls every INPUT_TYPES for /object_info:
    # neither may import torch or diffusers, let alone load a model.
    code = f"""
import importlib.util, sys
sys.path.insert(0, {str(harness.HOST)!r})
import folder_paths
folder_paths.set_base_path({str(comfy_root)!r})
name = {str(harness.REPO)!r}.replace('.', '_x_')
spec = importlib.util.spec_from_file_location(name, {str(harness.REPO / '__init__.py')!r})
module = importlib.util.module_from_spec(spec)
sys.modules[name] = module
spec.loader.exec_module(module)
for cls in module.NODE_CLASS_MAPPINGS.values():
    cls.INPUT_TYPES()
print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'numpy', 'PIL') if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]"]


def test_web_directory_holds_the_docs_and_the_extension(pack):
    web = Path(pack.__file__).parent / pack.WEB_DIRECTORY
    for node_id in NODE_IDS:
        doc = (web / "docs" / f"{node_id}.md").read_text()
        assert doc.startswith("# ") and len(doc) > 200, node_id
    script = (web / "js" / "genziqa.js").read_text()
    assert "registerExtension" in script and "onExecuted" in script

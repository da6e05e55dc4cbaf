"""Load GenzIQA: ComfyUI's model folders, the model cache, and errors a user can act on."""

import os
import sys

import pytest

import comfy_host_fixtures as fx  # registered by conftest.py

harness = fx.harness
comfy_root, host, pack, nodes, sd1_model = fx.comfy_root, fx.host, fx.pack, fx.nodes, fx.sd1_model
SD1 = fx.SD1


def load(nodes, **changes):
    return harness.call_node(nodes["GenzIQALoader"], **{**fx.SD1, **changes})


def test_zero_shot_model_from_a_single_file_says_so(nodes, sd1_model):
    run = load(nodes)
    assert run.outputs[0] is sd1_model  # the same choices again: no reload
    assert sd1_model.zero_shot and sd1_model.label == "zero-shot · tiny_sd1.safetensors"
    assert sd1_model.resolution == 64
    (text,) = run.ui["text"]
    assert text.startswith("GenzIQA zero-shot · tiny_sd1.safetensors, 64px, on cpu in float32")
    assert "uncalibrated" in text


def test_cache_follows_the_file_on_disk(nodes, pack, sd1_model, comfy_root):
    loader = nodes["GenzIQALoader"]
    before = loader.IS_CHANGED(**SD1)
    assert loader.IS_CHANGED(**SD1) == before
    path = comfy_root / "models" / "checkpoints" / "tiny_sd1.safetensors"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # the file was replaced
    try:
        assert loader.IS_CHANGED(**SD1) != before  # ComfyUI re-runs the node...
        fresh = load(nodes).outputs[0]
        assert fresh is not sd1_model  # ...and it loads the new file
        assert load(nodes).outputs[0] is fresh
    finally:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert len(pack.comfy_nodes.loader._MODELS) <= pack.comfy_nodes.loader.MAX_MODELS


def test_diffusers_folder_backbone(nodes, sd1_model, photos):
    folder = load(nodes, backbone="diffusers/tiny-sd1", backbone_config="auto").outputs[0]
    assert folder.label == "zero-shot · diffusers/tiny-sd1"
    # Same weights as the single file: the same scores.
    images = harness.image_batch(photos[:2], size=(64, 64))
    assert folder.scorer.score(images) == pytest.approx(sd1_model.scorer.score(images), abs=1e-5)


def test_trained_weights_from_models_genziqa(nodes):
    model = load(nodes, backbone="sd2/tiny_sd2.safetensors", backbone_config="tiny-sd2", weights="trained-sd2").outputs[0]
    assert not model.zero_shot
    assert model.label == "genziqa:trained-sd2 · sd2/tiny_sd2.safetensors"


def test_weights_for_another_backbone_are_refused_with_what_to_do(nodes):
    with pytest.raises(ValueError) as err:
        load(nodes, weights="trained-sd2")  # SD 2.x weights on the SD 1.x checkpoint
    message = str(err.value)
    assert message.startswith("Load GenzIQA: ") and "context width 48" in message and "width 32" in message
    assert "In this node: pick a backbone of the family these weights were trained on" in message


def test_trained_weights_only_run_at_their_resolution(nodes):
    with pytest.raises(ValueError, match=r"(?s)trained at 64 px and only work there.*In this node: set resolution"):
        load(nodes, backbone="sd2/tiny_sd2.safetensors", backbone_config="tiny-sd2", weights="trained-sd2",
             resolution=512)


def test_a_damaged_checkpoint_file_is_named(nodes, comfy_root):
    with pytest.raises(ValueError) as err:
        load(nodes, backbone="broken.safetensors")
    message = str(err.value)
    assert str(comfy_root / "models" / "checkpoints" / "broken.safetensors") in message
    assert "not a readable safetensors file" in message
    assert "In this node: pick another file in backbone" in message


def test_shipped_configs_that_do_not_fit_point_to_backbone_config(nodes):
    with pytest.raises(ValueError, match=r"In this node: pick the model's own diffusers folder .* as backbone_config"):
        load(nodes, backbone_config="auto")  # tiny shapes, SD 1.5 configs


def test_choices_that_vanished_and_empty_folders_explain_themselves(nodes, pack, host, comfy_root, tmp_path):
    with pytest.raises(ValueError, match=r"Value not in list: backbone: 'gone.safetensors'"):
        load(nodes, backbone="gone.safetensors")  # ComfyUI's own validation, from a fresh listing
    # Deleted between validation and the run: the node itself says what happened.
    node = nodes["GenzIQALoader"]()
    with pytest.raises(ValueError, match=r"'gone\.safetensors' is not in models/checkpoints .* press R"):
        node.load(**{**SD1, "backbone": "gone.safetensors"})
    with pytest.raises(ValueError, match=r"weights: no folder 'gone' with genziqa.safetensors in models/genziqa"):
        node.load(**{**SD1, "weights": "gone"})
    loader = pack.comfy_nodes.loader
    host.folder_names_and_paths["checkpoints"][0][:] = [str(tmp_path / "none")]
    host.folder_names_and_paths["diffusers"][0][:] = [str(tmp_path / "none")]
    try:
        assert loader.backbone_choices() == [loader.NO_LOCAL]
        with pytest.raises(ValueError, match=r"there is no checkpoint in models/checkpoints .* fill in hub_id"):
            load(nodes, backbone=loader.NO_LOCAL, backbone_config="auto")
    finally:
        host.set_base_path(str(comfy_root))


def test_hub_id_wins_over_the_combo_and_fails_offline_with_its_name(nodes):
    with pytest.raises(ValueError, match=r"Load GenzIQA: .*hub repo 'someone/not-cached'"):
        load(nodes, hub_id="someone/not-cached")


def test_a_gpu_model_makes_room_runs_there_and_is_parked_after(pack):
    """The GPU path's order of calls (this machine has no GPU, so a recording scorer stands in
    for core's Scorer.to): ComfyUI frees memory first, the model goes back even after an error."""
    from types import SimpleNamespace

    import torch

    mm = sys.modules["comfy.model_management"]
    nodes_pkg = pack.comfy_nodes

    class RecordingScorer:
        zero_shot, unet_rows = True, 32
        config = SimpleNamespace(resolution=512)
        backbone = SimpleNamespace(unet=torch.nn.Linear(8, 8), vae=torch.nn.Linear(4, 4), vae_scale=8)

        def __init__(self):
            self.moves = []

        def to(self, device):
            self.moves.append(str(device))
            return self

    model = nodes_pkg._values.GenzIQAModel(scorer=RecordingScorer(), backbone="x.safetensors", weights="zero-shot",
                                           compute_device=torch.device("cuda"), home_device=torch.device("cpu"))
    weights = (8 * 8 + 8 + 4 * 4 + 4) * 4
    assert model.memory_required() == weights + 32 * 64 * 64 * 16 * 1024
    mm.free_memory_calls.clear()
    emptied = mm.empty_cache_calls
    with pytest.raises(RuntimeError, match="sampling needs it"):
        with nodes_pkg._host.placed(model) as scorer:
            assert scorer.moves == ["cuda"]
            raise RuntimeError("sampling needs it")
    assert model.scorer.moves == ["cuda", "cpu"]
    assert mm.free_memory_calls == [(model.memory_required() + int(mm.minimum_inference_memory()), torch.device("cuda"))]
    assert mm.empty_cache_calls == emptied + 1
    # A CPU model never moves and asks ComfyUI for nothing.
    cpu = nodes_pkg._values.GenzIQAModel(scorer=RecordingScorer(), backbone="x", weights="zero-shot",
                                         compute_device=torch.device("cpu"), home_device=torch.device("cpu"))
    with nodes_pkg._host.placed(cpu):
        pass
    assert cpu.scorer.moves == [] and len(mm.free_memory_calls) == 1

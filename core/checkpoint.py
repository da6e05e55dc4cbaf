"""The genziqa weights format: a folder (or hub repo) with two files.

``genziqa.safetensors``
    ``prompt.ctx``: ``(n_ctx, width)`` float32 context vectors;
    ``unet.<module>.lora_A.weight`` / ``.lora_B.weight``: the cross-attention LoRA in
    diffusers/peft naming (e.g. ``unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_q.lora_A.weight``).
``config.json``
    ``{"format": "genziqa", "format_version": 2, "method": {...GenzIQAConfig...},
    "backbone": {"id", "revision", "family", "prediction_type", "width"}, "training": {...}}``.
    Version 1 files (training knobs inside ``method``) are read as well.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .backbone import hub_reachable, is_hub_id
from .config import GenzIQAConfig
from .messages import first_line

WEIGHTS_FILE = "genziqa.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "genziqa"
FORMAT_VERSION = 2
# Version 1 files kept training knobs inside "method"; they mean nothing to the score and are
# moved to "training" when such a file is read.
_V1_TRAINING_KEYS = ("train_max_timestep", "lr", "betas", "weight_decay", "adam_eps", "grad_clip", "batch_size", "epochs")
CTX_KEY = "prompt.ctx"
LORA_PREFIX = "unet."


class WeightsError(ValueError):
    """Trained weights could not be read or do not fit; the message says what to do."""


@dataclass(frozen=True)
class Weights:
    ctx: torch.Tensor
    """(n_ctx, width) float32."""
    lora: dict[str, torch.Tensor]
    """UNet-relative peft keys (without the ``unet.`` prefix)."""
    config: GenzIQAConfig
    backbone: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    source: str = ""
    """What the user passed: a folder, a file or a hub repo id."""
    file: str = ""
    """The ``genziqa.safetensors`` actually read."""

    @property
    def width(self) -> int:
        return int(self.ctx.shape[1])

    @property
    def name(self) -> str:
        """The folder's name for local weights, the repo id for hub weights."""
        path = Path(self.source)
        return path.name if path.exists() else self.source


def save_weights(folder: str | os.PathLike, *, ctx: torch.Tensor, lora: dict[str, torch.Tensor],
                 config: GenzIQAConfig, backbone: dict, training: dict | None = None) -> Path:
    """Write the two files into ``folder`` (created if needed); each is replaced atomically."""
    from safetensors.torch import save_file

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {CTX_KEY: ctx.detach().to("cpu", torch.float32).contiguous()}
    tensors.update({LORA_PREFIX + k: v.detach().to("cpu").contiguous() for k, v in lora.items()})
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "method": config.to_dict(),
            "backbone": backbone, "training": training or {}}
    tmp = out / (WEIGHTS_FILE + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, out / WEIGHTS_FILE)
    tmp = out / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out / CONFIG_FILE)
    return out


def load_weights(source: str | os.PathLike, *, revision: str | None = None) -> Weights:
    """Read weights from a local folder (or its ``genziqa.safetensors``) or a hub repo id."""
    from safetensors.torch import load_file

    folder = _locate(source, revision)
    meta_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise WeightsError(f"{meta_path}: cannot read the weights' config ({first_line(err)}).") from err
    if meta.get("format") != FORMAT:
        raise WeightsError(f"{meta_path}: not a genziqa config (format={meta.get('format')!r}).")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise WeightsError(f"{meta_path}: format_version {meta['format_version']} is newer than this genziqa reads ({FORMAT_VERSION}); upgrade genziqa.")
    try:
        tensors = load_file(str(weights_path))
    except Exception as err:  # safetensors has its own error types for damaged files
        raise WeightsError(f"{weights_path}: cannot read ({first_line(err)}).") from err
    if CTX_KEY not in tensors:
        raise WeightsError(f"{weights_path}: no '{CTX_KEY}' tensor; is this a genziqa weights file?")
    lora = {k[len(LORA_PREFIX):]: v for k, v in tensors.items() if k.startswith(LORA_PREFIX)}
    method, training = dict(meta.get("method", {})), dict(meta.get("training", {}))
    if int(meta.get("format_version", 0)) < 2:
        training.update({k: method.pop(k) for k in _V1_TRAINING_KEYS if k in method})
    try:
        config = GenzIQAConfig.from_dict(method)
    except (TypeError, ValueError) as err:
        raise WeightsError(f"{meta_path}: its method config is not usable ({err}).") from err
    return Weights(ctx=tensors[CTX_KEY], lora=lora, config=config, backbone=meta.get("backbone", {}),
                   training=training, source=os.fspath(source), file=str(weights_path))


def _locate(source: str | os.PathLike, revision: str | None) -> Path:
    path = Path(source).expanduser()
    if path.is_file() and path.name == WEIGHTS_FILE:
        return path.parent
    if path.is_file():
        raise WeightsError(
            f"weights {os.fspath(source)!r} is a file, not genziqa weights: pass the folder that holds "
            f"{WEIGHTS_FILE} and {CONFIG_FILE} (as written by genziqa train), or that {WEIGHTS_FILE} itself."
        )
    if path.is_dir():
        if not (path / WEIGHTS_FILE).is_file():
            raise WeightsError(f"{path}: no {WEIGHTS_FILE} in this folder; pass the folder written by genziqa training.")
        return path
    if not is_hub_id(os.fspath(source)):
        raise WeightsError(f"weights {os.fspath(source)!r} do not exist; pass a folder with {WEIGHTS_FILE} and {CONFIG_FILE}, or a hub repo id.")
    from huggingface_hub import hf_hub_download

    local_only = not hub_reachable()
    try:
        cfg = hf_hub_download(str(source), CONFIG_FILE, revision=revision, local_files_only=local_only)
        hf_hub_download(str(source), WEIGHTS_FILE, revision=revision, local_files_only=local_only)
    except Exception as err:  # hub errors differ across huggingface_hub releases
        if local_only:
            raise WeightsError(
                f"weights {os.fspath(source)!r}: no such folder here ({path.absolute()}), and as a hub repo id it "
                "is not in the local cache while the Hugging Face hub cannot be reached (offline, or HF_HUB_OFFLINE "
                "is set). Check the path (a training run's weights are in OUT/best), or connect once to download it."
            ) from None
        raise WeightsError(
            f"could not fetch weights from hub repo {source!r}: {first_line(err)}. "
            "Check the id and your network, or pass a local folder."
        ) from err
    return Path(cfg).parent

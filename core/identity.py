"""What identifies a run's numbers, so a results file never mixes scores made differently.

A run is identified by what changes a score: the backbone's *content* (not where the file
sits, so a moved or copied checkpoint still resumes), the trained weights' content, the method's
numbers, the resolution, the dtype, and the device kind where half precision makes it matter
(float32 agrees across devices to float rounding). The identity is a short, readable string,
``backbone=...;weights=...;method=...;resolution=512;dtype=float32``, stored with every row, so
a refusal can say which part differs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

# Bytes sampled from a large weights file: its safetensors header (names, shapes, offsets) and
# this many evenly spaced blocks. Reading a few MiB identifies a multi-GB file in milliseconds.
_BLOCK = 1 << 20
_BLOCKS = 8

_PART_NAMES = {
    "backbone": "backbone content", "weights": "trained weights", "method": "method config",
    "resolution": "resolution", "dtype": "dtype", "device": "device", "prediction": "prediction type",
}


def file_fingerprint(path: str | os.PathLike) -> str:
    """16 hex digits from a file's size, safetensors header and sampled blocks (content, not path)."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        if size <= _BLOCK * _BLOCKS:
            digest.update(f.read())
        else:
            header = f.read(8)
            length = int.from_bytes(header, "little") if len(header) == 8 else 0
            digest.update(header + f.read(min(length, 100 << 20)))
            for k in range(_BLOCKS):
                f.seek((size - _BLOCK) * k // (_BLOCKS - 1))
                digest.update(f.read(_BLOCK))
    return digest.hexdigest()[:16]


def folder_fingerprint(folder: str | os.PathLike) -> str:
    """16 hex digits over a diffusers folder's weights and configs (relative names + contents)."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".safetensors", ".json", ".txt") and not path.name.startswith("."):
            rel = path.relative_to(folder).as_posix()
            digest.update(rel.encode() + b"\0" + file_fingerprint(path).encode())
    return digest.hexdigest()[:16]


def method_fingerprint(method: dict) -> str:
    """8 hex digits of the method config without its resolution (stated on its own)."""
    numbers = {k: v for k, v in method.items() if k != "resolution"}
    return hashlib.sha256(json.dumps(numbers, sort_keys=True).encode()).hexdigest()[:8]


def run_identity(*, backbone: str, weights: str, method: dict, dtype: str, device: str,
                 prediction: str) -> str:
    """The identity string of a run (see the module docstring)."""
    parts = {"backbone": backbone, "weights": weights, "method": method_fingerprint(method),
             "resolution": str(method["resolution"]), "dtype": dtype, "prediction": prediction}
    if dtype != "float32":
        parts["device"] = device
    return ";".join(f"{k}={v}" for k, v in parts.items())


def parse_identity(run: str) -> dict[str, str]:
    """The parts of an identity string (unknown text becomes one ``run`` part)."""
    parts = dict(p.split("=", 1) for p in run.split(";") if "=" in p)
    return parts or {"run": run}


def differences(ours: str, theirs: str) -> list[str]:
    """Readable differences between two identity strings, e.g. ``"resolution: 512 here, 64 in the file"``."""
    a, b = parse_identity(ours), parse_identity(theirs)
    out = []
    for key in list(dict.fromkeys([*a, *b])):
        if a.get(key) != b.get(key):
            out.append(f"{_PART_NAMES.get(key, key)}: {a.get(key, '(none)')} here, {b.get(key, '(none)')} in the file")
    return out

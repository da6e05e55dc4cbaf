"""Output folders: checked writable before any model loads (no torch here)."""

from __future__ import annotations

import os
from pathlib import Path


def writable_folder(path: str | os.PathLike, *, holds: str) -> Path:
    """Create the folder ``path`` if needed and make sure files can be written there.

    ``holds`` says what goes in it, for the message when ``path`` is a file. Raises ``OSError``
    naming the folder otherwise. Cheap: call it before loading a model.
    """
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file; pass a folder for {holds}.")
    out.mkdir(parents=True, exist_ok=True)
    probe = out / ".genziqa-write-test"
    try:
        probe.write_bytes(b"")
    finally:
        probe.unlink(missing_ok=True)
    return out

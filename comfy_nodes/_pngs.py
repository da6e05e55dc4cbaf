"""Writing PNGs the way ComfyUI's Save Image and Preview Image do: same folders, same numbering,
same ``prompt``/``workflow`` text chunks, and the list the front end shows on the node."""

from __future__ import annotations

import json
import os
import random
import string
from typing import Callable, Sequence

from . import _host
from ._batch import to_uint8

QUALITY_CHUNK = "genziqa"


def write(images, filename_prefix: str, *, kind: str = "output", prompt=None, extra_pnginfo=None,
          chunks: Callable[[int], dict] | None = None, names: Sequence[str] | None = None,
          progress: bool = True) -> list[dict]:
    """Write each ``(H, W, C)`` row of ``images`` as ``<prefix>_<counter>_[<name>_].png``.

    ``kind`` is ``"output"`` (the output folder, Save Image's compression) or ``"temp"`` (a
    preview). ``chunks(i)`` gives extra JSON text chunks for image i; ``names`` an extra part
    of each file name. ``prompt`` and ``extra_pnginfo`` are written as ComfyUI does, unless it
    runs with ``--disable-metadata``. ``progress``: the node's progress bar and Cancel check per
    file (off for a preview that follows work with its own bar). Returns the front end's
    ``[{"filename", "subfolder", "type"}]``.
    """
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    fp = _host.folder_paths()
    if kind == "output":
        folder, compress = fp.get_output_directory(), 4
    else:
        folder, compress = fp.get_temp_directory(), 1
        # Previews of many runs share the temp folder: a random tail keeps them apart.
        filename_prefix += "_temp_" + "".join(random.choice(string.ascii_lowercase) for _ in range(5))
    height, width = int(images.shape[1]), int(images.shape[2])
    full_folder, filename, counter, subfolder, _ = fp.get_save_image_path(filename_prefix, folder, width, height)
    keep_prompt = not _host.metadata_disabled()
    results = []
    bar = _host.Progress(len(images)) if progress else None
    for number, image in enumerate(images):
        if bar is not None:
            bar.update(number)
        info = PngInfo()
        if keep_prompt:
            if prompt is not None:
                info.add_text("prompt", json.dumps(prompt))
            for key, value in (extra_pnginfo or {}).items():
                info.add_text(key, json.dumps(value))
        for key, value in (chunks(number) if chunks else {}).items():
            info.add_text(key, json.dumps(value))
        tail = f"{names[number]}_" if names else ""
        file = f"{filename.replace('%batch_num%', str(number))}_{counter:05}_{tail}.png"
        Image.fromarray(to_uint8(image)).save(os.path.join(full_folder, file), pnginfo=info, compress_level=compress)
        results.append({"filename": file, "subfolder": subfolder, "type": kind})
        counter += 1
    if bar is not None:
        bar.update(len(images))
    return results

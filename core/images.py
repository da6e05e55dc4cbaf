"""Image I/O: turn whatever a user passes into validated RGB tensors, one image at a time.

Users hand us files, PIL images, numpy arrays, torchvision-style tensors and ComfyUI IMAGE
batches. :func:`split_images` flattens any of those into ``(source, item)`` pairs without
decoding anything; :func:`load_image` turns one item into a :class:`LoadedImage` or raises
:class:`ImageError` naming that item, so a caller scoring a thousand files can report the one
broken file and score the rest; :func:`to_model_input` resizes a batch for the backbone.

Every loaded image is ``(3, H, W) float32 in [0, 1]``, RGB, on the CPU.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

__all__ = ["ImageError", "LoadedImage", "split_images", "load_image", "to_model_input"]

# Channel counts we understand: gray, RGB, RGBA.
_CHANNELS = (1, 3, 4)

# Float pixels this far outside [0, 1] are rounding noise from the user's own maths (e.g. a
# resize or colour conversion) and are clamped; anything further is a wrong value range.
_FLOAT_TOLERANCE = 1e-3

# Pillow's EPS reader runs Ghostscript on the file, i.e. it interprets PostScript from whoever
# uploaded it. Nobody scores EPS figures for photographic quality, so we never open them.
_REFUSED_FORMATS = frozenset({"EPS"})

_FLOAT_RANGE_HINT = (
    "Float images must be in [0, 1]: divide 0-255 data by 255, and map [-1, 1] data "
    "with (x + 1) / 2."
)
_DTYPE_HINT = "Pass uint8 (0..255), uint16 (0..65535) or float values in [0, 1]."
_CHANNEL_HINT = "Expected 1 (gray), 3 (RGB) or 4 (RGBA) channels."
_SUPPORTED_TYPES_HINT = (
    "Pass a file path, a PIL.Image.Image, a numpy array (H, W) or (H, W, C), or a torch "
    "tensor (C, H, W), (B, C, H, W) or ComfyUI (B, H, W, C)."
)


class ImageError(ValueError):
    """One input could not be turned into an image; the message says which, why, and what to do.

    Attributes:
        source: label of the input: the file path, or e.g. ``"image 3 (numpy array)"``.
        reason: what is wrong with it, with the offending value.
        hint: what the user can do about it (may be empty).
    """

    def __init__(self, source: str, reason: str, hint: str = "") -> None:
        # All three go to args so the error survives pickling (DataLoader worker processes).
        super().__init__(source, reason, hint)
        self.source = source
        self.reason = reason
        self.hint = hint

    def __str__(self) -> str:
        message = f"{self.source}: {self.reason}."
        return f"{message} {self.hint}" if self.hint else message


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensors field-wise has no truth value
class LoadedImage:
    """A decoded, validated image.

    Attributes:
        pixels: ``(3, H, W) float32 in [0, 1]``, RGB, contiguous, on the CPU; transparency is
            already composited over white and grayscale replicated to three channels.
        source: label of the input it came from (see :func:`split_images`).
        size: ``(width, height)`` in pixels as displayed (after EXIF orientation), before any
            resizing for the model; equals ``(pixels.shape[2], pixels.shape[1])``.
    """

    pixels: torch.Tensor
    source: str
    size: tuple[int, int]


def split_images(images: object) -> list[tuple[str, object]]:
    """Flatten user input into ``(source, item)`` pairs, one per image, decoding nothing.

    Args:
        images: one item or a list/tuple of items. An item is a ``str``/``os.PathLike`` path,
            a ``PIL.Image.Image``, a numpy array (``(H, W)``, ``(H, W, C)``, or a batch
            ``(B, H, W, C)``), or a torch tensor (``(H, W)``, ``(C, H, W)``, or a batch
            ``(B, C, H, W)`` torchvision-style / ``(B, H, W, C)`` ComfyUI IMAGE).

    Returns:
        One ``(source, item)`` pair per image, in input order. ``source`` is the path string
        for paths and ``"image {i} ({kind})"`` otherwise, ``i`` being the 0-based position in
        the returned list. Batches become one pair per image; a torch batch item is returned
        as a ``(C, H, W)`` view, so :func:`load_image` reads it unambiguously.

    Batch layout rule for 4-D torch tensors ``(B, d1, d2, d3)``: channels-first (BCHW) when
    ``d1`` is 1, 3 or 4; otherwise channels-last (BHWC) when ``d3`` is 1, 3 or 4. Ties go to
    channels-first, the same convention as for 3-D tensors. A tie is harmless in practice:
    either reading has a side of at most 4 pixels, below the default ``min_side``. A batch
    matching neither layout is kept whole, so :func:`load_image` reports its shape.

    Nothing here raises on a bad item: unknown types and malformed shapes are passed through
    so that :func:`load_image` reports them as errors of that one item.
    """
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    pairs: list[tuple[str, object]] = []
    for item in items:
        if isinstance(item, (str, os.PathLike)):
            pairs.append((os.fsdecode(os.fspath(item)), item))
        elif isinstance(item, torch.Tensor) and item.ndim == 4:
            layout = _batch_layout(item.shape)
            if layout is None:
                pairs.append((_label(len(pairs), "torch tensor"), item))
                continue
            for image in item:
                # [C, H, W] for BCHW; [H, W, C] -> [C, H, W] for BHWC (a view, no copy)
                view = image if layout == "BCHW" else image.permute(2, 0, 1)
                pairs.append((_label(len(pairs), f"torch tensor, {layout}"), view))
        elif isinstance(item, np.ndarray) and item.ndim == 4:
            # numpy images are channels-last everywhere (PIL, OpenCV, scikit-image).
            for image in item:
                pairs.append((_label(len(pairs), "numpy array"), image))
        else:
            pairs.append((_label(len(pairs), _kind(item)), item))
    return pairs


def load_image(
    item: object,
    source: str,
    *,
    max_pixels: int = 8192 * 8192,
    min_side: int = 16,
) -> LoadedImage:
    """Decode and validate one image.

    Args:
        item: one item as returned by :func:`split_images`: a path, a ``PIL.Image.Image``, a
            numpy array ``(H, W)`` / ``(H, W, C)`` (uint8 in 0..255, uint16 in 0..65535, or
            float in [0, 1]), or a torch tensor ``(H, W)`` / ``(C, H, W)`` / ``(H, W, C)`` /
            ``(1, ...)`` with the same dtypes; ``C`` is 1 (gray), 3 (RGB) or 4 (RGBA). A 3-D
            tensor is read as ``(C, H, W)`` when dim 0 is 1, 3 or 4, else as ``(H, W, C)``.
            Arrays are taken as RGB: convert OpenCV's BGR with ``cv2.cvtColor`` first.
        source: label used in error messages and kept on the result.
        max_pixels: largest accepted ``width * height``. Files are checked from their header,
            before any pixel is decoded, so an oversized (decompression bomb) file costs
            nothing. Pillow's own guard, ``PIL.Image.MAX_IMAGE_PIXELS``, still refuses files
            over twice its value; raise both to go beyond ~179 million pixels.
        min_side: smallest accepted width and height.

    Returns:
        The image as a :class:`LoadedImage`, ``(3, H, W) float32 in [0, 1]``.

    Raises:
        ImageError: the item is missing, unreadable, truncated, corrupt, too large, too small,
            of an unsupported type, dtype, shape or channel count, or holds non-finite or
            out-of-range values. The message names ``source``.

    Files are read with Pillow only. EXIF orientation is applied, transparency is composited
    over white (viewers show transparent areas on white; dropping alpha would instead expose
    whatever RGB happens to sit under fully transparent pixels), and grayscale is replicated to
    RGB. 16-bit grayscale keeps its full precision (divided by 65535). Multi-frame files (GIF,
    TIFF) use their first frame. Truncated files are errors unless the caller has set
    ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES``.
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive int, got {max_pixels!r}.")
    if isinstance(min_side, bool) or not isinstance(min_side, int) or min_side < 1:
        raise ValueError(f"min_side must be a positive int, got {min_side!r}.")

    if isinstance(item, (str, os.PathLike)):
        pixels = _load_file(item, source, max_pixels, min_side)
    elif isinstance(item, Image.Image):
        pixels = _load_pil(item, source, max_pixels, min_side, owned=False)
    elif isinstance(item, np.ndarray):
        pixels = _to_pixels(_numpy_chw(item, source), source, max_pixels, min_side)
    elif isinstance(item, torch.Tensor):
        pixels = _to_pixels(_tensor_chw(item, source), source, max_pixels, min_side)
    elif isinstance(item, (bytes, bytearray)):
        raise ImageError(
            source,
            "is raw bytes, which is neither a path nor decoded pixels",
            "Open encoded image data with PIL.Image.open(io.BytesIO(data)) and pass that.",
        )
    else:
        raise ImageError(
            source, f"is a {_type_name(item)}, which is not an image", _SUPPORTED_TYPES_HINT
        )
    return LoadedImage(
        pixels=pixels, source=source, size=(int(pixels.shape[2]), int(pixels.shape[1]))
    )


def to_model_input(images: Sequence[LoadedImage], resolution: int, *, resize: str = "torch") -> torch.Tensor:
    """Resize loaded images into one model batch.

    Each image is squashed to ``resolution x resolution`` (aspect ratio not kept, so the whole
    picture is scored and nothing is cropped away). ``resize="torch"`` (the default) uses
    antialiased bicubic interpolation on the float pixels, then clamps to [0, 1] because bicubic
    overshoots at sharp edges. ``resize="pil"`` reproduces the authors' pipeline: the image as
    8-bit RGB (rounded), resized by PIL's bicubic filter (which rounds and clips to 0..255), then
    divided by 255.

    Args:
        images: images from :func:`load_image`; may be empty.
        resolution: output side in pixels, > 0.
        resize: ``"torch"`` or ``"pil"``.

    Returns:
        ``(B, 3, resolution, resolution) float32 in [0, 1]`` on the CPU, ``B = len(images)``.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be a positive int, got {resolution!r}.")
    if resize not in ("torch", "pil"):
        raise ValueError(f"resize={resize!r} is not one of ('torch', 'pil').")
    batch = torch.empty((len(images), 3, resolution, resolution), dtype=torch.float32)
    for index, image in enumerate(images):
        if not isinstance(image, LoadedImage):
            raise TypeError(
                f"images[{index}] is a {_type_name(image)}, not a LoadedImage. "
                "Turn inputs into LoadedImage with load_image(...) first."
            )
        pixels = image.pixels
        if resize == "pil":
            batch[index] = _pil_resize(pixels, resolution)
        elif pixels.shape[1:] == (resolution, resolution):
            batch[index] = pixels
        else:
            batch[index] = F.interpolate(
                pixels[None],  # [1, 3, H, W]
                size=(resolution, resolution),
                mode="bicubic",
                align_corners=False,
                antialias=True,
            )[0]
    return batch.clamp_(0.0, 1.0)


def _pil_resize(pixels: torch.Tensor, resolution: int) -> torch.Tensor:
    """``(3, H, W)`` in [0, 1] -> ``(3, R, R)``: 8-bit RGB, PIL bicubic, /255 (the authors' resize)."""
    rgb = (pixels.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)  # [H, W, 3]
    image = Image.fromarray(rgb)
    if image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)


# --- helpers -----------------------------------------------------------------------------


def _label(index: int, kind: str) -> str:
    return f"image {index} ({kind})"


def _kind(item: object) -> str:
    if isinstance(item, Image.Image):
        return "PIL image"
    if isinstance(item, np.ndarray):
        return "numpy array"
    if isinstance(item, torch.Tensor):
        return "torch tensor"
    return _type_name(item)


def _type_name(item: object) -> str:
    cls = type(item)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _batch_layout(shape: Sequence[int]) -> str | None:
    """Layout of a 4-D tensor shape; see :func:`split_images` for the rule."""
    if shape[1] in _CHANNELS:
        return "BCHW"
    if shape[3] in _CHANNELS:
        return "BHWC"
    return None


def _check_size(width: int, height: int, source: str, max_pixels: int, min_side: int) -> None:
    if width * height > max_pixels:
        raise ImageError(
            source,
            f"is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{max_pixels:,}",
            "Downscale it first: the method looks at it as a small square anyway, and a huge declared "
            "size is how decompression-bomb files exhaust memory.",
        )
    if width < min_side or height < min_side:
        raise ImageError(
            source,
            f"is {width}x{height} pixels; width and height must both be at least {min_side}",
            "Use a larger image: one this small holds too little to judge its quality.",
        )


def _load_file(
    path: str | os.PathLike, source: str, max_pixels: int, min_side: int
) -> torch.Tensor:
    if os.path.isdir(path):
        raise ImageError(
            source,
            "is a directory, not an image file",
            "Pass the image files inside it, e.g. sorted(pathlib.Path(folder).glob('*.png')).",
        )
    if not os.path.exists(path):
        raise ImageError(
            source,
            "file not found",
            f"Check the path; relative paths are resolved from {os.getcwd()}.",
        )
    if os.path.getsize(path) == 0:
        raise ImageError(source, "is an empty file (0 bytes)", "The upload or copy was probably cut off; copy the file again.")
    Image.init()  # registers the plugins, so the allow-list below is complete
    formats = [name for name in Image.OPEN if name not in _REFUSED_FORMATS]
    try:
        with _ours_is_the_size_limit():
            image = Image.open(path, formats=formats)
    except Image.UnidentifiedImageError:
        raise ImageError(
            source,
            "cannot be read as an image (Pillow does not recognise the file format)",
            "Check that it is a raster image (PNG, JPEG, WebP, TIFF, ...) and not another kind "
            "of file with an image extension.",
        ) from None
    except Image.DecompressionBombError as err:
        raise _pillow_bomb_error(source, err) from err
    except (PermissionError, FileNotFoundError) as err:  # the latter: deleted since the check
        raise ImageError(
            source,
            f"cannot be opened ({err.strerror or err})",
            "Check that the file exists and is readable by this process.",
        ) from err
    except Exception as err:  # a malformed header can trip any error inside a Pillow plugin
        raise _decode_error(source, err) from err
    with image:
        return _load_pil(image, source, max_pixels, min_side, owned=True)


def _load_pil(
    image: Image.Image, source: str, max_pixels: int, min_side: int, *, owned: bool
) -> torch.Tensor:
    """Decode a PIL image (``owned``: opened by us, free to modify) into pixels."""
    # For a file, Image.open only parsed the header: this check runs before any decoding.
    _check_size(*image.size, source, max_pixels, min_side)
    try:
        with _ours_is_the_size_limit():
            image.load()
        # The caller's own image gets rotated as a copy: we must not modify what we were lent.
        oriented = ImageOps.exif_transpose(image, in_place=owned)
        image = image if owned else oriented
        array = _pil_array(image, source)
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        raise _pillow_bomb_error(source, err) from err
    except Exception as err:  # truncated or corrupt data surfaces as many different errors
        raise _decode_error(source, err, from_file=owned) from err
    return _to_pixels(_numpy_chw(array, source), source, max_pixels, min_side)


def _pil_array(image: Image.Image, source: str) -> np.ndarray:
    """Pixels of a decoded PIL image as ``(H, W)`` or ``(H, W, C)`` uint8/uint16/float32."""
    mode = image.mode
    if mode.startswith("I;16"):
        # [H, W] uint16 at full precision. A colour-key ("transparency") entry on 16-bit gray
        # is ignored: Pillow has no 16-bit mode with alpha, and the feature is vanishingly rare.
        return np.asarray(image)
    if mode == "I":
        # 32-bit integers; Pillow uses this mode for 16-bit grayscale from some formats, so
        # the 16-bit white point is the only scale we can justify.
        array = np.asarray(image)
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 65535:
            raise ImageError(
                source,
                f"is a 32-bit integer image with values from {low} to {high}, outside the "
                "16-bit range 0..65535 that we know how to scale",
                "Convert it to 8 or 16 bits per channel before scoring.",
            )
        return array.astype(np.uint16)
    if mode == "F":
        return np.asarray(image)  # [H, W] float32; range-checked like any float array
    if mode == "RGB":
        return np.asarray(image)
    if mode in ("1", "L") and not image.has_transparency_data:
        return np.asarray(image.convert("L"))

    if mode in _PREMULTIPLIED:
        # Pillow converts premultiplied alpha only to its straight-alpha twin.
        image = image.convert(_PREMULTIPLIED[mode])
    # has_transparency_data also covers palette and colour-key ("transparency") alpha.
    target = "RGBA" if image.has_transparency_data else "RGB"
    if image.mode != target:  # P, CMYK, YCbCr, LAB, HSV, RGBX, LA, PA, ...
        image = image.convert(target)
    return np.asarray(image)


_PREMULTIPLIED = {"La": "LA", "RGBa": "RGBA"}


def _numpy_chw(array: np.ndarray, source: str) -> np.ndarray:
    """A numpy image ``(H, W)``, ``(H, W, C)`` or ``(1, H, W, C)`` as a ``(C, H, W)`` view."""
    shape = array.shape
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ImageError(
            source,
            f"has shape {shape}; a numpy image must be (H, W) or (H, W, C)",
            "Pass a batch (B, H, W, C) through split_images to get one item per image.",
        )
    if array.shape[2] not in _CHANNELS:
        if array.shape[0] in _CHANNELS:
            raise ImageError(
                source,
                f"has shape {shape}, which looks channels-first",
                "numpy images are (H, W, C): use array.transpose(1, 2, 0).",
            )
        raise ImageError(source, f"has shape {shape}: {array.shape[2]} channels", _CHANNEL_HINT)
    return array.transpose(2, 0, 1)  # [H, W, C] -> [C, H, W]


def _tensor_chw(tensor: torch.Tensor, source: str) -> np.ndarray:
    """A torch image ``(H, W)``, ``(C, H, W)``, ``(H, W, C)`` or ``(1, ...)`` as ``(C, H, W)``."""
    shape = tuple(tensor.shape)
    if tensor.ndim == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.ndim == 2:
        tensor = tensor[None]
    if tensor.ndim != 3:
        raise ImageError(
            source,
            f"has shape {shape}; expected (C, H, W), (H, W, C) or (H, W) with "
            "C in {1, 3, 4}",
            "Pass batches through split_images to get one item per image.",
        )
    if tensor.shape[0] not in _CHANNELS:
        if tensor.shape[2] not in _CHANNELS:
            raise ImageError(
                source,
                f"has shape {shape}, with neither a leading nor a trailing axis of 1, 3 or 4 "
                "channels",
                _CHANNEL_HINT,
            )
        tensor = tensor.permute(2, 0, 1)  # [H, W, C] -> [C, H, W]
    if tensor.dtype == torch.bool:
        raise ImageError(
            source,
            "has dtype torch.bool, which is a mask rather than an image",
            "Convert it explicitly, e.g. mask.to(torch.uint8) * 255 for black and white.",
        )
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:  # the one float dtype numpy lacks
        tensor = tensor.float()
    try:
        return tensor.numpy()  # a view; pixel maths below runs in numpy, which is faster here
    except (RuntimeError, TypeError) as err:
        raise ImageError(
            source, f"is a tensor of dtype {tensor.dtype} that cannot be read ({err})", _DTYPE_HINT
        ) from err


def _to_pixels(chw: np.ndarray, source: str, max_pixels: int, min_side: int) -> torch.Tensor:
    """Validate a ``(C, H, W)`` array view; return a fresh ``(3, H, W) float32 in [0, 1]``."""
    channels, height, width = chw.shape  # channels in _CHANNELS, checked by the callers
    if height == 0 or width == 0:
        raise ImageError(
            source, f"is empty ({width}x{height} pixels)", "Pass an image with pixels."
        )
    _check_size(width, height, source, max_pixels, min_side)

    dtype = chw.dtype
    if dtype == np.bool_:
        raise ImageError(
            source,
            "has dtype bool, which is a mask rather than an image",
            "Convert it explicitly, e.g. mask.astype(np.uint8) * 255 for black and white.",
        )
    # A fresh C-contiguous buffer: we never alias the caller's memory, since everything below
    # works in place. One ufunc pass casts, scales and transposes (numpy handles big-endian
    # 16-bit PNG data and negative strides itself). No float64 anywhere.
    pixels = np.empty((channels, height, width), dtype=np.float32)
    if dtype.kind == "u" and dtype.itemsize <= 2:  # uint8 / uint16, either byte order
        np.multiply(chw, np.float32(1.0 / np.iinfo(dtype).max), out=pixels)
    elif dtype.kind == "f":
        np.copyto(pixels, chw, casting="same_kind")
        _check_float_range(pixels, source)
    else:
        raise ImageError(source, f"has dtype {dtype}, which is not an image dtype", _DTYPE_HINT)

    if channels == 4:
        # Composite over white: rgb * a + 1 * (1 - a) == (rgb - 1) * a + 1.
        rgb = pixels[:3]
        rgb -= 1.0
        rgb *= pixels[3]
        rgb += 1.0
        pixels = rgb.copy()  # [3, H, W]; drops the alpha plane's memory
    elif channels == 1:
        pixels = np.repeat(pixels, 3, axis=0)  # [1, H, W] -> [3, H, W]
    return torch.from_numpy(pixels)


def _check_float_range(pixels: np.ndarray, source: str) -> None:
    # min/max propagate NaN and expose inf, so the common valid case costs two reductions.
    low, high = float(pixels.min()), float(pixels.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        bad = int(pixels.size - np.count_nonzero(np.isfinite(pixels)))
        raise ImageError(
            source,
            f"contains {bad:,} NaN or infinite values",
            "Fix the computation that produced the image; such pixels have no colour to score.",
        )
    if low < -_FLOAT_TOLERANCE or high > 1.0 + _FLOAT_TOLERANCE:
        raise ImageError(
            source,
            f"has float values from {low:.4g} to {high:.4g}, outside [0, 1]",
            _FLOAT_RANGE_HINT,
        )
    np.clip(pixels, 0.0, 1.0, out=pixels)


def _decode_error(source: str, err: Exception, *, from_file: bool = True) -> ImageError:
    detail = str(err) or type(err).__name__
    hint = (
        "The file is probably truncated or damaged; re-export it as PNG or JPEG."
        if from_file
        else "Convert it to a plain 'RGB' image (image.convert('RGB')) before scoring."
    )
    return ImageError(source, f"cannot be read as an image ({detail})", hint)


def _pillow_bomb_error(source: str, err: Exception) -> ImageError:
    # Pillow refuses headers over twice its own limit before ours can look at the size; say it
    # our way, with the size it read, rather than with its text about denial-of-service attacks.
    found = re.search(r"\((\d+) pixels\)", str(err))
    size = f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow opens"
    return ImageError(
        source,
        f"is {size}, far over the limit this reader opens",
        "Downscale it first: the method looks at it as a small square anyway, and a huge declared "
        "size is how decompression-bomb files exhaust memory.",
    )


@contextlib.contextmanager
def _ours_is_the_size_limit() -> Iterator[None]:
    """Silence Pillow's DecompressionBombWarning: ``max_pixels`` is the limit we enforce.

    Pillow warns from inside Image.open, before we can look at the size; letting the warning
    through would print noise for an image we are about to reject, or one that the caller's
    larger ``max_pixels`` explicitly allows. Before Python 3.14 catch_warnings swaps the
    process-wide filter list, so a filter another thread installs meanwhile can be lost.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield

"""Tests for genziqa.core.images: every input form, every PIL mode, every way an image breaks."""

from __future__ import annotations

import pickle
import struct
import warnings
import zlib

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F
from PIL import Image

from genziqa.core.images import (
    ImageError,
    LoadedImage,
    load_image,
    split_images,
    to_model_input,
)

# --- fixtures and builders ---------------------------------------------------------------


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photo, (300, 451, 3) uint8."""
    return skimage.data.chelsea()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes | None) -> bytes:
    """A PNG built by hand; ``rows=None`` writes a header with no pixel data at all."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    body = _png_chunk(b"IHDR", header)
    if rows is not None:
        body += _png_chunk(b"IDAT", zlib.compress(rows))
    return b"\x89PNG\r\n\x1a\n" + body + _png_chunk(b"IEND", b"")


def _png_rows(array: np.ndarray) -> bytes:
    """Big-endian scanlines with filter byte 0, as PNG stores 16-bit samples."""
    height = array.shape[0]
    flat = array.astype(">u2").reshape(height, -1)
    return b"".join(b"\x00" + row.tobytes() for row in flat)


def _mode_of(path) -> str:
    with Image.open(path) as image:
        return image.mode


def _load(item, **kwargs) -> torch.Tensor:
    return load_image(item, "test", **kwargs).pixels


def _assert_valid(pixels: torch.Tensor, height: int, width: int) -> None:
    assert pixels.shape == (3, height, width)
    assert pixels.dtype == torch.float32
    assert pixels.is_contiguous()
    assert float(pixels.min()) >= 0.0 and float(pixels.max()) <= 1.0


def _error(item, source: str = "my-source", **kwargs) -> ImageError:
    with pytest.raises(ImageError) as info:
        load_image(item, source, **kwargs)
    assert str(info.value).startswith(f"{source}: "), "every error must name its input first"
    return info.value


# --- ImageError and LoadedImage ------------------------------------------------------------


def test_image_error_names_input_reason_and_fix():
    err = ImageError("photo.jpg", "cannot be read as an image (truncated file)", "Re-export it.")
    assert str(err) == "photo.jpg: cannot be read as an image (truncated file). Re-export it."
    assert isinstance(err, ValueError)
    assert (err.source, err.reason, err.hint) == (
        "photo.jpg",
        "cannot be read as an image (truncated file)",
        "Re-export it.",
    )


def test_image_error_survives_pickling_for_worker_processes():
    err = pickle.loads(pickle.dumps(ImageError("a.png", "file not found", "Check the path.")))
    assert isinstance(err, ImageError)
    assert str(err) == "a.png: file not found. Check the path."


def test_loaded_image_is_frozen(photo):
    image = load_image(photo, "cat")
    with pytest.raises(AttributeError):
        image.source = "dog"  # type: ignore[misc]


# --- split_images --------------------------------------------------------------------------


def test_split_labels_every_single_item_kind(tmp_path, photo):
    path = tmp_path / "cat.png"
    items = [str(path), path, Image.fromarray(photo), photo, torch.rand(3, 20, 20), None]
    sources = [source for source, _ in split_images(items)]
    assert sources == [
        str(path),
        str(path),
        "image 2 (PIL image)",
        "image 3 (numpy array)",
        "image 4 (torch tensor)",
        "image 5 (NoneType)",
    ]


def test_split_accepts_a_single_item_and_tuples(photo):
    assert [s for s, _ in split_images(photo)] == ["image 0 (numpy array)"]
    assert len(split_images((photo, photo))) == 2
    assert split_images([]) == []


def test_split_does_not_touch_files(tmp_path):
    missing = tmp_path / "not-there.png"
    assert split_images(missing) == [(str(missing), missing)]


def test_split_bchw_batch_into_views():
    batch = torch.rand(2, 3, 20, 30)
    pairs = split_images(batch)
    assert [s for s, _ in pairs] == ["image 0 (torch tensor, BCHW)", "image 1 (torch tensor, BCHW)"]
    for index, (source, item) in enumerate(pairs):
        pixels = load_image(item, source).pixels
        assert torch.equal(pixels, batch[index])


def test_split_comfyui_bhwc_batch():
    batch = torch.rand(3, 20, 30, 3)  # ComfyUI IMAGE: [B, H, W, C]
    pairs = split_images(batch)
    assert [s for s, _ in pairs][-1] == "image 2 (torch tensor, BHWC)"
    pixels = load_image(pairs[1][1], pairs[1][0]).pixels
    assert pixels.shape == (3, 20, 30)
    assert torch.equal(pixels, batch[1].permute(2, 0, 1))


def test_split_comfyui_bhwc_gray_and_rgba():
    gray = split_images(torch.full((2, 20, 30, 1), 0.25))
    assert len(gray) == 2 and "BHWC" in gray[0][0]
    assert torch.allclose(_load(gray[0][1]), torch.full((3, 20, 30), 0.25))
    rgba = torch.zeros(1, 20, 30, 4)  # black, fully transparent
    assert torch.equal(_load(split_images(rgba)[0][1]), torch.ones(3, 20, 30))


def test_split_tie_goes_to_channels_first():
    # (B, 3, 20, 3): BCHW reads 20x3 RGB images, BHWC reads 3-pixel-tall ones. Rule: BCHW.
    pairs = split_images(torch.rand(2, 3, 20, 3))
    assert "BCHW" in pairs[0][0]
    assert load_image(pairs[0][1], pairs[0][0], min_side=1).size == (3, 20)
    # ...and with the default min_side either reading is refused as too small.
    assert "at least 16" in _error(pairs[0][1]).reason


def test_split_keeps_unreadable_batch_whole_for_load_to_report():
    pairs = split_images(torch.rand(2, 5, 20, 7))
    assert len(pairs) == 1 and pairs[0][0] == "image 0 (torch tensor)"
    err = _error(pairs[0][1], pairs[0][0])
    assert "(2, 5, 20, 7)" in err.reason


def test_split_numpy_batch_is_channels_last(photo):
    batch = np.stack([photo, photo[::-1]])
    pairs = split_images([batch, photo])
    assert [s for s, _ in pairs] == [
        "image 0 (numpy array)",
        "image 1 (numpy array)",
        "image 2 (numpy array)",
    ]
    assert torch.equal(_load(pairs[1][1]), _load(np.ascontiguousarray(photo[::-1])))


def test_one_broken_item_is_reported_and_the_rest_load(tmp_path, photo):
    good = tmp_path / "good.png"
    Image.fromarray(photo).save(good)
    loaded, errors = [], []
    for source, item in split_images([good, tmp_path / "gone.png", photo, {"not": "image"}]):
        try:
            loaded.append(load_image(item, source))
        except ImageError as err:
            errors.append(err)
    assert [image.source for image in loaded] == [str(good), "image 2 (numpy array)"]
    assert [err.source for err in errors] == [str(tmp_path / "gone.png"), "image 3 (dict)"]


# --- files ---------------------------------------------------------------------------------


def test_png_file_loads_exactly(tmp_path, photo):
    path = tmp_path / "cat.png"
    Image.fromarray(photo).save(path)
    image = load_image(path, str(path))
    _assert_valid(image.pixels, 300, 451)
    assert image.size == (451, 300)
    expected = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    assert torch.allclose(image.pixels, expected, atol=1e-6)


def test_jpeg_file_loads_close_to_original(tmp_path):
    photo = skimage.data.astronaut()
    path = tmp_path / "astronaut.jpg"
    Image.fromarray(photo).save(path, quality=95)
    pixels = _load(str(path))
    _assert_valid(pixels, 512, 512)
    expected = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    assert float((pixels - expected).abs().mean()) < 0.02


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((32, 64, 3), np.uint8)  # 64 wide, 32 tall
    stored[:, :32] = (255, 0, 0)  # left half red
    stored[:, 32:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif)

    image = load_image(path, str(path))
    assert image.size == (32, 64)  # displayed portrait
    top, bottom = image.pixels[:, 8, 16], image.pixels[:, 56, 16]
    assert top[0] > 0.9 and top[2] < 0.1  # the stored left (red) half is now on top
    assert bottom[2] > 0.9 and bottom[0] < 0.1


def test_exif_orientation_of_a_lent_pil_image_leaves_it_untouched(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(np.zeros((32, 64, 3), np.uint8)).save(path, exif=exif)
    with Image.open(path) as lent:
        assert load_image(lent, "lent").size == (32, 64)
        assert lent.size == (64, 32)
        assert lent.getexif().get(0x0112) == 6


def test_truncated_jpeg_is_an_error(tmp_path, photo):
    path = tmp_path / "cut.jpg"
    Image.fromarray(photo).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    err = _error(path, str(path))
    assert "cannot be read as an image" in err.reason
    assert "truncated" in str(err)


def test_truncated_png_is_an_error(tmp_path, photo):
    path = tmp_path / "cut.png"
    Image.fromarray(photo).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    assert "cannot be read as an image" in _error(path, str(path)).reason


def test_non_image_file_is_an_error(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels\n" * 20)
    err = _error(path, str(path))
    assert "does not recognise the file format" in err.reason
    assert "PNG, JPEG" in err.hint


def test_eps_is_refused_without_running_ghostscript(tmp_path):
    path = tmp_path / "figure.eps"
    path.write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nshowpage\n%%EOF\n")
    err = _error(path, str(path))
    assert "does not recognise the file format" in err.reason


def test_missing_file_is_an_error(tmp_path):
    path = tmp_path / "nope.png"
    err = _error(path, str(path))
    assert err.reason == "file not found"
    assert "relative paths" in err.hint


def test_directory_is_an_error(tmp_path):
    err = _error(tmp_path, str(tmp_path))
    assert "is a directory" in err.reason
    assert "glob" in err.hint


@pytest.mark.parametrize("size", [(15, 64), (64, 15), (1, 1)])
def test_too_small_file_is_an_error(tmp_path, size):
    path = tmp_path / "tiny.png"
    Image.new("RGB", size).save(path)
    err = _error(path, str(path))
    assert f"is {size[0]}x{size[1]} pixels" in err.reason and "at least 16" in err.reason
    assert load_image(path, str(path), min_side=1).size == size


def test_bomb_header_is_refused_before_decoding(tmp_path):
    # 9000x9000 is over our default 8192*8192 but under Pillow's own limits. The file has no
    # pixel data at all: getting the size error (not a decode error) proves nothing was decoded.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(9000, 9000, 8, 2, rows=None))
    err = _error(path, str(path))
    assert "9000x9000 = 81,000,000 pixels, over the limit of 67,108,864" in err.reason
    # The advice is something a user of the scorer or the CLI can act on: no internal knobs.
    assert "Downscale it first" in err.hint and "max_pixels" not in err.hint


def test_bomb_over_pillow_warning_threshold_warns_nothing(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(10000, 10000, 8, 2, rows=None))  # over Pillow's warning threshold
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any DecompressionBombWarning would fail the test
        err = _error(path, str(path))
    assert "over the limit" in err.reason


def test_bomb_over_pillow_hard_limit_is_an_image_error(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(100_000, 100_000, 8, 2, rows=None))
    err = _error(path, str(path), max_pixels=10**12)
    assert "is 10,000,000,000 pixels, far over the limit" in err.reason
    assert "Downscale it first" in err.hint and "MAX_IMAGE_PIXELS" not in err.hint


def test_max_pixels_is_ours_for_every_input_kind(tmp_path, photo):
    path = tmp_path / "cat.png"
    Image.fromarray(photo).save(path)
    for item in (path, Image.fromarray(photo), photo, torch.rand(3, 300, 451)):
        assert "over the limit of 10,000" in _error(item, max_pixels=10_000).reason


# --- PIL modes -----------------------------------------------------------------------------


def test_mode_1_bilevel(tmp_path):
    bits = (np.indices((32, 32)).sum(0) % 2).astype(bool)
    path = tmp_path / "bits.png"
    Image.fromarray(bits).save(path)
    assert _mode_of(path) == "1"
    pixels = _load(path)
    _assert_valid(pixels, 32, 32)
    assert torch.equal(pixels[0], torch.from_numpy(bits).float())
    assert torch.equal(pixels[0], pixels[2])


def test_mode_l_is_replicated_to_rgb(tmp_path):
    camera = skimage.data.camera()[:64, :80]
    path = tmp_path / "camera.png"
    Image.fromarray(camera).save(path)
    pixels = _load(path)
    _assert_valid(pixels, 64, 80)
    expected = torch.from_numpy(camera).float() / 255
    for channel in range(3):
        assert torch.allclose(pixels[channel], expected, atol=1e-6)


def test_mode_la_transparency_over_white(tmp_path):
    la = np.zeros((20, 40, 2), np.uint8)  # black everywhere
    la[:, 20:, 1] = 255  # left half fully transparent, right half opaque
    path = tmp_path / "la.png"
    Image.fromarray(la, mode="LA").save(path)
    assert _mode_of(path) == "LA"
    pixels = _load(path)
    assert torch.equal(pixels[:, :, :20], torch.ones(3, 20, 20))
    assert torch.equal(pixels[:, :, 20:], torch.zeros(3, 20, 20))


def test_mode_rgba_half_transparent_over_white(tmp_path):
    path = tmp_path / "rgba.png"
    Image.new("RGBA", (20, 20), (255, 0, 0, 128)).save(path)
    pixels = _load(path)
    alpha = 128 / 255
    expected = torch.tensor([1.0, 1 - alpha, 1 - alpha])
    assert torch.allclose(pixels[:, 5, 5], expected, atol=1e-6)


def test_rgba_hidden_colour_under_transparency_does_not_leak(tmp_path):
    path = tmp_path / "hidden.png"
    Image.new("RGBA", (20, 20), (0, 255, 0, 0)).save(path)  # green, but invisible
    assert torch.equal(_load(path), torch.ones(3, 20, 20))


def test_mode_p_without_transparency(tmp_path, photo):
    palette = Image.fromarray(photo).quantize(colors=32)
    path = tmp_path / "palette.png"
    palette.save(path)
    assert _mode_of(path) == "P"
    expected = np.asarray(palette.convert("RGB")).transpose(2, 0, 1) / np.float32(255)
    assert torch.allclose(_load(path), torch.from_numpy(expected), atol=1e-6)


def test_mode_p_with_transparency_over_white(tmp_path):
    indices = np.zeros((20, 20), np.uint8)
    indices[:, 10:] = 1
    image = Image.fromarray(indices, mode="L").convert("P")
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)  # 0: black, 1: red
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)  # black is the transparent index
    with Image.open(path) as reopened:
        assert reopened.mode == "P" and "transparency" in reopened.info
    pixels = _load(path)
    assert torch.equal(pixels[:, :, :10], torch.ones(3, 20, 10))  # transparent -> white
    assert torch.equal(pixels[:, 0, 15], torch.tensor([1.0, 0.0, 0.0]))


def test_mode_cmyk(tmp_path):
    path = tmp_path / "cmyk.tif"
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(path)  # no cyan, full magenta+yellow
    assert _mode_of(path) == "CMYK"
    assert torch.equal(_load(path)[:, 3, 3], torch.tensor([1.0, 0.0, 0.0]))


def test_mode_i16_png_keeps_16_bit_precision(tmp_path):
    # Values differ only in the low byte: truncating to 8 bits would make them all equal.
    values = (np.arange(20 * 20, dtype=np.uint16).reshape(20, 20) % 200) + 0x8000
    path = tmp_path / "gray16.png"
    Image.fromarray(values).save(path)
    assert _mode_of(path).startswith("I;16")
    pixels = _load(path)
    assert len(torch.unique(pixels[0])) == 200
    expected = torch.from_numpy(values.astype(np.float64) / 65535).float()
    assert torch.allclose(pixels[0], expected, atol=1e-6)
    assert torch.equal(pixels[0], pixels[1])


def test_handcrafted_16_bit_gray_png_big_endian_decodes_exactly(tmp_path):
    values = np.full((16, 16), 0x1234, np.uint16)
    values[0, 0] = 0x1235
    path = tmp_path / "gray16.png"
    path.write_bytes(_png(16, 16, 16, 0, _png_rows(values)))
    pixels = _load(path)
    assert float(pixels[0, 0, 0]) == pytest.approx(0x1235 / 65535, abs=1e-7)
    assert float(pixels[0, 1, 1]) == pytest.approx(0x1234 / 65535, abs=1e-7)


def test_16_bit_rgb_png_loads(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint16)
    rgb[..., 0] = 65535
    rgb[..., 2] = 0x8000
    path = tmp_path / "rgb16.png"
    path.write_bytes(_png(16, 16, 16, 2, _png_rows(rgb)))
    pixels = _load(path)
    _assert_valid(pixels, 16, 16)
    assert torch.allclose(pixels[:, 4, 4], torch.tensor([1.0, 0.0, 0.5]), atol=1 / 255)


def test_mode_i_scaled_as_16_bit():
    image = Image.fromarray(np.full((20, 20), 30000, np.int32), mode="I")
    assert float(_load(image)[0, 0, 0]) == pytest.approx(30000 / 65535, abs=1e-6)


def test_mode_i_beyond_16_bits_is_an_error():
    image = Image.fromarray(np.full((20, 20), 70000, np.int32), mode="I")
    err = _error(image)
    assert "70000" in err.reason and "0..65535" in err.reason


def test_mode_f_tiff(tmp_path):
    values = np.linspace(0, 1, 20 * 20, dtype=np.float32).reshape(20, 20)
    path = tmp_path / "float.tif"
    Image.fromarray(values, mode="F").save(path)
    assert _mode_of(path) == "F"
    assert torch.equal(_load(path)[2], torch.from_numpy(values))


def test_mode_f_outside_unit_range_is_an_error():
    image = Image.fromarray(np.full((20, 20), 200.0, np.float32), mode="F")
    assert "outside [0, 1]" in _error(image).reason


def test_mode_ycbcr(photo):
    image = Image.fromarray(photo).convert("YCbCr")
    expected = np.asarray(image.convert("RGB")).transpose(2, 0, 1) / np.float32(255)
    assert torch.allclose(_load(image), torch.from_numpy(expected), atol=1e-6)


def test_mode_lab_tiff(tmp_path):
    lab = Image.fromarray(np.zeros((20, 20, 3), np.uint8), mode="RGB").convert("LAB")
    lab.paste((255, 128, 128), (0, 0, 20, 20))  # L=100, a=b=0: white
    path = tmp_path / "lab.tif"
    lab.save(path)
    assert _mode_of(path) == "LAB"
    assert torch.allclose(_load(path), torch.ones(3, 20, 20), atol=0.02)


@pytest.mark.parametrize("mode", ["La", "RGBa", "PA", "HSV", "RGBX"])
def test_rarer_in_memory_modes_load(mode):
    image = Image.new(mode, (20, 20))
    _assert_valid(_load(image), 20, 20)


# --- numpy arrays --------------------------------------------------------------------------


def test_numpy_uint8_hwc(photo):
    pixels = _load(photo)
    _assert_valid(pixels, 300, 451)
    assert torch.allclose(pixels, torch.from_numpy(photo).permute(2, 0, 1) / 255, atol=1e-6)


def test_numpy_uint16_scaled_by_65535():
    array = np.full((20, 20, 3), 65535, np.uint16)
    array[0, 0] = (0, 32768, 1)
    pixels = _load(array)
    assert float(pixels[0, 1, 1]) == 1.0
    assert pixels[:, 0, 0].tolist() == pytest.approx([0.0, 32768 / 65535, 1 / 65535], abs=1e-7)


def test_numpy_gray_hw_and_hw1():
    gray = np.full((20, 30), 51, np.uint8)
    assert torch.allclose(_load(gray), torch.full((3, 20, 30), 0.2))
    assert torch.equal(_load(gray[:, :, None]), _load(gray))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_numpy_float_dtypes(dtype):
    array = np.linspace(0, 1, 20 * 20 * 3).reshape(20, 20, 3).astype(dtype)
    pixels = _load(array)
    assert pixels.dtype == torch.float32
    assert torch.allclose(pixels, torch.from_numpy(array.astype(np.float32)).permute(2, 0, 1))


def test_numpy_rgba_over_white():
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0] = 255  # red
    rgba[:10, :, 3] = 255  # top opaque, bottom transparent
    pixels = _load(rgba)
    assert pixels[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert pixels[:, 15, 0].tolist() == [1.0, 1.0, 1.0]


def test_numpy_big_endian_and_negative_strides(photo):
    flipped = photo[::-1, ::-1]
    expected = torch.from_numpy(np.ascontiguousarray(flipped)).permute(2, 0, 1) / 255
    assert torch.allclose(_load(flipped), expected, atol=1e-6)
    big_endian = np.full((20, 20), 0x0102, dtype=">u2")
    assert float(_load(big_endian)[0, 0, 0]) == pytest.approx(0x0102 / 65535, abs=1e-7)


def test_loaded_pixels_do_not_alias_the_input():
    array = np.full((20, 20, 3), 0.5, np.float32)
    tensor = torch.full((3, 20, 20), 0.5)
    from_array, from_tensor = _load(array), _load(tensor)
    array[:] = 0.0
    tensor[:] = 0.0
    assert float(from_array.min()) == 0.5 and float(from_tensor.min()) == 0.5


def test_bool_array_is_rejected_with_a_conversion_hint():
    err = _error(np.ones((20, 20), bool))
    assert "bool" in err.reason and "astype(np.uint8) * 255" in err.hint


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint32, np.complex64])
def test_other_numpy_dtypes_are_rejected(dtype):
    err = _error(np.zeros((20, 20, 3), dtype))
    assert str(np.dtype(dtype)) in err.reason
    assert "uint8 (0..255)" in err.hint


@pytest.mark.parametrize("value", [1.0005, -0.0005])
def test_float_rounding_noise_is_clamped(value):
    pixels = _load(np.full((20, 20, 3), value, np.float32))
    assert float(pixels.min()) == float(pixels.max()) == min(max(value, 0.0), 1.0)


@pytest.mark.parametrize("value, shown", [(1.01, "1.01"), (255.0, "255"), (-1.0, "-1")])
def test_float_out_of_range_is_an_error(value, shown):
    array = np.full((20, 20, 3), 0.5, np.float32)
    array[3, 3, 1] = value
    err = _error(array)
    assert "outside [0, 1]" in err.reason and shown in err.reason
    assert "divide 0-255 data by 255" in err.hint


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_an_error(bad):
    array = np.full((20, 20, 3), 0.5, np.float32)
    array[1, 2, 0] = bad
    array[5, 5, 2] = bad
    assert "contains 2 NaN or infinite values" in _error(array).reason


@pytest.mark.parametrize(
    "shape, expected", [((20, 20, 2), "2 channels"), ((20, 20, 5), "5 channels")]
)
def test_numpy_wrong_channel_count_is_an_error(shape, expected):
    err = _error(np.zeros(shape, np.uint8))
    assert expected in err.reason and str(shape) in err.reason
    assert "1 (gray), 3 (RGB) or 4 (RGBA)" in err.hint


def test_numpy_channels_first_is_an_error_with_the_fix():
    err = _error(np.zeros((3, 20, 30), np.uint8))
    assert "channels-first" in err.reason
    assert "transpose(1, 2, 0)" in err.hint


@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 20), (20, 0, 1)])
def test_empty_arrays_are_an_error(shape):
    assert "is empty" in _error(np.zeros(shape, np.uint8)).reason


@pytest.mark.parametrize("shape", [(20,), (2, 20, 20, 3), (1, 1, 20, 20, 3)])
def test_numpy_wrong_rank_is_an_error(shape):
    assert str(shape) in _error(np.zeros(shape, np.uint8)).reason


def test_too_small_array_is_an_error():
    err = _error(np.zeros((8, 64, 3), np.uint8))
    assert "is 64x8 pixels" in err.reason


# --- torch tensors -------------------------------------------------------------------------


def test_torch_chw_float():
    tensor = torch.rand(3, 20, 30)
    image = load_image(tensor, "t")
    assert image.size == (30, 20)
    assert torch.equal(image.pixels, tensor)


def test_torch_single_comfyui_image_hwc():
    tensor = torch.rand(20, 30, 3)
    assert torch.equal(_load(tensor), tensor.permute(2, 0, 1))


def test_torch_batch_of_one_and_gray_2d():
    tensor = torch.rand(1, 3, 20, 30)
    assert torch.equal(_load(tensor), tensor[0])
    gray = torch.rand(20, 30)
    assert torch.equal(_load(gray), gray.expand(3, 20, 30))


def test_torch_uint8_and_uint16():
    white = torch.full((3, 20, 20), 255, dtype=torch.uint8)
    assert torch.equal(_load(white), torch.ones(3, 20, 20))
    half = _load(torch.full((1, 20, 20), 32768, dtype=torch.uint16))
    assert float(half[0, 0, 0]) == pytest.approx(32768 / 65535, abs=1e-7)


def test_torch_bfloat16_and_grad_tensors():
    tensor = torch.rand(3, 20, 20, requires_grad=True)
    assert torch.equal(_load(tensor), tensor.detach())
    bf16 = torch.full((3, 20, 20), 0.5, dtype=torch.bfloat16)
    assert torch.equal(_load(bf16), torch.full((3, 20, 20), 0.5))


def test_torch_rgba_over_white():
    rgba = torch.zeros(4, 20, 20)
    rgba[3] = 0.25  # quarter-opaque black
    assert torch.allclose(_load(rgba), torch.full((3, 20, 20), 0.75))


@pytest.mark.parametrize("shape", [(2, 20, 20), (5, 20, 7), (20, 20, 2)])
def test_torch_wrong_channel_count_is_an_error(shape):
    err = _error(torch.rand(shape))
    assert str(shape) in err.reason and "1 (gray), 3 (RGB) or 4 (RGBA)" in err.hint


def test_torch_batch_passed_to_load_image_points_at_split_images():
    err = _error(torch.rand(2, 3, 20, 20))
    assert "(2, 3, 20, 20)" in err.reason and "split_images" in err.hint


def test_torch_nan_and_range_errors():
    tensor = torch.full((3, 20, 20), 0.5)
    tensor[0, 0, 0] = float("nan")
    assert "NaN" in _error(tensor).reason
    assert "outside [0, 1]" in _error(torch.full((3, 20, 20), 2.0)).reason


def test_torch_bool_and_int_tensors_are_rejected():
    assert "bool" in _error(torch.ones(3, 20, 20, dtype=torch.bool)).reason
    assert "int64" in _error(torch.ones(3, 20, 20, dtype=torch.int64)).reason


# --- other inputs --------------------------------------------------------------------------


def test_unsupported_types_are_errors_naming_what_is_accepted():
    pairs = split_images([None, {"a": 1}, 3.5])
    for source, item in pairs:
        err = _error(item, source)
        assert "which is not an image" in err.reason
        assert "file path" in err.hint and "torch tensor" in err.hint
    assert "is a dict" in _error({"a": 1}).reason


def test_raw_bytes_point_at_bytesio():
    assert "io.BytesIO" in _error(b"\x89PNG...").hint


def test_invalid_limits_are_programming_errors(photo):
    with pytest.raises(ValueError, match="max_pixels must be a positive int, got 0"):
        load_image(photo, "x", max_pixels=0)
    with pytest.raises(ValueError, match="min_side must be a positive int, got 2.5"):
        load_image(photo, "x", min_side=2.5)  # type: ignore[arg-type]


# --- to_model_input ------------------------------------------------------------------------


def test_to_model_input_shape_dtype_range(photo):
    images = [load_image(photo, "a"), load_image(np.zeros((40, 20), np.uint8), "b")]
    assert all(isinstance(image, LoadedImage) for image in images)
    batch = to_model_input(images, 64)
    assert batch.shape == (2, 3, 64, 64) and batch.dtype == torch.float32
    assert float(batch[1].max()) == 0.0
    assert float(batch.min()) >= 0.0 and float(batch.max()) <= 1.0


def test_to_model_input_clamps_bicubic_overshoot():
    stripes = np.zeros((64, 64), np.uint8)
    stripes[:, ::8] = 255  # hard edges: bicubic rings past 0 and 1
    image = load_image(stripes, "stripes")
    raw = F.interpolate(image.pixels[None], size=(40, 40), mode="bicubic", antialias=True)
    assert float(raw.min()) < 0.0 or float(raw.max()) > 1.0  # the clamp has work to do
    batch = to_model_input([image], 40)
    assert float(batch.min()) >= 0.0 and float(batch.max()) <= 1.0
    assert torch.allclose(batch, raw.clamp(0, 1))


def test_to_model_input_squashes_without_cropping():
    wide = np.zeros((20, 80), np.uint8)
    wide[:, 40:] = 255  # left half black, right half white
    batch = to_model_input([load_image(wide, "wide")], 32)
    assert float(batch[0, :, :, :12].max()) < 0.05  # nothing cropped off either side
    assert float(batch[0, :, :, 20:].min()) > 0.95


def test_to_model_input_keeps_constant_and_same_size_images_exact():
    constant = load_image(np.full((30, 50, 3), 0.3, np.float32), "c")
    assert torch.allclose(to_model_input([constant], 16), torch.full((1, 3, 16, 16), 0.3))
    exact = load_image(torch.rand(3, 16, 16), "e")
    assert torch.equal(to_model_input([exact], 16)[0], exact.pixels)


def test_to_model_input_empty_and_bad_arguments(photo):
    assert to_model_input([], 32).shape == (0, 3, 32, 32)
    with pytest.raises(TypeError, match=r"images\[0\] is a numpy.ndarray, not a LoadedImage"):
        to_model_input([photo], 32)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="resolution must be a positive int, got 0"):
        to_model_input([load_image(photo, "a")], 0)



def test_an_empty_file_says_so(tmp_path):
    path = tmp_path / "upload.png"
    path.write_bytes(b"")
    err = _error(path, str(path))
    assert err.reason == "is an empty file (0 bytes)"

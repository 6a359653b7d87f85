"""Image decoding: every common mode becomes RGB uint8, bad input a clear ImageError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pipelines.images import ImageError, load_image, save_image_atomic

from ..conftest import photo


def png_bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    "mode,value",
    [("RGB", (10, 20, 30)), ("L", 128), ("P", 3), ("RGBA", (10, 20, 30, 255)), ("LA", (200, 255)), ("CMYK", (0, 0, 0, 0)), ("I;16", 65535)],
)
def test_every_mode_becomes_rgb_uint8(mode, value):
    img = Image.new(mode, (20, 10), value)
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    out = load_image(png_bytes(img, fmt))
    assert out.shape == (10, 20, 3) and out.dtype == np.uint8


def test_sixteen_bit_is_scaled_not_clipped():
    img = Image.fromarray(np.full((4, 4), 32768, np.uint16))
    out = load_image(png_bytes(img))
    assert 120 <= out[0, 0, 0] <= 135


def test_transparent_pixels_become_white():
    img = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert (load_image(img) == 255).all()


def test_exif_orientation_is_applied():
    out = load_image(photo("woman_exif_orientation6_rotated.jpg"))
    stored = Image.open(photo("woman_exif_orientation6_rotated.jpg")).size  # (W, H) as stored
    assert out.shape[:2] == (stored[0], stored[1])  # turned 90 degrees


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    out = load_image(buf.getvalue())
    assert out[0, 0, 0] > 200 and out[0, 0, 2] < 50


def test_truncated_jpeg_is_a_clear_error():
    data = photo("man_portrait_flags_720p.jpg").read_bytes()
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(data[: len(data) // 3], name="upload.jpg")


def test_not_an_image_names_the_input(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is text, not a picture")
    with pytest.raises(ImageError, match="notes.png: not an image"):
        load_image(bad)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(empty)
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nope.jpg")


def test_decompression_bomb_is_refused_before_decoding():
    # A 30000x30000 PNG header over a tiny body: refused from the header alone.
    img = Image.new("L", (30000, 30000))
    data = png_bytes(img, optimize=False)
    with pytest.raises(ImageError, match="bomb.png: image is too large"):
        load_image(data, name="bomb.png")


def test_input_array_is_not_modified():
    a = np.random.default_rng(0).integers(0, 255, (8, 8, 4), dtype=np.uint8)
    before = a.copy()
    load_image(a)
    assert np.array_equal(a, before)


def test_save_is_atomic_and_labelled(tmp_path):
    out = tmp_path / "x.png"
    save_image_atomic(np.zeros((4, 4, 3), np.uint8), out, text={"Software": "CodeSwap test"})
    assert Image.open(out).text["Software"] == "CodeSwap test"
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
    with pytest.raises(ImageError):
        save_image_atomic(np.zeros((4, 4, 3), np.uint8), tmp_path / "x.unknownext")
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=2048))
def test_random_bytes_give_an_image_or_a_clear_error(data):
    try:
        out = load_image(data, name="random")
    except ImageError as e:
        assert str(e).startswith("random:")
    else:
        assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 400))
def test_corrupted_png_bodies_give_clear_errors(cut):
    data = bytearray(png_bytes(Image.new("RGB", (32, 32), (1, 2, 3))))
    data[cut % len(data)] ^= 0xFF
    try:
        load_image(bytes(data), name="flipped")
    except ImageError as e:
        assert "flipped" in str(e)

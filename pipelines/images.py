"""Reading images from the outside world into RGB uint8 arrays, with clear errors.

Every pipeline takes images as PIL images or HxWx3 uint8 RGB arrays; this module turns whatever a
person uploads (a path, bytes, a PIL image of any mode, an array of any common dtype) into that,
applying the EXIF orientation and refusing files that are not images or are too large.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# 40 megapixels: a 7000x5700 photo. Larger inputs are refused before they are decoded.
DEFAULT_MAX_PIXELS = 40_000_000


class ImageError(ValueError):
    """An input that cannot be used as an image; the message names the input and the problem."""


def _to_rgb_uint8(img: Image.Image) -> np.ndarray:
    """Any PIL mode -> (H, W, 3) uint8 RGB. Alpha is composited on white (transparent areas of a
    portrait PNG are background); 16-bit and float modes are scaled, not clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(a[:, :, None], 3, axis=2)
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def load_image(source, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Path, bytes, PIL image or array -> (H, W, 3) uint8 RGB array, EXIF orientation applied.

    Raises ImageError with a message that names `name` (or the path) when the input is not a
    readable image, is truncated, has no pixels, or has more than `max_pixels` pixels.
    The input itself is never modified.
    """
    label = name or (str(source) if isinstance(source, (str, Path)) else "image")
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source, label, max_pixels)
    if isinstance(source, Image.Image):
        _check_size(source.size, label, max_pixels)
        return _to_rgb_uint8(ImageOps.exif_transpose(source))
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"{label}: file not found")
        data = path.read_bytes()
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        raise ImageError(f"{label}: expected a path, bytes, PIL image or array, got {type(source).__name__}")
    if not data:
        raise ImageError(f"{label}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            _check_size(img.size, label, max_pixels)  # from the header, before decoding pixels
            img.seek(0)  # animated GIF/WebP: the first frame
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_rgb_uint8(img)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{label}: image is too large to decode safely ({e})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{label}: not an image file (format not recognised)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"{label}: the image file is corrupt or truncated ({e})") from None


def _check_size(size: tuple[int, int], label: str, max_pixels: int) -> None:
    w, h = size
    if w < 1 or h < 1:
        raise ImageError(f"{label}: image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise ImageError(f"{label}: image is {w}x{h} = {w * h / 1e6:.1f} megapixels, over the limit of {max_pixels / 1e6:.1f} megapixels")


def _array_to_rgb(a: np.ndarray, label: str, max_pixels: int) -> np.ndarray:
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ImageError(f"{label}: expected an HxW, HxWx3 or HxWx4 array, got shape {a.shape}")
    _check_size((a.shape[1], a.shape[0]), label, max_pixels)
    if a.dtype == np.uint16:
        a = (a.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif a.dtype.kind == "f":
        a = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ImageError(f"{label}: unsupported array dtype {a.dtype}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        a = (a[:, :, :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


def save_image_atomic(image: np.ndarray, path: str | os.PathLike, text: dict[str, str] | None = None, sign=None) -> None:
    """Write an RGB uint8 array to `path` atomically (temporary file in the same folder, then
    rename), so a reader never sees half a file. PNG outputs carry `text` as tEXt chunks.
    sign(temporary path, mime type), when given, rewrites the file before the rename (e.g. adds a
    C2PA manifest: pipelines/provenance.save_output_image)."""
    from PIL import PngImagePlugin

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown image extension {path.suffix!r} (use .png or .jpg)")
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        kwargs = {}
        if fmt == "PNG" and text:
            info = PngImagePlugin.PngInfo()
            for k, v in text.items():
                info.add_text(k, v)
            kwargs["pnginfo"] = info
        if fmt == "JPEG":
            kwargs["quality"] = 95
        Image.fromarray(image).save(tmp, format=fmt, **kwargs)
        if sign is not None:
            sign(tmp, Image.MIME[fmt])
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()

"""Pictures of intermediates for people: code-index maps, masks, codebook usage."""

from __future__ import annotations

import cv2
import numpy as np


def code_map_image(codes: np.ndarray, codebook_size: int, scale: int = 8, depth: int = 1) -> np.ndarray:
    """(h, w) code indices -> (h*scale, w*scale, 3) uint8: each code its own fixed colour (golden-angle
    hues, so neighbouring indices differ), equal codes equal colours across images. With residual
    quantization (depth D > 1, packed indices) the colour is the cell's first-stage code."""
    codes = np.asarray(codes) // codebook_size ** (depth - 1)
    hue = (np.arange(codebook_size) * 137.508) % 360 / 2  # OpenCV hue is 0..180
    sat = 150 + (np.arange(codebook_size) * 53) % 106
    val = 130 + (np.arange(codebook_size) * 29) % 126
    palette = cv2.cvtColor(np.stack([hue, sat, val], 1).astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0]
    img = palette[codes]
    return img.repeat(scale, 0).repeat(scale, 1)


def mask_image(mask: np.ndarray, scale: int = 1) -> np.ndarray:
    """(h, w) float or bool in [0, 1] -> grey (h*scale, w*scale, 3) uint8."""
    g = (np.clip(mask.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.repeat(g[:, :, None], 3, 2).repeat(scale, 0).repeat(scale, 1)


def usage_chart(usage: np.ndarray, height: int = 160) -> np.ndarray:
    """Codebook usage shares (K,) -> a bar chart image, codes sorted by use, most used left."""
    u = np.sort(np.asarray(usage, np.float64))[::-1]
    k = len(u)
    width = max(k, 256)
    img = np.full((height, width, 3), 255, np.uint8)
    heights = (u / max(u.max(), 1e-12) * (height - 4)).astype(int)
    xs = (np.arange(k) * width / k).astype(int)
    for x, hgt in zip(xs, heights, strict=True):
        img[height - hgt :, x : x + max(1, width // k)] = (70, 90, 200)
    return img


def zoom(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer factor: no invented detail."""
    return image.repeat(factor, 0).repeat(factor, 1)


def upscale(image: np.ndarray, size: int = 256) -> np.ndarray:
    """Small crops shown at about `size` pixels high."""
    return zoom(image, max(1, size // image.shape[0]))


def grid(images: np.ndarray, columns: int = 8, pad: int = 2) -> np.ndarray:
    """(N, S, S, 3) uint8 -> one (rows*S, columns*S, 3) uint8 image, white padding."""
    n, s = len(images), images.shape[1]
    columns = min(columns, n)
    rows = -(-n // columns)
    out = np.full((rows * (s + pad) + pad, columns * (s + pad) + pad, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        out[pad + r * (s + pad) : pad + r * (s + pad) + s, pad + c * (s + pad) : pad + c * (s + pad) + s] = img
    return out

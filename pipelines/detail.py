"""Detail at the photo's own resolution: the swapped face is composed at the size the target face
has in the photo, not decoded at the model's crop size and upscaled.

The VQGAN decodes S x S crops (S = 128); a face in a photo often spans 200-500 pixels. A crop
upscaled that much is soft. So the face is composed at P x P, P 1.5 times the side the crop covers
in the photo (at most 768; a video frame's: 1 times, at most 384, DetailScale), as the upsampled
decode plus the detail the decode lacks, a two-level Laplacian pyramid whose fine level comes from
real pixels:

    face_P = up(G(Z_swap)) + detail * [ w * (A_P - up(G(Z_A))) + (1 - w) * (B_P - up(G(Z_swap))) ]

A_P, B_P: the source and target faces aligned at P (the same template, so the same geometry);
up: bicubic S -> P; w: the cells that carry A's codes, smoothed over one cell. Inside A's cells the
fine level (and what the codebook could not hold) is the source's own; outside them it is the
target's, so the target's skin, hair and background stay pixel-sharp. At detail 0 the face is the
decoder's alone, upsampled. No sharpening filter is involved: every added frequency is measured
from a photo.

At detail 1 the formula regroups as the source's pixels plus the decoder's seam:

    face_P = w * (A_P + up(G(Z_swap) - G(Z_A))) + (1 - w) * B_P

Inside A's cells, away from their edge, G(Z_swap) = G(Z_A) (the same codes, and the decoder sees a few
cells around each): the seam term is the decoder's work where A's codes meet B's. A video computes it
on some frames and carries it to the next few of the same face (pipelines/video.py).
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

SIDE_STEP = 32  # P is rounded up to a multiple of this


class DetailScale(NamedTuple):
    """How finely a face is composed: `oversample` crop pixels per photo pixel, at most `max_side`
    pixels a side (a larger face is composed at that side and upscaled by the paste)."""

    oversample: float
    max_side: int


# photos: resampling twice (warp in, paste back) softens less at 1.5 crop pixels per photo pixel
PHOTO_DETAIL = DetailScale(oversample=1.5, max_side=768)
# video frames, compressed anyway, at 1 and at most 384: the singer clip's faces (crops of 480-544 px
# at 720p) compose in about half the pixels, 16.6 -> 18.3 fps, with the same sharpness within 1.3%
# (also on a sharp still, 477 px) and 39-40 dB from the uncapped frames (benchmarks/RESULTS.md, Video)
VIDEO_DETAIL = DetailScale(oversample=1.0, max_side=384)


def detail_side(native_side: float, size: int, scale: DetailScale = PHOTO_DETAIL) -> int:
    """Crop side P for a face whose S-crop covers `native_side` image pixels: S <= P <= scale.max_side."""
    side = int(np.ceil(scale.oversample * native_side / SIDE_STEP) * SIDE_STEP)
    return int(min(max(side, size), max(scale.max_side, size)))


def resize(image: np.ndarray, side: int) -> np.ndarray:
    """(s, s, C) -> (side, side, C): bicubic up, area-averaged down; float or uint8 as given."""
    if image.shape[0] == side:
        return image
    interpolation = cv2.INTER_CUBIC if side > image.shape[0] else cv2.INTER_AREA
    return cv2.resize(image, (side, side), interpolation=interpolation)


def cell_weights(tokens: np.ndarray, side: int, work: int = 128) -> np.ndarray:
    """(h, w) bool cells -> (side, side, 1) float32 weights, 1 inside the True cells, ramping to 0
    over about one cell across their edge (a hard cell edge would show as a step in the detail).
    Blurred at `work` pixels, then upsampled: a smooth ramp loses nothing by it."""
    hard = cv2.resize(tokens.astype(np.float32), (work, work), interpolation=cv2.INTER_NEAREST)
    soft = cv2.GaussianBlur(hard, (0, 0), sigmaX=work / tokens.shape[0] / 3)
    return cv2.resize(soft, (side, side), interpolation=cv2.INTER_LINEAR)[..., None]


def source_detail(decoded_source: np.ndarray, source_hi: np.ndarray, side: int) -> np.ndarray:
    """A_P - up(G(Z_A)): what the source has that its codes do not hold, at side P. decoded_source
    (S, S, 3) uint8, source_hi (P', P', 3) uint8 -> (P, P, 3) float32. The same for every frame of a
    video at a given P, so callers keep it (SourceFace.detail)."""
    out = resize(source_hi, side).astype(np.float32)
    out -= resize(decoded_source.astype(np.float32), side)
    return out


def seam(decoded_swap: np.ndarray, decoded_source: np.ndarray) -> np.ndarray:
    """G(Z_swap) - G(Z_A): (S, S, 3) uint8 each -> (S, S, 3) float32, near zero away from the edge of
    A's cells."""
    return decoded_swap.astype(np.float32) - decoded_source.astype(np.float32)


def compose_with_seam(source_hi: np.ndarray, seam_crop: np.ndarray, target_hi: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """compose at detail 1, written with the seam (module docstring): source_hi, target_hi (P, P, 3)
    uint8 A_P and B_P; seam_crop (S, S, 3) float32 (seam); tokens (h, w) bool -> (P, P, 3) uint8."""
    side = target_hi.shape[0]
    target = target_hi.astype(np.float32)
    face = source_hi.astype(np.float32)
    face += resize(seam_crop, side)  # (resize returns seam_crop itself at P = S: it is shared by frames, not written to)
    face -= target
    face *= cell_weights(tokens, side)
    face += target  # w * (A_P + up(seam)) + (1 - w) * B_P
    return np.clip(face + 0.5, 0, 255).astype(np.uint8)


def compose(
    decoded_swap: np.ndarray,
    detail_source: np.ndarray,
    target_hi: np.ndarray,
    tokens: np.ndarray,
    detail: float,
) -> np.ndarray:
    """The formula in the module docstring. decoded_swap: (S, S, 3) uint8 G(Z_swap); detail_source:
    (P, P, 3) float32 A_P - up(G_A) (source_detail); target_hi: (P, P, 3) uint8 aligned target;
    tokens (h, w) bool cells of A's codes -> (P, P, 3) uint8."""
    side = target_hi.shape[0]
    swap_up = resize(decoded_swap, side).astype(np.float32)  # upsampled as uint8: a quarter of the memory traffic
    target = target_hi.astype(np.float32)
    face = swap_up
    if detail > 0:
        # (1 - detail) * swap_up + detail * [w * (A_P - up(G_A) + swap_up) + (1 - w) * B_P], in place
        mixed = detail_source + swap_up
        mixed -= target
        mixed *= cell_weights(tokens, side)
        mixed += target  # w * (A_P - up(G_A) + swap_up) + (1 - w) * B_P
        face = mixed if detail >= 1 else cv2.addWeighted(swap_up, 1 - detail, mixed, detail, 0.0)
    return np.clip(face + 0.5, 0, 255).astype(np.uint8)

"""Face-region masks in aligned-crop space, colour transfer and feathered blending masks.

All masks live in aligned-crop space (S x S). Alignment puts every face's 5 landmarks close to
pipelines.faces.CANONICAL_TEMPLATE, but not on it: a wide smile, an open mouth or a turned head
leave the mouth corners and eyes off their template places. So a region is a union of ellipses
placed on the face's own aligned landmarks (the template's, when none are given) and sized by its
own eye gap.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .faces import CANONICAL_TEMPLATE

REGIONS = ("face", "eyes", "brows", "nose", "mouth")
OUTLINE_MARGIN = 0.04  # outline_mask grows the face's silhouette by this fraction of the crop side
# color_transfer's lowest contrast gain for L, a and b (the source's spread times at least this), and
# for L around the mouth (mouth_zone). A face's lightness contrast is much of who it is: flattened to
# the singer clip's soft video (gain 0.4) the swapped face read as the source's on 61% of frames,
# at 0.6 on 92%; but around the mouth the source's contrast made the mouth's motion read less as the
# actor's (mouth opening correlation 0.85 / 0.80 -> 0.77 / 0.77 by dlib / the mesh). So the face
# keeps more of the source's contrast and the mouth takes the target's: 88%, 0.81 / 0.81 (RESULTS.md,
# Swap realism). The floors' colour channels stay at 0.4: they did nothing for identity (63%).
GAIN_FLOOR = (0.6, 0.4, 0.4)
MOUTH_GAIN_FLOOR = (0.4, 0.4, 0.4)
# ... but a face in a photo with (almost) no colour takes its lack of colour: the colour floors fade
# out as the target face's colour spread (the mean standard deviation of its a and b, 8-bit LAB) falls
# from COLOURFUL to MONOCHROME levels. A black-and-white photo toned blue (0.6 / 1.1 levels) kept 40%
# of a blue-eyed source's colour: blue irises in a grey face. Colour photos' faces spread 2.9-12 levels
# on the repo's photos, a cold-graded movie still 1.9 (its floors at 87%); the clips' faces, their
# colour subsampled, 2.0-7.2 (5th percentile 2.0-2.4: all but a few at the full floors).
MONOCHROME, COLOURFUL = 1.0, 2.0
# the template's eye gap over its eyes-to-mouth height (0.236 / 0.272); frontal faces measure 0.95-1.06
FACE_GAP_PER_HEIGHT = 0.866
# How much higher the face region's top reaches, in eye gaps (its bottom stays under the lower lip).
# The feather (feathered, 8% of the side) eats into a region's edge: at 0 it left the target's brows
# half in place, and a brow is much of who a face is (session 24, read densely: hamilton's frontal
# faces 54% -> 88% closer to the source, the singer's 88% -> 99%, the 60 photo pairs 85% -> 93%).
# Hair up there is kept out (pipelines/hair.py).
FACE_TOP = 0.3


def region_ellipses(
    name: str, landmarks: np.ndarray, posed: bool = False, top: float = FACE_TOP
) -> list[tuple[float, float, float, float]]:
    """A region as ellipses (centre x, centre y, radius x, radius y) in unit crop coordinates, from
    (5, 2) aligned landmarks in unit coordinates (left eye, right eye, nose, mouth corners). posed:
    the source face was turned like this one (pipelines/turn.py), so all of a turned face can be taken.
    top: how far the face region reaches above the brows (FACE_TOP; 0: the face below the forehead)."""
    le, re, nose, lm, rm = (np.asarray(p, np.float64) for p in landmarks)
    gap = float(np.hypot(*(re - le)))  # ~0.24 of the crop side on the template
    mouth = (lm + rm) / 2
    # A turned head's eye gap is foreshortened (0.15-0.17 on three-quarter and profile faces) while its
    # eyes-to-mouth height is not. With a source turned like it, the face is sized by whichever is larger,
    # in the template's proportion (by the gap alone only its nose and mouth were swapped, the target's
    # eyes kept beside them). An unturned source keeps the small region: a frontal face pasted whole
    # over a profile put its eyes on the cheek (looked at, video frames).
    size = max(gap, FACE_GAP_PER_HEIGHT * float(np.hypot(*(mouth - (le + re) / 2)))) if posed else gap
    if name == "face":  # its bottom under the lower lip; its top `top` x size above the brows' reach at 0
        return [(float((le[0] + re[0]) / 2), float(nose[1]) - 0.02 - top / 2 * size, 1.02 * size, (1.38 + top / 2) * size)]
    if name == "eyes":
        return [(float(p[0]), float(p[1]), 0.4 * gap, 0.27 * gap) for p in (le, re)]
    if name == "brows":
        return [(float(p[0]), float(p[1]) - 0.33 * gap, 0.42 * gap, 0.17 * gap) for p in (le, re)]
    if name == "nose":
        return [(float(nose[0]), float(nose[1]) - 0.15 * gap, 0.3 * gap, 0.5 * gap)]
    if name == "mouth":  # as wide as the mouth is (a smile widens it), at least the template's width
        half_width = max(0.65 * gap, 0.5 * float(np.hypot(*(rm - lm))) + 0.15 * gap)
        return [(float(mouth[0]), float(mouth[1]), half_width, 0.36 * gap)]
    raise ValueError(f"unknown region {name!r}; choose from {', '.join(REGIONS)}")


def region_mask(regions: list[str] | tuple[str, ...], size: int, landmarks: np.ndarray | None = None, posed: bool = False,
                top: float = FACE_TOP) -> np.ndarray:  # fmt: skip
    """Union of the named regions -> (S, S) float32 mask in {0, 1}; landmarks: (5, 2) aligned
    landmarks in unit crop coordinates (default: the template); top: region_ellipses'."""
    unknown = [r for r in regions if r not in REGIONS]
    if unknown or not regions:
        raise ValueError(f"unknown region(s) {unknown or regions}; choose from {', '.join(REGIONS)}")
    landmarks = CANONICAL_TEMPLATE if landmarks is None else landmarks
    return ellipses_mask([e for name in regions for e in region_ellipses(name, landmarks, posed, top)], size)


def outline_mask(outline: np.ndarray, size: int, margin: float = OUTLINE_MARGIN) -> np.ndarray:
    """(K, 2) closed outline in unit crop coordinates (the face mesh's silhouette) -> (S, S) float32
    mask in {0, 1}, 1 inside. Swap regions are clipped by it: an ellipse placed on 5 points reaches past
    the face of a turned, tilted or down-looking head, and what it pasted there (the source's cheek
    beside a profile's nose, its chin on the target's neck) showed as a ghost."""
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(outline) * size * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    r = int(round(margin * size))
    if r > 0:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return mask.astype(np.float32)


@functools.lru_cache(maxsize=4)
def pixel_centres(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, S) y and x of the pixel centres in unit crop coordinates, made once per side (read-only)."""
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


def above_eye_line(landmarks: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """(5, 2) landmarks in unit crop coordinates -> (S, S) each pixel centre's distance above the line
    through the two eyes (unit coordinates, negative below it; y grows down), and the eye gap."""
    left_eye, right_eye = (np.asarray(p, np.float64) for p in landmarks[:2])
    gap = float(np.hypot(*(right_eye - left_eye)))
    along = (right_eye - left_eye) / max(gap, 1e-6)
    yy, xx = pixel_centres(size)
    return (xx - left_eye[0]) * along[1] - (yy - left_eye[1]) * along[0], gap


def ellipses_mask(ellipses: list[tuple[float, float, float, float]], size: int) -> np.ndarray:
    """Union of ellipses (centre x, centre y, radius x, radius y; unit coordinates) -> (S, S) float32 in {0, 1}."""
    yy, xx = pixel_centres(size)
    mask = np.zeros((size, size), np.float32)
    for cx, cy, rx, ry in ellipses:
        mask = np.maximum(mask, ((((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2) <= 1.0).astype(np.float32))
    return mask


def token_mask(mask: np.ndarray, grid: int, threshold: float = 0.5) -> np.ndarray:
    """(S, S) pixel mask -> (grid, grid) bool: a code cell is swapped when the region covers at
    least `threshold` of it."""
    size = mask.shape[0]
    cell = size // grid
    coverage = mask[: grid * cell, : grid * cell].reshape(grid, cell, grid, cell).mean(axis=(1, 3))
    return coverage >= threshold


def token_boundary(tokens: np.ndarray, width: int = 1) -> np.ndarray:
    """(h, w) bool -> (h, w) bool: cells within `width` cells of the edge between True and False."""
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    t = tokens.astype(np.uint8)
    return (cv2.dilate(t, kernel) != cv2.erode(t, kernel)).astype(bool)


def feathered(mask: np.ndarray, softness: float) -> np.ndarray:
    """Soft blend weights that never leave the region: erode by the feather radius, then blur.

    softness: feather radius as a fraction of the crop side (0 = hard edge).
    """
    size = mask.shape[0]
    radius = softness * size
    if radius < 0.5:
        return mask.astype(np.float32)
    r = int(round(radius))
    inner = cv2.erode(mask.astype(np.float32), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    soft = cv2.GaussianBlur(inner, (0, 0), sigmaX=max(radius / 2, 0.5))
    return np.clip(soft, 0.0, 1.0) * mask  # exactly zero outside the region


def region_core(mask: np.ndarray, rim: float = 0.2) -> np.ndarray:
    """(S, S) region mask -> the region without its rim, eroded by `rim` of its equivalent radius (the
    radius of a disc of its area: about 7 px of a 128 crop for the face region, 3 px for the eyes).

    The colour correction takes its statistics here. The rim of the face region holds what differs
    between two faces besides their skin (a fringe of hair, the line of a beard, an ear, background),
    and it skewed the match: the source's red hair at its rim made the swapped skin come out lighter
    than the actor's on the hamilton clip (benchmarks/RESULTS.md, Skin tone)."""
    sel = mask > 0.5
    radius = int(round(rim * np.sqrt(sel.sum() / np.pi)))
    if radius < 1:
        return mask
    return cv2.erode(sel.astype(np.float32), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))


FEATURES = ("eyes", "brows", "mouth")  # what is not skin inside a face region (skin_core)


@functools.lru_cache(maxsize=4)
def template_features(size: int) -> np.ndarray:
    """(S, S) read-only mask of FEATURES on the template: the same for every face, so made once (a
    video asks for it every frame)."""
    mask = region_mask(FEATURES, size)
    mask.setflags(write=False)
    return mask


def skin_core(region: np.ndarray, landmarks: np.ndarray | None = None, core: np.ndarray | None = None) -> np.ndarray:
    """(S, S) region mask -> its core (region_core) without the eyes, brows and mouth, placed both on
    the target's (5, 2) aligned landmarks and on the template (where an aligned source's features
    lie): the skin, where the colour correction takes its mean lightness. Teeth and the whites of the
    eyes are not skin, and one face may show them where the other does not: a target's toothy smile
    made the swapped skin come out lighter than hers, pale against dark skin. (The whole core, the
    lips' red in it, stays the place for the colour: from the skin alone, the skin patches'
    colour error rose, 0.64 -> 1.29 levels of a; benchmarks/RESULTS.md, Skin tone.) core: region_core
    (region), if the caller has it already."""
    core = region_core(region) if core is None else core
    features_mask = np.maximum(region_mask(FEATURES, region.shape[0], landmarks), template_features(region.shape[0]))
    skin = core * (1.0 - features_mask)
    return skin if (skin > 0.5).sum() >= 0.25 * (region > 0.5).sum() else core


def is_grey(image: np.ndarray, tolerance: float = 2.0) -> bool:
    """True when an RGB uint8 image has no colour: every channel within `tolerance` levels of the mean
    (sampled on a 64 x 64 grid of pixels; a grey photo saved as JPEG drifts by a level or two)."""
    step = max(1, min(image.shape[:2]) // 64)
    sample = image[::step, ::step].astype(np.int16)
    return bool(np.abs(sample - sample.mean(-1, keepdims=True)).max() <= tolerance)


def to_grey(image: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 RGB -> the same, every channel set to its brightness."""
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def lab_statistics(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean and standard deviation (3,) of an (S, S, 3) uint8 RGB image's LAB values inside mask > 0.5
    (None when the mask covers fewer than 4 pixels)."""
    sel = mask > 0.5
    if sel.sum() < 4:
        return None
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[sel].astype(np.float32)
    return lab.mean(0), lab.std(0) + 1e-3


def mouth_zone(size: int, landmarks: np.ndarray | None = None, spread: float = 0.05) -> np.ndarray:
    """(S, S) float32 weights in [0, 1]: 1 over the mouth region placed on the (5, 2) aligned
    landmarks, falling off smoothly around it (a Gaussian of `spread` times the side, doubled and
    clipped, so the lips themselves are all inside): where color_transfer uses MOUTH_GAIN_FLOOR."""
    blurred = cv2.GaussianBlur(region_mask(("mouth",), size, landmarks), (0, 0), spread * size)
    return np.clip(2.0 * blurred / max(float(blurred.max()), 1e-6), 0.0, 1.0)


def color_transfer(
    image: np.ndarray,
    reference: np.ndarray,
    mask: np.ndarray,
    image_small=None,
    reference_small=None,
    lightness_mask=None,
    mouth: np.ndarray | None = None,
) -> np.ndarray:
    """Match the LAB mean and standard deviation of `image` to `reference` inside `mask`
    (Reinhard et al. 2001). Both (S, S, 3) uint8 RGB; returns (S, S, 3) uint8. The statistics may be
    taken from smaller copies (*_small, same content at the masks' size): the same numbers for a
    fraction of the work when the face is composed at the photo's resolution. lightness_mask: where
    the mean lightness is taken instead (the skin, skin_core): teeth and the whites of the eyes are
    bright and colourless, so they move the lightness of a region but hardly its colour. mouth:
    (s, s) weights (mouth_zone, any side s) where the gain's floor is MOUTH_GAIN_FLOOR instead of GAIN_FLOOR."""
    image_stats = image if image_small is None else image_small
    reference_stats = reference if reference_small is None else reference_small
    src, ref = lab_statistics(image_stats, mask), lab_statistics(reference_stats, mask)
    if src is None or ref is None:
        return image.copy()
    (s_mean, s_std), (r_mean, r_std) = src, ref
    if lightness_mask is not None:
        src_skin, ref_skin = lab_statistics(image_stats, lightness_mask), lab_statistics(reference_stats, lightness_mask)
        if src_skin is not None and ref_skin is not None:
            s_mean[0], r_mean[0] = src_skin[0][0], ref_skin[0][0]
    colour = float(np.clip((r_std[1:].mean() - MONOCHROME) / (COLOURFUL - MONOCHROME), 0.0, 1.0))
    floor = (GAIN_FLOOR[0], GAIN_FLOOR[1] * colour, GAIN_FLOOR[2] * colour)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    out = cv2.LUT(lab, _lookup(r_std / s_std, s_mean, r_mean, floor))
    differ = [c for c in range(3) if MOUTH_GAIN_FLOOR[c] != GAIN_FLOOR[c]]  # L alone, as shipped
    rows, cols = np.nonzero(mouth > 1 / 512) if mouth is not None and differ else ((), ())
    if len(rows):  # only in the zone's box (a fifth of the face: video frames pay per face)
        scale = image.shape[0] / mouth.shape[0]
        (y0, y1), (x0, x1) = ((int(a.min() * scale), int(np.ceil((a.max() + 1) * scale))) for a in (rows, cols))
        box = np.s_[y0:y1, x0:x1]
        w = cv2.resize(mouth[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1], (x1 - x0, y1 - y0))
        near = _lookup(r_std / s_std, s_mean, r_mean, MOUTH_GAIN_FLOOR)
        for c in differ:
            far = out[box][..., c].astype(np.float32)
            inner = cv2.LUT(np.ascontiguousarray(lab[box][..., c]), near[..., c].copy()).astype(np.float32)
            out[box + (c,)] = (far + w * (inner - far) + 0.5).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_LAB2RGB)


def _lookup(ratio: np.ndarray, s_mean: np.ndarray, r_mean: np.ndarray, floor: tuple[float, float, float]) -> np.ndarray:
    """(lab - s_mean) * gain + r_mean, rounded, for each of the 256 levels of each channel, as a (1, 256, 3)
    uint8 table: cv2.LUT applies it to a uint8 LAB image for a fraction of the same arithmetic per
    pixel. gain = ratio (the reference's spread over the image's), bounded: a flat region must not
    explode the contrast, nor a dark or flat one flatten a face (floor, per channel)."""
    gain = np.clip(ratio, np.array(floor), 2.0)
    levels = np.arange(256, dtype=np.float32)[:, None]
    table = np.clip(levels * gain + (r_mean - s_mean * gain + 0.5), 0, 255).astype(np.uint8)  # (256, 3)
    return table.reshape(1, 256, 3)

"""The target's focus on the source's face: a face pasted into a blurred photo is blurred as much.

The swapped face's fine detail comes from the source's pixels (pipelines/detail.py). Pasted into a
face that is out of focus (a defocused background, motion, a soft video), those sharp eyes, lashes
and lips give the swap away at a glance: on a portrait blurred by 3 pixels, the swapped face's
Laplacian variance was 12 times the target's. So each face's blur is measured, the target's and
the source's, both aligned at the side P they are composed at, and the source's pixels are blurred
by what the target has more:

    sigma_B, sigma_A = edge_blur(B_P), edge_blur(A_P)            Gaussian sigmas, pixels of P
    A_P <- G(A_P, sqrt(sigma_B^2 - (sigma_A + MIN_EXTRA)^2))     when the target is the blurrier
                                                                 (continuous; a video's sigma_B steadied)

edge_blur is the re-blur estimate of Zhuo and Sim (2011): at an edge blurred by a Gaussian of sigma,
blurring once more by s lowers the gradient's magnitude by R = sqrt(sigma^2 + s^2) / sigma, so
sigma = s / sqrt(R^2 - 1), the median over the edges in the face. It reads an edge's width, not how
much texture a face has: a smooth-skinned source on a freckled target is not blurred for that
(benchmarks/RESULTS.md, Swap realism: a portrait blurred by 1, 2, 3 pixels reads 1.24, 1.97, 2.50;
sharp photos 0.5-1.0).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .blend import region_core, region_mask

# the source is blurred only when the target's edges are this much wider (pixels of P): under it the
# two read alike, within the estimate's scatter from frame to frame
MIN_EXTRA = 0.15


def _gradient(image: np.ndarray) -> np.ndarray:
    return cv2.magnitude(cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3))


def blur_at_edges(grey: np.ndarray, mask: np.ndarray, reblur: float = 1.0) -> float | None:
    """(N, N) float32 grey image and (N, N) bool mask -> the Gaussian sigma of its edges in pixels,
    the median over the edges inside the mask (Zhuo and Sim 2011), or None with too few edges to tell."""
    again = cv2.GaussianBlur(grey, (0, 0), reblur)
    sharp, soft = _gradient(grey), _gradient(again)
    edges = cv2.Canny(np.clip(cv2.GaussianBlur(grey, (0, 0), 1.0), 0, 255).astype(np.uint8), 20, 50) > 0
    at = edges & mask & (soft > 1e-3)
    if at.sum() < 20:
        return None
    ratio = sharp[at] / soft[at]
    return float(np.median(reblur / np.sqrt(np.maximum(ratio**2 - 1.0, 1e-6))))


@functools.cache
def _inner_face(side: int) -> tuple[np.ndarray, slice]:
    """Where a face aligned at `side` is read: the template's face region without its rim (its hair,
    ears and background, whose blur is not the face's), as (mask of its bounding box, that box)."""
    core = cv2.resize(region_core(region_mask(["face"], 128, None)), (side, side), interpolation=cv2.INTER_LINEAR) > 0.5
    ys, xs = np.nonzero(core.any(axis=1))[0], np.nonzero(core.any(axis=0))[0]
    box = np.s_[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]
    return core[box], box


def edge_blur(face: np.ndarray) -> float | None:
    """(P, P, 3) uint8 face aligned to the template -> the blur of its edges (blur_at_edges) in pixels
    of P, or None with too few edges to tell (a face in the dark). 0.4 ms at P = 384, 1.8 at 768."""
    mask, box = _inner_face(face.shape[0])
    return blur_at_edges(cv2.cvtColor(face[box], cv2.COLOR_RGB2GRAY).astype(np.float32), mask)


def extra_blur(source: float | None, target: float | None) -> float:
    """The sigma, in pixels of P, of the Gaussian that gives the source's edges the target's width
    (edge_blur of each at side P), less MIN_EXTRA: sqrt(target^2 - (source + MIN_EXTRA)^2), 0 where
    the target is not that much blurrier or a face could not be read. Continuous in both: a video's
    faces read a little differently from frame to frame, and a blur that switched on and off flickers."""
    if source is None or target is None:
        return 0.0
    return float(np.sqrt(max(target**2 - (source + MIN_EXTRA) ** 2, 0.0)))


def in_focus_of(source_hi: np.ndarray, sigma: float) -> np.ndarray:
    """(P, P, 3) uint8 source face blurred by sigma pixels (extra_blur); itself when sigma is 0."""
    return source_hi if sigma <= 0 else cv2.GaussianBlur(source_hi, (0, 0), sigma)


class SteadyFocus:
    """A video's faces' edge widths (edge_blur), each a running mean over its frames, so the source's
    blur does not shimmer with the estimate's scatter from frame to frame (about 0.05-0.1 pixel of a
    128-pixel face). Kept as a fraction of the face's side P, which steps as the face grows or shrinks."""

    def __init__(self, weight: float = 0.2):
        self.weight = weight  # of each new frame's reading in the mean
        self.widths: dict[object, float] = {}  # a face's key (its track and shot) -> edge width over P

    def __call__(self, key, face: np.ndarray) -> float | None:
        """key: which face, across frames; face (P, P, 3) uint8 aligned -> its steadied edge width in pixels of P."""
        side, width = face.shape[0], edge_blur(face)
        old = self.widths.get(key)
        if width is not None:
            self.widths[key] = width / side if old is None else old + self.weight * (width / side - old)
        return None if key not in self.widths else self.widths[key] * side

"""The target's lighting on the source's face: its light falling across the face, not only its average.

The colour correction (blend.color_transfer) matches the face's LAB mean and spread to the target's:
one number per channel for the whole face. Stage and window light falls across a face: the singer
clip's key light leaves one cheek purple and the other warm, and a face pasted with the source's own
light from the other side looks cut out of another photo. So after the colour correction the face
takes the target's gradient of light across it:

    d(x, y) = B - F                          target minus face, per RGB channel, over the skin m (no
                                             eyes, mouth, brows, hair or hands: where the two faces
                                             differ by more than their light)
    F      <- F + (c0 + c1 x + c2 y)         the plane fitted to d over m by least squares

A plane, not a blur of d: a Gaussian of a tenth of the face (tried first) also carried the target's
eye sockets and the shadows beside its nose, and moved less of the light: a source lit hard from one
side onto a face lit from the other comes out with the balance of light between its halves 1.034
against the target's 1.112 (the Gaussian 0.934, without 0.822; benchmarks/RESULTS.md, Swap realism).

On by default for photos, off for video (SwapOptions.relight): on the 60 photo pairs identity is 93%
with and without, but on the hamilton clip, small stage-lit faces, the output read as the source on
53-57% of frames against 60% without (the Gaussian 55%, a quadratic surface 48%, the mean alone 60%:
it is the gradient, the light's direction, that dlib reads as the actor's). The singer clip: 99%
either way.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .detail import resize

WORK_SIDE = 64  # the side the plane is fitted at: a plane needs few pixels


@functools.cache
def _plane_terms(side: int) -> np.ndarray:
    """(side * side, 3) float32: 1, x, y of each pixel centre, x and y in [-0.5, 0.5] (read-only)."""
    yy, xx = (np.mgrid[0:side, 0:side].astype(np.float32) + 0.5) / side - 0.5
    terms = np.stack([np.ones_like(xx), xx, yy], -1).reshape(-1, 3)
    terms.setflags(write=False)
    return terms


def shading(face: np.ndarray, target: np.ndarray, skin: np.ndarray) -> np.ndarray | None:
    """The plane of light the target has more than the face: face, target (P, P, 3) uint8 aligned alike,
    skin (S, S) weights in [0, 1] -> (3, 3) float32 coefficients (1, x, y rows; RGB columns), or None
    with too little skin to fit (under 1% of the crop)."""
    skin = resize(skin.astype(np.float32), WORK_SIDE).reshape(-1) > 0.5
    if skin.sum() < 0.01 * skin.size:
        return None
    difference = resize(target, WORK_SIDE).astype(np.float32) - resize(face, WORK_SIDE).astype(np.float32)
    terms = _plane_terms(WORK_SIDE)[skin]
    coefficients, *_ = np.linalg.lstsq(terms, difference.reshape(-1, 3)[skin], rcond=None)
    return coefficients.astype(np.float32)


def relit(face: np.ndarray, target: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """face with the target's plane of light added (shading): (P, P, 3) uint8."""
    plane = shading(face, target, skin)
    if plane is None:
        return face
    side = face.shape[0]
    coarse = (_plane_terms(WORK_SIDE) @ plane).reshape(WORK_SIDE, WORK_SIDE, 3)
    light = cv2.resize(coarse, (side, side), interpolation=cv2.INTER_LINEAR)  # a plane: linear interpolation is exact
    return cv2.add(face, light, dtype=cv2.CV_8U)  # rounded and saturated; 0.7 ms at 768

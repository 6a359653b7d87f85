"""The target's lighting on the source's face: its shading, not only its average colour.

The colour correction (blend.color_transfer) matches the face's LAB mean and spread to the target's:
one number per channel for the whole face. Stage and window light falls across a face: the singer
clip's key light leaves one cheek purple and the other warm, and a face pasted with the source's own
even light looks cut out of another photo. So after the colour correction the face takes the target's
shading, the part of target minus face that varies slowly across the face:

    low   = G_s(m * (B - F)) / G_s(m)        normalized convolution over the skin m (no eyes, mouth,
                                             brows, hair or hands: where the two faces differ by more
                                             than their light)
    F    <- F + low                          s = SHADING of the crop's side: about one cycle per face,
                                             a gradient from side to side or top to bottom

The eyes, nose and mouth (three to six cycles per face) stay the source's: identity on the 60 photo
pairs is 93% with and without it (benchmarks/RESULTS.md, Swap realism). So do the source's own
shadows at that scale (beside its nose, in its eye sockets): a source lit hard from one side onto a
face lit from the other comes out with its halves' balance of light some 40% of the way to the
target's, not all of it.
"""

from __future__ import annotations

import cv2
import numpy as np

from .detail import resize

# the Gaussian's sigma as a fraction of the aligned crop's side (13 px of a 128 crop)
SHADING = 0.1
# where the skin's weight, blurred, falls under this, the shading fades out instead of being
# extrapolated from far away (past the face, where nothing is pasted anyway)
MIN_SUPPORT = 0.1


def shading(face: np.ndarray, target: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """The target's slowly varying light relative to the face: face, target (P, P, 3) uint8 aligned
    alike, skin (S, S) weights in [0, 1] -> (P, P, 3) float32 to add to the face. Worked at S (the
    statistics' side: the same numbers for a fraction of the work), upsampled to P."""
    side = skin.shape[0]
    difference = resize(target, side).astype(np.float32) - resize(face, side).astype(np.float32)
    sigma = SHADING * side
    weight = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), sigma)
    low = cv2.GaussianBlur(difference * skin[..., None], (0, 0), sigma) / np.maximum(weight, MIN_SUPPORT)[..., None]
    return resize(low, face.shape[0])


def relit(face: np.ndarray, target: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """face with the target's shading (shading): (P, P, 3) uint8."""
    if not skin.any():
        return face
    return np.clip(face.astype(np.float32) + shading(face, target, skin) + 0.5, 0, 255).astype(np.uint8)

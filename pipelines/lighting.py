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
WORK_SIDE = 64  # the side the shading is worked out at
# where the skin's weight, blurred, falls under this, the shading fades out instead of being
# extrapolated from far away (past the face, where nothing is pasted anyway)
MIN_SUPPORT = 0.1


def shading(face: np.ndarray, target: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """The target's slowly varying light relative to the face: face, target (P, P, 3) uint8 aligned
    alike, skin (S, S) weights in [0, 1] -> (WORK_SIDE, WORK_SIDE, 3) float32, to be upsampled and
    added to the face. Worked at WORK_SIDE: what varies over a tenth of the face needs no more."""
    skin = resize(skin.astype(np.float32), WORK_SIDE)
    difference = resize(target, WORK_SIDE).astype(np.float32) - resize(face, WORK_SIDE).astype(np.float32)
    sigma = SHADING * WORK_SIDE
    weight = cv2.GaussianBlur(skin, (0, 0), sigma)
    return cv2.GaussianBlur(difference * skin[..., None], (0, 0), sigma) / np.maximum(weight, MIN_SUPPORT)[..., None]


def relit(face: np.ndarray, target: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """face with the target's shading (shading): (P, P, 3) uint8. The shading is upsampled as its
    lightening and darkening parts in uint8 and added with saturation (within a level of float32
    arithmetic, for a fraction of the memory traffic: 768 x 768 faces in photos)."""
    if not skin.any():
        return face
    low = shading(face, target, skin)
    side = face.shape[0]
    lighter = cv2.resize(np.clip(low + 0.5, 0, 255).astype(np.uint8), (side, side), interpolation=cv2.INTER_LINEAR)
    darker = cv2.resize(np.clip(-low + 0.5, 0, 255).astype(np.uint8), (side, side), interpolation=cv2.INTER_LINEAR)
    return cv2.subtract(cv2.add(face, lighter), darker)

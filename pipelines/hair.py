"""Hair over a face's forehead (a fringe, a hat's brim), found by its colour: the swap keeps it out.

The face region (pipelines/blend.py) reaches well above the brows, so that the feathered blend
takes the source's brows whole (a brow is much of who a face is). Up there a fringe often hangs:
the source's, which would be pasted onto the target's bare forehead as a dark smudge, or the
target's, which the source's bare forehead would smear over. Pixels of the forehead whose colour is
far from the face's own skin (its cheeks and nose, below the eyes) are taken to be hair, in either
face, and keep the target's pixels. The brows themselves lie below the band looked at.
"""

from __future__ import annotations

import cv2
import numpy as np

from .blend import above_eye_line

# The forehead band looked at: above the eye line by more than this many eye gaps. The brows' top sits
# at about half a gap (pipelines/blend.py, "brows"); a raised brow reaches a little higher.
FOREHEAD_ABOVE_EYES = 0.5
# A pixel is not skin past this many robust standard deviations (median absolute deviation x 1.4826)
# of the skin's LAB values; each channel's spread is at least SPREAD_FLOOR levels (a flat or grey face).
NOT_SKIN = 3.0
SPREAD_FLOOR = np.array([4.0, 2.0, 2.0], np.float32)
MIN_SKIN_PIXELS = 20
HAIR_MARGIN = 0.025  # of the crop side: 3 px of a 128 crop


def hair_mask(crop: np.ndarray, landmarks: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 aligned face, (5, 2) landmarks in unit crop coordinates, (S, S) skin mask of
    its face region (blend.skin_core) -> (S, S) float32 in {0, 1}: hair (not skin) on the forehead,
    above the brows. Zero when the face shows too little skin below the eyes to tell (a mask, a hand)."""
    size = crop.shape[0]
    above_eyes, gap = above_eye_line(landmarks, size)  # (S, S) unit distance above the eye line
    below = (skin > 0.5) & (above_eyes < 0)  # cheeks and nose: no fringe reaches there
    hair = np.zeros((size, size), np.uint8)
    band = above_eyes > FOREHEAD_ABOVE_EYES * gap
    rows = np.nonzero(band.any(axis=1))[0]
    if below.sum() < MIN_SKIN_PIXELS or len(rows) == 0:
        return hair.astype(np.float32)
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB)
    samples = lab[below].astype(np.float32)  # (n, 3)
    median = np.median(samples, axis=0)
    spread = np.maximum(1.4826 * np.median(np.abs(samples - median), axis=0), SPREAD_FLOOR)
    top = rows.max() + 1  # the band's rows only: the forehead is the top third or so of the crop
    distance = np.sqrt((((lab[:top].astype(np.float32) - median) / spread) ** 2).sum(-1))  # robust standard deviations
    hair[:top] = (distance > NOT_SKIN) & band[:top]
    hair = cv2.morphologyEx(hair, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))  # no single pixels: a freckle, noise
    return hair.astype(np.float32)


def without_hair(weights: np.ndarray, hair: np.ndarray) -> np.ndarray:
    """(s, s) blend weights and an (S, S) hair mask (hair_mask; both faces' at once, their maximum)
    -> the weights with the hair taken out, and a margin of HAIR_MARGIN of the side around it: the
    decoder's picture of a fringe is soft and darkens the skin just below it."""
    if not hair.any():
        return weights
    r = max(1, round(HAIR_MARGIN * hair.shape[0]))
    grown = cv2.dilate(hair, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    soft = np.maximum(hair, np.clip(cv2.GaussianBlur(grown, (0, 0), r / 2), 0.0, 1.0))  # the hair itself wholly out
    if soft.shape != weights.shape:
        soft = cv2.resize(soft, weights.shape[::-1], interpolation=cv2.INTER_LINEAR)
    return weights * (1.0 - soft)

"""A face covered below the eyes (a face mask), found so that the swap keeps the covering.

Onto a target wearing a face mask the swap painted the source's nose, mouth and chin over the mask
(woman_wearing_face_mask.jpg). Its colour does not give a mask away (that one's beige is close to the
wearer's skin, and the lower face of a bare face differs as much from the skin under its eyes: lips,
a beard, shadow), but its flatness does: where a mouth should be, a mask has almost no fine detail.

    detail(box)  = mean |L - blur(L)| over the box (L: CIELAB lightness, blur: Gaussian, 2 px at 128)
    covered      = detail(mouth box) < FLAT * detail(eye boxes)

On the 72 faces of the test photos the masked face measures 0.06 and the next lowest 0.38 (a 47 px
face); on every 2nd frame of the three test clips (434 faces) 0.19 at the lowest (a profile, where
the mouth box lands on the cheek), then 0.29.
Then the covering is the part of the lower face whose colour lies within the mouth box's (its 5th to
95th percentiles in each LAB channel, MARGIN levels wider), joined to it; the swap keeps the target's pixels there, as it does
for hair (pipelines/hair.py): the source's eyes, brows and forehead come above a mask that stays.
"""

from __future__ import annotations

import cv2
import numpy as np

from .blend import above_eye_line, pixel_centres

FLAT = 0.1  # the mouth box's fine detail over the eyes' below which the mouth is covered
MARGIN = np.array([6.0, 3.0, 3.0], np.float32)  # LAB levels past the mouth box's colours that still are the covering's
BELOW_EYES = 0.25  # the covering is looked for below the eye line by this many eye gaps (a mask's top edge crosses the nose)


def _boxes(landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(5, 2) unit crop landmarks -> (S, S) bool mouth box, eye boxes, unit distance below the eye line, eye gap."""
    yy, xx = pixel_centres(size)
    left, right, _, mouth_left, mouth_right = (np.asarray(p, np.float64) for p in landmarks)
    above, gap = above_eye_line(landmarks, size)
    mouth = (mouth_left + mouth_right) / 2
    mouth_box = (np.abs(xx - mouth[0]) < 0.45 * gap) & (np.abs(yy - mouth[1]) < 0.25 * gap)
    eye_boxes = np.zeros((size, size), bool)
    for eye in (left, right):
        eye_boxes |= (np.abs(xx - eye[0]) < 0.3 * gap) & (np.abs(yy - eye[1]) < 0.15 * gap)
    return mouth_box, eye_boxes, -above, gap


def mouth_flatness(crop: np.ndarray, landmarks: np.ndarray) -> float:
    """(S, S, 3) uint8 aligned face, (5, 2) landmarks in unit crop coordinates -> the mouth box's fine
    detail over the eye boxes' (about 0.4-1.5 for a bare face; a face mask 0.06)."""
    size = crop.shape[0]
    mouth_box, eye_boxes, _, _ = _boxes(landmarks, size)
    lightness = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32)
    detail = np.abs(lightness - cv2.GaussianBlur(lightness, (0, 0), 2.0 * size / 128))
    return float(detail[mouth_box].mean() / max(float(detail[eye_boxes].mean()), 0.1))


def covering_mask(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 aligned face, (5, 2) unit landmarks -> (S, S) float32 in {0, 1}: what covers
    its lower face (a face mask), or zeros when its mouth is not covered."""
    size = crop.shape[0]
    empty = np.zeros((size, size), np.float32)
    if mouth_flatness(crop, landmarks) >= FLAT:
        return empty
    mouth_box, _, below, gap = _boxes(landmarks, size)
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    low, high = np.percentile(lab[mouth_box], [5, 95], axis=0)  # a box of its colours: a mask's lit and shaded panels
    near = ((lab > low - MARGIN) & (lab < high + MARGIN)).all(-1) & (below > BELOW_EYES * gap)
    near = cv2.morphologyEx(near.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))  # its folds and shadows
    _, labels = cv2.connectedComponents(near)
    joined = np.unique(labels[mouth_box & (near > 0)])
    joined = joined[joined > 0]
    return np.isin(labels, joined).astype(np.float32) if len(joined) else empty

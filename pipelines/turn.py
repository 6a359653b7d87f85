"""The source's face turned to the target's pose, with the face mesh's depth.

Codes are exchanged cell by cell at the same places of the two aligned crops. A frontal source on a
three-quarter target puts the source's nose in the middle of the crop, where the target's cheek is,
while the target's own nose, further out, stays: two noses, the second a smudge (looked at,
benchmarks/RESULTS.md). So before encoding, the source's aligned face is turned like the target's:

    a      = the source's mesh (468, 3): x, y in unit crop coordinates, z its depth on the same scale
             (MediaPipe's face mesh; larger z is further from the camera)
    s, R, t = argmin | s R[:2] a + t - b |^2, b the target's mesh (468, 2): a scaled orthographic
             camera, R a rotation, fitted by least squares and its 2 x 3 part made orthonormal
    moved  = s R[:2] a + t: where each source point goes, the source's own face shape kept (a
             rigid turn, not the target's face shape); depth = (R a)_z
    warped = the source read through a piecewise-affine map over the source's own triangles, drawn
             far to near, so the near side (the nose, the near cheek) covers what it hides

Only a turn that hides is made (the target faces further away from the camera than the source): a
turn towards the camera would have to show what the source photo does not (pipelines/pose.py
rebuilds a hidden half by mirroring instead). Under FULL_TURN degrees the turn is eased in
(none under MIN_TURN): two targets a degree apart in pose do not get very different results.

Photos only (FaceSwapPipeline.turn_views): in video, turned frame by frame, it cost the eye-opening
figure on small faces (benchmarks/RESULTS.md, Swap realism).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .expression import _border, delaunay, piecewise_affine
from .landmarks import EYE_LIDS, IRIS

MIN_TURN = 10.0  # degrees: a smaller rotation between the two faces is left alone
FULL_TURN = 18.0  # degrees: from here on the source turns all the way; between the two, part of the way
FIELD_SIDE = 128  # the turn's map is drawn at the crop's side (256: 11 instead of 3 ms, for a sharper nose edge in large faces)


class Turn(NamedTuple):
    """How the source's face turns onto the target's: `moved` (468, 2) unit crop coordinates where
    each source mesh point goes, `depth` (468,) each point's depth after the turn (larger: further),
    and the rotation's `yaw` and `angle` in degrees (yaw > 0: the nose turns to the image's right,
    as pipelines/pose.py's proxy)."""

    moved: np.ndarray
    depth: np.ndarray
    yaw: float
    angle: float


def fit_turn(source: np.ndarray, target: np.ndarray) -> Turn:
    """source (468, 3) mesh with depth, target (468, 2) mesh, unit coordinates of their aligned crops
    -> the rigid turn (with scale and shift) that best takes the source onto the target as seen."""
    a = np.asarray(source, np.float64)
    b = np.asarray(target, np.float64)[:, :2]
    ones = np.ones((len(a), 1))
    affine = np.linalg.lstsq(np.concatenate([a, ones], 1), b, rcond=None)[0][:3].T  # (2, 3): b ~ affine @ a + t
    u, singular, vt = np.linalg.svd(affine, full_matrices=False)  # nearest scaled orthonormal rows
    rows = u @ vt  # (2, 3)
    rotation = np.concatenate([rows, np.cross(rows[0], rows[1])[None]])  # (3, 3), det +1
    scale = float(singular.mean())
    shift = (b - scale * a @ rows.T).mean(0)
    moved = scale * a @ rows.T + shift
    depth = scale * a @ rotation[2]
    angle = float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1.0, 1.0))))
    yaw = -float(np.degrees(np.arctan2(rotation[0, 2], rotation[2, 2])))  # a near point (z < 0) moves by -z sin
    # eased in between MIN_TURN and FULL_TURN degrees: part of the way from where the points are
    part = float(np.clip((angle - MIN_TURN) / (FULL_TURN - MIN_TURN), 0.0, 1.0))
    moved = a[:, :2] + part * (moved - a[:, :2])
    return Turn(moved, depth, yaw, angle)


def hides(turn: Turn, source_yaw: float) -> bool:
    """True when the turn is worth making and shows nothing the source photo lacks: it rotates by at
    least MIN_TURN degrees and takes the face further from frontal (source_yaw: pipelines/pose.py's
    proxy, > 0 when the nose points right). A frontal source turns either way."""
    if turn.angle <= MIN_TURN:
        return False
    return abs(source_yaw) < 0.1 or np.sign(turn.yaw) == np.sign(source_yaw)


def turn_field(turn: Turn, points: np.ndarray, side: int = FIELD_SIDE) -> np.ndarray:
    """The backward map (side, side, 2) of the turned face: each of the source's triangles (its own
    mesh `points` (468, 2) and fixed points on the crop's edge) drawn at the turned corners, the
    farthest first, so nearer ones cover what they hide."""
    border = _border()
    src = np.concatenate([points[:468], border]).astype(np.float32)
    dst = np.concatenate([turn.moved, border]).astype(np.float32)
    depth = np.concatenate([turn.depth, np.full(len(border), turn.depth.max())])  # the edge: behind the face
    triangles = delaunay(src, side)
    triangles = triangles[np.argsort(-depth[triangles].mean(1), kind="stable")]  # far to near
    return piecewise_affine(dst, src, triangles, side, clamp=True)


def turned_points(turn: Turn, mesh: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The source's (478, 2) landmarks (its eyes refined by the eye model, pipelines/landmarks.py)
    after the turn fitted on its (468, 2+) mesh: each moved as its mesh point, each iris with its
    eye's lids (the iris points have no depth of their own)."""
    shift = turn.moved - mesh[:, :2]  # (468, 2)
    out = np.array(points, dtype=np.float64)
    out[:468] += shift
    for eye, lids in EYE_LIDS.items():
        out[IRIS[eye]] += shift[lids].mean(0)
    return out
